"""Floor 5, the registry: feature-group definitions, feature metadata, write counters, and
search; ``entities`` holds the entities and which groups declare them; ``lineage`` holds the graph
of sources, groups, datasets and models.

All functions take an open connection so callers decide the transaction; DDL for the per-group
online and staging tables lives with those stores. The capabilities' own tables
(``quality.tables``, ``pipelines.tables``, ``access.audit``) sit on this floor too.

May import: ``store.databases``, ``store.model``, ``store.storage``, ``store.common``, ``store.errors``.
"""
from __future__ import annotations

import json
from typing import Any

from ..databases import Connection, Database, errors, run_script
from ..errors import Conflict, NotFound
from ..model.schema import Feature, FeatureGroup, stored_definitions

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO meta VALUES ('registry_version', 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS feature_groups (
    name TEXT PRIMARY KEY,
    record_identifier TEXT NOT NULL,
    event_time TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '{}',
    online INTEGER NOT NULL,
    offline INTEGER NOT NULL,
    ttl_seconds REAL,
    status TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    modified_us INTEGER NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    offline_dir TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}',
    partition_by TEXT NOT NULL DEFAULT 'hour',
    offline_retention_seconds REAL,
    entity TEXT,
    entity_keys TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS features (
    group_name TEXT NOT NULL REFERENCES feature_groups(name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    collection TEXT,
    dimension INTEGER,
    description TEXT NOT NULL DEFAULT '',
    parameters TEXT NOT NULL DEFAULT '{}',
    position INTEGER NOT NULL,
    added_us INTEGER NOT NULL,
    modified_us INTEGER NOT NULL,
    PRIMARY KEY (group_name, name)
);
CREATE TABLE IF NOT EXISTS group_state (
    group_name TEXT PRIMARY KEY REFERENCES feature_groups(name) ON DELETE CASCADE,
    seq INTEGER NOT NULL DEFAULT 0,
    last_write_us INTEGER NOT NULL DEFAULT 0,
    last_event_us INTEGER,
    staged_rows INTEGER NOT NULL DEFAULT 0,
    retained_from_us INTEGER
);
CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_us INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS definition_versions (
    group_name TEXT NOT NULL REFERENCES feature_groups(name) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    changed_us INTEGER NOT NULL,
    changed_by TEXT NOT NULL DEFAULT '',
    definition TEXT NOT NULL,
    changes TEXT NOT NULL,
    PRIMARY KEY (group_name, version)
);
"""
# Version 1 stores (before partition choices and retention) gain these columns; their groups keep
# the hour layout they were written with, which is the columns' default.
MIGRATIONS_V2 = [
    ("feature_groups", "partition_by", "ALTER TABLE feature_groups ADD COLUMN partition_by TEXT NOT NULL DEFAULT 'hour'"),
    ("feature_groups", "offline_retention_seconds",
     "ALTER TABLE feature_groups ADD COLUMN offline_retention_seconds REAL"),
    ("group_state", "retained_from_us", "ALTER TABLE group_state ADD COLUMN retained_from_us INTEGER"),
]
# Stores from before definition versions: each feature gets its id (its position: only additions
# were possible), each group its current definition as version 1 (see ``versions``).
MIGRATIONS_V3 = [
    ("features", "fid", "ALTER TABLE features ADD COLUMN fid INTEGER"),
    ("feature_groups", "version", "ALTER TABLE feature_groups ADD COLUMN version INTEGER NOT NULL DEFAULT 1"),
]
# Version 9 (entities): groups made before declare none.
MIGRATIONS_V9 = [
    ("feature_groups", "entity", "ALTER TABLE feature_groups ADD COLUMN entity TEXT"),
    ("feature_groups", "entity_keys", "ALTER TABLE feature_groups ADD COLUMN entity_keys TEXT NOT NULL DEFAULT '{}'"),
]
# The later of last_event_us and parameter N (which may be NULL).
_NEWEST_EVENT = ("CASE WHEN CAST(?{0} AS BIGINT) IS NULL THEN last_event_us "
                 "WHEN last_event_us IS NULL OR last_event_us < ?{0} THEN ?{0} ELSE last_event_us END")
GROUP_COLUMNS = ("name, record_identifier, event_time, description, tags, online, offline, ttl_seconds, status, "
                 "created_us, modified_us, created_by, offline_dir, extra, partition_by, offline_retention_seconds, "
                 "version, entity, entity_keys")


def identifiers_text(identifiers: tuple[str, ...]) -> str:
    """The ``record_identifier`` column's text: the name of a one-column key (as stores always held
    it), a JSON array of the names of a key of several columns (a feature name never starts '[')."""
    return identifiers[0] if len(identifiers) == 1 else json.dumps(list(identifiers))


def identifiers_of(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text)) if text.startswith("[") else (text,)


def init(conn: Connection, db: Database) -> None:
    from . import entities, on_demand, services

    run_script(conn, SCHEMA)
    for table, column, ddl in MIGRATIONS_V2 + MIGRATIONS_V3 + MIGRATIONS_V9:
        if column not in db.columns(conn, table):
            conn.execute(ddl)
    if conn.execute("SELECT 1 FROM features WHERE fid IS NULL LIMIT 1").fetchone():
        conn.execute("UPDATE features SET fid = position + 1 WHERE fid IS NULL")
    unversioned = [n for (n,) in conn.execute(
        "SELECT name FROM feature_groups g WHERE NOT EXISTS "
        "(SELECT 1 FROM definition_versions v WHERE v.group_name = g.name)")]
    for name in unversioned:
        group = load_group(conn, name)
        record_version(conn, group, group.created_at, group.created_by, [{"change": "create"}])
    entities.init(conn)
    services.init(conn, db.columns)
    on_demand.init(conn)


# The registry's change counter; a read may join it to its own statement (see store.online.sqlite_tables).
VERSION_TABLE, VERSION_KEY = "meta", "registry_version"


def version(conn: Connection) -> int:
    return conn.execute(f"SELECT value FROM {VERSION_TABLE} WHERE key = '{VERSION_KEY}'").fetchone()[0]


def bump_version(conn: Connection) -> None:
    conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'registry_version'")


def insert_group(conn: Connection, group: FeatureGroup, created_us: int, extra: dict[str, Any]) -> None:
    try:
        conn.execute(
            f"INSERT INTO feature_groups ({GROUP_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                group.name, identifiers_text(group.identifiers), group.event_time, group.description,
                json.dumps(group.tags), int(group.online), int(group.offline), group.ttl_seconds,
                "Created", created_us, created_us, group.created_by, group.offline_path, json.dumps(extra),
                group.partition_by, group.offline_retention_seconds, 1, group.entity, json.dumps(group.entity_keys),
            ),
        )
    except errors("IntegrityError"):
        raise Conflict(
            f"Feature group {group.name!r} already exists; pick another name or delete it first",
            group=group.name,
        ) from None
    insert_features(conn, group.name, group.features, 0, created_us, first_id=1)
    conn.execute("INSERT INTO group_state (group_name) VALUES (?)", (group.name,))
    record_version(conn, load_group(conn, group.name), created_us, group.created_by, [{"change": "create"}])
    bump_version(conn)


def insert_features(conn: Connection, group: str, features: tuple[Feature, ...] | list[Feature], start: int, now: int,
                    first_id: int | None = None) -> None:
    """Features appended at ``start``; their ids follow every id the group ever gave (a dropped
    feature's id is not reused, so its history is never read as the new feature's)."""
    if first_id is None:
        first_id = next_feature_id(conn, group)
    conn.executemany(
        "INSERT INTO features (group_name, name, type, collection, dimension, description, parameters, position, "
        "added_us, modified_us, fid) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [
            (group, f.name, f.type, f.collection, f.dimension, f.description, json.dumps(f.parameters), start + i, now,
             now, first_id + i)
            for i, f in enumerate(features)
        ],
    )


def next_feature_id(conn: Connection, group: str) -> int:
    """One more than the greatest feature id the group has had in any version."""
    ids = [fid for (fid,) in conn.execute("SELECT fid FROM features WHERE group_name = ?", (group,))]
    for (stored,) in conn.execute("SELECT definition FROM definition_versions WHERE group_name = ?", (group,)):
        ids += [f["id"] for f in json.loads(stored)["features"]]
    return max(ids, default=0) + 1


def load_group(conn: Connection, name: str) -> FeatureGroup:
    row = conn.execute(f"SELECT {GROUP_COLUMNS} FROM feature_groups WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise missing(name)
    return _group_from_row(conn, row)


def missing(name: str) -> NotFound:
    """The error for a group that does not exist, which a group hidden from the caller raises too."""
    return NotFound(f"Feature group {name!r} does not exist", group=name)


def load_all(conn: Connection) -> list[FeatureGroup]:
    rows = conn.execute(f"SELECT {GROUP_COLUMNS} FROM feature_groups ORDER BY name").fetchall()
    return [_group_from_row(conn, row) for row in rows]


def names(conn: Connection) -> list[str]:
    """Names of every group, in name order."""
    return [n for (n,) in conn.execute("SELECT name FROM feature_groups ORDER BY name")]


def offline_names(conn: Connection) -> list[str]:
    """Names of the groups with an offline store, in name order."""
    return [n for (n,) in conn.execute("SELECT name FROM feature_groups WHERE offline <> 0 ORDER BY name")]


def _group_from_row(conn: Connection, row: tuple) -> FeatureGroup:
    (name, rid, et, desc, tags, online, offline, ttl, status, created, modified, by, path, extra_json, partition_by,
     retention, version, entity, entity_keys) = row
    rows = conn.execute("SELECT name, type, collection, dimension, description, parameters, fid FROM features "
                        "WHERE group_name = ? ORDER BY position", (name,)).fetchall()
    with stored_definitions():  # a name reserved since it was stored still loads
        features = tuple(Feature(n, t, c, d, fd, json.loads(p)) for n, t, c, d, fd, p, _ in rows)
    ids = tuple(r[6] for r in rows)
    return FeatureGroup(
        name=name, identifiers=identifiers_of(rid), event_time=et, features=features, description=desc,
        tags=json.loads(tags), online=bool(online), offline=bool(offline), ttl_seconds=ttl,
        status=status, created_at=created, modified_at=modified, created_by=by, offline_path=path,
        extra=json.loads(extra_json), partition_by=partition_by, offline_retention_seconds=retention,
        version=version, feature_ids=() if ids == tuple(range(1, len(ids) + 1)) else ids,
        entity=entity, entity_keys=json.loads(entity_keys or "{}"),
        former_names=_former_names(conn, name, dict(zip(ids, (f.name for f in features)))) if version > 1 else {},
    )


def _former_names(conn: Connection, group: str, current: dict[int, str]) -> dict[str, str | None]:
    """Names features had in earlier versions (and no feature has now): the name now, or None."""
    out: dict[str, str | None] = {}
    names = set(current.values())
    for (stored,) in conn.execute("SELECT definition FROM definition_versions WHERE group_name = ? ORDER BY version",
                                  (group,)):
        for f in json.loads(stored)["features"]:
            if f["name"] not in names:
                out[f["name"]] = current.get(f["id"])
    return out


def update_group(conn: Connection, name: str, now: int, **fields: Any) -> None:
    encoded = {k: json.dumps(v) if k in ("tags", "extra") else v for k, v in fields.items()}
    sets = "".join(f"{k} = ?, " for k in encoded)
    cur = conn.execute(
        f"UPDATE feature_groups SET {sets}modified_us = ? WHERE name = ?", (*encoded.values(), now, name)
    )
    if cur.rowcount == 0:
        raise NotFound(f"Feature group {name!r} does not exist", group=name)
    bump_version(conn)


def update_feature(conn: Connection, group: str, feature: str, now: int, description: str | None, parameters: dict | None) -> None:
    if description is not None:
        conn.execute(
            "UPDATE features SET description = ?, modified_us = ? WHERE group_name = ? AND name = ?",
            (description, now, group, feature),
        )
    if parameters is not None:
        conn.execute(
            "UPDATE features SET parameters = ?, modified_us = ? WHERE group_name = ? AND name = ?",
            (json.dumps(parameters), now, group, feature),
        )
    conn.execute("UPDATE feature_groups SET modified_us = ? WHERE name = ?", (now, group))
    bump_version(conn)


def feature_times(conn: Connection, group: str, feature: str) -> tuple[int, int]:
    row = conn.execute(
        "SELECT added_us, modified_us FROM features WHERE group_name = ? AND name = ?", (group, feature)
    ).fetchone()
    if row is None:
        raise NotFound(f"Feature group {group!r} has no feature {feature!r}", group=group, feature=feature)
    return row


# ----------------------------------------------------------------------------- definition versions


def record_version(conn: Connection, group: FeatureGroup, changed_us: int, by: str, changes: list[dict[str, Any]]) -> None:
    """Keep ``group`` (at its ``version``) with who changed it, when and what."""
    from ..model.versions import to_stored

    conn.execute("INSERT INTO definition_versions VALUES (?,?,?,?,?,?)",
                 (group.name, group.version, changed_us, by, json.dumps(to_stored(group)),
                  json.dumps(changes, default=str)))


def replace_definition(conn: Connection, old: FeatureGroup, new: FeatureGroup, now: int) -> None:
    """Make ``new``'s features (a later version of ``old``'s, matched by id) the group's: a kept
    feature keeps its added time. The caller records the version (``record_version``)."""
    before = dict(zip(old.ids, old.features))
    kept = set(new.ids)
    for fid, f in before.items():
        if fid not in kept:
            conn.execute("DELETE FROM features WHERE group_name = ? AND fid = ?", (old.name, fid))
    conn.execute("UPDATE features SET position = -1 - position WHERE group_name = ?", (old.name,))
    for position, (fid, f) in enumerate(zip(new.ids, new.features)):
        conn.execute("UPDATE features SET name = ?, type = ?, description = ?, parameters = ?, position = ?, "
                     "modified_us = CASE WHEN name = ? AND type = ? THEN modified_us ELSE ? END "
                     "WHERE group_name = ? AND fid = ?",
                     (f.name, f.type, f.description, json.dumps(f.parameters), position, f.name, f.type, now,
                      old.name, fid))
    conn.execute("UPDATE feature_groups SET modified_us = ? WHERE name = ?", (now, old.name))


def load_version(conn: Connection, current: FeatureGroup, version: int) -> FeatureGroup:
    """``current``'s group as it was at ``version``. Raises NotFound."""
    from ..model.versions import from_stored

    if version == current.version:
        return current
    row = conn.execute("SELECT definition FROM definition_versions WHERE group_name = ? AND version = ?",
                       (current.name, version)).fetchone()
    if row is None:
        raise NotFound(f"Feature group {current.name!r} has no definition version {version}; it has versions 1 to "
                       f"{current.version}", group=current.name, version=version)
    return from_stored(current, json.loads(row[0]), version)


