"""The audit log: who did what to which group, when, with what counts and outcome.

Append-only and hash-chained: each entry's hash covers its fields and the previous entry's
hash, so editing, deleting or reordering an entry breaks the chain from there on, and
``verify`` says where. The chain's head (its last id and hash, and how many entries were
written) is kept in ``audit_head``, updated in the transaction of every append, so deleting the
newest entries shows too (a chain cut at its end is still a valid chain); ``verify`` returns the
count and last hash for anchoring outside the store. Entries never hold feature values or
secrets: counts, names and outcomes only.

Single puts are counted, not logged one by one: a chained entry per put cost 40-48% of the put
rate on SQLite (more pages per commit, a hash, the index), the count 8-11% (``bench.audit_puts``),
so each put adds one to its principal's count for its group (``audit_put_counts``) in the put's
own transaction, and ``fold`` turns the counts into one chained ``put_record`` entry per principal
and group ({"records", "first_us", "last_us"}) before any other entry, at every flush, and before
the log is read or verified.
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
CREATE TABLE IF NOT EXISTS audit_head (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    last_id INTEGER NOT NULL,
    last_hash TEXT NOT NULL,
    entries INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_put_counts (
    principal TEXT NOT NULL,
    group_name TEXT NOT NULL,
    records INTEGER NOT NULL,
    first_us INTEGER NOT NULL,
    last_us INTEGER NOT NULL,
    PRIMARY KEY (principal, group_name)
);
"""
COLUMNS = ("id", "at_us", "principal", "action", "group_name", "outcome", "details", "prev_hash", "hash")
GENESIS = "0" * 64


def init(conn: Connection) -> None:
    """The tables, and the head of a log kept before heads were (taken as it stands, once)."""
    run_script(conn, SCHEMA)
    if conn.execute("SELECT 1 FROM audit_head").fetchone() is None:
        count, last_id = conn.execute("SELECT count(*), max(id) FROM audit_log").fetchone()
        row = conn.execute("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
        conn.execute("INSERT INTO audit_head VALUES (1, ?, ?, ?)", (last_id or 0, row[0] if row else GENESIS, count))


def _digest(prev: str, at_us: int, principal: str, action: str, group: str | None, outcome: str,
            details: str) -> str:
    body = json.dumps([prev, at_us, principal, action, group, outcome, details], separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def append(conn: Connection, at_us: int, principal: str, action: str, group: str | None, outcome: str,
           details: dict[str, Any] | None = None) -> None:
    """Add one entry; call inside a write transaction (which orders the chain). The puts counted
    so far go in first, so the log keeps the order things happened in. It follows the recorded
    head, so an entry written after the newest were deleted does not chain to what is left: the
    cut shows where it was made."""
    fold(conn)
    _append(conn, at_us, principal, action, group, outcome, details)


def _append(conn: Connection, at_us: int, principal: str, action: str, group: str | None, outcome: str,
            details: dict[str, Any] | None) -> None:
    row = conn.execute("SELECT last_hash FROM audit_head").fetchone()
    if row is None:  # the head's record was deleted: keep the chain going; verify reports the loss
        row = conn.execute("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    prev = row[0] if row else GENESIS
    text = json.dumps(details or {}, sort_keys=True, default=str)
    digest = _digest(prev, at_us, principal, action, group, outcome, text)
    new_id = conn.execute("INSERT INTO audit_log (at_us, principal, action, group_name, outcome, details, prev_hash, "
                          "hash) VALUES (?,?,?,?,?,?,?,?) RETURNING id",
                          (at_us, principal, action, group, outcome, text, prev, digest)).fetchone()[0]
    conn.execute("UPDATE audit_head SET last_id = ?, last_hash = ?, entries = entries + 1", (new_id, digest))


def count_put(conn: Connection, at_us: int, principal: str, group: str) -> None:
    """Count one put of ``principal`` into ``group``; call inside the put's write transaction."""
    # An UPDATE of the row there is costs SQLite a fifth of an upsert; the upsert starts a count.
    if conn.execute("UPDATE audit_put_counts SET records = records + 1, last_us = ? WHERE principal = ? AND "
                    "group_name = ?", (at_us, principal, group)).rowcount == 0:
        conn.execute("INSERT INTO audit_put_counts VALUES (?, ?, 1, ?, ?) ON CONFLICT (principal, group_name) DO "
                     "UPDATE SET records = audit_put_counts.records + 1, last_us = excluded.last_us",
                     (principal, group, at_us, at_us))


def counted(conn: Connection) -> bool:
    """Whether puts were counted and not yet folded into entries (a read: a reader takes the
    write lock to fold only when there is something to fold, so it never waits behind an ingest
    for nothing)."""
    return conn.execute("SELECT 1 FROM audit_put_counts LIMIT 1").fetchone() is not None


def fold(conn: Connection) -> int:
    """Turn the put counts into chained entries (one per principal and group, dated at the last
    put counted) and clear them; call inside a write transaction. Returns the entries written."""
    rows = conn.execute("SELECT principal, group_name, records, first_us, last_us FROM audit_put_counts "
                        "ORDER BY last_us, principal, group_name").fetchall()
    for principal, group, records, first_us, last_us in rows:
        _append(conn, last_us, principal, "put_record", group, "ok",
                {"records": records, "first_us": first_us, "last_us": last_us})
    if rows:
        conn.execute("DELETE FROM audit_put_counts")
    return len(rows)


def verify(conn: Connection) -> dict[str, Any]:
    """Walk the chain and compare its end with the recorded head: {"ok", "entries", "last_id",
    "last_hash", "first_bad_id", "problem"}. Give a read transaction (one snapshot of both)."""
    prev, count, last_id = GENESIS, 0, 0

    def result(problem: str | None, bad: int | None = None) -> dict[str, Any]:
        return {"ok": problem is None, "entries": count, "last_id": last_id, "last_hash": prev,
                "first_bad_id": bad, "problem": problem}

    for row in conn.execute(f"SELECT {', '.join(COLUMNS)} FROM audit_log ORDER BY id"):
        entry = dict(zip(COLUMNS, row))
        if entry["prev_hash"] != prev:
            return result(f"entry {entry['id']} does not follow the one before it (one was removed or reordered)",
                          entry["id"])
        expected = _digest(prev, entry["at_us"], entry["principal"], entry["action"], entry["group_name"],
                           entry["outcome"], entry["details"])
        if entry["hash"] != expected:
            return result(f"entry {entry['id']} was changed after it was written", entry["id"])
        prev, count, last_id = entry["hash"], count + 1, entry["id"]
    head = conn.execute("SELECT last_id, last_hash, entries FROM audit_head").fetchone()
    if head is None:
        return result("the record of the log's head (table audit_head) was deleted, so the newest entries may be "
                      "missing; compare the count and last hash with a copy kept outside the store")
    if (last_id, prev, count) != tuple(head):
        how = ("entries were appended past it without the store (or by a version that does not keep the head)"
               if count > head[2] else "the newest entries were deleted or the last one rewritten")
        return result(f"the log ends at entry {last_id} ({count:,} entries), but {head[2]:,} were written, the last "
                      f"being entry {head[0]}: {how}", head[0])
    return result(None)


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
