"""Create page: the form, a schema inferred from an uploaded sample, and errors next to their field."""
from __future__ import annotations

import pytest
from studio_support import button, fs, ok, page, seeded_template, studio_store, texts  # noqa: F401

from app.schema_editor import field_of
from store import Conflict, ValidationError, upload

SAMPLE = (b"order_id,customer_id,amount,channel,created_at\n"
          b"1,42,9.5,web,2024-05-01T10:00:00Z\n2,43,12.25,app,2024-05-01T11:00:00Z\n3,42,1.0,web,2024-05-02T09:30:00Z\n")



def editor_edits(added=(), edited=None) -> dict:
    return {"edited_rows": edited or {}, "added_rows": list(added), "deleted_rows": []}


def test_create_from_the_blank_form(fs):
    at = page("create")
    at.text_input(key="create_name").set_value("scores")
    at.text_input(key="create_description").set_value("Model scores per customer")
    at.session_state["create_features_blank"] = editor_edits(
        added=[{"name": "score", "type": "Fractional", "description": "0-1"}], edited={"0": {"name": "customer_id"}})
    at.session_state["create_tags"] = editor_edits(added=[{"key": "team", "value": "ml"}])
    at.run()
    at.selectbox(key="create_identifier_blank").set_value("customer_id")
    at.checkbox(key="create_offline").uncheck()
    at.number_input(key="create_ttl").set_value(2.0)
    at.selectbox(key="create_ttl_unit").set_value("hours")
    ok(button(at, "Create feature group").click().run())
    group = fs.feature_group("scores")
    assert group.feature_names == ["customer_id", "event_time", "score"] and group.feature("score").description == "0-1"
    assert group.tags == {"team": "ml"} and not group.offline and group.ttl_seconds == 7200
    assert "**scores** is ready" in texts(at) and [t.value for t in at.toast] == ["Created feature group scores"]
    ok(button(at, "Open the group").click().run())
    assert at.title[0].value == "scores"


def _error_column(at) -> int:
    """Index of the column block holding the (only) error."""
    return next(i for i, col in enumerate(at.columns) if col.error)


def test_errors_appear_next_to_their_field(studio_store):
    at = page("create")
    at.text_input(key="create_name").set_value("bad name!")
    button(at, "Create feature group").click().run()
    assert "name 'bad name!' is invalid" in at.error[0].value and _error_column(at) == 0  # under Name
    at.text_input(key="create_name").set_value("customers")
    button(at, "Create feature group").click().run()
    assert "already exists" in at.error[0].value and _error_column(at) == 0
    at.text_input(key="create_name").set_value("fresh")
    at.selectbox(key="create_event_time_blank").set_value("id").run()
    button(at, "Create feature group").click().run()
    assert "must be String" in at.error[0].value and _error_column(at) == 3  # under Event time
    assert not at.exception


@pytest.mark.parametrize("message,field", [
    ("Feature group name 'x y' is invalid: use 1-64 letters", "name"),
    ("Feature group 'x' already exists; pick another name", "name"),
    ("Record identifier 'id' is not a feature of 'x'; add it to features", "record_identifier"),
    ("Event time feature 'ts' of 'x' must be String (ISO-8601 ending in Z)", "event_time"),
    ("Feature group 'x': record identifier and event time must differ", "event_time"),
    ("Feature group 'x': a TTL applies to the online store; enable it or drop ttl", "ttl"),
    ("Feature group 'x' needs an online or an offline store (or both)", "stores"),
    ("tags of feature group 'x' must map non-empty strings to strings", "tags"),
    ("Feature name 'write_time' is reserved", "features"),
    ("Something else entirely", "form"),
])
def test_store_messages_land_on_the_right_field(message, field):
    error = Conflict(message) if "exists" in message else ValidationError(message)
    assert field_of(error) == field


def test_create_from_an_uploaded_sample_and_ingest_it(fs):
    at = page("create")
    at.segmented_control(key="create_start").set_value("Sample file").run()
    assert "Upload a sample file" in texts(at)
    at.file_uploader(key="create_sample").upload("orders.csv", SAMPLE, "text/csv").run()
    ident = next(s for s in at.selectbox if s.key.startswith("create_identifier_"))
    event_time = next(s for s in at.selectbox if s.key.startswith("create_event_time_"))
    assert ident.value == "order_id" and event_time.value == "created_at"  # guessed from the names
    at.text_input(key="create_name").set_value("orders")
    ok(button(at, "Create feature group").click().run())
    group = fs.feature_group("orders")
    assert [(f.name, f.type) for f in group.features] == [
        ("order_id", "Integral"), ("customer_id", "Integral"), ("amount", "Fractional"), ("channel", "String"),
        ("created_at", "String")]
    ok(button(at, "Ingest the sample file into orders").click().run())
    assert "wrote 3 of 3 rows" in texts(at) and fs.describe("orders")["offline_rows"] == 3
    assert any(n["name"] == "orders.csv" for n in fs.lineage("feature_group:orders", 1).nodes)
    assert not [b for b in at.button if b.label.startswith("Ingest the sample")]  # only once


def test_propose_reads_only_the_head_and_guesses_roles(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("Id,value,ts\n" + "".join(f"{i},{i / 2},{1700000000 + i}\n" for i in range(50_000)))
    proposal = upload.propose(str(path), sample_rows=100)
    assert proposal.record_identifier == "Id" and proposal.event_time == "ts"
    assert [f["type"] for f in proposal.features] == ["Integral", "Fractional", "Fractional"]
    with pytest.raises(ValidationError, match="empty"):
        (tmp_path / "empty.csv").write_text("")
        upload.propose(str(tmp_path / "empty.csv"))
