"""The sagemaker control plane over HTTP (JSON 1.1): feature groups, feature metadata, tags and
search, driven by real boto3 clients against ``featurestore serve`` in a child process."""
from __future__ import annotations

import http.client
import json
import os
import time

import pytest
from install_support import need

boto3 = need("boto3", "The HTTP API tests (they drive the server with boto3)")
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

from store import FeatureStore  # noqa: E402

BASIC = [{"FeatureName": "id", "FeatureType": "String"}, {"FeatureName": "ts", "FeatureType": "Fractional"}]
ONLINE = {"EnableOnlineStore": True}


@pytest.fixture(scope="module")
def unchecked(server):
    """A client that sends whatever it is given: the server alone must enforce the model's limits."""
    return server.client("sagemaker", config=Config(parameter_validation=False))


def create(sm, name: str, definitions=BASIC, **kwargs) -> dict:
    params = {"FeatureGroupName": name, "RecordIdentifierFeatureName": "id", "EventTimeFeatureName": "ts",
              "FeatureDefinitions": definitions, "OnlineStoreConfig": ONLINE, **kwargs}
    return sm.create_feature_group(**params)


def error(exc_info) -> tuple[str, int, str]:
    err = exc_info.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


def test_describe_returns_the_full_shape_with_defaults_and_the_local_parquet_uri(sm, server):
    arn = create(sm, "described", BASIC + [
        {"FeatureName": "emb", "FeatureType": "Fractional", "CollectionType": "Vector",
         "CollectionConfig": {"VectorConfig": {"Dimension": 4}}}],
        OnlineStoreConfig={"EnableOnlineStore": True, "TtlDuration": {"Unit": "Hours", "Value": 36}},
        OfflineStoreConfig={"S3StorageConfig": {"S3Uri": "s3://my-bucket/fs"}, "TableFormat": "Iceberg"},
        RoleArn="arn:aws:iam::123456789012:role/FeatureStore", Description="Described group",
        ThroughputConfig={"ThroughputMode": "Provisioned", "ProvisionedReadCapacityUnits": 5,
                          "ProvisionedWriteCapacityUnits": 6},
    )["FeatureGroupArn"]
    d = sm.describe_feature_group(FeatureGroupName="described")
    assert arn == d["FeatureGroupArn"] == "arn:aws:sagemaker:us-east-1:000000000000:feature-group/described"
    assert d["FeatureDefinitions"][2] == {"FeatureName": "emb", "FeatureType": "Fractional", "CollectionType": "Vector",
                                          "CollectionConfig": {"VectorConfig": {"Dimension": 4}}}
    assert d["OnlineStoreConfig"] == {"EnableOnlineStore": True, "StorageType": "Standard",
                                      "TtlDuration": {"Unit": "Hours", "Value": 36}}
    s3 = d["OfflineStoreConfig"]["S3StorageConfig"]
    assert s3["S3Uri"] == "s3://my-bucket/fs"
    assert s3["ResolvedOutputS3Uri"] == "file://" + os.path.join(server.store_path, "offline", "described", "data")
    assert d["OfflineStoreConfig"]["TableFormat"] == "Iceberg"
    assert d["OfflineStoreConfig"]["DataCatalogConfig"]["Database"] == "sagemaker_featurestore"
    assert d["ThroughputConfig"]["ProvisionedWriteCapacityUnits"] == 6
    assert (d["FeatureGroupStatus"], d["OfflineStoreStatus"], d["RoleArn"], d["Description"]) == (
        "Created", {"Status": "Active"}, "arn:aws:iam::123456789012:role/FeatureStore", "Described group")
    assert abs(d["CreationTime"].timestamp() - time.time()) < 60 and d["NextToken"] == ""
    assert "LastUpdateStatus" not in d


