"""The bodies of the facade's feature-service methods: define, version, read and delete services,
and read a service's online vector; their documentation is on ``FeatureStore``.

A service's online vector (``online_features``) is a pandas DataFrame, one row per entity row in
order: the service's key columns as the entity rows give them, then one column per feature (named
as ``build_dataset`` names it: ``<feature>``, or ``<group>__<feature>`` on a clash), typed as the
dataset's columns, then one ``<column>__status`` column per feature: ``present`` (the record is
live; its value may still be null), ``not_found`` (no live record, or a null key) or
``outside_ttl`` (the record is there but its TTL has passed; backends that drop expired records
themselves, like Redis, answer ``not_found``). On-demand outputs come after the group features,
in the service's order; an output's status is the worst of its inputs' statuses (``present`` only
when every input is; present < not_found < outside_ttl), its event time is None (computed now),
and its request values come from the entity rows' own keys, else ``request=`` (one dict for every
row, or one per row). The feature columns equal the ones ``build_dataset(entity_df,
"service:NAME")`` gives at the entity rows' time "now" (request values from its columns).

Snapshot: on every online backend the vector is one consistent snapshot of every group, read in
one batch for all entity rows: where the online store lives in the store's own database (the
default SQLite file, or its PostgreSQL schema) inside one read transaction
(``snapshot.shared``; one entity row is then one primary-key read per group); on Redis in one
script call; on a PostgreSQL online database of its own in one REPEATABLE READ transaction
(``OnlineBackend.many_groups``).

Serving plan: a service version compiled once (its groups' lookups, column names, on-demand
features) and kept on the context while the registry version stays (``Plan``); ``as_dict=True``
answers plain lists (the fast path: a DataFrame costs a millisecond or two of pandas).
"""
from __future__ import annotations

import functools
import operator
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ..common.timeutil import event_time_to_us, now_us
from ..core import lookups
from ..errors import ValidationError
from ..model.entity import entity_columns
from ..model.schema import FeatureGroup
from ..model.on_demand import parse_ref
from ..model.services import FeatureService
from .. import registry as group_registry
from ..registry import lineage
from ..registry import services as registry
from . import on_demand, snapshot
from .dataset import output_names

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from ..core.context import StoreContext

PREFIX = "service:"
ADHOC = "features"  # the name of the unsaved service a list of references is read as
MAX_PLANS = 256
STATUSES = ("present", "not_found", "outside_ttl")
_EARLIEST = -(2**62)  # a "now" before every expiry: what the TTL alone hides


def _resolve(ctx: "StoreContext", features: Sequence[Any]) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, int], ...]]:
    """('group', 'group:*' or 'group:feature' as explicit (group, feature) pairs: each group's
    features together (where the group first appears), in the order given, with the inputs of the
    on-demand features after the ones listed; the on-demand features ('on_demand:NAME' or an
    OnDemandFeature) at their current versions)."""
    if isinstance(features, str) or not isinstance(features, (list, tuple)) or not features:
        raise ValidationError("features must be a non-empty list like ['customers:age', 'orders:*', 'merchants']",
                              field="features")
    computed = [on_demand.load(ctx, n) for n in (parse_ref(f) for f in features) if n is not None]
    specs = [f for f in features if parse_ref(f) is None]
    specs += [ref for odf in computed for ref in odf.inputs if ref not in specs]
    out: list[tuple[str, str]] = []
    for spec in specs:
        if not isinstance(spec, str) or not spec or spec.count(":") > 1:
            raise ValidationError(f"Feature reference {spec!r} must be 'group', 'group:*' or 'group:feature'",
                                  field="features")
        name, _, feat = spec.partition(":")
        group = ctx.group(name)[0]
        if not group.online:
            raise ValidationError(f"Feature group {name!r} has no online store, so a feature service cannot serve "
                                  "it; enable its online store or leave it out", group=name)
        skip = {*group.identifiers, group.event_time}
        if feat in ("", "*"):
            wanted = [f for f in group.feature_names if f not in skip]
        else:
            group.feature(feat)  # NotFound naming the group's features
            if feat in skip:
                raise ValidationError(f"{spec!r} is {name!r}'s key or event time, which entity rows give; list "
                                      "only features", group=name, feature=feat)
            wanted = [feat]
        out.extend((name, f) for f in wanted if (name, f) not in out)
    first = {g: i for i, (g, _) in reversed(list(enumerate(out)))}
    return (tuple(sorted(out, key=lambda ref: first[ref[0]])),  # by group, as a dataset's columns are
            tuple((odf.name, odf.version) for odf in computed))


