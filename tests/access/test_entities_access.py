"""Entities under an access policy: a principal sees an entity's definition, but of its groups only
those it may read, in the entity, the list, and a lookup of one entity across its groups; only an
admin defines, changes or deletes entities, and every refusal is logged."""
from __future__ import annotations

import pandas as pd
import pytest

from store import AccessDenied, Feature, FeatureStore

ACCESS = """
users:
  - {name: root, roles: [{role: admin}]}
  - {name: vera, roles: [{role: viewer, groups: [orders, profiles]}]}
  - {name: ed, roles: [{role: owner, groups: [orders]}]}
"""


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "S"
    path.mkdir()
    (path / "access.yaml").write_text(ACCESS)
    root = FeatureStore(path, principal="root")
    root.create_entity("customer", keys=[Feature("customer_id", "Integral")], description="A buyer")
    days = pd.date_range("2026-11-01", periods=30, freq="D", tz="UTC")
    for group, value in (("orders", "total"), ("profiles", "segment"), ("risk_scores", "score")):
        kind = "String" if value == "segment" else "Fractional"
        rid = "cust_id" if group == "orders" else "customer_id"
        root.create_feature_group(group, rid, "ts", [Feature(rid, "Integral"), Feature("ts"), Feature(value, kind)],
                                  entity="customer")
        rows = pd.DataFrame({rid: [1000 + i % 200 for i in range(3000)],
                             "ts": [days[i % 30].strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(3000)]})
        rows[value] = [f"s{i % 4}" for i in range(3000)] if kind == "String" else [i * 0.5 for i in range(3000)]
        root.ingest(group, rows)
    yield root
    root.close()


def test_a_viewer_sees_only_its_groups_of_an_entity(store):
    vera = store.with_principal("vera")
    assert vera.entity("customer").groups == ("orders", "profiles")
    assert [e.groups for e in vera.list_entities()] == [("orders", "profiles")]
    answer = vera.entity_record("customer", 1011)
    assert [g["group"] for g in answer["groups"]] == ["orders", "profiles"]
    assert all(g["status"] == "found" for g in answer["groups"])
    assert "risk_scores" not in repr(answer) and "score" not in repr(answer["groups"])
    full = store.entity_record("customer", 1011)
    assert [g["group"] for g in full["groups"]] == ["orders", "profiles", "risk_scores"]
    assert [g["features"] for g in full["groups"][:2]] == [g["features"] for g in answer["groups"]]
    ed = store.with_principal("ed")
    assert [g["group"] for g in ed.entity_record("customer", 1011)["groups"]] == ["orders"]


def test_only_an_admin_changes_entities(store):
    for name in ("vera", "ed"):
        handle = store.with_principal(name)
        with pytest.raises(AccessDenied, match="an admin grant"):
            handle.create_entity("account", keys=[Feature("account_id", "Integral")])
        with pytest.raises(AccessDenied, match="an admin grant"):
            handle.update_entity("customer", description="changed")
        with pytest.raises(AccessDenied, match="an admin grant"):
            handle.delete_entity("customer")
    assert store.entity("customer").description == "A buyer"
    denied = store.audit(action="update_entity")
    assert set(denied["principal"]) == {"vera", "ed"} and set(denied["outcome"]) == {"denied"}


def test_an_owner_attaches_its_group_but_cannot_see_others(store):
    ed = store.with_principal("ed")
    assert ed.update_feature_group("orders", entity=None).entity is None
    assert store.entity("customer").groups == ("profiles", "risk_scores")
    with pytest.raises(AccessDenied):
        ed.update_feature_group("profiles", entity=None)
    ed.update_feature_group("orders", entity="customer")
    assert ed.entity("customer").groups == ("orders",)


def test_search_finds_entities_for_any_reader_and_groups_only_when_visible(store):
    vera = store.with_principal("vera")
    hits = vera.search("customer")
    assert {h["kind"] for h in hits} >= {"entity"}
    assert [h["entity"] for h in hits if h["kind"] == "entity"] == ["customer"]
    assert {h["group"] for h in hits if h["kind"] != "entity"} <= {"orders", "profiles"}
    assert "risk_scores" in {h["group"] for h in store.search("customer") if h["kind"] != "entity"}


def test_an_entity_records_the_principal_that_defined_it(store):
    assert store.entity("customer").created_by == "root"
