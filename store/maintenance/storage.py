"""What a group costs on disk: online bytes (SQLite's own page count for the group's table and
indexes), offline files, bytes and rows, the oldest event kept, and the offline growth per day
(rows and bytes of new Parquet data written each day; a compaction's rewrites do not count)."""
from __future__ import annotations

import sqlite3
from typing import Any

from ..sqlite import errors

DAY_US = 86_400_000_000


def online_bytes(conn: sqlite3.Connection, group: str) -> int | None:
    """Bytes of the group's online table and its indexes; None where SQLite has no dbstat."""
    try:
        row = conn.execute(
            "SELECT sum(pgsize) FROM dbstat WHERE aggregate = TRUE AND name IN "
            "(SELECT name FROM sqlite_schema WHERE tbl_name = ?)", (f"online:{group}",)).fetchone()
    except errors("OperationalError"):
        return None
    return int(row[0] or 0)


def growth(conn: sqlite3.Connection, group: str, now_us: int, days: int = 30) -> list[dict[str, Any]]:
    """New offline rows and bytes per UTC day over the last ``days`` days (days with none left out)."""
    first = now_us // DAY_US - days + 1
    return [{"day_us": day * DAY_US, "rows": rows, "bytes": size} for day, rows, size in conn.execute(
        "SELECT day, rows, bytes FROM offline_growth WHERE group_name = ? AND day >= ? ORDER BY day", (group, first))]
