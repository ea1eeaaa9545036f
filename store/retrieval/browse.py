"""Read-only views the studio shows beyond ``FeatureStore``'s own reads: a page of latest records
and a time-travel comparison with the SQL that produced it.

Both return at most a page of rows however large the group is; counts and diffs are computed by
DuckDB (or SQLite for the online store), never by loading a table into pandas.

Studio-facing: the Data and Time travel views call these and show their ``Page``/``TimeTravel``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..offline import snapshot as query
from ..online.sqlite_tables import q
from ..model.schema import FeatureGroup
from ..offline.retention import check as check_retained
from .stats import read
from ..common.timeutil import arg_to_us

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

    from ..featurestore import FeatureStore

CHANGES = ("added", "changed", "deleted", "unchanged")


@dataclass
class Page:
    """One page of records and how many there are in all."""

    rows: "pd.DataFrame"
    total: int


def latest_page(fs: "FeatureStore", group: str, limit: int = 50, offset: int = 0) -> Page:
    """Live records ordered by identifier: from the online store when the group has one (an
    index walk in SQLite, cost growing with the offset), else from the offline latest view."""
    import pandas as pd

    g = fs.feature_group(group)
    if g.online:
        ids = fs.list_record_ids(group, limit=int(offset) + int(limit))[int(offset):]
        rows = fs.batch_get_records(group, ids) if ids else []
        return Page(pd.DataFrame(rows, columns=g.feature_names), fs.describe(group, storage=False)["online_records"])

    def work(con: "duckdb.DuckDBPyConnection", g: FeatureGroup, view: str) -> Page:
        sql = query.as_of_sql(g, view, None, None, None, False)
        total = con.sql(f"SELECT count(*) FROM ({sql})").fetchall()[0][0]
        rows = query.to_pandas(con.sql(f"{sql} LIMIT {int(limit)} OFFSET {int(offset)}").to_arrow_table())
        return Page(rows, total)

    return read(fs, group, work)


@dataclass
class TimeTravel:
    """The group as of an instant compared with now.

    ``records`` and ``diff`` hold the first ``limit`` rows by identifier; ``total`` and ``counts``
    cover all of them. ``sql`` and ``diff_sql`` run as they are on ``FeatureStore.query``.
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
    rid = q(g.record_identifier)
    others = [f for f in g.feature_names if f != g.record_identifier]
    compared = [f for f in others if not (ignore_event_time and f == g.event_time)]
    differs = {f: f"t.{q(f)} IS DISTINCT FROM n.{q(f)}" for f in others}
    change = (f"CASE WHEN n.{rid} IS NULL THEN 'deleted' WHEN t.{rid} IS NULL THEN 'added' "
              f"WHEN {' OR '.join(differs[f] for f in compared) or 'FALSE'} THEN 'changed' ELSE 'unchanged' END")
    names = ", ".join(f"CASE WHEN {differs[f]} THEN '{f}' END" for f in compared)
    pairs = ", ".join(f"t.{q(f)} AS {q(f + ' (as of)')}, n.{q(f)} AS {q(f + ' (now)')}" for f in others)
    changed = f"concat_ws(', ', {names})" if compared else "NULL"
    return (f"SELECT {change} AS change, coalesce(t.{rid}, n.{rid}) AS {rid}, {changed} AS changed"
            f"{', ' if pairs else ''}{pairs} FROM {then} t FULL OUTER JOIN {now} n ON t.{rid} = n.{rid}")


def time_travel(fs: "FeatureStore", group: str, event_time: Any = None, known_at: Any = None,
                limit: int | None = 500, ignore_event_time: bool = False) -> TimeTravel:
    """Records as of ``event_time`` (default: latest), as known at ``known_at`` (default: now),
    with the differences from today's latest view: added, changed and deleted records
    (``ignore_event_time``: a new event time alone is no change). ``limit=None`` returns every row."""
    event_us = arg_to_us(event_time, "event_time") if event_time is not None else None
    known_us = arg_to_us(known_at, "known_at") if known_at is not None else None
    cap = "" if limit is None else f" LIMIT {int(limit)}"

    def work(con: "duckdb.DuckDBPyConnection", g: FeatureGroup, view: str) -> TimeTravel:
        retained_from = fs.describe(group, storage=False)["retained_from_us"]
        check_retained(g, retained_from, event_us, "Time travel to event time")
        check_retained(g, retained_from, known_us, "Time travel known at")
        then_sql = query.as_of_sql(g, view, event_us, known_us, None, False)
        now_sql = query.as_of_sql(g, view, None, None, None, False)
        rid = q(g.record_identifier)
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

    return read(fs, group, work)


def write_batches(fs: "FeatureStore", group: str, limit: int = 200) -> "pd.DataFrame":
    """The group's writes, newest first: each write time with its rows, delete markers and event
    time span. An ingest is one write; each put or delete is its own. "Known at" a write time
    sees that write and everything before it."""

    def work(con: "duckdb.DuckDBPyConnection", g: FeatureGroup, view: str) -> "pd.DataFrame":
        return query.to_pandas(con.sql(
            f"SELECT write_time, count(*) AS rows, count(*) FILTER (WHERE is_deleted) AS deletes, "
            f"min(_event_time) AS first_event, max(_event_time) AS last_event FROM {view} "
            f"GROUP BY write_time ORDER BY write_time DESC LIMIT {int(limit)}").to_arrow_table())

    return read(fs, group, work)


def latest_writes(fs: "FeatureStore", group: str, limit: int = 10_000) -> "pa.Table":
    """The ``limit`` rows written last (delete markers left out), as typed features: what a new
    rule is previewed on. A group without an offline store gives its first live records."""
    import pyarrow as pa

    g = fs.feature_group(group)
    if not g.offline:
        return pa.Table.from_pandas(latest_page(fs, group, limit).rows, preserve_index=False)

    def work(con: "duckdb.DuckDBPyConnection", g: FeatureGroup, view: str) -> "pa.Table":
        cols = ", ".join(q(f) for f in g.feature_names)
        return con.sql(f"SELECT {cols} FROM {view} WHERE NOT is_deleted "
                       f"ORDER BY write_time DESC, _seq DESC LIMIT {int(limit)}").to_arrow_table()

    return read(fs, group, work)
