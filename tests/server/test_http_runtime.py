"""The sagemaker-featurestore-runtime API over HTTP, driven by real boto3 clients against
``featurestore serve`` in a child process; the engine on the same folder sees the same data."""
from __future__ import annotations

import datetime as dt
import glob
import http.client
import json
import os

import pytest
from install_support import need

boto3 = need("boto3", "The HTTP API tests (they drive the server with boto3)")
from botocore.exceptions import ClientError  # noqa: E402

from store import FeatureStore  # noqa: E402
from store.server.process import LocalServer  # noqa: E402

DEFINITIONS = [
    {"FeatureName": "customer_id", "FeatureType": "Integral"},
    {"FeatureName": "event_time", "FeatureType": "String"},
    {"FeatureName": "age", "FeatureType": "Integral"},
    {"FeatureName": "score", "FeatureType": "Fractional"},
    {"FeatureName": "name", "FeatureType": "String"},
    {"FeatureName": "tags", "FeatureType": "String", "CollectionType": "List"},
    {"FeatureName": "embedding", "FeatureType": "Fractional", "CollectionType": "Vector",
     "CollectionConfig": {"VectorConfig": {"Dimension": 3}}},
]


@pytest.fixture
def group(sm, request):
    """A fresh online+offline group named after the test."""
    name = request.node.name.replace("_", "-")[:60].rstrip("-")
    create(sm, name)
    return name


def create(sm, name: str, online: bool = True, offline: bool = True, ttl: dict | None = None) -> None:
    kwargs: dict = {}
    if online:
        kwargs["OnlineStoreConfig"] = {"EnableOnlineStore": True, **({"TtlDuration": ttl} if ttl else {})}
    if offline:
        kwargs["OfflineStoreConfig"] = {"S3StorageConfig": {"S3Uri": "s3://bucket/features"}}
    sm.create_feature_group(FeatureGroupName=name, RecordIdentifierFeatureName="customer_id",
                            EventTimeFeatureName="event_time", FeatureDefinitions=DEFINITIONS, **kwargs)


def record(**values) -> list[dict]:
    return [{"FeatureName": k, "ValueAsStringList": v} if isinstance(v, list) else {"FeatureName": k, "ValueAsString": v}
            for k, v in values.items()]


def values(response: dict) -> dict:
    return {v["FeatureName"]: v.get("ValueAsString", v.get("ValueAsStringList")) for v in response.get("Record", [])}


def error(exc_info) -> tuple[str, int, str]:
    err = exc_info.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


def test_put_then_get_round_trips_every_type_as_strings(rt, group):
    rt.put_record(FeatureGroupName=group, Record=record(
        customer_id="42", event_time="2024-01-01T00:00:00Z", age="31", score="1.5e2", name="Ada",
        tags=["a", "b"], embedding=["0.5", "1", "-2.25"]))
    got = rt.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="42")
    assert values(got) == {"customer_id": "42", "event_time": "2024-01-01T00:00:00Z", "age": "31", "score": "150.0",
                           "name": "Ada", "tags": ["a", "b"], "embedding": ["0.5", "1.0", "-2.25"]}
    assert "ExpiresAt" not in got
    projected = rt.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="42", FeatureNames=["age", "tags"])
    assert values(projected) == {"age": "31", "tags": ["a", "b"]}


def test_missing_record_is_an_empty_answer_and_a_put_overwrites_whole(rt, group):
    assert "Record" not in rt.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="7")
    rt.put_record(FeatureGroupName=group, Record=record(customer_id="7", event_time="2024-01-01T00:00:00Z", age="5"))
    rt.put_record(FeatureGroupName=group, Record=record(customer_id="7", event_time="2024-01-02T00:00:00Z", name="x"))
    assert values(rt.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="7")) == {
        "customer_id": "7", "event_time": "2024-01-02T00:00:00Z", "name": "x"}
    rt.put_record(FeatureGroupName=group, Record=record(customer_id="7", event_time="2023-12-31T00:00:00Z", age="9"))
    assert values(rt.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="7"))["name"] == "x"  # historic


