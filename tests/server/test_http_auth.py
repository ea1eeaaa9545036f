"""Access control over HTTP: with ``--keys`` every request needs a valid SigV4 signature, and each
key's policy limits its actions and feature groups; refused calls change nothing."""
from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import subprocess
import sys
from unittest import mock

import pytest
from install_support import need

boto3 = need("boto3", "The HTTP API tests (they drive the server with boto3)")
from botocore import UNSIGNED  # noqa: E402
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

from store.server.process import LocalServer  # noqa: E402

KEYS = {
    "admin": ("AKIDADMIN0000001", "admin-secret-value-1", ["sagemaker:*"], ["*"]),
    "reader": ("AKIDREADER000001", "reader-secret-value-1",
               ["sagemaker:GetRecord", "sagemaker:BatchGetRecord", "sagemaker:Describe*", "sagemaker:ListFeatureGroups",
                "sagemaker:Search"], ["cust*"]),
    "writer": ("AKIDWRITER000001", "writer-secret-value-1", ["sagemaker:PutRecord", "sagemaker:BatchWriteRecord"],
               ["orders"]),
}
DEFINITIONS = [{"FeatureName": "id", "FeatureType": "Integral"}, {"FeatureName": "ts", "FeatureType": "String"},
               {"FeatureName": "age", "FeatureType": "Integral"}]


def keys_file(path) -> str:
    path.write_text("keys:\n" + "".join(
        f"  - access_key_id: {key_id}\n    secret_access_key: {secret}\n"
        f"    policy:\n      actions: {json.dumps(actions)}\n      feature_groups: {json.dumps(groups)}\n"
        for key_id, secret, actions, groups in KEYS.values()))
    return str(path)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("http-auth")
    with LocalServer(folder / "store", keys_path=keys_file(folder / "keys.yaml")) as srv:
        admin = client(srv, "sagemaker", "admin")
        for name in ("customers", "orders", "internal"):
            admin.create_feature_group(FeatureGroupName=name, RecordIdentifierFeatureName="id", EventTimeFeatureName="ts",
                                       FeatureDefinitions=DEFINITIONS, OnlineStoreConfig={"EnableOnlineStore": True})
        put(client(srv, "sagemaker-featurestore-runtime", "admin"), "customers", "1", "30")
        yield srv


def client(server, service: str, who: str, **kwargs):
    key_id, secret, _, _ = KEYS[who]
    return server.client(service, aws_access_key_id=key_id, aws_secret_access_key=secret, **kwargs)


def put(rt, group: str, record_id: str, age: str) -> None:
    rt.put_record(FeatureGroupName=group, Record=[{"FeatureName": "id", "ValueAsString": record_id},
                                                  {"FeatureName": "ts", "ValueAsString": "2024-01-01T00:00:00Z"},
                                                  {"FeatureName": "age", "ValueAsString": age}])


def age(server, group: str = "customers", record_id: str = "1") -> str | None:
    got = client(server, "sagemaker-featurestore-runtime", "admin").get_record(
        FeatureGroupName=group, RecordIdentifierValueAsString=record_id)
    return {v["FeatureName"]: v["ValueAsString"] for v in got.get("Record", [])}.get("age")


def refused(call) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as exc:
        call()
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


def test_missing_and_wrong_signatures_are_refused_and_change_nothing(server):
    unsigned = server.client("sagemaker-featurestore-runtime", config=Config(signature_version=UNSIGNED))
    assert refused(lambda: put(unsigned, "customers", "1", "99"))[:2] == ("AccessForbidden", 403)
    wrong_secret = server.client("sagemaker-featurestore-runtime", aws_access_key_id=KEYS["admin"][0],
                                 aws_secret_access_key="not-the-secret")
    code, status, message = refused(lambda: put(wrong_secret, "customers", "1", "99"))
    assert (code, status) == ("AccessForbidden", 403) and "signature" in message
    unknown_key = server.client("sagemaker", aws_access_key_id="AKIDUNKNOWN", aws_secret_access_key="whatever-secret")
    code, status, _ = refused(lambda: unknown_key.delete_feature_group(FeatureGroupName="customers"))
    assert (code, status) == ("AccessDeniedException", 403)
    assert age(server) == "30"
    assert client(server, "sagemaker", "admin").describe_feature_group(FeatureGroupName="customers")


