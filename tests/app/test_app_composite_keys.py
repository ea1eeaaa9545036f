"""The studio on a group keyed by several columns: the record lookup and history take one input
per key column and carry the key in the URL (``record=["m1","7"]``), a shared link fills them,
the overview and schema name every key column, and the dataset builder asks for an entity column
per key column."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from studio_support import button, fs, ok, page, seeded_template, studio_store, texts  # noqa: F401

from store import Feature

TERMINALS = [Feature("merchant_id", "String"), Feature("terminal_id", "Integral"), Feature("ts", "String"),
             Feature("amount", "Fractional")]


@pytest.fixture
def terminals(fs):
    fs.create_feature_group("terminals", ["merchant_id", "terminal_id"], "ts", TERMINALS)
    fs.ingest("terminals", pd.DataFrame({
        "merchant_id": ["m1", "m1", "m1", "m2"], "terminal_id": [7, 7, 8, 7],
        "ts": ["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"],
        "amount": [10.5, 11.5, 20.0, 30.0]}))
    return fs


def test_lookup_takes_one_input_per_key_column_and_puts_the_key_in_the_url(terminals):
    at = page("group", group="terminals", tab="Online lookup")
    assert "Look up a record by its key: merchant_id, terminal_id" in texts(ok(at))
    at.text_input(key="record_terminals_merchant_id").set_value("m1").run()
    assert "record" not in at.query_params  # not a key until every column is given
    at.text_input(key="record_terminals_terminal_id").set_value("7").run()
    assert json.loads(at.query_params["record"]) == ["m1", "7"]
    shown = texts(ok(at))
    assert "**live**" in shown
    assert {r["feature"]: r["value"] for r in at.dataframe[0].value.to_dict("records")}["amount"] == "11.5"
    assert 'RecordIdentifierValueAsString=\'["m1","7"]\'' in at.code[0].value  # the same lookup over HTTP
    at.text_input(key="record_terminals_terminal_id").set_value("9").run()
    assert "No record with (merchant_id, terminal_id) = (m1, 9)" in at.warning[0].value
    at.text_input(key="record_terminals_terminal_id").set_value("nine").run()
    assert not at.exception and "terminal_id = 'nine' is not an integer" in at.error[0].value


def test_a_shared_link_opens_the_history_of_that_key(terminals):
    at = ok(page("group", group="terminals", tab="History", record='["m1","7"]'))
    assert at.text_input(key="record_terminals_merchant_id").value == "m1"
    assert at.text_input(key="record_terminals_terminal_id").value == "7"
    versions = at.dataframe[0].value
    assert versions["amount"].tolist() == [10.5, 11.5] and set(versions["terminal_id"]) == {7}


def test_deleting_a_record_by_its_whole_key(terminals):
    at = page("group", group="terminals", tab="Online lookup", record='["m1","8"]')
    ok(button(at, "Delete record").click().run())
    assert terminals.get_record("terminals", ("m1", 8)) is None
    assert terminals.get_record("terminals", ("m1", 7))["amount"] == 11.5
    assert "**deleted (tombstone)**" in texts(at)


def test_overview_schema_and_data_name_every_key_column(terminals):
    at = ok(page("group", group="terminals", tab="Overview"))
    assert "`merchant_id` (String), `terminal_id` (Integral)" in texts(at)
    roles = ok(page("group", group="terminals", tab="Schema")).dataframe[0].value.set_index("feature")["role"]
    assert roles["merchant_id"] == "record key 1 of 2" and roles["terminal_id"] == "record key 2 of 2"
    at = ok(page("group", group="terminals", tab="Data"))
    assert "ordered by merchant_id, terminal_id" in texts(at)
    assert at.dataframe[0].value[["merchant_id", "terminal_id"]].values.tolist() == [["m1", 7], ["m1", 8], ["m2", 7]]


def test_the_dataset_builder_asks_for_a_column_per_key_column(terminals):
    csv = "merchant,terminal_id,label_time\nm1,7,2026-01-01T12:00:00Z\nm1,7,2026-02-01T00:00:00Z\nm2,8,2026-02-01T00:00:00Z\n"
    at = page("dataset")
    at.file_uploader(key="entity_file").upload("entities.csv", csv.encode(), "text/csv").run()
    at.multiselect(key="dataset_groups").set_value(["terminals"]).run()
    assert at.selectbox(key="dataset_key_terminals_terminal_id").value == "terminal_id"  # named like it: guessed
    assert at.selectbox(key="dataset_key_terminals_merchant_id").value is None
    assert button(at, "Build dataset").disabled
    at.selectbox(key="dataset_key_terminals_merchant_id").set_value("merchant").run()
    at.selectbox(key="dataset_event_time").set_value("label_time").run()
    ok(button(at, "Build dataset").click().run())
    built = at.session_state["dataset"]
    assert built.definition["keys"] == {"terminals": ["merchant", "terminal_id"]}
    assert built.to_pandas()["amount"].tolist()[:2] == [10.5, 11.5]
    assert pd.isna(built.to_pandas()["amount"].iloc[2])
