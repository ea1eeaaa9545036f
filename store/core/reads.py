"""The offline read path behind the facade's reads: time travel (``as_of``), one record's
versions (``history``) and a user's read-only SQL (``query``, ``query_csv``).

Each read takes its groups' snapshots through ``ctx.snapshots``, which makes the policy's read
check, so a read is checked wherever it is called from; user SQL sees only the groups the policy
lets it see, as views, and runs on an engine (``store.engines``).
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, BinaryIO, Sequence

from .. import engines, registry
from ..common.timeutil import arg_to_us
from ..errors import ValidationError
from ..model import record as records
from ..offline import snapshot as offline
from .context import StoreContext

if TYPE_CHECKING:
    import pandas as pd


def as_of(ctx: StoreContext, group: str, event_time: Any = None, known_at: Any = None,
          record_ids: Sequence[Any] | None = None, include_metadata: bool = False) -> "pd.DataFrame":
    """Each record as it was at ``event_time``, as known at ``known_at`` (the facade's ``as_of``)."""
    event_us = arg_to_us(event_time, "event_time") if event_time is not None else None
    known_us = arg_to_us(known_at, "known_at") if known_at is not None else None
    g, _ = ctx.group(group)
    ids = offline.ids_arrow(record_ids, g) if record_ids is not None else None

    (snap,) = ctx.snapshots([group], event_us, known_us, known_us)
    g = snap.group  # the definition in force at known_at
    snap.check_retained(event_us, "as_of event_time")
    snap.check_retained(known_us, "as_of known_at")

    def run() -> "pd.DataFrame":
        with offline.connect() as con:
            view = offline.register(con, snap)
            if ids is not None:
                con.register("__ids", ids)
            sql = offline.as_of_sql(g, view, event_us, known_us, "__ids" if ids is not None else None, include_metadata)
            return offline.to_pandas(con.sql(sql).to_arrow_table())

    return offline.with_retry(run)


def history(ctx: StoreContext, group: str, record_id: Any) -> "pd.DataFrame":
    """Every version of one record, oldest first, with both clocks and delete markers."""
    g, _ = ctx.group(group)
    rid = records.identifier(g, record_id)

    (snap,) = ctx.snapshots([group])

    def run() -> "pd.DataFrame":
        with offline.connect() as con:
            view = offline.register(con, snap)
            return offline.to_pandas(con.sql(offline.history_sql(g, view), params=offline.key_params(g, rid)).to_arrow_table())

    return offline.with_retry(run)


def _queryable(ctx: StoreContext, sql: Any) -> list[str]:
    """The groups a user's SQL sees as views: those with an offline store the policy lets it see
    (their folders only, in the sandbox)."""
    if not isinstance(sql, str):
        raise ValidationError("sql must be a string")
    return ctx.policy.visible(registry.offline_names(ctx.db.get()))


def query(ctx: StoreContext, sql: str, limit: int | None = None, *, timeout: float | None = None,
          cancel: threading.Event | None = None, engine: str = "duckdb", spark: Any = None) -> "pd.DataFrame":
    """A user's read-only SQL on ``engine``, each visible group a view of its full history."""
    groups = _queryable(ctx, sql)
    return offline.to_pandas(engines.get(engine, spark).query(ctx, sql, groups, limit, timeout, cancel))


def query_csv(ctx: StoreContext, sql: str, out: BinaryIO, *, timeout: float | None = None,
              cancel: threading.Event | None = None) -> int:
    """The whole result of a user's DuckDB query streamed to ``out`` as CSV; returns its rows."""
    from ..engines.duckdb_engine import DuckDBEngine

    groups = _queryable(ctx, sql)
    return DuckDBEngine().query_csv(ctx, sql, groups, out, timeout, cancel)