@pytest.mark.parametrize("name, definitions, extra, code, words", [
    ("bad_name_", BASIC, {}, "ValidationException", "pattern"),
    ("x" * 65, BASIC, {}, "ValidationException", "length"),
    ("reserved", BASIC + [{"FeatureName": "year", "FeatureType": "Integral"}], {}, "ValidationException", "reserved"),
    ("bad-type", [{"FeatureName": "id", "FeatureType": "Boolean"}, BASIC[1]], {}, "ValidationException", "enum"),
    ("no-id", BASIC[1:], {}, "ValidationException", "id"),
    ("int-time", [BASIC[0], {"FeatureName": "ts", "FeatureType": "Integral"}], {}, "ValidationException", "ts"),
    ("no-store", BASIC, {"OnlineStoreConfig": {"EnableOnlineStore": False}}, "ValidationException", "online"),
    ("long-desc", BASIC, {"Description": "d" * 129}, "ValidationException", "128"),
    ("many-tags", BASIC, {"Tags": [{"Key": f"k{i}", "Value": "v"} for i in range(51)]}, "ValidationException", "50"),
    ("dup-tags", BASIC, {"Tags": [{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}]}, "ValidationException", "twice"),
    ("bad-role", BASIC, {"RoleArn": "not-an-arn-but-long-enough"}, "ValidationException", "RoleArn"),
    ("no-dim", BASIC + [{"FeatureName": "v", "FeatureType": "Fractional", "CollectionType": "Vector"}], {},
     "ValidationException", "dimension"),
    ("big-dim", BASIC + [{"FeatureName": "v", "FeatureType": "Fractional", "CollectionType": "Vector",
                          "CollectionConfig": {"VectorConfig": {"Dimension": 8193}}}], {}, "ValidationException", "8192"),
    ("bad-ttl", BASIC, {"OnlineStoreConfig": {"EnableOnlineStore": True, "TtlDuration": {"Unit": "Days", "Value": 0}}},
     "ValidationException", "TtlDuration"),
    ("no-defs", [], {}, "ValidationException", "FeatureDefinitions"),
    ("str-ttl", BASIC, {"OnlineStoreConfig": {"EnableOnlineStore": True, "TtlDuration": {"Unit": "Days", "Value": "1"}}},
     "ValidationException", "integer"),
    ("missing-et", BASIC, {"EventTimeFeatureName": None}, "ValidationException", "EventTimeFeatureName"),
    ("ondemand", BASIC, {"ThroughputConfig": {"ThroughputMode": "OnDemand", "ProvisionedReadCapacityUnits": 1}},
     "ValidationException", "Provisioned"),
])
def test_create_rejects_what_sagemaker_rejects_and_creates_nothing(sm, unchecked, name, definitions, extra, code, words):
    with pytest.raises(ClientError) as exc:
        create(unchecked, name, definitions, **extra)
    assert error(exc)[:2] == (code, 400)
    assert words in error(exc)[2]
    if len(name) <= 64 and name != "bad_name_":
        with pytest.raises(ClientError) as exc:
            sm.describe_feature_group(FeatureGroupName=name)
        assert error(exc)[0] == "ResourceNotFound"


def test_create_with_a_taken_name_is_resource_in_use(sm):
    create(sm, "taken")
    with pytest.raises(ClientError) as exc:
        create(sm, "taken")
    assert error(exc)[:2] == ("ResourceInUse", 400) and "already exists" in error(exc)[2]


def test_unknown_groups_are_resource_not_found(sm):
    for call in (lambda: sm.describe_feature_group(FeatureGroupName="nope"),
                 lambda: sm.delete_feature_group(FeatureGroupName="nope"),
                 lambda: sm.update_feature_group(FeatureGroupName="nope", FeatureAdditions=BASIC[:1]),
                 lambda: sm.describe_feature_metadata(FeatureGroupName="nope", FeatureName="id"),
                 lambda: sm.list_tags(ResourceArn="arn:aws:sagemaker:us-east-1:000000000000:feature-group/nope")):
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc)[:2] == ("ResourceNotFound", 400)


