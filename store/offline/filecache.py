"""Decoded small Parquet files, kept in memory for the reads of this process.

A sparse group in a day layout is many small files, and opening a file costs DuckDB far more
than reading fifty rows from it; so files under ``SMALL_FILE_BYTES`` are decoded once and kept
(least recently used first out, ``FEATURESTORE_READ_CACHE_MB``, default 256 MB, in all), and a
read scans them as one Arrow table. The store never changes a file in place and never reuses a
name (a rewrite is a new uuid-named file; compaction's trash keeps the old name under _trash/),
so a table kept under its path is always that file's content.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import pyarrow as pa

SMALL_FILE_BYTES = 1 << 20


class SmallFiles:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._tables: OrderedDict[str, "pa.Table"] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def take(self, paths: list[str], size: Callable[[str], int],
             read: Callable[[str], "pa.Table"]) -> tuple[list["pa.Table"], list[str]]:
        """(tables of the paths kept or small enough to keep, the other paths). A path that no
        longer exists is among the others, for the caller's reader to report or retry.
        ``size`` and ``read`` are the storage's (see ``offline.OfflineFiles``)."""
        kept: dict[str, "pa.Table"] = {}
        wanted, others = [], []
        for path in paths:
            with self._lock:
                table = self._tables.get(path)
                if table is not None:
                    self._tables.move_to_end(path)
            if table is not None:
                kept[path] = table
                continue
            try:
                small = self.max_bytes and size(path) < SMALL_FILE_BYTES
            except FileNotFoundError:
                small = False
            (wanted if small else others).append(path)
        # Files are decoded on threads: pyarrow releases the GIL, and an object store's reads wait on the network.
        if len(wanted) > 1:
            with ThreadPoolExecutor(max_workers=min(8, len(wanted))) as pool:
                read_now = dict(zip(wanted, pool.map(read, wanted)))
        else:
            read_now = {p: read(p) for p in wanted}
        for path, table in read_now.items():
            self._keep(path, table)
        kept |= read_now
        return [kept[p] for p in paths if p in kept], others

    def __contains__(self, path: str) -> bool:
        with self._lock:
            return path in self._tables

    def _keep(self, path: str, table: "pa.Table") -> None:
        with self._lock:
            if path in self._tables:
                return
            self._tables[path] = table
            self._bytes += table.nbytes
            while self._bytes > self.max_bytes and self._tables:
                _, old = self._tables.popitem(last=False)
                self._bytes -= old.nbytes


CACHE = SmallFiles(int(float(os.environ.get("FEATURESTORE_READ_CACHE_MB", "256")) * (1 << 20)))
