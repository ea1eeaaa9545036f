"""PostgreSQL as the online store (``online: postgresql://...`` in ``featurestore.yaml``).

A schema per store (``online_prefix``), a table per group incarnation (``online:<group>:<created
microsecond>``, so a group deleted and made again never shares a table with its namesake) with
the SQLite online table's columns: ``_event_us``, ``_write_us``, ``_expires_us``, ``_deleted``,
then the features typed BIGINT, DOUBLE PRECISION or TEXT (collections as JSON text), readable by
any SQL client. PostgreSQL caps a table at 1,600 columns, so a group on this backend has at most
``MAX_FEATURES`` features (1,995 elsewhere). The newest-wins rule is one ``INSERT ... ON CONFLICT DO UPDATE ...
WHERE`` statement, atomic per row whatever the order writes arrive in. Connections come from a
psycopg 3 pool. With the registry still in SQLite, writes reach PostgreSQL through the outbox
(see ``outbox``). A feature service's vector reads every group in one REPEATABLE READ transaction
(``many_groups``), so it is one snapshot.

A table's comment names the definition version its columns follow (none: 1). A definition change
is applied by ``reconcile``, which steps the table through every version since, in one transaction
of its own: through the outbox after the change commits, and by any write or read that meets the
table behind (one waiting in the outbox, or another process's). A write recorded under an earlier
version is translated by feature id, so it lands whole whichever comes first.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence, TypeVar

from ..common.sqltext import q
from ..databases import Connection
from ..databases.postgres_db import close_quietly, unavailable, usable
from ..errors import NotFound, ValidationError
from ..model.schema import Feature, FeatureGroup
from .base import EARLIEST, Reader, Row
from .outbox import OutboxBackend

if TYPE_CHECKING:
    from ..databases import Database

PAYLOAD_ROWS = 5_000
MAX_FEATURES = 1_590  # PostgreSQL's 1,600 columns less the four internal ones, with room to spare
T = TypeVar("T")
PG_TYPES = {"Integral": "BIGINT", "Fractional": "DOUBLE PRECISION", "String": "TEXT"}
COMMENT = "featurestore definition v"  # a table's comment: the definition version its columns follow


class PostgresOnline(OutboxBackend):
    name = "postgresql"

    def __init__(self, url: str, prefix: str, conns: "Database") -> None:
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError:
            raise ValidationError("online: postgresql:// needs psycopg 3 (pip install 'featurestore[postgres]')") from None
        self.url = url
        self.schema = prefix.strip(":").replace(":", "_")
        try:  # one plain connection first: its error says what is wrong (the pool's only that it timed out)
            with psycopg.connect(url, connect_timeout=5, autocommit=True) as pg:
                pg.execute(f"CREATE SCHEMA IF NOT EXISTS {q(self.schema)}")
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split())
            raise ValidationError(f"Cannot reach the online store at {_safe(url)}: {reason}; start PostgreSQL or "
                                  "fix online: in featurestore.yaml") from None
        self.pool = ConnectionPool(url, min_size=1, max_size=8, open=True, kwargs={"autocommit": True})
        self._table_versions: dict[str, int] = {}  # the definition version each table was seen at
        super().__init__(conns)

    def _run(self, work: Callable[[Any], T]) -> T:
        """``work`` on a pooled connection. The server drops connections when it restarts or fails
        over, and each fails its next statement, or is left mid-pipeline refusing every later one
        (see ``databases.postgres_db``): such a connection is closed, so the pool replaces it, the
        pool is checked and ``work`` runs once more. Every call here is a read or idempotent.
        Raises StorageUnavailable while the server cannot be reached."""
        import psycopg
        from psycopg_pool import PoolTimeout

        where = f"{_safe(self.url)} (the online store)"
        outcome = "writes the store committed wait in its outbox and reach the server once it is back"
        lost: BaseException | None = None
        for _ in range(2):
            try:
                with self.pool.connection() as pg:
                    try:
                        return work(pg)
                    except psycopg.OperationalError as exc:
                        if usable(pg):  # the server answered (a timeout, say): the error stands
                            raise
                        close_quietly(pg)  # the pool discards a closed connection
                        lost = exc
            except PoolTimeout as exc:  # no connection could be made in the pool's time
                raise unavailable(where, exc, outcome) from exc
            self.pool.check()
        raise unavailable(where, lost, outcome) from lost

    def _table(self, group: FeatureGroup | str, created: Any = None) -> str:
        if isinstance(group, FeatureGroup):
            group, created = group.name, group.created_at
        return f"{q(self.schema)}.{q(f'online:{group}:{created}')}"

    # -- definitions: idempotent, so applied at once ------------------------------------------

    def create(self, conn: Connection, group: FeatureGroup) -> None:
        _check_width(group.name, len(group.features))
        cols = ", ".join(f"{q(f.name)} {_pg_type(f)}" for f in group.features)
        self._run(lambda pg: pg.execute(
            f"CREATE TABLE IF NOT EXISTS {self._table(group)} (_event_us BIGINT NOT NULL, _write_us BIGINT NOT NULL, "
            f"_expires_us BIGINT, _deleted SMALLINT NOT NULL DEFAULT 0, {cols}, PRIMARY KEY ({_cols(group.identifiers)}))"))

    def add_columns(self, conn: Connection, group: str, features: Iterable[Feature]) -> None:
        features = list(features)
        created, count = conn.execute("SELECT created_us, (SELECT count(*) FROM features WHERE group_name = ?) FROM "
                                      "feature_groups WHERE name = ?", (group, group)).fetchone()
        _check_width(group, count)  # the registry already counts the new features
        def add(pg: Any) -> None:
            for f in features:
                pg.execute(f"ALTER TABLE {self._table(group, created)} ADD COLUMN IF NOT EXISTS {q(f.name)} {_pg_type(f)}")
        self._run(add)

    # -- writes, through the outbox ---------------------------------------------------------

    def upsert(self, conn: Connection, group: FeatureGroup, rows: Sequence[Row], now_us: int) -> None:
        for start in range(0, len(rows), PAYLOAD_ROWS):
            self._record(conn, group.name, "upsert", [group.created_at, group.feature_names, _key_names(group),
                                                      now_us, [list(r) for r in rows[start:start + PAYLOAD_ROWS]],
                                                      group.version])

    def change(self, conn: Connection, old: FeatureGroup, new: FeatureGroup) -> None:
        self._record(conn, old.name, "reconcile", [old.created_at])

    def remove(self, conn: Connection, group: FeatureGroup, record_id: Any, event_us: int,
               write_us: int) -> None:
        self._record(conn, group.name, "hard", [group.created_at, _key_names(group), record_id, event_us,
                                                write_us])

    def remove_expired(self, conn: Connection, group: FeatureGroup, records: list[tuple[Any, int]],
                       now_us: int) -> None:
        self._record(conn, group.name, "expired", [group.created_at, _key_names(group), now_us,
                                                   [list(r) if group.composite else r for r, _ in records]])

    def drop(self, conn: Connection, group: FeatureGroup) -> None:
        self._record(conn, group.name, "drop", [group.created_at])

    def _apply(self, group: str, op: str, payload: Any) -> None:
        from ..common.timeutil import now_us

        table = self._table(group, payload[0])
        if op == "upsert":
            self._upsert(group, table, payload)
            return

        def apply(pg: Any) -> None:  # idempotent, as the outbox needs: run again after a dropped connection
            if op == "reconcile":
                self._reconcile(pg, group, payload[0])
            elif op == "hard":
                _, rid, record_id, event_us, write_us = payload
                pg.execute(f"DELETE FROM {table} WHERE {_where(rid)} AND _write_us <= %s AND NOT (_deleted = 0 AND "
                           "(_expires_us IS NULL OR _expires_us > %s) AND _event_us >= %s)",
                           (*_args(rid, record_id), write_us, now_us(), event_us))
            elif op == "expired":
                _, rid, now, ids = payload
                if isinstance(rid, str):
                    pg.execute(f"DELETE FROM {table} WHERE {q(rid)} = ANY(%s) AND _expires_us IS NOT NULL "
                               "AND _expires_us <= %s", (ids, now))
                else:
                    with pg.cursor() as cur:
                        cur.executemany(f"DELETE FROM {table} WHERE {_where(rid)} AND _expires_us IS NOT NULL "
                                        "AND _expires_us <= %s", [(*key, now) for key in ids])
            elif op == "drop":
                pg.execute(f"DROP TABLE IF EXISTS {table}")
        self._run(apply)

    def _upsert(self, group: str, table: str, payload: list) -> None:
        """An upsert recorded under definition version ``payload[5]`` (absent: from before
        versions), into a table at that version or later (see the module docstring)."""
        import psycopg

        created, names, rid, now, rows, *rest = payload
        version = rest[0] if rest else 1

        def apply(pg: Any) -> None:
            at = self._table_versions.get(table)
            if at is None or at < version:
                at = self._reconcile(pg, group, created)
            if at <= version:
                cols, values = names, rows
            else:
                try:
                    cols, values = self._translated(group, created, version, at, rows)
                except NotFound:  # the group was deleted since: its table goes with it, nothing to apply
                    return
            cols = ["_event_us", "_write_us", "_expires_us", "_deleted", *cols]
            sets = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in cols)
            sql = (f"INSERT INTO {table} AS t ({', '.join(map(q, cols))}) VALUES ({', '.join(['%s'] * len(cols))}) "
                   f"ON CONFLICT ({_cols(rid)}) DO UPDATE SET {sets} WHERE excluded._event_us > t._event_us OR "
                   "(excluded._event_us = t._event_us AND excluded._write_us >= t._write_us) OR "
                   f"(t._expires_us IS NOT NULL AND t._expires_us <= {int(now)})")
            with pg.cursor() as cur:
                cur.executemany(sql, values)

        try:
            self._run(apply)
        except (psycopg.errors.UndefinedColumn, psycopg.errors.DatatypeMismatch):
            self._table_versions.pop(table, None)  # another process moved the table on: once more, from its comment
            self._run(apply)

    def _translated(self, group: str, created: Any, version: int, at: int, rows: list) -> tuple[list[str], list]:
        """Rows written under ``version`` as the table's version ``at`` holds them."""
        from .. import registry
        from ..model.versions import translate

        with self.conns.read() as conn:
            current = registry.load_group(conn, group)
        then, now = self._version(current, version), self._version(current, at)
        return now.feature_names, [[*r[:4], *translate(list(r[4:]), then, now)] for r in rows]

    def _reconcile(self, pg: Any, group: str, created: Any) -> int:
        """Step the group's table to the registry's current definition version; returns it (or the
        table's own, for a table of a deleted group or one that is gone)."""
        import psycopg

        from .. import registry

        table = self._table(group, created)
        with pg.transaction():
            try:
                pg.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")  # one reconciler at a time
            except psycopg.errors.UndefinedTable:
                return 1
            comment = pg.execute("SELECT obj_description(%s::regclass, 'pg_class')", (table,)).fetchone()[0]
            at = int(comment.rsplit("v", 1)[1]) if comment and comment.startswith(COMMENT) else 1
            try:
                with self.conns.read() as conn:
                    current = registry.load_group(conn, group)
            except NotFound:
                return at
            if current.created_at != created or current.version <= at:
                self._table_versions[table] = at
                return at
            for version in range(at, current.version):
                _step(pg, table, self._version(current, version), self._version(current, version + 1))
            pg.execute(f"COMMENT ON TABLE {table} IS '{COMMENT}{current.version}'")
        self._table_versions[table] = current.version
        return current.version

    def _behind(self, group: FeatureGroup, work: Callable[[Any], T]) -> T:
        """A read, run again once the table is brought to the group's version if it was behind."""
        import psycopg

        try:
            return self._run(work)
        except psycopg.errors.UndefinedColumn:
            self._run(lambda pg: self._reconcile(pg, group.name, group.created_at))
            return self._run(work)

    # -- reads ------------------------------------------------------------------------------

    def _select(self, group: FeatureGroup, where: str) -> str:
        cols = ", ".join(["_expires_us", *map(q, group.feature_names)])
        return (f"SELECT {cols} FROM {self._table(group)} WHERE {where} AND _deleted = 0 "
                "AND (_expires_us IS NULL OR _expires_us > %s)")

    def current(self, conn: Connection, group: FeatureGroup, record_id: Any) -> tuple[int, int, int | None] | None:
        return self._run(lambda pg: pg.execute(f"SELECT _event_us, _deleted, _expires_us FROM {self._table(group)} "
                                               f"WHERE {_where(group.identifiers)}",
                                               _args(group.identifiers, record_id)).fetchone())

    def get(self, group: FeatureGroup, record_id: Any, now_us: int) -> Row | None:
        return self._behind(group, lambda pg: pg.execute(self._select(group, _where(group.identifiers)),
                                                         (*_args(group.identifiers, record_id), now_us),
                                                         prepare=True).fetchone())

    def get_many(self, group: FeatureGroup, record_ids: Sequence[Any], now_us: int) -> dict[Any, Row]:
        sql, args, key = self._many(group, record_ids, now_us)
        return {key(row): row for row in self._behind(group, lambda pg: pg.execute(sql, args, prepare=True).fetchall())}

    def _many(self, group: FeatureGroup, record_ids: Sequence[Any],
              now_us: int) -> tuple[str, tuple[Any, ...], Callable[[Row], Any]]:
        """(statement, parameters, a row's key) of one read of the live rows of ``record_ids``."""
        positions = [group.feature_names.index(k) + 1 for k in group.identifiers]
        if not group.composite:
            return (self._select(group, f"{q(group.identifiers[0])} = ANY(%s)"), (list(record_ids), now_us),
                    lambda row: row[positions[0]])
        # One statement for every length: a column of values per key column, zipped by unnest.
        arrays = ", ".join(f"%s::{PG_TYPES[f.type]}[]" for f in group.id_features)
        where = f"({_cols(group.identifiers)}) IN (SELECT * FROM unnest({arrays}))"
        columns = [list(c) for c in zip(*record_ids)]
        return self._select(group, where), (*columns, now_us), lambda row: tuple(row[p] for p in positions)

    def many_groups(self, requests: Sequence[tuple[Reader, Sequence[Any]]],
                    now_us: int) -> list[tuple[dict[Any, Row], set[Any]]]:
        """Every group read in ONE read-only REPEATABLE READ transaction on one connection, sent in
        one round trip (pipeline mode): one snapshot. A statement per group reads its rows live or
        expired at ``now_us`` (expired ones are told apart by their ``_expires_us``); a table behind
        its group's definition is reconciled and the whole read runs again."""
        import psycopg

        statements = [self._many(reader.group, ids, EARLIEST) for reader, ids in requests]

        def read(pg: Any) -> list[list[Row]]:
            with pg.pipeline():
                with pg.transaction():
                    pg.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    cursors = [pg.execute(sql, args, prepare=True) for sql, args, _ in statements]
            return [cur.fetchall() for cur in cursors]

        try:
            found = self._run(read)
        except psycopg.errors.UndefinedColumn:  # a table behind its definition: bring it on, read again
            for group in {reader.group.name: reader.group for reader, _ in requests}.values():
                if self._table_versions.get(self._table(group)) != group.version:
                    self._run(lambda pg: self._reconcile(pg, group.name, group.created_at))
            found = self._run(read)
        out = []
        for (_, _, key), rows in zip(statements, found):
            live, expired = {}, set()
            for row in rows:
                if row[0] is not None and row[0] <= now_us:
                    expired.add(key(row))
                else:
                    live[key(row)] = row[1:]
            out.append((live, expired))
        return out

    def raw(self, group: FeatureGroup, record_id: Any) -> dict[str, Any] | None:
        def read(pg: Any) -> dict[str, Any] | None:
            cur = pg.execute(f"SELECT * FROM {self._table(group)} WHERE {_where(group.identifiers)}",
                             _args(group.identifiers, record_id))
            row = cur.fetchone()
            return None if row is None else dict(zip([d.name for d in cur.description], row))
        return self._behind(group, read)

    def ids(self, group: FeatureGroup, now_us: int, after: Any, limit: int, include_deleted: bool) -> list[Any]:
        rid = _cols(group.identifiers)
        # byte order, as SQLite's
        byte_order = [f'{q(f.name)} COLLATE "C"' if f.type == "String" else q(f.name) for f in group.id_features]
        where, args = ["(_expires_us IS NULL OR _expires_us > %s)"], [now_us]
        if not include_deleted:
            where.append("_deleted = 0")
        if after is not None:
            if group.composite:
                where.append(f"({', '.join(byte_order)}) > ({', '.join(['%s'] * len(byte_order))})")
                args.extend(after)
            else:
                where.append(f"{rid} > %s")
                args.append(after)
        key = (lambda r: tuple(r)) if group.composite else (lambda r: r[0])
        return self._run(lambda pg: [key(r) for r in pg.execute(
            f"SELECT {rid} FROM {self._table(group)} WHERE {' AND '.join(where)} ORDER BY {', '.join(byte_order)} "
            "LIMIT %s", (*args, limit))])

    def count(self, group: FeatureGroup, now_us: int) -> int:
        return self._run(lambda pg: pg.execute(f"SELECT count(*) FROM {self._table(group)} WHERE _deleted = 0 AND "
                                               "(_expires_us IS NULL OR _expires_us > %s)", (now_us,)).fetchone()[0])

    def size_bytes(self, conn: Connection, group: FeatureGroup) -> int | None:
        return self._run(lambda pg: pg.execute("SELECT pg_total_relation_size(%s::regclass)",
                                               (self._table(group),)).fetchone()[0])

    def expired(self, conn: Connection, group: FeatureGroup, now_us: int) -> list[tuple[Any, int]]:
        rows = self._run(lambda pg: [tuple(r) for r in pg.execute(
            f"SELECT {_cols(group.identifiers)}, _expires_us FROM {self._table(group)} WHERE _expires_us IS NOT "
            "NULL AND _expires_us <= %s AND _deleted = 0", (now_us,))])
        return [(r[:-1], r[-1]) for r in rows] if group.composite else rows

    def close(self) -> None:
        super().close()
        self.pool.close()