def test_list_feature_groups_filters_sorts_and_pages(sm):
    for name in ("list-c", "list-a", "list-b"):
        create(sm, name)
    create(sm, "list-offline", OnlineStoreConfig={"EnableOnlineStore": False},
           OfflineStoreConfig={"S3StorageConfig": {"S3Uri": "s3://b/p"}})
    names = lambda **kw: [s["FeatureGroupName"] for s in sm.list_feature_groups(**kw)["FeatureGroupSummaries"]]  # noqa: E731
    assert names(NameContains="LIST-", SortBy="Name", SortOrder="Ascending") == ["list-a", "list-b", "list-c", "list-offline"]
    assert names(NameContains="list-", MaxResults=100)[:4] == ["list-offline", "list-b", "list-a", "list-c"]  # newest first
    assert names(NameContains="list-", OfflineStoreStatusEquals="Active") == ["list-offline"]
    first = sm.list_feature_groups(NameContains="list-", SortBy="Name", SortOrder="Ascending", MaxResults=3)
    assert len(first["FeatureGroupSummaries"]) == 3
    rest = sm.list_feature_groups(NameContains="list-", SortBy="Name", SortOrder="Ascending", MaxResults=3,
                                  NextToken=first["NextToken"])
    assert [s["FeatureGroupName"] for s in rest["FeatureGroupSummaries"]] == ["list-offline"] and "NextToken" not in rest
    pages = sm.get_paginator("list_feature_groups").paginate(NameContains="list-", PaginationConfig={"PageSize": 1})
    assert len([s for p in pages for s in p["FeatureGroupSummaries"]]) == 4
    created = sm.describe_feature_group(FeatureGroupName="list-b")["CreationTime"]
    assert set(names(NameContains="list-", CreationTimeAfter=created)) == {"list-offline"}
    for bad in ({"MaxResults": 101}, {"NextToken": "garbage"}, {"SortBy": "Size"}):
        with pytest.raises(ClientError) as exc:
            sm.list_feature_groups(**bad)
        assert error(exc)[0] == "ValidationException"


def test_update_adds_features_sets_ttl_and_storage_and_records_the_update(sm, server):
    create(sm, "updated")
    sm.update_feature_group(FeatureGroupName="updated", FeatureAdditions=[{"FeatureName": "n", "FeatureType": "Integral"}],
                            OnlineStoreConfig={"TtlDuration": {"Unit": "Minutes", "Value": 90}, "StorageType": "InMemory"},
                            ThroughputConfig={"ThroughputMode": "OnDemand"})
    d = sm.describe_feature_group(FeatureGroupName="updated")
    assert [f["FeatureName"] for f in d["FeatureDefinitions"]] == ["id", "ts", "n"]
    assert d["OnlineStoreConfig"]["TtlDuration"] == {"Unit": "Minutes", "Value": 90}
    assert d["OnlineStoreConfig"]["StorageType"] == "InMemory"
    assert d["LastUpdateStatus"] == {"Status": "Successful"} and d["LastModifiedTime"] >= d["CreationTime"]
    with FeatureStore(server.store_path) as fs:  # each update is a definition version, as every change is
        assert [v["summary"] for v in fs.definition_history("updated")] == [
            "created", "added n (Integral)", "ttl: none -> 5400 s"]
    for bad, code in (({"FeatureAdditions": [{"FeatureName": "n", "FeatureType": "String"}]}, "ValidationException"),
                      ({"FeatureAdditions": [{"FeatureName": f"f{i}", "FeatureType": "String"} for i in range(101)]},
                       "ValidationException")):
        with pytest.raises(ClientError) as exc:
            sm.update_feature_group(FeatureGroupName="updated", **bad)
        assert error(exc)[0] == code
    create(sm, "offline-update", OnlineStoreConfig={}, OfflineStoreConfig={"S3StorageConfig": {"S3Uri": "s3://b/p"}})
    with pytest.raises(ClientError) as exc:
        sm.update_feature_group(FeatureGroupName="offline-update", OnlineStoreConfig={"TtlDuration": {"Unit": "Days", "Value": 1}})
    assert error(exc)[0] == "ValidationException" and "online store" in error(exc)[2]


def test_delete_removes_the_group_and_keeps_its_parquet_files(sm, server):
    create(sm, "deleted", OfflineStoreConfig={"S3StorageConfig": {"S3Uri": "s3://b/p"}})
    rt = server.client("sagemaker-featurestore-runtime")
    rt.put_record(FeatureGroupName="deleted", Record=[{"FeatureName": "id", "ValueAsString": "a"},
                                                      {"FeatureName": "ts", "ValueAsString": "1700000000"}])
    sm.delete_feature_group(FeatureGroupName="deleted")
    with pytest.raises(ClientError) as exc:
        sm.describe_feature_group(FeatureGroupName="deleted")
    assert error(exc)[0] == "ResourceNotFound"
    data = os.path.join(server.store_path, "offline", "deleted", "data")
    assert any(f.endswith(".parquet") for _, _, files in os.walk(data) for f in files)


