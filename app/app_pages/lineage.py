"""Lineage: sources → feature groups → features → on-demand features → feature services → datasets → models,
filterable, focusable on one node with its details; clicking a node in the drawing opens its page."""
from __future__ import annotations

import streamlit as st

from app.app_pages.group_tabs.lineage import draw
from app.ui.formats import escape_markdown, when
from app.ui.graph import DEFAULT_KINDS, KINDS, shown_nodes
from app.ui.nav import open_page
from app.ui.session import store

fs = store()
st.title("Lineage")
whole = fs.lineage()
if not whole.nodes:
    st.info("Nothing recorded yet. Lineage fills itself as you ingest files and build datasets.",
            icon=":material/info:")
    st.stop()

nodes = {n["id"]: n for n in whole.nodes}
wanted = st.query_params.get("node")
if wanted is not None and wanted not in nodes:
    st.error(f"Lineage has no node **{escape_markdown(wanted)}**; showing the whole graph.", icon=":material/search_off:")
    del st.query_params["node"]
focus_col, depth_col, text_col = st.columns([3, 1, 2])
# Options are node ids without a format_func: a bound widget matches URL values (?node=<id>,
# the links in the drawing) against the displayed option text.
focus = focus_col.selectbox("Focus on", list(nodes), index=None, key="node", bind="query-params",
                            placeholder="the whole graph")
depth = depth_col.number_input("Depth", min_value=1, max_value=6, value=2, key="lineage_depth", disabled=focus is None,
                               help="How many edges away from the focused node to show")
text = text_col.text_input("Filter by name", key="lineage_filter", placeholder="e.g. customers")

kinds = st.pills("Show", list(KINDS), selection_mode="multi", default=DEFAULT_KINDS, key="lineage_kinds",
                 format_func=lambda k: KINDS[k][0])
graph = fs.lineage(focus, depth) if focus else whole
draw(graph, shown_nodes(graph, kinds, text) | ({focus} if focus else set()), focus)

if focus:
    node = nodes[focus]
    props = node["properties"]
    st.subheader(f"{KINDS.get(node['kind'], (node['kind'],))[0]}: {node['name']}")
    st.caption(f"Recorded {when(node['created_us'])} by {node['created_by']}; last updated {when(node['updated_us'])}.")
    if node["kind"] == "feature_group" and not props.get("deleted"):
        if st.button(f"Open {node['name']}", icon=":material/table_chart:"):
            open_page("group", group=node["name"])
    elif node["kind"] == "feature_service" and not props.get("deleted"):
        if st.button(f"Open {node['name']}", icon=":material/hub:"):
            open_page("services", service=node["name"])
    elif node["kind"] == "on_demand" and not props.get("deleted"):
        if st.button(f"Open {node['name']}", icon=":material/function:"):
            open_page("on_demand", feature=node["name"])
    elif node["kind"] == "feature" and props.get("group"):
        if st.button(f"Open {props['group']}", icon=":material/table_chart:"):
            open_page("group", group=props["group"], tab="Schema")
    st.json(props, expanded=2)
