"""Point-in-time-correct training sets: feature groups joined onto an entity/label table.

For each entity row and group: the newest version of that record with event time at or before
the row's event time (an ASOF JOIN in DuckDB, a join and a window in Spark: see ``engines``),
its delete markers honoured, so no future value leaks
in. One output row per input row, in input order, entity columns first and unchanged.
"""
from __future__ import annotations

import os
import uuid
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .. import engines, registry
from ..common.timeutil import arg_to_us, now_us, us_to_iso
from ..common.warn import warn_user
from ..engines.base import JoinPlan, key_pairs
from ..errors import ValidationError
from ..model.entity import entity_columns
from ..model.schema import Feature, FeatureGroup
from ..registry import lineage

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from ..core.context import StoreContext


@dataclass
class Dataset:
    """A built training set; ``definition`` is what lineage records to rebuild it."""

    id: str
    name: str
    table: "pa.Table"
    definition: dict[str, Any] = field(default_factory=dict)
    sql: str = ""

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    @property
    def columns(self) -> list[str]:
        return self.table.column_names

    @property
    def coverage(self) -> dict[str, Any]:
        """Entity rows that got a live version from each group, and rows that got nothing at all."""
        return self.definition.get("coverage", {})

    def to_arrow(self) -> "pa.Table":
        return self.table

    def to_pandas(self) -> "pd.DataFrame":
        from ..offline.snapshot import to_pandas

        return to_pandas(self.table)

    def to_parquet(self, path: str | os.PathLike) -> str:
        import pyarrow.parquet as pq

        return _atomic_write(path, lambda tmp: pq.write_table(self.table, tmp))

    def to_csv(self, path: str | os.PathLike) -> str:
        import pyarrow.csv as pcsv

        return _atomic_write(path, lambda tmp: pcsv.write_csv(_csv_ready(self.table), tmp))

    def to_bytes(self, fmt: str) -> bytes:
        """The dataset as the bytes of a ``csv`` or ``parquet`` file (for a download)."""
        import io

        import pyarrow.csv as pcsv
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        if fmt == "parquet":
            pq.write_table(self.table, buffer)
        elif fmt == "csv":
            pcsv.write_csv(_csv_ready(self.table), buffer)
        else:
            raise ValidationError(f"Format {fmt!r} is not csv or parquet")
        return buffer.getvalue()


def _csv_ready(table: "pa.Table") -> "pa.Table":
    """CSV has no lists: write collections as JSON text."""
    import json

    import pyarrow as pa

    cols = []
    for col in table.columns:
        if pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
            col = pa.array([None if v is None else json.dumps(v) for v in col.to_pylist()], pa.string())
        cols.append(col)
    return pa.table(cols, names=table.column_names)


def _atomic_write(path: str | os.PathLike, write: Any) -> str:
    path = os.fspath(path)
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.{uuid.uuid4().hex[:6]}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def load_entity(data: Any, text_columns: Sequence[str]) -> tuple["pa.Table", str]:
    """The entity table as Arrow, and a name for lineage.

    In a CSV the ``text_columns`` (keys, event time) are read as written, so '007' stays '007';
    the other columns get inferred types.
    """
    import pandas as pd
    import pyarrow as pa

    from ..ingest.files import read_table

    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        if not os.path.isfile(path):
            raise ValidationError(f"Entity file {path!r} does not exist")
        return read_table(path, typed=True, text_columns=text_columns), os.path.basename(path)
    if isinstance(data, pd.DataFrame):
        return pa.Table.from_pandas(data, preserve_index=False), "DataFrame"
    if isinstance(data, pa.Table):
        return data, "Arrow table"
    raise ValidationError(f"entity_df must be a DataFrame, an Arrow table or a CSV/Parquet path, not {type(data).__name__}")


