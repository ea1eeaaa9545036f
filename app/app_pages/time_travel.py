"""Time travel: a group's records as they were at an event-time instant (optionally as the store
knew them after one of its writes, or at a chosen moment), what changed since, with the changed
cells marked and every row downloadable, and the SQL that answers it."""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import streamlit as st

from app.ui.errors import engine_errors
from app.ui.formats import plural, timestamp
from app.ui.nav import open_page
from app.ui.pickers import ANY_TIME, pick_group
from app.ui.session import store

SQL_KEY = "sql_text"  # the SQL page's editor
NOW, AT_TIME = "now: everything written so far", "a moment I pick…"
CHANGED = "background-color: #fef3c7"

fs = store()
st.title("Time travel")
group = pick_group(fs, offline_only=True)
if group is None:
    st.stop()
info = fs.describe(group, storage=False)
if not info["offline_rows"]:
    st.info(f"{group} has no rows yet, so there is no past to travel to. Ingest data first.", icon=":material/info:")
    st.stop()

with engine_errors():
    batches = fs.browser().write_batches(group)
writes = {f"after the write of {timestamp(int(w.value // 1000)):%Y-%m-%d %H:%M:%S.%f} UTC — {plural(r, 'row')}"
          + (f", {plural(d, 'delete')}" if d else ""): timestamp(int(w.value // 1000))
          for w, r, d in zip(batches["write_time"], batches["rows"], batches["deletes"])}

# Default to the middle of the group's event times (over its latest writes), rounded up to the
# minute the input steps by: inside its history whatever its length, so the first Travel shows
# records and what changed since.
if len(batches):
    first, last = pd.Timestamp(batches["first_event"].min()), pd.Timestamp(batches["last_event"].max())
    start = (first + (last - first) / 2).ceil("min").tz_localize(None).to_pydatetime()
else:
    start = timestamp(info["last_event_us"]).replace(tzinfo=None, microsecond=0)
with st.form(f"travel_{group}"):
    left, right = st.columns(2)
    as_of = left.datetime_input("As of event time (UTC)", value=start, step=60,
                                **ANY_TIME,
                                help="The world as it was then: the latest version of each record with event time "
                                     "at or before this instant, deletes honoured.")
    known_choice = right.selectbox("Known at", [NOW, *writes, AT_TIME],
                                   help="Ignore rows written later, e.g. late corrections or backfills: reproduces "
                                        "what a job saw back then. Each write (an ingest, a put, a delete) is listed.")
    # Keyed: its default (now) changes every second, which would otherwise drop a picked moment.
    known_at = right.datetime_input("Known at (UTC), for a moment you pick", key="known_at_moment",
                                    value=datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0), step=60,
                                    **ANY_TIME)
    ignore_event_time = st.checkbox("A new event time alone is no change", value=True,
                                    help="Records re-stated with the same values at a later event time are not "
                                         "counted as changed.")
    travel = st.form_submit_button("Travel", type="primary", icon=":material/history:")

if travel:
    known = None if known_choice == NOW else writes.get(known_choice) if known_choice != AT_TIME else \
        known_at.replace(tzinfo=timezone.utc)
    query = (group, as_of.replace(tzinfo=timezone.utc), known, ignore_event_time)
    with engine_errors(), st.spinner("Reading the offline store…"):
        st.session_state["travel"] = (query, fs.browser().time_travel(*query[:3], ignore_event_time=query[3]))
result = st.session_state.get("travel")
if not result or result[0][0] != group:
    st.caption("Pick an instant and press **Travel** to see the records as they were, and what changed since.")
    st.stop()

query, tt = result
cols = st.columns(4)
cols[0].metric("Records then", f"{tt.total:,}")
cols[1].metric("Added since", f"{tt.counts['added']:,}")
cols[2].metric("Changed since", f"{tt.counts['changed']:,}")
cols[3].metric("Deleted since", f"{tt.counts['deleted']:,}")


def full(part: str) -> str:
    """Every row of the records or the differences, as CSV (made when the download is clicked)."""
    whole = fs.browser().time_travel(*query[:3], limit=None, ignore_event_time=query[3])
    return (whole.records if part == "records" else whole.diff).to_csv(index=False)


def marked(diff: pd.DataFrame) -> "pd.io.formats.style.Styler":
    """The differences with each changed feature's then and now cells highlighted."""
    def row_style(row: pd.Series) -> list[str]:
        changed = {f.strip() for f in str(row.get("changed") or "").split(",") if f.strip()}
        return [CHANGED if any(c == f"{f} (as of)" or c == f"{f} (now)" for f in changed) else ""
                for c in row.index]
    return diff.style.apply(row_style, axis=1)


then_tab, diff_tab, sql_tab = st.tabs(["Records then", "Changes since then", "SQL"])
with then_tab:
    st.caption(f"The first {len(tt.records):,} of {plural(tt.total, 'record')}, by identifier.")
    st.dataframe(tt.records, hide_index=True)
    st.download_button(f"Download all {tt.total:,} records (CSV)", lambda: full("records"), f"{group}_as_of.csv",
                       "text/csv", on_click="ignore", icon=":material/download:", key="download_records")
with diff_tab:
    differences = sum(tt.counts[c] for c in ("added", "changed", "deleted"))
    if tt.diff.empty:
        st.success("Nothing changed since then.", icon=":material/check_circle:")
    else:
        st.caption(f"The first {len(tt.diff):,} of {differences:,} differences, by identifier: each feature as of "
                   "then and now, the changed ones highlighted.")
        st.dataframe(marked(tt.diff), hide_index=True,
                     column_config={"change": st.column_config.TextColumn(pinned=True)})
        st.download_button(f"Download all {differences:,} differences (CSV)", lambda: full("diff"),
                           f"{group}_changes.csv", "text/csv", on_click="ignore", icon=":material/download:",
                           key="download_diff")
with sql_tab:
    st.caption("The as-of query, runnable on the SQL page (each group is a view of its full offline history):")
    st.code(tt.sql, language="sql", wrap_lines=True)
    if st.button("Open in the SQL page", icon=":material/terminal:"):
        st.session_state[SQL_KEY] = tt.sql
        open_page("sql")
    with st.expander("The comparison query"):
        st.code(tt.diff_sql, language="sql", wrap_lines=True)