def _step(pg: Any, table: str, old: FeatureGroup, new: FeatureGroup) -> None:
    """One definition version's change to a table (features matched by id; see ``model.versions``)."""
    from ..model.versions import widen_value

    before, after = dict(zip(old.ids, old.features)), dict(zip(new.ids, new.features))
    keys = [q(k) for k in old.identifiers]
    for i, f in before.items():
        if i not in after:
            pg.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS {q(f.name)}")
    for i, f in after.items():
        was = before.get(i)
        if was is None:
            pg.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {q(f.name)} {_pg_type(f)}")
            continue
        if was.type != f.type:
            column = q(was.name)
            pg.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {_pg_type(f)} USING {column}::{_pg_type(f)}")
            if was.type == "Fractional":  # PostgreSQL writes 2.0 as '2': the text Python's repr gives instead
                found = pg.execute(f"SELECT {column}, {', '.join(keys)} FROM {table} WHERE {column} IS NOT NULL").fetchall()
                fixed = [(widen_value(float(v), "String"), *k) for v, *k in found
                         if widen_value(float(v), "String") != v]
                if fixed:
                    with pg.cursor() as cur:
                        cur.executemany(f"UPDATE {table} SET {column} = %s WHERE {_where(old.identifiers)}", fixed)
        if was.name != f.name:
            pg.execute(f"ALTER TABLE {table} RENAME COLUMN {q(was.name)} TO {q(f.name)}")


