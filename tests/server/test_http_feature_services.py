"""Feature-service vectors over HTTP: ``POST /FeatureServices/{name}/OnlineFeatures`` and Feast's
``POST /get-online-features``, signed with SigV4 as a user signs a raw request (botocore's
SigV4Auth over an AWSRequest), on a server whose keys have roles: ``admin`` reads everything,
``vera`` views ``customers`` only. The vectors must equal ``FeatureStore.get_online_features``."""
from __future__ import annotations

import http.client
import json
import time
import urllib.parse

import pytest
from install_support import need

need("boto3", "The HTTP API tests (they sign requests with botocore)")
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

from store import Feature, FeatureStore, OnDemandFeature  # noqa: E402
from store.server.process import LocalServer  # noqa: E402

ADMIN = Credentials("AKIDVECTORADMIN1", "vector-admin-secret-1")
VERA = Credentials("AKIDVECTORVERA01", "vector-vera-secret-1")
ACCESS = f"""
users:
  - name: root
    roles: [{{role: admin}}]
keys:
  - access_key_id: {ADMIN.access_key}
    secret_access_key: {ADMIN.secret_key}
    roles: [{{role: admin}}]
  - access_key_id: {VERA.access_key}
    secret_access_key: {VERA.secret_key}
    roles: [{{role: viewer, groups: [customers]}}]
"""
TS = "2026-11-30T08:15:00Z"


