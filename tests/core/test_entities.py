"""Entities: what rows are about. Defining, reading, changing and deleting them; groups declaring
one at create or later (identifier columns matched to the entity's keys by name, position or an
explicit mapping); refusals naming columns and types; the audit log; and a store made before
entities existed opening and upgrading in place."""
from __future__ import annotations


import pandas as pd
import pytest

from upgrade_support import legacy_store

from store import Conflict, Feature, FeatureStore, NotFound, ValidationError

# Definitions live in the registry: run on SQLite and on PostgreSQL.
pytestmark = [pytest.mark.registry]



def orders(fs, name="orders", id_name="cust_id", id_type="Integral", **kwargs):
    return fs.create_feature_group(name, id_name, "ts", [Feature(id_name, id_type), Feature("ts"),
                                                         Feature("total", "Fractional")], **kwargs)


def test_entity_crud(fs):
    made = fs.create_entity("customer", keys=[Feature("customer_id", "Integral")], description="A buyer",
                            tags={"team": "crm"})
    assert made.name == "customer" and made.key_names == ["customer_id"] and made.groups == ()
    assert made.created_by and made.created_at == made.modified_at
    fs.create_entity("shop", keys=[{"name": "country", "type": "String"}, Feature("shop_no", "Integral")])
    assert [e.name for e in fs.list_entities()] == ["customer", "shop"]
    assert fs.entity("shop").key_names == ["country", "shop_no"]  # several key columns, in order
    changed = fs.update_entity("customer", description="Someone who buys", tags={"team": "growth"})
    assert changed.description == "Someone who buys" and changed.tags == {"team": "growth"}
    assert changed.keys == made.keys and changed.modified_at >= made.modified_at
    assert fs.update_entity("customer", description="Again").tags == {"team": "growth"}  # tags untouched
    fs.delete_entity("shop")
    assert [e.name for e in fs.list_entities()] == ["customer"]
    with pytest.raises(NotFound, match="Entity 'shop' does not exist"):
        fs.entity("shop")
    with pytest.raises(NotFound, match="Entity 'nosuch' does not exist"):
        fs.update_entity("nosuch", description="x")
    with pytest.raises(NotFound, match="Entity 'nosuch' does not exist"):
        fs.delete_entity("nosuch")


@pytest.mark.parametrize("kwargs,error,message", [
    ({"name": "bad name"}, ValidationError, "Entity name 'bad name' is invalid"),
    ({"name": "_x"}, ValidationError, "invalid"),
    ({"keys": []}, ValidationError, "at least one key column"),
    ({"keys": Feature("customer_id", "Integral")}, ValidationError, "keys must be a list"),
    ({"keys": [Feature("ids", "Integral", collection="List")]}, ValidationError, "must be a scalar"),
    ({"keys": [Feature("a"), Feature("A")]}, ValidationError, "twice"),
    ({"keys": ["customer_id"]}, ValidationError, "keys must be Feature objects"),
    ({"tags": {str(i): "v" for i in range(51)}}, ValidationError, "at most 50"),
    ({"description": 7}, ValidationError, "Description of entity"),
])
def test_bad_entities_are_refused(fs, kwargs, error, message):
    args = {"name": "customer", "keys": [Feature("customer_id", "Integral")], **kwargs}
    with pytest.raises(error, match=message):
        fs.create_entity(**args)
    assert fs.list_entities() == []


def test_names_are_unique_in_any_letter_case(fs):
    fs.create_entity("customer", keys=[Feature("customer_id", "Integral")])
    with pytest.raises(Conflict, match="already exists"):
        fs.create_entity("customer", keys=[Feature("customer_id", "Integral")])
    with pytest.raises(ValidationError, match="only in letter case"):
        fs.create_entity("Customer", keys=[Feature("customer_id", "Integral")])


def test_group_declares_an_entity_by_position_name_or_mapping(fs):
    fs.create_entity("customer", keys=[Feature("customer_id", "Integral")])
    by_position = orders(fs, entity="customer")
    assert by_position.entity == "customer" and by_position.entity_keys == {"cust_id": "customer_id"}
    by_name = orders(fs, "profiles", "customer_id", entity="customer")
    assert by_name.entity_keys == {"customer_id": "customer_id"}
    mapped = orders(fs, "visits", "client", entity="customer", entity_keys={"client": "customer_id"})
    assert mapped.entity_keys == {"client": "customer_id"}
    assert fs.entity("customer").groups == ("orders", "profiles", "visits")
    info = fs.describe("orders")
    assert info["entity"] == "customer" and info["entity_keys"] == {"cust_id": "customer_id"}
    assert fs.feature_group("orders").entity == "customer"  # a fresh read: stored, not only returned