def _checked(ctx: "StoreContext", service: FeatureService) -> FeatureService:
    """``service`` if the principal may read every group it reads; else, as a dataset over a hidden
    group is, it is absent: NotFound, exactly as for a service that does not exist."""
    hidden = [g for g in service.groups if not ctx.policy.may("viewer", g)]
    if hidden:
        ctx.policy.record("read", hidden[0], "denied")
        raise registry.missing(service.name)
    return service


def create(ctx: "StoreContext", name: str, features: Sequence[str], description: str = "",
           tags: dict[str, str] | None = None, owner: str | None = None) -> FeatureService:
    now = now_us()
    with ctx.db.write() as conn:
        refs, computed = _resolve(ctx, features)
        service = FeatureService(name=name, features=refs, description=description, on_demand=computed,
                                 tags=dict(tags or {}), owner=owner if owner is not None else ctx.policy.name,
                                 created_at=now, modified_at=now, created_by=ctx.policy.name)
        _plan(ctx, service)  # refuses outputs whose names clash
        registry.insert(conn, service, now)
        _lineage(conn, service, now)
    return load(ctx, name)


def update(ctx: "StoreContext", name: str, features: Sequence[str] | None = None, description: str | None = None,
           tags: dict[str, str] | None = None) -> FeatureService:
    now = now_us()
    with ctx.db.write() as conn:
        old = registry.load(conn, name)
        refs, computed = (old.features, old.on_demand) if features is None else _resolve(ctx, features)
        service = FeatureService(name=name, features=refs, on_demand=computed,
                                 description=old.description if description is None else description,
                                 tags=old.tags if tags is None else dict(tags), owner=old.owner,
                                 created_at=old.created_at, modified_at=now, created_by=ctx.policy.name)
        _plan(ctx, service)
        registry.add_version(conn, service, now)
        _lineage(conn, service, now)
    return load(ctx, name)


def load(ctx: "StoreContext", name: str, version: int | None = None) -> FeatureService:
    return _checked(ctx, registry.load(ctx.db.get(), name, version))


def history(ctx: "StoreContext", name: str) -> list[FeatureService]:
    """Every version of a live service, oldest first; absent (NotFound) as ``load`` makes it, and
    without the earlier versions that read a group the principal may not read."""
    with ctx.db.read() as conn:
        current, found = registry.load(conn, name), registry.versions(conn, name)
    _checked(ctx, current)
    return [s for s in found if all(ctx.policy.may("viewer", g) for g in s.groups)]


def list_all(ctx: "StoreContext") -> list[FeatureService]:
    """Every service whose groups the principal may all read, by name."""
    conn = ctx.db.get()
    services = [registry.load(conn, n) for n in registry.names(conn)]
    return [s for s in services if all(ctx.policy.may("viewer", g) for g in s.groups)]


def delete(ctx: "StoreContext", name: str) -> None:
    with ctx.db.write() as conn:
        registry.delete(conn, name)


def _lineage(conn: Any, service: FeatureService, now: int) -> None:
    node = f"feature_service:{service.name}"
    lineage.upsert_node(conn, node, "feature_service", service.name, now,
                        {"features": service.refs, "on_demand": service.on_demand_refs})
    for group, feat in service.features:
        fnode = f"feature:{group}.{feat}"
        lineage.upsert_node(conn, fnode, "feature", f"{group}.{feat}", now, {"group": group})
        lineage.add_edge(conn, fnode, node, "served_by", now)
    for odf, _ in service.on_demand:
        lineage.add_edge(conn, f"on_demand:{odf}", node, "served_by", now)


