"""Monitoring a group: is its data fresh, how much arrives, and has any feature drifted.

Drift compares two windows of either clock, reading only the rows in them with DuckDB and
computing the figures with numpy (``drift``). A monitor's alerts compare the window that ends at
the group's latest event (``window``, a day by default) with the one before it
(``reference_window``, 7 days): a figure at or past its threshold is an alert, past half of it
a warning (for a p-value: at or below it, and below twice it).
"""
from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..errors import ValidationError
from ..online import q
from ..stats import read
from ..timeutil import arg_to_us, now_us, us_to_iso
from . import drift as figures
from . import tables

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from ..featurestore import FeatureStore
    from ..schema import FeatureGroup

CLOCKS = {"event_time": "_event_time", "write_time": "write_time"}
PERIODS = ("hour", "day", "week", "month")
DEFAULTS = {"expected_interval": None, "drift": {"psi": 0.2, "js": 0.1}, "null_rate_change": 0.05,
            "window": 86400.0, "reference_window": 7 * 86400.0, "features": None}
METRICS = ("psi", "js", "ks", "wasserstein", "chi2_pvalue")


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
    if out["features"] is not None and (not isinstance(out["features"], (list, tuple))
                                        or not all(isinstance(f, str) for f in out["features"])):
        raise ValidationError("features must be a list of feature names")
    return out


def freshness(fs: "FeatureStore", group: str) -> dict[str, Any]:
    info = fs.describe(group, storage=False)
    expected = tables.settings(fs._conns.get(), group)["monitor"].get("expected_interval")
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


def volume(fs: "FeatureStore", group: str, by: str = "day", clock: str = "event_time") -> "pd.DataFrame":
    """Rows and delete markers per ``by`` period of ``clock``."""
    if by not in PERIODS:
        raise ValidationError(f"by={by!r}: use one of {', '.join(PERIODS)}")
    column = _clock(clock)

    def work(con: "duckdb.DuckDBPyConnection", g: "FeatureGroup", view: str) -> "pd.DataFrame":
        from ..query import to_pandas

        return to_pandas(con.sql(
            f"SELECT date_trunc('{by}', {column}) AS period, count(*) FILTER (NOT is_deleted) AS rows, "
            f"count(*) FILTER (is_deleted) AS deletes FROM {view} GROUP BY 1 ORDER BY 1").to_arrow_table())

    return read(fs, group, work)


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


def drift(fs: "FeatureStore", group: str, reference: tuple[Any, Any], current: tuple[Any, Any],
          features: Sequence[str] | None = None, clock: str = "event_time",
          thresholds: dict[str, float] | None = None, null_rate_change: float | None = 0.05) -> "pd.DataFrame":
    """One row per feature with every figure of ``drift`` and a status from the thresholds."""
    return drift_between(fs, group, _window(reference, "reference"), _window(current, "current"), features, clock,
                         thresholds, null_rate_change)


def drift_between(fs: "FeatureStore", group: str, ref: tuple[int, int], cur: tuple[int, int],
                  features: Sequence[str] | None, clock: str, thresholds: dict[str, float] | None,
                  null_rate_change: float | None) -> "pd.DataFrame":
    """``drift`` for windows given in microseconds."""
    import pandas as pd

    column = _clock(clock)
    thresholds = DEFAULTS["drift"] if thresholds is None else thresholds
    g = fs.feature_group(group)
    chosen = [g.feature(f) for f in features] if features is not None else \
        [f for f in g.features if f.name not in (g.record_identifier, g.event_time)]

    def work(con: "duckdb.DuckDBPyConnection", _g: "FeatureGroup", view: str) -> list[dict[str, Any]]:
        from ..query import ts_literal

        def rows(lo: int, hi: int):
            cols = ", ".join(q(f.name) for f in chosen) or "1 AS __none"
            return con.sql(f"SELECT {cols} FROM {view} WHERE NOT is_deleted AND {column} >= {ts_literal(lo)} "
                           f"AND {column} < {ts_literal(hi)}").to_arrow_table()

        a, b = rows(*ref), rows(*cur)
        return [_feature_figures(f, a.column(f.name), b.column(f.name), thresholds, null_rate_change) for f in chosen]

    out = read(fs, group, work)
    return pd.DataFrame(out, columns=["feature", "kind", "rows_reference", "rows_current", "null_rate_reference",
                                      "null_rate_current", "null_rate_change", "psi", "js", "ks", "wasserstein",
                                      "mean_change", "std_change", "chi2_pvalue", "new_categories",
                                      "missing_categories", "status"])


def _feature_figures(f: Any, ref: Any, cur: Any, thresholds: dict[str, float],
                     null_rate_change: float | None) -> dict[str, Any]:
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
    row["status"] = status(row, thresholds, null_rate_change)[0]
    return row


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


def check(fs: "FeatureStore", group: str | None = None) -> list[dict[str, Any]]:
    names = [group] if group else [g.name for g in fs.list_feature_groups()]
    alerts = []
    for name in names:
        settings = tables.settings(fs._conns.get(), name)["monitor"]
        if not settings:
            continue
        fresh = freshness(fs, name)
        if fresh["status"] == "late":
            alerts.append({"group": name, "kind": "freshness", "feature": None, "metric": "age_seconds",
                           "value": fresh["age_seconds"], "threshold": fresh["expected_interval_seconds"],
                           "status": "alert",
                           "message": f"{name}: no event for {_ago(fresh['age_seconds'])}; one is expected every "
                                      f"{_ago(fresh['expected_interval_seconds'])}"})
        g = fs.feature_group(name)
        if fresh["last_event_us"] is None or not g.offline or not (settings["drift"] or settings["null_rate_change"]):
            continue
        reference, current = windows(settings, fresh["last_event_us"])
        table = drift_between(fs, name, reference, current, settings["features"], "event_time", settings["drift"],
                              settings["null_rate_change"])
        for row in table.to_dict("records"):
            if not row["rows_reference"] or not row["rows_current"]:
                continue
            for metric, value, limit, level in status(row, settings["drift"], settings["null_rate_change"])[1]:
                alerts.append({"group": name, "kind": "null_rate" if metric == "null_rate_change" else "drift",
                               "feature": row["feature"], "metric": metric, "value": value, "threshold": limit,
                               "status": level, "window": [us_to_iso(current[0]), us_to_iso(current[1] - 1)],
                               "message": f"{name}.{row['feature']}: {metric} {value:.3g} (threshold {limit:g}) "
                                          f"in the {_ago(settings['window'])} to {us_to_iso(current[1] - 1)} against "
                                          f"the {_ago(settings['reference_window'])} before"})
    return alerts


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds / size
            return f"{n:.0f} {unit}{'s' if round(n) != 1 else ''}" if n >= 1.5 else f"1 {unit}"
    return f"{seconds:.0f} seconds"
