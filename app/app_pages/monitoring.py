"""Monitoring: the store's current alerts, every group's freshness, rows per day, and one group's
drift window by window (click a square to overlay the two distributions), with its monitor's
settings."""
from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from app.ui import charts
from app.ui.errors import engine_errors
from app.ui.formats import ago, duration, timestamp
from app.ui.nav import open_page
from app.ui.pickers import pick_group
from app.ui.session import flash, store

METRICS = {"psi": "PSI", "js": "Jensen-Shannon distance", "ks": "Kolmogorov-Smirnov statistic",
           "wasserstein": "Wasserstein distance", "chi2_pvalue": "chi-square p-value"}
STATUS = {"ok": "ok", "late": "late", "unknown": "no expectation", "empty": "no data", "alert": "alert",
          "warn": "warning"}
SHADES = {"alert": "#fee2e2", "late": "#fee2e2", "warning": "#fef3c7", "ok": "#dcfce7"}


def shaded(frame: pd.DataFrame) -> Any:
    """The status column coloured like the drift squares (the words stay, for screen readers)."""
    return frame.style.map(lambda v: f"background-color: {SHADES[v]}" if v in SHADES else "", subset=["status"])

PERIODS = 14

fs = store()
st.title("Monitoring")
groups = fs.list_feature_groups()
if not groups:
    st.info("The store has no feature groups yet.", icon=":material/info:")
    st.stop()

with engine_errors(), st.spinner("Checking every monitor…"):
    alerts = fs.check_monitors()
    fresh = [fs.freshness(g.name) for g in groups]
    monitors = {g.name: fs.monitor(g.name) for g in groups}

cols = st.columns(4)
cols[0].metric("Groups monitored", f"{sum(bool(m) for m in monitors.values())} of {len(groups)}")
cols[1].metric("Alerts", sum(a["status"] == "alert" for a in alerts))
cols[2].metric("Warnings", sum(a["status"] == "warn" for a in alerts))
cols[3].metric("Late groups", sum(f["status"] == "late" for f in fresh))

st.subheader("Current alerts")
if alerts:
    shown = pd.DataFrame(alerts)
    shown["status"] = shown["status"].map(STATUS)
    shown = shown.sort_values("status", key=lambda s: s == "warning", kind="stable")
    st.dataframe(shaded(shown[["status", "group", "feature", "metric", "value", "threshold", "message"]]),
                 hide_index=True,
                 key="monitoring_alerts", column_config={
                     "value": st.column_config.NumberColumn(format="%.3g"),
                     "threshold": st.column_config.NumberColumn(format="%.3g"),
                     "message": st.column_config.TextColumn(width="large")})
else:
    st.success("No alerts: every monitored group is fresh and its features look like the week before.",
               icon=":material/check_circle:")

st.subheader("Freshness")
rows = [{"group": f["group"], "status": STATUS[f["status"]], "last event": timestamp(f["last_event_us"]),
         "age": ago(f["last_event_us"]),
         "expected every": duration(f["expected_interval_seconds"]) if f["expected_interval_seconds"] else "—",
         "last write": timestamp(f["last_write_us"])} for f in fresh]
picked = st.dataframe(shaded(pd.DataFrame(rows)), hide_index=True, on_select="rerun", selection_mode="single-row", key="monitoring_fresh",
                      column_config={c: st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm", timezone="UTC")
                                     for c in ("last event", "last write")})
st.caption("Late: no event for longer than the group's expected interval. Select a row to open the group.")
if picked.selection.rows:
    open_page("group", group=rows[picked.selection.rows[0]]["group"])

st.subheader("Volume")
clock = st.segmented_control("Clock", ["event_time", "write_time"], default="event_time", required=True,
                             format_func=lambda c: c.replace("_", " "), key="monitoring_clock")
with engine_errors():
    per_group = {g.name: fs.volume(g.name, "day", clock) for g in groups if g.offline}
    st.plotly_chart(charts.volume({k: v for k, v in per_group.items() if len(v)}, clock), key="monitoring_volume")


