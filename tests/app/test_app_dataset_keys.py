"""The studio says when keys cannot match instead of showing a green box over nothing: the builder
preselects only a key column named like the identifier, warns about keys written otherwise,
offers a conversion as a choice (refused when it would merge keys), and records a set whose keys
matched nothing only when the user confirms. Also: rebuilds told apart on Datasets, the catalog's
features following its search and tags, names in messages shown as written, the group lineage
without the groups a shared writer touched, and time travel starting inside a group's history."""
from __future__ import annotations

import pandas as pd
import pytest
from studio_support import button, fs, ok, page, seeded_template, studio_store, texts  # noqa: F401

from store import Feature

JAN = ["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T12:00:00Z"]
ENTITIES = "user_id,label_time,churned\n" + "".join(f"{i},2026-02-01T00:00:00Z,{i % 2}\n" for i in range(1, 51))


@pytest.fixture
def walk(fs):
    """The walk's groups: crm_customers keyed by customer_id (Integral), bank_tx by zero-padded text;
    three days of history each."""
    fs.create_feature_group("crm_customers", "customer_id", "event_time",
                            [Feature("customer_id", "Integral"), Feature("event_time", "String"), Feature("tier", "String")])
    fs.create_feature_group("bank_tx", "booking_no", "event_time",
                            [Feature("booking_no", "String"), Feature("event_time", "String"), Feature("amount", "Fractional")])
    fs.ingest("crm_customers", pd.DataFrame({"customer_id": [100001, 100002, 100003], "event_time": JAN,
                                             "tier": ["gold", "silver", "gold"]}))
    fs.ingest("bank_tx", pd.DataFrame({"booking_no": ["000001", "000002", "000003"], "event_time": JAN,
                                       "amount": [1.5, 2.5, 3.5]}))
    return fs


def builder(csv: str, group: str):
    at = page("dataset")
    at.file_uploader(key="entity_file").upload("entities.csv", csv.encode(), "text/csv").run()
    at.multiselect(key="dataset_groups").set_value([group]).run()
    return at


def test_no_key_is_preselected_when_no_column_is_named_like_the_identifier(walk):
    at = builder(ENTITIES, "crm_customers")
    assert at.selectbox(key="dataset_key_crm_customers").value is None  # not user_id, the first column
    assert "No column is named customer_id: pick the one holding crm_customers's identifiers" in texts(at)
    assert button(at, "Build dataset").disabled and "Pick a key column each group can join on" in texts(at)


def test_keys_that_match_nothing_are_a_warning_and_are_not_recorded_unless_confirmed(walk):
    at = builder(ENTITIES, "crm_customers")
    at.selectbox(key="dataset_key_crm_customers").set_value("user_id").run()
    assert not at.warning  # numbers against Integral identifiers: only the join can tell
    ok(button(at, "Build dataset").click().run())
    assert not at.success and at.warning[0].value.startswith("Not recorded: crm_customers gave features to none "
                                                             "of the 50 entity rows (50 rows got no feature at all)")
    assert [d["name"] for d in walk.datasets()] == ["fraud_training_v1"] and "dataset" not in at.session_state
    ok(button(at, "Record it anyway").click().run())
    assert not at.success and "although crm_customers gave features to none of its rows" in at.warning[0].value
    assert [d["rows"] for d in walk.datasets()][0] == 50 and len(walk.datasets()) == 2
    assert {m.label: m.value for m in at.metric}["Rows with no feature at all"] == "50"


def test_keys_written_without_the_identifiers_zero_padding_can_be_padded_by_choice(walk):
    at = builder(ENTITIES, "bank_tx")
    at.selectbox(key="dataset_key_bank_tx").set_value("user_id").run()
    assert ("'user_id' holds keys like '1', but 'bank_tx' identifiers are zero-padded to 6 digits "
            "('000001', '000002', '000003'): as they are, such keys match no identifier") in at.warning[0].value
    assert at.dataframe[1].value.to_dict("records")[0] == {"in the file": "1", "joined as": "000001"}
    assert button(at, "Build dataset").disabled
    at.checkbox(key="dataset_convert_bank_tx").check().run()
    ok(button(at, "Build dataset").click().run())
    built = at.session_state["dataset"]
    assert "recorded in lineage" in at.success[0].value and built.coverage["groups"]["bank_tx"]["rows_with_values"] == 3
    assert built.definition["pad_keys"] == {"bank_tx": 6}