def signed_post(url: str, path: str, body, creds: Credentials | None, region: str = "us-east-1"):
    """POST ``body`` (JSON) to ``url + path`` signed with SigV4 for the 'sagemaker' signing name, as
    botocore signs it; ``creds=None`` sends it unsigned. Returns (status, parsed JSON answer)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = AWSRequest(method="POST", url=url + path, data=data, headers={"Content-Type": "application/json"})
    if creds is not None:
        SigV4Auth(creds, "sagemaker", region).add_auth(request)
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("POST", path, body=data, headers=dict(request.prepare().headers))
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vectors")
    (folder / "access.yaml").write_text(ACCESS)
    path = folder / "store"
    with FeatureStore(path, principal="root", access=str(folder / "access.yaml")) as fs:
        fs.create_feature_group("customers", "customer_id", "ts", [
            Feature("customer_id", "Integral"), Feature("ts"), Feature("age", "Integral"),
            Feature("score", "Fractional"), Feature("segment"), Feature("tags", "String", collection="List")])
        fs.create_feature_group("orders", "customer_id", "ts", [
            Feature("customer_id", "Integral"), Feature("ts"), Feature("total", "Fractional"),
            Feature("score", "Fractional"), Feature("count", "Integral")])
        fs.put_record("customers", {"customer_id": 1, "ts": TS, "age": 41, "score": 0.82, "segment": "gold",
                                    "tags": ["web", "retail"]})
        fs.put_record("customers", {"customer_id": 2, "ts": TS, "age": 29, "score": None, "segment": "silver",
                                    "tags": []})
        fs.put_record("orders", {"customer_id": 1, "ts": "2026-11-29T10:00:00.250000Z", "total": 310.5,
                                 "score": 0.1, "count": 7})
        fs.put_record("orders", {"customer_id": 3, "ts": TS, "total": 12.0, "score": 0.9, "count": 1}, ttl=1)
        fs.create_feature_service("fraud", ["customers:age", "customers:score", "customers:tags", "orders:total",
                                            "orders:score"])
        fs.create_feature_service("profile", ["customers:age", "customers:segment"])
        fs.register_on_demand(OnDemandFeature("per_age", inputs=["customers:age"], request={"amount": "Fractional"},
                                              outputs=[Feature("amount_per_age", "Fractional")], sql="amount / age"))
        fs.create_feature_service("scored", ["customers:age", "on_demand:per_age"])
    time.sleep(1.1)  # order 3's one-second TTL passes
    return folder


@pytest.fixture(scope="module")
def server(store):
    with LocalServer(store / "store", keys_path=store / "access.yaml") as srv:
        yield srv


@pytest.fixture(scope="module")
def fs(store):
    with FeatureStore(store / "store", principal="root", access=str(store / "access.yaml")) as opened:
        yield opened


def vector(server, service: str, body, creds=ADMIN):
    return signed_post(server.url, f"/FeatureServices/{service}/OnlineFeatures", body, creds)


ROWS = [{"customer_id": 1}, {"customer_id": 2}, {"customer_id": 3}, {"customer_id": 99}]


def test_the_vector_equals_get_online_features(server, fs):
    status, answer = vector(server, "fraud", {"EntityRows": ROWS})
    assert status == 200, answer
    frame = fs.get_online_features("fraud", ROWS)
    features = [c for c in frame.columns if c != "customer_id" and not c.endswith("__status")]
    assert answer["Keys"] == ["customer_id"] and answer["Features"] == features
    assert features == ["age", "customers__score", "tags", "total", "orders__score"]
    for i, row in enumerate(answer["Rows"]):
        for column in features:
            expected = frame[column].iloc[i]
            if column == "tags":
                assert row[column] == (None if expected is None else list(expected))
            elif frame[column].isna().iloc[i]:
                assert row[column] is None
            else:
                assert row[column] == pytest.approx(expected)
        assert answer["Statuses"][i] == {f: frame[f"{f}__status"].iloc[i] for f in features}
    assert answer["Rows"][0] == {"customer_id": 1, "age": 41, "customers__score": 0.82, "tags": ["web", "retail"],
                                 "total": 310.5, "orders__score": 0.1}
    assert answer["Rows"][1]["customers__score"] is None and answer["Statuses"][1]["customers__score"] == "present"
    assert answer["Statuses"][2] == {"age": "not_found", "customers__score": "not_found", "tags": "not_found",
                                     "total": "outside_ttl", "orders__score": "outside_ttl"}
    assert set(answer["Statuses"][3].values()) == {"not_found"} and answer["Rows"][3]["age"] is None
    assert len(answer["EventTimes"]) == 4 and set(answer["EventTimes"][0]) == set(features)


def test_request_values_feed_on_demand_features_and_event_times_are_given(server, fs):
    rows = [{"customer_id": 1}, {"customer_id": 2, "amount": 58}, {"customer_id": 99}]
    status, answer = vector(server, "scored", {"EntityRows": rows, "Request": {"amount": 82.0}})
    assert status == 200, answer
    assert answer["Features"] == ["age", "amount_per_age"]
    assert [r["amount_per_age"] for r in answer["Rows"]] == [2.0, 2.0, None]  # 82/41, the row's own 58/29
    assert [s["amount_per_age"] for s in answer["Statuses"]] == ["present", "present", "not_found"]
    assert answer["EventTimes"][0] == {"age": TS, "amount_per_age": None}
    expected = fs.get_online_features("scored", rows, request={"amount": 82.0}, as_dict=True)
    assert [r["amount_per_age"] for r in answer["Rows"]] == expected["values"]["amount_per_age"]
    status, answer = vector(server, "scored", {"EntityRows": rows})
    assert status == 400 and "needs request value 'amount'" in answer["message"]
    status, answer = feast(server, {"feature_service": "scored", "entities": {"customer_id": [1, 2]},
                                    "request_context": {"amount": 41}})
    assert status == 200, answer
    assert answer["results"][2] == {"values": [1.0, 41 / 29], "statuses": ["PRESENT", "PRESENT"],
                                    "event_timestamps": ["1970-01-01T00:00:00Z"] * 2}


def test_versions_are_passed_on(server, fs):
    status, answer = vector(server, "profile", {"EntityRows": [{"customer_id": 1}], "Version": 1})
    assert status == 200 and answer["Rows"] == [{"customer_id": 1, "age": 41, "segment": "gold"}]
    status, answer = vector(server, "profile", {"EntityRows": [{"customer_id": 1}], "Version": 2})
    assert status == 404 and answer["__type"] == "ResourceNotFound" and "profile" in answer["message"]


def test_an_unknown_service_is_404(server):
    status, answer = vector(server, "no-such-service", {"EntityRows": [{"customer_id": 1}]})
    assert status == 404 and answer["__type"] == "ResourceNotFound" and "no-such-service" in answer["message"]


@pytest.mark.parametrize("body, field", [
    ({}, "EntityRows"), ({"EntityRows": []}, "EntityRows"), ({"EntityRows": {"customer_id": 1}}, "EntityRows"),
    ({"EntityRows": [{"customer_id": 1}], "Version": "latest"}, "Version"),
    ({"EntityRows": [{"customer_id": 1}], "Request": [{}, {}]}, "Request"),
    ({"EntityRows": [{"customer_id": 1}], "Rows": []}, "Rows"),
    ({"EntityRows": [{"cust": 1}]}, "customer_id"),
    ({"EntityRows": [{"customer_id": "not-a-number"}]}, "entity_rows"),
    (b"{not json", "JSON"), ([1, 2], "object"),
])
def test_a_bad_body_is_400_naming_the_field(server, body, field):
    status, answer = vector(server, "fraud", body)
    assert status == 400 and answer["__type"] == "ValidationError", answer
    assert field in answer["message"]


def test_hostile_values_never_answer_500(server):
    for rows in ([{"customer_id": {"a": [1]}}], [{"customer_id": 10**400}], [{"customer_id": "\ud800"}],
                 [{"customer_id": [[[[1]]]]}], [{"customer_id": 1.5e308}], [{"customer_id": True}]):
        status, answer = vector(server, "fraud", {"EntityRows": rows})
        assert status in (200, 400), (rows, answer)
    status, answer = signed_post(server.url, "/get-online-features",
                                 {"features": ["customers:age"], "entities": {"customer_id": [{"x": 1}]}}, ADMIN)
    assert status in (200, 400), answer


def test_unsigned_and_wrongly_signed_requests_are_refused(server):
    status, answer = vector(server, "fraud", {"EntityRows": [{"customer_id": 1}]}, creds=None)
    assert status == 403 and answer["__type"] == "AccessForbidden" and "Signature" in answer["message"]
    status, answer = vector(server, "fraud", {"EntityRows": [{"customer_id": 1}]},
                            creds=Credentials(ADMIN.access_key, "not-the-secret"))
    assert status == 403 and "signature" in answer["message"]
    status, _ = signed_post(server.url, "/get-online-features",
                            {"feature_service": "fraud", "entities": {"customer_id": [1]}}, None)
    assert status == 403


def test_a_key_without_a_group_finds_no_service_reading_it(server):
    status, answer = vector(server, "fraud", {"EntityRows": [{"customer_id": 1}]}, creds=VERA)
    assert status == 404 and answer["__type"] == "ResourceNotFound" and "fraud" in answer["message"]
    assert "orders" not in answer["message"]  # the hidden group is not named
    status, answer = vector(server, "profile", {"EntityRows": [{"customer_id": 1}]}, creds=VERA)
    assert status == 200 and answer["Rows"] == [{"customer_id": 1, "age": 41, "segment": "gold"}]
    status, answer = signed_post(server.url, "/get-online-features",
                                 {"features": ["orders:total"], "entities": {"customer_id": [1]}}, VERA)
    assert status == 404 and answer["__type"] == "ResourceNotFound"
    status, answer = signed_post(server.url, "/get-online-features",
                                 {"feature_service": "fraud", "entities": {"customer_id": [1]}}, VERA)
    assert status == 404


# ----------------------------------------------------------------------------- Feast's endpoint

def feast(server, body, creds=ADMIN):
    return signed_post(server.url, "/get-online-features", body, creds)


def test_feast_feature_service_form(server, fs):
    status, answer = feast(server, {"feature_service": "fraud", "entities": {"customer_id": [1, 2, 3, 99]}})
    assert status == 200, answer
    names = ["customer_id", "age", "customers__score", "tags", "total", "orders__score"]
    assert answer["metadata"] == {"feature_names": names}
    assert len(answer["results"]) == len(names)
    key = answer["results"][0]
    assert key == {"values": [1, 2, 3, 99], "statuses": ["PRESENT"] * 4,
                   "event_timestamps": ["1970-01-01T00:00:00Z"] * 4}
    frame = fs.get_online_features("fraud", ROWS)
    by_name = dict(zip(names, answer["results"]))
    assert by_name["age"]["values"] == [41, 29, None, None]
    assert by_name["age"]["statuses"] == ["PRESENT", "PRESENT", "NOT_FOUND", "NOT_FOUND"]
    assert by_name["customers__score"]["values"] == [0.82, None, None, None]
    assert by_name["customers__score"]["statuses"] == ["PRESENT", "NULL_VALUE", "NOT_FOUND", "NOT_FOUND"]
    assert by_name["total"]["statuses"] == ["PRESENT", "NOT_FOUND", "OUTSIDE_MAX_AGE", "NOT_FOUND"]
    assert by_name["tags"]["values"] == [["web", "retail"], [], None, None]
    assert by_name["total"]["values"] == frame["total"].astype(object).where(frame["total"].notna(), None).tolist()


def test_feast_times_keep_feasts_precision():
    from store.server.vectors import feast_time

    assert [feast_time(us) for us in (None, 0, 1_764_000_000_000_000, 1_764_000_000_250_000, 1_764_000_000_000_123,
                                      -1_500_000)] == [
        "1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "2025-11-24T16:00:00Z", "2025-11-24T16:00:00.250Z",
        "2025-11-24T16:00:00.000123Z", "1969-12-31T23:59:58.500Z"]


def test_feast_full_feature_names(server):
    status, answer = feast(server, {"feature_service": "fraud", "entities": {"customer_id": [1]},
                                    "full_feature_names": True})
    assert status == 200, answer
    assert answer["metadata"]["feature_names"] == ["customer_id", "customers__age", "customers__score",
                                                   "customers__tags", "orders__total", "orders__score"]


def test_feast_features_form(server):
    status, answer = feast(server, {"features": ["orders:total", "customers:age", "orders:count"],
                                    "entities": {"customer_id": [1, 3, 99], "channel": ["web", "app", "web"]}})
    assert status == 200, answer
    assert answer["metadata"]["feature_names"] == ["customer_id", "total", "count", "age"]  # by group, as Feast
    by_name = dict(zip(answer["metadata"]["feature_names"], answer["results"]))
    assert by_name["age"] == {"values": [41, None, None], "statuses": ["PRESENT", "NOT_FOUND", "NOT_FOUND"],
                              "event_timestamps": [TS, "1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"]}
    assert by_name["total"]["values"] == [310.5, None, None]
    assert by_name["total"]["statuses"] == ["PRESENT", "OUTSIDE_MAX_AGE", "NOT_FOUND"]
    assert by_name["total"]["event_timestamps"][0] == "2026-11-29T10:00:00.250Z"  # Feast's precision
    assert by_name["count"]["values"] == [7, None, None]


@pytest.mark.parametrize("body, field", [
    ({"features": ["customers:age"]}, "entities"),
    ({"features": ["customers:age"], "entities": {"customer_id": [1, 2], "x": [1]}}, "entities"),
    ({"entities": {"customer_id": [1]}}, "features"),
    ({"features": ["customers:age"], "feature_service": "fraud", "entities": {"customer_id": [1]}}, "feature_service"),
    ({"features": ["customers.age"], "entities": {"customer_id": [1]}}, "features"),
    ({"features": ["customers:score", "orders:score"], "entities": {"customer_id": [1]}}, "full_feature_names"),
    ({"features": ["customers:age"], "entities": {"id": [1]}}, "customer_id"),
    ({"features": ["customers:age"], "entities": {"customer_id": [1]}, "full_feature_names": "yes"},
     "full_feature_names"),
    ({"features": ["customers:age"], "entities": {"customer_id": [1]}, "project": "x"}, "project"),
    ({"features": ["customers:age"], "entities": {"customer_id": [1]}, "request_context": {"amount": 3}},
     "request_context"),
    ({"feature_service": "fraud", "entities": {"customer_id": [1, 2]}, "request_context": [{"amount": 3}]},
     "request_context"),
])
def test_feast_bad_bodies_are_400_naming_the_field(server, body, field):
    status, answer = feast(server, body)
    assert status == 400 and answer["__type"] == "ValidationError", answer
    assert field in answer["message"]


def test_feast_unknown_names_are_404(server):
    assert feast(server, {"feature_service": "nope", "entities": {"customer_id": [1]}})[0] == 404
    assert feast(server, {"features": ["nope:age"], "entities": {"customer_id": [1]}})[0] == 404
    status, answer = feast(server, {"features": ["customers:nope"], "entities": {"customer_id": [1]}})
    assert status == 404 and "nope" in answer["message"]


# Runs in a child interpreter (Feast's proto_json.patch() changes protobuf's JSON codec globally).
# Importing ``feast`` needs its many dependencies, so the package is a bare namespace over the
# installed files (pip install --no-deps feast): the pydantic request/response models are taken
# from feast/feature_server.py by name, the protobuf classes from feast/protos.
FEAST_CHECK = r"""
import ast, importlib.util, json, sys, types
spec = importlib.util.find_spec("feast")
root = spec.submodule_search_locations[0]
package = types.ModuleType("feast")
package.__path__ = [root]
sys.modules["feast"] = package
with open(f"{root}/feature_server.py", encoding="utf-8") as fh:
    tree = ast.parse(fh.read())
