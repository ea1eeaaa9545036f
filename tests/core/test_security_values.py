"""Values, names and event times an attacker or a careless user sends (issue 19: D3, D4, D13, D15,
D16), each from the repro in the adversarial report: refused with a FeatureStoreError on every path,
never stored wrong."""
from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from store import Feature, FeatureStore, ValidationError
from store.errors import IngestRejected

RANGE = "outside the supported time range 1677-09-21T00:12:43.145225Z to 2262-04-11T23:47:16.854775Z"
FAR = ["0001-01-01T00:00:00Z", "1500-06-01T00:00:00Z", "2300-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]


@pytest.fixture
def g(tmp_path):
    fs = FeatureStore(tmp_path / "store")
    fs.create_feature_group("g", "id", "ts", [Feature("id"), Feature("ts"), Feature("v", "Integral")])
    fs.put_record("g", {"id": "k", "ts": "2026-01-01T00:00:00Z", "v": 1})
    yield fs
    fs.close()


# ----------------------------------------------------------------------------- D3: event times past 1677..2262


@pytest.mark.parametrize("kind", ["dataframe", "arrow", "csv", "parquet", "datetimes"])
def test_bulk_event_times_outside_the_range_are_refused_not_wrapped(g, tmp_path, kind):
    ids = ["k", "a", "b", "c"]
    text = pd.DataFrame({"id": ids, "ts": FAR, "v": [2, 3, 4, 5]})
    if kind == "dataframe":
        data = text
    elif kind == "arrow":
        data = pa.Table.from_pandas(text, preserve_index=False)
    elif kind == "datetimes":  # timestamps a nanosecond column cannot hold, at microsecond resolution
        data = pa.table({"id": ids, "ts": pa.array([dt.datetime(int(t[:4]), 1, 1) for t in FAR], pa.timestamp("us")),
                         "v": [2, 3, 4, 5]})
    elif kind == "csv":
        data = tmp_path / "far.csv"
        text.to_csv(data, index=False)
    else:
        data = tmp_path / "far.parquet"
        pq.write_table(pa.Table.from_pandas(text, preserve_index=False), data)
    with pytest.raises(IngestRejected) as info:
        g.ingest("g", data)
    assert RANGE in str(info.value)
    report = g.ingest("g", data, on_error="skip")
    assert report.rows_written == 0 and report.rows_rejected == 4
    assert set(report.errors["reason"]) == {RANGE.join(["is ", " (what a nanosecond timestamp holds)"])}
    if kind == "csv":
        assert report.errors["line"].tolist() == [2, 3, 4, 5]  # the line in the file
    assert g.get_record("g", "k")["v"] == 1  # the current record was not replaced by a wrapped older one
    assert g.query("SELECT count(*) AS n FROM g")["n"][0] == 1


def test_cli_ingest_refuses_far_event_times_with_their_line(g, tmp_path):
    path = tmp_path / "far.csv"
    path.write_text("id,ts,v\nz,2026-02-01T00:00:00Z,1\nk,9999-12-31T23:59:59Z,2\n")
    g.close()
    out = subprocess.run([sys.executable, "-m", "store.cli", "--store", str(tmp_path / "store"), "ingest", "g", str(path)],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "line 3" in out.stdout + out.stderr and "2262-04-11" in out.stdout + out.stderr
    assert FeatureStore(tmp_path / "store").get_record("g", "k")["v"] == 1


@pytest.mark.parametrize("ts", FAR + [dt.datetime(1500, 1, 1), pd.Timestamp("2300-01-01", tz="UTC"),
                                      np.datetime64("9999-01-01"), -62135596800.0])
def test_puts_refuse_the_same_event_times(g, ts):
    with pytest.raises(ValidationError, match="outside the supported time range"):
        g.put_record("g", {"id": "k", "ts": ts, "v": 9})
    assert g.get_record("g", "k")["v"] == 1


def test_other_instants_are_refused_too(g):
    with pytest.raises(ValidationError, match="outside the supported time range"):
        g.delete_record("g", "k", "9999-12-31T23:59:59Z")
    for arg in ("event_time", "known_at"):
        with pytest.raises(ValidationError, match=f"{arg}: .*outside the supported time range"):
            g.as_of("g", **{arg: "9999-12-31T00:00:00Z"})
    entity = pd.DataFrame({"id": ["k", "k"], "event_time": ["2026-06-01T00:00:00Z", "9999-01-01T00:00:00Z"]})
    with pytest.raises(ValidationError):
        g.build_dataset(entity, ["g"])
    assert g.get_record("g", "k")["v"] == 1


def test_the_range_edges_are_accepted(g):
    g.ingest("g", pd.DataFrame({"id": ["lo", "hi"], "ts": ["1677-09-22T00:00:00Z", "2262-04-10T00:00:00Z"], "v": [1, 2]}))
    g.put_record("g", {"id": "lo2", "ts": "1677-09-22T00:00:00Z", "v": 3})
    assert g.query("SELECT min(_event_time)::VARCHAR AS lo, max(_event_time)::VARCHAR AS hi FROM g").iloc[0].tolist() == [
        "1677-09-22 00:00:00+00", "2262-04-10 00:00:00+00"]


# ----------------------------------------------------------------------------- D4, D13, D16: names


@pytest.mark.parametrize("name", ["IS_DELETED", "Write_Time", "YEAR", "Api_Invocation_Time", "Hour"])
def test_reserved_names_are_reserved_in_any_letter_case(g, name):
    with pytest.raises(ValidationError, match="reserved in any letter case"):
        g.create_feature_group("r", "id", "ts", [Feature("id"), Feature("ts"), Feature(name, "Integral")])
    with pytest.raises(ValidationError, match="reserved"):
        g.add_features("g", [{"name": name, "type": "Integral"}])
    proposal = g.create_feature_group("r", "id", "ts", dataframe=pd.DataFrame(
        {"id": ["a"], "ts": ["2026-01-01T00:00:00Z"], name: [1]}))
    assert f"{name}_value" in proposal.feature_names  # inference renames it, as it does 'is_deleted'


def test_a_stored_case_variant_of_a_reserved_name_opens_and_says_how_to_rename(tmp_path):
    """A store from before the fix holding 'IS_DELETED' opens; reads that would be wrong say so."""
    path = tmp_path / "old"
    fs = FeatureStore(path)
    fs.create_feature_group("g", "id", "ts", [Feature("id"), Feature("ts"), Feature("flag", "Integral")])
    fs.put_record("g", {"id": "a", "ts": "2026-01-01T00:00:00Z", "flag": 1})
    fs.close()
    with sqlite3.connect(path / "featurestore.db") as con:  # what the old code let through
        con.execute("UPDATE features SET name = 'IS_DELETED' WHERE name = 'flag'")
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            if any(c[1] == "flag" for c in con.execute(f'PRAGMA table_info("{table}")')):
                con.execute(f'ALTER TABLE "{table}" RENAME COLUMN flag TO IS_DELETED')
    fs = FeatureStore(path)
    assert fs.feature_group("g").feature_names == ["id", "ts", "IS_DELETED"]
    assert "IS_DELETED_value" in fs.describe("g")["warnings"][0]
    with pytest.raises(ValidationError, match="'IS_DELETED'.*'is_deleted'.*columns=\\{'IS_DELETED': 'IS_DELETED_value'\\}"):
        fs.as_of("g")
    with pytest.raises(ValidationError, match="IS_DELETED"):
        fs.history("g", "a")
    with pytest.raises(ValidationError, match="IS_DELETED"):
        fs.build_dataset(pd.DataFrame({"id": ["a"], "event_time": ["2026-02-01T00:00:00Z"]}), ["g"])
    assert fs.get_record("g", "a")["IS_DELETED"] == 1  # the online store has no such clash
    fs.close()


@pytest.mark.parametrize("name", ["sales\n", "sales\r\n", "sa les", "sales\t"])
def test_names_ending_in_a_newline_are_refused(g, name):
    with pytest.raises(ValidationError, match="is invalid"):
        g.create_feature_group(name, "id", "ts", [Feature("id"), Feature("ts")])
    with pytest.raises(ValidationError, match="is invalid"):
        Feature(name)


def test_case_twins_are_a_validation_error(g):
    with pytest.raises(ValidationError, match="'age' and 'AGE'.*letter case"):
        g.create_feature_group("t", "id", "ts", [Feature("id"), Feature("ts"), Feature("age"), Feature("AGE")])
    with pytest.raises(ValidationError, match="letter case"):
        g.add_features("g", [Feature("V")])
    with pytest.raises(ValidationError, match="existing group 'g' only in letter case"):
        g.create_feature_group("G", "id", "ts", [Feature("id"), Feature("ts")])
    assert [x.name for x in g.list_feature_groups()] == ["g"]


# ----------------------------------------------------------------------------- D15: one verdict for put and ingest


@pytest.fixture
def typed(tmp_path):
    fs = FeatureStore(tmp_path / "typed")
    fs.create_feature_group("n", "id", "ts", [Feature("id", "Integral"), Feature("ts"), Feature("i", "Integral"),
                                              Feature("f", "Fractional"), Feature("l", "String", "List")])
    fs.put_record("n", {"id": 1, "ts": "2026-01-01T00:00:00Z", "i": 5})
    yield fs
    fs.close()


@pytest.mark.parametrize("values", [{"i": "١٢٣"}, {"i": "１２３"}, {"f": "١.٥"}, {"id": "١"}, {"i": "12\n3"},
                                    {"l": ["a", 1]}, {"l": '["a", 1]'}, {"l": [True, "a"]}, {"l": '[["a"]]'},
                                    {"l": "[1.50, 1e16]"}])
def test_put_and_ingest_refuse_the_same_values(typed, values):
    record = {"id": 1, "ts": "2026-01-02T00:00:00Z", **values}
    with pytest.raises(ValidationError):
        typed.put_record("n", record)
    report = typed.ingest("n", pd.DataFrame({k: pd.Series([v], dtype=object) for k, v in record.items()}),
                          on_error="skip")
    assert report.rows_rejected == 1
    assert typed.get_record("n", 1)["i"] == 5  # record 1 untouched


@pytest.mark.parametrize("value, stored", [('["a\\"b", "\\u00e9"]', ['a"b', "é"]), ('["x", "y"]', ["x", "y"]),
                                           ('["1.50", "1e16"]', ["1.50", "1e16"]), ([1, 2], ["1", "2"])])
def test_json_lists_read_the_same_from_a_put_and_a_file(typed, tmp_path, value, stored):
    typed.put_record("n", {"id": 2, "ts": "2026-01-02T00:00:00Z", "l": value})
    assert typed.get_record("n", 2)["l"] == stored
    if isinstance(value, str):
        path = tmp_path / "l.csv"
        pd.DataFrame({"id": [3], "ts": ["2026-01-02T00:00:00Z"], "l": [value]}).to_csv(path, index=False)
        typed.ingest("n", path)
        assert typed.get_record("n", 3)["l"] == stored


# ----------------------------------------------------------------------------- D16: raw exceptions


def test_a_huge_ttl_is_refused_when_set(g):
    for ttl in (1e13, 1e300, dt.timedelta(days=10**6)):
        with pytest.raises(ValidationError, match="ttl .* is too long: give at most 3,155,760,000 seconds"):
            g.create_feature_group("t", "id", "ts", [Feature("id"), Feature("ts")], ttl=ttl)
        with pytest.raises(ValidationError, match="too long"):
            g.update_feature_group("g", ttl=ttl)
        with pytest.raises(ValidationError, match="too long"):
            g.put_record("g", {"id": "k", "ts": "2026-02-01T00:00:00Z"}, ttl=ttl)
    with pytest.raises(ValidationError, match="offline_retention .* too long"):
        g.update_feature_group("g", offline_retention=10**9)
    g.put_record("g", {"id": "k", "ts": "2026-02-01T00:00:00Z", "v": 2})


def test_a_stored_huge_ttl_gives_a_clear_error_on_put(g, tmp_path):
    g.close()
    with sqlite3.connect(tmp_path / "store" / "featurestore.db") as con:  # what the old code let through
        con.execute("UPDATE feature_groups SET ttl_seconds = 1e13 WHERE name = 'g'")
    fs = FeatureStore(tmp_path / "store")
    with pytest.raises(ValidationError, match="update_feature_group\\(ttl=...\\)"):
        fs.put_record("g", {"id": "k", "ts": "2026-02-01T00:00:00Z"})
    fs.update_feature_group("g", ttl=3600)
    fs.put_record("g", {"id": "k", "ts": "2026-02-01T00:00:00Z", "v": 2})
    assert fs.get_record("g", "k") is None or fs.get_record("g", "k")["v"] == 2
    fs.close()


@pytest.mark.parametrize("values", [{"id": "\ud800"}, {"v": "\ud800"}, {"l": ["ok", "\udfff"]}, {"l": '["\\ud800"]'}])
def test_lone_surrogates_are_a_validation_error(tmp_path, values):
    fs = FeatureStore(tmp_path / "s")
    fs.create_feature_group("s", "id", "ts", [Feature("id"), Feature("ts"), Feature("v"), Feature("l", "String", "List")])
    record = {"id": "a", "ts": "2026-01-01T00:00:00Z", **values}
    with pytest.raises(ValidationError, match="not Unicode text|not a JSON list"):
        fs.put_record("s", record)
    frame = pd.DataFrame({k: pd.Series([v], dtype=object) for k, v in record.items()})
    try:
        report = fs.ingest("s", frame, on_error="skip")
    except ValidationError as exc:
        assert "not Unicode text" in str(exc)
    else:
        assert report.rows_rejected == 1
    assert len(fs.quarantine("s")) >= 1  # the refused put is kept, escaped
    fs.close()


def test_lists_nested_thousands_deep_are_a_validation_error(typed):
    deep: list = []
    for _ in range(2000):
        deep = [deep]
    for value in (deep, "[" * 100_000 + "]" * 100_000):
        with pytest.raises(ValidationError):
            typed.put_record("n", {"id": 1, "ts": "2026-01-02T00:00:00Z", "l": value})
        report = typed.ingest("n", pd.DataFrame({"id": [1], "ts": ["2026-01-02T00:00:00Z"], "l": [value]}),
                              on_error="skip")
        assert report.rows_rejected == 1 and len(report.summary()) < 2000


def test_http_create_feature_group_refuses_case_variants_and_twins(server):
    from botocore.exceptions import ClientError

    sm = server.client("sagemaker")
    base = [{"FeatureName": "id", "FeatureType": "String"}, {"FeatureName": "ts", "FeatureType": "String"}]
    for extra in ([{"FeatureName": "IS_DELETED", "FeatureType": "Integral"}],
                  [{"FeatureName": "age", "FeatureType": "Integral"}, {"FeatureName": "AGE", "FeatureType": "Integral"}]):
        with pytest.raises(ClientError) as info:
            sm.create_feature_group(FeatureGroupName="reserved", RecordIdentifierFeatureName="id",
                                    EventTimeFeatureName="ts", FeatureDefinitions=base + extra,
                                    OnlineStoreConfig={"EnableOnlineStore": True})
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert "letter case" in info.value.response["Error"]["Message"]
    names = [g["FeatureGroupName"] for g in sm.list_feature_groups()["FeatureGroupSummaries"]]
    assert "reserved" not in names


def test_a_lone_surrogate_in_a_definitions_text_is_refused_by_name(tmp_path):
    # D16: descriptions, tags and feature parameters are stored as UTF-8 too; a raw UnicodeEncodeError
    # (or a tag accepted and then unreadable over HTTP) is refused up front, naming where it is.
    fs = FeatureStore(str(tmp_path))
    base = [Feature("id"), Feature("ts")]
    for kwargs, where in (({"description": "\ud800"}, "Description of 'g'"),
                          ({"tags": {"k": "\ud800"}}, "'k' in the tags"),
                          ({"tags": {"\ud800": "v"}}, "A key of the tags")):
        with pytest.raises(ValidationError, match=where):
            fs.create_feature_group("g", "id", "ts", base, **kwargs)
    with pytest.raises(ValidationError, match="Description of feature 'x'"):
        Feature("x", description="\udc00")
    fs.create_feature_group("g", "id", "ts", base, description="plain", tags={"k": "v"})
    with pytest.raises(ValidationError, match="Description of 'g'"):
        fs.update_feature_group("g", description="\udc00")
    with pytest.raises(ValidationError, match="'a' in the tags"):
        fs.update_feature_group("g", add_tags={"a": "\udc00"})
    with pytest.raises(ValidationError, match="Description of feature 'ts'"):
        fs.update_feature_metadata("g", "ts", description="\udc00")
    group = fs.feature_group("g")
    assert group.description == "plain" and group.tags == {"k": "v"}
