"""Statistics tab: per-feature summary, one feature's distribution and its course over event
time, and rows per period. DuckDB computes them over the offline store; results are cached until
the group's next write."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from app import data
from app.ui import charts
from app.ui.errors import engine_errors
from app.ui.formats import epoch_unit, number, span, when
from app.ui.nav import page_link
from store import FeatureGroup, FeatureStore
from store.retrieval.stats import HISTORY, LATEST

SCOPES = {HISTORY: "Every stored version", LATEST: "Latest version of each record"}
# Shown as text, each row in its own way (an amount in full, an epoch time as a date).
NUMBER = st.column_config.TextColumn(alignment="right")
NUMERIC = ("min", "max", "mean", "std", "p05", "p25", "median", "p75", "p95")


def readable(summary: "pd.DataFrame", group: FeatureGroup) -> "pd.DataFrame":
    """The numeric summary for reading: full numbers with thousands separators, and the event
    time and epoch-time features as UTC dates (their spread as a length of time)."""
    shown: dict[str, list[str]] = {c: [] for c in NUMERIC}
    for row in summary.to_dict("records"):  # one row per feature, not per data row
        low, high = (None if pd.isna(row[c]) or row[c] == "" else float(row[c]) for c in ("min", "max"))
        unit = epoch_unit(row["feature"], low, high, event_time=row["feature"] == group.event_time)
        for c in NUMERIC:
            value = row[c]
            if unit is None or pd.isna(value):
                shown[c].append(number(value))
            else:
                shown[c].append(span(float(value) * unit / 1e6) if c == "std" else when(int(float(value) * unit)))
    return summary.assign(**{c: pd.Series(v, index=summary.index, dtype="string") for c, v in shown.items()})


def render(fs: FeatureStore, group: FeatureGroup) -> None:
    if not group.offline:
        st.info("Statistics are computed over the offline store, which this group does not have.",
                icon=":material/info:")
        return
    if fs.describe(group.name, storage=False)["offline_rows"] == 0:
        st.info("No rows yet: statistics appear once data is ingested.", icon=":material/info:")
        page_link("ingest", "Ingest data", group=group.name)
        return
    scope = st.segmented_control("Rows", list(SCOPES), format_func=SCOPES.get, default=HISTORY, required=True,
                                 key=f"stats_scope_{group.name}",
                                 help="Delete markers are never counted; the latest view also drops deleted records.")
    with engine_errors():
        summary = data.summary(fs, group.name, scope)
        numeric = summary["type"].isin(["Integral", "Fractional"])
        null_pct = st.column_config.NumberColumn("null %", format="%.1f")
        counts = {c: st.column_config.NumberColumn(format="localized") for c in ("count", "nulls", "distinct")}
        if numeric.any():
            st.caption("Numeric features")
            st.dataframe(readable(summary[numeric].drop(columns="top_values"), group),
                         hide_index=True, column_config={"null_pct": null_pct, **counts, **{c: NUMBER for c in NUMERIC}})
        if (~numeric).any():
            st.caption("Other features")
            st.dataframe(summary[~numeric][["feature", "type", "count", "nulls", "null_pct", "distinct", "min", "max",
                                            "top_values"]], hide_index=True, column_config={
                "null_pct": null_pct, **counts,
                "top_values": st.column_config.TextColumn("top values", help="approximate, most frequent first")})
    choices = [f for f in group.feature_names if f not in (*group.identifiers, group.event_time)]
    feature = st.columns([1, 2])[0].selectbox("Feature", choices or group.feature_names,
                                              key=f"stats_feature_{group.name}")
    with engine_errors():
        dist = data.distribution(fs, group.name, feature, scope)
        series = data.over_time(fs, group.name, feature)
        left, right = st.columns(2)
        with left:
            if dist.values:
                st.plotly_chart(charts.distribution(dist), key=f"dist_{group.name}")
            else:
                st.info(f"{feature} has no values yet ({dist.nulls:,} nulls).")
            if dist.other:
                st.caption(f"{dist.other:,} more values outside the top {len(dist.table)}; {dist.nulls:,} nulls.")
        right.plotly_chart(charts.feature_over_time(series, feature), key=f"feature_time_{group.name}")
        st.plotly_chart(charts.rows_over_time(series), key=f"rows_time_{group.name}")