@pytest.mark.parametrize("bad, where", [
    (record(customer_id="1.0", event_time="2024-01-01T00:00:00Z"), "customer_id"),
    (record(customer_id="1", event_time="2024-01-01T00:00:00Z", score="abc"), "score"),
    (record(customer_id="1", event_time="2024-01-01 00:00:00"), "event_time"),
    (record(customer_id="1", event_time="2024-01-01T00:00:00+01:00"), "event_time"),
    (record(customer_id="1", event_time="2024-01-01T00:00:00Z", height="2"), "height"),
    (record(event_time="2024-01-01T00:00:00Z", age="3"), "customer_id"),
    (record(customer_id="1", event_time="2024-01-01T00:00:00Z", tags="a"), "tags"),
    (record(customer_id="1", event_time="2024-01-01T00:00:00Z", age=["1"]), "age"),
    (record(customer_id="1", event_time="2024-01-01T00:00:00Z", embedding=["1", "2"]), "embedding"),
    (record(customer_id="1", event_time="2024-01-01T00:00:00Z", score="nan"), "score"),
    (record(customer_id="1", event_time="2024-01-01T00:00:00Z") + record(customer_id="2"), "customer_id"),
    (record(customer_id="1", event_time="2024-01-01T00:00:00Z", name="x" * (351 * 1024)), "358400"),
    (record(customer_id="1", event_time="2024-01-01T00:00:00Z", name="x" * 200_000, tags=["y" * 100_000] * 2), "350 KB"),
    (record(customer_id="1", event_time="2024-01-01T00:00:00Z", **{"bad name": "x"}), "bad name"),
])
def test_bad_records_are_rejected_naming_the_feature_and_nothing_is_written(rt, sm, bad, where):
    name = "bad-records"
    try:
        create(sm, name)
    except ClientError:
        pass  # created by an earlier case
    with pytest.raises(ClientError) as exc:
        rt.put_record(FeatureGroupName=name, Record=bad)
    code, status, message = error(exc)
    assert (code, status) == ("ValidationError", 400)
    assert where in message
    assert "Record" not in rt.get_record(FeatureGroupName=name, RecordIdentifierValueAsString="1")


def test_unknown_groups_and_bad_names(rt):
    for call in (lambda: rt.get_record(FeatureGroupName="nope", RecordIdentifierValueAsString="1"),
                 lambda: rt.put_record(FeatureGroupName="nope", Record=record(customer_id="1")),
                 lambda: rt.delete_record(FeatureGroupName="nope", RecordIdentifierValueAsString="1",
                                          EventTime="2024-01-01T00:00:00Z")):
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc)[:2] == ("ResourceNotFound", 404)
    for bad in ("-starts-with-dash", "x" * 65, "has.dot"):
        with pytest.raises(ClientError) as exc:
            rt.get_record(FeatureGroupName=bad, RecordIdentifierValueAsString="1")
        assert error(exc)[:2] == ("ValidationError", 400)


def test_arns_name_groups_and_unknown_features_are_validation_errors(rt, sm, group):
    arn = sm.describe_feature_group(FeatureGroupName=group)["FeatureGroupArn"]
    rt.put_record(FeatureGroupName=arn, Record=record(customer_id="1", event_time="2024-01-01T00:00:00Z"))
    assert values(rt.get_record(FeatureGroupName=arn, RecordIdentifierValueAsString="1"))["customer_id"] == "1"
    with pytest.raises(ClientError) as exc:
        rt.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="1", FeatureNames=["height"])
    assert error(exc)[0] == "ValidationError" and "height" in error(exc)[2]


def test_ttl_gives_expires_at_and_expired_records_vanish(rt, sm):
    create(sm, "ttl-group", ttl={"Unit": "Days", "Value": 1})
    rt.put_record(FeatureGroupName="ttl-group", Record=record(customer_id="1", event_time="2199-01-01T00:00:00Z"))
    got = rt.get_record(FeatureGroupName="ttl-group", RecordIdentifierValueAsString="1", ExpirationTimeResponse="Enabled")
    assert got["ExpiresAt"] == "2199-01-02T00:00:00Z"
    rt.put_record(FeatureGroupName="ttl-group", Record=record(customer_id="2", event_time="2199-01-01T00:00:00Z"),
                  TtlDuration={"Unit": "Weeks", "Value": 2})
    got = rt.get_record(FeatureGroupName="ttl-group", RecordIdentifierValueAsString="2", ExpirationTimeResponse="Enabled")
    assert got["ExpiresAt"] == "2199-01-15T00:00:00Z"
    assert "ExpiresAt" not in rt.get_record(FeatureGroupName="ttl-group", RecordIdentifierValueAsString="2",
                                            ExpirationTimeResponse="Disabled")
    rt.put_record(FeatureGroupName="ttl-group", Record=record(customer_id="3", event_time="2020-01-01T00:00:00Z"))
    assert "Record" not in rt.get_record(FeatureGroupName="ttl-group", RecordIdentifierValueAsString="3")  # expired
    with pytest.raises(ClientError) as exc:
        rt.put_record(FeatureGroupName="ttl-group", Record=record(customer_id="4", event_time="2199-01-01T00:00:00Z"),
                      TtlDuration={"Unit": "Fortnights", "Value": 1})
    assert error(exc)[0] == "ValidationError"


