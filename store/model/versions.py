"""Definition versions: how a group's definition may change, what changed between two versions,
and how rows written under one version read under another.

A change beyond adding features (dropping, renaming or widening one; settings) makes a new
version; the registry keeps every version forever. Features keep a stable id across renames and
retypes, so history written under any version is read under a later one by id: a dropped feature
is not read, a renamed one answers under its new name, a widened one is converted. Versions only
ever read rows written under themselves or earlier ones (a read at an instant uses the version in
force then, and sees only rows written by then), so no conversion ever narrows.

Widening converts Integral -> Fractional exactly (as float64), and a scalar -> String as the text
Python's ``repr`` gives (``42``, ``2.0``, ``1e+16``), which is also DuckDB's CAST to VARCHAR, so the
online and offline stores convert alike.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from ..errors import ValidationError
from .schema import FEATURE_TYPES, Feature, FeatureGroup, check_name, reserved_clash

if TYPE_CHECKING:
    import pyarrow as pa

# The widenings allowed: from a type to the types that hold every value of it.
WIDER = {"Integral": ("Fractional", "String"), "Fractional": ("String",), "String": ()}
# Settings whose change makes a new version (besides features), as FeatureGroup fields.
SETTINGS = ("description", "tags", "ttl_seconds", "offline_retention_seconds", "partition_by", "entity", "entity_keys")


def changed(group: FeatureGroup, drop: Iterable[str] = (), rename: Mapping[str, str] | None = None,
            retype: Mapping[str, str] | None = None) -> FeatureGroup:
    """``group`` with features dropped, renamed (old -> new name) and widened (name -> type), as
    the next version. Raises ValidationError, naming the feature and what works instead, for what
    cannot be honoured: a feature it does not have, the identifier or event time, a name taken, a
    narrowing or a collection."""
    drop, rename, retype = list(drop), dict(rename or {}), dict(retype or {})
    if not (drop or rename or retype):
        raise ValidationError(f"No change to the features of {group.name!r}: give drop=, rename= or retype=",
                              group=group.name)
    names = set(group.feature_names)
    for name in [*drop, *rename, *retype]:
        if name not in names:
            raise ValidationError(f"Feature group {group.name!r} has no feature {name!r}; it has: "
                                  + ", ".join(group.feature_names), group=group.name, feature=name)
    keys = {**{k: "record identifier" for k in group.identifiers}, group.event_time: "event time"}
    for name in [*drop, *rename, *retype]:
        if name in keys:
            what = "dropped" if name in drop else "renamed" if name in rename else "retyped"
            raise ValidationError(
                f"{name!r} is the {keys[name]} of {group.name!r} and cannot be {what}: every record and its history "
                "are keyed by it. Create a new group with the definition you want and ingest into it",
                group=group.name, feature=name)
    both = set(drop) & (set(rename) | set(retype))
    if both:
        name = sorted(both)[0]
        raise ValidationError(f"Feature {name!r} of {group.name!r} is both dropped and changed; choose one",
                              group=group.name, feature=name)
    features = []
    for f in group.features:
        if f.name in retype:
            features.append(_widened(group, f, retype[f.name]))
        else:
            features.append(f)
    kept = [(f, i) for f, i in zip(features, group.ids) if f.name not in drop]
    if not [f for f, _ in kept if f.name not in keys]:
        raise ValidationError(f"Dropping {', '.join(map(repr, drop))} would leave {group.name!r} with no feature "
                              "besides its identifier and event time; keep at least one", group=group.name)
    # Every current name stays taken, even one renamed away in the same change: a swap goes in two changes.
    taken = {f.name.lower(): f.name for f, _ in kept}
    renamed = []
    for f, i in kept:
        new = rename.get(f.name)
        if new is not None:
            check_name(new, "Feature")
            if reserved_clash(new):
                raise ValidationError(f"Feature name {new!r} is reserved; pick another name for {f.name!r}",
                                      group=group.name, feature=f.name)
            twin = taken.get(new.lower())
            if twin == f.name:
                raise ValidationError(f"Feature {f.name!r} of {group.name!r} is already named {new!r}",
                                      group=group.name, feature=f.name)
            if twin is not None:
                raise ValidationError(
                    f"Cannot rename {f.name!r} to {new!r}: {group.name!r} already has a feature {twin!r} (SQL does not "
                    "tell letter case apart). Rename or drop that one first, or pick another name",
                    group=group.name, feature=f.name)
            taken[new.lower()] = new
            f = replace(f, name=new)
        renamed.append((f, i))
    return replace(group, features=tuple(f for f, _ in renamed), feature_ids=tuple(i for _, i in renamed),
                   version=group.version + 1)


def _widened(group: FeatureGroup, f: Feature, kind: str) -> Feature:
    if kind not in FEATURE_TYPES:
        raise ValidationError(f"Type {kind!r} for {f.name!r}: use one of {', '.join(FEATURE_TYPES)}",
                              group=group.name, feature=f.name)
    if f.is_collection:
        raise ValidationError(f"Feature {f.name!r} of {group.name!r} is a {f.collection}; only scalar features can be "
                              "retyped. Add a new feature and fill it instead", group=group.name, feature=f.name)
    if kind == f.type:
        raise ValidationError(f"Feature {f.name!r} of {group.name!r} is already {kind}", group=group.name,
                              feature=f.name)
    if kind not in WIDER[f.type]:
        allowed = " or ".join(WIDER[f.type]) or "nothing wider"
        raise ValidationError(
            f"Cannot retype {f.name!r} of {group.name!r} from {f.type} to {kind}: that narrows it, and values already "
            f"stored may not fit. A {f.type} feature can become {allowed}; for a narrower type add a new feature, "
            "fill it with a pipeline, and drop this one", group=group.name, feature=f.name)
    return replace(f, type=kind)


def diff(old: FeatureGroup, new: FeatureGroup) -> list[dict[str, Any]]:
    """What changed from ``old`` to ``new``, as a list of plain entries (JSON-ready)."""
    out: list[dict[str, Any]] = []
    before = dict(zip(old.ids, old.features))
    after = dict(zip(new.ids, new.features))
    for i, f in before.items():
        if i not in after:
            out.append({"change": "drop", "feature": f.name})
    for i, f in after.items():
        was = before.get(i)
        if was is None:
            out.append({"change": "add", "feature": f.name, "type": _typename(f)})
            continue
        if was.name != f.name:
            out.append({"change": "rename", "feature": was.name, "to": f.name})
        if was.type != f.type:
            out.append({"change": "retype", "feature": f.name, "from": was.type, "to": f.type})
        if was.description != f.description or was.parameters != f.parameters:
            out.append({"change": "feature_metadata", "feature": f.name})
    for setting in SETTINGS:
        a, b = getattr(old, setting), getattr(new, setting)
        if a != b:
            out.append({"change": setting, "from": a, "to": b})
    return out


def _typename(f: Feature) -> str:
    return f"{f.collection}<{f.type}>" if f.collection else f.type


def summary(changes: list[dict[str, Any]]) -> str:
    """One line for a diff: "renamed amt -> amount; dropped notes; age Integral -> Fractional"."""
    words = []
    for c in changes:
        kind = c["change"]
        if kind == "create":
            words.append("created")
        elif kind == "add":
            words.append(f"added {c['feature']} ({c['type']})")
        elif kind == "drop":
            words.append(f"dropped {c['feature']}")
        elif kind == "rename":
            words.append(f"renamed {c['feature']} -> {c['to']}")
        elif kind == "retype":
            words.append(f"{c['feature']} {c['from']} -> {c['to']}")
        elif kind == "feature_metadata":
            words.append(f"described {c['feature']}")
        else:
            seconds = kind.endswith("_seconds")
            words.append(f"{kind.replace('_seconds', '').replace('_', ' ')}: "
                         f"{_shown(c['from'], seconds)} -> {_shown(c['to'], seconds)}")
    return "; ".join(words)


def _shown(value: Any, seconds: bool) -> str:
    if value is None:
        return "none"
    if seconds:
        return f"{value:g} s"
    return repr(value)


# ----------------------------------------------------------------------------- reading old rows


def projection(source: FeatureGroup, count: int, target: FeatureGroup,
               through: frozenset[int] = frozenset()) -> list[tuple[Feature, Feature | None]]:
    """For each feature of ``target``: the feature of ``source`` (a version whose rows hold its
    first ``count`` features) that holds its values, or None (added since: read as null).
    ``through``: ids of features Fractional in some version up to ``target``'s. An Integral one of
    those read as String is held as Fractional: its values were floats before they were text, so
    10**12 reads '1000000000000.0', as the online store, which converted at each change, has it."""
    held = dict(zip(source.ids[:count], source.features[:count]))
    out = []
    for f, i in zip(target.features, target.ids):
        h = held.get(i)
        if h is not None and h.type == "Integral" and f.type == "String" and i in through:
            h = replace(h, type="Fractional")
        out.append((f, h))
    return out


def identity(source: FeatureGroup, count: int, target: FeatureGroup) -> bool:
    """Whether rows of ``source`` holding ``count`` features are already in ``target``'s shape."""
    return count == len(target.features) and source.ids == target.ids and \
        all(a.name == b.name and a.type == b.type for a, b in zip(source.features, target.features))