def parse(features: Any) -> tuple[str, int | None] | None:
    """'service:NAME' or 'service:NAME@VERSION' as (name, version); None for anything else."""
    if not isinstance(features, str) or not features.startswith(PREFIX):
        return None
    name, _, version = features[len(PREFIX):].partition("@")
    if version and not version.isdigit():
        raise ValidationError(f"{features!r}: the version after '@' must be a whole number", field="features")
    return name, int(version) if version else None


def selection(ctx: "StoreContext", service: FeatureService) -> list[tuple[FeatureGroup, list[str]]]:
    """The service's (current group definition, [features]) in order; refused when a group lost a feature."""
    chosen: dict[str, tuple[FeatureGroup, list[str]]] = {}
    for name, feat in service.features:
        group = ctx.group(name)[0]
        if feat not in group.feature_names:
            raise ValidationError(f"Feature service {service.name!r} version {service.version} reads {name}:{feat}, "
                                  f"which {name!r} no longer has; update the service (update_feature_service)",
                                  service=service.name, group=name, feature=feat)
        chosen.setdefault(name, (group, []))[1].append(feat)
    return list(chosen.values())


def key_columns(sel: list[tuple[FeatureGroup, list[str]]]) -> list[str]:
    """The entity-row columns the service's groups are keyed by, in order of first use."""
    return list(dict.fromkeys(c for g, _ in sel for c in entity_columns(g)))


def _rows(entity_rows: Any, keys: list[str]) -> list[Mapping[str, Any]]:
    wanted = set(keys)
    if type(entity_rows) is list and not [r for r in entity_rows if type(r) is not dict or not r.keys() >= wanted]:
        return entity_rows
    try:
        import pandas as pd

        if isinstance(entity_rows, pd.DataFrame):
            entity_rows = entity_rows.to_dict("records")
    except ImportError:  # pragma: no cover
        pass
    if isinstance(entity_rows, Mapping) or not isinstance(entity_rows, (list, tuple)):
        raise ValidationError("entity_rows must be a list of dicts like [{'customer_id': 7}] (or a DataFrame)",
                              field="entity_rows")
    for i, row in enumerate(entity_rows):
        if not isinstance(row, Mapping):
            raise ValidationError(f"entity_rows[{i}] = {row!r} must be a dict of key columns", field="entity_rows")
        absent = [k for k in keys if k not in row]
        if absent:
            raise ValidationError(f"entity_rows[{i}] has no key column {absent[0]!r}; the service is keyed by "
                                  f"{', '.join(keys)}", field="entity_rows", column=absent[0])
    return list(entity_rows)


