"""The online store in the store's own database (the default: its SQLite file, or its schema on
PostgreSQL): one table per group, written inside the same transaction as the offline buffer and
manifest (see ``store.online.sqlite_tables``), so online and offline change together with no outbox."""
from __future__ import annotations

from functools import lru_cache
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from .. import registry
from ..databases import Connection
from . import sqlite_tables as tables
from ..common.sqltext import q
from ..model.schema import Feature, FeatureGroup, stored_definitions
from .base import OnlineBackend, Reader, Row

if TYPE_CHECKING:
    from ..databases import Database

CHUNK = 500  # identifiers per IN (...) query
KEY_CHUNK = 100  # keys of several columns per query: each is an (a = ? AND b = ?) term of an OR


class DatabaseOnline(OnlineBackend):
    def __init__(self, conns: "Database") -> None:
        self.conns = conns
        self.name = conns.name
        self.url = conns.url

    def create(self, conn: Connection, group: FeatureGroup) -> None:
        tables.create_table(conn, group, sqlite=self.conns.name == "sqlite")

    def add_columns(self, conn: Connection, group: str, features: Iterable[Feature]) -> None:
        tables.add_columns(conn, group, features)

    def change(self, conn: Connection, old: FeatureGroup, new: FeatureGroup) -> None:
        tables.change(conn, old, new)

    def drop(self, conn: Connection, group: FeatureGroup) -> None:
        tables.drop_table(conn, group.name)

    def upsert(self, conn: Connection, group: FeatureGroup, rows: Sequence[Row], now_us: int) -> None:
        conn.executemany(_upsert_sql(group), [(*row, now_us) for row in rows])

    def current(self, conn: Connection, group: FeatureGroup, record_id: Any) -> tuple[int, int, int | None] | None:
        return tables.current(conn, group, record_id)

    def remove(self, conn: Connection, group: FeatureGroup, record_id: Any, event_us: int,
               write_us: int) -> None:
        tables.remove(conn, group, record_id)  # in the transaction that checked the stored row

    def get(self, group: FeatureGroup, record_id: Any, now_us: int) -> Row | None:
        return self.conns.get().execute(_select_sql(group, None),
                                        (*tables.key_args(group, record_id), now_us)).fetchone()

    def get_many(self, group: FeatureGroup, record_ids: Sequence[Any], now_us: int) -> dict[Any, Row]:
        key, chunk = key_of_row(group, 1), chunk_of(group)
        conn, found = self.conns.get(), {}
        for start in range(0, len(record_ids), chunk):
            where, args = any_key(self.conns, group, "", record_ids[start:start + chunk])
            for row in conn.execute(_select_sql(group, where), (*args, now_us)):
                found[key(row)] = row
        return found

    def each_reader(self, groups: Sequence[FeatureGroup]) -> Callable[[Sequence[Any]], Row] | None:
        """For SQLite: a read of one identifier's row in each of ``groups`` and the registry version
        in one statement (``sqlite_tables.each_sql``), called with the key parameters; None elsewhere
        (a server database's registry version is not a row to read)."""
        if self.conns.name != "sqlite":
            return None
        sql, conns = tables.each_sql(groups), self.conns
        return lambda args: conns.get().execute(sql, args).fetchone()

    def reader(self, group: FeatureGroup) -> Reader:
        return DatabaseReader(self, group)

    def raw(self, group: FeatureGroup, record_id: Any) -> dict[str, Any] | None:
        cols = ", ".join([*tables.INTERNAL, *map(q, group.feature_names)])  # named: a new feature changes *
        cur = self.conns.get().execute(
            f"SELECT {cols} FROM {tables.table(group.name)} WHERE {tables.key_where(group)}",
            tables.key_args(group, record_id))
        row = cur.fetchone()
        return None if row is None else dict(zip([d[0] for d in cur.description], row))

    def ids(self, group: FeatureGroup, now_us: int, after: Any, limit: int, include_deleted: bool) -> list[Any]:
        return tables.ids(self.conns.get(), group, now_us, after, limit, include_deleted)

    def count(self, group: FeatureGroup, now_us: int) -> int:
        return tables.count(self.conns.get(), group, now_us)

    def size_bytes(self, conn: Connection, group: FeatureGroup) -> int | None:
        return self.conns.table_bytes(conn, f"online:{group.name}")

    def expired(self, conn: Connection, group: FeatureGroup, now_us: int) -> list[tuple[Any, int]]:
        return tables.expired(conn, group, now_us)

    def remove_expired(self, conn: Connection, group: FeatureGroup, records: list[tuple[Any, int]],
                       now_us: int) -> None:
        tables.remove_expired(conn, group, now_us)


