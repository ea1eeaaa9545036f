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

boto3 = pytest.importorskip("boto3", reason="the HTTP API tests drive the server with boto3")
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


def client(srv: LocalServer, service: str) -> Any:
    return srv.client(service, aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)


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
    c = client(srv, service)
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

@dataclass
class Case:
    """One signed request to attack: what it does when it goes through, checked on the store."""

    sent: Sent
    signed: list[str]  # what botocore signs for it (asserted, so the parametrization below is real)
    done: Callable[[], bool]  # True once the unaltered request took effect


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


def make_case(srv: LocalServer, kind: str) -> tuple[Case, list[int]]:
    """A fresh signed request of ``kind`` and the record ids whose state it may change."""
    n = next(_ids)
    put(srv, n, 40)
    if kind == "DescribeFeatureGroup":  # the report's repro: its target replaced by DeleteFeatureGroup
        sent = signed_by_boto3(srv, "sagemaker", lambda c: c.describe_feature_group(FeatureGroupName=VICTIM))
        return Case(sent, ["content-type", "host", "x-amz-date", "x-amz-target"], lambda: True), [n]
    if kind == "DeleteFeatureGroup":
        name = f"doomed-{n}"
        create_group(srv, name)
        sent = signed_by_boto3(srv, "sagemaker", lambda c: c.delete_feature_group(FeatureGroupName=name))
        return Case(sent, ["content-type", "host", "x-amz-date", "x-amz-target"],
                    lambda: name not in state(srv, [])[0]), [n]
    if kind == "PutRecord":
        sent = signed_by_boto3(srv, "sagemaker-featurestore-runtime",
                               lambda c: c.put_record(FeatureGroupName=VICTIM, Record=record(n, 41)))
        return Case(sent, ["content-type", "host", "x-amz-date"], lambda: age_of(srv, n) == "41"), [n]
    assert kind == "DeleteRecord"
    sent = signed_by_boto3(srv, "sagemaker-featurestore-runtime", lambda c: c.delete_record(
        FeatureGroupName=VICTIM, RecordIdentifierValueAsString=str(n), EventTime="2026-02-01T00:00:00Z"))
    return Case(sent, ["host", "x-amz-date"], lambda: age_of(srv, n) is None), [n]


KINDS = {"DescribeFeatureGroup": ["content-type", "host", "x-amz-date", "x-amz-target"],
         "DeleteFeatureGroup": ["content-type", "host", "x-amz-date", "x-amz-target"],
         "PutRecord": ["content-type", "host", "x-amz-date"], "DeleteRecord": ["host", "x-amz-date"]}
SIGNED = [(kind, header) for kind, headers in KINDS.items() for header in headers]


def other_value(name: str, value: str, port: int) -> str:
    """A different value for a signed header, one the server would still route and read."""
    if name == "host":
        return f"localhost:{port}"
    if name == "x-amz-date":
        moment = dt.datetime.strptime(value, "%Y%m%dT%H%M%SZ") + dt.timedelta(seconds=1)
        return moment.strftime("%Y%m%dT%H%M%SZ")
    if name == "x-amz-target":
        return "SageMaker.DescribeFeatureGroup" if value.endswith("Delete" "FeatureGroup") else \
            "SageMaker.DeleteFeatureGroup"
    assert name == "content-type"
    return "text/plain" if value != "text/plain" else "application/json"


def refused(status: int, body: dict[str, Any]) -> str:
    """The message of an AWS-shaped 403, failing the test for anything else."""
    assert status == 403, body
    assert body["__type"] in ("AccessForbidden", "AccessDeniedException")
    return body["message"]


def attack_then_succeed(srv: LocalServer, case: Case, ids: list[int], attempts: list[tuple[dict | list, bytes]]
                        ) -> list[str]:
    """Each (headers, body) attempt is refused and changes nothing; then the real request works."""
    assert case.sent.signed_headers == case.signed
    before = state(srv, ids)
    messages = [refused(*send(srv, case.sent, headers, body)) for headers, body in attempts]
    assert state(srv, ids) == before
    status, answer = send(srv, case.sent)
    assert status == 200, answer
    assert case.done()
    return messages


# ----------------------------------------------------------------------------- D5

@pytest.mark.parametrize("kind,header", SIGNED, ids=[f"{k}-{h}" for k, h in SIGNED])
def test_each_signed_header_changed_repeated_or_dropped_is_refused(server, kind, header):
    case, ids = make_case(server, kind)
    name, value = next((k, v) for k, v in case.sent.headers.items() if k.lower() == header)
    other = other_value(header, value, server.port)
    attempts: list[tuple[Any, Any]] = [({**case.sent.without(header), name: other}, None),  # changed
                                       ([*case.sent.headers.items(), (name, other)], None)]  # sent twice
    if header != "host":  # HTTP/1.1 requires Host: without it the server answers 400 before any check
        attempts.append((case.sent.without(header), None))
    attack_then_succeed(server, case, ids, attempts)


