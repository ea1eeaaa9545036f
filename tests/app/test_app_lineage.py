"""Lineage page and its drawing (app/graph.py): filters, focus, links, bridged hidden nodes."""
from __future__ import annotations

from studio_support import button, fs, ok, page, seeded_template, studio_store, texts  # noqa: F401

from app.ui.graph import node_url, shown_nodes, to_dot, visible_edges
from store.registry.lineage import LineageGraph


def dot(at) -> str:
    return at.get("graphviz_chart")[0].proto.spec



def test_the_whole_graph_with_its_edge_table(studio_store):
    at = ok(page("lineage"))
    spec = dot(at)
    for name in ("customers.csv", "labels.csv", "fraud_training_v1", "fraud_model_v1", "python-sdk"):
        assert f'label="{name}"' in spec
    assert 'URL="group?group=customers"' in spec and '"feature:' not in spec  # no feature node (hidden by default)
    assert 'label="amount_vs_customer_avg", shape=parallelogram' in spec  # on-demand features are shown
    edges = at.dataframe[0].value
    assert {"ingested_into", "trained", "entity_table_of", "via 6 features"} <= set(edges["relation"])
    assert edges.set_index("relation").loc["trained", "to"] == "fraud_model_v1"


def test_filters_by_kind_and_name(studio_store):
    at = page("lineage")
    at.pills(key="lineage_kinds").set_value(["feature_group", "dataset"]).run()
    spec = dot(ok(at))
    assert "customers.csv" not in spec and '"feature_group:customers" -> "dataset:' in spec
    at.pills(key="lineage_kinds").set_value(["source", "feature_group", "dataset", "model"])
    at.text_input(key="lineage_filter").set_value("merchants").run()
    spec = dot(ok(at))
    assert "merchants.csv" in spec and "fraud_training_v1" in spec and "transactions" not in spec
    at.text_input(key="lineage_filter").set_value("zzz").run()
    assert "No lineage matches" in texts(at)


def test_focusing_a_node_shows_its_details_and_opens_its_page(studio_store):
    at = ok(page("lineage", node="feature_group:customers"))
    assert "Feature group: customers" in texts(at) and 'penwidth=2.5' in dot(at)
    ok(button(at, "Open customers").click().run())
    assert at.title[0].value == "customers"
    at = ok(page("lineage", node="feature:customers.age"))
    ok(button(at, "Open customers").click().run())
    assert at.query_params["tab"] == "Schema"
    at = ok(page("lineage", node="model:fraud_model_v1"))
    assert "Model: fraud_model_v1" in texts(at) and at.json[0].value


GRAPH = LineageGraph(
    nodes=[{"id": "source:1", "kind": "source", "name": 'we"ird.csv', "properties": {}},
           {"id": "feature_group:g", "kind": "feature_group", "name": "g", "properties": {}},
           {"id": "feature_group:old", "kind": "feature_group", "name": "old", "properties": {"deleted": True}},
           {"id": "feature:g.a", "kind": "feature", "name": "g.a", "properties": {"group": "g"}},
           {"id": "feature:g.b", "kind": "feature", "name": "g.b", "properties": {"group": "g"}},
           {"id": "dataset:d", "kind": "dataset", "name": "d", "properties": {}}],
    edges=[{"src": "source:1", "dst": "feature_group:g", "relation": "ingested_into", "properties": {}},
           {"src": "feature_group:g", "dst": "feature:g.a", "relation": "contains", "properties": {}},
           {"src": "feature_group:g", "dst": "feature:g.b", "relation": "contains", "properties": {}},
           {"src": "feature:g.a", "dst": "dataset:d", "relation": "used_by", "properties": {}},
           {"src": "feature:g.b", "dst": "dataset:d", "relation": "used_by", "properties": {}}],
)


def test_hidden_features_become_one_bridged_edge():
    shown = shown_nodes(GRAPH, ["source", "feature_group", "dataset"])
    edges = {(e["src"], e["dst"]): e for e in visible_edges(GRAPH, shown)}
    assert edges[("feature_group:g", "dataset:d")]["relation"] == "via 2 features"
    assert edges[("feature_group:g", "dataset:d")]["bridged"] and not edges[("source:1", "feature_group:g")]["bridged"]
    all_edges = visible_edges(GRAPH, shown_nodes(GRAPH, ["source", "feature_group", "feature", "dataset"]))
    assert len(all_edges) == 5 and not any(e["bridged"] for e in all_edges)


def test_node_links_and_quoting():
    nodes = {n["id"]: n for n in GRAPH.nodes}
    assert node_url(nodes["feature_group:g"]) == "group?group=g"
    assert node_url(nodes["feature:g.a"]) == "group?group=g&tab=Schema"
    assert node_url(nodes["feature_group:old"]) == "lineage?node=feature_group%3Aold"  # deleted: no page
    spec = to_dot(GRAPH, shown_nodes(GRAPH, ["source", "feature_group"]))
    assert 'label="we\\"ird.csv"' in spec and 'label="old (deleted)"' in spec and "dashed" in spec


def test_text_filter_keeps_direct_neighbours():
    assert shown_nodes(GRAPH, ["source", "feature_group", "dataset"], "weird") == set()
    assert shown_nodes(GRAPH, ["source", "feature_group", "dataset"], "we\"ird") == {"source:1", "feature_group:g"}
