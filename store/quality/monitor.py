"""Monitoring a group: is its data fresh, how much arrives, and has any feature drifted.

Drift compares two windows of either clock, reading only the rows in them with DuckDB and
computing the figures with numpy (``drift``). A monitor's alerts compare the window that ends at
the group's latest event (``window``, a day by default) with the one before it
(``reference_window``, 7 days): a figure at or past its threshold is an alert, past half of it
a warning (for a p-value: at or below it, and below twice it). A window with fewer than
``min_rows`` rows (100) raises nothing: between a day of 100 rows and a week of 700, PSI over ten
bins is about 0.1 from sampling noise alone, and the Jensen-Shannon distance of nine categories
about 0.1, so smaller windows would alert on chance.
"""
from __future__ import annotations

import os
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Sequence, TypeVar

import numpy as np

from .. import registry
from ..common.sqltext import q
from ..retrieval.stats import read
from ..common.timeutil import arg_to_us, now_us, us_to_iso
from ..core.groups import describe
from ..errors import ValidationError
from ..pipelines import tables as pipeline_tables
from . import drift as figures
from . import tables

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from ..core.context import StoreContext
    from ..model.schema import FeatureGroup

T = TypeVar("T")
CLOCKS = {"event_time": "_event_time", "write_time": "write_time"}
PERIODS = ("hour", "day", "week", "month")
DEFAULTS = {"expected_interval": None, "drift": {"psi": 0.2, "js": 0.1}, "null_rate_change": 0.05,
            "window": 86400.0, "reference_window": 7 * 86400.0, "features": None, "min_rows": 100}
METRICS = ("psi", "js", "ks", "wasserstein", "chi2_pvalue")  # the figures a threshold can be set on
FIGURES = ("psi", "js", "ks", "wasserstein", "mean_change", "std_change", "chi2_pvalue", "new_categories",
           "missing_categories")


