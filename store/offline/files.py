"""The offline store: append-only, Hive-partitioned Parquet plus a small staging buffer in the store's database.

Layout (readable as-is by DuckDB, Spark, Athena, pandas), in the store's offline location (its
``offline/`` folder, or an S3 prefix: see ``storage``)::

    <group>/data/year=YYYY/month=MM/day=DD[/hour=HH]/part-<uuid>.parquet

Columns: the features with their declared types, ``api_invocation_time``, ``write_time``
(timestamp[us, UTC]) and ``is_deleted``, plus two documented internal columns:
``_event_time`` (the event time as timestamp[us, UTC], whatever the feature's declared form) and
``_seq`` (the store's write sequence, which breaks ties between rows written at the same instant).

Why a manifest: the engine reads the files listed in the ``offline_files`` table, written in the
same database transaction as the online upsert, so the online and offline stores change together
and compaction swaps files atomically. A file appears whole or not at all (see ``storage``), so
other engines never see half a file. A writer holds the database's write lock while it writes
files; an ``_inflight/<group>`` marker left by a killed writer tells the next one to delete files
the manifest does not list.

Why staging: single puts go to a per-group table in the same transaction as the online
row (one Parquet file per put would be slow and would bury the store in tiny files). Reads union
the staged rows with the files, and the buffer is flushed to Parquet once it holds
``FLUSH_ROWS`` rows, on ``flush()``, on ``compact()`` and when the store closes.
"""
from __future__ import annotations

import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np

from ..model import layout
from ..databases import Connection, run_script
from ..errors import StorageUnavailable, ValidationError
from ..common.sqltext import q, sql_list
from ..databases.ddl import add_columns_sql, columns_ddl
from ..model.schema import Feature, FeatureGroup, arrow_schema
from ..storage import Storage

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as ds

    from ..databases import Database
    from ..storage.encryption import ParquetKey

FLUSH_ROWS = 20_000
# How long files replaced by compaction stay readable (in _trash/) for queries that listed them.
TRASH_SECONDS = 600
META_COLUMNS = ("api_invocation_time", "write_time", "is_deleted", "_event_time", "_seq")
STAGING_INTERNAL = ("_event_us", "_write_us", "_api_us", "_seq", "_deleted")

SCHEMA = """
CREATE TABLE IF NOT EXISTS offline_files (
    group_name TEXT NOT NULL,
    path TEXT NOT NULL,
    rows INTEGER NOT NULL,
    min_event_us INTEGER,
    max_event_us INTEGER,
    min_write_us INTEGER,
    max_write_us INTEGER,
    bytes INTEGER NOT NULL,
    created_us INTEGER NOT NULL,
    feature_count INTEGER NOT NULL,
    definition_version INTEGER,
    PRIMARY KEY (group_name, path)
);
CREATE TABLE IF NOT EXISTS offline_growth (
    group_name TEXT NOT NULL,
    day INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (group_name, day)
);
"""


def init(conn: Connection, db: "Database") -> None:
    run_script(conn, SCHEMA)
    if "definition_version" not in db.columns(conn, "offline_files"):  # files from before versions: version 1
        conn.execute("ALTER TABLE offline_files ADD COLUMN definition_version INTEGER")


# ----------------------------------------------------------------------------- staging


def staging_table(group: str) -> str:
    return q(f"staging:{group}")


def create_staging(conn: Connection, group: FeatureGroup) -> None:
    internal = [f"{c} INTEGER NOT NULL" for c in STAGING_INTERNAL]
    conn.execute(f"CREATE TABLE {staging_table(group.name)} ({', '.join([*internal, *columns_ddl(group.features)])})")


def add_staging_columns(conn: Connection, group: str, features: Iterable[Feature]) -> None:
    for sql in add_columns_sql(staging_table(group), features):
        conn.execute(sql)


def stage_sql(group: FeatureGroup) -> str:
    cols = [*STAGING_INTERNAL, *map(q, group.feature_names)]
    return f"INSERT INTO {staging_table(group.name)} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"


def stage(conn: Connection, group: FeatureGroup, rows: list[tuple], sql: str | None = None) -> None:
    """Buffer rows (STAGING_INTERNAL then features); the caller counts them in ``registry.allocate``."""
    conn.executemany(sql or stage_sql(group), rows)