wanted = {"GetOnlineFeaturesRequest", "FeatureVectorResponse", "OnlineFeaturesMetadataResponse",
          "OnlineFeaturesResponse"}
models = {}
exec("from typing import Any, Dict, List, Optional\nfrom pydantic import BaseModel, field_validator", models)
helpers = wanted | {"FeatureViewMetadataResponse"}  # what the metadata model refers to
exec(compile(ast.Module(body=[n for n in tree.body if isinstance(n, ast.ClassDef) and n.name in helpers],
                        type_ignores=[]), "feast/feature_server.py", "exec"), models)
assert wanted <= set(models), "Feast's feature_server.py lacks " + str(wanted - set(models))
from google.protobuf.json_format import Parse
from feast import proto_json
from feast.feature_server_utils import convert_response_to_dict
from feast.protos.feast.serving.ServingService_pb2 import GetOnlineFeaturesResponse
proto_json.patch()
given = json.load(sys.stdin)
for request in given["requests"]:
    models["GetOnlineFeaturesRequest"].model_validate(request)
for response in given["responses"]:
    models["OnlineFeaturesResponse"].model_validate(response)
    # protobuf's parser refuses null list elements; Feast's own client (RemoteOnlineStore) makes
    # each null an empty Value: parse a placeholder there, then empty it
    nulls = [(r, i) for r, result in enumerate(response["results"])
             for i, v in enumerate(result["values"]) if v is None]
    placeholder = json.loads(json.dumps(response))
    for r, i in nulls:
        placeholder["results"][r]["values"][i] = 0
    proto = Parse(json.dumps(placeholder), GetOnlineFeaturesResponse())
    for r, i in nulls:
        proto.results[r].values[i].Clear()
    again = convert_response_to_dict(proto)
    assert again == response, (again, response)
