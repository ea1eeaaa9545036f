"""Dataset builder page: entity table, feature choice, point-in-time build, downloads, lineage."""
from __future__ import annotations

import io

import pandas as pd
from studio_support import button, fs, ok, page, seeded_template, studio_store, texts  # noqa: F401

ENTITIES = b"customer_id,event_time,label\n100001,2026-09-01T00:00:00Z,1\n100002,2026-10-01T00:00:00Z,0\n999999,2026-10-01T00:00:00Z,0\n"



def test_build_from_the_sample_labels_records_lineage_and_downloads(fs):
    at = page("dataset")
    at.segmented_control(key="entity_source").set_value("Sample label file").run()
    assert at.selectbox(key="entity_sample").value == "labels.csv"
    assert button(at, "Build dataset").disabled and "Pick at least one feature group" in texts(at)
    at.multiselect(key="dataset_groups").set_value(["customers", "merchants"]).run()
    at.multiselect(key="dataset_features_merchants").set_value(["risk_score"])
    at.text_input(key="dataset_name").set_value("fraud_v2")
    ok(button(at, "Build dataset").click().run())
    assert "Dataset **fraud_v2**" in at.success[0].value and "12,000 rows" in at.success[0].value
    preview = at.dataframe[-1].value
    assert list(preview.columns)[:5] == ["transaction_id", "customer_id", "merchant_id", "event_time", "is_fraud"]
    assert "risk_score" in preview.columns and "category" not in preview.columns and len(preview) == 200
    node = next(n for n in fs.lineage().nodes if n["kind"] == "dataset" and n["name"] == "fraud_v2")
    assert node["properties"]["definition"]["features"] == ["customers", "merchants:risk_score"]
    downloads = at.get("download_button")
    assert [d.proto.label for d in downloads] == ["Download CSV", "Download Parquet"]


def test_build_from_an_uploaded_entity_table(fs):
    at = page("dataset")
    at.file_uploader(key="entity_file").upload("my_entities.csv", ENTITIES, "text/csv").run()
    at.multiselect(key="dataset_groups").set_value(["customer_spend"]).run()
    ok(button(at, "Build dataset").click().run())
    built = at.session_state["dataset"]
    table = built.to_pandas()
    assert table["customer_id"].tolist() == ["100001", "100002", "999999"]  # entity columns unchanged
    assert table["spend_7d"].isna().tolist()[-1] and built.definition["entity_source"] == "my_entities.csv"
    sources = {n["name"] for n in fs.lineage(f"dataset:{built.id}", 1).nodes if n["kind"] == "source"}
    assert sources == {"my_entities.csv"}
    data = pd.read_parquet(io.BytesIO(at.session_state["_dataset_bytes"][(built.id, "parquet")]))
    assert len(data) == 3


def test_a_wrong_key_column_is_explained(studio_store):
    at = page("dataset")
    at.file_uploader(key="entity_file").upload("e.csv", ENTITIES, "text/csv").run()
    at.multiselect(key="dataset_groups").set_value(["customers"]).run()
    at.selectbox(key="dataset_key_customers").set_value("event_time")
    button(at, "Build dataset").click().run()
    assert not at.exception and "Entity column 'event_time'" in at.error[0].value


def test_show_in_lineage_focuses_the_dataset(studio_store):
    at = page("dataset")
    at.segmented_control(key="entity_source").set_value("Sample label file").run()
    at.multiselect(key="dataset_groups").set_value(["merchants"]).run()
    button(at, "Build dataset").click().run()
    built = at.session_state["dataset"]
    ok(button(at, "Show in lineage").click().run())
    assert at.title[0].value == "Lineage" and at.query_params["node"] == f"dataset:{built.id}"
