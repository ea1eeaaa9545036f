"""Plotly figures for the statistics and history views; each takes an engine result as it is."""
from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go

if TYPE_CHECKING:
    import pandas as pd

    from store.stats import Distribution, TimeSeries

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
