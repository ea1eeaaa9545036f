"""Point-in-time-correct training sets: feature groups joined onto an entity/label table.

For each entity row and group: the newest version of that record with event time at or before
the row's event time (DuckDB ASOF JOIN), its delete markers honoured, so no future value leaks
in. One output row per input row, in input order, entity columns first and unchanged.
"""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from . import lineage
from .errors import ValidationError
from .online import q
from .schema import FeatureGroup
from .timeutil import arg_to_us, now_us, us_to_iso

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from .featurestore import FeatureStore


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

    def to_arrow(self) -> "pa.Table":
        return self.table

    def to_pandas(self) -> "pd.DataFrame":
        from .query import to_pandas

        return to_pandas(self.table)

    def to_parquet(self, path: str | os.PathLike) -> str:
        import pyarrow.parquet as pq

        return _atomic_write(path, lambda tmp: pq.write_table(self.table, tmp))

    def to_csv(self, path: str | os.PathLike) -> str:
        import pyarrow.csv as pcsv

        return _atomic_write(path, lambda tmp: pcsv.write_csv(_csv_ready(self.table), tmp))


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

    In a CSV the ``text_columns`` (keys, event time) are read as written, so '007' stays '007'
    and the entity columns come back unchanged; the other columns get inferred types.
    """
    import pandas as pd
    import pyarrow as pa

    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        if not os.path.isfile(path):
            raise ValidationError(f"Entity file {path!r} does not exist")
        try:
            if path.lower().endswith(".parquet"):
                import pyarrow.parquet as pq

                return pq.read_table(path), os.path.basename(path)
            import pyarrow.csv as pcsv

            from .ingest import csv_header

            _, delimiter = csv_header(path)
            types = {c: pa.string() for c in text_columns}
            table = pcsv.read_csv(path, parse_options=pcsv.ParseOptions(delimiter=delimiter),
                                  convert_options=pcsv.ConvertOptions(column_types=types))
            return table, os.path.basename(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ValidationError(f"Cannot read entity file {os.path.basename(path)!r}: {exc}") from None
    if isinstance(data, pd.DataFrame):
        return pa.Table.from_pandas(data, preserve_index=False), "DataFrame"
    if isinstance(data, pa.Table):
        return data, "Arrow table"
    raise ValidationError(f"entity_df must be a DataFrame, an Arrow table or a CSV/Parquet path, not {type(data).__name__}")


def entity_times(table: "pa.Table", column: str) -> "pa.Array":
    """The entity event-time column as int64 microseconds (nulls stay null)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.types as pat

    from .timeutil import arrow_timestamps_to_us

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
    if pat.is_integer(col.type) or pat.is_floating(col.type):
        import pyarrow.compute as pc

        return pc.round(pc.multiply(col.cast(pa.float64()), 1_000_000.0)).cast(pa.int64())
    if pat.is_string(col.type) or pat.is_large_string(col.type):
        series = pd.Series(col.to_pandas(), dtype=object)
        parsed = pd.to_datetime(series, format="ISO8601", utc=True, errors="coerce")
        bad = parsed.isna() & series.notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValidationError(
                f"Entity column {column!r} row {row} = {series.iloc[row]!r} is not a time; use ISO-8601 "
                "like 2024-05-01T12:00:00Z, epoch seconds or a timestamp column"
            )
        ns = parsed.to_numpy(dtype="datetime64[ns]").astype("int64")
        return pa.array(ns // 1000, pa.int64(), mask=parsed.isna().to_numpy())
    raise ValidationError(f"Entity column {column!r} has type {col.type}; it must hold times")


def parse_features(fs: "FeatureStore", features: Sequence[str]) -> list[tuple[FeatureGroup, list[str]]]:
    """'group' (all features but the identifier) or 'group:feature' -> [(group, [features])]."""
    if isinstance(features, str) or not features:
        raise ValidationError("features must be a non-empty list like ['customers', 'orders:total']")
    chosen: dict[str, tuple[FeatureGroup, list[str]]] = {}
    for spec in features:
        if not isinstance(spec, str) or not spec:
            raise ValidationError(f"Feature reference {spec!r} must be 'group' or 'group:feature'")
        name, _, feat = spec.partition(":")
        group = fs.feature_group(name)
        if not group.offline:
            raise ValidationError(f"Feature group {name!r} has no offline store, so it cannot feed a dataset")
        entry = chosen.setdefault(name, (group, []))
        wanted = [feat] if feat else [f for f in group.feature_names if f != group.record_identifier]
        for f in wanted:
            group.feature(f)
            if f not in entry[1]:
                entry[1].append(f)
    return list(chosen.values())


def build(fs: "FeatureStore", entity: Any, features: Sequence[str], event_time_column: str, keys: dict[str, str], *,
          known_at: Any, include_deleted: bool, ttl_lookback: bool, write_time_guard: bool, include_duplicates: bool,
          event_time_range: tuple[Any, Any] | None, name: str | None, record: bool) -> Dataset:
    import pyarrow as pa

    from . import query

    selection = parse_features(fs, features)
    text_columns = [event_time_column] + [keys.get(g.name, g.record_identifier) for g, _ in selection]
    table, source = load_entity(entity, text_columns)
    reserved = [c for c in table.column_names if c.startswith("__")]
    if reserved:
        raise ValidationError(f"Entity columns {reserved} start with '__', which the dataset builder reserves; rename them")
    known_us = arg_to_us(known_at, "known_at") if known_at is not None else None
    lo_us = hi_us = None
    if event_time_range is not None:
        lo, hi = event_time_range
        lo_us = arg_to_us(lo, "event_time_range start") if lo is not None else None
        hi_us = arg_to_us(hi, "event_time_range end") if hi is not None else None

    ts = entity_times(table, event_time_column)
    n = table.num_rows
    inputs = {"__row": pa.array(np.arange(n, dtype="int64")), "__ts": ts.cast(pa.timestamp("us", tz="UTC"))}
    key_cols = {}
    for i, (group, _) in enumerate(selection):
        col = keys.get(group.name, group.record_identifier)
        if col not in table.column_names:
            raise ValidationError(
                f"Entity table has no key column {col!r} for {group.name!r}; add it or pass keys={{'{group.name}': 'column'}}",
                group=group.name,
            )
        key_cols[group.name] = col
        inputs[f"__k{i}"] = _cast_keys(table.column(col), group, col)
    entity_aux = pa.table(inputs)

    # Output names: <feature>, or <group>__<feature> when the name is taken twice.
    counts: dict[str, int] = {}
    for c in table.column_names:
        counts[c] = counts.get(c, 0) + 1
    for _, feats in selection:
        for f in feats:
            counts[f] = counts.get(f, 0) + 1
    out_names = {(g.name, f): (f if counts[f] == 1 else f"{g.name}__{f}") for g, feats in selection for f in feats}

    # No entity row can use a version newer than the latest entity time: skip those files.
    import pyarrow.compute as pc

    latest_needed = pc.max(ts).as_py()
    prune_us = latest_needed if hi_us is None or latest_needed is None else min(hi_us, latest_needed)
    prune_write_us = known_us
    if write_time_guard and latest_needed is not None:
        prune_write_us = latest_needed if known_us is None else min(known_us, latest_needed)

    snaps = fs._snapshots([g.name for g, _ in selection], prune_us, prune_write_us)

    def run() -> tuple["pa.Table", str]:
        with query.connect() as con:
            # One table, not a POSITIONAL JOIN: with that DuckDB plans the ASOF JOIN as a nested loop.
            combined = table
            for name in entity_aux.column_names:
                combined = combined.append_column(name, entity_aux.column(name))
            con.register("__e", combined)
            ctes = []
            joins, selects, order = [], [], ["__e.__row"]
            for i, ((group, feats), snap) in enumerate(zip(selection, snaps)):
                view = query.register(con, snap, f"__g{i}")
                ctes += _group_ctes(i, group, feats, view, known_us, lo_us, hi_us, include_deleted, include_duplicates)
                joins.append(_join(i, write_time_guard, include_duplicates))
                alias = f"__d{i}" if include_duplicates else f"__m{i}"
                stale = [f"{alias}.__del"] if not include_deleted else []
                if ttl_lookback and group.ttl_seconds:
                    stale.append(f"{alias}.__ev < __e.__ts - to_microseconds({round(group.ttl_seconds * 1e6)})")
                for f in feats:
                    expr = f"{alias}.{q(f)}"
                    if stale:
                        expr = f"CASE WHEN {' OR '.join(stale)} THEN NULL ELSE {expr} END"
                    selects.append(f"{expr} AS {q(out_names[(group.name, f)])}")
                if include_duplicates:
                    order += [f"__d{i}.__wt", f"__d{i}.__seq"]
            entity_cols = ", ".join(f"__e.{q(c)}" for c in table.column_names)
            sql = (f"WITH {', '.join(ctes)} SELECT {entity_cols}{', ' if selects else ''}{', '.join(selects)} "
                   f"FROM __e {' '.join(joins)} ORDER BY {', '.join(order)}")
            return con.sql(sql).to_arrow_table(), sql

    result, sql = query.with_retry(run)
    built = now_us()
    dataset_id = uuid.uuid4().hex[:12]
    definition = {
        "features": list(features), "groups": {g.name: feats for g, feats in selection}, "keys": key_cols,
        "event_time_column": event_time_column, "entity_source": source, "entity_rows": n,
        "known_at": us_to_iso(known_us) if known_us is not None else None, "built_at": us_to_iso(built),
        "include_deleted": include_deleted, "ttl_lookback": ttl_lookback, "write_time_guard": write_time_guard,
        "include_duplicates": include_duplicates,
        "event_time_range": [None if v is None else us_to_iso(v) for v in (lo_us, hi_us)] if event_time_range else None,
        "columns": result.column_names, "rows": result.num_rows,
    }
    dataset = Dataset(dataset_id, name or f"dataset-{us_to_iso(built)}", result, definition, sql)
    if record:
        entity_file = os.fspath(entity) if isinstance(entity, (str, os.PathLike)) else None
        _record(fs, dataset, selection, built, entity_file)
    return dataset


def _cast_keys(col: "pa.ChunkedArray", group: FeatureGroup, name: str) -> "pa.Array":
    from .coerce import ColumnProblem, coerce_column

    problems: list[ColumnProblem] = []
    out = coerce_column(group.id_feature, col, problems)
    if problems:
        p = problems[0]
        row = int(np.flatnonzero(p.mask)[0])
        raise ValidationError(
            f"Entity column {name!r} row {row} = {col[row].as_py()!r} {p.reason}, but {group.name!r} "
            f"identifiers are {group.id_feature.type}",
            group=group.name,
        )
    return out


def _group_ctes(i: int, group: FeatureGroup, feats: list[str], view: str, known_us: int | None, lo_us: int | None,
                hi_us: int | None, include_deleted: bool, include_duplicates: bool) -> list[str]:
    from .query import ts_literal

    where = ["TRUE"]
    if known_us is not None:
        where.append(f"write_time <= {ts_literal(known_us)}")
    if lo_us is not None:
        where.append(f"_event_time >= {ts_literal(lo_us)}")
    if hi_us is not None:
        where.append(f"_event_time <= {ts_literal(hi_us)}")
    if include_deleted:
        where.append("NOT is_deleted")
    cols = ", ".join(q(f) for f in feats)
    base = (f"SELECT {q(group.record_identifier)} AS __k, _event_time AS __ev, write_time AS __wt, _seq AS __seq, "
            f"is_deleted AS __del{', ' if feats else ''}{cols} FROM {view} WHERE {' AND '.join(where)}")
    ctes = [f"__a{i} AS ({base})",
            f"__v{i} AS (SELECT * FROM __a{i} QUALIFY row_number() OVER (PARTITION BY __k, __ev ORDER BY __wt DESC, __seq DESC) = 1)"]
    return ctes


def _join(i: int, write_time_guard: bool, include_duplicates: bool) -> str:
    if write_time_guard:
        match = (f"LEFT JOIN (SELECT __e.__row AS __r, v.* FROM __e JOIN __a{i} v ON __e.__k{i} = v.__k "
                 f"AND v.__ev <= __e.__ts AND v.__wt <= __e.__ts QUALIFY row_number() OVER "
                 f"(PARTITION BY __e.__row ORDER BY v.__ev DESC, v.__wt DESC, v.__seq DESC) = 1) __m{i} ON __m{i}.__r = __e.__row")
    else:
        match = f"ASOF LEFT JOIN __v{i} __m{i} ON __e.__k{i} = __m{i}.__k AND __e.__ts >= __m{i}.__ev"
    if include_duplicates:
        match += f" LEFT JOIN __a{i} __d{i} ON __d{i}.__k = __m{i}.__k AND __d{i}.__ev = __m{i}.__ev"
        if write_time_guard:
            match += " AND __d{i}.__wt <= __e.__ts".format(i=i)
    return match


def _record(fs: "FeatureStore", dataset: Dataset, selection: list[tuple[FeatureGroup, list[str]]], now: int,
            entity_file: str | None) -> None:
    node = f"dataset:{dataset.id}"
    with fs._conns.write() as conn:
        lineage.upsert_node(conn, node, "dataset", dataset.name, now, {"definition": dataset.definition})
        if entity_file:
            from .ingest import file_sha256

            digest = file_sha256(entity_file)
            source = f"source:{digest[:16]}"
            lineage.upsert_node(conn, source, "source", os.path.basename(entity_file), now,
                                {"file": os.path.basename(entity_file), "bytes": os.path.getsize(entity_file), "sha256": digest})
            lineage.add_edge(conn, source, node, "entity_table_of", now)
        for group, feats in selection:
            gnode = f"feature_group:{group.name}"
            lineage.upsert_node(conn, gnode, "feature_group", group.name, now)
            for f in feats:
                fnode = f"feature:{group.name}.{f}"
                lineage.upsert_node(conn, fnode, "feature", f"{group.name}.{f}", now, {"group": group.name})
                lineage.add_edge(conn, gnode, fnode, "contains", now)
                lineage.add_edge(conn, fnode, node, "used_by", now)
