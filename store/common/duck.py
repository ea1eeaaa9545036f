"""One DuckDB database per process for the engine's own queries, handed out as cursors.

Opening a DuckDB database costs ~14 ms; a cursor on an open one costs microseconds and keeps its
registered tables and temporary views to itself, so every read gets a private cursor on a shared
database. Sharing also keeps Parquet footers in DuckDB's metadata cache between queries (the
store never rewrites a file in place, so a cached footer stays true). A forked child opens its
own database. User SQL runs elsewhere, in a locked-down database per store (see ``sandbox``).
"""
from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import duckdb

_lock = threading.Lock()
_shared: tuple[int, "duckdb.DuckDBPyConnection"] | None = None
SETTINGS = (
    # Never plan an ASOF join as a nested loop, whatever DuckDB guesses about input sizes.
    "SET GLOBAL asof_loop_join_threshold = 0",
    "SET GLOBAL parquet_metadata_cache = true",
    "SET GLOBAL TimeZone = 'UTC'",  # the store's instants are UTC; statistics bucket them in UTC
)


def cursor() -> "duckdb.DuckDBPyConnection":
    """A fresh cursor (use it as a context manager) on this process's shared database."""
    global _shared
    with _lock:
        if _shared is None or _shared[0] != os.getpid():
            import duckdb

            con = duckdb.connect()
            for statement in SETTINGS:
                con.execute(statement)
            _shared = (os.getpid(), con)
        return _shared[1].cursor()


def sandbox(allowed_folder: str | Sequence[str], allowed_files: Sequence[str] = ()) -> "duckdb.DuckDBPyConnection":
    """A database for user SQL that can read files under ``allowed_folder`` (one or several)
    and the ``allowed_files`` themselves (not their neighbours) only, with its configuration
    locked so a query cannot loosen it. Keep it, and take cursors from it."""
    import duckdb

    con = duckdb.connect()
    for statement in SETTINGS:
        con.execute(statement)
    folders = [allowed_folder] if isinstance(allowed_folder, str) else list(allowed_folder)
    quoted = ", ".join("'" + (f.rstrip(os.sep) + os.sep).replace("'", "''") + "'" for f in folders)
    con.execute(f"SET allowed_directories = [{quoted}]")
    if allowed_files:
        files = ", ".join("'" + f.replace("'", "''") + "'" for f in allowed_files)
        con.execute(f"SET allowed_paths = [{files}]")
    con.execute("SET enable_external_access = false")
    # No extension is installed or loaded for a query (sqlite_scan, postgres_scan, ...): each is a
    # new door out of the store, and autoloading would also try to write under the home folder.
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")
    return con


class Sandboxes:
    """One store's sandbox databases in this process, one per set of readable folders (a forked
    child makes its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = -1
        self._databases: dict[tuple[str, ...], "duckdb.DuckDBPyConnection"] = {}

    def cursor(self, folders: Sequence[str]) -> "duckdb.DuckDBPyConnection":
        key = tuple(folders)
        with self._lock:
            if self._pid != os.getpid():
                self._pid, self._databases = os.getpid(), {}
            if key not in self._databases:
                self._databases[key] = sandbox(list(folders))
            return self._databases[key].cursor()
