"""``fs.ingest(group, spark_dataframe)``: Spark executors validate and write, the driver commits.

Each Spark partition, on its executor: the rows are typed and judged by the group's row rules
with the same code as a pandas ingest (``ingest.prepare``), stamped, and written as Parquet
files in the group's layout straight to the offline storage (a folder or S3, through
pyarrow.ctx); the partition returns its file list, its newest row per record, its refused rows
and the sums batch rules need. The driver then, in one database transaction: judges the batch
rules, lists the files in the manifest, upserts the newest row per record into the online
store, records the run and quarantines the refused rows. All or nothing, as for pandas: a
refused batch, a failed job or a killed driver leaves no listed file, and the files already
written are deleted (by the driver, or by the next writer, see ``offline.OfflineFiles.recover``).

Why the driver holds the store's write lock for the whole job: the rows carry their write time,
and no other write to the store may commit between that time and this one's commit, or
``known_at`` would stop reproducing what the store knew. Other writers wait, as they do for a
pandas ingest's file writes.

Sequence numbers (which order rows of one write with the same record and event time) are
``first + index_in_partition * partitions + partition``: unique without knowing partition
sizes in advance; a DataFrame has no row order, so among such ties the row Spark processes last
wins. ``row`` in the report is the row's position in the DataFrame (partition by partition).
"""
from __future__ import annotations

import functools

import pickle
import time
import uuid
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from ..ingest import prepare as ing
from .. import registry
from ..errors import ValidationError
from ..offline.files import OfflineFiles
from ..common.timeutil import now_us
from . import writes
from .context import StoreContext

if TYPE_CHECKING:
    import pyarrow as pa

    from ..ingest.prepare import IngestReport
    from ..model.schema import FeatureGroup

ROW_BITS = 33  # Spark's monotonically_increasing_id: partition << 33 | row within it
UPSERT_BATCH = 50_000


def is_spark_dataframe(data: Any) -> bool:
    return type(data).__module__.startswith("pyspark.sql") and hasattr(data, "mapInArrow")


def ingest(ctx: StoreContext, group: str, frame: Any, on_error: str, target_stores: Any, ttl: Any,
           source: str | None, columns: dict[str, str | None] | None) -> "IngestReport":
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    started = time.perf_counter()
    api = now_us()
    g, prep = ctx.group(group)
    rules = list(prep["rules"])
    if ctx.files.key is not None:
        raise ValidationError("A Spark ingest cannot write an encrypted store yet; ingest a pandas or Arrow frame")
    to_online, to_offline = ctx.targets(g, target_stores)
    ttl_us = ctx.ttl_us(g, ttl) if to_online else None
    frame = frame.withColumn("__fs_row", F.monotonically_increasing_id())
    # A unique rule looks across every partition: Spark marks each repeat after the first.
    unique = [r.feature for r in rules if r.row_level and r.check == "unique"]
    for i, feature in enumerate(unique):
        # A rule without a feature is over the record key: every key column together.
        sources = [_source_column(f, columns) for f in ([feature] if feature is not None else g.identifiers)]
        first = Window.partitionBy(*sources).orderBy("__fs_row")
        present = functools.reduce(lambda a, b: a & b, [F.col(c).isNotNull() for c in sources])
        frame = frame.withColumn(f"__fs_dup{i}", present & (F.row_number().over(first) > 1))
    partitions = frame.rdd.getNumPartitions()
    task = _Task(g, OfflineFiles(ctx.files.storage.portable()), api, [r for r in rules if r.row_level], unique, columns,
                 source or "Spark DataFrame", partitions, uuid.uuid4().hex[:12], to_offline)
    try:
        return _commit(ctx, g, frame, task, rules, on_error, to_online, ttl_us, api, started)
    except _Refused as refused:  # rolled back, its files deleted: recorded as a refused run
        writes.judged(ctx, g, refused.report, on_error, api, refused.report.seconds)
        raise AssertionError("unreachable: _judged raises for a refused batch") from None


