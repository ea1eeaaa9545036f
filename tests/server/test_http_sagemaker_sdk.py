"""The SageMaker Python SDK (v2's FeatureGroup) against the local server: describe, ingest a small
DataFrame, then read the records back with boto3.

Skipped unless ``sagemaker<3`` is installed: the one skip of ``scripts/test``, and ``.ci/run`` runs
it. It is not in the test extra: one of its dependencies (smdebug-rulesconfig) installs a
top-level ``tests`` package that shadows this folder's, so run it from its own environment:
``python -m venv --system-site-packages v && v/bin/pip install 'sagemaker<3' && v/bin/python -m
pytest tests/server/test_http_sagemaker_sdk.py``.
"""
from __future__ import annotations

import os

import pandas as pd
import pytest
from install_support import need

need("boto3", "The HTTP API tests (they drive the server with boto3)")
os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
feature_group_module = pytest.importorskip(
    "sagemaker.feature_store.feature_group",
    reason="runs in an environment of its own with the SageMaker Python SDK v2, as .ci/run does (see the docstring); "
           "v3 moved FeatureGroup to sagemaker.mlops",
)

from store.server.process import LocalServer  # noqa: E402


@pytest.fixture
def server(tmp_path, monkeypatch):
    with LocalServer(tmp_path / "store") as srv:
        # The SDK's ingestion opens its own runtime clients, so the endpoint must come from the environment.
        for name, value in {"AWS_ENDPOINT_URL_SAGEMAKER": srv.url,
                            "AWS_ENDPOINT_URL_SAGEMAKER_FEATURESTORE_RUNTIME": srv.url,
                            "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local-secret",
                            "AWS_DEFAULT_REGION": "us-east-1"}.items():
            monkeypatch.setenv(name, value)
        yield srv


def test_sdk_feature_group_describe_ingest_then_boto3_get_record(server):
    import boto3
    from sagemaker.session import Session

    boto_session = boto3.session.Session()
    session = Session(boto_session=boto_session, sagemaker_client=boto_session.client("sagemaker"),
                      sagemaker_featurestore_runtime_client=boto_session.client("sagemaker-featurestore-runtime"),
                      default_bucket="local-bucket")
    frame = pd.DataFrame({"customer_id": [1, 2, 3], "age": [31, 45, 27], "score": [0.5, 0.25, 0.75],
                          "event_time": ["2024-01-01T00:00:00Z"] * 3})
    group = feature_group_module.FeatureGroup(name="sdk-customers", sagemaker_session=session)
    group.load_feature_definitions(frame.astype({"event_time": "string"}))
    group.create(s3_uri="s3://local-bucket/features", record_identifier_name="customer_id",
                 event_time_feature_name="event_time", role_arn="arn:aws:iam::123456789012:role/Local",
                 enable_online_store=True)
    description = group.describe()
    assert description["FeatureGroupStatus"] == "Created"
    assert {f["FeatureName"]: f["FeatureType"] for f in description["FeatureDefinitions"]} == {
        "customer_id": "Integral", "age": "Integral", "score": "Fractional", "event_time": "String"}
    group.ingest(data_frame=frame, max_workers=1, wait=True)
    runtime = boto_session.client("sagemaker-featurestore-runtime")
    got = runtime.get_record(FeatureGroupName="sdk-customers", RecordIdentifierValueAsString="2")
    assert {v["FeatureName"]: v["ValueAsString"] for v in got["Record"]} == {
        "customer_id": "2", "age": "45", "score": "0.25", "event_time": "2024-01-01T00:00:00Z"}
