"""Copy-paste client code for one record against ``featurestore serve``: the same GetRecord a
service would make, with boto3 and with curl (the server is open without ``--keys``).

Studio-facing: the Online lookup tab shows them. They are text about the server, not part of it,
so they sit beside ``upload`` (a client of the store) where the studio may import them."""
from __future__ import annotations

import shlex
from urllib.parse import quote, urlencode

DEFAULT_ENDPOINT = "http://127.0.0.1:8080"


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
