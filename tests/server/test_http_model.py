"""The HTTP server's pieces without a server: the vendored service models, request validation,
signature checks and key files."""
from __future__ import annotations

import datetime as dt

import pytest
from install_support import missing, need

from store.errors import AccessDenied, ValidationError
from store.server import control, runtime
from store.server.auth import Keyring, SignedRequest
from store.server.model import parse_json, parse_rest
from store.server.paging import page
from store.server.service_models import OPERATIONS, SHAPES
from store.server.vendor import CONTROL, RUNTIME, SUPPORTED, extract


class Query(dict):
    def getlist(self, key: str) -> list[str]:
        return self.get(key, [])


def test_handlers_cover_exactly_the_vendored_operations():
    assert set(runtime.HANDLERS) == set(OPERATIONS[RUNTIME]) == set(SUPPORTED[RUNTIME])
    assert set(control.HANDLERS) == set(OPERATIONS[CONTROL]) == set(SUPPORTED[CONTROL])


def test_vendored_shapes_match_the_installed_botocore():
    botocore_session = need("botocore.session", "The vendored model check")
    loader = botocore_session.get_session().get_component("data_loader")
    if "BatchWriteRecord" not in loader.load_service_model(RUNTIME, "service-2")["operations"]:
        missing("The installed botocore predates BatchWriteRecord and ListRecords (botocore >= 1.43.37 has them)")
    import json

    assert json.loads(json.dumps(extract(loader))) == [OPERATIONS, SHAPES], "run: python -m store.server.vendor"


def test_json_requests_are_checked_against_every_constraint():
    with pytest.raises(ValidationError) as exc:
        parse_json(CONTROL, "CreateFeatureGroup", b'{"FeatureGroupName": "a b", "RecordIdentifierFeatureName": "id",'
                                                  b'"FeatureDefinitions": [{"FeatureName": "id", "FeatureType": "Bool"}],'
                                                  b'"Description": 5, "Tags": [{"Key": "k$", "Value": "v"}]}')
    message = str(exc.value)
    assert message.startswith("5 validation errors detected")
    for part in ("'a b' at 'FeatureGroupName'", "FeatureDefinitions[0].FeatureType", "enum value set",
                 "at 'Description' failed to satisfy constraint: Member must be a string", "Tags[0].Key",
                 "Value null at 'EventTimeFeatureName'"):
        assert part in message
    parsed = parse_json(CONTROL, "ListFeatureGroups", b'{"CreationTimeAfter": "2024-01-01T00:00:00Z", "Unknown": 1}')
    assert parsed == {"CreationTimeAfter": 1704067200.0}
    with pytest.raises(ValidationError, match="Exactly one member"):
        parse_json(CONTROL, "CreateFeatureGroup", b'{"FeatureGroupName": "g", "RecordIdentifierFeatureName": "id", '
                   b'"EventTimeFeatureName": "t", "FeatureDefinitions": [{"FeatureName": "v", "FeatureType": '
                   b'"Fractional", "CollectionType": "Vector", "CollectionConfig": {}}]}')
    for body in (b"[1]", b"{", b"[" * 100_000):
        with pytest.raises(ValidationError, match="JSON"):
            parse_json(CONTROL, "ListFeatureGroups", body)


def test_rest_requests_bind_the_path_and_query_string():
    parsed = parse_rest(RUNTIME, "GetRecord", {"FeatureGroupName": "g"},
                        Query(RecordIdentifierValueAsString=["7"], FeatureName=["a", "b"]), b"")
    assert parsed == {"FeatureGroupName": "g", "RecordIdentifierValueAsString": "7", "FeatureNames": ["a", "b"]}
    with pytest.raises(ValidationError, match="RecordIdentifierValueAsString"):
        parse_rest(RUNTIME, "GetRecord", {"FeatureGroupName": "g"}, Query(), b"")
    with pytest.raises(ValidationError, match="enum"):
        parse_rest(RUNTIME, "DeleteRecord", {"FeatureGroupName": "g"}, Query(
            RecordIdentifierValueAsString=["1"], EventTime=["x"], DeletionMode=["Purge"]), b"")
    parsed = parse_rest(RUNTIME, "ListRecords", {"FeatureGroupName": "g"}, Query(), b'{"MaxResults": 5}')
    assert parsed == {"FeatureGroupName": "g", "MaxResults": 5}


