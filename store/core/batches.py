"""Ingest and validate of an input read in batches (a file or batch reader longer than
``ingest.BATCH_ROWS``), so memory stays bounded by one batch whatever the input expands to.

All or nothing, as for an input read whole: the batches are checked, stamped and written one
after the other inside one write transaction (each batch's Parquet files written at once and
listed in the manifest of that transaction, its newest rows upserted online, its refused rows
quarantined), and the transaction commits only after the last batch. A refused input (a bad row
with ``on_error="reject"``, a failed batch rule, a limit passed) rolls back: no file stays
listed, and the files written are deleted (``on_rollback``; by the next writer if the process
dies). Once a row is bad under "reject", the rest is only checked, for the report.

The store's write lock is held while the input is read, as for a Spark ingest (see
``writes_spark``): the rows carry the write time taken at the start, and no other
write may commit in between. What stays in memory across batches: the report's first
``MAX_REPORTED_ERRORS`` verdicts and refused rows (the quarantine gets every refused row),
the sums batch rules need, and the distinct values of features under a ``unique`` rule.
"""
from __future__ import annotations

import itertools
import os
import tempfile
import time
import uuid
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from ..ingest import prepare as ing
from .. import registry
from .writes_spark import batch_sums
from . import writes
from .context import StoreContext

if TYPE_CHECKING:
    import pyarrow as pa

    from ..ingest.prepare import IngestReport, LoadedInput, Prepared
    from ..model.rules import Rule
    from ..model.schema import FeatureGroup


class Batches:
    """Checks an input's batches one by one and sums up their verdicts into one report, rows
    numbered in the whole input."""

    def __init__(self, group: "FeatureGroup", rules: "list[Rule] | tuple", columns: dict[str, str | None] | None,
                 api_us: int) -> None:
        self.group, self.rules, self.columns, self.api_us = group, list(rules), columns, api_us
        self.row_rules = [r for r in self.rules if r.row_level]
        self.seen: dict[str, "pa.Array | None"] = {r.feature: None for r in self.row_rules if r.check == "unique"}
        self.total = self.written = self.warned = 0
        self.errors: list = []
        self.warnings: list = []
        self.rejected: list = []
        self.rejected_index: list[np.ndarray] = []
        self.kept_errors = self.kept_warnings = self.kept_rejected = 0
        self.rule_counts: dict[str, dict[str, int]] = {}
        self.batch_failures: list[dict[str, Any]] = []  # row rules of severity fail_batch, first verdict each
        self.sums: list[dict[str, tuple[int, float, int]]] = []
        self.max_event_us: int | None = None
        self.first: "LoadedInput | None" = None

    def check(self, loaded: "LoadedInput") -> "Prepared":
        """One batch's verdicts (batch rules are judged over all of them by ``report``)."""
        self.first = self.first or loaded
        duplicates = self._duplicates(ing.mapped_table(self.group, loaded, self.columns)) if self.seen else None
        prepared = ing.check(self.group, loaded, self.columns, self.api_us, self.row_rules, duplicates)
        report = prepared.report
        self.total += report.rows_total
        self.written += report.rows_written
        self.warned += report.rows_warned
        self.kept_errors = _keep(self.errors, report.errors, self.kept_errors)
        self.kept_warnings = _keep(self.warnings, report.warnings, self.kept_warnings)
        if report.rejected is not None and self.kept_rejected < ing.MAX_REPORTED_ERRORS:
            room = ing.MAX_REPORTED_ERRORS - self.kept_rejected
            self.rejected.append(report.rejected.slice(0, room))
            self.rejected_index.append(report.rejected_index[:room])
            self.kept_rejected += min(room, report.rejected.num_rows)
        failed = {f["rule"] for f in self.batch_failures}
        self.batch_failures += [f for f in report.batch_failures if f["rule"] not in failed]
        for rule, tally in report.rule_counts.items():
            entry = self.rule_counts.setdefault(rule, {"rejected": 0, "warned": 0, "failed_batch": 0})
            for key, value in tally.items():
                entry[key] += value
        self.sums.append(batch_sums(self.group, prepared.table))
        if prepared.max_event_us is not None:
            self.max_event_us = max(self.max_event_us or prepared.max_event_us, prepared.max_event_us)
        return prepared

    def _duplicates(self, table: "pa.Table") -> dict[str, np.ndarray]:
        """A ``unique`` rule's repeats, in this batch or of a value an earlier batch held."""
        import pyarrow as pa
        import pyarrow.compute as pc

        out = {}
        for feature, seen in self.seen.items():
            if feature not in table.column_names:
                continue
            col = table.column(feature).combine_chunks()
            if pa.types.is_dictionary(col.type):
                col = col.dictionary_decode()
            repeats = _repeats(col)
            if seen is not None:
                repeats = repeats | pc.fill_null(pc.is_in(col, value_set=seen, skip_nulls=True), False).to_numpy(
                    zero_copy_only=False)
            values = pc.unique(pc.drop_null(col))
            self.seen[feature] = values if seen is None else pc.unique(pa.concat_arrays([seen, values]))
            out[feature] = repeats
        return out

    def report(self) -> "IngestReport":
        """The verdicts of every batch as one report, batch rules judged over the whole input."""
        import pyarrow as pa

        from ..model.rules import judge_batch_rules, record_batch_verdicts

        report = ing.IngestReport(self.group.name, rows_total=self.total, rows_written=self.written,
                                  rows_rejected=self.total - self.written, rows_warned=self.warned,
                                  errors=ing.merge_verdicts(self.errors), warnings=ing.merge_verdicts(self.warnings))
        for frame in (report.errors, report.warnings):  # each batch's frame kept its 'line' column, if any
            if "line" in frame.columns:
                frame["line"] = frame["line"].astype("int64")
        report.source = self.first.source_name if self.first else None
        report.source_csv = self.first.path if self.first and self.first.is_csv else None
        counts = {rule: dict(c) for rule, c in self.rule_counts.items()}
        record_batch_verdicts(report, counts, judge_batch_rules(self.rules, self.total, self.written, self.sums))
        report.rule_counts = counts
        report.batch_failures[:0] = self.batch_failures
        if self.rejected:
            report.rejected = pa.concat_tables(self.rejected, promote_options="permissive")
            report.rejected_index = np.concatenate(self.rejected_index)
        return report


