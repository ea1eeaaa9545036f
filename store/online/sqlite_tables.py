"""The online store: one table per group in the store's database, holding the newest record per identifier.

Columns: ``_event_us``, ``_write_us``, ``_expires_us`` (NULL = never), ``_deleted`` (a soft-delete
tombstone keeps its event time to block older puts), then the features. Collections are JSON.
An upsert replaces the stored row only if its event time is not older (the later write wins a
tie) or the stored row has expired: an expired row counts as gone even before a sweep removes it.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

from .. import registry
from ..common.sqltext import q
from ..databases import Connection
from ..databases.ddl import add_columns_sql, columns_ddl
from ..model.schema import Feature, FeatureGroup

INTERNAL = ("_event_us", "_write_us", "_expires_us", "_deleted")


def table(group: str) -> str:
    return q(f"online:{group}")


def key_where(group: FeatureGroup, prefix: str = "") -> str:
    """The condition that a row has one key (parameters: the key's values in key order)."""
    return " AND ".join(f"{prefix}{q(n)} = ?" for n in group.identifiers)


def key_args(group: FeatureGroup, record_id: Any) -> tuple[Any, ...]:
    """A typed key as the parameters of ``key_where``."""
    return tuple(record_id) if group.composite else (record_id,)


def key_columns(group: FeatureGroup, prefix: str = "") -> str:
    return ", ".join(f"{prefix}{q(n)}" for n in group.identifiers)


def create_table(conn: Connection, group: FeatureGroup, sqlite: bool = True) -> None:
    """The group's online table. A key of several columns is one primary key over them; in SQLite
    the rows are then kept in that key's B-tree (WITHOUT ROWID), so a lookup is one search, not
    a search of the key's index and another of the table."""
    internal = ["_event_us INTEGER NOT NULL", "_write_us INTEGER NOT NULL", "_expires_us INTEGER",
                "_deleted INTEGER NOT NULL DEFAULT 0"]
    if group.composite:
        columns = [*columns_ddl(group.features), f"PRIMARY KEY ({key_columns(group)})"]
    else:  # as groups were always created
        columns = columns_ddl(group.features, group.identifiers[0])
    rowid = " WITHOUT ROWID" if group.composite and sqlite else ""
    conn.execute(f"CREATE TABLE {table(group.name)} ({', '.join([*internal, *columns])}){rowid}")
    # Partial, so puts without a TTL do not pay for an index entry.
    conn.execute(f"CREATE INDEX {q(f'online:{group.name}:expiry')} ON {table(group.name)} (_expires_us) "
                 "WHERE _expires_us IS NOT NULL")


def add_columns(conn: Connection, group: str, features: Iterable[Feature]) -> None:
    for sql in add_columns_sql(table(group), features):
        conn.execute(sql)


def change(conn: Connection, old: FeatureGroup, new: FeatureGroup) -> None:
    """Drop, rename and widen columns as ``new`` (a later version of ``old``) says."""
    change_columns(conn, table(old.name), old, new)


def change_columns(conn: Connection, name: str, old: FeatureGroup, new: FeatureGroup) -> None:
    """Drop, rename and widen the feature columns of table ``name``, keyed by ``old``'s
    identifier (a widened column is rebuilt: SQLite's column type would otherwise turn the text
    '007' of a String back into the number 7)."""
    from ..model.versions import widen_value

    before, after = dict(zip(old.ids, old.features)), dict(zip(new.ids, new.features))
    for i, f in before.items():
        if i not in after:
            conn.execute(f"ALTER TABLE {name} DROP COLUMN {q(f.name)}")
    keys = ", ".join(q(k) for k in old.identifiers)
    match = " AND ".join(f"{q(k)} = ?" for k in old.identifiers)
    for i, f in after.items():
        was = before.get(i)
        if was is None:
            continue
        if was.type != f.type:
            column, spare = q(was.name), q("__widened")
            conn.execute(f"ALTER TABLE {name} ADD COLUMN {spare} {f.sqlite_type}")
            if was.type == "Fractional":  # the text of a float as Python writes it (see model.versions)
                found = conn.execute(f"SELECT {column}, {keys} FROM {name} WHERE {column} IS NOT NULL").fetchall()
                conn.executemany(f"UPDATE {name} SET {spare} = ? WHERE {match}",
                                 [(widen_value(v, f.type), *k) for v, *k in found])
            else:  # DOUBLE PRECISION: SQLite reads it as REAL; PostgreSQL's REAL would be a 4-byte float
                cast = "DOUBLE PRECISION" if f.type == "Fractional" else f.sqlite_type
                conn.execute(f"UPDATE {name} SET {spare} = CAST({column} AS {cast})")
            conn.execute(f"ALTER TABLE {name} DROP COLUMN {column}")
            conn.execute(f"ALTER TABLE {name} RENAME COLUMN {spare} TO {column}")
        if was.name != f.name:
            conn.execute(f"ALTER TABLE {name} RENAME COLUMN {q(was.name)} TO {q(f.name)}")


def drop_table(conn: Connection, group: str) -> None:
    conn.execute(f"DROP TABLE IF EXISTS {table(group)}")


def upsert_sql(group: FeatureGroup) -> str:
    """The upsert for rows ending in the current time (to tell expired rows); stable, so SQLite caches it."""
    names = [f.name for f in group.features]
    cols = ", ".join([*INTERNAL, *map(q, names)])
    marks = ", ".join(f"?{i + 1}" for i in range(len(INTERNAL) + len(names)))
    t = table(group.name)
    sets = ", ".join(f"{c} = excluded.{c}" for c in [*INTERNAL, *map(q, names)])
    return (
        f"INSERT INTO {t} ({cols}) VALUES ({marks}) ON CONFLICT({key_columns(group)}) DO UPDATE SET {sets} "
        f"WHERE excluded._event_us >= {t}._event_us OR ({t}._expires_us IS NOT NULL AND {t}._expires_us <= ?{len(INTERNAL) + len(names) + 1})"
    )


def upsert(conn: Connection, group: FeatureGroup, rows: Iterable[Sequence[Any]], sql: str | None = None) -> None:
    """Rows are (_event_us, _write_us, _expires_us, _deleted, *features in group order, now_us)."""
    conn.executemany(sql or upsert_sql(group), rows)


def current(conn: Connection, group: FeatureGroup, record_id: Any) -> tuple[int, int, int | None] | None:
    """(event time, deleted flag, expiry) of the stored row, or None."""
    return conn.execute(
        f"SELECT _event_us, _deleted, _expires_us FROM {table(group.name)} WHERE {key_where(group)}",
        key_args(group, record_id),
    ).fetchone()


def remove(conn: Connection, group: FeatureGroup, record_id: Any) -> None:
    conn.execute(f"DELETE FROM {table(group.name)} WHERE {key_where(group)}", key_args(group, record_id))


def select_sql(group: FeatureGroup, names: Sequence[str], where: str | None = None) -> str:
    """Live rows of one identifier, or of those ``where`` (a condition on the identifier with its
    own parameters: ``Database.any_of``) picks."""
    cols = ", ".join(["_expires_us", *map(q, names)])
    where = where or key_where(group)
    return (
        f"SELECT {cols} FROM {table(group.name)} WHERE {where} AND _deleted = 0 "
        "AND (_expires_us IS NULL OR _expires_us > ?)"
    )


def lookup_sql(group: FeatureGroup, where: str | None = None, versioned: bool = False) -> str:
    """Live rows of one identifier (parameters: it, now), or of those ``where`` picks (its own
    parameters, then now; a condition on ``t.<identifier>``), as the group's features in order.
    ``versioned`` appends the row's ``_deleted`` (None: no live row) and the registry version read
    in the same statement, on one row even when nothing matched: one read instead of two, each of
    which costs SQLite (in WAL mode) about as much as the lookup itself."""
    cols = ", ".join(f"t.{q(n)}" for n in group.feature_names)
    where = where or key_where(group, "t.")
    live = f"{where} AND t._deleted = 0 AND (t._expires_us IS NULL OR t._expires_us > ?)"
    if not versioned:
        return f"SELECT {cols} FROM {table(group.name)} AS t WHERE {live}"
    return (f"SELECT {cols}, t._deleted, v.value FROM {registry.VERSION_TABLE} AS v LEFT JOIN {table(group.name)} AS t "
            f"ON {live} WHERE v.key = '{registry.VERSION_KEY}'")


def each_sql(groups: Sequence[FeatureGroup]) -> str:
    """One identifier's row of each group, and the registry version, in one statement: one
    snapshot with no transaction around it (parameters: each group's key values, in order). A
    row is the registry version, then per group its features in order, its ``_expires_us`` and its
    ``_deleted`` (0 for a stored row, None for none; deleted rows are not read)."""
    columns, joins = ["v.value"], []
    for i, group in enumerate(groups):
        alias = f"t{i}"
        columns += [f"{alias}.{q(n)}" for n in group.feature_names] + [f"{alias}._expires_us", f"{alias}._deleted"]
        joins.append(f"LEFT JOIN {table(group.name)} AS {alias} ON {key_where(group, alias + '.')} "
                     f"AND {alias}._deleted = 0")
    return (f"SELECT {', '.join(columns)} FROM {registry.VERSION_TABLE} AS v {' '.join(joins)} "
            f"WHERE v.key = '{registry.VERSION_KEY}'")


def decode(row: Sequence[Any], names: Sequence[str], json_cols: frozenset[int]) -> dict[str, Any]:
    """A stored row (after _expires_us) as a record dict, collections parsed, nulls dropped."""
    out = {}
    for i, name in enumerate(names):
        value = row[i + 1]
        if value is None:
            continue
        out[name] = json.loads(value) if i in json_cols else value
    return out


def expired(conn: Connection, group: FeatureGroup, now_us: int) -> list[tuple[Any, int]]:
    """(identifier, expiry) of live rows whose TTL has passed (a tuple identifier for a composite key)."""
    rows = conn.execute(
        f"SELECT {key_columns(group)}, _expires_us FROM {table(group.name)} "
        "WHERE _expires_us IS NOT NULL AND _expires_us <= ? AND _deleted = 0",
        (now_us,),
    ).fetchall()
    return [(tuple(r[:-1]), r[-1]) for r in rows] if group.composite else rows


def remove_expired(conn: Connection, group: FeatureGroup, now_us: int) -> None:
    conn.execute(
        f"DELETE FROM {table(group.name)} WHERE _expires_us IS NOT NULL AND _expires_us <= ?", (now_us,)
    )


def count(conn: Connection, group: FeatureGroup, now_us: int) -> int:
    return conn.execute(
        f"SELECT count(*) FROM {table(group.name)} WHERE _deleted = 0 AND (_expires_us IS NULL OR _expires_us > ?)",
        (now_us,),
    ).fetchone()[0]


def page(conn: Connection, group: FeatureGroup, now_us: int, limit: int, offset: int) -> list[dict[str, Any]]:
    """Live records ordered by identifier, for browsing."""
    names = group.feature_names
    json_cols = frozenset(i for i, f in enumerate(group.features) if f.is_collection)
    sql = select_sql(group, names).replace(f"WHERE {key_where(group)} AND ", "WHERE ")
    rows = conn.execute(f"{sql} ORDER BY {key_columns(group)} LIMIT ? OFFSET ?", (now_us, limit, offset))
    return [decode(r, names, json_cols) for r in rows]


def ids(conn: Connection, group: FeatureGroup, now_us: int, after: Any, limit: int,
        include_deleted: bool) -> list[Any]:
    """Identifiers of live rows (and tombstones if asked) after ``after``, walking the primary key
    (a composite key's in key order, compared column by column, returned as tuples)."""
    rid = key_columns(group)
    where = ["(_expires_us IS NULL OR _expires_us > ?)"]
    args: list[Any] = [now_us]
    if not include_deleted:
        where.append("_deleted = 0")
    if after is not None:
        marks = ", ".join("?" * len(group.identifiers))
        where.append(f"({rid}) > ({marks})" if group.composite else f"{rid} > ?")
        args.extend(key_args(group, after))
    sql = f"SELECT {rid} FROM {table(group.name)} WHERE {' AND '.join(where)} ORDER BY {rid} LIMIT ?"
    rows = conn.execute(sql, (*args, limit))
    return [tuple(r) for r in rows] if group.composite else [r[0] for r in rows]
