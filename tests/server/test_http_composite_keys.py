"""Groups keyed by several features over HTTP, with real boto3 clients: the record identifier is
one JSON array of the key's values in key order; a group keyed by one feature answers as before."""
from __future__ import annotations

import pytest
from install_support import need

boto3 = need("boto3", "The HTTP API tests (they drive the server with boto3)")
from botocore.exceptions import ClientError  # noqa: E402

from store import Feature, FeatureStore  # noqa: E402


def create(server, name: str, key: list[Feature], others: list[Feature]) -> None:
    """A group keyed by several features, made with the Python API on the server's store (the
    wire's RecordIdentifierFeatureName takes one feature name)."""
    with FeatureStore(server.store_path) as fs:
        fs.create_feature_group(name, [f.name for f in key], "event_time", [*key, Feature("event_time"), *others])


@pytest.fixture(scope="module")
def terminals(server, rt):
    create(server, "terminals", [Feature("merchant_id"), Feature("terminal_id", "Integral")],
           [Feature("amount", "Fractional")])
    for merchant, terminal, amount in (("m1", "7", "10.5"), ("m1", "8", "20.0"), ("m2", "7", "30.25")):
        rt.put_record(FeatureGroupName="terminals", Record=[
            {"FeatureName": "merchant_id", "ValueAsString": merchant},
            {"FeatureName": "terminal_id", "ValueAsString": terminal},
            {"FeatureName": "event_time", "ValueAsString": "2024-01-01T00:00:00Z"},
            {"FeatureName": "amount", "ValueAsString": amount}])
    return "terminals"


def amounts(records: list[dict]) -> list[str]:
    return [next(v["ValueAsString"] for v in r["Record"] if v["FeatureName"] == "amount") for r in records]


def test_describe_names_the_key_features_in_order(sm, terminals):
    described = sm.describe_feature_group(FeatureGroupName=terminals)
    assert described["RecordIdentifierFeatureName"] == '["merchant_id","terminal_id"]'


def test_get_record_takes_a_json_array_of_the_key_values(rt, terminals):
    for text in ('["m1","7"]', '["m1",7]', '[ "m1", 7 ]'):
        got = rt.get_record(FeatureGroupName=terminals, RecordIdentifierValueAsString=text)
        assert {v["FeatureName"]: v["ValueAsString"] for v in got["Record"]} == {
            "merchant_id": "m1", "terminal_id": "7", "event_time": "2024-01-01T00:00:00Z", "amount": "10.5"}
    assert "Record" not in rt.get_record(FeatureGroupName=terminals, RecordIdentifierValueAsString='["m2",8]')


@pytest.mark.parametrize("text", ["m1", '["m1"]', '["m1",7,1]', '{"merchant_id":"m1"}', '["m1",null]', '["m1",true]',
                                  '["m1","seven"]', "[m1,7]"])
def test_a_malformed_key_is_refused_saying_the_form(rt, terminals, text):
    with pytest.raises(ClientError) as caught:
        rt.get_record(FeatureGroupName=terminals, RecordIdentifierValueAsString=text)
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationError"
    if text == '["m1","seven"]':  # the form is right, the value is not
        assert "terminal_id" in error["Message"] and "not an integer" in error["Message"]
    else:
        assert 'one JSON array of their values in that order' in error["Message"]
        assert '["m1",7]' in error["Message"] and "merchant_id, terminal_id" in error["Message"]


def test_batch_get_record_answers_per_key_as_asked(rt, terminals):
    got = rt.batch_get_record(Identifiers=[{"FeatureGroupName": terminals, "RecordIdentifiersValueAsString": [
        '["m2",7]', '["m9",1]', '["m1","8"]', "m1"]}])
    assert [r["RecordIdentifierValueAsString"] for r in got["Records"]] == ['["m2",7]', '["m1","8"]']
    assert amounts(got["Records"]) == ["30.25", "20.0"]
    assert [e["RecordIdentifierValueAsString"] for e in got["Errors"]] == ["m1"]
    assert "JSON array" in got["Errors"][0]["ErrorMessage"]
    with_expiry = rt.batch_get_record(ExpirationTimeResponse="Enabled", Identifiers=[
        {"FeatureGroupName": terminals, "RecordIdentifiersValueAsString": ['["m1",7]']}])
    assert amounts(with_expiry["Records"]) == ["10.5"]


def test_delete_record_and_list_records(server, rt):
    create(server, "visits", [Feature("user_id", "Integral"), Feature("item_id")], [])
    for user, item in ((1, "a"), (1, "b"), (2, "a")):
        rt.put_record(FeatureGroupName="visits", Record=[
            {"FeatureName": "user_id", "ValueAsString": str(user)}, {"FeatureName": "item_id", "ValueAsString": item},
            {"FeatureName": "event_time", "ValueAsString": "2024-01-01T00:00:00Z"}])
    rt.delete_record(FeatureGroupName="visits", RecordIdentifierValueAsString='[1,"a"]',
                     EventTime="2024-01-02T00:00:00Z")
    assert "Record" not in rt.get_record(FeatureGroupName="visits", RecordIdentifierValueAsString='[1,"a"]')
    assert "Record" in rt.get_record(FeatureGroupName="visits", RecordIdentifierValueAsString='[1,"b"]')
    with pytest.raises(ClientError, match="JSON array"):
        rt.delete_record(FeatureGroupName="visits", RecordIdentifierValueAsString="1",
                         EventTime="2024-01-03T00:00:00Z")
    listed = rt.list_records(FeatureGroupName="visits")["RecordIdentifiers"]
    assert listed == ['[1,"b"]', '[2,"a"]']
    first = rt.list_records(FeatureGroupName="visits", MaxResults=1)
    second = rt.list_records(FeatureGroupName="visits", MaxResults=1, NextToken=first["NextToken"])
    assert first["RecordIdentifiers"] + second["RecordIdentifiers"] == listed and "NextToken" not in second


def test_a_one_feature_group_answers_as_before(sm, rt):
    sm.create_feature_group(FeatureGroupName="plain", RecordIdentifierFeatureName="sku",
                            EventTimeFeatureName="event_time", FeatureDefinitions=[
                                {"FeatureName": "sku", "FeatureType": "String"},
                                {"FeatureName": "event_time", "FeatureType": "String"}],
                            OnlineStoreConfig={"EnableOnlineStore": True})
    rt.put_record(FeatureGroupName="plain", Record=[{"FeatureName": "sku", "ValueAsString": '["x"]'},
                                                    {"FeatureName": "event_time", "ValueAsString": "2024-01-01T00:00:00Z"}])
    assert sm.describe_feature_group(FeatureGroupName="plain")["RecordIdentifierFeatureName"] == "sku"
    got = rt.get_record(FeatureGroupName="plain", RecordIdentifierValueAsString='["x"]')
    assert got["Record"][0] == {"FeatureName": "sku", "ValueAsString": '["x"]'}  # text that looks like JSON is a key
    assert rt.list_records(FeatureGroupName="plain")["RecordIdentifiers"] == ['["x"]']
