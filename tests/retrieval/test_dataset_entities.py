"""build_dataset keys a group that declares an entity by the entity's key name, without being
told: a group identified by ``cust_id`` about entity ``customer`` (keyed by ``customer_id``) joins
the entity table's ``customer_id``. A missing column is an error naming the entity, the column it
needs and the ``keys=`` fix; ``keys=`` still wins; groups without an entity join as before."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from store import Feature, ValidationError

pytestmark = [pytest.mark.storage]

DAYS = 45
CUSTOMERS = 400


@pytest.fixture
def shop(fs):
    """Two groups about customers: orders keyed by cust_id, profiles by customer_id, with thousands of
    versions over many days; and a group without an entity keyed by customer_id too."""
    rng = np.random.default_rng(7)
    start = pd.Timestamp("2026-10-01", tz="UTC")
    fs.create_entity("customer", keys=[Feature("customer_id", "Integral")], description="A buyer")
    fs.create_feature_group("orders", "cust_id", "ts", [Feature("cust_id", "Integral"), Feature("ts"),
                                                        Feature("total", "Fractional"), Feature("items", "Integral")],
                            entity="customer")
    fs.create_feature_group("profiles", "customer_id", "ts", [Feature("customer_id", "Integral"), Feature("ts"),
                                                              Feature("segment")], entity="customer")
    fs.create_feature_group("legacy", "customer_id", "ts", [Feature("customer_id", "Integral"), Feature("ts"),
                                                            Feature("flag")])
    n = 6000
    times = start + pd.to_timedelta(rng.integers(0, DAYS * 24 * 3600, n), unit="s")
    orders = pd.DataFrame({"cust_id": rng.integers(1000, 1000 + CUSTOMERS, n),
                           "ts": times.strftime("%Y-%m-%dT%H:%M:%SZ"),
                           "total": rng.gamma(2.0, 30.0, n).round(2), "items": rng.integers(1, 9, n)})
    fs.ingest("orders", orders)
    m = 2500
    ptimes = start + pd.to_timedelta(rng.integers(0, DAYS * 24 * 3600, m), unit="s")
    profiles = pd.DataFrame({"customer_id": rng.integers(1000, 1000 + CUSTOMERS, m),
                             "ts": ptimes.strftime("%Y-%m-%dT%H:%M:%SZ"),
                             "segment": rng.choice(["bronze", "silver", "gold"], m)})
    fs.ingest("profiles", profiles)
    fs.ingest("legacy", profiles.rename(columns={"segment": "flag"}))
    labels = pd.DataFrame({"customer_id": rng.integers(1000, 1000 + CUSTOMERS + 20, 3000),
                           "event_time": start + pd.to_timedelta(rng.integers(0, (DAYS + 5) * 24 * 3600, 3000),
                                                                 unit="s"),
                           "churned": rng.integers(0, 2, 3000)})
    return fs, orders, profiles, labels


def brute_force(versions: pd.DataFrame, id_col: str, labels: pd.DataFrame, feature: str) -> pd.Series:
    """Per label row, the feature of the newest version at or before its time (the reference)."""
    v = versions.assign(t=pd.to_datetime(versions["ts"], utc=True)).sort_values("t", kind="stable")
    by_id = {k: g for k, g in v.groupby(id_col)}
    out = []
    for key, when in zip(labels["customer_id"], labels["event_time"]):
        rows = by_id.get(key)
        rows = rows[rows["t"] <= when] if rows is not None else None
        out.append(rows[feature].iloc[-1] if rows is not None and len(rows) else None)
    return pd.Series(out, dtype=object)


def plain(column: pd.Series) -> list:
    return column.astype(object).where(column.notna(), None).tolist()


def test_groups_join_on_their_entity_key_without_keys(shop):
    fs, orders, profiles, labels = shop
    built = fs.build_dataset(labels, ["orders:total", "profiles:segment"]).to_pandas()
    assert built.columns.tolist() == ["customer_id", "event_time", "churned", "total", "segment"]
    assert built["customer_id"].tolist() == labels["customer_id"].tolist()  # one row per label row, in order
    assert plain(built["total"]) == brute_force(orders, "cust_id", labels, "total").tolist()
    assert plain(built["segment"]) == brute_force(profiles, "customer_id", labels, "segment").tolist()
    assert built["total"].notna().sum() > 2000  # the join reached most rows: it keyed on the right column
    told = fs.build_dataset(labels, ["orders:total"], keys={"orders": "customer_id"}).to_pandas()
    assert told["total"].equals(built["total"])  # the same as naming the column


def test_the_recorded_definition_names_the_entity_key(shop):
    fs, _, _, labels = shop
    ds = fs.build_dataset(labels, ["orders:total"], name="churn_by_entity")
    assert ds.definition["keys"] == {"orders": "customer_id"}
    again = fs.dataset(ds.id).to_pandas()
    assert again["total"].equals(ds.to_pandas()["total"])


def test_a_missing_entity_key_column_names_the_entity_and_the_fix(shop):
    fs, _, _, labels = shop
    renamed = labels.rename(columns={"customer_id": "user"})
    with pytest.raises(ValidationError) as missing:
        fs.build_dataset(renamed, ["orders:total"])
    text = str(missing.value)
    assert "no column 'customer_id'" in text and "entity 'customer'" in text
    assert "keys={'orders': 'column'}" in text and "'cust_id'" in text
    by_keys = fs.build_dataset(renamed, ["orders:total"], keys={"orders": "user"}).to_pandas()
    assert by_keys["total"].notna().sum() > 2000


def test_an_entity_table_with_the_groups_own_identifier_name_still_needs_the_entity_key(shop):
    """The group is about customers: its entity's key name is the join column, whatever the group
    calls its identifier, so a table holding only ``cust_id`` is told what to pass."""
    fs, _, _, labels = shop
    with pytest.raises(ValidationError, match="keys=.'orders': 'column'."):
        fs.build_dataset(labels.rename(columns={"customer_id": "cust_id"}), ["orders:total"])


def test_groups_without_an_entity_join_as_before(shop):
    fs, _, profiles, labels = shop
    built = fs.build_dataset(labels, ["legacy:flag"]).to_pandas()
    assert plain(built["flag"]) == brute_force(profiles.rename(columns={"segment": "flag"}), "customer_id",
                                                 labels, "flag").tolist()
    with pytest.raises(ValidationError, match="no key column 'customer_id' for 'legacy'"):
        fs.build_dataset(labels.rename(columns={"customer_id": "x"}), ["legacy:flag"])


def test_detaching_the_entity_restores_the_identifier_join(shop):
    fs, _, _, labels = shop
    fs.update_feature_group("orders", entity=None)
    with pytest.raises(ValidationError, match="no key column 'cust_id' for 'orders'"):
        fs.build_dataset(labels, ["orders:total"])
    built = fs.build_dataset(labels.rename(columns={"customer_id": "cust_id"}), ["orders:total"]).to_pandas()
    assert built["total"].notna().sum() > 2000
