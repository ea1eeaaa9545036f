"""The bodies of the facade's feature-service methods: define, version, read and delete services,
and read a service's online vector; their documentation is on ``FeatureStore``.

A service's online vector (``online_features``) is a pandas DataFrame, one row per entity row in
order: the service's key columns as the entity rows give them, then one column per feature (named
as ``build_dataset`` names it: ``<feature>``, or ``<group>__<feature>`` on a clash), typed as the
dataset's columns, then one ``<column>__status`` column per feature: ``present`` (the record is
live; its value may still be null), ``not_found`` (no live record, or a null key) or
``outside_ttl`` (the record is there but its TTL has passed; backends that drop expired records
themselves, like Redis, answer ``not_found``). The feature columns equal the ones
``build_dataset(entity_df, "service:NAME")`` gives at the entity rows' time "now".

Snapshot: on every online backend the vector is one consistent snapshot of every group, read in
one batch for all entity rows (``snapshot.read_groups``): where the online store lives in the
store's own database (the default SQLite file, or its PostgreSQL schema) inside one read
transaction; on Redis in one script call; on a PostgreSQL online database of its own in one
REPEATABLE READ transaction.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ..common.timeutil import now_us
from ..errors import ValidationError
from ..model import record as records
from ..model.entity import entity_columns
from ..model.schema import FeatureGroup
from ..model.services import FeatureService
from ..registry import lineage
from ..registry import services as registry
from . import snapshot
from .dataset import output_names

if TYPE_CHECKING:
    import pandas as pd

    from ..core.context import StoreContext

PREFIX = "service:"
STATUSES = ("present", "not_found", "outside_ttl")


def _resolve(ctx: "StoreContext", features: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """'group', 'group:*' or 'group:feature' as explicit (group, feature) pairs: each group's
    features together (where the group first appears), in the order given."""
    if isinstance(features, str) or not isinstance(features, (list, tuple)) or not features:
        raise ValidationError("features must be a non-empty list like ['customers:age', 'orders:*', 'merchants']",
                              field="features")
    out: list[tuple[str, str]] = []
    for spec in features:
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
    return tuple(sorted(out, key=lambda ref: first[ref[0]]))  # by group, as a dataset's columns are


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
        service = FeatureService(name=name, features=_resolve(ctx, features), description=description,
                                 tags=dict(tags or {}), owner=owner if owner is not None else ctx.policy.name,
                                 created_at=now, modified_at=now, created_by=ctx.policy.name)
        registry.insert(conn, service, now)
        _lineage(conn, service, now)
    return load(ctx, name)


def update(ctx: "StoreContext", name: str, features: Sequence[str] | None = None, description: str | None = None,
           tags: dict[str, str] | None = None) -> FeatureService:
    now = now_us()
    with ctx.db.write() as conn:
        old = registry.load(conn, name)
        service = FeatureService(name=name, features=old.features if features is None else _resolve(ctx, features),
                                 description=old.description if description is None else description,
                                 tags=old.tags if tags is None else dict(tags), owner=old.owner,
                                 created_at=old.created_at, modified_at=now, created_by=ctx.policy.name)
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
    lineage.upsert_node(conn, node, "feature_service", service.name, now, {"features": service.refs})
    for group, feat in service.features:
        fnode = f"feature:{group}.{feat}"
        lineage.upsert_node(conn, fnode, "feature", f"{group}.{feat}", now, {"group": group})
        lineage.add_edge(conn, fnode, node, "served_by", now)


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


def _record_id(group: FeatureGroup, row: Mapping[str, Any], i: int) -> Any:
    columns = entity_columns(group)
    values = [row[c] for c in columns]
    if any(v is None or v != v for v in values):  # null (or NaN) key: nothing matches, as in a dataset
        return None
    try:
        return records.identifier(group, dict(zip(group.identifiers, values)) if group.composite else values[0])
    except ValidationError as exc:
        raise ValidationError(f"entity_rows[{i}]: {exc.message}", field="entity_rows", group=group.name) from None


def online_features(ctx: "StoreContext", name: str, entity_rows: Any, version: int | None = None) -> "pd.DataFrame":
    import pyarrow as pa

    from ..offline.snapshot import to_pandas

    service = load(ctx, name, version)
    with _snapshot(ctx):
        sel = selection(ctx, service)
        keys = key_columns(sel)
        rows = _rows(entity_rows, keys)
        now = now_us()
        ids = {group.name: [_record_id(group, row, i) for i, row in enumerate(rows)] for group, _ in sel}
        found = snapshot.read_groups(ctx, [(g, ctx.group(g.name)[1], ids[g.name]) for g, _ in sel], now)
        reads = {name: (ids[name], *found[name]) for name in ids}
    names = output_names(keys, sel)
    columns: dict[str, Any] = {}
    for group, _ in sel:  # each key column typed as the first group keyed by it types it
        ids = reads[group.name][0]
        for j, (column, feature) in enumerate(zip(entity_columns(group), group.id_features)):
            if column not in columns:
                typed = [rows[n][column] if i is None else i[j] if group.composite else i for n, i in enumerate(ids)]
                columns[column] = _key_array(typed, feature.arrow_type())
    statuses: dict[str, list[str]] = {}
    for group, feats in sel:
        ids, live, expired = reads[group.name]
        found = [live.get(i) if i is not None else None for i in ids]
        status = ["present" if r is not None else "outside_ttl" if i in expired else "not_found"
                  for i, r in zip(ids, found)]
        for f in feats:
            column = names[(group.name, f)]
            columns[column] = pa.array([None if r is None else r.get(f) for r in found], group.feature(f).arrow_type())
            statuses[f"{column}__status"] = status
    for column, status in statuses.items():
        columns[column] = pa.array(status, pa.string())
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


def _snapshot(ctx: "StoreContext") -> Any:
    """One read transaction over every group where the online rows live in the store's database."""
    return snapshot.transaction(ctx)


def dataset_features(ctx: "StoreContext", features: Any) -> tuple[list[str], dict[str, Any]] | None:
    """For ``build_dataset(entity_df, "service:NAME[@VERSION]")``: the service's features as
    references, and what the dataset records of it; None when ``features`` names no service."""
    parsed = parse(features)
    if parsed is None:
        return None
    service = load(ctx, *parsed)
    selection(ctx, service)  # refuses a feature its group no longer has
    return service.refs, {"name": service.name, "version": service.version}