print(len(given["requests"]), len(given["responses"]))
"""


def test_feast_requests_and_answers_match_feasts_own_models(server):
    """Each request body we serve validates in Feast's pydantic GetOnlineFeaturesRequest; each
    answer validates in its OnlineFeaturesResponse, parses (json_format.Parse, with Feast's
    proto_json codec; nulls as Feast's RemoteOnlineStore reads them) into its protobuf
    GetOnlineFeaturesResponse, and converts back with Feast's own feature-server serializer
    (``convert_response_to_dict``) to exactly what we sent."""
    import subprocess
    import sys

    import importlib.util

    if importlib.util.find_spec("feast") is None:
        pytest.fail("The Feast compatibility test reads Feast's models from its installed files: "
                    "run scripts/test, or `pip install --no-deps feast==0.67.0`", pytrace=False)
    requests = [
        {"feature_service": "fraud", "entities": {"customer_id": [1, 2, 3, 99]}},
        {"feature_service": "fraud", "entities": {"customer_id": [1]}, "full_feature_names": True},
        {"features": ["customers:age", "customers:tags", "orders:total", "orders:count"],
         "entities": {"customer_id": [1, 2, 3, 99]}},
    ]
    responses = []
    for body in requests:
        status, answer = feast(server, body)
        assert status == 200, answer
        responses.append(answer)
    check = subprocess.run([sys.executable, "-c", FEAST_CHECK], input=json.dumps(
        {"requests": requests, "responses": responses}), capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr
    assert check.stdout.split() == ["3", "3"]


OLD_KEYS = """keys:
  - access_key_id: AKIDOLDVECTORS01
    secret_access_key: old-vectors-secret-1
    policy: {actions: ["sagemaker:GetOnlineFeatures"], feature_groups: ["customers"]}
  - access_key_id: AKIDOLDRECORDS01
    secret_access_key: old-records-secret-1
    policy: {actions: ["sagemaker:GetRecord"], feature_groups: ["*"]}
"""


def test_old_format_keys_need_the_action_and_every_group(store, tmp_path):
    """The older keys file: sagemaker:GetOnlineFeatures is the action of both routes, and the
    groups a key names bound the services it finds."""
    (tmp_path / "keys.yaml").write_text(OLD_KEYS)
    with LocalServer(store / "store", keys_path=tmp_path / "keys.yaml") as srv:
        vectors = Credentials("AKIDOLDVECTORS01", "old-vectors-secret-1")
        records = Credentials("AKIDOLDRECORDS01", "old-records-secret-1")
        status, answer = vector(srv, "profile", {"EntityRows": [{"customer_id": 2}]}, creds=vectors)
        assert status == 200 and answer["Rows"] == [{"customer_id": 2, "age": 29, "segment": "silver"}]
        assert vector(srv, "fraud", {"EntityRows": [{"customer_id": 2}]}, creds=vectors)[0] == 404
        for path, body in (("/FeatureServices/profile/OnlineFeatures", {"EntityRows": [{"customer_id": 2}]}),
                           ("/get-online-features", {"features": ["customers:age"], "entities": {"customer_id": [2]}})):
            status, answer = signed_post(srv.url, path, body, records)
            assert status == 403 and "sagemaker:GetOnlineFeatures" in answer["message"]
