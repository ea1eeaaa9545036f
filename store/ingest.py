"""Bulk ingest: load a DataFrame, Arrow table, CSV or Parquet file, validate it column by column,
and shape it for the two stores. Everything is vectorised (Arrow, DuckDB); no loop per row.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .coerce import ColumnProblem, coerce_column, event_time_column, identifier_too_long
from .errors import ValidationError
from .offline import arrow_schema
from .schema import RESERVED_NAMES, FeatureGroup
from .tabular import is_csv, newlines_before, read_table

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

MAX_REPORTED_ERRORS = 100_000


@dataclass
class IngestReport:
    """What an ingest did: rows written, rows rejected with a reason each (``errors``)."""

    group: str
    rows_total: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    records_online: int = 0
    files_written: int = 0
    seconds: float = 0.0
    source: str | None = None
    errors: "pd.DataFrame" = field(default=None)  # type: ignore[assignment]  # row, [line,] feature, value, reason
    dry_run: bool = False
    # The rejected input rows as read, with their position ('line' in a CSV file, else 'row')
    # first and every reason in 'error' last: what a user fixes and feeds back.
    rejected: "pa.Table | None" = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.rows_rejected == 0

    def first_error(self) -> str:
        """The first bad value in words: 'line 3, event_time = 'x' is not ...'."""
        first = self.errors.iloc[0]
        where = f"line {first['line']}" if "line" in self.errors.columns else f"row {first['row']}"
        return f"{where}, {first['feature']} = {first['value']!r} {first['reason']}"

    def summary(self) -> str:
        verb = "would write" if self.dry_run else "wrote"
        text = f"{self.group}: {verb} {self.rows_written:,} of {self.rows_total:,} rows"
        if self.rows_rejected:
            text += f", rejected {self.rows_rejected:,} (first: {self.first_error()})"
        if not self.dry_run and self.seconds:
            text += f" in {self.seconds:.2f}s"
        return text

    def rejected_rows(self) -> "pd.DataFrame":
        """The rejected rows as they were read, plus their position and an ``error`` column."""
        from .query import to_pandas

        if self.rejected is None:
            import pandas as pd

            return pd.DataFrame({"row": pd.Series(dtype="int64"), "error": pd.Series(dtype=str)})
        return to_pandas(self.rejected)

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group, "rows_total": self.rows_total, "rows_written": self.rows_written,
            "rows_rejected": self.rows_rejected, "records_online": self.records_online,
            "files_written": self.files_written, "seconds": round(self.seconds, 3), "source": self.source,
            "errors": self.errors.head(1000).to_dict("records") if self.errors is not None else [],
        }


@dataclass
class LoadedInput:
    table: "pa.Table"
    source_name: str
    source_kind: str  # file | dataframe | arrow
    size_bytes: int | None = None
    sha256: str | None = None
    path: str | None = None

    @property
    def is_csv(self) -> bool:
        return self.path is not None and is_csv(self.path)


def load(data: Any) -> LoadedInput:
    """Accept a DataFrame, Arrow table or batch reader, or a CSV/Parquet path (CSV values as text)."""
    import pandas as pd
    import pyarrow as pa

    if isinstance(data, pd.DataFrame):
        return LoadedInput(dataframe_to_arrow(data), "DataFrame", "dataframe")
    if isinstance(data, pa.RecordBatchReader):
        data = data.read_all()
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if isinstance(data, pa.Table):
        return LoadedInput(data, "Arrow table", "arrow")
    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        table = read_table(path)
        return LoadedInput(table, os.path.basename(path), "file", os.path.getsize(path), file_sha256(path), path)
    raise ValidationError(
        f"Cannot ingest a {type(data).__name__}: give a pandas DataFrame, an Arrow table, or a CSV/Parquet path"
    )


def dataframe_to_arrow(df: "pd.DataFrame") -> "pa.Table":
    """A DataFrame as Arrow; a column of mixed Python objects becomes text for the validator to judge."""
    import pyarrow as pa

    if len(set(df.columns)) != len(df.columns):
        raise ValidationError("The DataFrame has repeated column names; keep one of each")
    arrays = []
    for name in df.columns:
        if not isinstance(name, str):
            raise ValidationError(f"Column name {name!r} is not a string; rename it")
        col = df[name]
        try:
            arrays.append(pa.array(col, from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            arrays.append(pa.array(col.astype("string"), from_pandas=True))
    return pa.Table.from_arrays(arrays, names=list(df.columns))


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def map_columns(table: "pa.Table", columns: dict[str, str | None] | None, source: str) -> "pa.Table":
    """Rename input columns onto features (``{"column": "feature"}``); a column mapped to None is
    dropped, one not named keeps its name."""
    if not columns:
        return table
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ValidationError(f"Columns {missing} are not in {source!r}; it has {table.column_names}")
    kept = [c for c in table.column_names if columns.get(c, c)]
    names = [columns.get(c, c) for c in kept]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValidationError(f"Several columns map to {dupes}; map each feature from one column only")
    return table.select(kept).rename_columns(names)


def map_invalid_names(table: "pa.Table", group: FeatureGroup) -> "pa.Table":
    """Rename columns whose names cannot be features ('Order ID') to the sanitised feature name a
    group created from the same file was given ('Order_ID'), when the group has that feature."""
    from .inference import feature_name

    taken: set[str] = set()
    proposed = {c: feature_name(c, taken) for c in table.column_names}
    features, present = set(group.feature_names), set(table.column_names)
    renames = {c: f for c, f in proposed.items() if c != f and c not in features and f in features and f not in present}
    if not renames:
        return table
    return table.rename_columns([renames.get(c, c) for c in table.column_names])


@dataclass
class Prepared:
    """Validated rows in the offline schema (write_time and _seq filled at commit) and the report."""

    table: "pa.Table"
    report: IngestReport
    max_event_us: int | None
    bad: np.ndarray  # bool per input row


def prepare(group: FeatureGroup, table: "pa.Table", api_us: int, lenient_times: bool = False) -> Prepared:
    """Validate and type every column; bad rows are dropped from ``table`` and listed in the report.

    ``lenient_times`` reads event times as a file another tool wrote may hold them (see
    ``coerce.event_time_column``)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    names = set(group.feature_names)
    unknown = [c for c in table.column_names if c not in names]
    if unknown:
        hint = " (these are columns the store adds itself; drop them)" if set(unknown) & RESERVED_NAMES else ""
        raise ValidationError(
            f"Columns {unknown} are not features of {group.name!r}{hint}; rename or drop them, or add the "
            f"features first. Features: {', '.join(group.feature_names)}",
            group=group.name, columns=unknown,
        )
    dupes = {c for c in table.column_names if table.column_names.count(c) > 1}
    if dupes:
        raise ValidationError(f"Columns {sorted(dupes)} appear more than once; keep one of each")
    for required in (group.record_identifier, group.event_time):
        if required not in table.column_names:
            raise ValidationError(
                f"Column {required!r} is missing: every row of {group.name!r} needs its "
                f"{'record identifier' if required == group.record_identifier else 'event time'}",
                group=group.name, feature=required,
            )
    n = table.num_rows
    problems: list[ColumnProblem] = []
    columns: dict[str, pa.Array] = {}
    event_us = None
    for f in group.features:
        if f.name not in table.column_names:
            columns[f.name] = pa.nulls(n, f.arrow_type())
        elif f.name == group.event_time:
            columns[f.name], event_us = event_time_column(f, table.column(f.name), problems, lenient_times)
        else:
            columns[f.name] = coerce_column(f, table.column(f.name), problems)
    rid = columns[group.record_identifier]
    missing = np.asarray(pc.is_null(table.column(group.record_identifier)).to_numpy(zero_copy_only=False), dtype=bool)
    if missing.any():
        problems.append(ColumnProblem(group.record_identifier, missing, "is missing; every record needs an identifier"))
    long_ids = identifier_too_long(rid)
    if long_ids.any():
        problems.append(ColumnProblem(group.record_identifier, long_ids, "is longer than 2 KB"))

    bad = np.zeros(n, dtype=bool)
    frames = []
    for p in problems:
        rows = np.flatnonzero(p.mask)
        if not len(rows):
            continue
        bad |= p.mask
        original = table.column(p.feature).take(pa.array(rows[:MAX_REPORTED_ERRORS]))
        frames.append(pd.DataFrame({
            "row": rows[:MAX_REPORTED_ERRORS], "feature": p.feature,
            "value": [None if v is None else str(v) for v in original.to_pylist()],
            "reason": p.reason,
        }))
    errors = (pd.concat(frames).sort_values(["row", "feature"], kind="stable").reset_index(drop=True)
              if frames else pd.DataFrame({"row": pd.Series(dtype="int64"), "feature": pd.Series(dtype=str),
                                           "value": pd.Series(dtype=object), "reason": pd.Series(dtype=str)}))
    report = IngestReport(group.name, rows_total=n, rows_rejected=int(bad.sum()), errors=errors)

    ts = pa.timestamp("us", tz="UTC")
    good = pa.array(~bad)
    arrays = [columns[f.name] for f in group.features]
    ev = event_us if event_us is not None else pa.nulls(n, pa.int64())
    arrays += [
        pa.array(np.full(n, api_us, dtype="int64")).cast(ts),
        pa.nulls(n, ts),
        pa.array(np.zeros(n, dtype=bool)),
        ev.cast(ts),
        pa.nulls(n, pa.int64()),
    ]
    out = pa.Table.from_arrays(arrays, schema=arrow_schema(group))
    if bad.any():
        out = out.filter(good)
    report.rows_written = out.num_rows
    max_ev = pc.max(out.column("_event_time").cast(pa.int64())).as_py() if out.num_rows else None
    return Prepared(out, report, max_ev, bad)


