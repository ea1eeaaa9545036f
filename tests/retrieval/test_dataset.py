"""Point-in-time datasets: one row per entity row, no leakage, options, outputs, lineage."""
from __future__ import annotations

import time

import pandas as pd
import pytest

from store import Feature, NotFound, ValidationError
from tests.conftest import t

pytestmark = pytest.mark.storage  # every test on `fs` runs on a local folder and on S3


@pytest.fixture
def two_groups(fs, customers):
    fs.create_feature_group("merchants", "merchant_id", "ts", [Feature("merchant_id", "String"), Feature("ts", "String"),
                                                              Feature("risk", "Fractional"), Feature("age", "Integral")],
                            ttl=86400 * 2)
    fs.put_record(customers, {"customer_id": 1, "event_time": t(1), "age": 30, "score": 0.1})
    fs.put_record(customers, {"customer_id": 1, "event_time": t(5), "age": 31, "score": 0.5})
    fs.put_record(customers, {"customer_id": 2, "event_time": t(2), "age": 40})
    fs.delete_record(customers, 2, t(4))
    fs.put_record("merchants", {"merchant_id": "m1", "ts": t(1), "risk": 0.9, "age": 5})
    fs.put_record("merchants", {"merchant_id": "m1", "ts": t(3), "risk": 0.2, "age": 6})
    return fs


ENTITY = pd.DataFrame({
    "customer_id": [1, 1, 2, 2, 3, 1],
    "merchant_id": ["m1", "m1", "m1", "m2", "m1", None],
    "event_time": [t(1, 12), t(6), t(3), t(5), t(3), t(0 + 1)],
    "label": [0, 1, 0, 1, 0, 1],
})


def test_point_in_time_join(two_groups):
    ds = two_groups.build_dataset(ENTITY, ["customers:age", "customers:score", "merchants:risk"])
    df = ds.to_pandas()
    assert df.columns.tolist() == ["customer_id", "merchant_id", "event_time", "label", "age", "score", "risk"]
    pd.testing.assert_frame_equal(df[ENTITY.columns], ENTITY, check_dtype=False)
    assert df["age"].astype("object").where(df["age"].notna(), None).tolist() == [30, 31, 40, None, None, 30]
    assert df["risk"].tolist()[:3] == [0.9, 0.2, 0.2]
    assert df["risk"].isna().tolist()[3:] == [True, False, True]


def test_no_future_value_leaks(two_groups):
    ds = two_groups.build_dataset(pd.DataFrame({"customer_id": [1], "event_time": [t(4)]}), ["customers"])
    assert ds.to_pandas()["age"].tolist() == [30]


def test_options_ttl_known_at_include_deleted_range(two_groups):
    fs = two_groups
    entity = pd.DataFrame({"customer_id": [2], "merchant_id": ["m1"], "event_time": [t(9)]})
    plain = fs.build_dataset(entity, ["customers:age", "merchants:risk"]).to_pandas()
    assert plain["age"].isna().all() and plain["risk"].tolist() == [0.2]
    both = fs.build_dataset(entity, ["customers:age", "merchants:age"]).to_pandas()
    assert both.columns.tolist()[-2:] == ["customers__age", "merchants__age"]
    assert fs.build_dataset(entity, ["merchants:risk"], ttl_lookback=True).to_pandas()["risk"].isna().all()
    kept = fs.build_dataset(entity, ["customers:age"], include_deleted=True).to_pandas()
    assert kept["age"].tolist() == [40]
    ranged = fs.build_dataset(entity, ["merchants:risk"], event_time_range=(None, t(2))).to_pandas()
    assert ranged["risk"].tolist() == [0.9]
    before = pd.Timestamp.now(tz="UTC")
    time.sleep(0.01)
    fs.put_record("merchants", {"merchant_id": "m1", "ts": t(4), "risk": 0.5})
    assert fs.build_dataset(entity, ["merchants:risk"]).to_pandas()["risk"].tolist() == [0.5]
    assert fs.build_dataset(entity, ["merchants:risk"], known_at=before).to_pandas()["risk"].tolist() == [0.2]


def test_write_time_guard_blocks_backfilled_values(two_groups):
    fs = two_groups
    # Written now (2026), so a 2024 entity row must not see it with the guard on.
    entity = pd.DataFrame({"customer_id": [1], "event_time": [t(9)]})
    assert fs.build_dataset(entity, ["customers:age"], write_time_guard=True).to_pandas()["age"].isna().all()
    future = pd.DataFrame({"customer_id": [1], "event_time": ["2100-01-01T00:00:00Z"]})
    assert fs.build_dataset(future, ["customers:age"], write_time_guard=True).to_pandas()["age"].tolist() == [31]


