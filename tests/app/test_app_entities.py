"""The Entities page (list, one entity, a lookup of one of them across its groups, defining and
editing), the ways to it (catalog, search, a group's overview) and to entities from Create and
the group page, and the dataset builder keying a group by its entity."""
from __future__ import annotations

import pandas as pd
import pytest
from studio_support import button, fs, ok, page, seeded_template, studio_store, texts  # noqa: F401

from store import Feature

DAYS = pd.date_range("2026-11-01", periods=30, freq="D", tz="UTC")


@pytest.fixture
def orders(fs):
    """A group about customers whose identifier is named otherwise (cust_id), with a month of history."""
    fs.create_feature_group("orders", "cust_id", "ts", [Feature("cust_id", "Integral"), Feature("ts"),
                                                        Feature("order_total", "Fractional")], entity="customer")
    fs.ingest("orders", pd.DataFrame({"cust_id": [100000 + i % 300 for i in range(3000)],
                                      "ts": [DAYS[i % 30].strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(3000)],
                                      "order_total": [round(i * 0.5, 2) for i in range(3000)]}))
    return fs


def test_the_list_shows_every_entity_with_its_groups(fs):
    at = ok(page("entities"))
    rows = at.dataframe[0].value
    assert rows["entity"].tolist() == ["customer", "merchant"]
    assert rows["groups"].tolist() == ["customer_spend, customers", "merchants"]
    assert rows["keys"].tolist() == ["customer_id (Integral)", "merchant_id (String)"]


def test_one_entity_shows_its_keys_groups_and_a_lookup(orders):
    at = ok(page("entities", entity="customer"))
    assert at.title[0].value == "Entity customer"
    shown = texts(at)
    assert "`customer_id` (Integral)" in shown and "domain=payments" in shown
    links = [link.label for link in at.get("page_link")]
    assert any(label.startswith("customer_spend") for label in links)
    assert "orders (3 features)" in links and "customers (8 features)" in links
    assert "In orders: cust_id holds customer_id" in shown
    at.text_input(key="lookup_customer_customer_id").set_value("100011")
    button(at, "Look up").click().run()
    ok(at)
    shown = texts(at)
    assert "Everything we know about customer 100011" in shown
    assert "found in 3 of 3 groups" in shown
    assert at.query_params["key"] == "100011"  # the lookup is a link
    tables = {tuple(t.value["feature"]) for t in at.dataframe if "feature" in t.value}
    assert ("order_total",) in tables and ("age", "country", "signup_channel", "credit_limit", "account_status",
                                            "risk_segment") in tables
    orders_table = next(t.value for t in at.dataframe if "feature" in t.value and tuple(t.value["feature"]) == ("order_total",))
    assert orders_table["value"].tolist() == ["1355.5"]  # rows 11, 311 .. 2711 of one day: the last written wins


def test_a_lookup_link_opens_with_its_answer(orders):
    at = ok(page("entities", entity="customer", key="999"))
    assert at.text_input(key="lookup_customer_customer_id").value == "999"
    assert "found in 0 of 3 groups" in texts(at)
    assert texts(at).count("No live record") == 3


def test_a_bad_lookup_value_is_a_message(orders):
    at = page("entities", entity="customer", key="abc")
    assert not at.exception
    assert "customer_id" in at.error[0].value and "abc" in at.error[0].value


def test_an_unknown_entity_says_so(fs):
    at = page("entities", entity="nobody")
    assert "Entity **nobody** does not exist" in at.error[0].value


def test_define_edit_and_delete_an_entity(fs):
    at = ok(page("entities"))
    at.text_input(key="entity_new_name").set_value("shop")
    at.text_input(key="entity_new_desc").set_value("A shop of a chain")
    at.text_input(key="entity_new_key").set_value("country")
    at.selectbox(key="entity_new_key_type").set_value("String")
    at.text_input(key="entity_new_more").set_value("shop_no:Integral")
    button(at, "Define entity").click().run()
    ok(at)
    assert fs.entity("shop").key_names == ["country", "shop_no"]
    assert fs.entity("shop").keys[1].type == "Integral" and fs.entity("shop").description == "A shop of a chain"
    at = ok(page("entities", entity="shop"))
    at.text_area[0].set_value("Shops, by country and number")
    button(at, "Save changes").click().run()
    assert fs.entity("shop").description == "Shops, by country and number"
    button(at, "Delete entity").click().run()
    assert [e.name for e in fs.list_entities()] == ["customer", "merchant"]


def test_a_bad_definition_is_shown_not_raised(fs):
    at = ok(page("entities"))
    at.text_input(key="entity_new_name").set_value("bad name")
    at.text_input(key="entity_new_key").set_value("id")
    button(at, "Define entity").click().run()
    assert not at.exception and "Entity name 'bad name' is invalid" in at.error[0].value


def test_the_catalog_links_groups_to_their_entity_and_filters_by_it(orders):
    at = ok(page("catalog"))
    groups = at.dataframe[0].value
    by_group = dict(zip(groups["group"], groups["entity"]))
    assert by_group["orders"] == "entities?entity=customer" and pd.isna(by_group["transactions"])
    assert any(link.label == "customer (3 groups)" for link in at.get("page_link"))
    at.button_group(key="catalog_entities").set_value(["merchant"]).run()
    assert ok(at).dataframe[0].value["group"].tolist() == ["merchants"]


def test_search_finds_entities_and_brings_their_groups(orders):
    at = ok(page("catalog"))
    at.text_input(key="catalog_search").set_value("card holder").run()
    hits = ok(at).dataframe[0].value
    assert hits["type"].tolist() == ["entity customer"] and hits["matched in"].tolist() == ["description"]
    assert sorted(at.dataframe[1].value["group"]) == ["customer_spend", "customers", "orders"]