def version_at(conn: Connection, name: str, at_us: int) -> int:
    """The definition version in force at write time ``at_us`` (1 before the group existed)."""
    row = conn.execute("SELECT max(version) FROM definition_versions WHERE group_name = ? AND changed_us <= ?",
                       (name, at_us)).fetchone()
    return row[0] or 1


def versions(conn: Connection, name: str) -> list[dict[str, Any]]:
    """Every version of the group, oldest first: version, changed_us, changed_by, changes, definition."""
    return [{"version": v, "changed_us": at, "changed_by": by, "changes": json.loads(changes),
             "definition": json.loads(definition)}
            for v, at, by, definition, changes in conn.execute(
                "SELECT version, changed_us, changed_by, definition, changes FROM definition_versions "
                "WHERE group_name = ? ORDER BY version", (name,))]


def fractional_ids(conn: Connection, name: str, upto: int) -> frozenset[int]:
    """Ids of the group's features that were Fractional in some version up to ``upto`` (see
    ``model.versions.projection``)."""
    return frozenset(f["id"] for (definition,) in conn.execute(
        "SELECT definition FROM definition_versions WHERE group_name = ? AND version <= ?", (name, upto))
        for f in json.loads(definition)["features"] if f["type"] == "Fractional")


def delete_group(conn: Connection, name: str) -> None:
    conn.execute("DELETE FROM definition_versions WHERE group_name = ?", (name,))
    conn.execute("DELETE FROM feature_groups WHERE name = ?", (name,))
    bump_version(conn)