def test_a_tampered_body_or_an_old_signature_is_refused(server):
    key_id, secret, _, _ = KEYS["admin"]
    body = json.dumps({"Record": [{"FeatureName": "id", "ValueAsString": "1"},
                                  {"FeatureName": "ts", "ValueAsString": "2024-06-01T00:00:00Z"},
                                  {"FeatureName": "age", "ValueAsString": "31"}]}).encode()
    request = AWSRequest(method="PUT", url=f"{server.url}/FeatureGroup/customers", data=body,
                         headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key_id, secret), "sagemaker", "us-east-1").add_auth(request)
    headers = dict(request.prepare().headers)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("PUT", "/FeatureGroup/customers", body=body.replace(b'"31"', b'"99"'), headers=headers)
    resp = conn.getresponse()
    assert resp.status == 403 and json.loads(resp.read())["__type"] == "AccessForbidden"
    assert age(server) == "30"
    conn.request("PUT", "/FeatureGroup/customers", body=body, headers=headers)  # the untouched request passes
    assert conn.getresponse().status == 200 and age(server) == "31"
    stale = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(minutes=20)
    with mock.patch("botocore.auth.get_current_datetime", return_value=stale):
        code, status, message = refused(lambda: put(client(server, "sagemaker-featurestore-runtime", "admin"),
                                                    "customers", "1", "77"))
    assert (code, status) == ("AccessForbidden", 403) and "expired" in message
    assert age(server) == "31"


def test_each_key_is_limited_to_its_actions_and_groups(server):
    before = age(server)
    reader_rt = client(server, "sagemaker-featurestore-runtime", "reader")
    assert reader_rt.get_record(FeatureGroupName="customers", RecordIdentifierValueAsString="1")["Record"]
    code, status, message = refused(lambda: put(reader_rt, "customers", "1", "99"))
    assert (code, status) == ("AccessForbidden", 403) and "sagemaker:PutRecord" in message
    assert refused(lambda: reader_rt.get_record(FeatureGroupName="orders", RecordIdentifierValueAsString="1"))[1] == 403
    code, _, message = refused(lambda: reader_rt.batch_get_record(Identifiers=[
        {"FeatureGroupName": "customers", "RecordIdentifiersValueAsString": ["1"]},
        {"FeatureGroupName": "internal", "RecordIdentifiersValueAsString": ["1"]}]))
    assert code == "AccessForbidden" and "internal" in message
    reader_sm = client(server, "sagemaker", "reader")
    assert reader_sm.describe_feature_group(FeatureGroupName="customers")["FeatureGroupName"] == "customers"
    assert refused(lambda: reader_sm.describe_feature_group(FeatureGroupName="orders"))[:2] == ("AccessDeniedException", 403)
    assert refused(lambda: reader_sm.delete_feature_group(FeatureGroupName="customers"))[0] == "AccessDeniedException"
    listed = reader_sm.list_feature_groups()["FeatureGroupSummaries"]
    assert [s["FeatureGroupName"] for s in listed] == ["customers"]
    assert [r["FeatureGroup"]["FeatureGroupName"] for r in reader_sm.search(Resource="FeatureGroup")["Results"]] == ["customers"]
    assert age(server) == before

    writer_rt = client(server, "sagemaker-featurestore-runtime", "writer")
    put(writer_rt, "orders", "5", "50")
    assert age(server, "orders", "5") == "50"
    assert refused(lambda: put(writer_rt, "customers", "1", "99"))[:2] == ("AccessForbidden", 403)
    entry = lambda group: {"FeatureGroupName": group, "Record": [  # noqa: E731
        {"FeatureName": "id", "ValueAsString": "6"}, {"FeatureName": "ts", "ValueAsString": "2024-01-01T00:00:00Z"}]}
    assert refused(lambda: writer_rt.batch_write_record(Entries=[entry("orders"), entry("customers")]))[1] == 403
    assert age(server, "orders", "6") is None and age(server) == before
    assert refused(lambda: writer_rt.get_record(FeatureGroupName="orders", RecordIdentifierValueAsString="5"))[1] == 403


def test_start_up_names_the_keyring_and_no_secret_is_ever_printed(server):
    refused(lambda: put(server.client("sagemaker-featurestore-runtime", aws_access_key_id=KEYS["writer"][0],
                                      aws_secret_access_key="wrong-secret-0"), "orders", "1", "1"))
    output = server.output()
    assert "AWS Signature V4 required; 3 access keys" in output and "OPEN" not in output
    for key_id, secret, _, _ in KEYS.values():
        assert secret not in output and key_id not in output


def test_a_bad_keys_file_stops_the_server_before_it_binds(tmp_path):
    bad = tmp_path / "keys.yaml"
    bad.write_text("keys:\n  - access_key_id: AKIDX\n    secret_access_key: top-secret-value\n    policy:\n"
                   "      actions: [GetRecord]\n      feature_groups: ['*']\n")
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))}
    result = subprocess.run([sys.executable, "-m", "store.cli", "--store", str(tmp_path / "s"), "serve", "--keys", str(bad)],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1
    assert "sagemaker:GetRecord" in result.stderr and "top-secret-value" not in result.stderr + result.stdout