def _commit(ctx: StoreContext, g: "FeatureGroup", frame: Any, task: "_Task", rules: list, on_error: str,
            to_online: bool, ttl_us: int | None, api: int, started: float) -> "IngestReport":
    group = g.name
    failure: BaseException | None = None
    with ctx.db.write() as conn:
        task.first_seq, task.write_us, _ = registry.allocate(conn, group, 0, api, None, version=g.version)
        ctx.files.recover(conn, group)
        ctx.files.mark_inflight(group)
        try:
            payloads = [pickle.loads(row[0]) for row in frame.mapInArrow(task, "payload binary").collect()]
            report, entries, latest, used, max_event_us = _merge(g, payloads, rules, task)
            report.source = task.source
            if report.batch_failures or (report.rows_rejected and on_error == "reject"):
                report.seconds = time.perf_counter() - started
                raise _Refused(report)
            _clear_unlisted(ctx.files, group, task.batch, entries)
            ctx.files.register(conn, group, entries, task.write_us, growth=True)
            report.files_written = len(entries)
            if to_online and latest.num_rows:
                rows = ing.online_rows(g, latest, task.write_us, ttl_us)
                for start in range(0, len(rows), UPSERT_BATCH):
                    ctx.online.upsert(conn, g, rows[start:start + UPSERT_BATCH], task.write_us)
                report.records_online = latest.num_rows
            registry.advance(conn, group, used, max_event_us)
            report.seconds = time.perf_counter() - started
            writes.written(conn, g, report, report.source, api, report.seconds)
            ctx.policy.logged(conn, "ingest", report.audit_counts())  # no rows committed without their entry
        except BaseException as exc:
            failure = exc
            raise
        finally:
            if failure is not None:  # nothing was listed: take every file of this write back
                _clear_unlisted(ctx.files, group, task.batch, [])
    ctx.files.committed(group)
    ctx.online.after_commit()
    return report


class _Refused(Exception):
    """The batch is refused (a batch rule, or bad rows with on_error="reject"): roll back."""

    def __init__(self, report: "IngestReport") -> None:
        self.report = report


def _source_column(feature: str, columns: dict[str, str | None] | None) -> str:
    for col, target in (columns or {}).items():
        if target == feature:
            return col
    return feature


class _Task:
    """What each executor runs over its partition (pickled to the executors)."""

    def __init__(self, group: "FeatureGroup", files: "OfflineFiles", api_us: int, row_rules: list, unique: list[str],
                 columns: dict[str, str | None] | None, source: str, partitions: int, batch: str,
                 to_offline: bool) -> None:
        self.group, self.files, self.api_us, self.row_rules = group, files, api_us, row_rules
        self.unique, self.columns, self.source, self.partitions = unique, columns, source, partitions
        self.batch, self.to_offline = batch, to_offline
        self.first_seq = 0
        self.write_us = 0

    def __call__(self, batches: Iterator["pa.RecordBatch"]) -> Iterator["pa.RecordBatch"]:
        import pyarrow as pa
        from pyspark import TaskContext

        pid = TaskContext.get().partitionId()
        batches = list(batches)
        if not batches:
            return
        table = pa.Table.from_batches(batches)
        input_rows = table.column("__fs_row").to_numpy()
        duplicates = {f: table.column(f"__fs_dup{i}").to_numpy(zero_copy_only=False).astype(bool)
                      for i, f in enumerate(self.unique)}
        table = table.drop_columns(["__fs_row", *(f"__fs_dup{i}" for i in range(len(self.unique)))])
        mapped = ing.map_invalid_names(ing.map_columns(table, self.columns, self.source), self.group)
        prepared = ing.prepare(self.group, mapped, self.api_us, rules=self.row_rules, duplicates=duplicates)
        good = np.flatnonzero(~prepared.bad)
        seqs = self.first_seq + good * self.partitions + pid
        stamped = ing.stamp(prepared.table, self.write_us, 0)
        stamped = stamped.set_column(stamped.schema.get_field_index("_seq"), "_seq", pa.array(seqs, pa.int64()))
        entries = (self.files.write_files(self.group, stamped, f"{self.batch}-s{pid:05d}")
                   if self.to_offline and stamped.num_rows else [])
        report = prepared.report
        payload = {
            "input_rows": input_rows, "rows": table.num_rows, "written": stamped.num_rows,
            "max_seq": int(seqs.max()) if len(seqs) else None, "max_event_us": prepared.max_event_us,
            "entries": entries, "latest": ing.latest_per_record(self.group, stamped),
            "errors": report.errors, "warnings": report.warnings, "rule_counts": report.rule_counts,
            "rows_warned": report.rows_warned, "rejected_index": np.flatnonzero(prepared.bad),
            "rejected": ing.rejected_rows_table(table, prepared) if prepared.bad.any() else None,
            "sums": batch_sums(self.group, stamped),
        }
        yield pa.RecordBatch.from_pydict({"payload": [pickle.dumps(payload)]})


