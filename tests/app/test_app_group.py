"""Feature group page: each tab's content and actions, run through AppTest."""
from __future__ import annotations

from datetime import timedelta

import pandas as pd
from studio_support import button, edits, fs, ok, page, seeded_template, studio_store, texts  # noqa: F401

from store import Feature




def test_overview_shows_figures_and_configuration(fs):
    at = ok(page("group", group="customers"))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Online records"] == f"{fs.describe('customers')['online_records']:,}"
    assert "`customer_id` (Integral)" in texts(at) and "Default TTL** &nbsp; none" in texts(at)
    assert [t.label for t in at.tabs][:3] == ["Overview", "Schema", "Data"]


def test_overview_saves_description_tags_and_ttl(fs):
    at = page("group", group="customers")
    at.text_area[0].set_value("Profiles, edited")
    at.session_state["tags_customers"] = edits(added=[{"key": "owner", "value": "ana"}])
    at.number_input[0].set_value(30.0)
    ok(button(at, "Save changes").click().run())
    group = fs.feature_group("customers")
    assert group.description == "Profiles, edited" and group.tags["owner"] == "ana" and group.tags["team"] == "risk"
    assert group.ttl_seconds == timedelta(days=30).total_seconds()
    assert [t.value for t in at.toast] == ["Saved changes to customers"]


def test_delete_needs_the_typed_name_and_can_purge(fs, studio_store):
    at = page("group", group="merchants")
    assert button(at, "Delete feature group").disabled
    at.checkbox(key="purge_merchants").check()
    at.text_input(key="confirm_delete_merchants").set_value("merchants").run()
    ok(button(at, "Delete feature group").click().run())
    assert at.title[0].value == "Catalog" and "merchants" not in {g.name for g in fs.list_feature_groups()}


def test_schema_edits_one_feature_and_adds_features(fs):
    at = page("group", group="customers", tab="Schema")
    at.selectbox(key="schema_feature_customers").set_value("age").run()
    at.text_input[0].set_value("Age in whole years")
    at.session_state["params_customers_age"] = edits(added=[{"key": "pii", "value": "true"}],
                                                      edited={"0": {"key": None}})  # clears 'unit'
    ok(button(at, "Save feature").click().run())
    age = fs.feature_group("customers").feature("age")
    assert age.description == "Age in whole years" and age.parameters == {"source": "crm", "pii": "true"}

    at.session_state["new_features_customers"] = edits(added=[{"name": "email", "type": "String"},
                                                              {"name": "scores", "type": "Fractional",
                                                               "collection": "Vector", "dimension": 3}])
    ok(button(at, "Add features").click().run())
    added = fs.feature_group("customers")
    assert added.feature("email").type == "String" and added.feature("scores").dimension == 3


def test_schema_shows_a_store_refusal_as_a_message(studio_store):
    at = page("group", group="customers", tab="Schema")
    at.session_state["new_features_customers"] = edits(added=[{"name": "age", "type": "Integral"}])
    button(at, "Add features").click().run()
    assert not at.exception and "already has a feature 'age'" in at.error[0].value


def test_data_pages_through_the_latest_records(fs):
    total = fs.describe("customers")["online_records"]
    at = ok(page("group", group="customers", tab="Data"))
    assert len(at.dataframe[0].value) == 50 and f"Records 1–50 of {total:,}" in texts(at)
    at.number_input(key="data_page_customers").set_value(2).run()
    assert f"Records 51–100 of {total:,}" in texts(at)
    at.number_input(key="data_page_customers").set_value(999).run()
    assert "past the end" in texts(at)


def test_statistics_refresh_after_an_ingest(fs):
    at = ok(page("group", group="merchants", tab="Statistics"))
    numeric = at.dataframe[0].value.set_index("feature")
    assert numeric.loc["risk_score", "count"] == 108 and len(at.get("plotly_chart")) == 3  # 90 + 18 corrections
    fs.ingest("merchants", pd.DataFrame({"merchant_id": ["M9999"], "event_time": ["2026-11-01T00:00:00Z"],
                                         "risk_score": [0.5]}))
    at.run()
    assert at.dataframe[0].value.set_index("feature").loc["risk_score", "count"] == 109
    at.segmented_control(key="stats_scope_merchants").set_value("latest").run()
    assert ok(at).dataframe[0].value.set_index("feature").loc["risk_score", "count"] == 81


def test_statistics_of_an_empty_group_point_to_ingest(fs):
    fs.create_feature_group("empty", "id", "ts", [Feature("id", "Integral"), Feature("ts", "String")])
    at = ok(page("group", group="empty", tab="Statistics"))
    assert "No rows yet" in texts(at)