def _keep(kept: list, frame: "Any", count: int) -> int:
    """Add ``frame``'s verdicts to ``kept`` up to ``MAX_REPORTED_ERRORS`` in all; the new count."""
    room = ing.MAX_REPORTED_ERRORS - count
    if room > 0 and len(frame):
        kept.append(frame.head(room))
        count += min(room, len(frame))
    return count


def _repeats(col: "pa.Array") -> np.ndarray:
    """Every occurrence of a value after its first in ``col`` (nulls are not compared)."""
    from ..model.rules import duplicates

    return duplicates(col)


def validate(group: "FeatureGroup", data: Any, columns: dict[str, str | None] | None, api_us: int,
             rules: "list[Rule] | tuple") -> "IngestReport":
    """``ingest.check``'s report for any input, a long one read in batches, keeping only the
    verdicts: what ``FeatureStore.validate`` shows."""
    batches = ing.load_batches(data)
    first = next(batches)
    second = next(batches, None)
    if second is None:
        return ing.check(group, first, columns, api_us, rules).report
    checker = Batches(group, rules, columns, api_us)
    for loaded in itertools.chain([first, second], batches):
        checker.check(loaded)
    return checker.report()


class Refused(Exception):
    """The input is refused (a bad row under "reject", a failed batch rule): roll back."""

    def __init__(self, report: "IngestReport") -> None:
        self.report = report


