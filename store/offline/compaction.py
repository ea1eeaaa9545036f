"""Compaction: rewrite a group's small files as files sized for reading, sorted by record
identifier then event time (so Parquet statistics let DuckDB and Spark skip row groups), dropping
history outside the group's retention, or into another partition layout.

A rewrite reads its input files and writes the new ones outside the write lock, into
``offline/<group>/_compacting/``; it then takes the lock only to check its inputs are still
listed, move the new files into place and swap them in the manifest in one transaction. Writers
wait at most for that swap, readers never (they keep their snapshot; replaced files go to
``_trash/``). A repartition holds the lock for its whole rewrite instead, so that no file in the
old layout can arrive meanwhile.
"""
from __future__ import annotations

import posixpath
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..databases import Connection
from ..model import layout
from .. import registry
from .files import FileEntry, OfflineFiles
from ..model.schema import arrow_schema
from .snapshot import conform
from . import retention

if TYPE_CHECKING:

    import pyarrow as pa

    from ..model.schema import FeatureGroup
    from ..databases import Database

TARGET_ROWS = 1_000_000  # a compacted file holds at most this many rows...
TARGET_BYTES = 128 << 20  # ...and about this many bytes
SMALL_FRACTION = 4  # a file under a quarter of the targets is small
AUTO_MIN_SMALL_FILES = 4  # background compaction merges a partition once it has this many small files
STALE_WORK_SECONDS = 3600  # a _compacting folder this old belongs to a compaction that died


@dataclass(frozen=True)
class Listed:
    """A file as the manifest lists it."""

    path: str  # relative to the store root
    rows: int
    bytes: int
    min_event_us: int
    feature_count: int
    version: int  # the definition version it was written under: a rewrite keeps it (see ``by_version``)

    @property
    def partition(self) -> str:
        return posixpath.dirname(self.path)


def listed(conn: "Connection", group: str) -> list[Listed]:
    return [Listed(*row) for row in conn.execute(
        "SELECT path, rows, bytes, min_event_us, feature_count, coalesce(definition_version, 1) FROM offline_files "
        "WHERE group_name = ? ORDER BY path", (group,))]


def by_version(files: list[Listed]) -> list[list[Listed]]:
    """``files`` split by the definition version they were written under. A rewrite never mixes
    versions: a file keeps the definition it was written under, so a read at an earlier instant
    still finds a feature dropped since, and a widened one its original values."""
    out: dict[int, list[Listed]] = {}
    for f in files:
        out.setdefault(f.version, []).append(f)
    return list(out.values())


def _small(f: Listed, target_rows: int, target_bytes: int) -> bool:
    return f.rows < target_rows // SMALL_FRACTION and f.bytes < target_bytes // SMALL_FRACTION


def merge_plan(files: list[Listed], min_small: int = 2, target_rows: int = TARGET_ROWS,
               target_bytes: int = TARGET_BYTES) -> list[list[Listed]]:
    """Per partition with at least ``min_small`` small files: those files, to merge."""
    by_partition: dict[tuple[str, int], list[Listed]] = {}
    for f in files:
        if _small(f, target_rows, target_bytes):
            by_partition.setdefault((f.partition, f.version), []).append(f)
    return [small for small in by_partition.values() if len(small) >= min_small]


