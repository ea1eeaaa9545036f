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
    assert list(preview.columns)[:6] == ["transaction_id", "customer_id", "merchant_id", "amount", "event_time",
                                         "is_fraud"]
    assert "risk_score" in preview.columns and "category" not in preview.columns and len(preview) == 200
    node = next(n for n in fs.lineage().nodes if n["kind"] == "dataset" and n["name"] == "fraud_v2")
    assert node["properties"]["definition"]["features"] == ["customers", "merchants:risk_score"]
    downloads = at.get("download_button")
    assert [d.proto.label for d in downloads] == ["Download CSV", "Download Parquet"]
    columns = at.dataframe[-2].value  # which column each feature becomes, shown before building
    names = columns.set_index(["group", "feature"])["column"]
    assert names[("customers", "event_time")] == "customers__event_time"  # the entity table has event_time too
    assert names[("customers", "age")] == "age" and names[("merchants", "risk_score")] == "risk_score"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows with no feature at all"] == "0" and "Rows without merchants" in metrics


def test_build_from_an_uploaded_entity_table(fs):
    at = page("dataset")
    at.file_uploader(key="entity_file").upload("my_entities.csv", ENTITIES, "text/csv").run()
    at.multiselect(key="dataset_groups").set_value(["customer_spend"]).run()
    ok(button(at, "Build dataset").click().run())
    built = at.session_state["dataset"]
    table = built.to_pandas()
    assert table["customer_id"].tolist() == [100001, 100002, 999999]  # Integral keys keep their type
    assert table["spend_7d"].isna().tolist()[-1] and built.definition["entity_source"] == "my_entities.csv"
    sources = {n["name"] for n in fs.lineage(f"dataset:{built.id}", 1).nodes if n["kind"] == "source"}
    assert sources == {"my_entities.csv"}
    data = pd.read_parquet(io.BytesIO(built.to_bytes("parquet")))
    assert len(data) == 3 and data["customer_id"].dtype == "int64"
    without = built.coverage["groups"]["customer_spend"]["rows_without"]
    assert without >= 1 and {m.label: m.value for m in at.metric}["Rows without customer_spend"] == str(without)


def test_the_entity_time_column_is_guessed_and_needed(studio_store):
    at = page("dataset")
    at.file_uploader(key="entity_file").upload("e.csv", b"label,id,seen_at\n1,100001,1788000000\n", "text/csv").run()
    assert at.selectbox(key="dataset_event_time").value == "seen_at"
    at.file_uploader(key="entity_file").upload("f.csv", b"label,id,x\n1,100001,abc\n", "text/csv").run()
    at.multiselect(key="dataset_groups").set_value(["customers"]).run()
    assert at.selectbox(key="dataset_event_time").value is None and button(at, "Build dataset").disabled


def test_datasets_page_lists_downloads_and_rebuilds(fs):
    at = page("datasets")
    demo = fs.datasets()[0]
    assert demo["name"] == "fraud_training_v1" and at.dataframe[0].value["name"].tolist() == ["fraud_training_v1"]
    assert "Select a dataset" in texts(at)
    at = ok(page("datasets", dataset=demo["id"]))
    assert at.subheader[0].value == "fraud_training_v1" and "Models trained on it: fraud_model_v1" in texts(at)
    assert [d.proto.label for d in at.get("download_button")] == ["Download CSV", "Download Parquet"]
    assert len(at.dataframe[1].value) == 100  # the preview, rebuilt as it was built
    ok(button(at, "Rebuild on today's data").click().run())
    assert len(fs.datasets()) == 2 and at.query_params["dataset"] != demo["id"]
    at = page("datasets", dataset="nope")
    assert not at.exception and "There is no dataset **nope**" in at.error[0].value


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
