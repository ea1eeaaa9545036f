"""What the engine needs of the database holding a store's registry, manifest, staging buffer,
lineage, quality, pipeline and audit tables (and, by default, its online rows).

Modules get connections from ``Database`` and speak one SQL to them: SQLite's, kept to what
PostgreSQL also understands (``?`` placeholders, ``ON CONFLICT`` upserts, ``RETURNING``, ``CASE``,
no bare integers as booleans). Each backend bridges the rest, so no module outside
``store.databases`` knows which database it talks to.
"""
from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from typing import Any, Callable, Iterable, Protocol, Sequence

from ..errors import ValidationError


class Cursor(Protocol):
    rowcount: int
    description: Any

    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Any: ...


class Connection(Protocol):
    """A DB-API connection as sqlite3's: ``execute`` returns a cursor; no implicit transactions."""

    in_transaction: bool

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Cursor: ...
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any: ...


class Database(ABC):
    """Connections to one store's database, one per thread and process."""

    name: str  # "sqlite" or "postgresql", as shown to users
    url: str  # where it is, without credentials
    max_features: int  # per group: each has a staging table of features plus five internal columns
    # Names this store's tables to processes on other machines (written beside its offline files,
    # so each opener can tell it sees the same files); None when only this machine opens them.
    shared_id: str | None = None
    shared_url: str | None = None  # the URL other machines open the store by (see ``shared``)

    def check_width(self, group: str, features: int) -> None:
        """Refuse a group wider than this database's tables can hold, saying why."""
        from ..model.schema import MAX_FEATURES

        if features > self.max_features:
            where = "" if self.max_features == MAX_FEATURES else (
                f" (a store whose registry is on {self.name} holds at most {self.max_features} features per group: "
                "its tables stop at 1,600 columns)")
            raise ValidationError(f"Feature group {group!r} would have {features} features; at most "
                                  f"{self.max_features}{where}", group=group)

    @abstractmethod
    def get(self) -> Connection:
        """This thread's connection, outside any transaction: each statement commits on its own."""

    @abstractmethod
    def write(self) -> AbstractContextManager[Connection]:
        """A write transaction holding the store's write lock until it ends: writers queue, one at a
        time, and each sees every earlier writer's commit."""

    @abstractmethod
    def read(self) -> AbstractContextManager[Connection]:
        """A read transaction: every query inside sees the same committed snapshot."""

    @abstractmethod
    def on_rollback(self, undo: Callable[[], None]) -> None:
        """Call ``undo`` if this thread's write transaction rolls back (or fails to commit)."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def schema_version(self, conn: Connection) -> int:
        """The version of the store's tables (0 for a new store)."""

    @abstractmethod
    def set_schema_version(self, conn: Connection, version: int) -> None: ...

    @abstractmethod
    def columns(self, conn: Connection, table: str) -> set[str]:
        """Column names of ``table`` (unquoted name), for migrations."""

    @abstractmethod
    def table_bytes(self, conn: Connection, table: str) -> int | None:
        """Bytes of ``table`` and its indexes; None where the database cannot tell."""

    def any_of(self, column: str, values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
        """A condition that ``column`` (quoted) is one of ``values``, and its parameters: an IN
        list here; a server database may take the list as one array parameter (one statement
        for every length)."""
        return f"{column} IN ({', '.join('?' * len(values))})", tuple(values)

    def registry_version(self, conn: Connection, read: Callable[[Connection], int]) -> int:
        """The registry's change counter (``read`` reads it), which every cached definition is
        checked against before use. A backend on a server may answer from what it was told."""
        return read(conn)

    def changes(self, conn: Connection) -> int | None:
        """A count that moves whenever ``conn`` writes (SQLite's total_changes), or None where the
        backend cannot tell cheaply: a value read before it moved may be stale."""
        return None


def errors(name: str) -> tuple[type[Exception], ...]:
    """The DB-API exception class ``name`` (``IntegrityError``, ``OperationalError``, ...) of every
    database driver loaded (sqlite3, sqlcipher3, psycopg), for ``except`` clauses that must catch
    whichever raised it."""
    import sqlite3

    found: tuple[type[Exception], ...] = (getattr(sqlite3, name),)
    for module in ("sqlcipher3.dbapi2", "psycopg"):
        loaded: Any = sys.modules.get(module)
        if loaded is not None:
            found += (getattr(loaded, name),)
    return found
