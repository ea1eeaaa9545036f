"""The registry's entities: their definitions (``entities``) and which feature groups declare
one (the ``entity`` and ``entity_keys`` columns of ``feature_groups``).

Every function takes an open connection, so callers decide the transaction.
"""
from __future__ import annotations

import json
from typing import Any

from ..databases import Connection, errors, run_script
from ..errors import Conflict, NotFound, ValidationError
from ..model.entity import Entity
from ..model.schema import Feature

SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (
    name TEXT PRIMARY KEY,
    key_columns TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '{}',
    created_us INTEGER NOT NULL,
    modified_us INTEGER NOT NULL,
    created_by TEXT NOT NULL DEFAULT ''
);
"""
_COLUMNS = "name, key_columns, description, tags, created_us, modified_us, created_by"


def init(conn: Connection) -> None:
    run_script(conn, SCHEMA)


def missing(name: str) -> NotFound:
    return NotFound(f"Entity {name!r} does not exist; list them with list_entities()", entity=name)


def insert(conn: Connection, entity: Entity, now: int) -> None:
    twin = conn.execute("SELECT name FROM entities WHERE lower(name) = ?", (entity.name.lower(),)).fetchone()
    if twin and twin[0] == entity.name:
        raise Conflict(f"Entity {entity.name!r} already exists; pick another name or update it", entity=entity.name)
    if twin:
        raise ValidationError(f"Entity {entity.name!r} differs from the existing entity {twin[0]!r} only in letter "
                              "case; pick another name", entity=entity.name)
    try:
        conn.execute(f"INSERT INTO entities ({_COLUMNS}) VALUES (?,?,?,?,?,?,?)",
                     (entity.name, json.dumps([k.to_dict() for k in entity.keys]), entity.description,
                      json.dumps(entity.tags), now, now, entity.created_by))
    except errors("IntegrityError"):
        raise Conflict(f"Entity {entity.name!r} already exists; pick another name or update it",
                       entity=entity.name) from None
    _bump(conn)


def _bump(conn: Connection) -> None:
    from . import bump_version

    bump_version(conn)


def _entity(conn: Connection, row: tuple) -> Entity:
    name, keys, desc, tags, created, modified, by = row
    return Entity(name=name, keys=tuple(Feature.from_dict(k) for k in json.loads(keys)), description=desc,
                  tags=json.loads(tags), created_at=created, modified_at=modified, created_by=by,
                  groups=tuple(groups_of(conn, name)))


def load(conn: Connection, name: str) -> Entity:
    if not isinstance(name, str):
        raise ValidationError(f"Entity name must be a string, got {name!r}")
    row = conn.execute(f"SELECT {_COLUMNS} FROM entities WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise missing(name)
    return _entity(conn, row)


def load_all(conn: Connection) -> list[Entity]:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM entities ORDER BY name").fetchall()
    return [_entity(conn, row) for row in rows]


def groups_of(conn: Connection, name: str) -> list[str]:
    """The groups declaring entity ``name``, in name order."""
    return [g for (g,) in conn.execute("SELECT name FROM feature_groups WHERE entity = ? ORDER BY name", (name,))]


def update(conn: Connection, name: str, now: int, **fields: Any) -> None:
    encoded = {k: json.dumps(v) if k == "tags" else v for k, v in fields.items()}
    sets = "".join(f"{k} = ?, " for k in encoded)
    cur = conn.execute(f"UPDATE entities SET {sets}modified_us = ? WHERE name = ?", (*encoded.values(), now, name))
    if cur.rowcount == 0:
        raise missing(name)
    _bump(conn)


def delete(conn: Connection, name: str) -> None:
    cur = conn.execute("DELETE FROM entities WHERE name = ?", (name,))
    if cur.rowcount == 0:
        raise missing(name)
    _bump(conn)


def attach(conn: Connection, group: str, entity: str | None, keys: dict[str, str], now: int) -> None:
    """Set (or with None clear) the group's entity and its identifier-to-key mapping."""
    cur = conn.execute("UPDATE feature_groups SET entity = ?, entity_keys = ?, modified_us = ? WHERE name = ?",
                       (entity, json.dumps(keys), now, group))
    if cur.rowcount == 0:
        raise NotFound(f"Feature group {group!r} does not exist", group=group)
    _bump(conn)


def search(conn: Connection, matches: Any) -> list[dict[str, Any]]:
    """Entity hits of a registry search: ``matches(name, description, tags)`` says where one matched."""
    hits = []
    for name, desc, tags in conn.execute("SELECT name, description, tags FROM entities ORDER BY name"):
        found = matches(name, desc, json.loads(tags))
        if found:
            hits.append({"kind": "entity", "entity": name, "group": None, "feature": None, "description": desc,
                         "matched": found})
    return hits