def test_patterns_read_java_unicode_classes():
    ok = b'{"ResourceArn": "arn:aws:sagemaker:us-east-1:000000000000:feature-group/g", "Tags": [{"Key": "\\u00e9quipe 1", "Value": ""}]}'
    assert parse_json(CONTROL, "AddTags", ok)["Tags"][0]["Key"] == "\u00e9quipe 1"
    with pytest.raises(ValidationError, match="pattern"):
        parse_json(CONTROL, "AddTags", ok.replace(b"quipe", b"qu!pe"))


def test_page_tokens_resume_and_reject_garbage():
    items = list(range(7))
    first, token = page(items, None, 3)
    second, token = page(items, token, 3)
    third, token = page(items, token, 3)
    assert (first, second, third, token) == ([0, 1, 2], [3, 4, 5], [6], None)
    for garbage in ("xyz", "eyJvZmZzZXQiOiAtMX0="):  # the second is {"offset": -1}
        with pytest.raises(ValidationError, match="NextToken"):
            page(items, garbage, 3)


def _keyring(tmp_path, body: str) -> Keyring:
    path = tmp_path / "keys.json"
    path.write_text(body)
    return Keyring.load(str(path))


KEYS_JSON = ('{"keys": [{"access_key_id": "AKIDTEST", "secret_access_key": "s3cret-value", '
             '"policy": {"actions": ["sagemaker:Get*"], "feature_groups": ["a*"]}}]}')


def _signed(method: str = "GET", path: str = "/FeatureGroup/abc", query: str = "RecordIdentifierValueAsString=1",
            body: bytes = b"", secret: str = "s3cret-value", at: dt.datetime | None = None) -> SignedRequest:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=f"http://127.0.0.1:9/{path.lstrip('/')}?{query}", data=body)
    stamp = (at or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    request.headers["X-Amz-Date"] = stamp
    request.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials("AKIDTEST", secret), "sagemaker", "eu-west-1")
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    signed = signer.signed_headers(signer.headers_to_sign(request))
    headers = [("host", "127.0.0.1:9"), ("x-amz-date", stamp), ("authorization",
               f"AWS4-HMAC-SHA256 Credential=AKIDTEST/{stamp[:8]}/eu-west-1/sagemaker/aws4_request, "
               f"SignedHeaders={signed}, Signature={signature}")]
    return SignedRequest(method, path, query, headers, body)


def test_keyring_accepts_botocore_signatures_and_refuses_altered_requests(tmp_path):
    need("botocore", "The SigV4 keyring test")
    keys = _keyring(tmp_path, KEYS_JSON)
    key = keys.verify(_signed())
    assert key.allows_action("SageMaker:GetRecord") and not key.allows_action("sagemaker:PutRecord")
    assert key.allows_group("abc") and not key.allows_group("b")
    assert "s3cret" not in repr(key) + repr(keys)
    good = _signed(body=b'{"a": 1}', method="POST")
    for altered in (SignedRequest(good.method, good.raw_path, good.raw_query, good.headers, b'{"a": 2}'),
                    SignedRequest(good.method, "/FeatureGroup/abd", good.raw_query, good.headers, good.body),
                    SignedRequest(good.method, good.raw_path, "RecordIdentifierValueAsString=2", good.headers, good.body),
                    SignedRequest("PUT", good.raw_path, good.raw_query, good.headers, good.body),
                    _signed(secret="other-secret"),
                    _signed(at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=16)),
                    SignedRequest("GET", "/", "", [("host", "x")], b"")):
        with pytest.raises(AccessDenied):
            keys.verify(altered)


@pytest.mark.parametrize("body, words", [
    ("keys: []", "non-empty list"),
    ("keys: [{access_key_id: A, secret_access_key: short, policy: {actions: ['sagemaker:*'], feature_groups: ['*']}}]",
     "at least 8"),
    ("keys: [{access_key_id: A, secret_access_key: long-enough, policy: {actions: ['s3:*'], feature_groups: ['*']}}]",
     "sagemaker:"),
    ("keys: [{access_key_id: A, secret_access_key: long-enough, policy: {actions: ['sagemaker:*']}}]", "feature_groups"),
    ("keys: [{access_key_id: A, secret_access_key: long-enough, policy: {actions: ['sagemaker:*'], feature_groups: ['*']}},"
     " {access_key_id: A, secret_access_key: long-enough, policy: {actions: ['sagemaker:*'], feature_groups: ['*']}}]",
     "twice"),
    ("{not yaml", "Cannot read"),
])
def test_bad_key_files_are_refused_without_echoing_secrets(tmp_path, body, words):
    with pytest.raises(ValidationError) as exc:
        _keyring(tmp_path, body)
    assert words in str(exc.value) and "long-enough" not in str(exc.value)
