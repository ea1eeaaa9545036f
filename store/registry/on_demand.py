"""The registry's on-demand features: ``on_demand_features`` (one row per live feature: its
current version) and ``on_demand_versions`` (every version's definition as JSON, its source text
included, kept forever so a service version names exactly the code it ran).

Every function takes an open connection, so callers decide the transaction.
"""
from __future__ import annotations

import json
from typing import Any

from ..databases import Connection, run_script
from ..errors import Conflict, NotFound, ValidationError
from ..model.on_demand import OnDemandFeature
from ..model.schema import Feature

SCHEMA = """
CREATE TABLE IF NOT EXISTS on_demand_features (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    created_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS on_demand_versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (name, version)
);
"""


def init(conn: Connection) -> None:
    run_script(conn, SCHEMA)


def missing(name: str, version: int | None = None) -> NotFound:
    if version is not None:
        return NotFound(f"On-demand feature {name!r} has no version {version}", on_demand=name)
    return NotFound(f"On-demand feature {name!r} does not exist; register it with register_on_demand() (list them "
                    "with list_on_demand_features())", on_demand=name)


def _definition(feature: OnDemandFeature) -> str:
    return json.dumps({"inputs": list(feature.inputs), "outputs": [[f.name, f.type] for f in feature.outputs],
                       "request": feature.request, "sql": feature.sql, "source": feature.source, "mode": feature.mode,
                       "description": feature.description, "owner": feature.owner,
                       **({"rules": [dict(r) for r in feature.rules]} if feature.rules else {})})


def register(conn: Connection, feature: OnDemandFeature, now: int) -> tuple[int, bool]:
    """Record ``feature`` as its name's next version unless it is the current one unchanged;
    (its version, whether a version was added)."""
    from . import bump_version

    twin = conn.execute("SELECT name, version FROM on_demand_features WHERE lower(name) = ?",
                        (feature.name.lower(),)).fetchone()
    if twin and twin[0] != feature.name:
        raise ValidationError(f"On-demand feature {feature.name!r} differs from the existing {twin[0]!r} only in "
                              "letter case; pick another name", on_demand=feature.name)
    text = _definition(feature)
    if twin:
        current = conn.execute("SELECT definition FROM on_demand_versions WHERE name = ? AND version = ?",
                               twin).fetchone()
        if current and current[0] == text:
            return twin[1], False
    row = conn.execute("SELECT max(version) FROM on_demand_versions WHERE name = ?", (feature.name,)).fetchone()
    version = (row[0] or 0) + 1
    conn.execute("INSERT INTO on_demand_versions (name, version, definition, created_us, created_by) "
                 "VALUES (?,?,?,?,?)", (feature.name, version, text, now, feature.created_by))
    if twin:
        conn.execute("UPDATE on_demand_features SET version = ? WHERE name = ?", (version, feature.name))
    else:
        conn.execute("INSERT INTO on_demand_features (name, version, created_us) VALUES (?,?,?)",
                     (feature.name, version, now))
    bump_version(conn)
    return version, True


def load(conn: Connection, name: str, version: int | None = None) -> OnDemandFeature:
    """The definition (without a callable: ``store.retrieval.on_demand`` makes it from the source)."""
    if not isinstance(name, str):
        raise ValidationError(f"On-demand feature name must be a string, got {name!r}")
    head = conn.execute("SELECT version FROM on_demand_features WHERE name = ?", (name,)).fetchone()
    if head is None and version is None:
        raise missing(name)
    wanted = head[0] if version is None else version
    if isinstance(wanted, bool) or not isinstance(wanted, int):
        raise ValidationError(f"version must be a whole number, got {version!r}", on_demand=name)
    row = conn.execute("SELECT definition, created_us, created_by FROM on_demand_versions WHERE name = ? AND "
                       "version = ?", (name, wanted)).fetchone()
    if row is None:
        raise missing(name, wanted) if head is not None else missing(name)
    d: dict[str, Any] = json.loads(row[0])
    return OnDemandFeature(name=name, inputs=tuple(d["inputs"]), outputs=tuple(Feature(n, t) for n, t in d["outputs"]),
                           request=d["request"], sql=d["sql"], source=d["source"], mode=d["mode"],
                           description=d["description"], owner=d["owner"], version=wanted, created_at=row[1],
                           created_by=row[2], rules=tuple(d.get("rules", ())))


def names(conn: Connection) -> list[str]:
    return [n for (n,) in conn.execute("SELECT name FROM on_demand_features ORDER BY name")]


def users(conn: Connection, group: str, features: set[str]) -> list[OnDemandFeature]:
    """Live on-demand features whose current version reads one of ``group``'s ``features``."""
    found = [load(conn, n) for n in names(conn)]
    return [f for f in found if any(g == group and feat in features for g, feat in f.pairs)]


def delete(conn: Connection, name: str, users: list[str]) -> None:
    """Remove the feature (its versions stay); refused while a live service's current version uses it."""
    from . import bump_version

    if users:
        raise Conflict(f"On-demand feature {name!r} is used by feature service(s) {', '.join(users)}; update or "
                       "delete them first", on_demand=name)
    if conn.execute("DELETE FROM on_demand_features WHERE name = ?", (name,)).rowcount == 0:
        raise missing(name)
    bump_version(conn)