class Rewriter:
    """Rewrites sets of one group's files; see the module docstring for the locking."""

    def __init__(self, conns: "Database", files: OfflineFiles, target_rows: int = TARGET_ROWS,
                 target_bytes: int = TARGET_BYTES,
                 on_swap: Callable[["Connection", str, dict[str, int]], None] | None = None) -> None:
        self.conns, self.files = conns, files
        self.target_rows, self.target_bytes = target_rows, target_bytes
        self.on_swap = on_swap  # (conn, group, what changed) inside every swap's transaction: its audit entry

    # -- reading and writing -------------------------------------------------------------

    def read(self, group: "FeatureGroup", inputs: list[Listed]) -> "pa.Table":
        """``inputs`` (files of one definition version, ``group`` being that version) as one table."""
        import pyarrow as pa

        paths = self.files.readable(group.name, [self.files.storage.full(f.path) for f in inputs])
        tables = [conform(self.files.read_table(p), group, group, f.feature_count) for p, f in zip(paths, inputs)]
        return pa.concat_tables(tables) if tables else arrow_schema(group).empty_table()

    def written_under(self, group: "FeatureGroup", inputs: list[Listed]) -> "FeatureGroup":
        """The definition version ``inputs`` (one version's files) were written under, with the
        current group's layout settings."""
        from dataclasses import replace

        with self.conns.read() as conn:
            version = registry.load_version(conn, group, inputs[0].version)
        return replace(version, partition_by=group.partition_by)

    def write(self, group: "FeatureGroup", rows: "pa.Table", partition_by: str, work: str,
              bytes_per_row: float) -> list[tuple[str, FileEntry]]:
        """Write ``rows`` into ``work`` in ``partition_by`` folders, sorted by partition, record and
        both clocks, in files of at most the target size; returns (work path, entry) pairs whose
        entries name the files' final places."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if rows.num_rows == 0:
            return []
        event_us = rows.column("_event_time").cast(pa.int64()).to_numpy()
        rows = rows.append_column("__part", pa.array(layout.keys(partition_by, event_us)))
        order = pc.sort_indices(rows, sort_keys=[("__part", "ascending"), *((k, "ascending") for k in group.identifiers),
                                                 ("_event_time", "ascending"), ("write_time", "ascending"),
                                                 ("_seq", "ascending")])
        rows = rows.take(order)
        parts = rows.column("__part").to_numpy()
        rows = rows.drop_columns(["__part"])
        per_file = max(1, min(self.target_rows, int(self.target_bytes / max(bytes_per_row, 1.0))))
        starts = np.concatenate(([0], np.flatnonzero(np.diff(parts)) + 1))
        ends = np.concatenate((starts[1:], [len(parts)]))
        dictionary = [f.name for f in group.features if f.type == "String" and not f.is_collection]
        # An encrypted store's options win: its row groups are sized for outside readers (see crypto).
        options = {"use_dictionary": dictionary, "row_group_size": 128 * 1024, **self.files.write_options}
        storage = self.files.storage
        out = []
        for lo, hi in zip(starts, ends):
            folder = layout.folder(partition_by, int(parts[lo]))
            for a in range(int(lo), int(hi), per_file):
                chunk = rows.slice(a, min(per_file, int(hi) - a))
                name = f"part-c{uuid.uuid4().hex[:12]}.parquet"
                rel = "/".join(["offline", group.name, "data", *([folder] if folder else []), name])
                staged = storage.join(work, *folder.split("/"), name) if folder else storage.join(work, name)
                size = storage.write_parquet(chunk, staged, **options)
                ev = chunk.column("_event_time").cast(pa.int64()).to_numpy()
                wt = chunk.column("write_time").cast(pa.int64()).to_numpy()
                out.append((staged, FileEntry(rel, chunk.num_rows, int(ev.min()), int(ev.max()), int(wt.min()),
                                              int(wt.max()), size, len(group.features), group.version)))
        return out

    # -- swapping ------------------------------------------------------------------------

    def swap(self, conn: "Connection", group: str, inputs: list[Listed], outputs: list[tuple[str, FileEntry]],
             now_us: int) -> bool:
        """Inside the write transaction: put ``outputs`` in place of ``inputs`` if every input is
        still listed (False, and nothing changed, if another compaction got there first)."""
        names = [f.path for f in inputs]
        found = 0
        for start in range(0, len(names), 500):
            chunk = names[start:start + 500]
            found += conn.execute(
                f"SELECT count(*) FROM offline_files WHERE group_name = ? AND path IN ({','.join('?' * len(chunk))})",
                (group, *chunk)).fetchone()[0]
        if found != len(names):
            return False
        self.files.mark_inflight(group)  # a kill between the moves and the commit leaves unlisted files to clear
        storage = self.files.storage
        for staged, entry in outputs:
            storage.move(staged, storage.full(entry.path))
        storage.sync_folders({storage.full(e.path).rsplit(storage.sep, 1)[0] for _, e in outputs})
        conn.executemany("DELETE FROM offline_files WHERE group_name = ? AND path = ?", [(group, p) for p in names])
        self.files.register(conn, group, [e for _, e in outputs], now_us)
        return True

    def rewrite(self, group: "FeatureGroup", inputs: list[Listed], now_us: int,
                transform: Callable[["pa.Table"], "pa.Table"] | None = None,
                on_commit: Callable[["Connection"], None] | None = None) -> dict[str, int] | None:
        """Read ``inputs``, optionally ``transform`` the rows, write them sorted and sized, and swap
        them in (``on_commit`` runs in the same transaction). None if the inputs changed meanwhile.
        The inputs are of one definition version (see ``by_version``)."""
        group = self.written_under(group, inputs)
        work = self._work_folder(group.name)
        try:
            rows = self.read(group, inputs)
            if transform is not None:
                rows = transform(rows)
            bytes_per_row = sum(f.bytes for f in inputs) / max(1, sum(f.rows for f in inputs))
            outputs = self.write(group, rows, group.partition_by, work, bytes_per_row)
            done = {"files_before": len(inputs), "files_after": len(outputs), "rows": rows.num_rows,
                    "rows_dropped": sum(f.rows for f in inputs) - rows.num_rows}
            with self.conns.write() as conn:
                if not self.swap(conn, group.name, inputs, outputs, now_us):
                    return None
                if on_commit is not None:
                    on_commit(conn)
                if self.on_swap is not None:
                    self.on_swap(conn, group.name, done)
            self.finish(group.name, [self.files.storage.full(f.path) for f in inputs])
            return done
        finally:
            self.files.storage.remove_tree(work)

    def repartition(self, conn: "Connection", group: "FeatureGroup", partition_by: str,
                    now_us: int) -> tuple[dict[str, int], list[str]]:
        """Inside the caller's write transaction: every file of the group rewritten in the
        ``partition_by`` layout, and the registry changed with it. Returns what changed and the
        replaced files, for ``finish`` once the transaction has committed."""
        from dataclasses import replace

        inputs = listed(conn, group.name)
        work = self._work_folder(group.name)
        rows, outputs = 0, []
        try:
            for same in by_version(inputs):
                written = replace(registry.load_version(conn, group, same[0].version), partition_by=partition_by)
                table = self.read(written, same)
                bytes_per_row = sum(f.bytes for f in same) / max(1, sum(f.rows for f in same))
                outputs += self.write(written, table, partition_by, work, bytes_per_row)
                rows += table.num_rows
            self.swap(conn, group.name, inputs, outputs, now_us)
            conn.execute("UPDATE feature_groups SET partition_by = ? WHERE name = ?", (partition_by, group.name))
            registry.bump_version(conn)
        finally:
            self.files.storage.remove_tree(work)
        replaced = [self.files.storage.full(f.path) for f in inputs]
        return {"files_before": len(inputs), "files_after": len(outputs), "rows": rows}, replaced

    def finish(self, group: str, replaced: list[str]) -> None:
        """After a swap's transaction committed: clear its marker and trash the replaced files."""
        self.files.committed(group)
        self.files.discard(group, replaced)
        self.files.prune_empty(group)

    def _work_folder(self, group: str) -> str:
        storage = self.files.storage
        base = storage.join(self.files.group_dir(group), "_compacting")
        cutoff = time.time() - STALE_WORK_SECONDS
        stale = [f.path for f in storage.files(base) if f.mtime < cutoff]  # a dead compaction's, by their age
        for path in stale:
            storage.remove(path)
        if stale:
            storage.prune_empty(base)
        return storage.join(base, uuid.uuid4().hex[:12])