def check(group: FeatureGroup, loaded: LoadedInput, columns: dict[str, str | None] | None, api_us: int) -> Prepared:
    """Map ``loaded``'s columns onto the group's features and validate every row; the report
    gives CSV line numbers and keeps the rejected rows as read."""
    mapped = map_invalid_names(map_columns(loaded.table, columns, loaded.source_name), group)
    prepared = prepare(group, mapped, api_us, lenient_times=loaded.source_kind == "file")
    report = prepared.report
    report.source = loaded.source_name
    if prepared.bad.any():
        report.rejected = _rejected(loaded, prepared)
        if loaded.is_csv:
            rows = report.errors["row"].to_numpy()
            lines = report.rejected.column("line").to_numpy()
            report.errors.insert(1, "line", lines[np.searchsorted(np.flatnonzero(prepared.bad), rows)])
    return prepared


def _rejected(loaded: LoadedInput, prepared: Prepared) -> "pa.Table":
    import pyarrow as pa

    rows = np.flatnonzero(prepared.bad)
    table = loaded.table.take(pa.array(rows))
    errors = prepared.report.errors
    reasons = (errors.assign(text=errors["feature"] + " " + errors["reason"]).groupby("row", sort=True)["text"]
               .agg("; ".join))
    error = pa.array(reasons.reindex(rows).fillna("").to_numpy(dtype=object), pa.string())
    if loaded.is_csv:
        position = pa.array(rows + 2 + newlines_before(loaded.table).to_numpy()[rows])
        name = "line"
    else:
        position, name = pa.array(rows), "row"
    taken = set(table.column_names)
    table = table.add_column(0, name if name not in taken else f"_{name}", position)
    return table.append_column("error" if "error" not in taken else "_error", error)