def _seconds(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValidationError(f"{what} must be a positive duration (a timedelta or seconds), not {value!r}")
    return float(value)


def normalise(settings: dict[str, Any]) -> dict[str, Any]:
    """Monitor settings as stored: durations in seconds, thresholds checked."""
    unknown = set(settings) - set(DEFAULTS)
    if unknown:
        raise ValidationError(f"Unknown monitor settings {sorted(unknown)}; use {', '.join(DEFAULTS)}")
    out = {**DEFAULTS, **settings}
    for key in ("expected_interval", "window", "reference_window"):
        out[key] = _seconds(out[key], key)
    for key in ("window", "reference_window"):
        if out[key] is None:
            out[key] = DEFAULTS[key]
    thresholds = out["drift"] or {}
    if not isinstance(thresholds, dict) or set(thresholds) - set(METRICS):
        raise ValidationError(f"drift thresholds must map some of {', '.join(METRICS)} to numbers")
    for metric, value in thresholds.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValidationError(f"drift threshold {metric} must be a positive number, not {value!r}")
    out["drift"] = dict(thresholds)
    change = out["null_rate_change"]
    if change is not None and (isinstance(change, bool) or not isinstance(change, (int, float)) or not 0 < change <= 1):
        raise ValidationError(f"null_rate_change must be a share between 0 and 1, not {change!r}")
    rows = out["min_rows"]
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise ValidationError(f"min_rows must be a whole number of rows, at least 1, not {rows!r}")
    if out["features"] is not None and (not isinstance(out["features"], (list, tuple))
                                        or not all(isinstance(f, str) for f in out["features"])):
        raise ValidationError("features must be a list of feature names")
    return out


def freshness(ctx: "StoreContext", group: str) -> dict[str, Any]:
    info = describe(ctx, group, storage=False)
    expected = tables.settings(ctx.db.get(), group)["monitor"].get("expected_interval")
    last = info["last_event_us"]
    now = now_us()
    if last is None:
        status = "empty"
    elif expected is None:
        status = "unknown"
    else:
        status = "late" if now - last > expected * 1_000_000 else "ok"
    return {"group": group, "last_event_us": last, "last_write_us": info["last_write_us"],
            "expected_interval_seconds": expected, "age_seconds": None if last is None else (now - last) / 1e6,
            "status": status}


def volume(ctx: "StoreContext", group: str, by: str = "day", clock: str = "event_time") -> "pd.DataFrame":
    """Rows and delete markers per ``by`` period of ``clock``."""
    if by not in PERIODS:
        raise ValidationError(f"by={by!r}: use one of {', '.join(PERIODS)}")
    column = _clock(clock)

    def work(con: "duckdb.DuckDBPyConnection", g: "FeatureGroup", view: str) -> "pd.DataFrame":
        from ..offline.snapshot import to_pandas

        return to_pandas(con.sql(
            f"SELECT date_trunc('{by}', {column}) AS period, count(*) FILTER (NOT is_deleted) AS rows, "
            f"count(*) FILTER (is_deleted) AS deletes FROM {view} GROUP BY 1 ORDER BY 1").to_arrow_table())

    return read(ctx, group, work)


def _clock(clock: str) -> str:
    if clock not in CLOCKS:
        raise ValidationError(f"clock={clock!r}: use event_time or write_time")
    return CLOCKS[clock]


def _window(window: tuple[Any, Any], what: str) -> tuple[int, int]:
    if not isinstance(window, (tuple, list)) or len(window) != 2:
        raise ValidationError(f"{what} must be a (start, end) pair of times")
    start, end = arg_to_us(window[0], f"{what} start"), arg_to_us(window[1], f"{what} end")
    if end <= start:
        raise ValidationError(f"{what} ends ({us_to_iso(end)}) before it starts ({us_to_iso(start)})")
    return start, end


def drift(ctx: "StoreContext", group: str, reference: tuple[Any, Any], current: tuple[Any, Any],
          features: Sequence[str] | None = None, clock: str = "event_time",
          thresholds: dict[str, float] | None = None, null_rate_change: float | None = 0.05,
          min_rows: int = DEFAULTS["min_rows"]) -> "pd.DataFrame":
    """One row per feature with every figure of ``drift`` and a status from the thresholds."""
    return drift_between(ctx, group, _window(reference, "reference"), _window(current, "current"), features, clock,
                         thresholds, null_rate_change, min_rows)


def drift_between(ctx: "StoreContext", group: str, ref: tuple[int, int], cur: tuple[int, int],
                  features: Sequence[str] | None, clock: str, thresholds: dict[str, float] | None,
                  null_rate_change: float | None, min_rows: int) -> "pd.DataFrame":
    """``drift`` for windows given in microseconds."""
    import pandas as pd

    column = _clock(clock)
    thresholds = DEFAULTS["drift"] if thresholds is None else thresholds
    chosen = _chosen(ctx.group(group)[0], features)

    def work(con: "duckdb.DuckDBPyConnection", _g: "FeatureGroup", view: str) -> list[dict[str, Any]]:
        from ..common.sqltext import ts_literal

        def rows(lo: int, hi: int):
            cols = ", ".join(q(f.name) for f in chosen) or "1 AS __none"
            return con.sql(f"SELECT {cols} FROM {view} WHERE NOT is_deleted AND {column} >= {ts_literal(lo)} "
                           f"AND {column} < {ts_literal(hi)}").to_arrow_table()

        a, b = rows(*ref), rows(*cur)
        return _each(lambda f: _feature_figures(f, a.column(f.name), b.column(f.name), thresholds, null_rate_change,
                                                min_rows), chosen)

    out = read(ctx, group, work)
    return pd.DataFrame(out, columns=["feature", "kind", "rows_reference", "rows_current", "null_rate_reference",
                                      "null_rate_current", "null_rate_change", *FIGURES, "status"])


def drift_timeline(ctx: "StoreContext", group: str, periods: int = 14,
                   features: Sequence[str] | None = None) -> "pd.DataFrame":
    """``drift`` of each of the last ``periods`` monitor windows against the reference window
    before it (the windows ``check`` alerts on, stepped back one window at a time), read in one
    pass: a long frame, one row per window and feature, for a feature-by-window heatmap. Each
    window is [window_start, window_end); its reference is [reference_start, window_start)."""
    import pandas as pd
    import pyarrow as pa

    if not 1 <= int(periods) <= 366:
        raise ValidationError(f"periods={periods!r}: use 1 to 366 windows")
    settings = {**DEFAULTS, **tables.settings(ctx.db.get(), group)["monitor"]}
    g = ctx.group(group)[0]
    chosen = _chosen(g, features if features is not None else settings["features"])
    columns = ["window_start", "window_end", "reference_start", "feature", "kind", "rows_reference", "rows_current",
               "null_rate_reference", "null_rate_current", "null_rate_change", *FIGURES, "status"]
    last = describe(ctx, group, storage=False)["last_event_us"]
    if last is None or not g.offline:
        return pd.DataFrame(columns=columns)
    step, ref_len = int(settings["window"] * 1_000_000), int(settings["reference_window"] * 1_000_000)
    end = last + 1
    lo = end - int(periods) * step - ref_len

    def work(con: "duckdb.DuckDBPyConnection", _g: "FeatureGroup", view: str) -> "pa.Table":
        from ..common.sqltext import ts_literal

        cols = "".join(f", {q(f.name)}" for f in chosen)
        return con.sql(f"SELECT epoch_us(_event_time) AS __t{cols} FROM {view} WHERE NOT is_deleted "
                       f"AND _event_time >= {ts_literal(lo)} AND _event_time < {ts_literal(end)} "
                       "ORDER BY _event_time").to_arrow_table()

    table = read(ctx, group, work)
    times = table.column("__t").to_numpy()
    out = []
    for k in range(int(periods) - 1, -1, -1):
        cur_hi = end - k * step
        cur_lo = cur_hi - step
        ref_lo = cur_lo - ref_len
        i0, i1, i2 = np.searchsorted(times, [ref_lo, cur_lo, cur_hi])
        ref, cur = table.slice(i0, i1 - i0), table.slice(i1, i2 - i1)
        rows = _each(lambda f: _feature_figures(f, ref.column(f.name), cur.column(f.name), settings["drift"],
                                                settings["null_rate_change"], settings["min_rows"]), chosen)
        out += [{"window_start": cur_lo, "window_end": cur_hi, "reference_start": ref_lo, **row} for row in rows]
    frame = pd.DataFrame(out, columns=columns)
    for c in ("window_start", "window_end", "reference_start"):
        frame[c] = pd.to_datetime(frame[c], unit="us", utc=True)
    return frame


def distributions(ctx: "StoreContext", group: str, feature: str, reference: tuple[Any, Any],
                  current: tuple[Any, Any], clock: str = "event_time", bins: int = 30) -> "pd.DataFrame":
    """The feature's values in both windows side by side, as shares: numbers in ``bins`` bins
    over both windows' range (``bucket`` and ``upper`` are each bin's edges; the bins grow
    geometrically when every value is positive and they span three orders of magnitude, as money
    often does, and ``attrs["scale"]`` says "log"), text by value (the 30 most frequent over both
    windows, the rest as "(other)"), nulls as "(null)"."""
    import pandas as pd

    column = _clock(clock)
    f = ctx.group(group)[0].feature(feature)
    if f.is_collection:
        raise ValidationError(f"{feature!r} is a {f.collection}: distributions are drawn for scalar features")
    ref, cur = _window(reference, "reference"), _window(current, "current")

    def work(con: "duckdb.DuckDBPyConnection", _g: "FeatureGroup", view: str) -> list[Any]:
        from ..common.sqltext import ts_literal

        return [con.sql(f"SELECT {q(feature)} AS v FROM {view} WHERE NOT is_deleted AND {column} >= "
                        f"{ts_literal(lo)} AND {column} < {ts_literal(hi)}").to_arrow_table().column("v")
                for lo, hi in (ref, cur)]

    a, b = read(ctx, group, work)
    nulls = [c.null_count for c in (a, b)]
    totals = [max(len(c), 1) for c in (a, b)]
    scale, upper = "linear", None
    if f.type in ("Integral", "Fractional"):
        x, y = _numbers(a), _numbers(b)
        both = np.concatenate([x, y])
        if len(both):
            lo, hi = float(both.min()), float(both.max())
            if lo > 0 and hi / lo >= 1000:
                scale, edges = "log", np.geomspace(lo, hi, bins + 1)
            else:
                edges = np.histogram_bin_edges(both, bins=bins)
            counts = [np.histogram(v, edges)[0] for v in (x, y)]
            labels: list[Any] = list(edges[:-1])
            upper = list(edges[1:])
        else:
            counts, labels = [np.array([], dtype=int)] * 2, []
    else:
        import pyarrow.compute as pc

        tallies = [pd.Series(pc.drop_null(c).to_numpy(zero_copy_only=False)).value_counts() for c in (a, b)]
        merged = pd.concat(tallies, axis=1).fillna(0)
        merged = merged.loc[merged.sum(axis=1).sort_values(ascending=False, kind="stable").index]
        top, rest = merged.iloc[:30], merged.iloc[30:]
        labels = [str(v) for v in top.index] + (["(other)"] if len(rest) else [])
        counts = [np.append(top.iloc[:, i].to_numpy(), rest.iloc[:, i].sum()) if len(rest) else top.iloc[:, i].to_numpy()
                  for i in (0, 1)]
    if any(nulls):
        labels = [*labels, "(null)"]
        upper = None if upper is None else [*upper, None]
        counts = [np.append(c, n) for c, n in zip(counts, nulls)]
    out = pd.DataFrame({"bucket": labels, "upper": upper if upper is not None else [None] * len(labels),
                        "reference": counts[0] / totals[0], "current": counts[1] / totals[1]})
    out.attrs["scale"] = scale
    return out


def _chosen(g: "FeatureGroup", features: Sequence[str] | None) -> list[Any]:
    """The features drift is measured on: the ones named, else all but the identifier and event time."""
    if features is not None:
        return [g.feature(f) for f in features]
    return [f for f in g.features if f.name not in (*g.identifiers, g.event_time)]


def _feature_figures(f: Any, ref: Any, cur: Any, thresholds: dict[str, float],
                     null_rate_change: float | None, min_rows: int) -> dict[str, Any]:
    """Every figure of one feature, and its status: "few_rows" when either window holds fewer
    than ``min_rows`` rows, since a figure from a handful of rows is mostly noise."""
    import pyarrow.compute as pc

    row: dict[str, Any] = {"feature": f.name, "rows_reference": len(ref), "rows_current": len(cur)}
    ref_nulls = ref.null_count / len(ref) if len(ref) else None
    cur_nulls = cur.null_count / len(cur) if len(cur) else None
    row.update(null_rate_reference=ref_nulls, null_rate_current=cur_nulls,
               null_rate_change=None if ref_nulls is None or cur_nulls is None else cur_nulls - ref_nulls)
    if f.is_collection:
        row["kind"] = "collection"
    elif f.type in ("Integral", "Fractional"):
        row["kind"] = "numeric"
        row.update(figures.numeric(_numbers(ref), _numbers(cur)))
    else:
        row["kind"] = "categorical"
        counts = {}
        for side, col in (("reference", ref), ("current", cur)):
            vc = pc.value_counts(pc.drop_null(col)) if len(col) else None
            counts[side] = {} if vc is None else dict(zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist()))
        row.update(figures.categorical(counts["reference"], counts["current"]))
    few = min(len(ref), len(cur)) < min_rows
    row["status"] = "few_rows" if few else status(row, thresholds, null_rate_change)[0]
    return row


