"""Where streams keep their place: the next offset of every topic partition a stream has
written, moved in the same transaction as the rows it wrote (so the rows and the place commit
together or not at all), and each stream's last state for ``stream status``.

A persistence leaf: it imports floors 1-4 only, so the core's schema set-up can create it.
"""
from __future__ import annotations

import json
from typing import Any

from ..databases import Connection, run_script
from ..errors import Conflict

SCHEMA = """
CREATE TABLE IF NOT EXISTS stream_offsets (
    stream TEXT NOT NULL,
    topic TEXT NOT NULL,
    kafka_partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    high_watermark INTEGER,
    updated_us INTEGER NOT NULL,
    PRIMARY KEY (stream, topic, kafka_partition)
);
CREATE TABLE IF NOT EXISTS streams (
    name TEXT PRIMARY KEY,
    target TEXT NOT NULL,
    spec TEXT NOT NULL,
    messages INTEGER NOT NULL DEFAULT 0,
    run_messages INTEGER NOT NULL DEFAULT 0,
    rows_written INTEGER NOT NULL DEFAULT 0,
    rows_rejected INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    started_us INTEGER NOT NULL,
    updated_us INTEGER NOT NULL
);
"""

Partition = tuple[str, int]  # (topic, partition)


def init(conn: Connection) -> None:
    run_script(conn, SCHEMA)


def offsets(conn: Connection, stream: str) -> dict[Partition, int]:
    """The next offset to read of every partition the stream has written."""
    rows = conn.execute("SELECT topic, kafka_partition, next_offset FROM stream_offsets WHERE stream = ?",
                        (stream,)).fetchall()
    return {(topic, partition): offset for topic, partition, offset in rows}


def advance(conn: Connection, stream: str, moves: dict[Partition, tuple[int | None, int]], now_us: int,
            highs: dict[Partition, int | None] | None = None) -> None:
    """Move each partition from the offset the consumer last stored (None: none yet) to its new
    next offset, inside the caller's write transaction. A partition another consumer moved in
    the meantime (a rebalance, a consumer presumed dead that was not) raises Conflict, so the
    whole transaction, rows included, rolls back: a message is never written twice. ``highs``:
    each partition's end offset as the consumer last saw it (its lag is the difference)."""
    stored = offsets(conn, stream)
    for (topic, partition), (expected, new) in moves.items():
        if stored.get((topic, partition)) != expected:
            raise Conflict(f"Stream {stream!r}: partition {topic}/{partition} was moved to offset "
                           f"{stored.get((topic, partition))} by another consumer (this one expected {expected}); "
                           "its batch is dropped and it reads on from the stored offset", stream=stream)
    highs = highs or {}
    conn.executemany(
        "INSERT INTO stream_offsets (stream, topic, kafka_partition, next_offset, high_watermark, updated_us) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (stream, topic, kafka_partition) DO UPDATE SET "
        "next_offset = excluded.next_offset, high_watermark = excluded.high_watermark, updated_us = excluded.updated_us",
        [(stream, topic, partition, new, highs.get((topic, partition)), now_us)
         for (topic, partition), (_, new) in moves.items()])


def started(conn: Connection, stream: str, target: str, spec: dict[str, Any], now_us: int) -> None:
    """A consumer of ``stream`` started (its counts carry on from earlier runs)."""
    conn.execute(
        "INSERT INTO streams (name, target, spec, started_us, updated_us) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET target = excluded.target, spec = excluded.spec, run_messages = 0, "
        "started_us = excluded.started_us, updated_us = excluded.updated_us, last_error = NULL",
        (stream, target, json.dumps(spec, sort_keys=True), now_us, now_us))


def counted(conn: Connection, stream: str, messages: int, written: int, rejected: int, now_us: int,
            error: str | None = None) -> None:
    conn.execute("UPDATE streams SET messages = messages + ?, run_messages = run_messages + ?, "
                 "rows_written = rows_written + ?, "
                 "rows_rejected = rows_rejected + ?, last_error = COALESCE(?, last_error), updated_us = ? "
                 "WHERE name = ?", (messages, messages, written, rejected, error, now_us, stream))


def status(conn: Connection) -> list[dict[str, Any]]:
    """Every stream with its counts, its latest run's rate (messages/s from its start to its last
    batch), and per partition the stored offset and the lag behind the partition's end as the
    consumer last saw it (None before it saw one)."""
    out = []
    for name, target, spec, messages, run, written, rejected, error, started_us, updated_us in conn.execute(
            "SELECT name, target, spec, messages, run_messages, rows_written, rows_rejected, last_error, started_us, "
            "updated_us FROM streams ORDER BY name").fetchall():
        parts = conn.execute("SELECT topic, kafka_partition, next_offset, high_watermark FROM stream_offsets "
                             "WHERE stream = ? ORDER BY topic, kafka_partition", (name,)).fetchall()
        seconds = (updated_us - started_us) / 1e6
        out.append({"stream": name, "group": target, "spec": json.loads(spec), "messages": messages,
                    "rows_written": written, "rows_rejected": rejected, "last_error": error,
                    "started_us": started_us, "updated_us": updated_us,
                    "rate": run / seconds if run and seconds > 0 else None,
                    "offsets": {f"{t}/{p}": o for t, p, o, _ in parts},
                    "lag": {f"{t}/{p}": None if h is None else max(h - o, 0) for t, p, o, h in parts}})
    return out
