"""Read-only views the studio shows beyond the store's own reads: a page of latest records, a
time-travel comparison with the SQL that produced it, a group's writes and its last rows.

Both return at most a page of rows however large the group is; counts and diffs are computed by
DuckDB (or SQLite for the online store), never by loading a table into pandas.

Studio-facing: ``Browser`` (from ``FeatureStore.browser()``) is what the Data, Time travel and
Dataset pages call, and they show its ``Page``/``TimeTravel``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from .. import registry
from ..common.sqltext import q
from ..common.timeutil import arg_to_us, now_us
from ..model.schema import FeatureGroup
from ..offline import snapshot as query
from ..offline.retention import check as check_retained
from ..online.sqlite_tables import decode
from .stats import read

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

    from ..core.context import StoreContext
    from .dataset import KeyCheck
    from .stats import Distribution, TimeSeries

CHANGES = ("added", "changed", "deleted", "unchanged")


@dataclass
class Page:
    """One page of records and how many there are in all."""

    rows: "pd.DataFrame"
    total: int


def latest_page(ctx: "StoreContext", group: str, limit: int = 50, offset: int = 0) -> Page:
    """Live records ordered by identifier: from the online store when the group has one (an
    index walk in SQLite, cost growing with the offset), else from the offline latest view. Both
    meet the policy's read check."""
    import pandas as pd

    ctx.policy.require_read([group])
    g, prep = ctx.group(group)
    if g.online:
        now = now_us()
        ids = ctx.online.ids(g, now, None, int(offset) + int(limit), False)[int(offset):]
        found = ctx.online.get_many(g, ids, now) if ids else {}
        rows = [decode(found[i], prep["names"], prep["json_cols"]) for i in ids if i in found]
        return Page(pd.DataFrame(rows, columns=g.feature_names), ctx.online.count(g, now))

    def work(con: "duckdb.DuckDBPyConnection", g: FeatureGroup, view: str) -> Page:
        sql = query.as_of_sql(g, view, None, None, None, False)
        total = con.sql(f"SELECT count(*) FROM ({sql})").fetchall()[0][0]
        rows = query.to_pandas(con.sql(f"{sql} LIMIT {int(limit)} OFFSET {int(offset)}").to_arrow_table())
        return Page(rows, total)

    return read(ctx, group, work)


@dataclass
class TimeTravel:
    """The group as of an instant compared with now.

    ``records`` and ``diff`` hold the first ``limit`` rows by identifier; ``total`` and ``counts``
    cover all of them. ``sql`` and ``diff_sql`` run as they are on the store's ``query``.
    """

    records: "pd.DataFrame"
    total: int
    diff: "pd.DataFrame"
    counts: dict[str, int] = field(default_factory=dict)
    sql: str = ""
    diff_sql: str = ""


def _diff_select(g: FeatureGroup, then: str, now: str, ignore_event_time: bool = False) -> str:
    """One row per identifier present at either time: what happened to it, which features
    differ, and each feature's value then and now. With ``ignore_event_time`` a record whose
    only difference is its event time (re-stated with the same values) counts as unchanged."""
    rid = q(g.identifiers[0])  # a key column is never null in a record: its absence says the record is
    others = [f for f in g.feature_names if f not in g.identifiers]
    compared = [f for f in others if not (ignore_event_time and f == g.event_time)]
    differs = {f: f"t.{q(f)} IS DISTINCT FROM n.{q(f)}" for f in others}
    change = (f"CASE WHEN n.{rid} IS NULL THEN 'deleted' WHEN t.{rid} IS NULL THEN 'added' "
              f"WHEN {' OR '.join(differs[f] for f in compared) or 'FALSE'} THEN 'changed' ELSE 'unchanged' END")
    names = ", ".join(f"CASE WHEN {differs[f]} THEN '{f}' END" for f in compared)
    pairs = ", ".join(f"t.{q(f)} AS {q(f + ' (as of)')}, n.{q(f)} AS {q(f + ' (now)')}" for f in others)
    changed = f"concat_ws(', ', {names})" if compared else "NULL"
    key = ", ".join(f"coalesce(t.{q(k)}, n.{q(k)}) AS {q(k)}" for k in g.identifiers)
    same = " AND ".join(f"t.{q(k)} = n.{q(k)}" for k in g.identifiers)
    return (f"SELECT {change} AS change, {key}, {changed} AS changed"
            f"{', ' if pairs else ''}{pairs} FROM {then} t FULL OUTER JOIN {now} n ON {same}")


