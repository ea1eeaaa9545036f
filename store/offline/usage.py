"""What a group costs on disk: online bytes (see ``OnlineBackend.size_bytes``), offline files,
bytes and rows, the oldest event kept, and the offline growth per day (rows and bytes of new
Parquet data written each day; a compaction's rewrites do not count)."""
from __future__ import annotations

from typing import Any

from ..databases import Connection

DAY_US = 86_400_000_000


def growth(conn: Connection, group: str, now_us: int, days: int = 30) -> list[dict[str, Any]]:
    """New offline rows and bytes per UTC day over the last ``days`` days (days with none left out)."""
    first = now_us // DAY_US - days + 1
    return [{"day_us": day * DAY_US, "rows": rows, "bytes": size} for day, rows, size in conn.execute(
        "SELECT day, rows, bytes FROM offline_growth WHERE group_name = ? AND day >= ? ORDER BY day", (group, first))]
