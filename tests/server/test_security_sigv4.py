"""SigV4 covers everything that picks the operation or shapes the body (D5 of issue 19), and hostile
input never crashes an operation (D16).

Real requests, signed by boto3's own clients, are altered in each signed header, re-signed without
one of them in SignedHeaders, sent with an unsigned X-Amz-Target (or other x-amz-* header), with a
changed body or with a date outside the 15-minute window: each is refused with 403 and changes
nothing, and the unaltered request still works. Then every HTTP operation gets a set of hostile
bodies, paths and queries (lone surrogates, deep nesting, bad UTF-8, huge numbers) and never
answers 500."""
from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import itertools
import json
import urllib.parse
from dataclasses import dataclass, replace
from typing import Any, Callable
from unittest import mock

import pytest
from install_support import need

boto3 = need("boto3", "The HTTP API tests (they drive the server with boto3)")
from botocore.auth import SigV4Auth, SigV4QueryAuth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

from store import Feature, FeatureStore  # noqa: E402
from store.errors import ValidationError  # noqa: E402
from store.server.process import LocalServer  # noqa: E402
from store.server.service_models import OPERATIONS  # noqa: E402

KEY_ID, SECRET = "AKIDSIGV4ADMIN01", "sigv4-admin-secret-1"
ACCESS = f"""
users:
  - name: root
    roles: [{{role: admin}}]
keys:
  - access_key_id: {KEY_ID}
    secret_access_key: {SECRET}
    roles: [{{role: admin}}]
"""
VICTIM = "victim"
DEFINITIONS = [{"FeatureName": "id", "FeatureType": "Integral"}, {"FeatureName": "ts", "FeatureType": "String"},
               {"FeatureName": "age", "FeatureType": "Integral"}]
TS = "2026-01-01T00:00:00Z"
_ids = itertools.count(100)  # a fresh record id (and group) per test, so tests do not depend on each other


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sigv4")
    (folder / "access.yaml").write_text(ACCESS)
    with LocalServer(folder / "store", keys_path=folder / "access.yaml") as srv:
        create_group(srv, VICTIM)
        put(srv, 1, 30)
        yield srv


_clients: dict[tuple[int, str], Any] = {}


