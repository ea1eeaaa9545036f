"""Ingest page and store/upload.py: preview, column mapping, validation, writing, lineage."""
from __future__ import annotations

import io
import os

import pandas as pd
import pytest
from studio_support import button, fs, ok, page, seeded_template, studio_store, texts  # noqa: F401

from store import Feature, ValidationError, upload

# After the demo's last event whatever day the tests run (its timeline ends just before now), so
# the rows written here become the online records the tests read back.
NOW = pd.Timestamp.now(tz="UTC").floor("s")


def at_hour(hours: int) -> str:
    return (NOW + pd.Timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


GOOD = f"M0001,{at_hour(0)},0.5\nM0002,{at_hour(1)},0.25\n"
BAD_ROW = "M0003,yesterday,0.75\n"  # event time is not ISO-8601


def csv(header: str, rows: str) -> bytes:
    return (header + "\n" + rows).encode()



def uploaded(name: str, content: bytes, **query: str):
    at = page("ingest", group="merchants", **query)
    at.file_uploader(key="ingest_file").upload(name, content, "text/csv").run()
    return at


def test_without_a_file_the_page_says_what_to_do(studio_store):
    at = ok(page("ingest", group="merchants"))
    assert "Upload a file to preview it" in texts(at) and "`merchant_id` String" in texts(at)


def test_validate_lists_the_bad_row_then_skip_writes_the_rest(fs):
    before = fs.describe("merchants")["offline_rows"]
    at = uploaded("rescore.csv", csv("merchant_id,event_time,risk_score", GOOD + BAD_ROW))
    assert len(ok(at).dataframe[0].value) == 3  # the preview
    button(at, "Validate").click().run()
    assert not at.exception and "1 of 3 rows are invalid" in at.error[0].value
    errors = at.dataframe[-1].value
    assert errors.to_dict("records") == [{"line": 4, "feature": "event_time", "value": "yesterday",
                                          "reason": errors["reason"][0], "rule": "type"}]  # the header is line 1
    assert "2024-05-01T12:00:00Z" in errors["reason"][0] and at.get("download_button")
    at.radio(key="ingest_on_error").set_value("skip")
    ok(button(at, "Ingest").click().run())
    assert "wrote 2 of 3 rows, rejected 1" in texts(at) and fs.describe("merchants")["offline_rows"] == before + 2
    assert {m.label: m.value for m in at.metric}["Rows rejected"] == "1"
    sources = [n for n in fs.lineage("feature_group:merchants", 1).nodes if n["kind"] == "source"]
    assert "rescore.csv" in {n["name"] for n in sources}  # the upload, under its own name


def test_reject_mode_writes_nothing_and_shows_the_rows(fs):
    before = fs.describe("merchants")["offline_rows"]
    at = uploaded("bad.csv", csv("merchant_id,event_time,risk_score", GOOD + BAD_ROW))
    button(at, "Ingest").click().run()
    assert not at.exception and "Nothing was written to 'merchants'" in at.error[0].value
    assert at.dataframe[-1].value["line"].tolist() == [4]
    assert fs.describe("merchants")["offline_rows"] == before


def test_columns_are_mapped_onto_features(fs):
    at = uploaded("vendor.csv", csv("vendor,ts,risk,notes", f"M0042,{at_hour(2)},0.9,ok\n"))
    assert "No column is mapped to `merchant_id` and `event_time`" in at.warning[0].value
    at.session_state[next(d.key for d in at.data_editor)] = {
        "edited_rows": {"0": {"feature": "merchant_id"}, "1": {"feature": "event_time"}, "2": {"feature": "risk_score"}},
        "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.warning
    ok(button(at, "Validate").click().run())
    assert "All 1 rows are valid" in at.success[0].value
    ok(button(at, "Ingest").click().run())
    assert fs.get_record("merchants", "M0042")["risk_score"] == 0.9
    assert "vendor.csv" in {n["name"] for n in fs.lineage("feature_group:merchants", 1).nodes}


def test_parquet_uploads_are_previewed_and_ingested(fs):
    buffer = io.BytesIO()
    pd.DataFrame({"merchant_id": ["M0100"], "event_time": [at_hour(3)], "category": ["travel"]}) \
        .to_parquet(buffer, index=False)
    at = page("ingest", group="merchants")
    at.file_uploader(key="ingest_file").upload("new.parquet", buffer.getvalue(), "application/octet-stream").run()
    ok(button(at, "Ingest").click().run())
    assert fs.get_record("merchants", "M0100")["category"] == "travel"


def test_an_unreadable_file_is_reported_not_raised(studio_store):
    at = uploaded("broken.csv", b"merchant_id,event_time\n\"unterminated,2026\n")
    assert not at.exception and "Cannot read 'broken.csv'" in at.error[0].value


def test_mapping_keeps_the_file_name_and_refuses_two_columns_for_one_feature(fs, tmp_path):
    path = tmp_path / "in.csv"
    path.write_text(f"a,b,c\nM0001,{at_hour(0)},007\n")
    report = upload.validate_file(fs, "merchants", str(path), {"a": "merchant_id", "b": "event_time", "c": "name"})
    assert report.ok and report.rows_total == 1
    written = upload.ingest_file(fs, "merchants", str(path), {"a": "merchant_id", "b": "event_time", "c": "name"})
    assert written.source == "in.csv" and fs.get_record("merchants", "M0001")["name"] == "007"  # text stays text
    with pytest.raises(ValidationError, match="map each feature from one column"):
        upload.validate_file(fs, "merchants", str(path), {"a": "merchant_id", "b": "event_time", "c": "merchant_id"})
    with pytest.raises(ValidationError, match="not in 'in.csv'"):
        upload.validate_file(fs, "merchants", str(path), {"a": "merchant_id", "zz": "name"})


def test_peek_reads_the_head_as_text(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("id,x\n" + "".join(f"{i:03d},{i}\n" for i in range(1000)))
    head = upload.peek(str(path), rows=5)
    assert head["id"].tolist() == ["000", "001", "002", "003", "004"]


def test_results_say_truthfully_what_was_written(fs):
    at = uploaded("all_bad.csv", csv("merchant_id,event_time,risk_score", BAD_ROW + "M0004,later,0.1\n"))
    at.radio(key="ingest_on_error").set_value("skip")
    button(at, "Ingest").click().run()
    assert "Nothing was written" in at.error[0].value and not at.success
    at = uploaded("some_bad.csv", csv("merchant_id,event_time,risk_score", GOOD + BAD_ROW))
    at.radio(key="ingest_on_error").set_value("skip")
    ok(button(at, "Ingest").click().run())
    assert "wrote 2 of 3 rows, rejected 1" in at.warning[-1].value and not at.success
    report = at.session_state["ingested"][1]
    rows = report.rejected_rows()
    assert rows.to_dict("records") == [{"line": 4, "merchant_id": "M0003", "event_time": "yesterday",
                                        "risk_score": "0.75", "error": rows["error"][0]}]


def test_columns_with_invalid_names_map_onto_their_sanitised_features(fs):
    fs.create_feature_group("orders", "Order_ID", "event_time", [Feature("Order_ID", "Integral"),
                                                                 Feature("event_time", "String"),
                                                                 Feature("Montant", "Fractional")])
    at = page("ingest", group="orders")
    at.file_uploader(key="ingest_file").upload("o.csv", "Order ID,event_time,Montant (€)\n1,2026-11-01T00:00:00Z,2.5\n"
                                               .encode(), "text/csv").run()
    mapping = ok(at).data_editor[0].value
    assert mapping["feature"].tolist() == ["Order_ID", "event_time", "Montant"]
    ok(button(at, "Ingest").click().run())
    assert fs.get_record("orders", 1)["Montant"] == 2.5


def test_upload_folders_go_when_the_session_goes(tmp_path, monkeypatch):
    import gc
    import tempfile
    import time

    from app.ui import files

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    root = tmp_path / "featurestore-uploads"
    root.mkdir()
    crashed = root / "old"
    crashed.mkdir()
    os.utime(crashed, (time.time() - files.STALE_SECONDS - 60,) * 2)
    session = files._SessionFolder()
    assert not crashed.exists() and os.path.isdir(session.path)  # a crashed studio's uploads are cleared
    folder = session.path
    del session
    gc.collect()
    assert not os.path.exists(folder)
