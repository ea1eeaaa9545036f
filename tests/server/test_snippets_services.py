"""The feature-service snippets the studio shows: the Python one runs on a store, and the HTTP
ones send the documented request (POST /FeatureServices/{name}/OnlineFeatures) with a SigV4
signature the server's keyring accepts."""
from __future__ import annotations

import contextlib
import http.server
import io
import json
import shlex
import subprocess
import threading

import pytest

from store import FeatureStore
from store.server.auth import AccessKey, Keyring, SignedRequest
from store.snippets import online_features_curl, online_features_http, online_features_python

ROWS = [{"customer_id": 100239, "merchant_id": "M0011"}]


@pytest.fixture
def catcher():
    """A local HTTP server that records each request it gets and answers an empty vector."""
    seen: list[SignedRequest] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the standard library's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            path, _, query = self.path.partition("?")
            seen.append(SignedRequest("POST", path, query, [(k.lower(), v) for k, v in self.headers.items()], body))
            answer = json.dumps({"FeatureVectors": []}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()


def test_the_python_snippet_reads_the_services_vector(tmp_path):
    with FeatureStore(tmp_path / "store") as fs:
        fs.create_feature_group("customers", "customer_id", "event_time",
                                [{"name": "customer_id", "type": "Integral"}, {"name": "event_time", "type": "String"},
                                 {"name": "risk_segment", "type": "String"}])
        fs.put_record("customers", {"customer_id": 100239, "event_time": "2026-11-01T00:00:00Z", "risk_segment": "low"})
        fs.create_feature_service("fraud_detection", ["customers"])
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(online_features_python("fraud_detection", ROWS, store_path=str(tmp_path / "store")), {})  # noqa: S102
    assert "risk_segment" in printed.getvalue() and "low" in printed.getvalue() and "present" in printed.getvalue()


def test_the_python_snippet_passes_request_values_only_when_there_are_some():
    assert "request=" not in online_features_python("fraud_detection", ROWS)
    assert "request={'amount': 912.5}" in online_features_python("fraud_detection", ROWS, {"amount": 912.5})


def test_the_signed_http_snippet_sends_the_documented_request_with_a_valid_signature(catcher):
    url, seen = catcher
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        exec(online_features_http("fraud detection", ROWS, {"amount": 912.5}, endpoint=url), {})  # noqa: S102
    assert printed.getvalue().strip() == "{'FeatureVectors': []}"
    (sent,) = seen
    assert sent.raw_path == "/FeatureServices/fraud%20detection/OnlineFeatures"
    assert json.loads(sent.body) == {"EntityRows": ROWS, "Request": {"amount": 912.5}}
    assert Keyring([AccessKey("local", "local")]).verify(sent).access_key_id == "local"


def test_the_curl_snippet_sends_the_same_request_signed_by_curl(catcher):
    url, seen = catcher
    command = online_features_curl("fraud_detection", ROWS, endpoint=url).replace("\\\n", " ")
    out = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=30, check=True)
    assert json.loads(out.stdout) == {"FeatureVectors": []}
    (sent,) = seen
    assert sent.raw_path == "/FeatureServices/fraud_detection/OnlineFeatures"
    assert json.loads(sent.body) == {"EntityRows": ROWS}
    assert Keyring([AccessKey("local", "local")]).verify(sent).access_key_id == "local"
