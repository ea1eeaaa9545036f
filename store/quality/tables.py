"""Where quality lives in the store's database: each group's rules, monitor settings and
quarantine retention; the quarantine of refused rows; and the record of validation runs.

Every function takes an open connection, so callers choose the transaction (a refused put's
quarantine entry commits on its own, since the put itself rolls back).
"""
from __future__ import annotations

import json
import threading
from typing import Any, Iterable

from ..databases import Connection, run_script

SCHEMA = """
CREATE TABLE IF NOT EXISTS quality_settings (
    group_name TEXT PRIMARY KEY,
    rules TEXT NOT NULL DEFAULT '[]',
    monitor TEXT NOT NULL DEFAULT '{}',
    quarantine_retention_seconds REAL,
    updated_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    group_name TEXT NOT NULL,
    quarantined_us INTEGER NOT NULL,
    source TEXT,
    position TEXT,
    rules TEXT NOT NULL,
    reason TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS quarantine_by_group ON quarantine (group_name, quarantined_us);
CREATE TABLE IF NOT EXISTS validation_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    group_name TEXT NOT NULL,
    started_us INTEGER NOT NULL,
    seconds REAL NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    rows_checked INTEGER NOT NULL,
    rows_written INTEGER NOT NULL,
    rows_warned INTEGER NOT NULL,
    rows_rejected INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    per_rule TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS validation_runs_by_group ON validation_runs (group_name, started_us);
CREATE UNIQUE INDEX IF NOT EXISTS validation_runs_per_minute ON validation_runs (group_name, started_us, source)
    WHERE kind = 'puts';
"""
DEFAULT_QUARANTINE_RETENTION = 30 * 86400.0
MINUTE_US = 60_000_000


def init(conn: Connection) -> None:
    run_script(conn, SCHEMA)


# ----------------------------------------------------------------------------- settings


def settings(conn: Connection, group: str) -> dict[str, Any]:
    row = conn.execute("SELECT rules, monitor, quarantine_retention_seconds FROM quality_settings WHERE group_name = ?",
                       (group,)).fetchone()
    if row is None:
        return {"rules": [], "monitor": {}, "quarantine_retention_seconds": DEFAULT_QUARANTINE_RETENTION}
    retention = DEFAULT_QUARANTINE_RETENTION if row[2] is None else row[2]
    return {"rules": json.loads(row[0]), "monitor": json.loads(row[1]), "quarantine_retention_seconds": retention}


def save(conn: Connection, group: str, now_us: int, **fields: Any) -> None:
    """Set rules, monitor and/or quarantine_retention_seconds of a group."""
    conn.execute("INSERT INTO quality_settings (group_name, updated_us) VALUES (?, ?) ON CONFLICT DO NOTHING",
                 (group, now_us))
    for key, value in fields.items():
        encoded = json.dumps(value) if key in ("rules", "monitor") else value
        conn.execute(f"UPDATE quality_settings SET {key} = ?, updated_us = ? WHERE group_name = ?",
                     (encoded, now_us, group))


def forget(conn: Connection, group: str) -> None:
    for table in ("quality_settings", "quarantine", "validation_runs"):
        conn.execute(f"DELETE FROM {table} WHERE group_name = ?", (group,))


# ----------------------------------------------------------------------------- quarantine


def quarantine(conn: Connection, group: str, now_us: int, source: str | None,
               rows: Iterable[tuple[str | None, str, str, dict[str, Any]]]) -> int:
    """Keep refused rows: (position, rules, reason, record as received) each."""
    entries = [(group, now_us, source, pos, rules, reason, _record_json(record)) for pos, rules, reason, record in rows]
    conn.executemany("INSERT INTO quarantine (group_name, quarantined_us, source, position, rules, reason, record) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)", entries)
    return len(entries)


def _record_json(record: dict[str, Any]) -> str:
    """A refused record as JSON text, whatever it holds: a lone surrogate is kept escaped (it is
    no UTF-8), and a list nested past what json can write is kept as its shortened repr."""
    try:
        text = json.dumps(record, default=_plain, ensure_ascii=False)
    except RecursionError:
        from ..model.coerce import shown

        return json.dumps({"record": shown(record)})
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(record, default=_plain)
    return text


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def quarantined(conn: Connection, group: str, since_us: int | None = None, ids: Iterable[int] | None = None,
                limit: int | None = None) -> list[dict[str, Any]]:
    sql = "SELECT id, quarantined_us, source, position, rules, reason, record FROM quarantine WHERE group_name = ?"
    args: list[Any] = [group]
    if since_us is not None:
        sql += " AND quarantined_us >= ?"
        args.append(since_us)
    if ids is not None:
        wanted = [int(i) for i in ids]
        sql += f" AND id IN ({','.join('?' * len(wanted)) or 'NULL'})"
        args += wanted
    sql += " ORDER BY id DESC" + (f" LIMIT {int(limit)}" if limit else "")
    return [{"id": i, "quarantined_us": t, "source": src, "position": pos, "rules": rules, "reason": reason,
             "record": json.loads(record)} for i, t, src, pos, rules, reason, record in conn.execute(sql, args)]