def staged_arrow(conn: Connection, group: FeatureGroup) -> "pa.Table":
    """The staged rows as an offline-schema Arrow table (empty if none)."""
    import pyarrow as pa

    from ..model.coerce import coerce_column

    schema = arrow_schema(group)
    cols = ", ".join([*STAGING_INTERNAL, *map(q, group.feature_names)])
    cur = conn.execute(f"SELECT {cols} FROM {staging_table(group.name)} ORDER BY _seq")
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    if not rows:
        return schema.empty_table()
    columns = dict(zip(names, zip(*rows)))
    ts = pa.timestamp("us", tz="UTC")
    arrays: dict[str, Any] = {}
    for f in group.features:
        values = columns.get(f.name, (None,) * len(rows))
        if f.is_collection:
            arrays[f.name] = coerce_column(f, pa.array(values, pa.string()), [])
        else:
            arrays[f.name] = pa.array(values, f.arrow_type())
    arrays["api_invocation_time"] = pa.array(columns["_api_us"], pa.int64()).cast(ts)
    arrays["write_time"] = pa.array(columns["_write_us"], pa.int64()).cast(ts)
    arrays["is_deleted"] = pa.array([bool(v) for v in columns["_deleted"]], pa.bool_())
    arrays["_event_time"] = pa.array(columns["_event_us"], pa.int64()).cast(ts)
    arrays["_seq"] = pa.array(columns["_seq"], pa.int64())
    return pa.table(arrays, schema=schema)


def clear_staging(conn: Connection, group: str) -> None:
    conn.execute(f"DELETE FROM {staging_table(group)}")
    conn.execute("UPDATE group_state SET staged_rows = 0 WHERE group_name = ?", (group,))


def drop_staging(conn: Connection, group: str) -> None:
    conn.execute(f"DROP TABLE IF EXISTS {staging_table(group)}")


# ----------------------------------------------------------------------------- files


STORE_MARKER = "_store"  # in the offline root: the id of the tables listing these files (see claim)


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the store root
    rows: int
    min_event_us: int
    max_event_us: int
    min_write_us: int
    max_write_us: int
    bytes: int
    feature_count: int  # a file holds the first feature_count features of its definition version
    version: int = 1  # the definition version it was written under (see ``model.versions``)