def client(srv: LocalServer, service: str, fresh: bool = False) -> Any:
    """The admin's boto3 client (made once per server: making one takes a tenth of a second)."""
    if fresh or (srv.port, service) not in _clients:
        made = srv.client(service, aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
        if fresh:
            return made
        _clients[srv.port, service] = made
    return _clients[srv.port, service]


def create_group(srv: LocalServer, name: str) -> None:
    client(srv, "sagemaker").create_feature_group(
        FeatureGroupName=name, RecordIdentifierFeatureName="id", EventTimeFeatureName="ts",
        FeatureDefinitions=DEFINITIONS, OnlineStoreConfig={"EnableOnlineStore": True})


def record(record_id: int, age: int, ts: str = TS) -> list[dict[str, str]]:
    return [{"FeatureName": "id", "ValueAsString": str(record_id)}, {"FeatureName": "ts", "ValueAsString": ts},
            {"FeatureName": "age", "ValueAsString": str(age)}]


def put(srv: LocalServer, record_id: int, age: int) -> None:
    client(srv, "sagemaker-featurestore-runtime").put_record(FeatureGroupName=VICTIM, Record=record(record_id, age))


# ----------------------------------------------------------------------------- real signed requests

@dataclass(frozen=True)
class Sent:
    """A request as a boto3 client put it on the wire."""

    method: str
    path: str  # with the query string
    headers: dict[str, str]  # as sent, in order
    body: bytes

    def header(self, name: str) -> str:
        return next(v for k, v in self.headers.items() if k.lower() == name)

    def without(self, name: str) -> dict[str, str]:
        return {k: v for k, v in self.headers.items() if k.lower() != name}

    @property
    def signed_headers(self) -> list[str]:
        return self.header("authorization").split("SignedHeaders=")[1].split(",")[0].split(";")


class _Captured(Exception):
    def __init__(self, sent: Sent) -> None:
        self.sent = sent


def _capture(request: Any, **_: Any) -> None:
    split = urllib.parse.urlsplit(request.url)
    headers = {"Host": split.netloc}  # what the HTTP client adds, and the signature covers
    headers.update((k, v.decode() if isinstance(v, bytes) else str(v)) for k, v in request.headers.items())
    body = request.body or b""
    raise _Captured(Sent(request.method, split.path + (f"?{split.query}" if split.query else ""), headers,
                         body.encode() if isinstance(body, str) else body))


def signed_by_boto3(srv: LocalServer, service: str, call: Callable[[Any], Any]) -> Sent:
    """What ``call`` on a boto3 client of ``service`` sends, signed with the admin key, without sending it."""
    c = client(srv, service, fresh=True)
    c.meta.events.register("before-send", _capture)
    with pytest.raises(_Captured) as captured:
        call(c)
    return captured.value.sent


def send(srv: LocalServer, sent: Sent, headers: dict[str, str] | list[tuple[str, str]] | None = None,
         body: bytes | None = None) -> tuple[int, dict[str, Any]]:
    """Send ``sent`` (or its headers/body replaced) as is; (status, JSON body)."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        conn.putrequest(sent.method, sent.path, skip_host=True, skip_accept_encoding=True)  # Host as given
        items = (headers if headers is not None else sent.headers)
        data = sent.body if body is None else body
        for name, value in (items.items() if isinstance(items, dict) else items):
            if name.lower() != "content-length":
                conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def sign(srv: LocalServer, sent: Sent, skip: str | None = None, now: dt.datetime | None = None) -> Sent:
    """``sent`` signed again by botocore's SigV4Auth with the right secret, leaving ``skip`` out of
    SignedHeaders (the header is still sent): a valid signature over everything else."""

    class Skipping(SigV4Auth):
        def headers_to_sign(self, request: AWSRequest) -> Any:
            headers = super().headers_to_sign(request)
            if skip:
                del headers[skip]
            return headers

    headers = {k: v for k, v in sent.headers.items() if k.lower() not in ("authorization", "x-amz-date")}
    request = AWSRequest(method=sent.method, url=f"http://127.0.0.1:{srv.port}{sent.path}", data=sent.body,
                         headers=headers)
    with mock.patch("botocore.auth.get_current_datetime", return_value=now or _utcnow()):
        Skipping(Credentials(KEY_ID, SECRET), "sagemaker", "us-east-1").add_auth(request)
    return replace(sent, headers=dict(request.headers.items()))


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


# ----------------------------------------------------------------------------- what each request does

KINDS = {"DescribeFeatureGroup": ["content-type", "host", "x-amz-date", "x-amz-target"],
         "DeleteFeatureGroup": ["content-type", "host", "x-amz-date", "x-amz-target"],
         "PutRecord": ["content-type", "host", "x-amz-date"], "DeleteRecord": ["host", "x-amz-date"]}
SIGNED = [(kind, header) for kind, headers in KINDS.items() for header in headers]


@dataclass
class Case:
    """One signed request to attack, and how to see on the store that it went through."""

    sent: Sent
    signed: list[str]  # what botocore signs for it (asserted, so the parametrization is real)
    done: Callable[[], bool]  # True once the unaltered request took effect
    record_id: int  # a record of the victim's made for this case


def state(srv: LocalServer, record_ids: list[int]) -> tuple[list[str], list[Any]]:
    """The feature groups and the given records of the victim: what an attack must leave unchanged."""
    groups = sorted(g["FeatureGroupName"] for g in client(srv, "sagemaker").list_feature_groups(
        MaxResults=100)["FeatureGroupSummaries"])
    rt = client(srv, "sagemaker-featurestore-runtime")
    return groups, [rt.get_record(FeatureGroupName=VICTIM, RecordIdentifierValueAsString=str(i)).get("Record")
                    for i in record_ids]


def age_of(srv: LocalServer, record_id: int) -> str | None:
    got = client(srv, "sagemaker-featurestore-runtime").get_record(FeatureGroupName=VICTIM,
                                                                   RecordIdentifierValueAsString=str(record_id))
    return {v["FeatureName"]: v["ValueAsString"] for v in got.get("Record", [])}.get("age")


def make_case(srv: LocalServer, kind: str) -> Case:
    """A fresh boto3-signed request of ``kind``, over a record (and for deletes a group) of its own."""
    n = next(_ids)
    put(srv, n, 40)
    if kind == "DescribeFeatureGroup":  # the report's repro: its target replaced by DeleteFeatureGroup
        sent = signed_by_boto3(srv, "sagemaker", lambda c: c.describe_feature_group(FeatureGroupName=VICTIM))
        return Case(sent, KINDS[kind], lambda: True, n)
    if kind == "DeleteFeatureGroup":
        name = f"doomed-{n}"
        create_group(srv, name)
        sent = signed_by_boto3(srv, "sagemaker", lambda c: c.delete_feature_group(FeatureGroupName=name))
        return Case(sent, KINDS[kind], lambda: name not in state(srv, [])[0], n)
    if kind == "PutRecord":
        sent = signed_by_boto3(srv, "sagemaker-featurestore-runtime",
                               lambda c: c.put_record(FeatureGroupName=VICTIM, Record=record(n, 41)))
        return Case(sent, KINDS[kind], lambda: age_of(srv, n) == "41", n)
    assert kind == "DeleteRecord"
    sent = signed_by_boto3(srv, "sagemaker-featurestore-runtime", lambda c: c.delete_record(
        FeatureGroupName=VICTIM, RecordIdentifierValueAsString=str(n), EventTime="2026-02-01T00:00:00Z"))
    return Case(sent, KINDS[kind], lambda: age_of(srv, n) is None, n)


def other_value(name: str, value: str, port: int) -> str:
    """A different value for a signed header, one the server would still route and read."""
    if name == "host":
        return f"localhost:{port}"
    if name == "x-amz-date":
        moment = dt.datetime.strptime(value, "%Y%m%dT%H%M%SZ") + dt.timedelta(seconds=1)
        return moment.strftime("%Y%m%dT%H%M%SZ")
    if name == "x-amz-target":
        return "SageMaker.DeleteFeatureGroup" if value != "SageMaker.DeleteFeatureGroup" else \
            "SageMaker.DescribeFeatureGroup"
    assert name == "content-type"
    return "text/plain" if value != "text/plain" else "application/json"


def refused(status: int, body: dict[str, Any]) -> str:
    """The message of an AWS-shaped 403, failing the test for anything else."""
    assert status == 403, body
    assert body["__type"] in ("AccessForbidden", "AccessDeniedException")
    return body["message"]


Attempt = tuple[Any, Any]  # (headers as a dict or a list of pairs, or None; body, or None): None keeps the sent one


def attack_then_succeed(srv: LocalServer, case: Case, attempts: list[Attempt]) -> list[str]:
    """Each attempt is refused with 403 and changes nothing; then the request as signed works.
    Returns the refusals' messages."""
    assert case.sent.signed_headers == case.signed
    before = state(srv, [1, case.record_id])
    messages = [refused(*send(srv, case.sent, headers, body)) for headers, body in attempts]
    assert state(srv, [1, case.record_id]) == before
    status, answer = send(srv, case.sent)
    assert status == 200, answer
    assert case.done()
    return messages


# ----------------------------------------------------------------------------- D5

@pytest.mark.parametrize("kind,header", SIGNED, ids=[f"{k}-{h}" for k, h in SIGNED])
def test_each_signed_header_changed_repeated_or_dropped_is_refused(server, kind, header):
    case = make_case(server, kind)
    name, value = next((k, v) for k, v in case.sent.headers.items() if k.lower() == header)
    other = other_value(header, value, server.port)
    attack_then_succeed(server, case, [({**case.sent.without(header), name: other}, None),  # changed
                                       ([*case.sent.headers.items(), (name, other)], None),  # sent twice
                                       (case.sent.without(header), None)])  # left out


@pytest.mark.parametrize("kind,header", SIGNED, ids=[f"{k}-{h}" for k, h in SIGNED])
def test_a_valid_signature_that_leaves_out_a_required_header_is_refused(server, kind, header):
    """Signed with the right secret over every header but one (still sent): refused, naming it."""
    case = make_case(server, kind)
    partial = sign(server, case.sent, skip=header)
    assert header not in partial.signed_headers
    messages = attack_then_succeed(server, case, [(partial.headers, None)])
    assert f"not signed: {header}" in messages[0]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name,value", [
    ("X-Amz-Target", "SageMaker.DeleteFeatureGroup"), ("Content-Encoding", "gzip"), ("X-Amz-Content-SHA256", None),
    ("X-Amz-Security-Token", "a-token"), ("X-Amz-Meta-Anything", "1"),
])
def test_an_unsigned_header_that_must_be_signed_is_refused(server, kind, name, value):
    case = make_case(server, kind)
    value = value or hashlib.sha256(case.sent.body).hexdigest()
    headers = {**case.sent.without(name.lower()), name: value}
    if name.lower() in case.signed:  # X-Amz-Target of the control plane: sign everything but it
        headers = {**sign(server, case.sent, skip=name.lower()).without(name.lower()), name: value}
    message = attack_then_succeed(server, case, [(headers, None)])[0]
    assert f"not signed: {name.lower()}" in message


