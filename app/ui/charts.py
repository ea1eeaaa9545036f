"""Plotly figures for the statistics and history views; each takes an engine result as it is."""
from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go

if TYPE_CHECKING:
    import pandas as pd

    from store.retrieval.stats import Distribution, TimeSeries

BLUE, RED, GREY = "#2563eb", "#dc2626", "#94a3b8"
_LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), height=320, bargap=0.05, showlegend=False)


def distribution(d: "Distribution") -> go.Figure:
    """A histogram (numeric) or a horizontal bar chart of the top values (other types)."""
    t = d.table
    if d.kind == "histogram":
        fig = go.Figure(go.Bar(x=(t["start"] + t["end"]) / 2, y=t["count"], width=t["end"] - t["start"],
                               marker_color=BLUE, customdata=t[["start", "end"]],
                               hovertemplate="%{customdata[0]:,.4g} – %{customdata[1]:,.4g}: %{y:,} rows<extra></extra>"))
        fig.update_layout(title=f"Distribution of {d.feature}", xaxis_title=d.feature, yaxis_title="rows", **_LAYOUT)
        return fig
    fig = go.Figure(go.Bar(x=t["count"], y=t["value"], orientation="h", marker_color=BLUE,
                           hovertemplate="%{y}: %{x:,} rows<extra></extra>"))
    fig.update_layout(title=f"Most frequent values of {d.feature}", xaxis_title="rows", **_LAYOUT)
    fig.update_yaxes(autorange="reversed", type="category")
    return fig