def test_a_conversion_is_the_users_choice_with_examples(walk):
    csv = "user_id,label_time\n0100001,2026-02-01T00:00:00Z\n100002,2026-02-01T00:00:00Z\n"
    at = builder(csv, "crm_customers")
    at.selectbox(key="dataset_key_crm_customers").set_value("user_id").run()
    assert "holds text like '0100001', but 'crm_customers' identifiers are whole numbers" in at.warning[0].value
    examples = at.dataframe[1].value
    assert examples.to_dict("records") == [{"in the file": "0100001", "joined as": "100001"}]
    assert button(at, "Build dataset").disabled
    at.checkbox(key="dataset_convert_crm_customers").check().run()
    ok(button(at, "Build dataset").click().run())
    assert "recorded in lineage" in at.success[0].value
    assert at.session_state["dataset"].to_pandas()["tier"].tolist() == ["gold", "silver"]


def test_a_conversion_that_would_merge_two_keys_is_refused(walk):
    csv = "user_id,label_time\n0100001,2026-02-01T00:00:00Z\n100001,2026-02-01T00:00:00Z\n"
    at = builder(csv, "crm_customers")
    at.selectbox(key="dataset_key_crm_customers").set_value("user_id").run()
    assert "holds '0100001' and '100001', which are the same 'crm_customers' identifier 100001" in at.error[0].value
    assert button(at, "Build dataset").disabled and not [c for c in at.checkbox if c.key == "dataset_convert_crm_customers"]


def test_a_rebuild_is_told_apart_on_datasets(fs):
    demo = fs.datasets()[0]
    at = ok(page("datasets", dataset=demo["id"]))
    ok(button(at, "Rebuild on today's data").click().run())
    table = page("datasets").dataframe[0].value
    rebuilt = table[table["rebuild of"] == demo["name"]]
    assert len(rebuilt) == 1 and rebuilt["name"].iloc[0].startswith(f"{demo['name']} (rebuilt ")
    assert set(table["entity table"]) == {demo["entity_source"]} and demo["entity_source"] != "Arrow table"
    shown = ok(page("datasets", dataset=rebuilt["id"].iloc[0]))
    assert f"from {demo['entity_source']}" in texts(shown) and "A rebuild of fraud_training_v1" in texts(shown)


def test_catalog_features_follow_the_search_and_the_tags(studio_store):
    at = page("catalog")
    at.text_input(key="catalog_search").set_value("risk").run()
    at.pills(key="catalog_tags").set_value(["pii=true", "team=risk"]).run()
    groups = ok(at).dataframe(key="catalog_groups").value
    features = at.dataframe(key="catalog_features").value
    assert groups["group"].tolist() == ["customers"] and set(features["group"]) == {"customers"}
    assert "Showing 1 group of 4: those matching the search and the tags" in texts(at)
    at.pills(key="catalog_tags").set_value([]).run()
    at.text_input(key="catalog_search").set_value("acquirer risk").run()  # one feature's description only
    features = at.dataframe(key="catalog_features").value
    assert features[["group", "feature"]].values.tolist() == [["merchants", "risk_score"]]
    assert at.dataframe(key="catalog_groups").value["group"].tolist() == ["merchants"]
    at.text_input(key="catalog_search").set_value("pii=true").run()
    assert "1 match — select one" in texts(at) and "1 matches" not in texts(at)


def test_names_in_messages_and_labels_are_shown_as_written(studio_store):
    at = page("create")
    at.text_input(key="create_name").set_value("_x")
    button(at, "Create feature group").click().run()
    assert "name '\\_x' is invalid: use 1-64 letters, digits, '\\_' or '-'" in at.error[0].value
    at = page("group", group="merchants")
    assert at.text_input(key="confirm_delete_merchants").label == "Type merchants to confirm"


def test_group_lineage_leaves_out_groups_only_a_writer_shares(walk):
    walk.put_record("crm_customers", {"customer_id": 5, "event_time": JAN[0], "tier": "gold"})
    at = ok(page("group", group="crm_customers", tab="Lineage"))
    dot = at.get("graphviz_chart")[0].proto.spec
    assert '"feature_group:crm_customers"' in dot and '"feature_group:customers"' not in dot
    assert "customers.csv" not in dot


def test_time_travel_starts_inside_the_groups_history(walk):
    at = page("time_travel", group="crm_customers")
    assert str(at.get("date_time_input")[0].value) == "2026-01-02 06:00:00"  # the middle of its three days
    ok(at.button[0].click().run())
    assert {m.label: m.value for m in at.metric}["Records then"] == "2"


def test_the_helpers_for_counts_and_names_in_markdown():
    from app.ui.formats import escape_markdown, plural

    assert [plural(1, "match"), plural(2, "match"), plural(1, "entry"), plural(3, "entry"), plural(1200, "row")] == \
        ["1 match", "2 matches", "1 entry", "3 entries", "1,200 rows"]
    assert escape_markdown("name '_x' is invalid: use '_' or '-'") == "name '\\_x' is invalid: use '\\_' or '-'"
    assert escape_markdown("event_time a*b $5 `c` [a](b)") == "event_time a\\*b \\$5 \\`c\\` [a\\](b)"
    assert escape_markdown("# not a heading\n- not a list") == "\\# not a heading\n\\- not a list"