def test_lineage_tab_draws_the_neighbourhood(studio_store):
    at = ok(page("group", group="customers", tab="Lineage"))
    dot = at.get("graphviz_chart")[0].proto.spec
    assert '"source:' in dot and "customers.csv" in dot and "fraud_model_v1" in dot and '"feature:' not in dot
    at.pills(key="lineage_kinds_customers").set_value(["feature_group", "feature"]).run()
    assert '"feature:customers.age"' in at.get("graphviz_chart")[0].proto.spec


def test_online_lookup_shows_the_record_and_expiry(fs):
    at = page("group", group="customer_spend", tab="Online lookup")
    assert "Enter an identifier" in texts(at)
    record_id = int(fs.as_of("customer_spend").iloc[-1]["customer_id"])
    online = fs.online_record("customer_spend", record_id)
    at.text_input(key="record").set_value(str(record_id)).run()
    shown = texts(ok(at))
    assert f"**{'live' if online['live'] else 'expired'}**" in shown and "Expires" in shown
    at.text_input(key="record").set_value("1").run()
    assert "No record with customer_id = 1" in at.warning[0].value
    at.text_input(key="record").set_value("not-a-number").run()
    assert not at.exception and "is not an integer" in at.error[0].value


def test_deleting_a_record_from_the_lookup_tab(fs):
    at = page("group", group="customers", tab="Online lookup")
    at.text_input(key="record").set_value("100396").run()
    at.toggle(key="hard_customers").set_value(True).run()
    assert button(at, "Delete record").disabled  # a hard delete needs the extra confirmation
    at.toggle(key="hard_customers").set_value(False).run()
    ok(button(at, "Delete record").click().run())
    assert fs.get_record("customers", 100396) is None
    assert "**deleted (tombstone)**" in texts(at)


def test_history_lists_versions_with_deletes(fs):
    closed = 100578  # closed in sample_data/deletes.csv
    at = page("group", group="customers", tab="History")
    at.text_input(key="record").set_value(str(closed)).run()
    versions = ok(at).dataframe[0].value
    assert len(versions) == len(fs.history("customers", closed)) and versions["kind"].iloc[-1] == "delete"
    assert versions.columns[:2].tolist() == ["kind", "event_time"]  # the delete flag is seen first
    assert "1 delete marker —" in texts(at) and at.get("plotly_chart")


def test_offline_only_and_online_only_groups_explain_missing_tabs(fs):
    fs.create_feature_group("archive", "id", "ts", [Feature("id", "Integral"), Feature("ts", "String")], online=False)
    at = ok(page("group", group="archive", tab="Online lookup"))
    assert "no online store" in texts(at)
    fs.create_feature_group("live", "id", "ts", [Feature("id", "Integral"), Feature("ts", "String")], offline=False)
    at = ok(page("group", group="live", tab="History"))
    assert "no offline store" in texts(at)


def test_schema_renames_widens_and_drops_and_overview_lists_the_versions(fs):
    before = fs.get_record("customers", 100001)
    at = page("group", group="customers", tab="Schema")
    at.selectbox(key="rename_pick_customers").set_value("credit_limit")
    at.text_input(key="rename_to_customers").set_value("credit_line")
    at = button(at, "Rename feature").click().run()  # the sample's fraud_detection service reads it
    assert not at.exception and "Feature service(s) fraud_detection read credit_limit" in at.error[0].value
    kept = [r for r in fs.feature_service("fraud_detection").refs
            if r not in ("customers:credit_limit", "customers:signup_channel")]
    fs.update_feature_service("fraud_detection", kept)  # what the message says to do first
    ok(button(at, "Rename feature").click().run())
    assert [t.value for t in at.toast][-1] == "Renamed credit_limit to credit_line: now definition v2"
    at.selectbox(key="widen_pick_customers").set_value("age (Integral)")
    at.selectbox(key="widen_to_customers").set_value("Fractional")
    ok(button(at, "Widen feature").click().run())
    at.multiselect(key="drop_pick_customers").set_value(["signup_channel"])
    ok(button(at, "Drop features").click().run())
    after = fs.get_record("customers", 100001)
    assert after["credit_line"] == before["credit_limit"] and after["age"] == float(before["age"])
    assert "signup_channel" not in after and "credit_limit" not in after

    at.selectbox(key="rename_pick_customers").set_value("age")
    at.text_input(key="rename_to_customers").set_value("country")  # taken: refused, said, nothing changed
    at = button(at, "Rename feature").click().run()
    assert any("already has a feature 'country'" in e.value for e in at.error)
    assert fs.feature_group("customers").version == 4

    at = ok(page("group", group="customers"))
    history = next(d.value for d in at.dataframe if "changes" in d.value.columns)
    assert list(history["version"]) == [4, 3, 2, 1]
    assert list(history["changes"])[:3] == ["dropped signup_channel", "age Integral -> Fractional",
                                            "renamed credit_limit -> credit_line"]
