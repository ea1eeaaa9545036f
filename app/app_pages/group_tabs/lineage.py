"""Lineage drawings: the graph with its edge table, used by the Lineage page and the group tab."""
from __future__ import annotations

import streamlit as st

from app.ui.formats import plural, timestamp, when
from app.ui.graph import DEFAULT_KINDS, KINDS, shown_nodes, to_dot, visible_edges
from store import FeatureGroup, FeatureStore
from store.registry.lineage import LineageGraph


def details(props: dict) -> str:
    """Edge properties as text; instants (``*_us``) as UTC times."""
    return ", ".join(f"{k[:-3]}={when(v)}" if k.endswith("_us") and isinstance(v, int) else f"{k}={v}"
                     for k, v in props.items())


def draw(graph: LineageGraph, shown: set[str], focus: str | None = None) -> None:
    """The graph (nodes link to their pages) and a table of the edges drawn."""
    if not shown:
        st.info("No lineage matches these filters. Widen them, or ingest a file or build a dataset to record some.",
                icon=":material/info:")
        return
    st.graphviz_chart(to_dot(graph, shown, focus), width="content")
    names = {n["id"]: n["name"] for n in graph.nodes}
    edges = [{"from": names.get(e["src"], e["src"]), "relation": e["relation"], "to": names.get(e["dst"], e["dst"]),
              "recorded": timestamp(e["created_us"]), "by": e["created_by"],
              "details": details(e["properties"]), "from id": e["src"],
              "to id": e["dst"]} for e in visible_edges(graph, shown)]
    st.caption(f"{plural(len(edges), 'edge')} — click a node to open its page")
    st.dataframe(edges, hide_index=True, column_config={
        "recorded": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm", timezone="UTC")})


def render_group(fs: FeatureStore, group: FeatureGroup) -> None:
    """The group's neighbourhood: three edges out reach its sources, features, the datasets using
    them and the models trained on those."""
    graph = fs.lineage(f"feature_group:{group.name}", depth=3)
    kinds = st.pills("Show", list(KINDS), selection_mode="multi", default=DEFAULT_KINDS,
                     key=f"lineage_kinds_{group.name}", format_func=lambda k: KINDS[k][0])
    draw(graph, shown_nodes(graph, kinds), focus=f"feature_group:{group.name}")
