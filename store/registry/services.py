"""The registry's feature services: ``feature_services`` (one row per live service: its current
version) and ``feature_service_versions`` (every version ever defined, kept forever, also after
the service is deleted, so a recreated service continues the numbering).

Every function takes an open connection, so callers decide the transaction.
"""
from __future__ import annotations

import json
from typing import Callable

from ..databases import Connection, run_script
from ..errors import Conflict, NotFound, ValidationError
from ..model.services import FeatureService

SCHEMA = """
CREATE TABLE IF NOT EXISTS feature_services (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    created_us INTEGER NOT NULL,
    modified_us INTEGER NOT NULL,
    created_by TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS feature_service_versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    features TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '{}',
    owner TEXT NOT NULL DEFAULT '',
    created_us INTEGER NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    on_demand TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (name, version)
);
"""
# Stores made before on-demand features: their service versions list none.
MIGRATION = "ALTER TABLE feature_service_versions ADD COLUMN on_demand TEXT NOT NULL DEFAULT '[]'"


def init(conn: Connection, columns: Callable[[Connection, str], set[str]]) -> None:
    run_script(conn, SCHEMA)
    if "on_demand" not in columns(conn, "feature_service_versions"):
        conn.execute(MIGRATION)


def missing(name: str, version: int | None = None) -> NotFound:
    if version is not None:
        return NotFound(f"Feature service {name!r} has no version {version}; its current one is feature_service(name).version",
                        service=name)
    return NotFound(f"Feature service {name!r} does not exist; list them with list_feature_services()", service=name)


def _bump(conn: Connection) -> None:
    from . import bump_version

    bump_version(conn)


def _head(conn: Connection, name: str) -> tuple | None:
    return conn.execute("SELECT version, created_us, modified_us, created_by FROM feature_services WHERE name = ?",
                        (name,)).fetchone()


def insert(conn: Connection, service: FeatureService, now: int) -> int:
    """Record a new service; returns its version (1, or after the versions of a deleted one)."""
    twin = conn.execute("SELECT name FROM feature_services WHERE lower(name) = ?", (service.name.lower(),)).fetchone()
    if twin and twin[0] == service.name:
        raise Conflict(f"Feature service {service.name!r} already exists; pick another name or update it",
                       service=service.name)
    if twin:
        raise ValidationError(f"Feature service {service.name!r} differs from the existing {twin[0]!r} only in "
                              "letter case; pick another name", service=service.name)
    version = _next(conn, service.name)
    conn.execute("INSERT INTO feature_services (name, version, created_us, modified_us, created_by) "
                 "VALUES (?,?,?,?,?)", (service.name, version, now, now, service.created_by))
    _insert_version(conn, service, version, now)
    return version


def _next(conn: Connection, name: str) -> int:
    row = conn.execute("SELECT max(version) FROM feature_service_versions WHERE name = ?", (name,)).fetchone()
    return (row[0] or 0) + 1


def _insert_version(conn: Connection, service: FeatureService, version: int, now: int) -> None:
    conn.execute("INSERT INTO feature_service_versions (name, version, features, description, tags, owner, "
                 "created_us, created_by, on_demand) VALUES (?,?,?,?,?,?,?,?,?)",
                 (service.name, version, json.dumps([list(r) for r in service.features]), service.description,
                  json.dumps(service.tags), service.owner, now, service.created_by,
                  json.dumps([list(r) for r in service.on_demand])))
    _bump(conn)


def add_version(conn: Connection, service: FeatureService, now: int) -> int:
    """Record ``service`` as the service's next version and make it current."""
    if _head(conn, service.name) is None:
        raise missing(service.name)
    version = _next(conn, service.name)
    _insert_version(conn, service, version, now)
    conn.execute("UPDATE feature_services SET version = ?, modified_us = ? WHERE name = ?",
                 (version, now, service.name))
    return version


def load(conn: Connection, name: str, version: int | None = None) -> FeatureService:
    if not isinstance(name, str):
        raise ValidationError(f"Feature service name must be a string, got {name!r}")
    head = _head(conn, name)
    if head is None:
        raise missing(name)
    current, created, modified, creator = head
    wanted = current if version is None else version
    if isinstance(wanted, bool) or not isinstance(wanted, int):
        raise ValidationError(f"version must be a whole number, got {version!r}", service=name)
    row = conn.execute("SELECT features, description, tags, owner, created_us, created_by, on_demand FROM "
                       "feature_service_versions WHERE name = ? AND version = ?", (name, wanted)).fetchone()
    if row is None:
        raise missing(name, wanted)
    features, desc, tags, owner, version_us, by, on_demand = row
    return FeatureService(name=name, features=tuple(tuple(r) for r in json.loads(features)), description=desc,
                          tags=json.loads(tags), owner=owner, version=wanted, created_at=created,
                          modified_at=version_us, created_by=by or creator,
                          on_demand=tuple(tuple(r) for r in json.loads(on_demand)))


def names(conn: Connection) -> list[str]:
    return [n for (n,) in conn.execute("SELECT name FROM feature_services ORDER BY name")]


def versions(conn: Connection, name: str) -> list[FeatureService]:
    """Every version of a live service, oldest first."""
    if _head(conn, name) is None:
        raise missing(name)
    nums = [v for (v,) in conn.execute("SELECT version FROM feature_service_versions WHERE name = ? ORDER BY version",
                                       (name,))]
    return [load(conn, name, v) for v in nums]


def on_demand_users(conn: Connection, name: str) -> list[str]:
    """Live services whose current version computes the on-demand feature ``name``."""
    return [s for s in names(conn) if any(n == name for n, _ in load(conn, s).on_demand)]


def users(conn: Connection, group: str, features: set[str] | None = None) -> list[FeatureService]:
    """Live services whose current version reads ``group`` (or, given ``features``, one of them)."""
    found = []
    for name in names(conn):
        service = load(conn, name)
        if any(g == group and (features is None or f in features) for g, f in service.features):
            found.append(service)
    return found


def shown(services: list[FeatureService], may_read: Callable[[str], bool]) -> str:
    """The services by name for a message, those reading a group the reader may not see only counted."""
    seen = [s.name for s in services if all(may_read(g) for g in s.groups)]
    hidden = len(services) - len(seen)
    return ", ".join(seen + ([f"{hidden} you may not see"] if hidden else []))


def delete(conn: Connection, name: str) -> None:
    """Remove the service (its versions stay, as every definition version does)."""
    cur = conn.execute("DELETE FROM feature_services WHERE name = ?", (name,))
    if cur.rowcount == 0:
        raise missing(name)
    _bump(conn)