def _each(work: Any, items: Sequence[Any]) -> list[Any]:
    """``work`` over ``items`` on a few threads, in order: numpy's sorts and Arrow's counts let go
    of the GIL, so features are measured side by side."""
    from concurrent.futures import ThreadPoolExecutor

    if len(items) < 2:
        return [work(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1, len(items))) as pool:
        return list(pool.map(work, items))


def _numbers(col: Any) -> np.ndarray:
    import pyarrow.compute as pc

    return np.asarray(pc.drop_null(col).to_numpy(zero_copy_only=False), dtype=float)


def status(row: dict[str, Any], thresholds: dict[str, float], null_rate_change: float | None
           ) -> tuple[str, list[tuple[str, float, float, str]]]:
    """ok / warn / alert for a feature's figures, and each (metric, value, threshold, level) past it."""
    findings = []
    for metric, limit in thresholds.items():
        value = row.get(metric)
        if value is None:
            continue
        if metric == "chi2_pvalue":
            level = "alert" if value <= limit else "warn" if value <= 2 * limit else None
        else:
            level = "alert" if value >= limit else "warn" if value >= limit / 2 else None
        if level:
            findings.append((metric, value, limit, level))
    change = row.get("null_rate_change")
    if null_rate_change and change is not None:
        level = "alert" if abs(change) >= null_rate_change else "warn" if abs(change) >= null_rate_change / 2 else None
        if level:
            findings.append(("null_rate_change", change, null_rate_change, level))
    levels = {f[3] for f in findings}
    return ("alert" if "alert" in levels else "warn" if levels else "ok"), findings