def test_feature_metadata_describe_and_update(sm):
    create(sm, "meta")
    sm.update_feature_metadata(FeatureGroupName="meta", FeatureName="id", Description="Customer key",
                               ParameterAdditions=[{"Key": "owner", "Value": "risk"}, {"Key": "pii", "Value": "no"}])
    sm.update_feature_metadata(FeatureGroupName="meta", FeatureName="id", ParameterRemovals=["pii"])
    m = sm.describe_feature_metadata(FeatureGroupName="meta", FeatureName="id")
    assert (m["FeatureName"], m["FeatureType"], m["Description"], m["Parameters"]) == (
        "id", "String", "Customer key", [{"Key": "owner", "Value": "risk"}])
    assert m["LastModifiedTime"] >= m["CreationTime"]
    with pytest.raises(ClientError) as exc:
        sm.describe_feature_metadata(FeatureGroupName="meta", FeatureName="nope")
    assert error(exc)[0] == "ResourceNotFound"
    for bad in ({"Description": "d" * 256}, {"ParameterAdditions": [{"Key": f"k{i}", "Value": "v"} for i in range(26)]},
                {"ParameterAdditions": [{"Key": "bad$key", "Value": "v"}]}):
        with pytest.raises(ClientError) as exc:
            sm.update_feature_metadata(FeatureGroupName="meta", FeatureName="id", **bad)
        assert error(exc)[0] == "ValidationException"


def test_tags_add_list_delete_and_their_limits(sm):
    arn = create(sm, "tagged", Tags=[{"Key": "team", "Value": "risk"}])["FeatureGroupArn"]
    assert sm.add_tags(ResourceArn=arn, Tags=[{"Key": "env", "Value": "dev"}])["Tags"] == [{"Key": "env", "Value": "dev"}]
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "risk"}, {"Key": "env", "Value": "dev"}]
    sm.delete_tags(ResourceArn=arn, TagKeys=["team"])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]
    with pytest.raises(ClientError) as exc:
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    assert error(exc)[0] == "ResourceLimitExceeded"
    with pytest.raises(ClientError) as exc:
        sm.list_tags(ResourceArn="arn:aws:sagemaker:us-east-1:000000000000:endpoint/e")
    assert error(exc)[0] == "ValidationException"


def test_search_feature_groups_with_filters_nesting_sorting_and_paging(sm):
    create(sm, "search-one", Tags=[{"Key": "team", "Value": "fraud"}], Description="Card fraud signals")
    create(sm, "search-two", BASIC + [{"FeatureName": "amount", "FeatureType": "Fractional"}],
           Tags=[{"Key": "team", "Value": "growth"}], OfflineStoreConfig={"S3StorageConfig": {"S3Uri": "s3://b/p"}})

    def found(expression=None, **kw):
        pages = sm.get_paginator("search").paginate(Resource="FeatureGroup", PaginationConfig={"PageSize": 1},
                                                    **({"SearchExpression": expression} if expression else {}), **kw)
        return [r["FeatureGroup"]["FeatureGroupName"] for p in pages for r in p["Results"]]

    prefix = {"Name": "FeatureGroupName", "Operator": "Contains", "Value": "SEARCH-"}
    assert found({"Filters": [prefix]}, SortBy="FeatureGroupName", SortOrder="Ascending") == ["search-one", "search-two"]
    assert found({"Filters": [prefix, {"Name": "Tags.team", "Value": "fraud"}]}) == ["search-one"]
    assert found({"Filters": [prefix, {"Name": "AllTags", "Operator": "Contains", "Value": "grow"}]}) == ["search-two"]
    assert found({"Filters": [prefix, {"Name": "OfflineStoreConfig", "Operator": "Exists"}]}) == ["search-two"]
    assert found({"Filters": [prefix, {"Name": "Description", "Operator": "NotExists"}]}) == ["search-two"]
    assert found({"Filters": [prefix, {"Name": "FeatureGroupName", "Operator": "In", "Value": "search-one, x"}]}) == ["search-one"]
    nested = {"NestedPropertyName": "FeatureDefinitions", "Filters": [
        {"Name": "FeatureDefinitions.FeatureName", "Value": "amount"},
        {"Name": "FeatureDefinitions.FeatureType", "Value": "Fractional"}]}
    assert found({"Filters": [prefix], "NestedFilters": [nested]}) == ["search-two"]
    either = {"Operator": "Or", "SubExpressions": [{"Filters": [{"Name": "Tags.team", "Value": "fraud"}]},
                                                   {"Filters": [{"Name": "Tags.team", "Value": "growth"}]}]}
    assert sorted(found({"Filters": [prefix], "SubExpressions": [either]})) == ["search-one", "search-two"]
    created = sm.describe_feature_group(FeatureGroupName="search-two")["CreationTime"].isoformat()
    assert found({"Filters": [prefix, {"Name": "CreationTime", "Operator": "GreaterThanOrEqualTo", "Value": created}]}) == [
        "search-two"]
    page = sm.search(Resource="FeatureGroup", SearchExpression={"Filters": [prefix]}, MaxResults=1)
    assert page["TotalHits"] == {"Value": 2, "Relation": "EqualTo"} and page["NextToken"]
    assert page["Results"][0]["FeatureGroup"]["Tags"]
    for bad in ({"Resource": "TrainingJob"}, {"Resource": "FeatureGroup", "SearchExpression": {"Filters": [
            {"Name": "CreationTime", "Operator": "GreaterThan", "Value": "yesterday"}]}},
            {"Resource": "FeatureGroup", "SearchExpression": {"Filters": [{"Name": "x", "Operator": "Equals"}]}}):
        with pytest.raises(ClientError) as exc:
            sm.search(**bad)
        assert error(exc)[0] == "ValidationException"


