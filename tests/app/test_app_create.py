"""Create page: the form, a schema inferred from an uploaded sample, and errors next to their field."""
from __future__ import annotations

import pytest
from studio_support import button, fs, ok, page, seeded_template, studio_store, texts  # noqa: F401

from app.ui.schema_editor import field_of
from store import Conflict, Feature, ValidationError, upload

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
    assert "must differ" in at.error[0].value and _error_column(at) == 3  # under Event time
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


DEVICES = (b"device_id,active,battery,seen_at\n"
           + b"".join(f"d{i},{'true' if i % 2 else 'false'},{i},2026-11-0{1 + i % 9} 10:00:00+02:00\n".encode()
                      for i in range(200)))


def test_a_boolean_sample_creates_a_group_that_ingests_it(fs):
    at = page("create")
    at.segmented_control(key="create_start").set_value("Sample file").run()
    at.file_uploader(key="create_sample").upload("devices.csv", DEVICES, "text/csv").run()
    assert not at.error  # nothing is wrong before the user has done anything
    event_time = next(s for s in at.selectbox if s.key.startswith("create_event_time_"))
    assert event_time.value == "seen_at"
    at.text_input(key="create_name").set_value("devices")
    ok(button(at, "Create feature group").click().run())
    assert fs.feature_group("devices").feature("active").type == "Integral"
    ok(button(at, "Ingest the sample file into devices").click().run())
    assert "wrote 200 of 200 rows" in at.success[-1].value and fs.get_record("devices", "d1")["active"] == 1


def test_renamed_columns_and_edited_names_still_ingest_the_file(fs):
    sample = "Order ID;Prénom;Montant (€);Horodatage\n1;Zoé;9,5;2026-11-01T10:00:00Z\n2;Hélène;3;2026-11-02T10:00:00Z\n"
    at = page("create")
    at.segmented_control(key="create_start").set_value("Sample file").run()
    at.file_uploader(key="create_sample").upload("commandes.csv", sample.encode("cp1252"), "text/csv").run()
    assert "`Order ID` → `Order_ID`" in at.info[0].value
    assert "(CSV, Windows-1252, semicolon-separated)" in at.expander[0].label
    key = next(d.key for d in at.data_editor if d.key.startswith("create_features_"))
    at.session_state[key] = editor_edits(edited={"1": {"name": "first_name"}})  # the user renames one feature
    at.text_input(key="create_name").set_value("orders")
    at.run()
    ok(button(at, "Create feature group").click().run())
    assert fs.feature_group("orders").feature_names == ["Order_ID", "first_name", "Montant", "Horodatage"]
    ok(button(at, "Ingest the sample file into orders").click().run())
    assert fs.get_record("orders", 1) == {"Order_ID": 1, "first_name": "Zoé", "Montant": 9.5,  # a decimal comma
                                          "Horodatage": "2026-11-01T10:00:00Z"}


def test_an_unreadable_sample_creates_nothing(fs):
    at = page("create")
    at.segmented_control(key="create_start").set_value("Sample file").run()
    at.file_uploader(key="create_sample").upload("broken.csv", b'a,b\n"unterminated,1\n', "text/csv").run()
    assert "Cannot read 'broken.csv'" in at.error[0].value and not [b for b in at.button if b.label.startswith("Create")]


def test_an_ingest_that_writes_nothing_is_an_error_and_offers_a_way_out(fs):
    at = page("create")
    at.segmented_control(key="create_start").set_value("Sample file").run()
    at.file_uploader(key="create_sample").upload("bad.csv", b"id,ts\n1,2026-11-01T00:00:00Z\n", "text/csv").run()
    at.text_input(key="create_name").set_value("bad")
    ok(button(at, "Create feature group").click().run())
    fs.delete_feature_group("bad")  # another user changes the group underneath: the file no longer fits
    fs.create_feature_group("bad", "id", "ts", [Feature("id", "Integral"), Feature("ts", "Fractional")])
    button(at, "Ingest the sample file into bad").click().run()
    assert "Nothing was written" in at.error[0].value and not at.success[1:]
    assert button(at, "Ingest the sample file into bad")  # still offered
    ok(button(at, "Delete bad and start over").click().run())
    assert "bad" not in {g.name for g in fs.list_feature_groups()}


def test_create_a_group_keyed_by_two_columns_from_a_sample(fs):
    at = page("create")
    at.text_input(key="create_name").set_value("lines")
    at.session_state["create_features_blank"] = editor_edits(
        added=[{"name": "line", "type": "Integral"}, {"name": "qty", "type": "Integral"}],
        edited={"0": {"name": "order_id", "type": "String"}})
    at.run()
    at.selectbox(key="create_identifier_blank").set_value("order_id")
    at.multiselect(key="create_more_keys_blank").set_value(["line"])
    ok(button(at, "Create feature group").click().run())
    group = fs.feature_group("lines")
    assert group.identifiers == ("order_id", "line")
    fs.put_record("lines", {"order_id": "o1", "line": 2, "event_time": "2026-01-01T00:00:00Z", "qty": 5})
    assert fs.get_record("lines", ("o1", 2))["qty"] == 5
