"""Ingest of files as other tools write them: encodings, times with offsets, booleans, rejected
rows with their file lines, progress on the caller's thread, and a failed write leaving nothing."""
from __future__ import annotations

import glob
import os
import threading

import pandas as pd
import pytest
from datafiles import transactions, write_csv

from store import Feature, IngestRejected, ValidationError
from store.demo import GROUPS
from tests.conftest import t

pytestmark = pytest.mark.registry  # every test on `fs` runs with the store's tables in SQLite and in PostgreSQL

TRANSACTIONS = next(g for g in GROUPS if g.name == "transactions")


@pytest.fixture
def txns(fs):
    fs.create_feature_group("transactions", "transaction_id", "event_time", TRANSACTIONS.features, partition_by="hour")
    return "transactions"


def test_progress_is_reported_on_the_callers_thread_across_many_partitions(fs, txns, tmp_path):
    path = write_csv(transactions(5000, days=30), tmp_path / "month.csv")
    threads, seen = set(), []

    def progress(done: int, total: int) -> None:
        threads.add(threading.get_ident())
        seen.append(done)

    report = fs.ingest(txns, path, progress=progress)
    assert report.rows_written == 5000 and report.files_written == 720  # one file per event-time hour
    assert threads == {threading.get_ident()} and seen == sorted(seen) and seen[-1] == 5000


def test_a_write_that_fails_midway_leaves_no_files_and_no_empty_folders(fs, txns, tmp_path):
    path = write_csv(transactions(3000, days=10), tmp_path / "x.csv")

    def fail(done: int, total: int) -> None:
        if done > 1000:
            raise KeyboardInterrupt  # what a user's Stop or Ctrl-C looks like to the engine

    with pytest.raises(KeyboardInterrupt):
        fs.ingest(txns, path, progress=fail)
    data = os.path.join(fs.path, "offline", txns, "data")
    assert not glob.glob(os.path.join(data, "**", "*.parquet"), recursive=True)
    assert not [d for d, _, files in os.walk(data) if d != data]  # no partition folder left behind
    assert fs.describe(txns)["offline_rows"] == 0 and fs.get_record(txns, "X0000000") is None
    assert fs.ingest(txns, path).rows_written == 3000  # and the next ingest is whole


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"])
def test_csv_encodings_are_detected(fs, customers, tmp_path, encoding):
    names = ["Zoë", "Ångström", "Ñandú", "€uro" if encoding != "latin-1" else "Æble"]
    frame = pd.DataFrame({"customer_id": range(4), "event_time": [t(1)] * 4, "name": names})
    path = write_csv(frame, tmp_path / "x.csv", encoding=encoding)
    assert fs.ingest(customers, path).rows_written == 4
    assert [fs.get_record(customers, i)["name"] for i in range(4)] == names


def test_a_late_bad_byte_is_still_decoded(fs, customers, tmp_path):
    lines = [f"{i},{t(1)},plain" for i in range(20_000)] + [f"20000,{t(1)},café"]
    path = tmp_path / "late.csv"
    path.write_bytes(("customer_id,event_time,name\n" + "\n".join(lines) + "\n").encode("cp1252"))
    assert fs.ingest(customers, str(path)).rows_written == 20_001
    assert fs.get_record(customers, 20_000)["name"] == "café"


def test_files_may_write_times_with_offsets_spaces_or_no_zone(fs, customers, tmp_path):
    path = tmp_path / "times.csv"
    path.write_text("customer_id,event_time\n1,2024-01-01 02:00:00+02:00\n2,2024-01-01T00:00:00.5-01:00\n"
                    "3,2024-01-01 00:00:00\n4,2024-01-01\n5,2024-01-01T00:00:00Z\n6,2024-01-01 00:00:00 UTC\n")
    assert fs.ingest(customers, str(path)).rows_written == 6
    stored = {i: fs.get_record(customers, i)["event_time"] for i in range(1, 7)}
    assert stored == {1: "2024-01-01T00:00:00Z", 2: "2024-01-01T01:00:00.500000Z", 3: "2024-01-01T00:00:00Z",
                      4: "2024-01-01T00:00:00Z", 5: "2024-01-01T00:00:00Z", 6: "2024-01-01T00:00:00Z"}
    # Values passed in code keep SageMaker's strict form.
    with pytest.raises(IngestRejected):
        fs.ingest(customers, pd.DataFrame({"customer_id": [7], "event_time": ["2024-01-01 00:00:00+00:00"]}))
    with pytest.raises(ValidationError, match="ISO-8601"):
        fs.put_record(customers, {"customer_id": 7, "event_time": "2024-01-01 00:00:00"})


def test_boolean_words_are_integral_one_and_zero_on_every_path(fs, tmp_path):
    fs.create_feature_group("flags", "id", "ts", [Feature("id", "Integral"), Feature("ts", "String"),
                                                  Feature("on", "Integral")])
    path = tmp_path / "flags.csv"
    path.write_text(f"id,ts,on\n1,{t(1)},true\n2,{t(1)},FALSE\n3,{t(1)}, Yes \n4,{t(1)},no\n5,{t(1)},1\n")
    assert fs.ingest("flags", str(path)).rows_written == 5
    assert [fs.get_record("flags", i)["on"] for i in range(1, 6)] == [1, 0, 1, 0, 1]
    fs.put_record("flags", {"id": 6, "ts": t(1), "on": "true"})
    fs.ingest("flags", pd.DataFrame({"id": [7], "ts": [t(1)], "on": [True]}))
    assert fs.get_record("flags", 6)["on"] == 1 and fs.get_record("flags", 7)["on"] == 1
    with pytest.raises(IngestRejected, match="not an integer"):
        fs.ingest("flags", pd.DataFrame({"id": [8], "ts": [t(1)], "on": ["maybe"]}))