class Plan:
    """A service version compiled for serving: its groups' lookups, column names and on-demand
    features, kept per context while the registry does not change (``StoreContext.plans``)."""

    def __init__(self, ctx: "StoreContext", service: FeatureService, registry_version: int | None) -> None:
        self.service, self.registry_version = service, registry_version
        self.sel = selection(ctx, service)
        self.keys = key_columns(self.sel)
        self.key_set = frozenset(self.keys)
        self.names = output_names(self.keys, self.sel)
        self.looks = [lookups.compiled(ctx, g, ctx.group(g.name)[1]) for g, _ in self.sel]
        self.computed: list[tuple[on_demand.Compiled, dict[tuple[str, str], str]]] = []
        self.request: dict[str, str] = {}
        taken = {c.lower(): c for c in [*self.keys, *self.names.values()]}
        for name, version in service.on_demand:
            odf = on_demand.load(ctx, name, version)
            self.computed.append((on_demand.compile_feature(odf, on_demand.input_types(ctx, odf)), odf.columns()))
            for field_name, kind in odf.request.items():
                if self.request.setdefault(field_name, kind) != kind:
                    raise ValidationError(f"Feature service {service.name!r}: request field {field_name!r} is "
                                          f"{self.request[field_name]} in one on-demand feature and {kind} in "
                                          f"{name!r}; give them one type", service=service.name, field=field_name)
                if field_name.lower() in taken:
                    raise ValidationError(f"Feature service {service.name!r}: request field {field_name!r} of "
                                          f"{name!r} has the name of its column {taken[field_name.lower()]!r}; "
                                          "rename the request field", service=service.name, field=field_name)
            for out in odf.output_names:
                if out.lower() in taken or out in self.request:
                    raise ValidationError(f"Feature service {service.name!r}: {name!r} computes {out!r}, which is "
                                          "already a column of the service; rename the output or leave the "
                                          "clashing feature out", service=service.name, field=out)
                taken[out.lower()] = out
        self.columns = [*self.names.values(), *(f.name for c, _ in self.computed for f in c.outputs)]
        self.request_types = [(f, kind, on_demand.PLAIN[kind]) for f, kind in self.request.items()]
        # One entity row on the store's SQLite: every group's row and the registry version in one
        # statement (no transaction needed); per group, where its columns start in that row.
        self.each = ctx.online.each_reader([g for g, _ in self.sel]) if snapshot.shared(ctx) else None
        self.widths = [len(g.feature_names) for g, _ in self.sel]
        self.starts = [1 + sum(w + 2 for w in self.widths[:i]) for i in range(len(self.sel))]
        # each key column: (the first group keyed by it, its place in that group's key or None for one column)
        self.key_sources: dict[str, tuple[int, int | None]] = {}
        for n, (g, _) in enumerate(self.sel):
            for j, column in enumerate(entity_columns(g)):
                self.key_sources.setdefault(column, (n, j if g.composite else None))
        # per on-demand feature: (batch column, the vector column it comes from) for each input
        self.feeds = [[(col, self.names[ref]) for ref, col in columns.items()] for _, columns in self.computed]
        self.groups = service.groups
        self.named = [[(f, self.names[(g.name, f)]) for f in feats] for g, feats in self.sel]
        self.column_names = [[column for _, column in named] for named in self.named]
        self.id_columns = [entity_columns(g) for g, _ in self.sel]
        # Where each feature sits in its reader's row, for groups without collections (no JSON to parse).
        self.positions = [None if look.json else [(look.names.index(f), column) for f, column in named]
                          for look, named in zip(self.looks, self.named)]
        self.event_at = [(look.names.index(g.event_time), g.feature(g.event_time).type)
                         for (g, _), look in zip(self.sel, self.looks)]
        # ... and in the one-statement row (``each``), for groups without collections
        self.placed = [None if places is None else [(start + pos, column) for pos, column in places]
                       for places, start in zip(self.positions, self.starts)]
        self.integral = [look.integral for look in self.looks]  # keyed by one Integral column
        # The one-statement row read as a whole: every non-JSON feature's (place, column) at once,
        # then per group what its status and event time need.
        self.flat = [p for places in self.placed if places is not None for p in places]
        self.each_groups = [(start, start + width, start + at, kind, names, look if look.json else None, named,
                             group)
                            for (group, _), look, named, start, width, names, (at, kind) in zip(
                                self.sel, self.looks, self.named, self.starts, self.widths, self.column_names,
                                self.event_at)]
        self.plain_ids = all(self.integral)  # each key read as it is given: arguments are the ids


def _plan(ctx: "StoreContext", service: FeatureService) -> Plan:
    return Plan(ctx, service, None)


def _serving_plan(ctx: "StoreContext", name: str, version: int | None) -> Plan:
    """The cached plan of ``name`` (at ``version``) if the registry has not changed since it was
    made, else a new one (the caller checks the principal may read its groups)."""
    if isinstance(name, (list, tuple)) and version is None:
        key: tuple[Any, Any] = (ADHOC, tuple(name))
    elif isinstance(name, str):
        key = (name, version)
    else:
        raise ValidationError(f"Give a feature service's name or a list of 'group:feature' references, got {name!r}",
                              field="service")
    current = ctx.registry_version()
    plan = ctx.plans.get(key)
    if plan is None or plan.registry_version != current:
        if key[0] == ADHOC:
            refs, computed = _resolve(ctx, list(name))
            service = FeatureService(name=ADHOC, features=refs, on_demand=computed)
        else:
            service = registry.load(ctx.db.get(), name, version)
        if len(ctx.plans) >= MAX_PLANS:  # lists of references vary without end: keep the cache bounded
            ctx.plans.clear()
        plan = ctx.plans[key] = Plan(ctx, service, current)
    return plan


