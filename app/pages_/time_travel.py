"""Time travel: a group's records as they were at an event-time instant (optionally as the store
knew them at an earlier moment), what changed since, and the SQL that answers it."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import streamlit as st

from app.common import engine_errors, open_page, pick_group, store, timestamp
from store import explore

SQL_KEY = "sql_text"  # the SQL page's editor

fs = store()
st.title("Time travel")
group = pick_group(fs, offline_only=True)
if group is None:
    st.stop()
info = fs.describe(group)
if not info["offline_rows"]:
    st.info(f"{group} has no rows yet, so there is no past to travel to. Ingest data first.", icon=":material/info:")
    st.stop()

# Default to a month before the latest event, so the first Travel already shows some history.
start = (timestamp(info["last_event_us"]) - timedelta(days=30)).replace(tzinfo=None, second=0, microsecond=0)
with st.form(f"travel_{group}"):
    left, right = st.columns(2)
    as_of = left.datetime_input("As of event time (UTC)", value=start, step=60,
                                help="The world as it was then: the latest version of each record with event time "
                                     "at or before this instant, deletes honoured.")
    use_known = right.checkbox("Only what the store knew at…", help="Also ignore rows written after this instant, "
                               "e.g. late backfills: reproduces what a job saw back then.")
    known_at = right.datetime_input("Known at (UTC)", value=datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0),
                                    step=60, label_visibility="collapsed")
    travel = st.form_submit_button("Travel", type="primary", icon=":material/history:")

if travel:
    with engine_errors(), st.spinner("Reading the offline store…"):
        st.session_state["travel"] = (group, explore.time_travel(
            fs, group, as_of.replace(tzinfo=timezone.utc),
            known_at.replace(tzinfo=timezone.utc) if use_known else None))
result = st.session_state.get("travel")
if not result or result[0] != group:
    st.caption("Pick an instant and press **Travel** to see the records as they were, and what changed since.")
    st.stop()

tt = result[1]
cols = st.columns(4)
cols[0].metric("Records then", f"{tt.total:,}")
cols[1].metric("Added since", f"{tt.counts['added']:,}")
cols[2].metric("Changed since", f"{tt.counts['changed']:,}")
cols[3].metric("Deleted since", f"{tt.counts['deleted']:,}")
then_tab, diff_tab, sql_tab = st.tabs(["Records then", "Changes since then", "SQL"])
with then_tab:
    st.caption(f"The first {len(tt.records):,} of {tt.total:,} records, by identifier.")
    st.dataframe(tt.records, hide_index=True)
with diff_tab:
    if tt.diff.empty:
        st.success("Nothing changed since then.", icon=":material/check_circle:")
    else:
        st.caption(f"The first {len(tt.diff):,} differences, by identifier: each feature as of then and now.")
        st.dataframe(tt.diff, hide_index=True, column_config={"change": st.column_config.TextColumn(pinned=True)})
with sql_tab:
    st.caption("The as-of query, runnable on the SQL page (each group is a view of its full offline history):")
    st.code(tt.sql, language="sql", wrap_lines=True)
    if st.button("Open in the SQL page", icon=":material/terminal:"):
        st.session_state[SQL_KEY] = tt.sql
        open_page("sql")
    with st.expander("The comparison query"):
        st.code(tt.diff_sql, language="sql", wrap_lines=True)