def release(conn: Connection, group: str, ids: Iterable[int]) -> int:
    wanted = [int(i) for i in ids]
    if not wanted:
        return 0
    return conn.execute(f"DELETE FROM quarantine WHERE group_name = ? AND id IN ({','.join('?' * len(wanted))})",
                        (group, *wanted)).rowcount


def expire(conn: Connection, group: str, now_us: int) -> int:
    """Drop quarantined rows older than the group's quarantine retention."""
    keep = settings(conn, group)["quarantine_retention_seconds"]
    return conn.execute("DELETE FROM quarantine WHERE group_name = ? AND quarantined_us < ?",
                        (group, now_us - int(keep * 1_000_000))).rowcount


# ----------------------------------------------------------------------------- runs


def record_run(conn: Connection, group: str, started_us: int, seconds: float, kind: str, source: str | None,
               checked: int, written: int, warned: int, rejected: int, outcome: str,
               per_rule: dict[str, dict[str, int]]) -> None:
    conn.execute(
        "INSERT INTO validation_runs (group_name, started_us, seconds, kind, source, rows_checked, rows_written, "
        "rows_warned, rows_rejected, outcome, per_rule) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (group, started_us, seconds, kind, source or "", checked, written, warned, rejected, outcome,
         json.dumps(per_rule)))


def runs(conn: Connection, group: str, since_us: int | None, limit: int) -> list[dict[str, Any]]:
    sql = ("SELECT id, started_us, seconds, kind, source, rows_checked, rows_written, rows_warned, rows_rejected, "
           "outcome, per_rule FROM validation_runs WHERE group_name = ?")
    args: list[Any] = [group]
    if since_us is not None:
        sql += " AND started_us >= ?"
        args.append(since_us)
    sql += f" ORDER BY started_us DESC, id DESC LIMIT {int(limit)}"
    keys = ("id", "started_us", "seconds", "kind", "source", "rows_checked", "rows_written", "rows_warned",
            "rows_rejected", "outcome", "per_rule")
    return [{**dict(zip(keys, row)), "per_rule": json.loads(row[-1])} for row in conn.execute(sql, args)]


class PutTally:
    """Single puts counted per group, minute and source in memory, and written as one validation
    run per minute (by ``flush``, which the store calls on flush, close and in background
    maintenance) rather than a row per put."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, int, str], dict[str, Any]] = {}

    def count(self, group: str, now_us: int, source: str, written: bool, warned: list[str], rejected: list[str]) -> None:
        key = (group, now_us - now_us % MINUTE_US, source)
        with self._lock:
            c = self._counts.setdefault(key, {"checked": 0, "written": 0, "warned": 0, "rejected": 0, "per_rule": {}})
            c["checked"] += 1
            c["written"] += int(written)
            c["warned"] += int(bool(warned))
            c["rejected"] += int(bool(rejected))
            for name, verdict in [*((r, "warned") for r in warned), *((r, "rejected") for r in rejected)]:
                rule = c["per_rule"].setdefault(name, {"rejected": 0, "warned": 0, "failed_batch": 0})
                rule[verdict] += 1

    def pending(self) -> bool:
        """Whether puts were counted since the last flush."""
        with self._lock:
            return bool(self._counts)

    def flush(self, conn: Connection) -> None:
        with self._lock:
            counts, self._counts = self._counts, {}
        for (group, minute, source), c in counts.items():
            row = conn.execute("SELECT per_rule FROM validation_runs WHERE kind = 'puts' AND group_name = ? "
                               "AND started_us = ? AND source = ?", (group, minute, source)).fetchone()
            merged = json.loads(row[0]) if row else {}
            for name, verdicts in c["per_rule"].items():
                into = merged.setdefault(name, {"rejected": 0, "warned": 0, "failed_batch": 0})
                for k, v in verdicts.items():
                    into[k] += v
            conn.execute(
                "INSERT INTO validation_runs (group_name, started_us, seconds, kind, source, rows_checked, rows_written, "
                "rows_warned, rows_rejected, outcome, per_rule) VALUES (?, ?, 60, 'puts', ?, ?, ?, ?, ?, 'written', ?) "
                "ON CONFLICT (group_name, started_us, source) WHERE kind = 'puts' DO UPDATE SET "
                + ", ".join(f"{col} = validation_runs.{col} + excluded.{col}"
                            for col in ("rows_checked", "rows_written", "rows_warned", "rows_rejected"))
                + ", per_rule = excluded.per_rule",
                (group, minute, source, c["checked"], c["written"], c["warned"], c["rejected"], json.dumps(merged)))

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._counts)