def test_declaring_refuses_keys_that_do_not_fit(fs):
    fs.create_entity("customer", keys=[Feature("customer_id", "Integral")])
    fs.create_entity("shop", keys=[Feature("country"), Feature("shop_no", "Integral")])
    with pytest.raises(ValidationError) as typed:
        orders(fs, id_type="String", entity="customer")
    assert "'cust_id' is String" in str(typed.value) and "'customer_id' is Integral" in str(typed.value)
    with pytest.raises(ValidationError) as counted:
        orders(fs, entity="shop")
    assert "2 key column(s) (country String, shop_no Integral)" in str(counted.value)
    assert "identified by 1 (cust_id Integral)" in str(counted.value)
    with pytest.raises(ValidationError, match="must map each identifier column of 'orders' .cust_id. to a "
                                              "different key of entity 'customer' .customer_id."):
        orders(fs, entity="customer", entity_keys={"cust_id": "client_id"})
    with pytest.raises(ValidationError, match="entity_keys without an entity"):
        orders(fs, entity_keys={"cust_id": "customer_id"})
    with pytest.raises(NotFound, match="Entity 'nosuch' does not exist"):
        orders(fs, entity="nosuch")
    assert fs.list_feature_groups() == []  # nothing half-made


def test_attach_later_change_and_detach(fs):
    orders(fs)
    fs.put_record("orders", {"cust_id": 1011, "ts": "2026-12-01T10:00:00Z", "total": 12.5})
    assert fs.feature_group("orders").entity is None and fs.feature_group("orders").entity_keys == {}
    fs.create_entity("customer", keys=[Feature("customer_id", "Integral")])
    attached = fs.update_feature_group("orders", entity="customer", description="Orders per customer")
    assert attached.entity == "customer" and attached.entity_keys == {"cust_id": "customer_id"}
    assert attached.description == "Orders per customer"
    assert fs.get_record("orders", 1011)["total"] == 12.5  # its data untouched
    fs.create_entity("account", keys=[Feature("account_id", "Integral")])
    moved = fs.update_feature_group("orders", entity="account", entity_keys={"cust_id": "account_id"})
    assert moved.entity == "account" and fs.entity("customer").groups == ()
    with pytest.raises(ValidationError, match="entity_keys without an entity"):
        fs.update_feature_group("orders", entity=None, entity_keys={"cust_id": "account_id"})
    detached = fs.update_feature_group("orders", entity=None)
    assert detached.entity is None and detached.entity_keys == {}
    with pytest.raises(ValidationError, match="declares none"):
        fs.update_feature_group("orders", entity_keys={"cust_id": "account_id"})
    fs.create_entity("text_customer", keys=[Feature("customer_id", "String")])
    with pytest.raises(ValidationError, match="'cust_id' is Integral, but entity 'text_customer' key 'customer_id' "
                                              "is String"):
        fs.update_feature_group("orders", entity="text_customer", description="not applied")
    assert fs.feature_group("orders").description == "Orders per customer"  # one transaction: nothing changed


def test_delete_is_refused_while_groups_declare_it(fs):
    fs.create_entity("customer", keys=[Feature("customer_id", "Integral")])
    orders(fs, entity="customer")
    orders(fs, "refunds", entity="customer")
    with pytest.raises(ValidationError) as refused:
        fs.delete_entity("customer")
    assert "declared by 2 feature group(s): orders, refunds" in str(refused.value)
    assert "entity=None" in str(refused.value)
    fs.update_feature_group("orders", entity=None)
    fs.delete_feature_group("refunds")
    fs.delete_entity("customer")
    assert fs.list_entities() == []


def test_entity_writes_are_audited(fs):
    fs.create_entity("customer", keys=[Feature("customer_id", "Integral")])
    fs.update_entity("customer", description="A buyer")
    orders(fs, entity="customer")
    with pytest.raises(ValidationError):
        fs.delete_entity("customer")
    fs.update_feature_group("orders", entity=None)
    fs.delete_entity("customer")
    log = fs.audit().iloc[::-1]
    entity_rows = log[log["action"].str.endswith("_entity")]
    assert list(zip(entity_rows["action"], entity_rows["outcome"])) == [
        ("create_entity", "ok"), ("update_entity", "ok"), ("delete_entity", "failed: ValidationError"),
        ("delete_entity", "ok")]
    assert all(d.get("entity") == "customer" for d in entity_rows[entity_rows["outcome"] == "ok"]["details"])
    assert "update_feature_group" in set(log["action"])
    assert fs.verify_audit()["ok"]


def test_search_finds_entities(fs):
    fs.create_entity("customer", keys=[Feature("customer_id", "Integral")], description="Someone who buys",
                     tags={"domain": "crm"})
    orders(fs, entity="customer")
    by_name = [h for h in fs.search("custom") if h["kind"] == "entity"]
    assert by_name == [{"kind": "entity", "entity": "customer", "group": None, "feature": None,
                        "description": "Someone who buys", "matched": "name"}]
    assert [h["matched"] for h in fs.search("buys") if h["kind"] == "entity"] == ["description"]
    assert [h["entity"] for h in fs.search("domain=cr") if h["kind"] == "entity"] == ["customer"]
    assert [h for h in fs.search("nothing-like-it")] == []


