"""Fuzz (hypothesis): one record value, identifier or event time sent through a put, an ingest of
every kind (DataFrame, Arrow table, CSV file, Parquet file) and HTTP PutRecord gets ONE verdict:
every path stores the same value, or every path refuses it, and nothing raises outside the
FeatureStoreError tree (issue 19). Text is what a CSV file and the wire carry, so each value is
sent as text; a typed put of the same value must agree as well where the types say the same."""
from __future__ import annotations

import itertools

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store import Feature, FeatureStore
from store.errors import FeatureStoreError

boto3 = pytest.importorskip("boto3", reason="the HTTP path is driven with boto3")
from botocore.exceptions import ClientError  # noqa: E402

FEATURES = [Feature("id", "Integral"), Feature("ts"), Feature("i", "Integral"), Feature("f", "Fractional"),
            Feature("s"), Feature("l", "String", "List")]
DEFINITIONS = [{"FeatureName": f.name, "FeatureType": f.type, **({"CollectionType": f.collection} if f.collection else {})}
               for f in FEATURES]
PATHS = ("put", "dataframe", "arrow", "csv", "parquet", "http")
_ids = itertools.count(1)

digits = st.sampled_from(["0", "7", "12", "-3", "+4", " 5 ", "١٢٣", "１２３", "١", "٣.٥", "1.5", "1e3", "9" * 19,
                          "9223372036854775807", "-9223372036854775808", "1_000", "0x10", "", "\u00a012", "12\n",
                          "true", "no", "NaN", "inf", "1e400", "\ud800"])
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12) | digits
times = st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01T00:00:00.5Z", "1677-09-22T00:00:00Z",
                         "2262-04-10T23:00:00Z", "0001-01-01T00:00:00Z", "1500-06-01T00:00:00Z",
                         "2300-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2026-02-30T00:00:00Z",
                         "2026-01-01T00:00:00Z\n", "２０２６-01-01T00:00:00Z", "2026-01-01 00:00:00Z"])
lists = st.lists(texts, max_size=3).map(lambda xs: ("list", xs)) | st.sampled_from(
    ['["a", 1]', '[["a"]]', '["a\\"b"]', '[1.5, 2]', '[1.50, 1e16]', "[true]", '["\\ud800"]', "[", "[null]"]).map(lambda t: ("json", t))
cases = st.one_of(
    st.tuples(st.just("i"), digits), st.tuples(st.just("f"), digits), st.tuples(st.just("s"), texts),
    st.tuples(st.just("id"), digits), st.tuples(st.just("ts"), times), st.tuples(st.just("l"), lists),
)


@pytest.fixture(scope="module")
def stores(server):
    """The server's store, read and written in process too, and a group per example made over HTTP."""
    fs = FeatureStore(server.store_path)
    yield fs, server.client("sagemaker"), server.client("sagemaker-featurestore-runtime")
    fs.close()


def record(feature: str, value) -> dict:
    rec = {"id": str(next(_ids)), "ts": "2026-01-01T00:00:00Z", feature: value}
    return rec


def send(path: str, fs: FeatureStore, rt, group: str, rec: dict, tmp) -> None:
    """Send ``rec`` (every value text, a List as a list of text or as JSON text) one way; raises on refusal."""
    if path == "put":
        fs.put_record(group, rec)
        return
    if path == "http":
        wire = [{"FeatureName": k, "ValueAsStringList": v} if isinstance(v, list) else {"FeatureName": k, "ValueAsString": v}
                for k, v in rec.items()]
        rt.put_record(FeatureGroupName=group, Record=wire)
        return
    frame = pd.DataFrame({k: pd.Series([v], dtype=object) for k, v in rec.items()})
    if path == "dataframe":
        data = frame
    else:
        table = pa.table({k: pa.array([v], pa.list_(pa.string()) if isinstance(v, list) else pa.string())
                          for k, v in rec.items()})
        if path == "arrow":
            data = table
        elif path == "parquet":
            data = tmp / f"{group}.parquet"
            pq.write_table(table, data)
        else:
            data = tmp / f"{group}.csv"
            text = {k: (pd.io.json.ujson_dumps(v) if isinstance(v, list) else v) for k, v in rec.items()}
            # CRLF rows, as spreadsheets write them: the writer then quotes a field holding a lone '\r'
            # (with '\n' rows pandas leaves it bare, and every CSV reader ends the row there)
            pd.DataFrame({k: [v] for k, v in text.items()}).to_csv(data, index=False, encoding="utf-8",
                                                                   lineterminator="\r\n")
    fs.ingest(group, data)


def verdict(path: str, fs, rt, group: str, rec: dict, tmp) -> tuple:
    """("stored", the record read back) or ("refused",); any other exception fails the test."""
    try:
        send(path, fs, rt, group, rec, tmp)
    except (FeatureStoreError, ClientError) as exc:
        if isinstance(exc, ClientError):
            assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 400, exc.response
        return ("refused",)
    got = fs.as_of(group)
    assert len(got) == 1, f"{path} wrote {len(got)} rows for one record"
    row = got.iloc[0].to_dict()
    return ("stored", {k: (list(v) if hasattr(v, "__len__") and not isinstance(v, str) else
                           None if isinstance(v, float) and v != v else v) for k, v in row.items()})


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(case=cases)
def test_every_path_gives_one_verdict(stores, tmp_path, case):
    fs, sm, rt = stores
    feature, value = case
    if feature == "l":
        form, value = value
        if form == "list" and any("\ud800" <= ch <= "\udfff" for x in value for ch in x):
            return
    rec = record(feature, value)
    outcomes = {}
    for path in PATHS:
        surrogate = any("\ud800" <= ch <= "\udfff" for v in rec.values() for ch in (v if isinstance(v, str) else ""))
        if surrogate and path in ("arrow", "parquet", "csv", "http"):
            continue  # Arrow, files and JSON bodies cannot carry a lone surrogate; put and DataFrame judge it
        if path == "http" and feature == "l" and isinstance(rec["l"], str):
            continue  # the wire model carries a List as ValueAsStringList only; JSON text is refused there by design
        if path == "csv" and "" in rec.values():
            continue  # an empty CSV field is null (documented): a file cannot hold the empty string
        group = f"fz{next(_ids)}"
        sm.create_feature_group(FeatureGroupName=group, RecordIdentifierFeatureName="id", EventTimeFeatureName="ts",
                                FeatureDefinitions=DEFINITIONS, OnlineStoreConfig={"EnableOnlineStore": True},
                                OfflineStoreConfig={"S3StorageConfig": {"S3Uri": "s3://bucket/x"}})
        try:
            outcomes[path] = verdict(path, fs, rt, group, rec, tmp_path)
        finally:
            fs.delete_feature_group(group, purge_offline=True)
    file_paths = {"csv", "parquet"}  # files read event times leniently (a space for 'T', no zone): judged apart
    strict = {p: v for p, v in outcomes.items() if not (feature == "ts" and p in file_paths)}
    assert len({repr(v) for v in strict.values()}) == 1, f"{feature} = {value!r}: {outcomes}"
    if feature == "ts":
        assert all(v[0] == "refused" for v in outcomes.values()) or len({repr(v) for v in outcomes.values()}) <= 2