def time_travel(ctx: "StoreContext", group: str, event_time: Any = None, known_at: Any = None,
                limit: int | None = 500, ignore_event_time: bool = False) -> TimeTravel:
    """Records as of ``event_time`` (default: latest), as known at ``known_at`` (default: now),
    with the differences from today's latest view: added, changed and deleted records
    (``ignore_event_time``: a new event time alone is no change). ``limit=None`` returns every row."""
    event_us = arg_to_us(event_time, "event_time") if event_time is not None else None
    known_us = arg_to_us(known_at, "known_at") if known_at is not None else None
    cap = "" if limit is None else f" LIMIT {int(limit)}"

    def work(con: "duckdb.DuckDBPyConnection", g: FeatureGroup, view: str) -> TimeTravel:
        with ctx.db.read() as conn:
            retained_from = registry.state(conn, group)["retained_from_us"]
        check_retained(g, retained_from, event_us, "Time travel to event time")
        check_retained(g, retained_from, known_us, "Time travel known at")
        then_sql = query.as_of_sql(g, view, event_us, known_us, None, False)
        now_sql = query.as_of_sql(g, view, None, None, None, False)
        rid = ", ".join(q(k) for k in g.identifiers)
        diff_select = _diff_select(g, "then_records", "now_records", ignore_event_time)
        con.execute(f"CREATE TEMP TABLE then_records AS {then_sql}")
        con.execute(f"CREATE TEMP TABLE now_records AS {now_sql}")
        con.execute(f"CREATE TEMP TABLE __diff AS {diff_select}")
        total = con.sql("SELECT count(*) FROM then_records").fetchall()[0][0]
        counts = dict.fromkeys(CHANGES, 0)
        counts.update(dict(con.sql("SELECT change, count(*) FROM __diff GROUP BY change").fetchall()))
        records = con.sql(f"SELECT * FROM then_records ORDER BY {rid}{cap}").to_arrow_table()
        diff = con.sql(f"SELECT * FROM __diff WHERE change <> 'unchanged' ORDER BY {rid}{cap}")
        diff_sql = f"WITH then_records AS ({then_sql}), now_records AS ({now_sql})\n{diff_select} ORDER BY {rid}"
        return TimeTravel(query.to_pandas(records), total, query.to_pandas(diff.to_arrow_table()), counts,
                          then_sql, diff_sql)

    return read(ctx, group, work)


def write_batches(ctx: "StoreContext", group: str, limit: int = 200) -> "pd.DataFrame":
    """The group's writes, newest first: each write time with its rows, delete markers and event
    time span. An ingest is one write; each put or delete is its own. "Known at" a write time
    sees that write and everything before it."""

    def work(con: "duckdb.DuckDBPyConnection", g: FeatureGroup, view: str) -> "pd.DataFrame":
        return query.to_pandas(con.sql(
            f"SELECT write_time, count(*) AS rows, count(*) FILTER (WHERE is_deleted) AS deletes, "
            f"min(_event_time) AS first_event, max(_event_time) AS last_event FROM {view} "
            f"GROUP BY write_time ORDER BY write_time DESC LIMIT {int(limit)}").to_arrow_table())

    return read(ctx, group, work)


def latest_writes(ctx: "StoreContext", group: str, limit: int = 10_000) -> "pa.Table":
    """The ``limit`` rows written last (delete markers left out), as typed features: what a new
    rule is previewed on. A group without an offline store gives its first live records."""
    import pyarrow as pa

    g, _ = ctx.group(group)
    if not g.offline:
        return pa.Table.from_pandas(latest_page(ctx, group, limit).rows, preserve_index=False)

    def work(con: "duckdb.DuckDBPyConnection", g: FeatureGroup, view: str) -> "pa.Table":
        cols = ", ".join(q(f) for f in g.feature_names)
        return con.sql(f"SELECT {cols} FROM {view} WHERE NOT is_deleted "
                       f"ORDER BY write_time DESC, _seq DESC LIMIT {int(limit)}").to_arrow_table()

    return read(ctx, group, work)


class Browser:
    """The studio's views of one open store under its caller's policy (``FeatureStore.browser()``):
    each method checks the caller's read of the groups it shows, as the facade's own reads do."""

    def __init__(self, ctx: "StoreContext") -> None:
        self._ctx = ctx

    def latest_page(self, group: str, limit: int = 50, offset: int = 0) -> Page:
        return latest_page(self._ctx, group, limit, offset)

    def time_travel(self, group: str, event_time: Any = None, known_at: Any = None, limit: int | None = 500,
                    ignore_event_time: bool = False) -> TimeTravel:
        return time_travel(self._ctx, group, event_time, known_at, limit, ignore_event_time)

    def write_batches(self, group: str, limit: int = 200) -> "pd.DataFrame":
        return write_batches(self._ctx, group, limit)

    def distribution(self, group: str, feature: str, scope: str = "history", bins: int = 30) -> "Distribution":
        from .stats import distribution

        return distribution(self._ctx, group, feature, scope, bins)

    def over_time(self, group: str, feature: str | None = None, max_buckets: int = 120) -> "TimeSeries":
        from .stats import over_time

        return over_time(self._ctx, group, feature, max_buckets)

    def check_key(self, sample: "pa.Table", column: str, group: str, key: str | None = None) -> "KeyCheck":
        from .dataset import check_key

        return check_key(self._ctx, sample, column, group, key)

    def feature_columns(self, entity_columns: Sequence[str], features: Sequence[str],
                        prefix_features: bool = False) -> list[dict[str, str]]:
        from .dataset import feature_columns

        return feature_columns(self._ctx, entity_columns, features, prefix_features)
