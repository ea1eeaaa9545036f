"""Feature group: one group in depth. Only the open tab runs, so a heavy tab (statistics on a
million rows) costs nothing while the user reads another."""
from __future__ import annotations

import streamlit as st

from app.app_pages.group_tabs import lineage, overview, quality, records, schema, statistics
from app.ui.pickers import pick_group
from app.ui.session import store

TABS = {
    "Overview": overview.render,
    "Schema": schema.render,
    "Data": records.render_data,
    "Statistics": statistics.render,
    "Quality": quality.render,
    "Lineage": lineage.render_group,
    "Online lookup": records.render_lookup,
    "History": records.render_history,
}

fs = store()
head, pick = st.columns([3, 1], vertical_alignment="bottom")
name = pick_group(fs, where=pick)
if name is None:
    st.stop()
group = fs.feature_group(name)
head.title(name)
if group.description:
    st.caption(group.description)
for tab, render in zip(st.tabs(list(TABS), key="tab", bind="query-params"), TABS.values()):
    if tab.open:
        with tab:
            render(fs, group)
