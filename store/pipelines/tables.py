"""Where pipelines live in the store's database: definitions with their watermarks, runs, and
the locks that keep one run per pipeline and one scheduler per store.

A run's row is written when it starts (status ``running``) and finished in the same
transaction as its output rows and new watermark, so a run that dies leaves a ``running`` row
and nothing else; the next lock taker marks it failed. Every function takes an open
connection, so callers choose the transaction.

A pipeline's owner, the principal who created or last changed it and whom its scheduled runs act
as, is kept in the spec column's JSON under ``_owner`` (stores made before owners were kept need
no new column); ``load`` returns it apart from the spec.
"""
from __future__ import annotations

import json
import os
import socket
from typing import Any

from ..errors import Conflict, NotFound, ValidationError
from ..databases import Connection, errors, run_script

SCHEMA = """
CREATE TABLE IF NOT EXISTS pipelines (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    watermark TEXT NOT NULL DEFAULT '{}',
    last_fire_us INTEGER,
    created_us INTEGER NOT NULL,
    updated_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pipeline_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline TEXT NOT NULL,
    kind TEXT NOT NULL,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 1,
    window_start_us INTEGER,
    window_end_us INTEGER,
    rows_in INTEGER NOT NULL DEFAULT 0,
    rows_out INTEGER NOT NULL DEFAULT 0,
    rows_rejected INTEGER NOT NULL DEFAULT 0,
    started_us INTEGER NOT NULL,
    finished_us INTEGER,
    error TEXT,
    traceback TEXT,
    log TEXT NOT NULL DEFAULT '',
    host TEXT NOT NULL,
    pid INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS pipeline_runs_by_pipeline ON pipeline_runs (pipeline, id);
CREATE TABLE IF NOT EXISTS pipeline_locks (
    name TEXT PRIMARY KEY,
    run_id INTEGER,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    acquired_us INTEGER NOT NULL,
    heartbeat_us INTEGER NOT NULL
);
"""
OWNER = "_owner"  # the key of the owner in the spec column's JSON
SCHEDULER_LOCK = "*scheduler*"  # not a valid pipeline name, so it cannot clash with one
RUN_COLUMNS = ("id", "pipeline", "kind", "trigger", "status", "attempt", "window_start_us", "window_end_us",
               "rows_in", "rows_out", "rows_rejected", "started_us", "finished_us", "error", "traceback", "log",
               "host", "pid")
HOST = socket.gethostname()
# A lock held from another host that stopped beating is taken over after this long.
STALE_US = 10 * 60 * 1_000_000


def init(conn: Connection) -> None:
    run_script(conn, SCHEMA)