def compact_group(rewriter: Rewriter, conns: "Database", group: "FeatureGroup", now_us: int,
                  min_small: int = 2) -> dict[str, Any]:
    """Apply the group's retention if it has one and it is due, then merge each partition's small
    files; returns what changed."""
    result = {"files_before": 0, "files_after": 0, "rows_dropped": 0}
    due = retention_due(conns, group, now_us)
    if due is not None:
        inputs, cutoff = due

        def apply(rows: "pa.Table") -> "pa.Table":
            return retention.kept(group, rows, cutoff)

        def mark(conn: "Connection") -> None:
            conn.execute("UPDATE group_state SET retained_from_us = CASE WHEN retained_from_us IS NULL "
                         "OR retained_from_us < ?1 THEN ?1 ELSE retained_from_us END WHERE group_name = ?2",
                         (cutoff, group.name))

        # Per version, each keeps its own rows of each record's state at the cutoff: the newest is among them.
        for same in by_version(inputs):
            done = rewriter.rewrite(group, same, now_us, apply, mark)
            if done:
                result["rows_dropped"] += sum(f.rows for f in same) - done["rows"]
                result["files_before"] += done["files_before"]
                result["files_after"] += done["files_after"]
    with conns.read() as conn:
        plan = merge_plan(listed(conn, group.name), min_small, rewriter.target_rows, rewriter.target_bytes)
    for inputs in plan:
        done = rewriter.rewrite(group, inputs, now_us)
        if done:
            result["files_before"] += done["files_before"]
            result["files_after"] += done["files_after"]
    return result


def retention_due(conns: "Database", group: "FeatureGroup", now_us: int) -> tuple[list[Listed], int] | None:
    """(files holding history older than the cutoff, cutoff) when the group's retention would drop
    something, else None."""
    if not group.offline_retention_seconds:
        return None
    cutoff = now_us - int(group.offline_retention_seconds * 1_000_000)
    with conns.read() as conn:
        applied = registry.state(conn, group.name)["retained_from_us"]
        old = [f for f in listed(conn, group.name) if f.min_event_us < cutoff]
    # Re-reading the old history for a cutoff a few minutes later would drop next to nothing.
    if not old or (applied is not None and cutoff - applied < 3_600_000_000):
        return None
    return old, cutoff
