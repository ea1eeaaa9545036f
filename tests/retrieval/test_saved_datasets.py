"""Datasets built once stay findable: listed with their definition and coverage, rebuilt exactly
as they were built (whatever was written since), rebuilt on today's data, deleted. Entity keys
keep their types, epoch entity times are read, and one naming rule covers every column."""
from __future__ import annotations

import os

import pandas as pd
import pytest

from store import Feature, NotFound, ValidationError
from store.registry import lineage
from store.common.timeutil import now_us
from tests.conftest import t

pytestmark = pytest.mark.storage  # every test on `fs` runs on a local folder and on S3


@pytest.fixture
def store(fs, customers):
    fs.create_feature_group("merchants", "merchant_id", "event_time",
                            [Feature("merchant_id", "String"), Feature("event_time", "String"), Feature("age", "Integral"),
                             Feature("risk", "Fractional")])
    fs.ingest(customers, pd.DataFrame({"customer_id": [1, 2, 3], "event_time": [t(1), t(2), t(3)], "age": [30, 40, 50]}))
    fs.ingest("merchants", pd.DataFrame({"merchant_id": ["m1"], "event_time": [t(1)], "age": [5], "risk": [0.5]}))
    return fs


def entity_csv(tmp_path) -> str:
    path = tmp_path / "labels.csv"
    path.write_text("customer_id,merchant_id,label_time,label\n1,m1,1704153600,1\n2,m2,1704240000,0\n"
                    "4,m1,1704326400,0\n3,m1,1704412800,1\n")  # epoch seconds: Jan 2, 3, 4, 5
    return str(path)


def test_integral_keys_keep_their_type_and_epoch_times_are_read(store, tmp_path):
    ds = store.build_dataset(entity_csv(tmp_path), ["customers:age"], "label_time")
    df = ds.to_pandas()
    assert df["customer_id"].tolist() == [1, 2, 4, 3] and str(df["customer_id"].dtype) == "Int64"
    assert df["age"].tolist()[:2] == [30, 40] and pd.isna(df["age"][2])
    assert ds.to_bytes("csv").decode().splitlines()[1].startswith('1,"m1","1704153600",1,30')  # time as written
    assert ds.to_parquet(tmp_path / "d.parquet") and pd.read_parquet(tmp_path / "d.parquet")["customer_id"].dtype == "int64"


def test_coverage_counts_rows_without_values(store, tmp_path):
    store.delete_record("customers", 3, t(4))
    ds = store.build_dataset(entity_csv(tmp_path), ["customers:age", "merchants:risk"], "label_time")
    assert ds.coverage == {"rows": 4, "rows_without_any_feature": 0, "groups": {
        "customers": {"rows_with_values": 2, "rows_without": 2},  # 4 never existed, 3 was deleted
        "merchants": {"rows_with_values": 3, "rows_without": 1}}}  # m2 never existed
    lonely = pd.DataFrame({"customer_id": [9, 1], "merchant_id": ["m9", "m9"], "event_time": [t(5), t(5)]})
    assert store.build_dataset(lonely, ["customers", "merchants"]).coverage["rows_without_any_feature"] == 1


def test_one_naming_rule_and_a_prefix_option(store, tmp_path):
    ds = store.build_dataset(entity_csv(tmp_path), ["customers:age", "merchants:age", "merchants:risk"], "label_time")
    assert ds.columns[4:] == ["customers__age", "merchants__age", "risk"]
    ds = store.build_dataset(entity_csv(tmp_path), ["customers:age", "merchants:risk"], "label_time",
                             prefix_features=True)
    assert ds.columns[4:] == ["customers__age", "merchants__risk"]


def test_a_dataset_is_listed_and_rebuilt_exactly_as_it_was_built(store, tmp_path):
    ds = store.build_dataset(entity_csv(tmp_path), ["customers"], "label_time", name="train")
    os.remove(tmp_path / "labels.csv")  # the user's file is gone: the store kept what it needs
    store.ingest("customers", pd.DataFrame({"customer_id": [1, 2], "event_time": [t(1), t(1, 6)], "age": [99, 98]}))
    store.add_features("customers", [Feature("email", "String")])
    listed = store.datasets()
    assert [(d["id"], d["name"], d["rows"], d["rebuildable"]) for d in listed] == [(ds.id, "train", 4, True)]
    again = store.dataset("train")
    assert again.id == ds.id and again.table.equals(ds.table)  # the later writes and feature are not in it
    assert again.to_bytes("parquet") == ds.to_bytes("parquet")
    fresh = store.rebuild_dataset(ds.id)
    assert fresh.id != ds.id and fresh.to_pandas()["age"].tolist()[:2] == [99, 40]
    assert f"dataset:{fresh.id}" in store.lineage(f"dataset:{ds.id}", 1).node_ids()
    assert [d["id"] for d in store.datasets()] == [fresh.id, ds.id]


def test_deleted_and_unrecorded_datasets(store, tmp_path):
    ds = store.build_dataset(entity_csv(tmp_path), ["customers"], "label_time")
    store.build_dataset(entity_csv(tmp_path), ["customers"], "label_time", record=False)
    assert len(store.datasets()) == 1
    copy = store._ctx.files.storage.full(ds.definition["entity_copy"])
    assert store._ctx.files.storage.exists(copy)  # beside the offline files: on S3 when they are
    store.delete_dataset(ds.id)
    assert store.datasets() == [] and not store._ctx.files.storage.exists(copy)
    with pytest.raises(NotFound, match="no saved entity table"):
        store.dataset(ds.id)
    with pytest.raises(ValidationError, match="already deleted"):
        store.delete_dataset(ds.id)
    with pytest.raises(NotFound, match="No dataset 'nope'"):
        store.dataset("nope")


def test_a_copy_kept_in_the_store_folder_by_an_older_version_still_rebuilds(store, tmp_path):
    ds = store.build_dataset(entity_csv(tmp_path), ["customers"], "label_time", name="old")
    legacy = os.path.join(store.path, "datasets", ds.id, "entity.parquet")
    os.makedirs(os.path.dirname(legacy))
    with open(legacy, "wb") as fh:
        fh.write(store._ctx.files.storage.fs.open_input_file(store._ctx.files.storage.full(ds.definition["entity_copy"])).read())
    store._ctx.files.storage.remove_tree(store._ctx.files.storage.full(f"offline/_datasets/{ds.id}"))
    with store._ctx.db.write() as conn:  # the definition as older versions recorded it
        lineage.upsert_node(conn, f"dataset:{ds.id}", "dataset", "old", now_us(),
                            {"definition": {"entity_copy": f"datasets/{ds.id}/entity.parquet"}})
    assert store.datasets()[0]["rebuildable"] and store.dataset(ds.id).table.equals(ds.table)
    store.delete_dataset(ds.id)
    assert not os.path.exists(legacy)