def widen_value(value: Any, kind: str) -> Any:
    """One stored scalar converted to the wider ``kind`` (see the module docstring)."""
    if value is None:
        return None
    if kind == "Fractional":
        return float(value)
    if kind == "String":
        if isinstance(value, str):
            return value
        if isinstance(value, float):
            return repr(value) if math.isfinite(value) else str(value)
        return str(int(value))
    return value


def widen_array(values: "pa.Array | pa.ChunkedArray", kind: str) -> "pa.Array | pa.ChunkedArray":
    """An Arrow column converted to the wider ``kind``, vectorised: floats to text through DuckDB,
    whose CAST gives Python's ``repr`` (Arrow's own cast writes 2.0 as '2')."""
    import pyarrow as pa

    if kind != "String":  # Integral only ever for rows of no later version: an empty column's type
        return values.cast(pa.float64() if kind == "Fractional" else pa.int64())
    if pa.types.is_floating(values.type):
        from ..common import duck

        with duck.cursor() as con:
            con.register("__values", pa.table({"v": values}))
            return con.sql("SELECT CAST(v AS VARCHAR) AS v FROM __values").to_arrow_table().column("v")
    return values.cast(pa.string())


def translate(values: list[Any], source: FeatureGroup, target: FeatureGroup,
              through: frozenset[int] = frozenset()) -> list[Any]:
    """A row of ``source``'s features in order (maybe fewer: features added since are null) as
    ``target``'s, by feature id, widened values converted (``through``: see ``projection``)."""
    return [None if held is None or pos >= len(values) else
            widen_value(float(values[pos]) if values[pos] is not None and held.type == "Integral" and i in through
                        else values[pos], f.type)
            if held.type != f.type else values[pos]
            for (f, held, pos), i in zip(_positions(source, len(values), target), target.ids)]