def test_include_duplicates_returns_every_write_at_the_matched_instant(fs, customers):
    fs.put_record(customers, {"customer_id": 1, "event_time": t(1), "age": 1})
    fs.put_record(customers, {"customer_id": 1, "event_time": t(1), "age": 2})
    entity = pd.DataFrame({"customer_id": [1], "event_time": [t(2)]})
    assert fs.build_dataset(entity, ["customers:age"]).to_pandas()["age"].tolist() == [2]
    assert fs.build_dataset(entity, ["customers:age"], include_duplicates=True).to_pandas()["age"].tolist() == [1, 2]


def test_outputs_and_lineage(two_groups, tmp_path):
    fs = two_groups
    ds = fs.build_dataset(ENTITY, ["customers", "merchants:risk"], name="train_v1")
    assert ds.to_parquet(tmp_path / "d.parquet") and len(pd.read_parquet(tmp_path / "d.parquet")) == len(ENTITY)
    ds.to_csv(tmp_path / "d.csv")
    assert len(pd.read_csv(tmp_path / "d.csv")) == len(ENTITY)
    assert ds.to_arrow().num_rows == len(ENTITY)
    model = fs.register_model("fraud_v1", datasets=["train_v1"], description="GBM")
    graph = fs.lineage(f"model:{model['name']}")
    assert f"dataset:{ds.id}" in graph.node_ids()
    node = next(n for n in fs.lineage().nodes if n["id"] == f"dataset:{ds.id}")
    assert node["properties"]["definition"]["keys"] == {"customers": "customer_id", "merchants": "merchant_id"}
    assert node["created_by"]
    assert any(e["src"] == "feature:customers.age" and e["dst"] == f"dataset:{ds.id}" for e in fs.lineage().edges)
    with pytest.raises(NotFound):
        fs.register_model("m", datasets=["nope"])


def test_entity_from_file_and_key_mapping(two_groups, tmp_path):
    path = tmp_path / "entity.csv"
    pd.DataFrame({"cust": [1], "when": ["2024-01-06T00:00:00Z"]}).to_csv(path, index=False)
    df = two_groups.build_dataset(str(path), ["customers:age"], "when", keys={"customers": "cust"}).to_pandas()
    assert df["age"].tolist() == [31]


@pytest.mark.parametrize("kwargs,message", [
    ({"features": ["nope"]}, "does not exist"),
    ({"features": ["customers:nope"]}, "no feature 'nope'"),
    ({"event_time_column": "ts"}, "no event-time column 'ts'"),
    ({"keys": {"customers": "cid"}}, "no key column 'cid'"),
    ({"features": "customers"}, "non-empty list"),
])
def test_bad_dataset_requests(two_groups, kwargs, message):
    args = {"features": ["customers"], **kwargs}
    with pytest.raises((ValidationError, NotFound), match=message):
        two_groups.build_dataset(ENTITY, **args)


def test_bad_entity_values(two_groups):
    bad_key = pd.DataFrame({"customer_id": ["abc"], "event_time": [t(1)]})
    with pytest.raises(ValidationError, match="customer_id"):
        two_groups.build_dataset(bad_key, ["customers"])
    bad_time = pd.DataFrame({"customer_id": [1], "event_time": ["soon"]})
    with pytest.raises(ValidationError, match="not a time"):
        two_groups.build_dataset(bad_time, ["customers"])


def test_entity_csv_keeps_text_keys_and_is_a_lineage_source(fs, tmp_path):
    fs.create_feature_group("acct", "acct_id", "event_time", [Feature("acct_id", "String"), Feature("event_time", "String"),
                                                              Feature("x", "Integral")])
    fs.put_record("acct", {"acct_id": "007", "event_time": "2026-01-01T00:00:00Z", "x": 1})
    path = tmp_path / "e.csv"
    path.write_text("acct_id,event_time,label\n007,2026-02-01T00:00:00Z,1\n")
    ds = fs.build_dataset(str(path), ["acct:x"])
    df = ds.to_pandas()
    assert df.to_dict("records") == [{"acct_id": "007", "event_time": "2026-02-01T00:00:00Z", "label": 1, "x": 1}]
    edges = fs.lineage(f"dataset:{ds.id}", depth=1).edges
    assert any(e["relation"] == "entity_table_of" and e["src"].startswith("source:") for e in edges)


def test_entity_rows_without_a_time_get_null_features(two_groups):
    entity = pd.DataFrame({"customer_id": [1, 2], "event_time": [None, None]})
    df = two_groups.build_dataset(entity, ["customers:age"]).to_pandas()
    assert len(df) == 2 and df["age"].isna().all()