def test_rejected_rows_come_back_as_read_with_their_file_lines(fs, customers, tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text('customer_id,event_time,name,age\n'
                    f'1,{t(1)},"two\nlines",30\n'      # line 2 (and 3: a quoted line break)
                    f'2,yesterday,bad time,31\n'       # line 4
                    f'3,{t(1)},ok,x\n'                 # line 5
                    f'x,{t(1)},"both, bad",1.5\n')     # line 6
    report = fs.ingest(customers, str(path), on_error="skip")
    assert (report.rows_written, report.rows_rejected) == (1, 3)
    assert report.errors[["line", "feature"]].values.tolist() == [
        [4, "event_time"], [5, "age"], [6, "age"], [6, "customer_id"]]
    rows = report.rejected_rows()
    assert rows.columns.tolist() == ["line", "customer_id", "event_time", "name", "age", "error"]
    assert rows["line"].tolist() == [4, 5, 6] and rows["name"].tolist() == ["bad time", "ok", "both, bad"]
    assert rows["age"].tolist() == ["31", "x", "1.5"]  # as written in the file
    assert "customer_id is not an integer" in rows["error"][2] and "age" in rows["error"][2]
    assert "line 4, event_time = 'yesterday'" in report.summary()
    with pytest.raises(IngestRejected, match="First: line 4"):
        fs.ingest(customers, str(path))


def test_rejected_rows_of_a_dataframe_are_numbered_from_zero(fs, customers):
    df = pd.DataFrame({"customer_id": [1, 2], "event_time": [t(1), "no"], "age": [1, 2]})
    report = fs.validate(customers, df)
    assert "line" not in report.errors.columns
    assert report.rejected_rows()[["row", "error"]].values.tolist() == [
        [1, "event_time is not ISO-8601 UTC: write it like 2024-05-01T12:00:00Z ('T', no offset, ending in Z)"]]


@pytest.mark.parametrize("unit", [1, 1_000, 1_000_000, 1_000_000_000])
def test_a_file_of_epoch_milli_micro_or_nanoseconds_is_read_as_such(fs, tmp_path, unit):
    """Other tools export times as epoch seconds or (Java, JavaScript, Kafka) milliseconds, or finer:
    a whole column out of range as seconds is read in the unit that fits, for either event-time type."""
    import numpy as np

    seconds = 1_727_740_800 + np.arange(2_000) * 37  # 2024-10-01 onward, 20 hours
    times = [str(int(s * unit)) for s in seconds]
    fs.create_feature_group("as_text", "id", "ts", [Feature("id", "Integral"), Feature("ts", "String")])
    fs.create_feature_group("as_number", "id", "ts", [Feature("id", "Integral"), Feature("ts", "Fractional")])
    path = tmp_path / "export.csv"
    path.write_text("id,ts\n" + "".join(f"{i},{v}\n" for i, v in enumerate(times)))
    for group in ("as_text", "as_number"):
        assert fs.ingest(group, str(path)).rows_written == 2_000
    assert fs.get_record("as_text", 1)["ts"] == "2024-10-01T00:00:37Z"
    assert fs.get_record("as_number", 1999)["ts"] == float(seconds[-1])


def test_epoch_milliseconds_in_code_are_refused_with_the_fix(fs):
    """Records and DataFrames keep SageMaker's form (epoch seconds); the error says what to do."""
    fs.create_feature_group("g", "id", "ts", [Feature("id", "Integral"), Feature("ts", "Fractional")])
    with pytest.raises(IngestRejected, match="epoch milliseconds\\? event times are epoch seconds: divide by 1,000"):
        fs.ingest("g", pd.DataFrame({"id": [1], "ts": [1_727_740_800_000]}))


def test_a_semicolon_file_with_decimal_commas_is_read_as_numbers(fs, tmp_path):
    """What Excel writes in much of Europe: ';' between fields, ',' before decimals, '.' between
    thousands, Windows-1252. The proposal and the ingest both see numbers; codes stay text."""
    from store.ingest import infer as inference

    path = tmp_path / "export.csv"
    lines = ["id;when;price;qty;code;name"] + [
        f"{i};2024-10-{1 + i % 28:02d} 10:00:00;{i},5{i % 10};{i % 7};0{i % 10}0;Müller {i}" for i in range(500)]
    lines[5] = "4;2024-10-05 10:00:00;1.234,75;3;040;café"
    path.write_bytes("\n".join(lines).encode("cp1252"))
    proposal = inference.propose_file(str(path))
    kinds = {f["name"]: f["type"] for f in proposal.features}
    assert kinds == {"id": "Integral", "when": "String", "price": "Fractional", "qty": "Integral", "code": "String",
                     "name": "String"}
    fs.create_feature_group("eu", proposal.record_identifier, proposal.event_time,
                            [Feature(**f) for f in proposal.features])
    assert fs.ingest("eu", str(path)).rows_written == 500
    assert fs.get_record("eu", 4) == {"id": 4, "when": "2024-10-05T10:00:00Z", "price": 1234.75, "qty": 3,
                                      "code": "040", "name": "café"}
    assert fs.get_record("eu", 12)["price"] == 12.52
