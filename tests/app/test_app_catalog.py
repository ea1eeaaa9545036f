"""Catalog page: groups with counts and freshness, all features, search, click-through."""
from __future__ import annotations

from studio_support import fs, ok, page, seeded_template, studio_store, texts  # noqa: F401

SAMPLE_GROUPS = ["customer_spend", "customers", "merchants", "transactions"]


def test_lists_groups_with_counts_and_every_feature(fs):
    at = ok(page("catalog"))
    groups = at.dataframe(key="catalog_groups").value.set_index("group")
    assert list(groups.index) == SAMPLE_GROUPS
    info = fs.describe("customers")
    assert groups.loc["customers", "online records"] == info["online_records"]
    assert groups.loc["customers", "offline rows"] == info["offline_rows"]
    assert "team=risk" in groups.loc["customers", "tags"]
    features = at.dataframe(key="catalog_features").value
    assert len(features) == sum(len(g.features) for g in fs.list_feature_groups())
    assert {m.label: m.value for m in at.metric}["Feature groups"] == "4"


def test_search_matches_descriptions_tags_and_parameters(studio_store):
    at = page("catalog")
    at.text_input(key="catalog_search").set_value("USD").run()
    hits = ok(at).dataframe(key="catalog_hits").value
    assert {"credit_limit", "amount"} <= set(hits["feature"]) and "parameters" in set(hits["matched in"])
    at.text_input(key="catalog_search").set_value("no-such-thing").run()
    assert "Nothing matches" in texts(at)


def test_selecting_a_group_or_feature_opens_its_page(studio_store):
    at = page("catalog")
    at.session_state["catalog_groups"] = {"selection": {"rows": [2], "columns": [], "cells": []}}
    at.run()
    assert at.title[0].value == "merchants" and at.query_params["group"] == "merchants"
    at = page("catalog")
    at.session_state["catalog_features"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert at.title[0].value == "customer_spend" and at.query_params["tab"] == "Schema"
    assert at.selectbox(key="schema_feature_customer_spend")


def test_an_empty_store_says_what_to_do_next(fs):
    page("catalog")  # the studio opens (and would seed) the store first
    for g in fs.list_feature_groups():
        fs.delete_feature_group(g.name)
    at = ok(page("catalog"))
    assert "no feature groups yet" in texts(at)
    assert not at.dataframe


def test_search_is_literal_and_finds_tags_as_shown(studio_store):
    at = page("catalog")
    at.text_input(key="catalog_search").set_value("%").run()
    assert "Nothing matches “%”" in texts(ok(at))  # not every row, as an unescaped LIKE would
    at.text_input(key="catalog_search").set_value("pii=true").run()
    hits = at.dataframe(key="catalog_hits").value
    assert hits["group"].tolist() == ["customers"] and hits["matched in"].tolist() == ["tags"]


def test_tag_facets_filter_the_groups_and_used_by_names_datasets_and_models(studio_store):
    at = page("catalog")
    assert "pii=false (3)" in at.pills(key="catalog_tags").options  # counts shown
    at.pills(key="catalog_tags").set_value(["team=risk"]).run()
    groups = ok(at).dataframe(key="catalog_groups").value.set_index("group")
    assert list(groups.index) == ["customer_spend", "customers"]
    assert "model fraud_model_v1" in groups.loc["customers", "used by"]
    assert "dataset fraud_training_v1" in groups.loc["customers", "used by"]