def test_search_feature_metadata_by_parameters_and_type(sm):
    create(sm, "search-meta", BASIC + [{"FeatureName": "amount", "FeatureType": "Fractional"}])
    sm.update_feature_metadata(FeatureGroupName="search-meta", FeatureName="amount",
                               ParameterAdditions=[{"Key": "unit", "Value": "EUR"}])
    results = sm.search(Resource="FeatureMetadata", SearchExpression={"Filters": [
        {"Name": "FeatureGroupName", "Value": "search-meta"}, {"Name": "Parameters.unit", "Value": "EUR"}]})["Results"]
    assert [(r["FeatureMetadata"]["FeatureName"], r["FeatureMetadata"]["Parameters"]) for r in results] == [
        ("amount", [{"Key": "unit", "Value": "EUR"}])]
    results = sm.search(Resource="FeatureMetadata", SortBy="FeatureName", SortOrder="Ascending", SearchExpression={
        "Filters": [{"Name": "FeatureGroupName", "Value": "search-meta"}, {"Name": "FeatureType", "Value": "Fractional"}]})
    assert [r["FeatureMetadata"]["FeatureName"] for r in results["Results"]] == ["amount", "ts"]


def test_engine_and_api_see_the_same_groups(sm, server):
    with FeatureStore(server.store_path) as fs:
        fs.create_feature_group("from-engine", "id", "ts", [{"name": "id", "type": "Integral"},
                                                            {"name": "ts", "type": "String"}], ttl=7200)
    d = sm.describe_feature_group(FeatureGroupName="from-engine")
    assert d["OnlineStoreConfig"]["TtlDuration"] == {"Unit": "Hours", "Value": 2}
    assert d["OfflineStoreConfig"]["S3StorageConfig"]["S3Uri"].startswith("file://")
    create(sm, "from-api", Description="made over HTTP")
    with FeatureStore(server.store_path) as fs:
        assert fs.feature_group("from-api").description == "made over HTTP"


def test_region_echo_unknown_targets_and_the_raw_error_format(server):
    west = server.client("sagemaker", region_name="eu-west-1")
    assert ":eu-west-1:" in create(west, "in-west")["FeatureGroupArn"]
    with pytest.raises(ClientError) as exc:
        west.list_endpoints()
    assert error(exc)[:2] == ("UnknownOperationException", 400)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("POST", "/", body=json.dumps({"FeatureGroupName": "nope"}),
                 headers={"X-Amz-Target": "SageMaker.DescribeFeatureGroup", "Content-Type": "application/x-amz-json-1.1"})
    resp = conn.getresponse()
    body = json.loads(resp.read())
    assert (resp.status, resp.getheader("x-amzn-ErrorType"), body["__type"]) == (400, "ResourceNotFound", "ResourceNotFound")
    assert resp.getheader("Content-Type") == "application/x-amz-json-1.1" and "nope" in body["message"]
