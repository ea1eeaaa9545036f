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
