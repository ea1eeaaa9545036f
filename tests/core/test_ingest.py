"""Bulk ingest: inputs, validation report, reject vs skip, dedup for the online store, files."""
from __future__ import annotations


import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from store import Feature, IngestRejected, ValidationError
from tests.conftest import offline_files, read_as_is, t

pytestmark = pytest.mark.storage  # every test on `fs` runs on a local folder and on S3


def frame(n: int = 5) -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": np.arange(n), "event_time": [t(1 + i % 3, i % 24) for i in range(n)],
        "age": np.arange(n) + 20, "score": np.linspace(0, 1, n), "name": [f"n{i}" for i in range(n)],
    })


def test_ingest_dataframe_writes_both_stores(fs, customers):
    report = fs.ingest(customers, frame())
    assert (report.rows_total, report.rows_written, report.rows_rejected) == (5, 5, 0)
    assert fs.get_record(customers, 4)["age"] == 24
    assert len(fs.as_of(customers)) == 5
    files = offline_files(fs, customers, "data")
    assert len(files) == 3 and all("/year=2024/month=01/day=0" in f for f in files)
    assert not offline_files(fs, suffix=".tmp")
    df = read_as_is(fs, customers, "data").to_table().to_pandas()  # readable as-is by other engines
    assert {"write_time", "api_invocation_time", "is_deleted", "year", "month", "day"} <= set(df.columns)


def test_ingest_csv_keeps_text_and_parses_types(fs, tmp_path):
    fs.create_feature_group("codes", "code", "ts", [Feature("code", "String"), Feature("ts", "String"),
                                                     Feature("n", "Integral"), Feature("x", "Fractional")])
    path = tmp_path / "codes.csv"
    path.write_text("code,ts,n,x\n007,2024-01-01T00:00:00Z,3,1.5\n008,2024-01-01T00:00:00Z,,\n")
    fs.ingest("codes", str(path))
    assert fs.get_record("codes", "007") == {"code": "007", "ts": "2024-01-01T00:00:00Z", "n": 3, "x": 1.5}
    assert fs.get_record("codes", "008") == {"code": "008", "ts": "2024-01-01T00:00:00Z"}


def test_signed_integers_in_text_ingest_as_a_single_put_reads_them(fs):
    # Found by the verdict fuzzer: '+4' passed the integer check, then Arrow's cast refused the sign.
    fs.create_feature_group("signed", "id", "ts", [Feature("id"), Feature("ts"), Feature("n", "Integral")])
    frame = pd.DataFrame({"id": ["a", "b", "c"], "ts": ["2024-01-01T00:00:00Z"] * 3, "n": ["+4", " -7", "12"]})
    assert fs.ingest("signed", frame).rows_written == 3
    fs.put_record("signed", {"id": "d", "ts": "2024-01-01T00:00:00Z", "n": "+4"})
    assert [fs.get_record("signed", i)["n"] for i in "abcd"] == [4, -7, 12, 4]


def test_ingest_parquet_and_arrow(fs, customers, tmp_path):
    table = pa.Table.from_pandas(frame(3), preserve_index=False)
    pq.write_table(table, tmp_path / "f.parquet")
    fs.ingest(customers, str(tmp_path / "f.parquet"))
    fs.ingest(customers, table)
    assert len(fs.query("select * from customers")) == 6


def test_bad_rows_reject_the_whole_batch_with_a_report(fs, customers):
    df = frame(4).astype({"age": object})
    df.loc[1, "age"] = "1.5"
    df.loc[3, "event_time"] = "2024-01-01 00:00:00"
    with pytest.raises(IngestRejected) as err:
        fs.ingest(customers, df)
    errors = err.value.report.errors
    assert errors[["row", "feature"]].values.tolist() == [[1, "age"], [3, "event_time"]]
    assert "row 1" in str(err.value) and "age" in str(err.value)
    assert fs.get_record(customers, 0) is None and fs.describe(customers)["offline_rows"] == 0


def test_skip_writes_the_good_rows(fs, customers):
    df = frame(4).astype({"score": object})
    df.loc[2, "score"] = "abc"
    report = fs.ingest(customers, df, on_error="skip")
    assert (report.rows_written, report.rows_rejected) == (3, 1)
    assert report.errors.iloc[0].to_dict() == {"row": 2, "feature": "score", "value": "abc", "reason": "is not a number",
                                               "rule": "type"}
    assert fs.get_record(customers, 2) is None and fs.get_record(customers, 3) is not None


def test_validate_writes_nothing(fs, customers):
    df = frame(3).astype({"age": object})
    df.loc[0, "age"] = "x"
    report = fs.validate(customers, df)
    assert report.dry_run and report.rows_rejected == 1 and fs.describe(customers)["offline_rows"] == 0


@pytest.mark.parametrize("change,message", [
    (lambda df: df.assign(extra=1), "not features"),
    (lambda df: df.drop(columns="event_time"), "'event_time' is missing"),
    (lambda df: df.drop(columns="customer_id"), "'customer_id' is missing"),
    (lambda df: df.assign(write_time=1), "store adds itself"),
])
def test_column_problems_are_batch_errors(fs, customers, change, message):
    with pytest.raises(ValidationError, match=message):
        fs.ingest(customers, change(frame()))