def stamp(table: "pa.Table", write_us: int, first_seq: int) -> "pa.Table":
    """Fill ``write_time`` and ``_seq`` once the write transaction has allocated them."""
    import pyarrow as pa

    n = table.num_rows
    ts = pa.timestamp("us", tz="UTC")
    table = table.set_column(table.schema.get_field_index("write_time"), "write_time",
                             pa.array(np.full(n, write_us, dtype="int64")).cast(ts))
    return table.set_column(table.schema.get_field_index("_seq"), "_seq",
                            pa.array(np.arange(first_seq, first_seq + n, dtype="int64")))


def latest_per_record(group: FeatureGroup, table: "pa.Table") -> "pa.Table":
    """The row the online store keeps for each identifier: greatest event time, last row on a tie."""
    import pyarrow as pa
    import pyarrow.compute as pc

    order = pc.sort_indices(table, sort_keys=[(group.record_identifier, "ascending"), ("_event_time", "ascending"),
                                              ("_seq", "ascending")])
    ids = table.column(group.record_identifier).take(order)
    if len(ids) < 2:
        return table.take(order)
    last = pc.not_equal(ids.slice(0, len(ids) - 1), ids.slice(1))  # row i ends its id's run
    keep = pa.concat_arrays([last.combine_chunks(), pa.array([True])])
    return table.take(order.filter(keep))


def online_rows(group: FeatureGroup, latest: "pa.Table", write_us: int, ttl_us: int | None) -> list[tuple]:
    """Rows for ``online.upsert``: (_event_us, _write_us, _expires_us, _deleted, *features)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from . import duck

    from .online import q

    n = latest.num_rows
    ev = latest.column("_event_time").cast(pa.int64())
    expires = pc.add(ev, ttl_us).to_pylist() if ttl_us is not None else [None] * n
    collections = [f.name for f in group.features if f.is_collection]
    if collections:
        with duck.cursor() as con:
            con.register("latest", latest.select(collections))
            as_json = con.sql(", ".join(f"to_json({q(c)})::VARCHAR AS {q(c)}" for c in collections).join(
                ["SELECT ", " FROM latest"])).to_arrow_table()
    cols = [ev.to_pylist(), [write_us] * n, expires, [0] * n]
    for f in group.features:
        cols.append((as_json if f.is_collection else latest).column(f.name).to_pylist())
    cols.append([write_us] * n)  # "now" for the upsert's expiry test
    return list(zip(*cols))