def state(conn: Connection, name: str) -> dict[str, Any]:
    row = conn.execute(
        "SELECT seq, last_write_us, last_event_us, staged_rows, retained_from_us, "
        "(SELECT version FROM feature_groups WHERE name = ?1) FROM group_state WHERE group_name = ?1", (name,)
    ).fetchone()
    if row is None:
        raise NotFound(f"Feature group {name!r} does not exist", group=name)
    return dict(zip(("seq", "last_write_us", "last_event_us", "staged_rows", "retained_from_us", "version"), row))


def data_version(conn: Connection, name: str) -> tuple[int, ...]:
    """A key that changes whenever the group's rows or its definition change: its write counter,
    buffered rows, last write time and retention edge, and the registry version (which any
    definition change moves, this group's among them). One primary-key row, so a cache may check
    it on every read. Raises NotFound."""
    row = conn.execute(
        "SELECT seq, staged_rows, last_write_us, retained_from_us, "
        "(SELECT value FROM meta WHERE key = 'registry_version') FROM group_state WHERE group_name = ?", (name,)
    ).fetchone()
    if row is None:
        raise missing(name)
    return tuple(row)


def allocate(conn: Connection, name: str, rows: int, now: int, max_event_us: int | None,
             staged: int = 0, version: int | None = None) -> tuple[int, int, int]:
    """Reserve ``rows`` sequence numbers and a write time, and count ``staged`` buffered rows;
    returns (first seq, write time, rows now staged).

    Write times only move forward per group, even if the wall clock steps back, so ordering by
    (event time, write time, seq) always agrees with the order the store accepted writes in.
    With ``version`` (the definition version the caller's rows are shaped by), a definition
    changed since the caller read it is a Conflict, in the same statement. Must run inside the
    write transaction that stores the rows.
    """
    same = "" if version is None else " AND (SELECT version FROM feature_groups WHERE name = ?5) = ?6"
    row = conn.execute(
        "UPDATE group_state SET seq = seq + ?1, "
        "last_write_us = CASE WHEN last_write_us + 1 > ?2 THEN last_write_us + 1 ELSE ?2 END, "
        f"last_event_us = {_NEWEST_EVENT.format(3)}, "
        f"staged_rows = staged_rows + ?4 WHERE group_name = ?5{same} RETURNING seq, last_write_us, staged_rows",
        (rows, now, max_event_us, staged, name) + (() if version is None else (version,)),
    ).fetchone()
    if row is None:
        found = conn.execute("SELECT version FROM feature_groups WHERE name = ?", (name,)).fetchone()
        if found is None:
            raise NotFound(f"Feature group {name!r} does not exist", group=name)
        raise Conflict(f"The definition of {name!r} changed (now version {found[0]}) while this write was under way; "
                       "nothing was written. Retry it with the current features", group=name)
    return row[0] - rows + 1, row[1], row[2]