class DatabaseReader(Reader):
    """Reads by statements written once per definition. On SQLite they can read the registry
    version too (see ``sqlite_tables.lookup_sql``); a server database knows the version without a
    read (``Database.registry_version``), so there they do not."""

    def __init__(self, backend: DatabaseOnline, group: FeatureGroup) -> None:
        super().__init__(backend, group)
        self.conns = backend.conns
        self.versioned = backend.conns.name == "sqlite"
        self.key = key_of_row(group, 0)
        self.composite = group.composite
        self.one_sql = tables.lookup_sql(group)
        self.one_versioned_sql = tables.lookup_sql(group, versioned=True)
        self.many_sql: dict[str, str] = {}  # by the IN (...) condition

    def one(self, record_id: Any, now_us: int) -> Row | None:
        args = (*record_id, now_us) if self.composite else (record_id, now_us)
        return self.conns.get().execute(self.one_sql, args).fetchone()

    def one_versioned(self, record_id: Any, now_us: int) -> tuple[int | None, Row | None]:
        args = (*record_id, now_us) if self.composite else (record_id, now_us)
        row = self.conns.get().execute(self.one_versioned_sql, args).fetchone()
        if row is None:  # no version row: never in a store whose tables exist
            return None, None
        return row[-1], (None if row[-2] is None else row)

    def many(self, record_ids: Sequence[Any], now_us: int) -> dict[Any, Row]:
        return self._many(record_ids, now_us, False)[1]

    def many_versioned(self, record_ids: Sequence[Any], now_us: int) -> tuple[int | None, dict[Any, Row]]:
        return self._many(record_ids, now_us, True)

    def _many(self, record_ids: Sequence[Any], now_us: int, versioned: bool) -> tuple[int | None, dict[Any, Row]]:
        conn, key, found, chunk = self.conns.get(), self.key, {}, chunk_of(self.group)
        for start in range(0, len(record_ids), chunk):
            where, args = any_key(self.conns, self.group, "t.", record_ids[start:start + chunk])
            sql = self.many_sql.get(where)
            if sql is None:
                sql = self.many_sql[where] = tables.lookup_sql(self.group, where)
            rows = conn.execute(sql, (*args, now_us)).fetchall()
            found.update(zip(map(key, rows), rows))
        # Read after the rows, not joined to them (per row, the join costs more than a read of its
        # own): the counter only grows, so the version it has now is the one it had before.
        return (self.conns.registry_version(conn, registry.version) if versioned else None), found


def key_of_row(group: FeatureGroup, offset: int) -> Callable[[Row], Any]:
    """A row's key, where the features start at ``offset``: a value, or a tuple for a composite key."""
    positions = [group.feature_names.index(n) + offset for n in group.identifiers]
    if not group.composite:
        return itemgetter(positions[0])
    get = itemgetter(*positions)
    return lambda row: get(row)


def any_key(conns: "Database", group: FeatureGroup, prefix: str, keys: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
    """A condition that a row's key is one of ``keys``, and its parameters (``Database.any_of``
    for one column; for several, an OR of each key's equalities, which SQLite answers with one
    primary-key search per key, where a row-value IN (VALUES ...) would scan the table)."""
    if not group.composite:
        return conns.any_of(f"{prefix}{q(group.identifiers[0])}", keys)
    one = f"({tables.key_where(group, prefix)})"
    return f"({' OR '.join([one] * len(keys))})", tuple(v for k in keys for v in k)


def chunk_of(group: FeatureGroup) -> int:
    return KEY_CHUNK if group.composite else CHUNK


@lru_cache(maxsize=1024)
def _sql_for(kind: str, name: str, rid: tuple[str, ...], names: tuple[str, ...], where: str | None) -> str:
    with stored_definitions():  # the names are a stored group's, which may predate a reserved one
        group = FeatureGroup(name=name, identifiers=rid, event_time=names[0],
                             features=tuple(Feature(n) for n in names))
    return tables.upsert_sql(group) if kind == "upsert" else tables.select_sql(group, names, where=where)


def _upsert_sql(group: FeatureGroup) -> str:
    """Cached per schema, so SQLite reuses its prepared statement."""
    return _sql_for("upsert", group.name, group.identifiers, tuple(group.feature_names), None)


def _select_sql(group: FeatureGroup, where: str | None) -> str:
    """One identifier's row (``where`` None), or those ``where`` (from ``Database.any_of``) picks."""
    return _sql_for("select", group.name, group.identifiers, tuple(group.feature_names), where)