def ingest(ctx: StoreContext, g: "FeatureGroup", batches: "Iterator[LoadedInput]", *, columns: Any, on_error: str,
           progress: Callable[[int, int], None] | None, to_online: bool, to_offline: bool, ttl_us: int | None,
           source: str | None, api: int, started: float,
           on_commit: Callable[[Any, "IngestReport"], None] | None) -> "IngestReport":
    """``FeatureStore.ingest`` of an input read in batches (see the module's docstring)."""
    from ..quality.tables import quarantine

    group = g.name
    checker = Batches(g, ctx.group(group)[1]["rules"], columns, api)
    done = [0]
    expected = [0]

    def advance(rows: int) -> None:
        done[0] += rows
        if progress:
            progress(done[0], max(expected[0], done[0]))

    writing = True
    files_written = 0
    online_ids = DistinctIds()
    try:
        with ctx.db.write() as conn:
            first_seq, wt, _ = registry.allocate(conn, group, 0, api, None, version=g.version)
            seq = first_seq
            batch_id = uuid.uuid4().hex[:12]
            if to_offline:
                ctx.files.recover(conn, group)
                ctx.files.mark_inflight(group)
            for k, loaded in enumerate(batches):
                prepared = checker.check(loaded)
                expected[0] = loaded.rows_expected or checker.total
                writing = writing and not checker.batch_failures and not (
                    on_error == "reject" and checker.total > checker.written)
                if writing and prepared.report.rejected is not None:  # every refused row, not only those reported
                    quarantine(conn, group, api, source or loaded.source_name, writes.quarantine_rows(prepared.report))
                if not writing or not prepared.table.num_rows:
                    continue
                table = ing.stamp(prepared.table, wt, seq)
                seq += table.num_rows
                if to_offline:
                    entries = ctx.files.write_files(g, table, f"{batch_id}-{k:05d}", progress=advance)
                    ctx.db.on_rollback(partial(ctx.files.unwrite, entries))
                    ctx.files.register(conn, group, entries, wt, growth=True)
                    files_written += len(entries)
                if to_online:
                    latest = ing.latest_per_record(g, table)
                    ctx.online.upsert(conn, g, ing.online_rows(g, latest, wt, ttl_us), wt)
                    online_ids.add(ing.key_array(g, latest))
                    if not to_offline:
                        advance(table.num_rows)
            report = checker.report()
            report.source = source or report.source
            report.seconds = time.perf_counter() - started
            if report.batch_failures or (report.rows_rejected and on_error == "reject"):
                raise Refused(report)
            report.files_written, report.records_online = files_written, online_ids.count()
            registry.advance(conn, group, seq - first_seq, checker.max_event_us)
            if checker.first is not None:
                writes.record_source(ctx, conn, group, checker.first, report, wt)
            rejected, report.rejected = report.rejected, None  # quarantined batch by batch above
            writes.written(conn, g, report, report.source, api, report.seconds)
            ctx.policy.logged(conn, "ingest", report.audit_counts())  # no rows committed without their entry
            report.rejected = rejected
            if on_commit:
                on_commit(conn, report)
    except Refused as refused:  # rolled back, its files deleted: recorded as a refused run
        writes.judged(ctx, g, refused.report, on_error, api, refused.report.seconds)
        raise AssertionError("unreachable: _judged raises for a refused input") from None
    finally:
        online_ids.close()
    if to_offline:
        ctx.files.committed(group)
    ctx.online.after_commit()
    report.seconds = time.perf_counter() - started
    return report


class DistinctIds:
    """How many distinct record ids the batches upserted online, counted exactly (a record in
    several batches is one record updated) in bounded memory: one batch is counted in Arrow; from
    the second on, ids go into a DuckDB file that spills to disk past ``MEMORY``."""

    MEMORY = "256MB"

    def __init__(self) -> None:
        self._first: "pa.Array | None" = None
        self._db: Any = None
        self._folder: str | None = None

    def add(self, ids: "pa.ChunkedArray | pa.Array") -> None:
        import duckdb

        if self._first is None and self._db is None:
            self._first = ids
            return
        if self._db is None:
            self._folder = tempfile.mkdtemp(prefix="featurestore-ids-")
            self._db = duckdb.connect(os.path.join(self._folder, "ids.duckdb"))
            self._db.execute(f"SET memory_limit = '{self.MEMORY}'")
            self._db.execute(f"SET temp_directory = '{self._folder}'")
            self._insert(self._first, create=True)
            self._first = None
        self._insert(ids)

    def _insert(self, ids: Any, create: bool = False) -> None:
        import pyarrow as pa

        batch = pa.table({"id": ids})  # noqa: F841 - read by DuckDB by name
        self._db.execute("CREATE TABLE ids AS SELECT id FROM batch" if create else "INSERT INTO ids SELECT id FROM batch")

    def count(self) -> int:
        if self._db is not None:
            return self._db.execute("SELECT count(DISTINCT id) FROM ids").fetchone()[0]
        return 0 if self._first is None else len(self._first)

    def close(self) -> None:
        import shutil

        if self._db is not None:
            self._db.close()
            self._db = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