def advance(conn: Connection, name: str, rows: int, max_event_us: int | None) -> None:
    """Count ``rows`` more sequence numbers as used, and the newest event time, for a write that
    took its write time (``allocate`` with no rows) before it knew how many rows it would have.
    Must run inside the write transaction that stores the rows."""
    conn.execute(
        f"UPDATE group_state SET seq = seq + ?1, last_event_us = {_NEWEST_EVENT.format(2)} WHERE group_name = ?3",
        (rows, max_event_us, name))


def search(conn: Connection, text: str) -> list[dict[str, Any]]:
    """Entities, groups and features whose name, description, tags or parameters contain ``text`` (taken
    literally, case-insensitive). ``key=value`` finds tags and parameters as they are shown: the
    key exactly, the value by prefix (``pii=true``, ``team=ri``)."""
    needle = text.strip().lower()
    key, sep, value = needle.partition("=")
    pairs = bool(sep) and bool(key.strip())
    key, value = key.strip(), value.strip()

    def match_pairs(mapping: dict[str, str]) -> bool:
        if pairs:
            return any(k.lower() == key and v.lower().startswith(value) for k, v in mapping.items())
        return any(needle in k.lower() or needle in v.lower() for k, v in mapping.items())

    def where(name: str, desc: str, mapping: dict[str, str], kind: str) -> str | None:
        if not pairs and needle in name.lower():
            return "name"
        if not pairs and needle in desc.lower():
            return "description"
        return kind if match_pairs(mapping) else None

    from . import entities

    hits: list[dict[str, Any]] = entities.search(conn, lambda name, desc, tags: where(name, desc, tags, "tags"))
    for name, desc, tags in conn.execute("SELECT name, description, tags FROM feature_groups ORDER BY name"):
        found = where(name, desc, json.loads(tags), "tags")
        if found:
            hits.append({"kind": "feature_group", "group": name, "feature": None, "description": desc,
                         "matched": found})
    for group, name, typ, coll, desc, params in conn.execute(
        "SELECT group_name, name, type, collection, description, parameters FROM features "
        "ORDER BY group_name, position"
    ):
        found = where(name, desc, json.loads(params), "parameters")
        if found:
            hits.append({
                "kind": "feature", "group": group, "feature": name, "type": coll and f"{coll}<{typ}>" or typ,
                "description": desc, "matched": found,
            })
    return hits
