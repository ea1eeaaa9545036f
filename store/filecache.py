"""Decoded small Parquet files, kept in memory for the reads of this process.

A sparse group in a day layout is many small files, and opening a file costs DuckDB far more
than reading fifty rows from it; so files under ``SMALL_FILE_BYTES`` are decoded once and kept
(least recently used first out, ``FEATURESTORE_READ_CACHE_MB``, default 256 MB, in all), and a
read scans them as one Arrow table. The store never changes a file in place (a rewrite is a new
name), and entries are keyed by path, size and modification time, so a cached table is always
the file's content.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

SMALL_FILE_BYTES = 1 << 20


class SmallFiles:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._tables: OrderedDict[tuple[str, int, int], "pa.Table"] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def split(self, paths: list[str]) -> tuple[list[tuple[str, int, int]], list[str]]:
        """(keys of the small files, paths of the others)."""
        small, large = [], []
        for path in paths:
            try:
                st = os.stat(path)
            except FileNotFoundError:
                large.append(path)  # let the reader report it (or retry after compaction moved it)
                continue
            if st.st_size < SMALL_FILE_BYTES and self.max_bytes:
                small.append((path, st.st_size, st.st_mtime_ns))
            else:
                large.append(path)
        return small, large

    def tables(self, keys: list[tuple[str, int, int]]) -> list["pa.Table"]:
        """The files' tables, read now where not kept yet."""
        import pyarrow.parquet as pq

        out = []
        for key in keys:
            with self._lock:
                table = self._tables.get(key)
                if table is not None:
                    self._tables.move_to_end(key)
            if table is None:
                table = pq.read_table(key[0])
                self._keep(key, table)
            out.append(table)
        return out

    def _keep(self, key: tuple[str, int, int], table: "pa.Table") -> None:
        with self._lock:
            if key in self._tables:
                return
            self._tables[key] = table
            self._bytes += table.nbytes
            while self._bytes > self.max_bytes and self._tables:
                _, old = self._tables.popitem(last=False)
                self._bytes -= old.nbytes


CACHE = SmallFiles(int(float(os.environ.get("FEATURESTORE_READ_CACHE_MB", "256")) * (1 << 20)))