def test_float_column_with_nulls_ingests_into_integral(fs, customers):
    df = frame(3)
    df["age"] = [1.0, None, 3.0]
    fs.ingest(customers, df)
    assert fs.get_record(customers, 0)["age"] == 1 and "age" not in fs.get_record(customers, 1)


def test_timestamp_event_time_column_converts(fs, customers):
    df = frame(2)
    df["event_time"] = pd.to_datetime(["2024-01-01T00:00:00", "2024-01-02T12:30:00.5"], format="ISO8601").tz_localize("UTC")
    fs.ingest(customers, df)
    assert fs.get_record(customers, 1)["event_time"] == "2024-01-02T12:30:00.500000Z"


def test_online_keeps_newest_row_per_id_within_a_batch(fs, customers):
    df = pd.DataFrame({"customer_id": [1, 1, 1, 2, 2], "event_time": [t(2), t(3), t(1), t(1), t(1)],
                       "age": [2, 3, 1, 10, 11]})
    report = fs.ingest(customers, df)
    assert report.records_online == 2
    assert fs.get_record(customers, 1)["age"] == 3
    assert fs.get_record(customers, 2)["age"] == 11  # tie: the later row wins
    assert fs.as_of(customers)["age"].tolist() == [3, 11]
    assert len(fs.history(customers, 1)) == 3


def test_ingest_respects_existing_newer_online_records(fs, customers):
    fs.put_record(customers, {"customer_id": 1, "event_time": t(9), "age": 9})
    fs.ingest(customers, pd.DataFrame({"customer_id": [1], "event_time": [t(2)], "age": [2]}))
    assert fs.get_record(customers, 1)["age"] == 9


def test_progress_reports_every_row(fs, customers):
    seen = []
    fs.ingest(customers, frame(50), progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (50, 50) and all(d <= 50 for d, _ in seen)


def test_unreadable_inputs(fs, customers, tmp_path):
    with pytest.raises(ValidationError, match="does not exist"):
        fs.ingest(customers, str(tmp_path / "missing.csv"))
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ValidationError, match="neither .csv nor .parquet"):
        fs.ingest(customers, str(tmp_path / "x.json"))
    (tmp_path / "broken.parquet").write_bytes(b"PAR1garbage")
    with pytest.raises(ValidationError, match="Cannot read"):
        fs.ingest(customers, str(tmp_path / "broken.parquet"))
    with pytest.raises(ValidationError, match="Cannot ingest a list"):
        fs.ingest(customers, [1, 2])


def test_single_puts_are_buffered_then_flushed(fs, customers):
    for i in range(10):
        fs.put_record(customers, {"customer_id": i, "event_time": t(1), "age": i})
    assert fs.describe(customers)["staged_rows"] == 10 and fs.describe(customers)["offline_files"] == 0
    assert len(fs.as_of(customers)) == 10  # visible at once
    assert fs.flush() == 10
    info = fs.describe(customers)
    assert info["staged_rows"] == 0 and info["offline_files"] == 1 and len(fs.as_of(customers)) == 10


def test_compact_merges_files_without_changing_answers(fs, customers):
    for day in (1, 1, 1, 2):
        fs.ingest(customers, pd.DataFrame({"customer_id": [day], "event_time": [t(day)], "age": [day]}))
    fs.delete_record(customers, 2, t(3))
    before = (fs.as_of(customers), fs.as_of(customers, event_time=t(2)), fs.history(customers, 1))
    result = fs.compact(customers)
    assert result["files_after"] < result["files_before"]
    after = (fs.as_of(customers), fs.as_of(customers, event_time=t(2)), fs.history(customers, 1))
    for b, a in zip(before, after):
        pd.testing.assert_frame_equal(b, a)


def test_columns_map_input_onto_features(fs, customers, tmp_path):
    path = tmp_path / "crm.csv"
    path.write_text("cid,when,years,note\n1,2024-01-01T00:00:00Z,33,x\n")
    report = fs.ingest(customers, str(path), columns={"cid": "customer_id", "when": "event_time", "years": "age", "note": None})
    assert report.rows_written == 1 and fs.get_record(customers, 1)["age"] == 33
    with pytest.raises(ValidationError, match="not in 'crm.csv'"):
        fs.validate(customers, str(path), columns={"nope": "age"})
    with pytest.raises(ValidationError, match="Several columns map to"):
        fs.validate(customers, str(path), columns={"cid": "customer_id", "years": "customer_id"})


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_csv_delimiter_is_detected(fs, customers, tmp_path, sep):
    path = tmp_path / "x.csv"
    path.write_text(sep.join(["customer_id", "event_time", "age"]) + "\n" + sep.join(["1", t(1), "5"]) + "\n",
                    encoding="utf-8-sig")
    fs.ingest(customers, str(path))
    assert fs.get_record(customers, 1)["age"] == 5