def test_create_declares_the_entity(fs):
    at = ok(page("create"))
    at.text_input(key="create_name").set_value("visits").run()
    at.selectbox(key="create_entity").set_value("customer").run()
    button(at, "Create feature group").click().run()
    # The blank form's identifier is id (Integral): a one-key entity takes it whatever its name.
    ok(at)
    assert fs.feature_group("visits").entity_keys == {"id": "customer_id"}


def test_create_refuses_an_entity_of_another_type_next_to_the_field(fs):
    at = ok(page("create"))
    at.text_input(key="create_name").set_value("stores").run()
    at.selectbox(key="create_entity").set_value("merchant").run()
    button(at, "Create feature group").click().run()
    assert "'id' is Integral, but entity 'merchant' key 'merchant_id' is String" in at.error[0].value
    assert "stores" not in [g.name for g in fs.list_feature_groups()]


def test_the_group_overview_shows_and_changes_the_entity(orders):
    at = ok(page("group", group="orders"))
    assert "customer (`cust_id` holds `customer_id`)" in texts(at)
    assert "Entity customer: everything about one of them" in [link.label for link in at.get("page_link")]
    at.selectbox(key="entity_pick_orders").set_value("(none)")
    button(at, "Save entity").click().run()
    assert fs_entity(orders) is None
    at = ok(page("group", group="orders"))
    assert "none declared" in texts(at)
    at.selectbox(key="entity_pick_orders").set_value("merchant")
    button(at, "Save entity").click().run()
    assert "'cust_id' is Integral, but entity 'merchant' key 'merchant_id' is String" in at.error[0].value
    at.selectbox(key="entity_pick_orders").set_value("customer")
    button(at, "Save entity").click().run()
    assert fs_entity(orders) == "customer"


def fs_entity(fs) -> str | None:
    return fs.feature_group("orders").entity


def builder(csv: str, *groups: str):
    at = page("dataset")
    at.file_uploader(key="entity_file").upload("labels.csv", csv.encode(), "text/csv").run()
    at.multiselect(key="dataset_groups").set_value(list(groups)).run()
    return at


LABELS = "user_id,customer_id,label_time,churned\n" + "".join(
    f"{i},{100000 + i},2026-12-01T00:00:00Z,{i % 2}\n" for i in range(300))


def test_the_builder_preselects_the_entity_key_column(orders):
    """The walk's F3: the builder no longer guesses the first column; a group about customers keys
    on the label file's customer_id, although the group calls its identifier cust_id."""
    at = ok(builder(LABELS, "orders", "customers"))
    assert at.selectbox(key="dataset_key_orders").value == "customer_id"
    assert at.selectbox(key="dataset_key_orders").label == "Entity column holding customer_id (customer's key, " \
                                                           "cust_id in orders)"
    assert at.selectbox(key="dataset_key_customers").value == "customer_id"
    button(at, "Build dataset").click().run()
    ok(at)
    built = at.session_state["dataset"]
    assert built.coverage["groups"]["orders"]["rows_with_values"] == 300
    assert built.definition["keys"] == {"orders": "customer_id", "customers": "customer_id"}


def test_the_builder_never_guesses_a_column_the_entity_does_not_name(orders):
    csv = "user_id,label_time,churned\n" + "".join(f"{i},2026-12-01T00:00:00Z,1\n" for i in range(50))
    at = ok(builder(csv, "orders"))
    assert at.selectbox(key="dataset_key_orders").value is None
    assert "No column is named customer_id, the key of entity customer: pick the one holding orders's identifiers" \
        in texts(at)
    assert button(at, "Build dataset").disabled


def test_a_viewer_sees_only_its_groups_of_an_entity(studio_store, monkeypatch):
    """vera reads merchants and transactions only: customer's groups are absent from its page and
    its lookup, merchant's are there; nothing to define or edit."""
    from access_support import write_access
    from streamlit.testing.v1 import AppTest
    from studio_support import STUDIO

    from app.ui import auth

    write_access(studio_store)
    monkeypatch.setenv("FEATURESTORE_UI_AUTH", "password")
    auth._failures.clear()
    at = AppTest.from_file(STUDIO, default_timeout=60)
    at.run()
    at.text_input[0].set_value("vera")
    at.text_input[1].set_value("vera-password")
    at.button[0].click().run()
    at.switch_page("app_pages/entities.py").run()
    rows = ok(at).dataframe[0].value
    assert dict(zip(rows["entity"], rows["groups"])) == {"customer": "—", "merchant": "merchants"}
    assert "Defining entities needs an admin grant" in texts(at)
    at.query_params["entity"] = "customer"
    at.query_params["key"] = "100396"
    at.switch_page("app_pages/entities.py").run()
    assert "Nothing to look up yet" in texts(ok(at)) and "none you may see" in texts(at)
    assert not at.get("form") and not [e for e in at.get("expander") if "Edit or delete" in e.label]
    at.query_params["entity"] = "merchant"
    at.query_params["key"] = "M0054"
    at.switch_page("app_pages/entities.py").run()
    assert "found in 1 of 1 group" in texts(ok(at))


def test_an_entity_of_two_key_columns_takes_one_input_each_and_links_them(fs):
    fs.create_entity("shop", keys=[Feature("country"), Feature("shop_no", "Integral")])
    fs.create_feature_group("shop_sales", "shop_no", "ts", [Feature("shop_no", "Integral"), Feature("ts"),
                                                            Feature("sales", "Fractional")])
    at = ok(page("entities", entity="shop"))
    assert "Nothing to look up yet" in texts(at)  # no group about it holds features (one identifier column each)
    with pytest.raises(Exception, match="2 key column"):
        fs.update_feature_group("shop_sales", entity="shop")