def load(conn: Connection, name: str) -> dict[str, Any]:
    if not isinstance(name, str):  # a driver's binding error would be all the caller saw
        raise ValidationError(f"A pipeline is named by a string, not {name!r}; `featurestore pipeline list` shows "
                              "the pipelines", pipeline=repr(name))
    row = conn.execute("SELECT spec, paused, watermark, last_fire_us, created_us, updated_us FROM pipelines "
                       "WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise missing(name)
    spec = json.loads(row[0])
    owner = spec.pop(OWNER, None)
    return {"spec": spec, "owner": owner, "paused": bool(row[1]), "watermark": json.loads(row[2]),
            "last_fire_us": row[3], "created_us": row[4], "updated_us": row[5]}


def missing(name: str) -> NotFound:
    """The error for a pipeline that does not exist, which a pipeline hidden from the caller raises too."""
    return NotFound(f"Pipeline {name!r} does not exist; `featurestore pipeline list` shows the pipelines",
                    pipeline=name)


def missing_run(run_id: int) -> NotFound:
    return NotFound(f"Pipeline run {run_id} does not exist", run=run_id)


def names(conn: Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT name FROM pipelines ORDER BY name")]


def insert(conn: Connection, name: str, spec: dict[str, Any], now: int, paused: bool, owner: str | None) -> None:
    try:
        conn.execute("INSERT INTO pipelines (name, spec, paused, created_us, updated_us) VALUES (?,?,?,?,?)",
                     (name, json.dumps({**spec, OWNER: owner}), int(paused), now, now))
    except errors("IntegrityError"):
        raise Conflict(f"Pipeline {name!r} already exists; update it, or delete it first", pipeline=name) from None


def update(conn: Connection, name: str, now: int, **fields: Any) -> None:
    """Set columns of the pipeline's row (spec and watermark as dicts; a new spec comes with its
    ``owner``)."""
    load(conn, name)
    if "spec" in fields:
        fields["spec"] = {**fields["spec"], OWNER: fields.pop("owner")}
    for key in ("spec", "watermark"):
        if key in fields:
            fields[key] = json.dumps(fields[key])
    if "paused" in fields:
        fields["paused"] = int(fields["paused"])
    sets = ", ".join(f"{k} = ?" for k in fields)
    conn.execute(f"UPDATE pipelines SET {sets}, updated_us = ? WHERE name = ?", (*fields.values(), now, name))


def delete(conn: Connection, name: str) -> None:
    load(conn, name)
    conn.execute("DELETE FROM pipelines WHERE name = ?", (name,))
    conn.execute("DELETE FROM pipeline_runs WHERE pipeline = ?", (name,))


# ----------------------------------------------------------------------------- runs

def start_run(conn: Connection, name: str, kind: str, trigger: str, attempt: int, now: int,
              window: tuple[int, int] | None = None) -> int:
    row = conn.execute(
        "INSERT INTO pipeline_runs (pipeline, kind, trigger, status, attempt, window_start_us, window_end_us, "
        "started_us, host, pid) VALUES (?,?,?,'running',?,?,?,?,?,?) RETURNING id",
        (name, kind, trigger, attempt, *(window or (None, None)), now, HOST, os.getpid())).fetchone()
    return int(row[0])


def finish_run(conn: Connection, run_id: int, status: str, now: int, **fields: Any) -> None:
    """Close a run: its status, when it finished, and any of rows_in/out/rejected, window, error, log."""
    fields = {k: v for k, v in fields.items() if v is not None}
    sets = "".join(f", {k} = ?" for k in fields)
    conn.execute(f"UPDATE pipeline_runs SET status = ?, finished_us = ?{sets} WHERE id = ?",
                 (status, now, *fields.values(), run_id))


def runs(conn: Connection, name: str | None, limit: int) -> list[dict[str, Any]]:
    where, args = ("WHERE pipeline = ?", [name]) if name is not None else ("", [])
    rows = conn.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM pipeline_runs {where} ORDER BY id DESC LIMIT ?",
                        (*args, limit)).fetchall()
    return [dict(zip(RUN_COLUMNS, r)) for r in rows]


def run(conn: Connection, run_id: int) -> dict[str, Any]:
    row = conn.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM pipeline_runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise missing_run(run_id)
    return dict(zip(RUN_COLUMNS, row))


def last_runs(conn: Connection, name: str | None = None) -> dict[str, dict[str, Any]]:
    """Each pipeline's newest run (of ``name`` only, if given), and its newest successful one
    (as ``last_success_us``). When the newest run ends a backfill, ``backfill`` sums the
    backfill's runs ({"runs", "rows_in", "rows_out", "rows_rejected", "failed", "start_us",
    "end_us"}): its last interval alone (often an empty today) would misstate what it wrote."""
    out: dict[str, dict[str, Any]] = {}
    where, args = ("WHERE pipeline = ?", (name,)) if name is not None else ("", ())
    rows = conn.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM pipeline_runs WHERE id IN "
                        f"(SELECT max(id) FROM pipeline_runs {where} GROUP BY pipeline)", args).fetchall()
    for r in rows:
        out[r[1]] = dict(zip(RUN_COLUMNS, r))
    for pipeline, finished in conn.execute("SELECT pipeline, max(finished_us) FROM pipeline_runs "
                                           f"WHERE status = 'succeeded' {where.replace('WHERE', 'AND')} "
                                           "GROUP BY pipeline", args):
        out.setdefault(pipeline, {})["last_success_us"] = finished
    for pipeline, last in out.items():
        if last.get("kind") == "backfill":
            last["backfill"] = _backfill(conn, pipeline)
    return out