def entity_times(table: "pa.Table", column: str) -> "pa.Array":
    """The entity event-time column as int64 microseconds (nulls stay null): timestamps, dates,
    epoch seconds (numbers, or text holding numbers) or ISO-8601 text (an offset or none, UTC).
    A time outside the supported range is refused, naming its row, as every write refuses it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from ..common.timeutil import MAX_US, MIN_US, OUT_OF_RANGE

    us = _entity_us(table, column)
    if isinstance(us, pa.Array) and pa.types.is_floating(us.type):  # epoch seconds, scaled: check before the cast
        far = pc.or_(pc.less(us, float(MIN_US)), pc.greater(us, float(MAX_US)))
    else:
        far = pc.or_(pc.less(us, MIN_US), pc.greater(us, MAX_US))
    if pc.any(far).as_py():
        row = int(np.flatnonzero(far.fill_null(False).to_numpy(zero_copy_only=False))[0])
        raise ValidationError(f"Entity column {column!r} row {row + 1} = {table.column(column)[row].as_py()!s} "
                              f"{OUT_OF_RANGE}", column=column)
    return us.cast(pa.int64()) if pa.types.is_floating(us.type) else us


def _entity_us(table: "pa.Table", column: str) -> "pa.Array":
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.types as pat

    from ..common.timeutil import arrow_timestamps_to_us, parse_loose_iso
    from ..model.coerce import FLOAT_PATTERN

    if column not in table.column_names:
        raise ValidationError(
            f"Entity table has no event-time column {column!r}; pass event_time_column= one of {table.column_names}"
        )
    col = table.column(column).combine_chunks()
    if pat.is_null(col.type):  # every value missing: no row can match, which is not an error
        return pa.nulls(len(col), pa.int64())
    if pat.is_timestamp(col.type):
        return arrow_timestamps_to_us(col)
    if pat.is_date(col.type):
        return arrow_timestamps_to_us(col.cast(pa.timestamp("s")))
    if pat.is_string(col.type) or pat.is_large_string(col.type):
        col = col.cast(pa.string())
        if pc.all(pc.match_substring_regex(col, FLOAT_PATTERN)).as_py() is not False:
            col = col.cast(pa.float64())  # epoch seconds written as text
        else:
            us, bad = parse_loose_iso(col)
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise ValidationError(
                    f"Entity column {column!r} row {row + 1} = {col[row].as_py()!r} is not a time; use ISO-8601 "
                    "like 2024-05-01T12:00:00Z, epoch seconds, or a timestamp column", column=column
                )
            return us
    if pat.is_integer(col.type) or pat.is_floating(col.type):
        return pc.round(pc.multiply(col.cast(pa.float64()), 1_000_000.0))  # float: entity_times checks the range
    raise ValidationError(f"Entity column {column!r} has type {col.type}; it must hold times", column=column)


def output_names(table_columns: Sequence[str], selection: list[tuple[FeatureGroup, list[str]]],
                 prefix_features: bool = False) -> dict[tuple[str, str], str]:
    """Feature column names: ``<feature>``, or ``<group>__<feature>`` when the name is taken
    twice (by another group's feature or an entity column); with ``prefix_features``, always
    ``<group>__<feature>``."""
    counts: dict[str, int] = {}
    for c in table_columns:
        counts[c] = counts.get(c, 0) + 1
    for _, feats in selection:
        for f in feats:
            counts[f] = counts.get(f, 0) + 1
    return {(g.name, f): (f if counts[f] == 1 and not prefix_features else f"{g.name}__{f}")
            for g, feats in selection for f in feats}


def parse_features(ctx: "StoreContext", features: Sequence[str],
                   known_us: int | None = None) -> list[tuple[FeatureGroup, list[str]]]:
    """'group' (all features but the identifier) or 'group:feature' -> [(group, [features])], in
    the definitions in force at write time ``known_us`` (default: the current ones)."""
    from ..core.versions import known_at
    if isinstance(features, str) or not features:
        raise ValidationError("features must be a non-empty list like ['customers', 'orders:total']")
    chosen: dict[str, tuple[FeatureGroup, list[str]]] = {}
    for spec in features:
        if not isinstance(spec, str) or not spec:
            raise ValidationError(f"Feature reference {spec!r} must be 'group' or 'group:feature'")
        name, _, feat = spec.partition(":")
        if not ctx.policy.may("viewer", name):  # hidden reads as missing, features untold
            ctx.policy.record("read", name, "denied")
            raise registry.missing(name)
        group = known_at(ctx, ctx.group(name)[0], known_us)
        if not group.offline:
            raise ValidationError(f"Feature group {name!r} has no offline store, so it cannot feed a dataset")
        entry = chosen.setdefault(name, (group, []))
        wanted = [feat] if feat else [f for f in group.feature_names if f not in group.identifiers]
        for f in wanted:
            group.feature(f)
            if f not in entry[1]:
                entry[1].append(f)
    return list(chosen.values())


def feature_columns(ctx: "StoreContext", entity_columns: Sequence[str], features: Sequence[str],
                    prefix_features: bool = False) -> list[dict[str, str]]:
    """The column each chosen feature will have in the dataset (see ``output_names``)."""
    selection = parse_features(ctx, features)
    names = output_names(entity_columns, selection, prefix_features)
    return [{"group": g.name, "feature": f, "column": names[(g.name, f)]} for g, feats in selection for f in feats]


def build(ctx: "StoreContext", entity: Any, features: Sequence[str], event_time_column: str, keys: dict[str, str],
          known_at: Any, include_deleted: bool, ttl_lookback: bool, write_time_guard: bool, include_duplicates: bool,
          event_time_range: tuple[Any, Any] | None, name: str | None, record: bool,
          prefix_features: bool = False, engine: str = "duckdb", spark: Any = None,
          require_coverage: float | bool | None = None, pad_keys: dict[str, int] | None = None) -> Dataset:
    import pyarrow as pa
    import pyarrow.compute as pc

    from .services import computed_columns, dataset_features

    required = _required_coverage(require_coverage)
    known_us = arg_to_us(known_at, "known_at") if known_at is not None else None
    service = dataset_features(ctx, features)
    if service is not None:  # a service's rows match its online vector, which hides what its TTL expired
        if prefix_features:
            raise ValidationError("prefix_features would name a service's columns otherwise than its online vector "
                                  "does; leave it off for a service", field="prefix_features")
        features, ttl_lookback = service[0], True
    selection = parse_features(ctx, features, known_us)
    text_columns = [event_time_column] + [c for g, _ in selection for c in _entity_columns(g, keys)]
    table, source = load_entity(entity, text_columns)
    reserved = [c for c in table.column_names if c.startswith("__")]
    if reserved:
        raise ValidationError(f"Entity columns {reserved} start with '__', which the dataset builder reserves; rename them")
    lo_us = hi_us = None
    if event_time_range is not None:
        lo, hi = event_time_range
        lo_us = arg_to_us(lo, "event_time_range start") if lo is not None else None
        hi_us = arg_to_us(hi, "event_time_range end") if hi is not None else None

    ts = entity_times(table, event_time_column)
    n = table.num_rows
    table, key_cols, typed_keys = _keys(table, selection, keys, pad_keys or {})
    inputs = {"__row": pa.array(np.arange(n, dtype="int64")), "__ts": ts.cast(pa.timestamp("us", tz="UTC"))}
    inputs |= {column: typed for i, (g, _) in enumerate(selection)
               for (column, _), typed in zip(key_pairs(g, i), typed_keys[g.name])}
    out_names = output_names(table.column_names, selection, prefix_features)

    # No entity row can use a version newer than the latest entity time: skip those files.
    latest_needed = pc.max(ts).as_py()
    prune_us = latest_needed if hi_us is None or latest_needed is None else min(hi_us, latest_needed)
    prune_write_us = known_us
    if write_time_guard and latest_needed is not None:
        prune_write_us = latest_needed if known_us is None else min(known_us, latest_needed)

    snaps = ctx.snapshots([g.name for g, _ in selection], prune_us, prune_write_us, known_us)
    earliest = pc.min(ts).as_py()
    for snap in snaps:
        snap.check_retained(known_us, "known_at")
        if snap.retained_from_us is not None and earliest is not None and earliest < snap.retained_from_us:
            early = int(pc.sum(pc.less(ts, snap.retained_from_us)).as_py())
            raise ValidationError(
                f"{early:,} entity rows have event times before the history {snap.group.name!r} keeps (from "
                f"{us_to_iso(snap.retained_from_us)}, its offline_retention; the earliest is {us_to_iso(earliest)}): "
                "their features would come from partial history. Drop those rows, or raise the retention before "
                "older history is dropped", group=snap.group.name)
    # What the store knew when these snapshots were taken: known_at pinned here rebuilds this exact set.
    seen_us = max((s.last_write_us or 0 for s in snaps), default=0)
    pinned_us = seen_us if known_us is None else min(known_us, seen_us)

    combined = table
    for col, values in inputs.items():
        combined = combined.append_column(col, values)
    plan = JoinPlan(combined, table.column_names, selection, snaps, out_names, known_us, lo_us, hi_us, include_deleted,
                    include_duplicates, ttl_lookback, write_time_guard)
    result, sql = engines.get(engine, spark).join(plan)
    if service is not None and service[2].computed:
        result = computed_columns(service[2], result, out_names)
    result, coverage = _coverage(result, selection)
    _check_coverage(coverage, key_cols, selection, required)
    built = now_us()
    dataset_id = uuid.uuid4().hex[:12]
    definition = {
        "features": list(features), "groups": {g.name: feats for g, feats in selection}, "keys": key_cols,
        "versions": {g.name: g.version for g, _ in selection},
        "event_time_column": event_time_column, "entity_source": source, "entity_rows": n,
        "known_at": us_to_iso(known_us) if known_us is not None else None, "built_at": us_to_iso(built),
        "reproducible_at": us_to_iso(pinned_us) if pinned_us else None,
        "include_deleted": include_deleted, "ttl_lookback": ttl_lookback, "write_time_guard": write_time_guard,
        "include_duplicates": include_duplicates, "prefix_features": prefix_features, "engine": engine,
        "pad_keys": dict(pad_keys or {}),
        "event_time_range": [None if v is None else us_to_iso(v) for v in (lo_us, hi_us)] if event_time_range else None,
        "entity_columns": table.column_names, "columns": result.column_names, "rows": result.num_rows,
        "coverage": coverage,
    }
    if service is not None:
        definition["service"] = service[1]
    dataset = Dataset(dataset_id, name or f"dataset-{us_to_iso(built)}", result, definition, sql)
    if record:
        entity_file = os.fspath(entity) if isinstance(entity, (str, os.PathLike)) else None
        _record(ctx, dataset, selection, built, entity_file, table)
    return dataset


def _entity_columns(group: FeatureGroup, keys: dict[str, Any]) -> list[str]:
    """The entity columns holding ``group``'s key, in key order: ``keys[group]`` (a column; for a
    key of several columns a list in key order or a dict {key column: entity column}), else the
    columns named like the key's (for a group with an entity, like the entity's keys). Raises
    ValidationError."""
    given = keys.get(group.name)
    if given is None:
        return list(entity_columns(group))
    if not group.composite:
        if isinstance(given, (list, tuple)) and len(given) == 1:
            given = given[0]
        elif isinstance(given, dict) and list(given) == list(group.identifiers):
            given = given[group.identifiers[0]]
        if not isinstance(given, str):
            raise ValidationError(f"keys[{group.name!r}] = {given!r} must name the entity column holding its "
                                  f"identifier {group.identifiers[0]!r}", group=group.name, field="keys")
        return [given]
    if isinstance(given, dict):
        wrong = [k for k in given if k not in group.identifiers]
        missing = [k for k in group.identifiers if k not in given]
        if wrong or missing:
            raise ValidationError(
                f"keys[{group.name!r}] maps its key columns ({', '.join(group.identifiers)}) to entity columns; "
                + (f"{wrong[0]!r} is not one of them" if wrong else f"it lacks {missing[0]!r}"),
                group=group.name, field="keys")
        given = [given[k] for k in group.identifiers]
    if (not isinstance(given, (list, tuple)) or len(given) != len(group.identifiers)
            or not all(isinstance(c, str) for c in given)):
        example = {k: f"entity_{k}" for k in group.identifiers}
        raise ValidationError(
            f"{group.name!r} is keyed by {len(group.identifiers)} columns ({', '.join(group.identifiers)}): give "
            f"keys[{group.name!r}] as a list of entity columns in that order, or a dict like {example}; got {given!r}",
            group=group.name, field="keys")
    return list(given)


def _keys(table: "pa.Table", selection: list[tuple[FeatureGroup, list[str]]], keys: dict[str, Any],
          pad_keys: dict[str, int]) -> tuple["pa.Table", dict[str, Any], dict[str, list["pa.Array"]]]:
    """(entity table, key column per group (a list in key order for a key of several columns),
    keys typed as each group's key columns, in key order).

    A key column read as text from a CSV is given the identifiers' type in the output when every
    group it keys agrees on one (Integral keys stay numbers); string identifiers keep the text.
    ``pad_keys`` (group -> width) joins digits zero-padded like the group's identifiers; the
    entity column in the output keeps the values as given."""
    import pyarrow as pa

    key_cols: dict[str, Any] = {}
    typed: dict[str, list[pa.Array]] = {}
    kinds: dict[str, set[str]] = {}
    converted: dict[str, pa.Array] = {}
    stray = sorted(set(pad_keys) - {g.name for g, _ in selection})
    if stray:
        raise ValidationError(f"pad_keys names {stray}, which the features do not join; name only their groups",
                              field="pad_keys")
    for group, _ in selection:
        columns = _entity_columns(group, keys)
        if group.composite and group.name in pad_keys:
            raise ValidationError(f"pad_keys: {group.name!r} is keyed by several columns; write its keys padded in "
                                  "the entity table instead", group=group.name, field="pad_keys")
        for col, key in zip(columns, group.identifiers):
            if col not in table.column_names and group.entity and group.name not in keys:
                raise ValidationError(
                    f"Entity table has no column {col!r}: {group.name!r} is about entity {group.entity!r}, whose key "
                    f"{col!r} (the group's identifier column {key!r}) it joins on. Add a column {col!r}, or name the "
                    f"column holding the {group.entity} keys with keys={{'{group.name}': "
                    + ("'column'}" if not group.composite else "[columns in key order]}") + ")",
                    group=group.name, entity=group.entity, column=col)
            if col not in table.column_names:
                hint = (f"keys={{'{group.name}': 'column'}}" if not group.composite
                        else f"keys={{'{group.name}': {list(group.identifiers)!r}}} naming the entity columns")
                raise ValidationError(
                    f"Entity table has no key column {col!r} for {group.name!r}"
                    + (f" (its key column {key!r})" if group.composite else "") + f"; add it or pass {hint}",
                    group=group.name,
                )
        key_cols[group.name] = columns if group.composite else columns[0]
        typed[group.name] = []
        for col, feature in zip(columns, group.id_features):
            source = table.column(col)
            if group.name in pad_keys:
                source = _padded(source, group, col, pad_keys[group.name])
            cast = _cast_keys(source, group, col, feature)
            _check_key_types(source, cast, group, col, feature)
            typed[group.name].append(cast)
            kinds.setdefault(col, set()).add(feature.type)
            converted.setdefault(col, cast)
    for group, _ in selection:
        for col, feature in zip(_entity_columns(group, keys), group.id_features):
            text = pa.types.is_string(table.column(col).type) or pa.types.is_large_string(table.column(col).type)
            if text and kinds[col] == {feature.type} and feature.type != "String":
                table = table.set_column(table.column_names.index(col), col, converted[col])
    return table, key_cols, typed


def _coverage(result: "pa.Table", selection: list[tuple[FeatureGroup, list[str]]]) -> tuple["pa.Table", dict[str, Any]]:
    """Drop the ``__hit<i>`` flags from the result and count them: how many entity rows got a
    live version from each group, and how many got nothing from any group."""
    import pyarrow.compute as pc

    flags = [f"__hit{i}" for i in range(len(selection))]
    n = result.num_rows
    groups = {}
    anything = None
    for (group, _), flag in zip(selection, flags):
        hit = result.column(flag)
        with_values = int(pc.sum(hit).as_py() or 0)
        groups[group.name] = {"rows_with_values": with_values, "rows_without": n - with_values}
        anything = hit if anything is None else pc.or_(anything, hit)
    none = n - int(pc.sum(anything).as_py() or 0) if anything is not None else n
    return result.drop_columns(flags), {"rows": n, "rows_without_any_feature": none, "groups": groups}


def _padded(col: "pa.ChunkedArray", group: FeatureGroup, name: str, width: Any) -> "pa.Array":
    """Whole numbers (or digits as text) written with leading zeros to ``width`` digits, as a
    group's zero-padded String identifiers are ('000001'). Refused for anything else, and for a
    key longer than the width: no padding makes it one of those identifiers."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if group.id_feature.type != "String":
        raise ValidationError(f"pad_keys: {group.name!r} identifiers are {group.id_feature.type}; only String "
                              "identifiers are written zero-padded", group=group.name)
    if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= 64:
        raise ValidationError(f"pad_keys[{group.name!r}] = {width!r} must be a number of digits from 1 to 64",
                              group=group.name)
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if not (pa.types.is_integer(col.type) or pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        raise ValidationError(f"Entity column {name!r} holds {col.type}; only whole numbers can be zero-padded",
                              group=group.name, column=name)
    text = col.cast(pa.string())
    bad = pc.and_(pc.is_valid(text), pc.or_(pc.invert(pc.match_substring_regex(text, r"^[0-9]+$")),
                                            pc.greater(pc.utf8_length(text), width)))
    if pc.any(bad).as_py():
        row = int(np.flatnonzero(bad.to_numpy(zero_copy_only=False))[0])
        raise ValidationError(
            f"Entity column {name!r} row {row} = {text[row].as_py()!r} cannot be padded to {width} digits like "
            f"{group.name!r} identifiers: only whole numbers of at most {width} digits can",
            group=group.name, column=name)
    return pc.utf8_lpad(text, width, "0")


def _check_key_types(col: "pa.ChunkedArray", typed: "pa.Array", group: FeatureGroup, name: str,
                     feature: "Feature | None" = None) -> None:
    """Refuse a conversion of text keys to Integral identifiers that makes two different keys
    one ('000123' and '123' both 123); warn when numbers are joined to String identifiers, which
    then match only identifiers written plainly ('1', never '000001')."""
    import pyarrow as pa
    import pyarrow.compute as pc

    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    kind = (feature or group.id_feature).type
    if kind == "Integral" and (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        pairs = pa.table({"text": col.cast(pa.string()), "key": typed}).filter(pc.is_valid(typed))
        merged = pairs.group_by("key").aggregate([("text", "count_distinct"), ("text", "min"), ("text", "max")])
        clashes = merged.filter(pc.greater(merged["text_count_distinct"], 1))
        if clashes.num_rows:
            first = clashes.slice(0, 1).to_pylist()[0]
            raise ValidationError(
                f"Entity column {name!r} holds {first['text_min']!r} and {first['text_max']!r}, which are the same "
                f"{group.name!r} identifier {first['key']} (its identifiers are Integral): converting would join "
                "different keys as one. Write each key one way, or pick another column",
                group=group.name, column=name)
    elif kind == "String" and (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
        shown = [str(v) for v in pc.drop_null(typed).slice(0, 3).to_pylist()]
        warn_user(
            f"Entity column {name!r} holds numbers ({col.type}) but {group.name!r} identifiers are String: they are "
            f"joined as text written plainly ({', '.join(repr(v) for v in shown) or 'no values'}), so identifiers "
            "written otherwise (zero-padded like '000001') match nothing. Pass the column as text written like "
            "the identifiers")


def _required_coverage(value: float | bool | None) -> float | None:
    """``require_coverage`` as the fraction of entity rows each group must give values to: True is
    at least one row (0 is taken as that too), None or False nothing."""
    if value is None or value is False:
        return None
    if value is True:
        return 0.0
    if isinstance(value, (int, float)) and 0 <= value <= 1:
        return float(value)
    raise ValidationError(f"require_coverage={value!r} must be a fraction from 0 to 1, or True (at least one row "
                          "per group)", field="require_coverage")


def _check_coverage(coverage: dict[str, Any], key_cols: dict[str, str],
                    selection: list[tuple[FeatureGroup, list[str]]], required: float | None) -> None:
    """A dataset joined on keys that match nothing is not a training set. With ``required``, each
    group must give values to that fraction of the rows (and to one row at least), else a
    ValidationError carrying the coverage (nothing is recorded); without, a UserWarning names each
    group that gave values to no row."""
    n = coverage["rows"]
    if not n:
        return
    identifiers = {g.name: (g.identifiers[0] if not g.composite else list(g.identifiers)) for g, _ in selection}
    short = []
    for group, figures in coverage["groups"].items():
        got = figures["rows_with_values"]
        if (got == 0 if required is None else got == 0 or got < required * n):
            if isinstance(key_cols[group], list):  # a key of several columns
                against = (f"key columns {', '.join(map(repr, key_cols[group]))} against its key "
                           f"{', '.join(map(repr, identifiers[group]))}")
            else:
                against = f"key column {key_cols[group]!r} against its identifier {identifiers[group]!r}"
            short.append(f"{group!r} gave values to {got:,} of {n:,} rows ({against})")
    if not short:
        return
    none = coverage["rows_without_any_feature"]
    message = (f"{none:,} of {n:,} entity rows got no feature at all: " if none else "") + "; ".join(short) + \
        ". Check that each key column holds the group's identifiers, written the same way, and that the event " \
        "times are not before the groups' history"
    if required is None:
        warn_user(message)
        return
    needed = "at least one row" if required == 0 else f"at least {required:.0%} of the rows"
    raise ValidationError(f"require_coverage wants {needed} from each group: {message}. Nothing was recorded",
                          field="require_coverage", coverage=coverage)


def _cast_keys(col: "pa.ChunkedArray", group: FeatureGroup, name: str, feature: "Feature | None" = None) -> "pa.Array":
    """``col`` typed as the group's key column ``feature`` (default: its one identifier)."""
    from ..model.coerce import ColumnProblem, coerce_column

    feature = feature or group.id_feature
    problems: list[ColumnProblem] = []
    out = coerce_column(feature, col, problems)
    if problems:
        p = problems[0]
        row = int(np.flatnonzero(p.mask)[0])
        whose = f"{group.name!r} identifiers are" if not group.composite else f"{group.name}.{feature.name} is"
        raise ValidationError(
            f"Entity column {name!r} row {row} = {col[row].as_py()!r} {p.reason}, but {whose} {feature.type}",
            group=group.name,
        )
    return out


@dataclass
class KeyCheck:
    """How an entity column compares with a group's identifiers, from a sample of each: shown
    before a build so a key that cannot match is seen before the join, not after."""

    problem: str | None = None  # why the keys may not match as they are
    conversion: list[dict[str, Any]] = field(default_factory=list)  # examples: as in the file -> as joined
    refused: str | None = None  # the conversion would lose information: the column cannot key this group
    pad_to: int | None = None  # the conversion is zero-padding to this width: build with pad_keys={group: pad_to}


def check_key(ctx: "StoreContext", sample: "pa.Table", column: str, group_name: str,
              key: str | None = None) -> KeyCheck:
    """Compare ``sample[column]`` (a few entity rows) with ``group_name``'s identifiers: text
    keys for Integral identifiers that change when converted ('000123' -> 123), numbers for String
    identifiers, digits written without the identifiers' leading zeros; refused when converting
    would merge different keys or a value is no identifier at all. ``key``: which of the group's
    key columns ``column`` holds (needed for a key of several columns)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from .browse import latest_page, latest_writes

    ctx.policy.require_read([group_name])  # it shows a few of the group's identifiers
    group = ctx.group(group_name)[0]
    feature = group.feature(key) if key is not None else group.id_feature
    col = sample.column(column).combine_chunks()
    try:
        typed = _cast_keys(col, group, column, feature)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the check says it itself, below
            _check_key_types(col, typed, group, column, feature)
    except ValidationError as exc:
        return KeyCheck(refused=exc.message)
    kind = feature.type
    text = pa.types.is_string(col.type) or pa.types.is_large_string(col.type)
    if kind == "Integral" and (pa.types.is_integer(col.type) or not text):
        return KeyCheck()  # numbers for numbers (floats were checked whole by the cast): nothing to say
    # A few identifiers to compare with (an index walk when the group is online, else its last writes).
    sample_ids = (latest_page(ctx, group_name, limit=3).rows[feature.name] if group.online
                  else latest_writes(ctx, group_name, limit=3).column(feature.name).to_pandas())
    ids = list(dict.fromkeys(v for v in sample_ids.tolist() if v is not None))
    shown_ids = ", ".join(repr(v) for v in ids) if ids else "none yet"
    if kind == "Integral":
        # A key whose text is not the number's own (leading zeros, spaces, '+') is converted.
        changed = pc.and_(pc.is_valid(typed), pc.not_equal(typed.cast(pa.string()), col.cast(pa.string())))
        examples = pa.table({"in the file": col, "joined as": typed}).filter(changed).slice(0, 3).to_pylist()
        if examples:
            return KeyCheck(problem=f"{column!r} holds text like {examples[0]['in the file']!r}, but {group_name!r} "
                                    f"identifiers are whole numbers ({shown_ids}): the join converts each key to "
                                    "its number", conversion=examples)
        return KeyCheck()
    if kind == "String" and not group.composite and ids and all(isinstance(v, str) and v.isdigit() and v.startswith("0") and
                                        len(v) == len(ids[0]) for v in ids):
        width = len(ids[0])
        keys = col.cast(pa.string())
        digits = pc.fill_null(pc.match_substring_regex(keys, r"^[0-9]+$"), False)
        unpadded = pc.and_(digits, pc.not_equal(pc.utf8_length(keys), width))
        if pc.any(unpadded).as_py():
            example = keys.filter(unpadded)[0].as_py()
            problem = (f"{column!r} holds keys like {example!r}, but {group_name!r} identifiers are zero-padded to "
                       f"{width} digits ({shown_ids}): as they are, such keys match no identifier")
            try:
                padded = _padded(col, group, column, width)
            except ValidationError as exc:
                return KeyCheck(problem=f"{problem}. {exc.message}. Write them padded in the file, or pick "
                                        "another column")
            examples = pa.table({"in the file": col, "joined as": padded}).filter(unpadded).slice(0, 3).to_pylist()
            return KeyCheck(problem=f"{problem}; padded with zeros, {example!r} becomes "
                                    f"{examples[0]['joined as']!r}", conversion=examples, pad_to=width)
    if kind == "String" and not text:
        examples = pa.table({"in the file": col, "joined as": typed}).filter(pc.is_valid(typed)).slice(0, 3).to_pylist()
        return KeyCheck(problem=f"{column!r} holds numbers ({col.type}), but {group_name!r} identifiers are text "
                                f"({shown_ids}): the join writes each number as text, plainly", conversion=examples)
    return KeyCheck()


def _record(ctx: "StoreContext", dataset: Dataset, selection: list[tuple[FeatureGroup, list[str]]], now: int,
            entity_file: str | None, entity: "pa.Table") -> None:
    from .saved import save_entity

    node = f"dataset:{dataset.id}"
    dataset.definition["entity_copy"] = save_entity(ctx.files, dataset.id, entity)
    with ctx.db.write() as conn:
        lineage.upsert_node(conn, node, "dataset", dataset.name, now, {"definition": dataset.definition})
        if entity_file:
            from ..ingest.prepare import file_sha256

            digest = file_sha256(entity_file)
            source = f"source:{digest[:16]}"
            lineage.upsert_node(conn, source, "source", os.path.basename(entity_file), now,
                                {"file": os.path.basename(entity_file), "bytes": os.path.getsize(entity_file), "sha256": digest})
            lineage.add_edge(conn, source, node, "entity_table_of", now)
        service = dataset.definition.get("service")
        if service:
            snode = f"feature_service:{service['name']}"
            lineage.upsert_node(conn, snode, "feature_service", service["name"], now)
            lineage.add_edge(conn, snode, node, "used_by", now)
        for group, feats in selection:
            gnode = f"feature_group:{group.name}"
            lineage.upsert_node(conn, gnode, "feature_group", group.name, now)
            for f in feats:
                fnode = f"feature:{group.name}.{f}"
                lineage.upsert_node(conn, fnode, "feature", f"{group.name}.{f}", now, {"group": group.name})
                lineage.add_edge(conn, gnode, fnode, "contains", now)
                lineage.add_edge(conn, fnode, node, "used_by", now)