def batch_sums(group: "FeatureGroup", written: "pa.Table") -> dict[str, tuple[int, float, int]]:
    """Per feature of the written rows: (nulls, sum, values), what null_fraction and mean rules need."""
    import pyarrow.compute as pc

    out = {}
    for f in group.features:
        if f.is_collection:
            continue
        col = written.column(f.name)
        total = pc.sum(col).as_py() if f.type in ("Integral", "Fractional") else None
        out[f.name] = (col.null_count, float(total or 0.0), len(col) - col.null_count)
    return out


def _merge(g: "FeatureGroup", payloads: list[dict], rules: list, task: _Task
           ) -> tuple["IngestReport", list, "pa.Table", int, int | None]:
    """The partitions' results as one report (rows numbered as in the DataFrame), the file list,
    the newest row per record across partitions, the sequence numbers used and the newest event."""
    import pyarrow as pa

    from ..model.schema import arrow_schema
    from ..model.rules import judge_batch_rules, record_batch_verdicts

    # A row's position in the DataFrame: rows of earlier input partitions, then its place in its own.
    counts: dict[int, int] = {}
    for p in payloads:
        part, n = np.unique(p["input_rows"] >> ROW_BITS, return_counts=True)
        for k, c in zip(part.tolist(), n.tolist()):
            counts[k] = counts.get(k, 0) + c
    offsets, running = {}, 0
    for k in sorted(counts):
        offsets[k], running = running, running + counts[k]

    def position(mono: np.ndarray) -> np.ndarray:
        return np.array([offsets[int(m) >> ROW_BITS] for m in mono], dtype="int64") + (mono & ((1 << ROW_BITS) - 1))

    errors, warnings, rejected, rejected_index = [], [], [], []
    rule_counts: dict[str, dict[str, int]] = {}
    total = written = warned = 0
    for p in payloads:
        rows = p["input_rows"]
        for frame, out in ((p["errors"], errors), (p["warnings"], warnings)):
            if len(frame):
                out.append(frame.assign(row=position(rows[frame["row"].to_numpy()])))
        if p["rejected"] is not None:
            where = position(rows[p["rejected_index"]])
            rejected.append(p["rejected"].set_column(0, "row", pa.array(where)))
            rejected_index.append(where)
        for rule, c in p["rule_counts"].items():
            entry = rule_counts.setdefault(rule, {"rejected": 0, "warned": 0, "failed_batch": 0})
            for k, v in c.items():
                entry[k] += v
        total += p["rows"]
        written += p["written"]
        warned += p["rows_warned"]
    report = ing.IngestReport(g.name, rows_total=total, rows_written=written, rows_rejected=total - written,
                              errors=ing.merge_verdicts(errors), warnings=ing.merge_verdicts(warnings),
                              rows_warned=warned)
    sums = [p["sums"] for p in payloads]
    record_batch_verdicts(report, rule_counts, judge_batch_rules(rules, total, written, sums))
    report.rule_counts = rule_counts
    if rejected:
        report.rejected = pa.concat_tables(rejected, promote_options="permissive")
        order = np.argsort(np.concatenate(rejected_index), kind="stable")
        report.rejected = report.rejected.take(pa.array(order))
        report.rejected_index = np.concatenate(rejected_index)[order]
    max_event_us = max((p["max_event_us"] for p in payloads if p["max_event_us"] is not None), default=None)
    latest = [p["latest"] for p in payloads if p["latest"].num_rows]
    newest = ing.latest_per_record(g, pa.concat_tables(latest)) if latest else arrow_schema(g).empty_table()
    entries = [e for p in payloads for e in p["entries"]]
    top = max((p["max_seq"] for p in payloads if p["max_seq"] is not None), default=task.first_seq - 1)
    return report, entries, newest, top - task.first_seq + 1, max_event_us


def _clear_unlisted(files: "OfflineFiles", group: str, batch: str, entries: list) -> None:
    """Delete this write's files that are not in ``entries``: those of Spark task attempts that
    failed or were retried, or all of them when the write is abandoned."""
    keep = {files.storage.full(e.path) for e in entries}
    for f in files.storage.files(files.data_dir(group)):
        name = f.path.rsplit(files.storage.sep, 1)[-1]
        if name.startswith(f"part-{batch}-") and f.path not in keep:
            files.storage.remove(f.path)
    files.prune_empty(group)