def online_features(ctx: "StoreContext", name: str, entity_rows: Any, version: int | None = None,
                    request: Any = None, as_dict: bool = False) -> Any:
    read = _at_once(ctx, name, version, entity_rows, as_dict)
    if read is None:
        if ctx.policy.governed:  # the guard leaves this call's check to it (guard.SELF_CHECKED)
            ctx.policy.require("get_online_features", "viewer", None)
        shared = snapshot.shared(ctx)
        with ctx.db.read() if shared else nullcontext():
            plan = _serving_plan(ctx, name, version)
            hidden = ctx.policy.governed and len(ctx.policy.visible(plan.groups)) < len(plan.groups)
            if not hidden:
                rows = _rows(entity_rows, plan.keys)
                now = now_us()
                if len(rows) == 1 and shared:
                    values, statuses, event_times, ids = _one_row(plan, rows[0], now, as_dict)
                else:
                    values, statuses, event_times, ids = _many_rows(ctx, plan, rows, now, as_dict)
    else:
        plan, rows, (values, statuses, event_times, ids) = read
        hidden = False
    if hidden:  # logged outside the read transaction, as a missing service (or group)
        if plan.service.name == ADHOC:
            group = next(g for g in plan.groups if not ctx.policy.may("viewer", g))
            ctx.policy.record("read", group, "denied")
            raise group_registry.missing(group)
        _checked(ctx, plan.service)
    if plan.computed:
        asked = _request_columns(plan, rows, request)
        who = _who(plan, rows)
        one = len(rows) == 1
        for (compiled, _), feeds in zip(plan.computed, plan.feeds):
            if one:
                row = {col: values[source][0] for col, source in feeds}
                for f in compiled.feature.request:
                    row[f] = asked[f][0]
                outputs = compiled.one(row, who)
            else:
                batch = {col: values[source] for col, source in feeds}
                for f in compiled.feature.request:
                    batch[f] = asked[f]
                outputs = compiled.rows(batch, who)
            status = _worst([statuses[source] for _, source in feeds], len(rows))
            for out in compiled.outputs:
                values[out.name], statuses[out.name] = outputs[out.name], status
                if as_dict:
                    event_times[out.name] = [None] * len(rows)
    keys = _key_values(plan, rows, ids)
    if as_dict:
        return {"keys": list(plan.keys), "features": list(plan.columns), "values": {**keys, **values},
                "statuses": statuses, "event_times": event_times}
    return _frame(plan, keys, values, statuses)


def _at_once(ctx: "StoreContext", name: Any, version: int | None, entity_rows: Any,
             as_dict: bool) -> tuple[Plan, list, tuple] | None:
    """One entity row served by the cached plan's one statement (``Plan.each``), if the plan is
    still the registry's (the statement reads its version) and the principal may read it all;
    None: the ordinary way."""
    plan = ctx.plans.get((name, version)) if type(name) is str else None
    if plan is None or plan.each is None or type(entity_rows) is not list or len(entity_rows) != 1:
        return None
    row = entity_rows[0]
    rows = entity_rows if type(row) is dict and plan.key_set <= row.keys() else _rows(entity_rows, plan.keys)
    row = rows[0]
    ids = [v if integral and type(v := row[columns[0]]) is int and -(2**63) <= v < 2**63
           else _record_id(look, columns, row, 0)
           for look, columns, integral in zip(plan.looks, plan.id_columns, plan.integral)]
    if plan.plain_ids:
        args = ids
    else:
        args = []
        for rid, columns in zip(ids, plan.id_columns):
            if rid is None:
                args.extend([None] * len(columns))
            elif len(columns) > 1:
                args.extend(rid)
            else:
                args.append(rid)
    now = now_us()
    found = plan.each(args)
    if found is None or found[0] != plan.registry_version:
        return None  # the registry moved: the ordinary way re-plans
    if not ctx.policy.readable_in(plan.groups, found[0]):
        return None  # the ordinary way refuses, logged
    values = {column: [found[pos]] for pos, column in plan.flat}  # a group with no row reads nulls
    statuses: dict[str, list[str]] = {}
    event_times: dict[str, list[Any]] = {}
    for start, end, at, kind, names, json_look, named, group in plan.each_groups:
        expires, stored = found[end], found[end + 1]
        if stored is None or expires is not None and expires <= now:
            statuses.update(dict.fromkeys(names, ["not_found" if stored is None else "outside_ttl"]))
            for column in names:  # an expired row is kept by TTL, not served
                values[column] = [None]
            times: list[Any] = [None]
        else:
            statuses.update(dict.fromkeys(names, ["present"]))
            if json_look is None:
                stamp = found[at]
            else:
                record = json_look.decode_one(found[start:end])
                for f, column in named:
                    values[column] = [record.get(f)]
                stamp = record.get(group.event_time)
            times = [None if stamp is None else _event_us(stamp, kind)]
        if as_dict:
            event_times.update(dict.fromkeys(names, times))
    return plan, rows, (values, statuses, event_times, [[i] for i in ids])