def test_soft_and_hard_deletes_and_a_stale_hard_delete(rt, group):
    put = lambda ts, age: rt.put_record(FeatureGroupName=group, Record=record(customer_id="5", event_time=ts, age=age))  # noqa: E731
    get = lambda: values(rt.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="5"))  # noqa: E731
    put("2024-01-02T00:00:00Z", "1")
    rt.delete_record(FeatureGroupName=group, RecordIdentifierValueAsString="5", EventTime="2024-01-03T00:00:00Z")
    assert get() == {}
    put("2024-01-01T00:00:00Z", "2")  # older than the tombstone: ignored online
    assert get() == {}
    put("2024-01-04T00:00:00Z", "3")
    with pytest.raises(ClientError) as exc:
        rt.delete_record(FeatureGroupName=group, RecordIdentifierValueAsString="5", EventTime="2024-01-04T00:00:00Z",
                         DeletionMode="HardDelete")
    assert error(exc)[0] == "ValidationError" and "not newer" in error(exc)[2]
    assert get()["age"] == "3"
    rt.delete_record(FeatureGroupName=group, RecordIdentifierValueAsString="5", EventTime="2024-01-05T00:00:00Z",
                     DeletionMode="HardDelete")
    put("2024-01-01T00:00:00Z", "4")  # a hard delete forgets the event time
    assert get()["age"] == "4"
    rt.delete_record(FeatureGroupName=group, RecordIdentifierValueAsString="99", EventTime="2024-01-05T00:00:00Z")
    with pytest.raises(ClientError) as exc:
        rt.delete_record(FeatureGroupName=group, RecordIdentifierValueAsString="5", EventTime="yesterday")
    assert error(exc)[0] == "ValidationError"


def test_batch_get_across_groups_with_errors_projection_and_limits(rt, sm, group):
    create(sm, "batch-other", ttl={"Unit": "Hours", "Value": 1})
    rt.put_record(FeatureGroupName=group, Record=record(customer_id="1", event_time="2024-01-01T00:00:00Z", age="10"))
    rt.put_record(FeatureGroupName=group, Record=record(customer_id="2", event_time="2024-01-01T00:00:00Z", age="20"))
    rt.put_record(FeatureGroupName="batch-other", Record=record(customer_id="1", event_time="2199-01-01T00:00:00Z"))
    got = rt.batch_get_record(Identifiers=[
        {"FeatureGroupName": group, "RecordIdentifiersValueAsString": ["1", "002", "3", "x"], "FeatureNames": ["age"]},
        {"FeatureGroupName": "batch-other", "RecordIdentifiersValueAsString": ["1"]},
        {"FeatureGroupName": "nope", "RecordIdentifiersValueAsString": ["1"]},
    ], ExpirationTimeResponse="Enabled")
    found = {(r["FeatureGroupName"], r["RecordIdentifierValueAsString"]): (values(r), r.get("ExpiresAt")) for r in got["Records"]}
    assert found == {(group, "1"): ({"age": "10"}, None), (group, "002"): ({"age": "20"}, None),
                     ("batch-other", "1"): ({"customer_id": "1", "event_time": "2199-01-01T00:00:00Z"}, "2199-01-01T01:00:00Z")}
    assert {(e["FeatureGroupName"], e["RecordIdentifierValueAsString"], e["ErrorCode"]) for e in got["Errors"]} == {
        (group, "x", "ValidationError"), ("nope", "1", "ResourceNotFound")}
    with pytest.raises(ClientError) as exc:
        rt.batch_get_record(Identifiers=[{"FeatureGroupName": group, "RecordIdentifiersValueAsString": [str(i) for i in range(60)]},
                                         {"FeatureGroupName": "batch-other", "RecordIdentifiersValueAsString": [str(i) for i in range(41)]}])
    assert error(exc)[0] == "ValidationError" and "at most 100" in error(exc)[2]