def rows_over_time(ts: "TimeSeries") -> go.Figure:
    """Rows written per event-time bucket, delete markers stacked in red."""
    t = ts.table
    fig = go.Figure([go.Bar(x=t["bucket"], y=t["rows"], name="rows", marker_color=BLUE),
                     go.Bar(x=t["bucket"], y=t["deletes"], name="delete markers", marker_color=RED)])
    fig.update_layout(title=f"Rows per {ts.interval} of event time", barmode="stack", **{**_LAYOUT, "showlegend": True})
    fig.update_layout(legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    return fig


def feature_over_time(ts: "TimeSeries", feature: str) -> go.Figure:
    """Mean with a 5th–95th percentile band (numeric; min and max would let one outlier flatten
    the line), or non-null and distinct counts (other types)."""
    t = ts.table
    if "mean" in t.columns:
        traces = [go.Scatter(x=t["bucket"], y=t["p95"], name="p95", line=dict(width=0)),
                  go.Scatter(x=t["bucket"], y=t["p05"], name="p05", line=dict(width=0), fill="tonexty",
                             fillcolor="rgba(37,99,235,0.15)"),
                  go.Scatter(x=t["bucket"], y=t["mean"], name="mean", line=dict(color=BLUE))]
        title = f"{feature}: mean per {ts.interval} (band: 5th–95th percentile)"
    else:
        traces = [go.Scatter(x=t["bucket"], y=t["non_null"], name="non-null", line=dict(color=BLUE)),
                  go.Scatter(x=t["bucket"], y=t["distinct"], name="distinct", line=dict(color=GREY))]
        title = f"{feature}: non-null and distinct values per {ts.interval}"
    fig = go.Figure(traces)
    fig.update_layout(title=title, **_LAYOUT)
    return fig


def history(versions: "pd.DataFrame", event_time: str) -> go.Figure:
    """Each version of a record at its event time (x) and write time (y); deletes as red crosses."""
    import pandas as pd

    raw = versions[event_time]
    # String event times are ISO-8601 text, Fractional ones epoch seconds: plot both as instants.
    events = pd.to_datetime(raw, utc=True) if raw.dtype == object else pd.to_datetime(raw, unit="s", utc=True)
    deleted = versions["is_deleted"].fillna(False).astype(bool)
    fig = go.Figure()
    for mask, name, color, symbol in ((~deleted, "version", BLUE, "circle"), (deleted, "delete", RED, "x")):
        fig.add_trace(go.Scatter(
            x=events[mask], y=versions.loc[mask, "write_time"], mode="markers", name=name,
            marker=dict(color=color, symbol=symbol, size=12),
            hovertemplate="event %{x}<br>written %{y}<extra>" + name + "</extra>"))
    fig.update_layout(title="Versions by event time and write time", xaxis_title="event time",
                      yaxis_title="write time", **{**_LAYOUT, "showlegend": True, "height": 280})
    return fig


def growth(days: list[dict]) -> go.Figure:
    """New offline bytes per day over the last 30 days (days without any shown as zero), rows in
    the hover."""
    import pandas as pd

    t = pd.DataFrame(days)
    t["day"] = pd.to_datetime(t["day_us"], unit="us", utc=True).dt.normalize()
    span = pd.date_range(end=pd.Timestamp.now(tz="UTC").normalize(), periods=30, freq="D")
    t = t.set_index("day").reindex(span, fill_value=0).rename_axis("day").reset_index()
    fig = go.Figure(go.Bar(x=t["day"], y=t["bytes"] / (1 << 20), customdata=t["rows"], marker_color=BLUE,
                           hovertemplate="%{x|%Y-%m-%d}: %{y:,.2f} MB, %{customdata:,} rows<extra></extra>"))
    fig.update_layout(title="New offline data per day, last 30 days", yaxis_title="MB",
                      **{**_LAYOUT, "height": 240})
    fig.update_xaxes(tickformat="%b %d", dtick=7 * 86_400_000)
    return fig


AMBER = "#d97706"
STATUS_COLORS = {"ok": "#16a34a", "warn": AMBER, "alert": RED, "few_rows": GREY}


def validation_runs(runs: "pd.DataFrame") -> go.Figure:
    """Rows checked per day by verdict: written, written with a warning, invalid, held back with a
    refused batch."""
    import pandas as pd

    t = runs.assign(day=runs["started"].dt.floor("D"))
    t = t.assign(clean=t["rows_written"] - t["rows_warned"].clip(upper=t["rows_written"]),
                 warned=t["rows_warned"].clip(upper=t["rows_written"]))
    span = pd.date_range(end=pd.Timestamp.now(tz="UTC").normalize(), periods=30, freq="D", name="day")
    columns = ["clean", "warned", "rows_rejected", "rows_held_back"]
    per_day = t.groupby("day")[columns].sum().reindex(span, fill_value=0).reset_index()
    fig = go.Figure([go.Bar(x=per_day["day"], y=per_day[column], name=name, marker_color=color,
                            hovertemplate="%{x|%Y-%m-%d}: %{y:,} rows " + name + "<extra></extra>")
                     for column, name, color in (("clean", "written", BLUE), ("warned", "written with a warning", AMBER),
                                                 ("rows_rejected", "invalid", RED),
                                                 ("rows_held_back", "held back (batch refused)", GREY))])
    fig.update_layout(title="Rows checked per day, last 30 days", barmode="stack", yaxis_title="rows",
                      **{**_LAYOUT, "showlegend": True, "height": 280})
    fig.update_xaxes(tickformat="%b %d", dtick=7 * 86_400_000)
    fig.update_layout(legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    return fig


def volume(per_group: dict[str, "pd.DataFrame"], clock: str) -> go.Figure:
    """Rows per day of each group, one line each."""
    fig = go.Figure([go.Scatter(x=t["period"], y=t["rows"], name=name, mode="lines",
                                hovertemplate="%{x|%Y-%m-%d}: %{y:,} rows<extra>" + name + "</extra>")
                     for name, t in per_group.items()])
    fig.update_layout(title=f"Rows per day of {clock.replace('_', ' ')}", yaxis_title="rows",
                      **{**_LAYOUT, "showlegend": True, "height": 300})
    fig.update_layout(legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    return fig


def drift_grid(timeline: "pd.DataFrame", metric: str) -> go.Figure:
    """Feature by window: each cell a square coloured by its status (grey: too few rows), the
    figure in the hover. Squares rather than a heatmap, since only markers can be clicked."""
    t = timeline.assign(window=timeline["window_end"].dt.strftime("%b %d %H:%M"),
                        value=timeline[metric].astype(float))
    fig = go.Figure()
    for status, color in STATUS_COLORS.items():
        part = t[t["status"] == status]
        if len(part):
            fig.add_trace(go.Scatter(
                x=part["window"], y=part["feature"], mode="markers", name=status.replace("_", " "),
                marker=dict(symbol="square", size=22, color=color, line=dict(width=0)),
                customdata=part[["value", "rows_current"]].to_numpy(),
                hovertemplate="%{y}, window ending %{x}<br>" + metric + " %{customdata[0]:.3g}, "
                              "%{customdata[1]:,} rows<extra>" + status + "</extra>"))
    fig.update_layout(title=f"Drift by window ({metric}; click a square to compare)", clickmode="event+select",
                      **{**_LAYOUT, "showlegend": True, "height": 150 + 36 * t["feature"].nunique()})
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=sorted(t["window"].unique(),
                     key=list(t["window"]).index))
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_layout(legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    return fig


def overlay(dist: "pd.DataFrame", feature: str, numeric: bool) -> go.Figure:
    """A feature's reference and current windows as shares, one over the other: numbers as two
    filled step outlines (on a log axis when the bins are geometric), text as grouped bars."""
    traces = []
    windows = (("reference", "reference window", GREY), ("current", "current window", RED))
    if numeric:  # nulls are left to the caption
        dist = dist[dist["bucket"] != "(null)"]
        edges = [*dist["bucket"].astype(float), *dist["upper"].astype(float).tail(1)]
        for column, name, color in windows:
            shares = [*dist[column], *dist[column].tail(1)]
            traces.append(go.Scatter(x=edges, y=shares, name=name, line_shape="hv", fill="tozeroy", mode="lines",
                                     line=dict(color=color), hovertemplate="from %{x:,.4g}: %{y:.1%}<extra>" + name
                                     + "</extra>"))
    else:
        for column, name, color in windows:
            traces.append(go.Bar(x=dist["bucket"], y=dist[column], name=name, marker_color=color, opacity=0.7,
                                 hovertemplate="%{x}: %{y:.1%}<extra>" + name + "</extra>"))
    fig = go.Figure(traces)
    fig.update_layout(title=f"{feature}: reference and current window", barmode="group", yaxis_title="share of rows",
                      yaxis_tickformat=".0%", **{**_LAYOUT, "showlegend": True})
    log = numeric and dist.attrs.get("scale") == "log"
    fig.update_xaxes(type="log" if log else "linear" if numeric else "category",
                     title=f"{feature} (log scale)" if log else feature)
    fig.update_layout(legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    return fig


RUN_COLORS = {"succeeded": "#16a34a", "skipped": GREY, "failed": RED, "running": BLUE}


def pipeline_windows(runs: "pd.DataFrame") -> go.Figure:
    """Each run's event-time window as a bar on its kind's lane, coloured by outcome: gaps
    between bars are time no run has covered, red bars windows to run again."""
    t = runs.dropna(subset=["window_start", "window_end"])
    fig = go.Figure()
    for status, color in RUN_COLORS.items():
        part = t[t["status"] == status]
        if len(part):
            width = (part["window_end"] - part["window_start"]).dt.total_seconds() * 1000
            fig.add_trace(go.Bar(
                y=part["kind"], x=width.clip(lower=60_000), base=part["window_start"], orientation="h",
                name=status, marker_color=color,
                customdata=part[["id", "rows_out"]].assign(
                    start=part["window_start"].dt.strftime("%Y-%m-%d %H:%M"),
                    end=part["window_end"].dt.strftime("%Y-%m-%d %H:%M")).to_numpy(),
                hovertemplate="run %{customdata[0]}: %{customdata[2]} to %{customdata[3]}<br>%{customdata[1]:,} "
                              "rows written<extra>" + status + "</extra>"))
    fig.update_layout(title="Event-time windows processed", barmode="overlay",
                      **{**_LAYOUT, "showlegend": True, "height": 140 + 40 * max(1, t["kind"].nunique())})
    fig.update_xaxes(type="date")
    fig.update_yaxes(type="category")
    fig.update_layout(legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    return fig