def _key_names(group: FeatureGroup) -> str | list[str]:
    """The key's columns as an outbox entry holds them: a name (as entries always did), or a list."""
    return list(group.identifiers) if group.composite else group.identifiers[0]


def _names(rid: str | Sequence[str]) -> list[str]:
    return [rid] if isinstance(rid, str) else list(rid)


def _cols(rid: str | Sequence[str]) -> str:
    return ", ".join(map(q, _names(rid)))


def _where(rid: str | Sequence[str]) -> str:
    return " AND ".join(f"{q(n)} = %s" for n in _names(rid))


def _args(rid: str | Sequence[str], record_id: Any) -> tuple[Any, ...]:
    """A key's values as ``_where``'s parameters: one value, or a composite key's in key order."""
    return (record_id,) if isinstance(rid, str) or len(rid) == 1 else tuple(record_id)


def _pg_type(f: Feature) -> str:
    return "TEXT" if f.is_collection else PG_TYPES[f.type]


def _check_width(group: str, features: int) -> None:
    if features > MAX_FEATURES:
        raise ValidationError(f"Feature group {group!r} would have {features} features; an online store in "
                              f"PostgreSQL holds at most {MAX_FEATURES} (its tables stop at 1,600 columns). Keep it "
                              "offline only, or use the SQLite or Redis online store", group=group)


def _safe(url: str) -> str:
    """The URL without its password."""
    import re

    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)