def test_batch_write_reports_failed_entries_and_writes_the_rest(rt, sm, group):
    good = {"FeatureGroupName": group, "Record": record(customer_id="1", event_time="2199-01-01T00:00:00Z")}
    bad = {"FeatureGroupName": group, "Record": record(customer_id="x", event_time="2199-01-01T00:00:00Z")}
    missing = {"FeatureGroupName": "nope", "Record": record(customer_id="1", event_time="2199-01-01T00:00:00Z")}
    got = rt.batch_write_record(Entries=[good, bad, missing], TtlDuration={"Unit": "Minutes", "Value": 30})
    assert [(e["Entry"]["FeatureGroupName"], e["ErrorCode"]) for e in got["Errors"]] == [
        (group, "ValidationError"), ("nope", "ResourceNotFound")]
    assert got["UnprocessedEntries"] == []
    stored = rt.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="1", ExpirationTimeResponse="Enabled")
    assert stored["ExpiresAt"] == "2199-01-01T00:30:00Z"
    with pytest.raises(ClientError) as exc:
        rt.batch_write_record(Entries=[good] * 26)
    assert error(exc)[0] == "ValidationError" and "25" in error(exc)[2]


def test_list_records_pages_and_includes_soft_deleted_on_request(rt, group):
    for i in range(1, 6):
        rt.put_record(FeatureGroupName=group, Record=record(customer_id=str(i), event_time="2024-01-01T00:00:00Z"))
    rt.delete_record(FeatureGroupName=group, RecordIdentifierValueAsString="3", EventTime="2024-01-02T00:00:00Z")
    first = rt.list_records(FeatureGroupName=group, MaxResults=2)
    assert first["RecordIdentifiers"] == ["1", "2"]
    second = rt.list_records(FeatureGroupName=group, MaxResults=2, NextToken=first["NextToken"])
    assert second["RecordIdentifiers"] == ["4", "5"] and "NextToken" not in second
    pages = rt.get_paginator("list_records").paginate(FeatureGroupName=group, IncludeSoftDeletedRecords=True,
                                                     PaginationConfig={"PageSize": 2})
    assert [i for page in pages for i in page["RecordIdentifiers"]] == ["1", "2", "3", "4", "5"]
    with pytest.raises(ClientError) as exc:
        rt.list_records(FeatureGroupName=group, NextToken="not-a-token")
    assert error(exc)[0] == "ValidationError"


def test_target_stores_and_offline_only_groups(rt, sm, server, group):
    rt.put_record(FeatureGroupName=group, Record=record(customer_id="1", event_time="2024-01-01T00:00:00Z"),
                  TargetStores=["OfflineStore"])
    assert "Record" not in rt.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="1")
    rt.put_record(FeatureGroupName=group, Record=record(customer_id="2", event_time="2024-01-01T00:00:00Z"),
                  TargetStores=["OnlineStore"])
    with FeatureStore(server.store_path) as fs:
        assert fs.as_of(group)["customer_id"].tolist() == [1]
    create(sm, "offline-only", online=False)
    with pytest.raises(ClientError) as exc:
        rt.get_record(FeatureGroupName="offline-only", RecordIdentifierValueAsString="1")
    assert error(exc)[0] == "ValidationError" and "online store" in error(exc)[2]
    with pytest.raises(ClientError) as exc:
        rt.put_record(FeatureGroupName="offline-only", Record=record(customer_id="1", event_time="2024-01-01T00:00:00Z"),
                      TargetStores=["OnlineStore"])
    assert error(exc)[0] == "ValidationError"