def test_a_store_of_the_previous_release_upgrades_in_place(tmp_path):
    path = legacy_store(tmp_path)
    fs = FeatureStore(path)
    try:
        group = fs.feature_group("tx")
        assert group.entity is None and group.entity_keys == {} and group.description == "Card transactions"
        assert fs.get_record("tx", 7)["amount"] == 99.5 and fs.list_entities() == []
        fs.create_entity("transaction", keys=[Feature("transaction_id", "Integral")])
        assert fs.update_feature_group("tx", entity="transaction").entity_keys == {"tx_id": "transaction_id"}
        answer = fs.entity_record("transaction", 7)
        assert answer["groups"][0]["status"] == "found" and answer["groups"][0]["features"]["amount"] == 99.5
    finally:
        fs.close()
    reopened = FeatureStore(path)  # the upgrade is kept, and a second open does not redo it
    try:
        assert reopened.feature_group("tx").entity == "transaction"
        assert [e.name for e in reopened.list_entities()] == ["transaction"]
    finally:
        reopened.close()


def test_entity_record_across_groups(fs):
    fs.create_entity("customer", keys=[Feature("customer_id", "Integral")])
    orders(fs, entity="customer")
    fs.create_feature_group("profiles", "customer_id", "ts", [Feature("customer_id", "Integral"), Feature("ts"),
                                                              Feature("segment")], entity="customer")
    fs.create_feature_group("history_only", "customer_id", "ts", [Feature("customer_id", "Integral"), Feature("ts"),
                                                                  Feature("ltv", "Fractional")], online=False,
                            entity="customer")
    fs.ingest("orders", pd.DataFrame([{"cust_id": i, "ts": f"2026-12-0{1 + i % 5}T00:00:00Z", "total": float(i)}
                                      for i in range(1000, 1100)]))
    fs.put_record("orders", {"cust_id": 1011, "ts": "2026-12-06T09:30:00Z", "total": 99.0})
    fs.put_record("profiles", {"customer_id": 1011, "ts": "2026-12-05T00:00:00Z", "segment": "gold"})
    answer = fs.entity_record("customer", 1011)
    assert answer["entity"] == "customer" and answer["key"] == {"customer_id": 1011}
    by_group = {g["group"]: g for g in answer["groups"]}
    assert by_group["orders"]["status"] == "found" and by_group["orders"]["features"] == {"total": 99.0}
    assert by_group["orders"]["identifier"] == {"cust_id": 1011}
    assert by_group["orders"]["event_time"] == "2026-12-06T09:30:00Z" and by_group["orders"]["age_seconds"] > 0
    assert by_group["profiles"]["features"] == {"segment": "gold"}
    assert by_group["orders"]["age_seconds"] < by_group["profiles"]["age_seconds"]
    assert by_group["history_only"]["status"] == "no online store"
    as_text = fs.entity_record("customer", {"customer_id": "1011"})  # the studio's input box gives text
    assert [g["features"] for g in as_text["groups"] if g["group"] == "orders"] == [{"total": 99.0}]
    missing = fs.entity_record("customer", 5)
    assert [g["status"] for g in missing["groups"]] == ["no online store", "not found", "not found"]
    with pytest.raises(ValidationError, match="customer_id"):
        fs.entity_record("customer", "not a number")
    with pytest.raises(ValidationError, match=r"names \[.cust.\] it does not have"):
        fs.entity_record("customer", {"cust": 1})
    with pytest.raises(NotFound):
        fs.entity_record("nosuch", 1)


def test_declaring_an_entity_is_a_definition_version(fs):
    orders(fs)
    fs.create_entity("customer", keys=[Feature("customer_id", "Integral")])
    fs.update_feature_group("orders", entity="customer", description="Orders per customer")
    fs.update_feature_group("orders", entity="customer")  # the same again: no new version
    fs.update_feature_group("orders", entity=None)
    history = fs.definition_history("orders")
    assert [v["version"] for v in history] == [1, 2, 3]
    attached = {c["change"]: c for c in history[1]["changes"]}
    assert attached["entity"] == {"change": "entity", "from": None, "to": "customer"}
    assert attached["entity_keys"]["to"] == {"cust_id": "customer_id"} and "description" in attached
    assert {c["change"] for c in history[2]["changes"]} == {"entity", "entity_keys"}
    assert fs.describe("orders", version=2)["group"].entity == "customer"  # as that version stood
    assert fs.describe("orders", version=1)["group"].entity is None