def _one_row(plan: Plan, row: Mapping[str, Any], now: int, as_dict: bool) -> tuple[dict, dict, dict, list]:
    """One entity row's group features: one primary-key read per group, values taken by position."""
    values: dict[str, list[Any]] = {}
    statuses: dict[str, list[str]] = {}
    event_times: dict[str, list[Any]] = {}
    ids = []
    for look, columns, named, positions, (at, kind), names in zip(plan.looks, plan.id_columns, plan.named,
                                                                  plan.positions, plan.event_at, plan.column_names):
        rid = _record_id(look, columns, row, 0)
        ids.append([rid])
        found = None if rid is None else look.reader.one(rid, now)
        if found is None:
            expired = rid is not None and look.reader.one(rid, _EARLIEST) is not None
            statuses.update(dict.fromkeys(names, ["outside_ttl" if expired else "not_found"]))
            for column in names:
                values[column] = [None]
            times: list[Any] = [None]
        else:
            statuses.update(dict.fromkeys(names, ["present"]))
            if positions is None:
                record = look.decode_one(found)
                for f, column in named:
                    values[column] = [record.get(f)]
            else:
                for pos, column in positions:
                    values[column] = [found[pos]]
            times = [None if found[at] is None else _event_us(found[at], kind)]
        if as_dict:
            event_times.update(dict.fromkeys(names, times))
    return values, statuses, event_times, ids


def _many_rows(ctx: "StoreContext", plan: Plan, rows: list[Mapping[str, Any]], now: int, as_dict: bool) -> tuple[dict, dict, dict, list]:
    """Entity rows' group features: every group in one ``many_groups`` call (one snapshot)."""
    values: dict[str, list[Any]] = {}
    statuses: dict[str, list[str]] = {}
    event_times: dict[str, list[Any]] = {}
    all_ids = [_record_ids(look, columns, rows) for look, columns in zip(plan.looks, plan.id_columns)]
    wanted = [list(dict.fromkeys(ids if None not in ids else (i for i in ids if i is not None))) for ids in all_ids]
    asked = [(look.reader, w) for look, w in zip(plan.looks, wanted) if w]
    answers = iter(ctx.online.many_groups(asked, now) if asked else ())
    for look, ids, w, named, positions, (at, kind) in zip(plan.looks, all_ids, wanted, plan.named, plan.positions,
                                                          plan.event_at):
        live, expired = next(answers) if w else ({}, set())
        found = list(map(live.get, ids))  # None for a null key too: never a key of ``live``
        if None not in found:
            status = ["present"] * len(found)
        else:
            status = ["present" if r is not None else "outside_ttl" if i in expired else "not_found"
                      for i, r in zip(ids, found)]
        statuses.update(dict.fromkeys([c for _, c in named], status))
        if positions is None:
            records = [None if r is None else look.decode_one(r) for r in found]
            for f, column in named:
                values[column] = [None if r is None else r.get(f) for r in records]
            stamps: Any = [None if r is None else r[at] for r in found]
        else:  # rows to columns at C speed, a row of nulls for a key with no record
            empty = (None,) * len(look.names)
            by_column = list(zip(*[empty if r is None else r for r in found] if None in found else found)) or \
                [()] * len(look.names)
            for pos, column in positions:
                values[column] = list(by_column[pos])
            stamps = by_column[at]
        if as_dict:
            known = {v: _event_us(v, kind) for v in set(stamps) if v is not None}  # a batch shares few
            times = list(map(known.get, stamps))  # None for None: never a key of ``known``
            event_times.update(dict.fromkeys([c for _, c in named], times))
    return values, statuses, event_times, all_ids


