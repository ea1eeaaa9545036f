"""Statistics of a feature group, computed by DuckDB (``summary`` also by Spark) over the offline store.

Every function aggregates inside DuckDB and returns a small frame (one row per feature, bin or
time bucket), so a group with millions of offline rows never becomes a pandas table. Rows are
either the full history (every accepted version, delete markers left out) or the latest view
(one live version per record), chosen by ``scope``.

Studio-facing: its value types (``Distribution``, ``TimeSeries``, ``HISTORY``/``LATEST``,
``type_label``) and the distribution and time-series reads the Statistics tab charts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from .. import engines
from ..engines.plans import HISTORY, LATEST, QUANTILES, numeric, rows_sql
from ..errors import ValidationError
from ..model.schema import Feature, FeatureGroup
from ..offline import snapshot as query
from ..online.sqlite_tables import q

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from ..core.context import StoreContext

__all__ = ["HISTORY", "LATEST", "QUANTILES", "rows_sql", "read", "summary", "distribution", "over_time",
           "Distribution", "TimeSeries", "type_label"]
T = TypeVar("T")
SUMMARY_COLUMNS = ["feature", "type", "count", "nulls", "null_pct", "distinct", "min", "max", "mean", "std",
                   "p05", "p25", "median", "p75", "p95", "top_values"]
# Bucket widths for time series, narrowest first: the first that gives at most max_buckets wins.
INTERVALS = [("minute", 60), ("5 minutes", 300), ("15 minutes", 900), ("hour", 3600), ("6 hours", 21600),
             ("day", 86400), ("week", 604800), ("30 days", 2592000), ("365 days", 31536000)]


def read(ctx: "StoreContext", group: str, work: Callable[["duckdb.DuckDBPyConnection", FeatureGroup, str], T]) -> T:
    """Run ``work(con, group, view)`` on a snapshot of the group's offline history (DuckDB's time
    zone is UTC, see ``duck``), after the read check the snapshot makes;
    retried on the same snapshot if compaction moved a file mid-read."""
    (snap,) = ctx.snapshots([group])

    def run() -> T:
        with query.connect() as con:
            return work(con, snap.group, query.register(con, snap))

    return query.with_retry(run)


def type_label(f: Feature) -> str:
    return f"{f.collection}<{f.type}>" if f.collection else f.type


def summary(ctx: "StoreContext", group: str, scope: str = HISTORY, engine: str = "duckdb",
            spark: Any = None) -> "pd.DataFrame":
    """One row per feature: count, nulls, distinct, min/max, mean/std, quantiles, top values.

    Mean, std and quantiles (interpolated, exact) apply to numeric features; the three most
    frequent values (ties: the smaller first) to scalar strings and integers other than the
    record key's columns and event time. One pass of ``engine`` ("duckdb", or "spark" on ``spark``)
    computes every feature's aggregates; the values are worded by DuckDB for either engine, so
    both give the same text.
    """
    import pandas as pd

    if scope not in (HISTORY, LATEST):
        raise ValidationError(f"scope={scope!r}: use {HISTORY!r} or {LATEST!r}")
    chosen = engines.get(engine, spark)
    (snap,) = ctx.snapshots([group])
    g = snap.group
    raw = chosen.summary_row(snap, scope)
    with query.connect() as con:  # min and max as DuckDB words them, whichever engine found them
        con.register("__raw", raw)
        texts = con.sql("SELECT " + ", ".join(f"lo{j}::VARCHAR, hi{j}::VARCHAR" for j in range(len(g.features)))
                        + " FROM __raw").fetchall()[0]
    values = raw.to_pylist()[0]
    total = values["__total"]
    out = []
    for j, f in enumerate(g.features):
        count = values[f"c{j}"]
        quantiles = values[f"q{j}"] or [None] * len(QUANTILES)
        top = values.get(f"t{j}")
        out.append([f.name, type_label(f), count, total - count, 100.0 * (total - count) / total if total else None,
                    values[f"d{j}"], texts[2 * j], texts[2 * j + 1], values[f"m{j}"], values[f"s{j}"], *quantiles,
                    ", ".join(top) if top else None])
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)


@dataclass
class Distribution:
    """A feature's value distribution: ``kind`` is "histogram" (start, end, count) or "top"
    (value, count); collections count their elements."""

    feature: str
    kind: str
    table: "pd.DataFrame"
    values: int  # non-null values counted
    nulls: int
    other: int = 0  # values outside the listed top values


def distribution(ctx: "StoreContext", group: str, feature: str, scope: str = HISTORY, bins: int = 30,
                 top: int = 20) -> Distribution:
    """A histogram of a numeric feature, or the most frequent values of any other."""
    import pandas as pd

    def work(con: "duckdb.DuckDBPyConnection", g: FeatureGroup, view: str) -> Distribution:
        f = g.feature(feature)
        c = q(f.name)
        rows = rows_sql(g, view, scope)
        con.execute(f"CREATE TEMP TABLE __x AS SELECT {f'unnest({c})' if f.is_collection else c} AS x FROM ({rows})")
        values, nulls = con.sql("SELECT count(x), count(*) - count(x) FROM __x").fetchall()[0]
        if f.type in ("Integral", "Fractional"):
            return Distribution(feature, "histogram", _histogram(con, f.type == "Integral", bins), values, nulls)
        table = con.sql(f"SELECT x::VARCHAR AS value, count(*) AS count FROM __x WHERE x IS NOT NULL "
                        f"GROUP BY x ORDER BY count DESC, value LIMIT {int(top)}").df()
        return Distribution(feature, "top", table, values, nulls, values - int(table["count"].sum()))

    def _histogram(con: "duckdb.DuckDBPyConnection", integral: bool, n: int) -> "pd.DataFrame":
        lo, hi = con.sql("SELECT min(x), max(x) FROM __x WHERE isfinite(x)").fetchall()[0]
        if lo is None:
            return pd.DataFrame({"start": [], "end": [], "count": []})
        # Integers with a small range get one bar per value; otherwise n equal-width bins.
        if integral and hi - lo + 1 <= n:
            width, n = 1.0, int(hi - lo) + 1
        elif hi == lo:
            width, n = 1.0, 1
        else:
            width = (hi - lo) / n
        counts = dict(con.sql(f"SELECT least(floor((x - {lo}) / {width})::BIGINT, {n - 1}) AS k, count(*) FROM __x "
                              "WHERE isfinite(x) GROUP BY k").fetchall())
        starts = [lo + k * width for k in range(n)]
        return pd.DataFrame({"start": starts, "end": [s + width for s in starts],
                             "count": [counts.get(k, 0) for k in range(n)]})

    return read(ctx, group, work)


@dataclass
class TimeSeries:
    """Row counts (and optionally one feature's aggregates) per event-time bucket of ``interval``."""

    interval: str
    table: "pd.DataFrame"  # bucket, rows, deletes[, mean, p05, p95, min, max | non_null, distinct]


def over_time(ctx: "StoreContext", group: str, feature: str | None = None, max_buckets: int = 120) -> TimeSeries:
    """Rows and delete markers per event-time bucket over the full history; with ``feature``, its
    mean, 5th/95th percentiles, min and max per bucket (numeric) or its non-null and distinct
    counts (other types).

    Buckets are whole multiples of the interval since the epoch, computed on integers (several
    times faster than time_bucket on time-zone-aware timestamps).
    """
    def work(con: "duckdb.DuckDBPyConnection", g: FeatureGroup, view: str) -> TimeSeries:
        extra, outer = "", "*"
        if feature is not None:
            f = g.feature(feature)
            c = q(f.name)
            if numeric(f):
                extra = f", avg({c}) AS mean, quantile_cont({c}, [0.05, 0.95]) AS __q, min({c}) AS min, max({c}) AS max"
                outer = "bucket, rows, deletes, mean, __q[1] AS p05, __q[2] AS p95, min, max"
            else:
                extra = f", count({c}) AS non_null, count(DISTINCT {c}) AS distinct"
        lo, hi = con.sql(f"SELECT epoch(min(_event_time)), epoch(max(_event_time)) FROM {view}").fetchall()[0]
        span = 0 if lo is None else hi - lo
        label, seconds = next(((n, s) for n, s in INTERVALS if span / s < max_buckets), INTERVALS[-1])
        sql = (f"SELECT {outer} FROM (SELECT to_timestamp(epoch_us(_event_time) // {seconds * 1_000_000} * {seconds}) "
               f"AS bucket, count(*) FILTER (NOT is_deleted) AS rows, count(*) FILTER (is_deleted) AS deletes{extra} "
               f"FROM {view} GROUP BY ALL) ORDER BY bucket")
        return TimeSeries(label, query.to_pandas(con.sql(sql).to_arrow_table()))

    return read(ctx, group, work)