def _settings_form(name: str, current: dict[str, Any]) -> None:
    """The group's monitor: its cadence, drift thresholds and windows."""
    group = fs.feature_group(name)
    drift = current.get("drift", {"psi": 0.2, "js": 0.1})
    with st.form(f"monitor_{name}", border=False):
        a, b, c = st.columns(3)
        hours = a.number_input("Expected interval between events (hours, 0 = none)", min_value=0.0,
                               value=(current.get("expected_interval") or 0) / 3600)
        psi = b.number_input("PSI threshold (0 = off)", min_value=0.0, value=float(drift.get("psi", 0)), step=0.05)
        js = c.number_input("Jensen-Shannon threshold (0 = off)", min_value=0.0, max_value=1.0,
                            value=float(drift.get("js", 0)), step=0.05)
        a, b, c = st.columns(3)
        window = a.number_input("Current window (days)", min_value=0.01, value=current.get("window", 86400) / 86400)
        reference = b.number_input("Reference window (days)", min_value=0.01,
                                   value=current.get("reference_window", 7 * 86400) / 86400)
        nulls = c.number_input("Null-rate change (share, 0 = off)", min_value=0.0, max_value=1.0,
                               value=float(current.get("null_rate_change") or 0), step=0.01)
        candidates = [f for f in group.feature_names if f not in (*group.identifiers, group.event_time)]
        features = st.multiselect("Features (none = every feature but the identifier and event time)", candidates,
                                  default=[f for f in current.get("features") or [] if f in candidates])
        min_rows = st.number_input("Fewest rows in a window for its drift to count", min_value=1,
                                   value=int(current.get("min_rows", 100)))
        may_save = fs.allowed("set_monitor", name)
        if st.form_submit_button("Save monitor", type="primary", icon=":material/save:", disabled=not may_save,
                                 help=None if may_save else f"Changing the monitor needs the owner role on {name}"):
            thresholds = {k: v for k, v in (("psi", psi), ("js", js)) if v}
            with engine_errors():
                fs.set_monitor(name, expected_interval=hours * 3600 or None, drift=thresholds,
                               null_rate_change=nulls or None, window=window * 86400,
                               reference_window=reference * 86400, features=features or None, min_rows=int(min_rows))
                flash(f"Saved the monitor of {name}")
                st.rerun()


st.subheader("Drift")
head, pick, how = st.columns([2, 1, 1], vertical_alignment="bottom")
name = pick_group(fs, where=pick, default=next((a["group"] for a in alerts if a["status"] == "alert"), None))
if name is None:
    st.stop()
metric = how.selectbox("Figure", list(METRICS), format_func=METRICS.get, key="monitoring_metric")
monitor = monitors.get(name) or {}
with st.expander("Monitor settings" if monitor else f"{name} has no monitor: set one up", icon=":material/tune:",
                 expanded=not monitor):
    _settings_form(name, monitor)
if not fs.feature_group(name).offline:
    st.info(f"{name} has no offline store, so there is no history to compare windows of.", icon=":material/info:")
    st.stop()
with engine_errors():
    timeline = fs.drift_timeline(name, PERIODS)
    if timeline.empty:
        st.info(f"{name} has no data yet.", icon=":material/info:")
        st.stop()
    window, reference = monitor.get("window", 86400), monitor.get("reference_window", 7 * 86400)
    head.caption(f"Each square compares a {duration(window)} window with the {duration(reference)} before it; red "
                 "is past the threshold, amber past half of it, grey too few rows to tell.")
    event = st.plotly_chart(charts.drift_grid(timeline, metric), on_select="rerun", selection_mode="points",
                            key=f"drift_grid_{name}_{metric}")
    points = event.selection.points if event and event.selection else []
    if points:
        cell = timeline[(timeline["feature"] == points[0]["y"])
                        & (timeline["window_end"].dt.strftime("%b %d %H:%M") == points[0]["x"])].iloc[0]
    else:  # the worst square of the latest window
        latest = timeline[timeline["window_end"] == timeline["window_end"].max()]
        scored = latest[latest["kind"] != "collection"]
        cell = scored.loc[scored["psi"].fillna(-1).idxmax()] if len(scored) else None
    if cell is not None and cell["kind"] == "collection":
        st.caption(f"{cell['feature']} is a list: its drift is its null rate only, and no distribution is drawn.")
    elif cell is not None:
        numeric = cell["kind"] == "numeric"
        dist = fs.distributions(name, cell["feature"], (cell["reference_start"], cell["window_start"]),
                                (cell["window_start"], cell["window_end"]))
        st.plotly_chart(charts.overlay(dist, cell["feature"], numeric), key=f"drift_overlay_{name}")
        figures = {k: cell[k] for k in ("psi", "js", "ks", "wasserstein", "mean_change", "chi2_pvalue",
                                        "null_rate_change") if cell[k] is not None and not pd.isna(cell[k])}
        st.caption(f"**{cell['feature']}**, window ending {cell['window_end']:%Y-%m-%d %H:%M} UTC "
                   f"({cell['rows_current']:,} rows) against the {duration(reference)} before "
                   f"({cell['rows_reference']:,} rows): "
                   + ", ".join(f"{k} {v:.3g}" for k, v in figures.items()) + f" — {cell['status'].replace('_', ' ')}"
                   + ("" if points else ". Click a square above to compare another feature or window."))
    with st.expander("Every figure of every window"):
        st.dataframe(timeline, hide_index=True)