def _record_ids(look: lookups.Lookup, columns: list[str], rows: list[Mapping[str, Any]]) -> list[Any]:
    """Each entity row's key for ``look``'s group (None for a null key); plain ints as they are."""
    if look.integral:
        column = columns[0]
        given = list(map(operator.itemgetter(column), rows))
        if given and set(map(type, given)) == {int} and -(2**63) <= min(given) and max(given) < 2**63:
            return given
    return [_record_id(look, columns, row, i) for i, row in enumerate(rows)]


def _record_id(look: lookups.Lookup, columns: list[str], row: Mapping[str, Any], i: int) -> Any:
    group = look.group
    if len(columns) == 1:
        value = row[columns[0]]
        if value is None or value != value:  # null (or NaN) key: nothing matches, as in a dataset
            return None
        try:
            return look.identifier(value)
        except ValidationError as exc:
            raise ValidationError(f"entity_rows[{i}]: {exc.message}", field="entity_rows", group=group.name) from None
    values = [row[c] for c in columns]
    if any(v is None or v != v for v in values):
        return None
    try:
        return look.identifier(dict(zip(group.identifiers, values)))
    except ValidationError as exc:
        raise ValidationError(f"entity_rows[{i}]: {exc.message}", field="entity_rows", group=group.name) from None


@functools.lru_cache(maxsize=4096)
def _event_us(value: Any, kind: str) -> int:
    return event_time_to_us(value, kind)


_ORDER = {s: i for i, s in enumerate(STATUSES)}
_MISSING = object()


def _worst(statuses: list[list[str]], n: int) -> list[str]:
    """An on-demand output's status per row: its inputs' worst (present only when all are)."""
    if n == 1 and all(s[0] == "present" for s in statuses):
        return ["present"]
    if all(s.count("present") == n for s in statuses):
        return ["present"] * n
    return [max((s[i] for s in statuses), key=_ORDER.__getitem__, default="present") for i in range(n)]


def _who(plan: Plan, rows: list[Mapping[str, Any]]) -> Any:
    def who(i: int) -> str:
        keys = ", ".join(f"{k}={rows[i].get(k)!r}" for k in plan.keys)
        return f"entity_rows[{i}] ({keys})"
    return who


def _request_columns(plan: Plan, rows: list[Mapping[str, Any]], request: Any) -> dict[str, list[Any]]:
    """Each request field's values, one per entity row, typed as declared: from the entity row, else
    ``request`` (one dict for every row, or a list of dicts, one per row)."""
    if request is not None and type(request) is not dict and not isinstance(request, Mapping):
        if not isinstance(request, (list, tuple)) or len(request) != len(rows) or \
                not all(isinstance(r, Mapping) for r in request):
            raise ValidationError(f"request must be a dict of request values (for every entity row) or a list of "
                                  f"{len(rows)} dicts, one per entity row", field="request")
    if len(rows) == 1 and type(request) is dict:  # one entity row and one dict: the common online call
        row, out = rows[0], {}
        for f, kind, plain in plan.request_types:
            v = row[f] if f in row else request.get(f, _MISSING)
            if v is _MISSING:
                break  # the general path names it
            out[f] = [v] if type(v) is plain or v is None else on_demand.request_values([v], kind, f)
        else:
            return out
    out = {}
    shared = request is None or isinstance(request, Mapping)
    for field_name, kind in plan.request.items():
        if shared and not any(field_name in row for row in rows) and request is not None and field_name in request:
            out[field_name] = on_demand.request_values([request[field_name]], kind, field_name) * len(rows)
            continue
        column = []
        for i, row in enumerate(rows):
            given = request if shared else request[i]
            if field_name in row:
                column.append(row[field_name])
            elif given is not None and field_name in given:
                column.append(given[field_name])
            else:
                raise ValidationError(f"Feature service {plan.service.name!r} needs request value {field_name!r} "
                                      f"({kind}) for entity_rows[{i}]; pass request={{{field_name!r}: ...}}",
                                      field="request", column=field_name)
        out[field_name] = on_demand.request_values(column, kind, field_name)
    return out


