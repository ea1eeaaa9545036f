"""Copy-paste client code against ``featurestore serve``: the same GetRecord a service would make
for one record, with boto3 and with curl (the server is open without ``--keys``), and a feature
service's online vector (``POST /FeatureServices/{name}/OnlineFeatures``) from the Python API,
over SigV4-signed HTTP with botocore's signer, and with curl's ``--aws-sigv4``.

Studio-facing: the Online lookup tab and the Feature services page show them. They are text about
the server, not part of it, so they sit beside ``upload`` (a client of the store) where the studio
may import them."""
from __future__ import annotations

import json
import shlex
from typing import Any, Mapping, Sequence
from urllib.parse import quote, urlencode

DEFAULT_ENDPOINT = "http://127.0.0.1:8080"
REGION = "us-east-1"
SIGNING_NAME = "sagemaker"  # the server's signing name (store.server.auth.SERVICE)


def get_record_boto3(group: str, record_id: str, endpoint: str = DEFAULT_ENDPOINT) -> str:
    return (
        "import boto3\n\n"
        "runtime = boto3.client(\n"
        '    "sagemaker-featurestore-runtime",\n'
        f"    endpoint_url={endpoint!r},  # featurestore serve\n"
        '    region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local",\n'
        ")\n"
        f"record = runtime.get_record(FeatureGroupName={group!r}, RecordIdentifierValueAsString={str(record_id)!r})\n"
        'print({f["FeatureName"]: f["ValueAsString"] for f in record.get("Record", [])})\n'
    )


def get_record_curl(group: str, record_id: str, endpoint: str = DEFAULT_ENDPOINT) -> str:
    url = f"{endpoint.rstrip('/')}/FeatureGroup/{quote(group, safe='')}?" + urlencode(
        {"RecordIdentifierValueAsString": str(record_id)})
    return f"curl -s {shlex.quote(url)}"


def _online_body(entity_rows: Sequence[Mapping[str, Any]], request: Mapping[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"EntityRows": [dict(r) for r in entity_rows]}
    if request:
        body["Request"] = dict(request)
    return body


def online_features_url(service: str, endpoint: str = DEFAULT_ENDPOINT) -> str:
    return f"{endpoint.rstrip('/')}/FeatureServices/{quote(service, safe='')}/OnlineFeatures"


def online_features_python(service: str, entity_rows: Sequence[Mapping[str, Any]],
                           request: Mapping[str, Any] | None = None, store_path: str = ".featurestore") -> str:
    """The vector from the Python API on the store's folder (``request`` values only when given)."""
    extra = f", request={dict(request)!r}" if request else ""
    return (
        "from store import FeatureStore\n\n"
        f"fs = FeatureStore({store_path!r})\n"
        f"vector = fs.get_online_features({service!r}, entity_rows={[dict(r) for r in entity_rows]!r}{extra})\n"
        "print(vector.T)\n"
    )


def online_features_http(service: str, entity_rows: Sequence[Mapping[str, Any]],
                         request: Mapping[str, Any] | None = None, endpoint: str = DEFAULT_ENDPOINT) -> str:
    """The vector over HTTP, the request signed with botocore's SigV4 signer (what a server started
    with ``--keys`` checks; an open one ignores the signature)."""
    body = json.dumps(_online_body(entity_rows, request))
    return (
        "import json\n"
        "import urllib.request\n\n"
        "from botocore.auth import SigV4Auth\n"
        "from botocore.awsrequest import AWSRequest\n"
        "from botocore.credentials import Credentials\n\n"
        f"body = json.dumps({json.loads(body)!r})\n"
        f"signed = AWSRequest(\"POST\", {online_features_url(service, endpoint)!r}, data=body,\n"
        "                    headers={\"Content-Type\": \"application/json\"})\n"
        "# Your access key from the server's --keys file (any key while the server is open).\n"
        f"SigV4Auth(Credentials(\"local\", \"local\"), {SIGNING_NAME!r}, {REGION!r}).add_auth(signed)\n"
        "call = urllib.request.Request(signed.url, data=body.encode(), headers=dict(signed.headers), method=\"POST\")\n"
        "with urllib.request.urlopen(call) as response:\n"
        "    print(json.load(response))\n"
    )


def online_features_curl(service: str, entity_rows: Sequence[Mapping[str, Any]],
                         request: Mapping[str, Any] | None = None, endpoint: str = DEFAULT_ENDPOINT) -> str:
    """The vector with curl, signed by curl's own ``--aws-sigv4`` (curl 7.75 or later)."""
    return (f"curl -s -X POST {shlex.quote(online_features_url(service, endpoint))} \\\n"
            f"  --aws-sigv4 {shlex.quote(f'aws:amz:{REGION}:{SIGNING_NAME}')} --user local:local \\\n"
            "  -H 'Content-Type: application/json' \\\n"
            f"  -d {shlex.quote(json.dumps(_online_body(entity_rows, request)))}")