def test_feature_additions_then_puts_with_the_new_feature(rt, sm, group):
    sm.update_feature_group(FeatureGroupName=group, FeatureAdditions=[
        {"FeatureName": "country", "FeatureType": "String"},
        {"FeatureName": "visits", "FeatureType": "Integral", "CollectionType": "Set"}])
    rt.put_record(FeatureGroupName=group, Record=record(customer_id="1", event_time="2024-01-01T00:00:00Z",
                                                        country="NZ", visits=["3", "1"]))
    assert values(rt.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="1",
                                FeatureNames=["country", "visits"])) == {"country": "NZ", "visits": ["3", "1"]}
    with pytest.raises(ClientError) as exc:
        rt.put_record(FeatureGroupName=group, Record=record(customer_id="2", event_time="2024-01-01T00:00:00Z",
                                                            visits=["1", "1"]))
    assert error(exc)[0] == "ValidationError" and "visits" in error(exc)[2]


def test_api_writes_reach_engine_and_parquet_and_engine_writes_reach_the_api(rt, sm, server, group):
    rt.put_record(FeatureGroupName=group, Record=record(customer_id="1", event_time="2024-01-01T00:00:00Z", age="30"))
    with FeatureStore(server.store_path) as fs:
        assert fs.get_record(group, 1)["age"] == 30
        assert fs.as_of(group, event_time="2024-01-01T00:00:00Z")["age"].tolist() == [30]
        assert fs.query(f'SELECT count(*) AS n FROM "{group}"')["n"].tolist() == [1]
        assert "writer:http-api" in {n["id"] for n in fs.lineage(f"feature_group:{group}", depth=1).nodes}
        fs.put_record(group, {"customer_id": 2, "event_time": "2024-02-01T00:00:00Z", "score": 0.25})
        fs.flush(group)
    assert values(rt.get_record(FeatureGroupName=group, RecordIdentifierValueAsString="2"))["score"] == "0.25"
    resolved = sm.describe_feature_group(FeatureGroupName=group)["OfflineStoreConfig"]["S3StorageConfig"]["ResolvedOutputS3Uri"]
    assert resolved.startswith("file://")
    files = glob.glob(os.path.join(resolved[len("file://"):], "**", "*.parquet"), recursive=True)
    assert any("year=2024" in f for f in files)


def test_endpoint_environment_variables_point_boto3_at_the_server(server, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", server.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_FEATURESTORE_RUNTIME", server.url)
    session = boto3.session.Session(aws_access_key_id="a", aws_secret_access_key="b", region_name="us-east-1")
    sm, rt = session.client("sagemaker"), session.client("sagemaker-featurestore-runtime")
    create(sm, "env-vars")
    rt.put_record(FeatureGroupName="env-vars", Record=record(customer_id="1", event_time="2024-01-01T00:00:00Z"))
    assert values(rt.get_record(FeatureGroupName="env-vars", RecordIdentifierValueAsString="1"))["customer_id"] == "1"