def _key_values(plan: Plan, rows: list[Mapping[str, Any]], all_ids: list[list[Any]]) -> dict[str, list[Any]]:
    """Each key column as the entity rows give it, typed as the first group keyed by it has its key."""
    out: dict[str, list[Any]] = {}
    for column, (n, j) in plan.key_sources.items():
        ids = all_ids[n]
        out[column] = [rows[r][column] if i is None else i if j is None else i[j] for r, i in enumerate(ids)]
    return out


def _frame(plan: Plan, keys: dict[str, list[Any]], values: dict[str, list[Any]],
           statuses: dict[str, list[str]]) -> "pd.DataFrame":
    import pyarrow as pa

    from ..offline.snapshot import to_pandas

    columns: dict[str, Any] = {}
    for group, _ in plan.sel:
        for column, feature in zip(entity_columns(group), group.id_features):
            if column not in columns:
                columns[column] = _key_array(keys[column], feature.arrow_type())
    for group, feats in plan.sel:
        for f in feats:
            column = plan.names[(group.name, f)]
            columns[column] = pa.array(values[column], group.feature(f).arrow_type())
    for compiled, _ in plan.computed:
        for out in compiled.outputs:
            columns[out.name] = pa.array(values[out.name], out.arrow_type())
    for column in plan.columns:
        columns[f"{column}__status"] = pa.array(statuses[column], pa.string())
    return to_pandas(pa.table(columns))


def _key_array(values: list[Any], kind: Any) -> Any:
    """A key column as its group types it; as given when a row with a null key part holds another
    part of another type (such a row matched nothing, and its key is shown as written)."""
    import pyarrow as pa

    values = [None if v is None or v != v else v for v in values]
    try:
        return pa.array(values, kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def dataset_features(ctx: "StoreContext", features: Any) -> tuple[list[str], dict[str, Any], Plan] | None:
    """For ``build_dataset(entity_df, "service:NAME[@VERSION]")``: the service's features as
    references, what the dataset records of it, and its plan (its on-demand features); None when
    ``features`` names no service."""
    parsed = parse(features)
    if parsed is None:
        return None
    service = load(ctx, *parsed)
    plan = _plan(ctx, service)  # refuses a feature its group no longer has
    info: dict[str, Any] = {"name": service.name, "version": service.version}
    if service.on_demand:
        info["on_demand"] = service.on_demand_refs
    return service.refs, info, plan


def computed_columns(plan: Plan, table: "pa.Table", names: dict[tuple[str, str], str]) -> "pa.Table":
    """``table`` (a dataset of the service) with its on-demand outputs appended, computed over the
    whole table: inputs from the feature columns, request fields from the entity columns."""
    for compiled, columns in plan.computed:
        missing = [f for f in compiled.feature.request if f not in table.column_names]
        if missing:
            raise ValidationError(f"Feature service {plan.service.name!r} computes {compiled.feature.name!r} from "
                                  f"request value {missing[0]!r}: add a column {missing[0]!r} to the entity table",
                                  field="entity_df", column=missing[0])
        batch = {col: table.column(names[ref]) for ref, col in columns.items()}
        batch |= {f: on_demand.request_values(table.column(f), kind, f) for f, kind in compiled.feature.request.items()}
        import pyarrow as pa

        out = compiled.table(pa.table(batch))
        for column in out.column_names:
            table = table.append_column(column, out.column(column))
    return table