def _backfill(conn: Connection, name: str) -> dict[str, Any]:
    """The newest backfill's runs: the trailing backfill runs whose intervals follow each other
    (one ``backfill`` call runs them oldest first, each starting where the previous ended)."""
    rows = conn.execute(
        "SELECT status, window_start_us, window_end_us, rows_in, rows_out, rows_rejected FROM pipeline_runs "
        "WHERE pipeline = ? AND id > coalesce((SELECT max(id) FROM pipeline_runs WHERE pipeline = ? "
        "AND kind <> 'backfill'), 0) ORDER BY id DESC LIMIT 10001", (name, name)).fetchall()
    taken = rows[:1]
    for row in rows[1:]:
        if row[2] is None or row[2] != taken[-1][1]:
            break
        taken.append(row)
    return {"runs": len(taken), "rows_in": sum(r[3] for r in taken), "rows_out": sum(r[4] for r in taken),
            "rows_rejected": sum(r[5] for r in taken), "failed": sum(r[0] == "failed" for r in taken),
            "start_us": taken[-1][1], "end_us": taken[0][2]}


# ----------------------------------------------------------------------------- locks

def take_lock(conn: Connection, name: str, now: int) -> None:
    """Hold ``name`` for this process; Conflict if a live holder has it. A holder that died (its
    process gone from this host, or silent for STALE_US) is replaced, and its run marked failed."""
    row = conn.execute("SELECT run_id, host, pid, acquired_us, heartbeat_us FROM pipeline_locks WHERE name = ?",
                       (name,)).fetchone()
    if row is not None:
        run_id, host, pid, acquired, beat = row
        if _alive(host, pid, beat, now):
            what = "the scheduler" if name == SCHEDULER_LOCK else f"pipeline {name!r}"
            from ..common.timeutil import us_to_iso

            raise Conflict(f"{what} is already running (process {pid} on {host}, since {us_to_iso(acquired)}"
                           + (f", run {run_id}" if run_id else "") + "); wait for it to finish", pipeline=name)
        if run_id is not None:
            finish_run(conn, run_id, "failed", now, error=f"The process running it ({pid} on {host}) stopped "
                                                          "before the run finished; nothing it computed was written")
    conn.execute("INSERT INTO pipeline_locks VALUES (?, NULL, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                 "run_id = NULL, host = excluded.host, pid = excluded.pid, acquired_us = excluded.acquired_us, "
                 "heartbeat_us = excluded.heartbeat_us", (name, HOST, os.getpid(), now, now))


def lock_run(conn: Connection, name: str, run_id: int) -> None:
    conn.execute("UPDATE pipeline_locks SET run_id = ? WHERE name = ? AND pid = ?", (run_id, name, os.getpid()))


def beat(conn: Connection, name: str, now: int) -> None:
    conn.execute("UPDATE pipeline_locks SET heartbeat_us = ? WHERE name = ? AND host = ? AND pid = ?",
                 (now, name, HOST, os.getpid()))


def release_lock(conn: Connection, name: str) -> None:
    conn.execute("DELETE FROM pipeline_locks WHERE name = ? AND host = ? AND pid = ?", (name, HOST, os.getpid()))


def locked(conn: Connection) -> dict[str, dict[str, Any]]:
    return {r[0]: {"run_id": r[1], "host": r[2], "pid": r[3], "since_us": r[4], "heartbeat_us": r[5]}
            for r in conn.execute("SELECT name, run_id, host, pid, acquired_us, heartbeat_us FROM pipeline_locks")}


def holder_alive(lock: dict[str, Any]) -> bool:
    from ..common.timeutil import now_us

    return _alive(lock["host"], lock["pid"], lock["heartbeat_us"], now_us())


def _alive(host: str, pid: int, beat_us: int, now: int) -> bool:
    """On this host a holder lives as long as its process; elsewhere, while it keeps beating."""
    if host != HOST:
        return now - beat_us < STALE_US
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