def test_wire_format_of_errors_unknown_routes_and_health(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/FeatureGroup/nope?RecordIdentifierValueAsString=1")
    resp = conn.getresponse()
    body = json.loads(resp.read())
    assert resp.status == 404 and resp.getheader("x-amzn-ErrorType") == "ResourceNotFound"
    assert body["__type"] == "ResourceNotFound" and "nope" in body["message"] and body["Message"] == body["message"]
    conn.request("POST", "/FeatureGroup/nope/Record", body=b"{}")
    resp = conn.getresponse()
    assert resp.status == 404 and json.loads(resp.read())["__type"] == "UnknownOperationException"
    conn.request("PUT", "/FeatureGroup/x", body=b"[1, 2")
    resp = conn.getresponse()
    assert resp.status == 400 and "not valid JSON" in json.loads(resp.read())["message"]
    conn.request("GET", "/ping")
    assert conn.getresponse().read() == b"ok"


def test_several_workers_serve_one_store(tmp_path):
    with LocalServer(tmp_path / "store", workers=2) as srv:
        sm, rt = srv.client("sagemaker"), srv.client("sagemaker-featurestore-runtime")
        create(sm, "workers")
        for i in range(20):
            rt.put_record(FeatureGroupName="workers", Record=record(customer_id=str(i), event_time="2024-01-01T00:00:00Z"))
        got = rt.batch_get_record(Identifiers=[{"FeatureGroupName": "workers",
                                                "RecordIdentifiersValueAsString": [str(i) for i in range(20)]}])
        assert len(got["Records"]) == 20
        assert "OPEN" in srv.output() and "2 workers" in srv.output()
    with FeatureStore(srv.store_path) as fs:  # the server flushed its buffer on shutdown
        assert fs.describe("workers")["staged_rows"] == 0 and fs.describe("workers")["offline_rows"] == 20


def test_expires_at_format_has_fraction_only_when_needed(rt, sm):
    create(sm, "ttl-fraction", ttl={"Unit": "Seconds", "Value": 90})
    rt.put_record(FeatureGroupName="ttl-fraction", Record=record(customer_id="1", event_time="2199-01-01T00:00:00.250Z"))
    got = rt.get_record(FeatureGroupName="ttl-fraction", RecordIdentifierValueAsString="1", ExpirationTimeResponse="Enabled")
    expected = dt.datetime(2199, 1, 1, 0, 1, 30, 250000)
    assert got["ExpiresAt"] == expected.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_the_studios_lookup_snippets_run_against_the_server(rt, group, server, capsys):
    """The boto3 and curl code the studio's Online lookup shows for a record works as shown."""
    import contextlib
    import io
    import shlex
    import urllib.request

    from store.snippets import get_record_boto3, get_record_curl

    rt.put_record(FeatureGroupName=group, Record=record(customer_id="7", event_time="2024-01-01T00:00:00Z", age="9"))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(get_record_boto3(group, "7", server.url), {})  # noqa: S102 - the snippet is ours
    assert "'age': '9'" in printed.getvalue()
    curl = shlex.split(get_record_curl(group, "7", server.url))
    assert curl[:2] == ["curl", "-s"]
    with urllib.request.urlopen(curl[2]) as response:  # what curl fetches
        assert values(json.load(response))["age"] == "9"


def test_records_put_through_the_server_reach_the_parquet_folder_within_the_flush_interval(rt, sm, server):
    """What another engine reading the folder sees: all 200 puts, with their system columns,
    within flush_interval (5 s) + 5 s, while the server keeps running."""
    import time

    import duckdb

    create(sm, "lag-check")
    for i in range(200):
        rt.put_record(FeatureGroupName="lag-check",
                      Record=record(customer_id=str(i), event_time="2024-01-01T00:00:00Z", age=str(i)))
    pattern = os.path.join(server.store_path, "offline", "lag-check", "data", "**", "*.parquet")
    deadline = time.monotonic() + 10
    found = 0
    while time.monotonic() < deadline:
        if glob.glob(pattern, recursive=True):
            rows = duckdb.sql(f"SELECT count(DISTINCT customer_id) AS n, count(write_time) AS w, "
                              f"count(api_invocation_time) AS a, count(is_deleted) AS d "
                              f"FROM read_parquet('{pattern}', hive_partitioning = true)").fetchall()[0]
            found = rows[0]
            if found == 200:
                assert rows[1:] == (200, 200, 200)
                break
        time.sleep(0.25)
    assert found == 200, f"{found} of 200 records reached Parquet within 10 s"


def test_rules_apply_to_put_and_batch_write_naming_the_rule(rt, sm, server):
    create(sm, "ruled")
    with FeatureStore(server.store_path) as fs:
        fs.set_rules("ruled", [{"feature": "age", "check": "between", "min": 0, "max": 130},
                               {"feature": "name", "check": "not_null", "severity": "warn"}])
    with pytest.raises(ClientError) as err:
        rt.put_record(FeatureGroupName="ruled", Record=record(customer_id="1", event_time="2024-01-01T00:00:00Z",
                                                              age="-4"))
    code, status, message = error(err)
    assert (code, status) == ("ValidationError", 400) and "age = -4 breaks rule age_between" in message
    out = rt.batch_write_record(Entries=[
        {"FeatureGroupName": "ruled", "Record": record(customer_id="2", event_time="2024-01-01T00:00:00Z", age="200")},
        {"FeatureGroupName": "ruled", "Record": record(customer_id="3", event_time="2024-01-01T00:00:00Z", age="30")}])
    assert [e["ErrorCode"] for e in out["Errors"]] == ["ValidationError"] and "age_between" in out["Errors"][0]["ErrorMessage"]
    assert values(rt.get_record(FeatureGroupName="ruled", RecordIdentifierValueAsString="3"))["age"] == "30"
    with FeatureStore(server.store_path) as fs:
        q = fs.quarantine("ruled")
        assert q["source"].tolist() == ["http-api", "http-api"] and set(q["rules"]) == {"age_between"}
        assert q["record"].iloc[0]["age"] == "200"  # as it came over the wire