@pytest.mark.parametrize("kind,header", SIGNED, ids=[f"{k}-{h}" for k, h in SIGNED])
def test_a_valid_signature_that_leaves_out_a_required_header_is_refused(server, kind, header):
    """Signed with the right secret over every header but one (still sent): refused, naming it."""
    case, ids = make_case(server, kind)
    partial = sign(server, case.sent, skip=header)
    assert header not in partial.signed_headers
    messages = attack_then_succeed(server, case, ids, [(partial.headers, None)])
    assert f"not signed: {header}" in messages[0]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name,value", [
    ("X-Amz-Target", "SageMaker.DeleteFeatureGroup"), ("Content-Encoding", "gzip"), ("X-Amz-Content-SHA256", None),
    ("X-Amz-Security-Token", "a-token"), ("X-Amz-Meta-Anything", "1"),
])
def test_an_unsigned_header_that_must_be_signed_is_refused(server, kind, name, value):
    case, ids = make_case(server, kind)
    value = value or hashlib.sha256(case.sent.body).hexdigest()
    headers = {**case.sent.without(name.lower()), name: value}
    if name.lower() in case.signed:  # X-Amz-Target of the control plane: sign everything but it
        headers = {**sign(server, case.sent, skip=name.lower()).without(name.lower()), name: value}
    message = attack_then_succeed(server, case, ids, [(headers, None)])[0]
    assert f"not signed: {name.lower()}" in message


def test_the_reported_replay_of_describe_as_delete_is_refused(server):
    """D5's repro: DescribeFeatureGroup signed over content-type;host;x-amz-date, re-sent as a delete."""
    body = json.dumps({"FeatureGroupName": VICTIM}).encode()
    request = AWSRequest("POST", f"http://127.0.0.1:{server.port}/", data=body,
                         headers={"Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(KEY_ID, SECRET), "sagemaker", "us-east-1").add_auth(request)
    sent = Sent("POST", "/", dict(request.headers.items()), body)
    for target in ("SageMaker.DescribeFeatureGroup", "SageMaker.DeleteFeatureGroup"):
        message = refused(*send(server, sent, {**sent.headers, "X-Amz-Target": target}))
        assert "not signed: x-amz-target" in message
    assert VICTIM in state(server, [])[0]


@pytest.mark.parametrize("kind", KINDS)
def test_a_changed_body_is_refused(server, kind):
    case, ids = make_case(server, kind)
    other = case.sent.body.replace(b'"41"', b'"99"').replace(VICTIM.encode(), b"other") + b" " if case.sent.body \
        else b"{}"
    attack_then_succeed(server, case, ids, [(None, other), (None, b"")] if case.sent.body else [(None, other)])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("minutes", [-16, 16, -24 * 60])
def test_a_date_outside_the_skew_window_is_refused_both_ways(server, kind, minutes):
    case, ids = make_case(server, kind)
    skewed = sign(server, case.sent, now=_utcnow() + dt.timedelta(minutes=minutes))
    assert skewed.header("x-amz-date") != case.sent.header("x-amz-date")
    messages = attack_then_succeed(server, case, ids, [(skewed.headers, None)])
    assert "Signature expired" in messages[0]


@pytest.mark.parametrize("minutes", [-14, 14])
def test_a_date_inside_the_skew_window_is_accepted(server, minutes):
    case, ids = make_case(server, "PutRecord")
    status, answer = send(server, sign(server, case.sent, now=_utcnow() + dt.timedelta(minutes=minutes)))
    assert status == 200, answer
    assert case.done()


def test_headers_a_signature_need_not_cover_may_change(server):
    """botocore leaves User-Agent and its amz-sdk-* retry headers unsigned; clients keep working."""
    case, ids = make_case(server, "PutRecord")
    headers = {**case.sent.without("user-agent"), "User-Agent": "something else", "amz-sdk-request": "attempt=2; max=3",
               "X-Amzn-Trace-Id": "Root=1-0-0"}
    status, answer = send(server, case.sent, headers)
    assert status == 200, answer
    assert case.done()


def test_a_presigned_url_is_refused(server):
    """The query-string form of SigV4 is not accepted, so its window needs no second check."""
    case, ids = make_case(server, "DeleteRecord")
    request = AWSRequest(method=case.sent.method, url=f"http://127.0.0.1:{server.port}{case.sent.path}")
    SigV4QueryAuth(Credentials(KEY_ID, SECRET), "sagemaker", "us-east-1", expires=60).add_auth(request)
    split = urllib.parse.urlsplit(request.url)
    presigned = Sent(case.sent.method, f"{split.path}?{split.query}", {"Host": split.netloc}, b"")
    before = state(server, ids)
    assert "presigned URL" in refused(*send(server, presigned))
    assert state(server, ids) == before