def _positions(source: FeatureGroup, count: int, target: FeatureGroup) -> list[tuple[Feature, Feature | None, int]]:
    where = {i: n for n, i in enumerate(source.ids[:count])}
    by_id = dict(zip(source.ids, source.features))
    return [(f, by_id.get(i) if i in where else None, where.get(i, count)) for f, i in zip(target.features, target.ids)]


def sql_expression(target: Feature, held: Feature | None, quote: Any) -> str:
    """The SQL (DuckDB) reading ``target`` from a row that holds ``held`` (see ``projection``)."""
    if held is None:
        return f"CAST(NULL AS {target.duckdb_type}) AS {quote(target.name)}"
    column = quote(held.name)
    if held.type != target.type:
        if held.type == "Fractional":  # a column of integers held as Fractional (``projection``)
            column = f"CAST({column} AS DOUBLE)"
        column = f"CAST({column} AS {target.duckdb_type})"
    return f"{column} AS {quote(target.name)}"


# ----------------------------------------------------------------------------- stored form


def to_stored(group: FeatureGroup) -> dict[str, Any]:
    """The parts of a definition a version keeps (JSON-ready)."""
    return {
        "identifiers": list(group.identifiers), "event_time": group.event_time,
        "features": [{**f.to_dict(), "id": i} for f, i in zip(group.features, group.ids)],
        "description": group.description, "tags": dict(group.tags), "online": group.online,
        "offline": group.offline, "ttl_seconds": group.ttl_seconds, "partition_by": group.partition_by,
        "offline_retention_seconds": group.offline_retention_seconds,
        "entity": group.entity, "entity_keys": dict(group.entity_keys),
    }


def from_stored(base: FeatureGroup, stored: dict[str, Any], version: int) -> FeatureGroup:
    """A kept version as a FeatureGroup (its name and store locations are ``base``'s)."""
    from .schema import stored_definitions

    with stored_definitions():
        features = tuple(Feature.from_dict({k: v for k, v in f.items() if k != "id"}) for f in stored["features"])
    return replace(
        base, identifiers=tuple(stored["identifiers"]), event_time=stored["event_time"], features=features,
        feature_ids=tuple(f["id"] for f in stored["features"]), description=stored["description"],
        tags=dict(stored["tags"]), online=stored["online"], offline=stored["offline"],
        ttl_seconds=stored["ttl_seconds"], partition_by=stored["partition_by"],
        offline_retention_seconds=stored["offline_retention_seconds"], version=version,
        entity=stored.get("entity"), entity_keys=dict(stored.get("entity_keys") or {}))  # none before entities
