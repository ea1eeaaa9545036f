"""SQLite used safely by construction: WAL, busy_timeout, short transactions, a connection per thread.

Streamlit serves each browser session on its own thread and the HTTP server may run several
workers, so connections are never shared: ``Connections`` hands each thread (and each forked
process) its own. Writers take the lock up front (``BEGIN IMMEDIATE``) so two writers queue on
``busy_timeout`` instead of failing with "database is locked" on a read-to-write upgrade.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from contextlib import contextmanager
from typing import Callable, Iterator

from ..model.schema import MAX_FEATURES
from ..errors import FeatureStoreError, is_storage_full, storage_full
from .base import Database, errors

BUSY_TIMEOUT_MS = 120_000
_pid = os.getpid()  # kept by a fork hook: os.getpid() is a system call, and ``get`` runs on every read


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


class _Connection(sqlite3.Connection):
    """A connection that can be weakly referenced, so a finished thread's connection is freed."""


def connect(path: str, key: bytes | None = None) -> sqlite3.Connection:
    """A connection in the store's settings; with ``key``, to a SQLCipher database (AES-256),
    through sqlcipher3, whose connections behave as sqlite3's."""
    if key is None:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False,
                               factory=_Connection)
    else:
        conn = cipher_connection(path)
        conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    # NORMAL in WAL mode survives a killed process; only a power cut can lose the last commits.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def cipher_connection(path: str) -> sqlite3.Connection:
    """A SQLCipher connection to ``path``, not yet keyed (``PRAGMA key`` is the caller's: a
    store's open gives its key, a key change attaches a copy under the new one)."""
    try:
        from sqlcipher3 import dbapi2
    except ImportError:
        from ..errors import ValidationError

        raise ValidationError("This store is encrypted, and opening its database needs sqlcipher3: "
                              "pip install 'featurestore[encryption]'") from None

    class _CipherConnection(dbapi2.Connection):  # weakly referenceable, as _Connection
        pass

    return dbapi2.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False,
                          factory=_CipherConnection)


class Connections(Database):
    """One SQLite connection per thread and process for a database file."""

    name = "sqlite"
    max_features = MAX_FEATURES  # SQLite's 2,000 columns less the staging table's internal ones

    def __init__(self, path: str, key: bytes | None = None) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        self.key = key
        self._local = threading.local()
        # Weak, so connections of threads that ended (Streamlit runs each rerun on a new thread) close.
        self._all: weakref.WeakSet[sqlite3.Connection] = weakref.WeakSet()
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "pid", None) != _pid:  # a new thread, or a forked child: a connection of its own
            local.conn = connect(self.path, self.key)
            local.pid = _pid
            with self._lock:
                self._all.add(local.conn)
        return local.conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the database's write lock until it ends."""
        conn = self.get()
        conn.execute("BEGIN IMMEDIATE")
        self._local.undo = []
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for undo in self._local.undo:
                undo()
            if is_storage_full(exc) and not isinstance(exc, FeatureStoreError):  # rolled back: say so, not errno 28
                raise storage_full(exc) from exc
            raise
        finally:
            self._local.undo = []

    def on_rollback(self, undo: Callable[[], None]) -> None:
        """Call ``undo`` if this thread's write transaction rolls back (or fails to commit)."""
        self._local.undo.append(undo)

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same committed snapshot."""
        conn = self.get()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            for conn in list(self._all):
                try:
                    conn.close()
                except errors("ProgrammingError"):  # closed from its own thread already
                    pass
            self._all.clear()
        self._local = threading.local()

    def changes(self, conn: sqlite3.Connection) -> int | None:
        return conn.total_changes

    def schema_version(self, conn: sqlite3.Connection) -> int:
        return conn.execute("PRAGMA user_version").fetchone()[0]

    def set_schema_version(self, conn: sqlite3.Connection, version: int) -> None:
        conn.execute(f"PRAGMA user_version = {int(version)}")

    def columns(self, conn: sqlite3.Connection, table: str) -> set[str]:
        return {row[1] for row in conn.execute("SELECT * FROM pragma_table_info(?)", (table,))}

    def table_bytes(self, conn: sqlite3.Connection, table: str) -> int | None:
        """SQLite's own page count for the table and its indexes; None where SQLite has no dbstat."""
        try:
            row = conn.execute(
                "SELECT sum(pgsize) FROM dbstat WHERE aggregate = TRUE AND name IN "
                "(SELECT name FROM sqlite_schema WHERE tbl_name = ?)", (table,)).fetchone()
        except errors("OperationalError"):
            return None
        return int(row[0] or 0)