class OfflineFiles:
    """Writes, lists, compacts and repairs one store's Parquet files, wherever ``storage`` keeps them."""

    def __init__(self, storage: Storage, key: "ParquetKey | None" = None) -> None:
        self.storage = storage
        self.key = key  # an encrypted store's: every file is written and read with it
        self.write_options: dict[str, Any] = key.write_options if key else {}
        self.read_options: dict[str, Any] = key.read_options if key else {}
        # Sizes of listed files on an object store, where asking costs a request (see ``size``).
        self._sizes: dict[str, int] = {}

    def group_dir(self, group: FeatureGroup | str) -> str:
        name = group if isinstance(group, str) else group.name
        return self.storage.join(self.storage.base, name)

    def data_dir(self, group: FeatureGroup | str) -> str:
        return self.storage.join(self.group_dir(group), "data")

    def _marker(self, group: str) -> str:
        return self.storage.join(self.storage.base, "_inflight", group)

    # -- writing (caller holds the write transaction) --------------------------------------

    def write(self, conn: Connection, group: FeatureGroup, data: "pa.Table", now_us: int,
              on_rollback: Callable[[Callable[[], None]], None], progress: Any = None) -> list[FileEntry]:
        """Write ``data`` (offline schema) as one file per event-time partition and list them in the manifest.

        Must run inside the write transaction that also makes the rows visible elsewhere; if it
        rolls back, the files are deleted at once (``on_rollback``: the database's), so engines
        reading the folder as-is never see them.
        """
        if data.num_rows == 0:
            return []
        self.recover(conn, group.name)
        self.mark_inflight(group.name)
        entries = self.write_files(group, data, uuid.uuid4().hex[:12], progress)
        on_rollback(lambda: self.unwrite(entries))
        self.register(conn, group.name, entries, now_us, growth=True)
        return entries

    def unwrite(self, entries: list[FileEntry]) -> None:
        """Delete files a rolled-back write made (never listed; the marker stays for the next writer)."""
        for entry in entries:
            try:
                self.storage.remove(self.storage.full(entry.path))
            except OSError:  # left for the next writer's recovery, which the marker asks for
                pass

    def write_files(self, group: FeatureGroup, data: "pa.Table", batch: str, progress: Any = None) -> list[FileEntry]:
        """The files of a write, named ``part-<batch>-<n>``, not yet listed anywhere: the caller
        lists them (a Spark executor returns them to the driver, which does). A failed write
        takes its files back."""
        import pyarrow as pa

        event_us = data.column("_event_time").cast(pa.int64()).to_numpy()
        parts = layout.keys(group.partition_by, event_us)
        if (np.diff(parts) < 0).any():  # input already in partition order (and so seq order) needs no copy
            order = np.lexsort((data.column("_seq").to_numpy(), parts))
            parts, event_us = parts[order], event_us[order]
            data = data.take(pa.array(order))
        starts = np.concatenate(([0], np.flatnonzero(np.diff(parts)) + 1))
        ends = np.concatenate((starts[1:], [len(parts)]))
        write_us = data.column("write_time").cast(pa.int64()).to_numpy()
        # Dictionary-encode text only: on floats it costs time and saves nothing.
        dictionary_columns = [f.name for f in group.features if f.type == "String" and not f.is_collection]

        written: list[str] = []  # full paths, so a failed write can take its files back

        def write_slice(i: int) -> FileEntry:
            lo, hi = int(starts[i]), int(ends[i])
            folder = layout.folder(group.partition_by, int(parts[lo]))
            rel = "/".join(["offline", group.name, "data", *([folder] if folder else []), f"part-{batch}-{i:05d}.parquet"])
            final = self.storage.full(rel)
            written.append(final)
            size = self.storage.write_parquet(data.slice(lo, hi - lo), final, use_dictionary=dictionary_columns,
                                              **self.write_options)
            ev, wt = event_us[lo:hi], write_us[lo:hi]
            return FileEntry(rel, hi - lo, int(ev.min()), int(ev.max()), int(wt.min()), int(wt.max()),
                             size, len(group.features), group.version)

        # Progress is reported from this (the caller's) thread only: callers update UIs from it.
        # An object store's requests wait on the network, so it gets more writers than cores.
        entries: list[FileEntry] = []
        workers = 2 if self.storage.local else 8
        pooled = len(starts) > 8 or (not self.storage.local and len(starts) > 1)
        try:
            with ThreadPoolExecutor(max_workers=workers) if pooled else nullcontext() as pool:
                slices = range(len(starts))
                for entry in (pool.map(write_slice, slices) if pool else map(write_slice, slices)):
                    entries.append(entry)
                    if progress:
                        progress(entry.rows)
        except BaseException:
            self._take_back(group.name, written)
            raise
        return entries

    def _take_back(self, group: str, paths: list[str]) -> None:
        """Remove a failed write's files and the partition folders it left empty; the caller's
        transaction rolls back, so the manifest never listed them."""
        for path in paths:
            self.storage.remove(path)
        self.prune_empty(group)

    def prune_empty(self, group: str) -> None:
        """Remove empty partition folders under the group's data folder."""
        self.storage.prune_empty(self.data_dir(group))

    def register(self, conn: Connection, group: str, entries: list[FileEntry], now_us: int,
                 growth: bool = False) -> None:
        """List files in the manifest; ``growth`` counts them as new data of the day (a compaction's
        rewrites are not)."""
        conn.executemany(
            "INSERT INTO offline_files VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [(group, e.path, e.rows, e.min_event_us, e.max_event_us, e.min_write_us, e.max_write_us, e.bytes, now_us,
              e.feature_count, e.version) for e in entries],
        )
        if growth and entries:
            conn.execute(
                "INSERT INTO offline_growth VALUES (?, ?, ?, ?) ON CONFLICT (group_name, day) DO UPDATE SET "
                "rows = offline_growth.rows + excluded.rows, bytes = offline_growth.bytes + excluded.bytes",
                (group, now_us // 86_400_000_000, sum(e.rows for e in entries), sum(e.bytes for e in entries)))

    def claim(self, conn: Connection, store_id: str) -> None:
        """Check, before anything is read or written, that this process sees the store's files: for
        a store whose tables other machines open, the offline root holds a marker naming them. A
        process whose offline location points elsewhere (a folder not mounted there, or the default
        ``offline/`` of a folder holding only a copy of featurestore.yaml) would otherwise read no
        history and write files no other process sees. The first opener (or the first since markers
        exist, if the files it lists are there) writes the marker."""
        marker = self.storage.join(self.storage.base, STORE_MARKER)
        found = self.storage.read_text(marker)
        fix = ("set `offline:` in this folder's featurestore.yaml (or, opening the store by its URL, "
               "FeatureStore(URL, offline=...)) to the store's offline location: s3://..., or where this "
               "machine mounts its folder")
        if found is not None:
            if found.strip() != store_id:
                raise ValidationError(f"The offline files at {self.storage.uri} belong to another store (its tables "
                                      f"are {found.strip()!r}, this store's {store_id!r}); {fix}",
                                      offline=self.storage.uri)
            return
        listed = conn.execute("SELECT path FROM offline_files LIMIT 1").fetchone()
        if listed is not None and not self.storage.exists(self.storage.full(listed[0])):
            raise ValidationError(f"This store's offline files are not at {self.storage.uri} as seen from this "
                                  f"machine (it lists {listed[0]}, which is not there); {fix}",
                                  offline=self.storage.uri)
        self.storage.write_text(marker, store_id)

    def mark_inflight(self, group: str) -> None:
        """Leave the marker that tells the next writer to clear unlisted files if this one dies."""
        self.storage.write_text(self._marker(group), str(os.getpid()))

    def committed(self, group: str) -> None:
        """Called after the transaction that listed the files commits: the write is whole. So an
        object store failing now must not fail the write (a retry would store it twice): the marker
        left costs the next writer only a recovery scan, which finds every file listed."""
        try:
            self.storage.remove(self._marker(group))
        except StorageUnavailable:
            pass

    def interrupted(self) -> list[str]:
        """Groups with a writer's marker: a write was under way or was killed."""
        return self.storage.names(self.storage.join(self.storage.base, "_inflight"))

    def recover(self, conn: Connection, group: str) -> int:
        """Delete files a killed writer left behind; the caller holds the write lock.

        Holding the lock means no live writer is mid-write, so any data file the manifest does
        not list belongs to a writer that died before its commit.
        """
        if not self.storage.exists(self._marker(group)):
            return 0
        listed = {self.storage.full(p) for (p,) in
                  conn.execute("SELECT path FROM offline_files WHERE group_name = ?", (group,))}
        removed = 0
        for f in self.storage.files(self.data_dir(group)):
            if f.path.endswith(".tmp") or (f.path.endswith(".parquet") and f.path not in listed):
                self.storage.remove(f.path)
                removed += 1
        self.prune_empty(group)
        self.committed(group)
        return removed

    # -- reading -----------------------------------------------------------------------------

    def listed(self, conn: Connection, group: str, max_event_us: int | None = None,
               max_write_us: int | None = None, min_event_us: int | None = None,
               after_write_us: int | None = None) -> dict[tuple[int, int], list[str]]:
        """Full paths of the group's files that may hold rows within the bounds (event times
        up to ``max_event_us`` and from ``min_event_us``, written up to ``max_write_us`` and after
        ``after_write_us``), by what they hold: (definition version, feature count)."""
        sql = ("SELECT coalesce(definition_version, 1), feature_count, path, bytes FROM offline_files "
               "WHERE group_name = ?")
        args: list[Any] = [group]
        for column, op, bound in (("min_event_us", "<=", max_event_us), ("min_write_us", "<=", max_write_us),
                                  ("max_event_us", ">=", min_event_us), ("max_write_us", ">", after_write_us)):
            if bound is not None:
                sql += f" AND {column} {op} ?"
                args.append(bound)
        out: dict[tuple[int, int], list[str]] = {}
        remote = not self.storage.local
        for version, count, path, size in conn.execute(sql + " ORDER BY path", args):
            full = self.storage.full(path)
            out.setdefault((version, count), []).append(full)
            if remote:
                self._sizes[full] = size
        return out

    def size(self, path: str) -> int:
        """A listed file's size: from the listing on an object store, else asked of the disk."""
        known = self._sizes.get(path)
        return known if known is not None else self.storage.size(path)

    def read_table(self, path: str) -> "pa.Table":
        return self.storage.read_table(path, **self.read_options)

    def scan_sql(self, con: Any, source: str, group: FeatureGroup, feature_count: int, paths: list[str]) -> str:
        """A DuckDB SELECT over files holding the group's first ``feature_count`` features. Plain
        files on disk are DuckDB's own ``read_parquet``; encrypted files (DuckDB 2.0's decryption
        fails on nested columns and on column chunks of several pages) and files on an object
        store (no DuckDB extension needed) are a pyarrow dataset registered as ``source``, both
        scanned lazily."""
        if self.key is None and self.storage.local:
            return f"SELECT * FROM read_parquet({sql_list(paths)}, hive_partitioning = false)"
        con.register(source, self.dataset(group, feature_count, paths))
        return f"SELECT * FROM {q(source)}"

    def sql_folders(self, groups: Iterable[str] | None) -> list[str]:
        """The folders a user's DuckDB SQL may read files from (the groups', or the whole offline
        folder): none on an object store, whose files are read through pyarrow."""
        if not self.storage.local:
            return []
        return [self.storage.base] if groups is None else [self.group_dir(g) for g in sorted(groups)]

    def dataset(self, group: FeatureGroup, feature_count: int, paths: list[str]) -> "ds.Dataset":
        """Files holding the group's first ``feature_count`` features as one lazily scanned
        dataset (decrypted with the store's key if it has one)."""
        import pyarrow as pa

        full = arrow_schema(group)
        names = {f.name for f in group.features[:feature_count]} | set(META_COLUMNS)
        schema = pa.schema([f for f in full if f.name in names])
        return self.storage.dataset(paths, schema, self.read_options.get("decryption_properties"))

    def stats(self, conn: Connection, group: str) -> dict[str, Any]:
        rows, files, size, last, oldest = conn.execute(
            "SELECT coalesce(sum(rows), 0), count(*), coalesce(sum(bytes), 0), max(max_write_us), min(min_event_us) "
            "FROM offline_files WHERE group_name = ?",
            (group,),
        ).fetchone()
        return {"rows": rows, "files": files, "bytes": size, "last_file_write_us": last, "oldest_event_us": oldest}

    # -- compaction support (see offline.compaction) ------------------------------------

    def discard(self, group: str, paths: list[str]) -> None:
        """Move files that compaction replaced out of the data folder, where other engines look,
        into ``_trash/``, where queries that listed them before the swap still find them
        (see ``readable``). Trash older than TRASH_SECONDS is deleted."""
        data = self.data_dir(group) + self.storage.sep
        trash = self.storage.join(self.group_dir(group), "_trash") + self.storage.sep
        for path in paths:
            if path.startswith(data):
                self.storage.move(path, trash + path[len(data):])
            else:
                self.storage.remove(path)
            self._sizes.pop(path, None)
        cutoff = time.time() - TRASH_SECONDS
        for f in self.storage.files(trash.rstrip(self.storage.sep)):
            if f.mtime < cutoff:
                self.storage.remove(f.path)

    def readable(self, group: str, paths: list[str]) -> list[str]:
        """``paths`` with each file compaction has since moved to ``_trash/`` replaced by its new
        place (on an object store, one listing of the trash rather than a request per file)."""
        if not paths:
            return paths
        data = self.data_dir(group) + self.storage.sep
        trash = self.storage.join(self.group_dir(group), "_trash") + self.storage.sep
        if self.storage.local:
            return [p if os.path.exists(p) or not p.startswith(data) else trash + p[len(data):] for p in paths]
        trashed = {f.path for f in self.storage.files(trash.rstrip("/"))}
        return [trash + p[len(data):] if p.startswith(data) and trash + p[len(data):] in trashed else p
                for p in paths]

    # -- group lifecycle ---------------------------------------------------------------------

    def retire(self, group: str) -> str | None:
        """Move a deleted group's kept files aside so a new group of that name starts empty."""
        dst = self.storage.join(self.storage.base, "_retired",
                                f"{group}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}")
        return dst if self.storage.move_tree(self.group_dir(group), dst) else None

    def purge(self, group: str) -> None:
        self.storage.remove_tree(self.group_dir(group))

    def forget(self, conn: Connection, group: str) -> None:
        conn.execute("DELETE FROM offline_files WHERE group_name = ?", (group,))
        conn.execute("DELETE FROM offline_growth WHERE group_name = ?", (group,))
