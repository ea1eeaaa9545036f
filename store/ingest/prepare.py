"""Bulk ingest: load a DataFrame, Arrow table, CSV or Parquet file, validate it column by column,
and shape it for the two stores. Everything is vectorised (Arrow, DuckDB); no loop per row.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..model.coerce import ColumnProblem, coerce_column, event_time_column, identifier_too_long, shown
from ..errors import ValidationError
from ..model.schema import arrow_schema
from ..model.schema import RESERVED_NAMES, FeatureGroup
from .files import is_csv, is_parquet, newlines_before, newlines_in, read_batches, read_table

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pandas as pd
    import pyarrow as pa

    from ..model.rules import Rule

MAX_REPORTED_ERRORS = 100_000
# Rows validated and written at a time when a file or batch reader is read in batches: memory
# stays bounded by one batch whatever the input expands to (a 500 KB Parquet file can hold 40M rows).
BATCH_ROWS = 1_000_000
ENV_UPLOAD_MAX_ROWS = "FEATURESTORE_UPLOAD_MAX_ROWS"
ENV_UPLOAD_MAX_BYTES = "FEATURESTORE_UPLOAD_MAX_BYTES"
UPLOAD_MAX_ROWS = 10_000_000
UPLOAD_MAX_BYTES = 2 << 30
# List levels a DataFrame column may have before it is judged as text: features hold one (List,
# Set, Vector); deeper ones are refused anyway, and Arrow takes seconds over thousands of levels.
MAX_NESTING = 4


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
    errors: "pd.DataFrame" = field(default=None)  # type: ignore[assignment]  # row, [line,] feature, value, reason, rule
    dry_run: bool = False
    warnings: "pd.DataFrame" = field(default=None)  # type: ignore[assignment]  # rows written despite a "warn" rule
    rows_warned: int = 0
    batch_failures: list[dict[str, Any]] = field(default_factory=list)  # fail_batch verdicts: nothing written
    batch_warnings: list[dict[str, Any]] = field(default_factory=list)  # batch rules of severity warn
    rule_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # rule -> rejected, warned, failed_batch
    # The rejected input rows as read, with their position ('line' in a CSV file, else 'row')
    # first and every reason in 'error' last: what a user fixes and feeds back.
    rejected: "pa.Table | None" = field(default=None, repr=False)
    rejected_index: "np.ndarray | None" = field(default=None, repr=False)  # 0-based input rows of ``rejected``
    source_csv: str | None = field(default=None, repr=False)  # the CSV file read, for ``rejected_csv``

    @property
    def ok(self) -> bool:
        return self.rows_rejected == 0 and not self.batch_failures

    def first_error(self) -> str:
        """The first bad value in words: 'line 3, event_time = 'x' is not ...'."""
        first = self.errors.iloc[0]
        where = f"line {first['line']}" if "line" in self.errors.columns else f"row {first['row']}"
        return f"{where}, {first['feature']} = {shown(first['value'])} {first['reason']}"

    def audit_counts(self) -> dict[str, Any]:
        """What the audit log keeps of the ingest: counts and the source, never values."""
        return {"rows_written": self.rows_written, "rows_rejected": self.rows_rejected, "source": self.source}

    def summary(self) -> str:
        verb = "would write" if self.dry_run else "wrote"
        if self.batch_failures:
            failure = self.batch_failures[0]
            return (f"{self.group}: {verb} nothing of {self.rows_total:,} rows: rule {failure['rule']} fails the "
                    f"batch ({failure['reason']})")
        text = f"{self.group}: {verb} {self.rows_written:,} of {self.rows_total:,} rows"
        if self.rows_rejected:
            text += f", rejected {self.rows_rejected:,} (first: {self.first_error()})"
        if self.rows_warned or self.batch_warnings:
            rules = dict.fromkeys([*self.warnings["rule"], *(w["rule"] for w in self.batch_warnings)])
            text += f", warnings from {', '.join(rules)}"
            if self.rows_warned:
                text += f" on {self.rows_warned:,} rows"
        if not self.dry_run and self.seconds:
            text += f" in {self.seconds:.2f}s"
        return text

    def rejected_rows(self) -> "pd.DataFrame":
        """The rejected rows as they were read, plus their position and an ``error`` column."""
        from ..offline.snapshot import to_pandas

        if self.rejected is None:
            import pandas as pd

            return pd.DataFrame({"row": pd.Series(dtype="int64"), "error": pd.Series(dtype=str)})
        return to_pandas(self.rejected)

    def rejected_csv(self) -> bytes:
        """The rejected rows as a CSV file to fix and feed back. From a CSV file, they are as they
        were in it: each field's original text ('4,62' stays '4,62'), in its delimiter and
        encoding, so the exporting tool (German Excel) opens it; otherwise UTF-8 and commas."""
        from .files import raw_rows, sniff

        frame = self.rejected_rows()
        if self.source_csv and self.rejected_index is not None:
            try:
                dialect = sniff(self.source_csv)
                original = raw_rows(self.source_csv, self.rejected_index)
            except (OSError, ValidationError):  # the file is gone or changed: its rows as read
                pass
            else:
                for name in original.column_names:
                    if name in frame.columns:
                        frame[name] = original.column(name).to_pandas()
                return frame.to_csv(index=False, sep=dialect.delimiter).encode(dialect.encoding, errors="replace")
        return frame.to_csv(index=False).encode()

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group, "rows_total": self.rows_total, "rows_written": self.rows_written,
            "rows_rejected": self.rows_rejected, "records_online": self.records_online,
            "files_written": self.files_written, "seconds": round(self.seconds, 3), "source": self.source,
            "errors": self.errors.head(1000).to_dict("records") if self.errors is not None else [],
            "rows_warned": self.rows_warned,
            "warnings": self.warnings.head(1000).to_dict("records") if self.warnings is not None else [],
            "batch_failures": self.batch_failures, "batch_warnings": self.batch_warnings,
            "rule_counts": self.rule_counts,
        }


@dataclass
class LoadedInput:
    table: "pa.Table"
    source_name: str
    source_kind: str  # file | dataframe | arrow | quarantine (rows read back as text, judged as a file's) | pipeline
    size_bytes: int | None = None
    sha256: str | None = None
    path: str | None = None
    # Where ``table`` starts in the input when it is one batch of several: rows before it, and
    # line breaks inside quoted CSV values before it (for line numbers).
    first_row: int = 0
    newlines_before: int = 0
    rows_expected: int | None = None  # the input's rows, where known before reading it (Parquet)

    @property
    def is_csv(self) -> bool:
        return self.path is not None and is_csv(self.path)


@dataclass(frozen=True)
class ReadLimits:
    """The most rows and decompressed bytes (as Arrow holds them) one ingest may read: what a
    file uploaded through the studio may expand to."""

    rows: int | None = None
    bytes: int | None = None

    @classmethod
    def for_uploads(cls) -> "ReadLimits":
        """$FEATURESTORE_UPLOAD_MAX_ROWS and $FEATURESTORE_UPLOAD_MAX_BYTES, else 10M rows and 2 GiB."""
        return cls(_env_int(ENV_UPLOAD_MAX_ROWS, UPLOAD_MAX_ROWS), _env_int(ENV_UPLOAD_MAX_BYTES, UPLOAD_MAX_BYTES))

    def check(self, source: str, rows: int, nbytes: int) -> None:
        if self.rows is not None and rows > self.rows:
            raise ValidationError(
                f"{source!r} has more than {self.rows:,} rows, the limit for uploaded files; nothing was written. "
                f"Raise it with ${ENV_UPLOAD_MAX_ROWS} where the studio runs, or ingest the file with the CLI or "
                f"Python API, which read files of any size in batches", source=source, limit=self.rows)
        if self.bytes is not None and nbytes > self.bytes:
            raise ValidationError(
                f"{source!r} expands to more than {self.bytes:,} bytes, the limit for uploaded files; nothing was "
                f"written. Raise it with ${ENV_UPLOAD_MAX_BYTES} where the studio runs, or ingest the file with "
                f"the CLI or Python API, which read files of any size in batches", source=source, limit=self.bytes)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise ValidationError(f"${name}={raw!r} is not a whole number; set it to a count such as {default}") from None
    if value <= 0:
        raise ValidationError(f"${name}={raw!r} must be positive")
    return value


@dataclass(frozen=True)
class LimitedFile:
    """A file path to ingest within ``limits`` (an upload): refused, with nothing written, as
    soon as reading it passes one."""

    path: str
    limits: ReadLimits


def load_batches(data: Any, batch_rows: int | None = None) -> "Iterator[LoadedInput]":
    """``load`` in batches of at most ``batch_rows`` rows (default ``BATCH_ROWS``): a CSV/Parquet
    file or an Arrow batch reader is read one batch at a time as the caller asks (a
    ``LimitedFile`` within its limits); anything else, already in memory, is one batch."""
    import pyarrow as pa

    batch_rows = batch_rows or BATCH_ROWS
    limits = None
    if isinstance(data, LimitedFile):
        data, limits = data.path, data.limits
    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        name = os.path.basename(path)
        batches = read_batches(path, batch_rows)
        first = next(batches)  # the file is checked (exists, has a header) before it is hashed
        expected = _parquet_rows(path) if is_parquet(path) else None
        size, sha256 = os.path.getsize(path), file_sha256(path)
        rows = nbytes = newlines = 0
        for table in _chain(first, batches):
            rows += table.num_rows
            nbytes += table.nbytes
            if limits is not None:
                limits.check(name, rows, nbytes)
            yield LoadedInput(table, name, "file", size, sha256, path, rows - table.num_rows, newlines, expected)
            if is_csv(path):
                newlines += newlines_in(table)
        return
    if isinstance(data, pa.RecordBatchReader):
        rows, pending, pending_rows = 0, [], 0
        for batch in data:
            pending.append(batch)
            pending_rows += batch.num_rows
            if pending_rows >= batch_rows:
                table = pa.Table.from_batches(pending, data.schema)
                yield LoadedInput(table, "Arrow table", "arrow", first_row=rows)
                rows, pending, pending_rows = rows + table.num_rows, [], 0
        if pending or not rows:
            yield LoadedInput(pa.Table.from_batches(pending, data.schema), "Arrow table", "arrow", first_row=rows)
        return
    yield load(data)


def _chain(first: "pa.Table", rest: "Iterator[pa.Table]") -> "Iterator[pa.Table]":
    yield first
    yield from rest


def _parquet_rows(path: str) -> int | None:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata.num_rows
    except Exception:  # noqa: BLE001 - a count for progress only; reading reports a broken file
        return None


def load(data: Any) -> LoadedInput:
    """Accept a DataFrame, Arrow table or batch reader, or a CSV/Parquet path (CSV values as text)."""
    import pandas as pd
    import pyarrow as pa

    if isinstance(data, LoadedInput):
        return data
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
            array = pa.array(col, from_pandas=True)
            if _nesting(array.type) > MAX_NESTING:  # lists in lists: refused whatever the depth, so judge them as text
                raise TypeError(f"{name!r} nests lists too deeply")
            arrays.append(array)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, RecursionError, UnicodeEncodeError):
            try:
                arrays.append(pa.array(col.map(_cell_text).astype("string"), from_pandas=True))
            except UnicodeEncodeError:  # text Arrow cannot hold: refuse the frame, naming the row
                row = next((i for i, v in enumerate(col) if isinstance(v, str) and not _is_unicode(v)), 0)
                raise ValidationError(
                    f"Column {name!r}, row {row}: {col.iloc[row]!r} is not Unicode text (it holds a lone surrogate); "
                    "fix the value (decode its bytes properly) or drop the row", column=name, row=row) from None
    return pa.Table.from_arrays(arrays, names=list(df.columns))


def _nesting(t: "pa.DataType") -> int:
    """How many list levels an Arrow type has."""
    depth = 0
    while hasattr(t, "value_type"):
        t, depth = t.value_type, depth + 1
    return depth


def _cell_text(value: Any) -> Any:
    """A cell of a column Arrow cannot type, for the validator to judge as text: a list as the
    JSON a CSV file would hold (so it meets the rules a put of the list meets), the rest as is."""
    if isinstance(value, (list, tuple, np.ndarray)):
        try:
            return json.dumps(value.tolist() if isinstance(value, np.ndarray) else value, default=_json_default)
        except (RecursionError, TypeError, ValueError):
            return "<not a list of plain values>"
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value).__name__)


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


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
    from ..model.schema import feature_name

    taken: set[str] = set()
    proposed = {c: feature_name(c, taken) for c in table.column_names}
    features, present = set(group.feature_names), set(table.column_names)
    renames = {c: f for c, f in proposed.items() if c != f and c not in features and f in features and f not in present}
    if not renames:
        return table
    return table.rename_columns([renames.get(c, c) for c in table.column_names])


INGEST_SETTINGS = "ingest"  # the key of a group's ``extra`` that holds how its files are read


def time_format_of(group: FeatureGroup) -> str | None:
    """The strftime format the group's event times are written in by its files (kept by Create,
    or given for one ingest), None for ISO-8601 and epoch numbers."""
    return (group.extra.get(INGEST_SETTINGS) or {}).get("time_format")


def with_time_format(group: FeatureGroup, time_format: str | None) -> FeatureGroup:
    """``group`` reading event times in ``time_format`` for one ingest (None: as kept)."""
    from dataclasses import replace

    from ..common.timeutil import check_time_format

    if time_format is None:
        return group
    settings = {**(group.extra.get(INGEST_SETTINGS) or {}), "time_format": check_time_format(time_format)}
    return replace(group, extra={**group.extra, INGEST_SETTINGS: settings})


@dataclass
class Prepared:
    """Validated rows in the offline schema (write_time and _seq filled at commit) and the report."""

    table: "pa.Table"
    report: IngestReport
    max_event_us: int | None
    bad: np.ndarray  # bool per input row


def prepare(group: FeatureGroup, table: "pa.Table", api_us: int, lenient_times: bool = False,
            rules: "list[Rule] | tuple" = (), duplicates: dict[str, np.ndarray] | None = None) -> Prepared:
    """Validate and type every column, then apply the group's ``rules``; rows refused are dropped
    from ``table`` and listed in the report (with the rule: "type" for a type error), warnings
    are listed too, and a failed batch rule is in ``report.batch_failures``.

    ``lenient_times`` reads event times as a file another tool wrote may hold them (see
    ``coerce.event_time_column``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = set(group.feature_names)
    unknown = [c for c in table.column_names if c not in names]
    if unknown:
        hint = " (these are columns the store adds itself; drop them)" if {c.lower() for c in unknown} & RESERVED_NAMES \
            else "".join(group.former(c) for c in unknown)
        raise ValidationError(
            f"Columns {unknown} are not features of {group.name!r}{hint}; rename or drop them, or add the "
            f"features first. Features: {', '.join(group.feature_names)}",
            group=group.name, columns=unknown,
        )
    dupes = {c for c in table.column_names if table.column_names.count(c) > 1}
    if dupes:
        raise ValidationError(f"Columns {sorted(dupes)} appear more than once; keep one of each")
    for required in (*group.identifiers, group.event_time):
        if required not in table.column_names:
            raise ValidationError(
                f"Column {required!r} is missing: every row of {group.name!r} needs its "
                f"{'record identifier' if required in group.identifiers else 'event time'}",
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
            columns[f.name], event_us = event_time_column(f, table.column(f.name), problems, lenient_times,
                                                          time_format_of(group))
        else:
            columns[f.name] = coerce_column(f, table.column(f.name), problems)
    for key in group.identifiers:
        missing = np.asarray(pc.is_null(table.column(key)).to_numpy(zero_copy_only=False), dtype=bool)
        if missing.any():
            problems.append(ColumnProblem(key, missing, "is missing; every record needs an identifier"))
        long_ids = identifier_too_long(columns[key])
        if long_ids.any():
            problems.append(ColumnProblem(key, long_ids, "is longer than 2 KB"))

    # Type problems first; the rules judge only rows whose values have their types.
    bad = np.zeros(n, dtype=bool)
    rejected: list[tuple[np.ndarray, str | None, str, str]] = []  # (rows, feature, reason, rule)
    for p in problems:
        if p.mask.any():
            bad |= p.mask
            rejected.append((p.mask, p.feature, p.reason, "type"))
    warned: list[tuple[np.ndarray, str | None, str, str]] = []
    failed: list[dict[str, Any]] = []  # fail_batch verdicts: rule, reason
    batch_warned: list[dict[str, Any]] = []
    if rules:
        from ..model.rules import check_batch, check_batch_rules

        for v in check_batch(group, rules, columns, ~bad, duplicates):
            if v.rule.severity == "warn":
                warned.append((v.mask, v.rule.feature, v.reason, v.rule.name))
            else:
                rejected.append((v.mask, v.rule.feature, v.reason, v.rule.name))
                if v.rule.severity == "fail_batch":
                    failed.append({"rule": v.rule.name, "reason": f"{int(v.mask.sum()):,} rows {v.reason}"})
        rule_bad = np.zeros(n, dtype=bool)
        for mask, _, _, rule in rejected:
            if rule != "type":
                rule_bad |= mask
        bad |= rule_bad
        for v in check_batch_rules(group, rules, columns, ~bad):
            (batch_warned if v.rule.severity == "warn" else failed).append({"rule": v.rule.name, "reason": v.reason})
    report = IngestReport(group.name, rows_total=n, rows_rejected=int(bad.sum()),
                          errors=_verdicts(table, rejected), warnings=_verdicts(table, warned),
                          batch_failures=failed, batch_warnings=batch_warned)
    report.rows_warned = int(np.any([m for m, *_ in warned], axis=0).sum()) if warned else 0
    report.rule_counts = _rule_counts(rejected, warned, failed, batch_warned)

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


def _verdicts(table: "pa.Table", entries: list[tuple[np.ndarray, str | None, str, str]]) -> "pd.DataFrame":
    """row, feature, value (as given), reason, rule; by row, then feature."""
    import pandas as pd
    import pyarrow as pa

    frames = []
    for mask, feature, why, rule in entries:
        rows = np.flatnonzero(mask)[:MAX_REPORTED_ERRORS]
        if not len(rows):
            continue
        if feature is not None and feature in table.column_names:
            taken = table.column(feature).take(pa.array(rows))
            if pa.types.is_timestamp(taken.type) or pa.types.is_date(taken.type):
                taken = taken.cast(pa.string())  # as Arrow spells it: year 300000 is no Python datetime
            values = [None if v is None else shown(v) if isinstance(v, (list, dict)) else str(v)
                      for v in taken.to_pylist()]
        else:
            values = [None] * len(rows)
        frames.append(pd.DataFrame({"row": rows, "feature": feature, "value": values, "reason": why, "rule": rule}))
    return merge_verdicts(frames)


def merge_verdicts(frames: list["pd.DataFrame"]) -> "pd.DataFrame":
    """Verdict frames as one, by row, then feature (empty, with its columns, if there are none)."""
    import pandas as pd

    if not frames:
        return pd.DataFrame({"row": pd.Series(dtype="int64"), "feature": pd.Series(dtype=object),
                             "value": pd.Series(dtype=object), "reason": pd.Series(dtype=str),
                             "rule": pd.Series(dtype=str)})
    return pd.concat(frames).sort_values(["row", "feature"], kind="stable", na_position="last").reset_index(drop=True)


def _rule_counts(rejected: list, warned: list, failed: list[dict[str, Any]],
                 batch_warned: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per rule: rows rejected, rows warned, and whether it failed (or warned about) the batch."""
    counts: dict[str, dict[str, int]] = {}

    def entry(rule: str) -> dict[str, int]:
        return counts.setdefault(rule, {"rejected": 0, "warned": 0, "failed_batch": 0})

    for mask, _, _, rule in rejected:
        entry(rule)["rejected"] += int(mask.sum())
    for mask, _, _, rule in warned:
        entry(rule)["warned"] += int(mask.sum())
    for failure in failed:
        entry(failure["rule"])["failed_batch"] = 1
    for warning in batch_warned:
        entry(warning["rule"])["warned"] += 1
    return counts


def check(group: FeatureGroup, loaded: LoadedInput, columns: dict[str, str | None] | None, api_us: int,
          rules: "list[Rule] | tuple" = (), duplicates: dict[str, np.ndarray] | None = None) -> Prepared:
    """Map ``loaded``'s columns onto the group's features and validate every row against the
    types and ``rules``; the report gives CSV line numbers and keeps the rejected rows as read.
    Rows are numbered in the whole input when ``loaded`` is one of its batches."""
    mapped = mapped_table(group, loaded, columns)
    prepared = prepare(group, mapped, api_us, lenient_times=loaded.source_kind in ("file", "quarantine"), rules=rules,
                       duplicates=duplicates)
    report = prepared.report
    report.source = loaded.source_name
    report.source_csv = loaded.path if loaded.is_csv else None
    if prepared.bad.any():
        report.rejected = _rejected(loaded, prepared)
        report.rejected_index = np.flatnonzero(prepared.bad) + loaded.first_row
    if loaded.is_csv and (len(report.errors) or len(report.warnings)):
        lines = _lines(loaded)
        for frame in (report.errors, report.warnings):
            frame.insert(1, "line", lines[frame["row"].to_numpy()])
    if loaded.first_row:
        for frame in (report.errors, report.warnings):
            frame["row"] += loaded.first_row
    return prepared


def mapped_table(group: FeatureGroup, loaded: LoadedInput, columns: dict[str, str | None] | None) -> "pa.Table":
    """``loaded``'s table with its columns renamed onto the group's features."""
    return map_invalid_names(map_columns(loaded.table, columns, loaded.source_name), group)


def _lines(loaded: LoadedInput) -> np.ndarray:
    """Each row's line in the CSV file (the header is line 1)."""
    return (np.arange(loaded.table.num_rows) + 2 + loaded.first_row + loaded.newlines_before
            + newlines_before(loaded.table).to_numpy())


def _rejected(loaded: LoadedInput, prepared: Prepared) -> "pa.Table":
    import pyarrow as pa

    rows = np.flatnonzero(prepared.bad)
    position = pa.array(_lines(loaded)[rows]) if loaded.is_csv else None
    return rejected_rows_table(loaded.table, prepared, position, loaded.first_row)


def rejected_rows_table(table: "pa.Table", prepared: Prepared, lines: "pa.Array | None" = None,
                        first_row: int = 0) -> "pa.Table":
    """The refused input rows as read, their position first ('line' in a CSV file, else 'row',
    counted from ``first_row``) and every reason in 'error' last."""
    import pyarrow as pa

    rows = np.flatnonzero(prepared.bad)
    taken_rows = table.take(pa.array(rows))
    errors = prepared.report.errors
    text = errors["feature"].fillna("the row") + " " + errors["reason"]
    reasons = errors.assign(text=text).groupby("row", sort=True)["text"].agg("; ".join)
    error = pa.array(reasons.reindex(rows).fillna("").to_numpy(dtype=object), pa.string())
    position, name = (lines, "line") if lines is not None else (pa.array(rows + first_row), "row")
    taken = set(taken_rows.column_names)
    taken_rows = taken_rows.add_column(0, name if name not in taken else f"_{name}", position)
    return taken_rows.append_column("error" if "error" not in taken else "_error", error)


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

    order = pc.sort_indices(table, sort_keys=[*((k, "ascending") for k in group.identifiers),
                                              ("_event_time", "ascending"), ("_seq", "ascending")])
    if len(order) < 2:
        return table.take(order)
    last = None
    for k in group.identifiers:  # row i ends its key's run where any key column changes
        ids = table.column(k).take(order)
        differs = pc.not_equal(ids.slice(0, len(ids) - 1), ids.slice(1))
        last = differs if last is None else pc.or_(last, differs)
    keep = pa.concat_arrays([last.combine_chunks(), pa.array([True])])
    return table.take(order.filter(keep))


def key_array(group: FeatureGroup, table: "pa.Table") -> "pa.ChunkedArray | pa.Array":
    """The rows' record keys as one array: the key column, or a struct of the key's columns."""
    import pyarrow as pa

    if not group.composite:
        return table.column(group.identifiers[0])
    return pa.StructArray.from_arrays([table.column(k).combine_chunks() for k in group.identifiers],
                                      names=list(group.identifiers))


def online_rows(group: FeatureGroup, latest: "pa.Table", write_us: int, ttl_us: int | None) -> list[tuple]:
    """Rows for an online backend's ``upsert``: (_event_us, _write_us, _expires_us, _deleted, *features)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from ..common import duck

    from ..common.sqltext import q

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
    return list(zip(*cols))
