"""The audit log: who did what to which group, when, with what counts and outcome.

Append-only and hash-chained: each entry's hash covers its fields and the previous entry's
hash, so editing, deleting or reordering an entry breaks the chain from there on, and
``verify`` says where. Entries never hold feature values or secrets: counts, names and
outcomes only.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from ..databases import Connection, run_script

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_us INTEGER NOT NULL,
    principal TEXT NOT NULL,
    action TEXT NOT NULL,
    group_name TEXT,
    outcome TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}',
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit_log (at_us);
"""
COLUMNS = ("id", "at_us", "principal", "action", "group_name", "outcome", "details", "prev_hash", "hash")
GENESIS = "0" * 64


def init(conn: Connection) -> None:
    run_script(conn, SCHEMA)


def _digest(prev: str, at_us: int, principal: str, action: str, group: str | None, outcome: str,
            details: str) -> str:
    body = json.dumps([prev, at_us, principal, action, group, outcome, details], separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def append(conn: Connection, at_us: int, principal: str, action: str, group: str | None, outcome: str,
           details: dict[str, Any] | None = None) -> None:
    """Add one entry; call inside a write transaction (which orders the chain)."""
    row = conn.execute("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    prev = row[0] if row else GENESIS
    text = json.dumps(details or {}, sort_keys=True, default=str)
    conn.execute("INSERT INTO audit_log (at_us, principal, action, group_name, outcome, details, prev_hash, hash) "
                 "VALUES (?,?,?,?,?,?,?,?)",
                 (at_us, principal, action, group, outcome, text,
                  prev, _digest(prev, at_us, principal, action, group, outcome, text)))


def verify(conn: Connection) -> dict[str, Any]:
    """Walk the chain: {"ok", "entries", "first_bad_id", "problem"}."""
    prev, count = GENESIS, 0
    for row in conn.execute(f"SELECT {', '.join(COLUMNS)} FROM audit_log ORDER BY id"):
        entry = dict(zip(COLUMNS, row))
        count += 1
        if entry["prev_hash"] != prev:
            return {"ok": False, "entries": count, "first_bad_id": entry["id"],
                    "problem": f"entry {entry['id']} does not follow the one before it (one was removed or reordered)"}
        expected = _digest(prev, entry["at_us"], entry["principal"], entry["action"], entry["group_name"],
                           entry["outcome"], entry["details"])
        if entry["hash"] != expected:
            return {"ok": False, "entries": count, "first_bad_id": entry["id"],
                    "problem": f"entry {entry['id']} was changed after it was written"}
        prev = entry["hash"]
    return {"ok": True, "entries": count, "first_bad_id": None, "problem": None}


def entries(conn: Connection, since_us: int | None = None, principal: str | None = None,
            group: str | None = None, action: str | None = None, limit: int = 10_000) -> list[dict[str, Any]]:
    where, args = [], []
    for column, value in (("principal", principal), ("group_name", group), ("action", action)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if since_us is not None:
        where.append("at_us >= ?")
        args.append(since_us)
    sql = f"SELECT {', '.join(COLUMNS[:7])} FROM audit_log"
    sql += (" WHERE " + " AND ".join(where)) if where else ""
    rows = conn.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
    return [{**dict(zip(COLUMNS[:7], r)), "details": json.loads(r[6])} for r in rows]