@pytest.mark.parametrize("name,value", [
    ("Host", "["), ("Host", "]x:99999"), ("Host", "a b"), ("Host", "caf\xe9"), ("X-Amz-Date", "2026\xe9"),
    ("Content-Type", "\xe9\xff"), ("Authorization", "AWS4-HMAC-SHA256 " + "x" * 60_000),
])
def test_a_malformed_signed_header_is_refused_not_a_server_error(server, name, value):
    case = make_case(server, "PutRecord")
    attack_then_succeed(server, case, [({**case.sent.without(name.lower()), name: value}, None)])


def test_the_reported_replay_of_describe_as_delete_is_refused(server):
    """D5's repro: DescribeFeatureGroup signed over content-type;host;x-amz-date, re-sent as a delete."""
    body = json.dumps({"FeatureGroupName": VICTIM}).encode()
    request = AWSRequest("POST", f"http://127.0.0.1:{server.port}/", data=body,
                         headers={"Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(KEY_ID, SECRET), "sagemaker", "us-east-1").add_auth(request)
    sent = Sent("POST", "/", {"Host": f"127.0.0.1:{server.port}", **dict(request.headers.items())}, body)
    for target in ("SageMaker.DescribeFeatureGroup", "SageMaker.DeleteFeatureGroup"):
        message = refused(*send(server, sent, {**sent.headers, "X-Amz-Target": target}))
        assert "not signed: x-amz-target" in message
    assert VICTIM in state(server, [])[0]


@pytest.mark.parametrize("kind", KINDS)
def test_a_changed_body_is_refused(server, kind):
    """Another value, another group (the signed delete of a group re-aimed at the victim), a space
    more, no body: the signature covers the body whatever X-Amz-Content-SHA256 says."""
    case = make_case(server, kind)
    bodies = [b"{}"]
    if case.sent.body:
        data = json.loads(case.sent.body)
        if "Record" in data:
            data["Record"][2]["ValueAsString"] = "99"
        else:
            data["FeatureGroupName"] = VICTIM if data["FeatureGroupName"] != VICTIM else "other"
        bodies = [json.dumps(data).encode(), case.sent.body + b" ", b""]
    attack_then_succeed(server, case, [(None, body) for body in bodies])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("minutes", [-16, 16, -24 * 60])
def test_a_date_outside_the_skew_window_is_refused_both_ways(server, kind, minutes):
    case = make_case(server, kind)
    skewed = sign(server, case.sent, now=_utcnow() + dt.timedelta(minutes=minutes))
    assert skewed.header("x-amz-date") != case.sent.header("x-amz-date")
    messages = attack_then_succeed(server, case, [(skewed.headers, None)])
    assert "Signature expired" in messages[0]


@pytest.mark.parametrize("minutes", [-14, 14])
def test_a_date_inside_the_skew_window_is_accepted(server, minutes):
    case = make_case(server, "PutRecord")
    status, answer = send(server, sign(server, case.sent, now=_utcnow() + dt.timedelta(minutes=minutes)))
    assert status == 200, answer
    assert case.done()


def test_headers_a_signature_need_not_cover_may_change(server):
    """botocore leaves User-Agent and its amz-sdk-* retry headers unsigned; clients keep working."""
    case = make_case(server, "PutRecord")
    headers = {**case.sent.without("user-agent"), "User-Agent": "something else", "amz-sdk-request": "attempt=2; max=3",
               "X-Amzn-Trace-Id": "Root=1-0-0"}
    status, answer = send(server, case.sent, headers)
    assert status == 200, answer
    assert case.done()


def test_a_presigned_url_is_refused(server):
    """The query-string form of SigV4 is not accepted, so its window needs no second check."""
    case = make_case(server, "DeleteRecord")
    request = AWSRequest(method=case.sent.method, url=f"http://127.0.0.1:{server.port}{case.sent.path}")
    SigV4QueryAuth(Credentials(KEY_ID, SECRET), "sagemaker", "us-east-1", expires=60).add_auth(request)
    split = urllib.parse.urlsplit(request.url)
    presigned = Sent(case.sent.method, f"{split.path}?{split.query}", {"Host": split.netloc}, b"")
    before = state(server, [case.record_id])
    assert "presigned URL" in refused(*send(server, presigned))
    assert state(server, [case.record_id]) == before


# ----------------------------------------------------------------------------- D16: hostile input

FUZZ_GROUP = "target"
FUZZ_ARN = f"arn:aws:sagemaker:us-east-1:000000000000:feature-group/{FUZZ_GROUP}"
FUZZ_RECORD = [{"FeatureName": "id", "ValueAsString": "1"}, {"FeatureName": "ts", "ValueAsString": TS},
               {"FeatureName": "v", "ValueAsString": "text"}, {"FeatureName": "n", "ValueAsString": "7"},
               {"FeatureName": "l", "ValueAsStringList": ["a", "b"]}]
# Every HTTP operation with a valid request: (method, path with query, body). A new operation without
# a row here fails test_every_operation_has_a_hostile_row.
VALID: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "CreateFeatureGroup": ("POST", "/", {
        "FeatureGroupName": "fuzzed", "RecordIdentifierFeatureName": "id", "EventTimeFeatureName": "ts",
        "FeatureDefinitions": [{"FeatureName": "id", "FeatureType": "String"},
                               {"FeatureName": "ts", "FeatureType": "String"},
                               {"FeatureName": "vec", "FeatureType": "Fractional", "CollectionType": "Vector",
                                "CollectionConfig": {"VectorConfig": {"Dimension": 2}}}],
        "OnlineStoreConfig": {"EnableOnlineStore": True, "TtlDuration": {"Unit": "Days", "Value": 1}},
        "Description": "d", "Tags": [{"Key": "k", "Value": "v"}]}),
    "DescribeFeatureGroup": ("POST", "/", {"FeatureGroupName": FUZZ_GROUP}),
    "ListFeatureGroups": ("POST", "/", {"NameContains": "t", "CreationTimeAfter": 0, "CreationTimeBefore": 4e9,
                                        "SortBy": "Name", "SortOrder": "Ascending", "MaxResults": 10}),
    "UpdateFeatureGroup": ("POST", "/", {"FeatureGroupName": FUZZ_GROUP,
                                         "FeatureAdditions": [{"FeatureName": "added", "FeatureType": "String"}],
                                         "OnlineStoreConfig": {"TtlDuration": {"Unit": "Days", "Value": 2}}}),
    "DeleteFeatureGroup": ("POST", "/", {"FeatureGroupName": "doomed"}),
    "DescribeFeatureMetadata": ("POST", "/", {"FeatureGroupName": FUZZ_GROUP, "FeatureName": "v"}),
    "UpdateFeatureMetadata": ("POST", "/", {"FeatureGroupName": FUZZ_GROUP, "FeatureName": "v", "Description": "d",
                                            "ParameterAdditions": [{"Key": "k", "Value": "v"}],
                                            "ParameterRemovals": ["z"]}),
    "Search": ("POST", "/", {"Resource": "FeatureGroup", "SearchExpression": {"Filters": [
        {"Name": "FeatureGroupName", "Operator": "Contains", "Value": "t"}]}, "SortBy": "Name", "MaxResults": 5}),
    "AddTags": ("POST", "/", {"ResourceArn": FUZZ_ARN, "Tags": [{"Key": "k", "Value": "v"}]}),
    "ListTags": ("POST", "/", {"ResourceArn": FUZZ_ARN, "MaxResults": 50}),
    "DeleteTags": ("POST", "/", {"ResourceArn": FUZZ_ARN, "TagKeys": ["k"]}),
    "PutRecord": ("PUT", f"/FeatureGroup/{FUZZ_GROUP}", {"Record": FUZZ_RECORD,
                                                         "TtlDuration": {"Unit": "Days", "Value": 1}}),
    "GetRecord": ("GET", f"/FeatureGroup/{FUZZ_GROUP}?RecordIdentifierValueAsString=1&FeatureName=v"
                         "&ExpirationTimeResponse=Enabled", None),
    "BatchGetRecord": ("POST", "/BatchGetRecord", {"Identifiers": [{
        "FeatureGroupName": FUZZ_GROUP, "RecordIdentifiersValueAsString": ["1", "2"], "FeatureNames": ["v"]}],
        "ExpirationTimeResponse": "Enabled"}),
    "DeleteRecord": ("DELETE", f"/FeatureGroup/{FUZZ_GROUP}?RecordIdentifierValueAsString=9&EventTime={TS}", None),
    "BatchWriteRecord": ("POST", "/BatchWriteRecord", {"Entries": [{"FeatureGroupName": FUZZ_GROUP,
                                                                    "Record": FUZZ_RECORD}]}),
    "ListRecords": ("POST", f"/FeatureGroup/{FUZZ_GROUP}/ListRecords", {"MaxResults": 5}),
}
_HOLE = "\x00hostile\x00"
# JSON tokens put in place of each value of a valid body: lone surrogates, nesting the parser
# accepts and nesting it does not, numbers past every range, NaN, the wrong kinds.
HOSTILE_TOKENS = ['"\\ud800"', '"a\\udfffb"', '"\\udc00\\ud800"', "[" * 400 + "]" * 400, "[" * 100_000,
                  '{"a":' * 400 + "1" + "}" * 400, "1e400", "-Infinity", "NaN", "1" + "0" * 30, "-1", "0.5", "null",
                  "{}", "[]", "true", '"\\u0000"', '"' + "x" * 70_000 + '"']
HOSTILE_BODIES = [b"", b"null", b"[]", b'"\\ud800"', b"1", b"NaN", b"{" * 100_000, b"[" * 100_000,
                  b'{"a":' * 5_000 + b"1" + b"}" * 5_000, b"\xff\xfe{}", b'{"FeatureGroupName": "\xed\xa0\x80"}',
                  b'{"\\ud800": 1}', b'{"a": 1, "a": "\\ud800"}', b"{" + b'"a": 1, ' * 50_000 + b'"b": 2}']
# Percent-encoded text for each name or identifier in a runtime path or query.
HOSTILE_URL_TEXT = ["%ED%A0%80", "%ED%B0%80abc", "%C0%AF", "%00", "%FF", "%F0%9F%98%80", "..%2F..%2Fetc",
                    "x" * 5_000, "%0A", ""]


def _holes(value: Any, path: tuple = ()) -> list[tuple]:
    """The path of every value (leaves and containers) under ``value``."""
    found = [path] if path else []
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in children:
        found += _holes(item, (*path, key))
    return found


def _with_hole(value: Any, path: tuple) -> Any:
    if not path:
        return _HOLE
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _with_hole(value[path[0]], path[1:])
    return copy


def hostile_requests(op: str) -> list[tuple[str, str, bytes]]:
    """(method, path, body) variants of ``op``'s valid request, each hostile in one place."""
    method, path, body = VALID[op]
    found = [(method, path, b) for b in HOSTILE_BODIES]
    for hole in _holes(body or {}):
        text = json.dumps(_with_hole(body, hole))
        found += [(method, path, text.replace(json.dumps(_HOLE), token).encode()) for token in HOSTILE_TOKENS]
    route, _, query = path.partition("?")
    data = json.dumps(body).encode() if body is not None else b""
    if route.startswith("/FeatureGroup/"):
        found += [(method, route.replace(FUZZ_GROUP, text, 1) + (f"?{query}" if query else ""), data)
                  for text in HOSTILE_URL_TEXT]
    for name, value in urllib.parse.parse_qsl(query):
        found += [(method, f"{route}?{query.replace(f'{name}={value}', f'{name}={text}')}", data)
                  for text in [*HOSTILE_URL_TEXT, "1e400", "99999999999999999999999", "-1", "NaN"]]
    return found


@pytest.fixture(scope="module")
def open_server(tmp_path_factory):
    """An open server (no keys): hostile bodies reach the model checks and the handlers."""
    folder = tmp_path_factory.mktemp("hostile")
    with FeatureStore(folder / "store") as fs:
        fs.create_feature_group(FUZZ_GROUP, "id", "ts", [
            Feature("id"), Feature("ts"), Feature("v"), Feature("n", "Integral"), Feature("f", "Fractional"),
            Feature("l", "String", collection="List")])
        fs.create_feature_group("doomed", "id", "ts", [Feature("id"), Feature("ts")])
    with LocalServer(folder / "store") as srv:
        yield srv


def raw_send(srv: LocalServer, op: str, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    control = path == "/"
    headers = {"Host": f"127.0.0.1:{srv.port}",
               "Content-Type": "application/x-amz-json-1.1" if control else "application/json"}
    if control:
        headers["X-Amz-Target"] = f"SageMaker.{op}"
    status, answer = send(srv, Sent(method, path, headers, body))
    return status, answer


def test_every_operation_has_a_hostile_row():
    assert set(VALID) == {op for ops in OPERATIONS.values() for op in ops}


@pytest.mark.parametrize("op", sorted(VALID))
def test_hostile_input_to_every_operation_is_a_client_error_never_500(open_server, op):
    method, path, body = VALID[op]
    status, answer = raw_send(open_server, op, method, path, json.dumps(body).encode() if body is not None else b"")
    assert status == 200, answer  # the valid request works, so each variant below is hostile in one place only
    failures = []
    for method, path, data in hostile_requests(op):
        status, answer = raw_send(open_server, op, method, path, data)
        if status >= 500 or (status >= 400 and not answer.get("message")):
            failures.append((status, answer, method, path[:120], data[:120], data[-120:]))
    assert not failures, failures[:5]
    assert "Unexpected error" not in open_server.output()


@pytest.mark.parametrize("record_value", [
    {"FeatureName": "v", "ValueAsString": "\\ud800"}, {"FeatureName": "v", "ValueAsString": "ok\\udfff"},
    {"FeatureName": "l", "ValueAsStringList": ["a", "\\ud800"]},
])
def test_a_lone_surrogate_in_a_put_value_is_a_validation_error_naming_the_feature(open_server, record_value):
    """D16's repro: a "\\ud800" escape in a PutRecord value gave 500 (UnicodeEncodeError)."""
    entries = [e for e in FUZZ_RECORD if e["FeatureName"] != record_value["FeatureName"]]
    body = json.dumps({"Record": [*entries, {"FeatureName": "x"}]}).replace(
        '{"FeatureName": "x"}', json.dumps(record_value).replace("\\\\", "\\")).encode()
    status, answer = raw_send(open_server, "PutRecord", "PUT", f"/FeatureGroup/{FUZZ_GROUP}", body)
    assert (status, answer["__type"]) == (400, "ValidationError"), answer
    assert f"(feature {record_value['FeatureName']!r})" in answer["message"] and "lone surrogate" in answer["message"]


def test_a_refused_update_changes_nothing(open_server):
    """A TtlDuration without its Unit is refused before the feature additions are made."""
    body = {"FeatureGroupName": FUZZ_GROUP, "FeatureAdditions": [{"FeatureName": "late", "FeatureType": "String"}],
            "OnlineStoreConfig": {"TtlDuration": {"Value": 3}}}
    status, answer = raw_send(open_server, "UpdateFeatureGroup", "POST", "/", json.dumps(body).encode())
    assert (status, answer["__type"]) == (400, "ValidationException") and "Unit and Value" in answer["message"]
    status, answer = raw_send(open_server, "DescribeFeatureGroup", "POST", "/",
                              json.dumps({"FeatureGroupName": FUZZ_GROUP}).encode())
    assert "late" not in [d["FeatureName"] for d in answer["FeatureDefinitions"]]