def windows(settings: dict[str, Any], last_event_us: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """(reference, current): the monitor's window ending at the latest event, and the one before it."""
    end = last_event_us + 1
    start = end - int(settings["window"] * 1_000_000)
    return (start - int(settings["reference_window"] * 1_000_000), start), (start, end)


def check(ctx: "StoreContext", group: str | None = None) -> list[dict[str, Any]]:
    """Alerts of ``group``, or of every group the principal may see (a sweep reads no other)."""
    names = [group] if group else ctx.policy.visible(registry.names(ctx.db.get()))
    alerts = []
    for name in names:
        stored = tables.settings(ctx.db.get(), name)["monitor"]
        if not stored:
            continue
        settings = {**DEFAULTS, **stored}
        fresh = freshness(ctx, name)
        if fresh["status"] == "late":
            alerts.append({"group": name, "kind": "freshness", "feature": None, "metric": "age_seconds",
                           "value": fresh["age_seconds"], "threshold": fresh["expected_interval_seconds"],
                           "status": "alert",
                           "message": f"{name}: no event for {_ago(fresh['age_seconds'])}; one is expected every "
                                      f"{_ago(fresh['expected_interval_seconds'])}"})
        g = ctx.group(name)[0]
        if fresh["last_event_us"] is None or not g.offline or not (settings["drift"] or settings["null_rate_change"]):
            continue
        reference, current = windows(settings, fresh["last_event_us"])
        table = drift_between(ctx, name, reference, current, settings["features"], "event_time", settings["drift"],
                              settings["null_rate_change"], settings["min_rows"])
        for row in table.to_dict("records"):
            if row["status"] == "few_rows":
                continue
            for metric, value, limit, level in status(row, settings["drift"], settings["null_rate_change"])[1]:
                alerts.append({"group": name, "kind": "null_rate" if metric == "null_rate_change" else "drift",
                               "feature": row["feature"], "metric": metric, "value": value, "threshold": limit,
                               "status": level, "window": [us_to_iso(current[0]), us_to_iso(current[1] - 1)],
                               "message": f"{name}.{row['feature']}: {metric} {value:.3g} (threshold {limit:g}) "
                                          f"in the {_ago(settings['window'])} to {us_to_iso(current[1] - 1)} against "
                                          f"the {_ago(settings['reference_window'])} before"})
    return alerts + _failed_pipelines(ctx, group)


def _failed_pipelines(ctx: "StoreContext", group: str | None) -> list[dict[str, Any]]:
    """A pipeline whose latest run failed feeds its target stale or no data: an alert on the
    target. A pipeline writing or reading a group the principal may not see is left out, as
    ``list_pipelines`` leaves it out."""
    conn = ctx.db.get()
    last = pipeline_tables.last_runs(conn)
    out = []
    for name in pipeline_tables.names(conn):
        run = last.get(name, {})
        if run.get("status") != "failed":
            continue
        spec = pipeline_tables.load(conn, name)["spec"]
        target = spec["target"]
        groups = [target, *(src for src in spec.get("inputs", {}).values() if not os.path.isabs(src))]
        if (group is not None and target != group) or not all(ctx.policy.may("viewer", g) for g in groups):
            continue
        finished = us_to_iso(run["finished_us"]) if run["finished_us"] is not None else None
        out.append({"group": target, "kind": "pipeline", "feature": None, "metric": "pipeline",
                    "value": run["id"], "threshold": None, "status": "alert",
                    "message": f"{target}: pipeline {name}'s run {run['id']} failed at {finished}: {run['error']}"})
    return out


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds / size
            return f"{n:.0f} {unit}{'s' if round(n) != 1 else ''}" if n >= 1.5 else f"1 {unit}"
    return f"{seconds:.0f} seconds"
