"""HTTPS: `serve --certfile --keyfile` with a certificate for 127.0.0.1, driven by boto3 verifying
it against that CA file; a non-loopback bind without TLS and keys is refused unless --insecure."""
from __future__ import annotations

import subprocess
import sys

import pytest
from install_support import need

boto3 = need("boto3", "The HTTPS test (it drives the server with boto3)")

from store.server.process import LocalServer  # noqa: E402


def self_signed(folder) -> tuple[str, str]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return str(cert), str(key)


@pytest.mark.slow
def test_boto3_talks_https_to_the_server_and_checks_its_certificate(tmp_path):
    cert, key = self_signed(tmp_path)
    with LocalServer(tmp_path / "store", tls=(cert, key)) as srv:
        assert srv.url.startswith("https://")
        control = srv.client("sagemaker", verify=cert)
        control.create_feature_group(
            FeatureGroupName="tls", RecordIdentifierFeatureName="id", EventTimeFeatureName="ts",
            FeatureDefinitions=[{"FeatureName": "id", "FeatureType": "Integral"},
                                {"FeatureName": "ts", "FeatureType": "String"}],
            OnlineStoreConfig={"EnableOnlineStore": True})
        runtime = srv.client("sagemaker-featurestore-runtime", verify=cert)
        runtime.put_record(FeatureGroupName="tls", Record=[{"FeatureName": "id", "ValueAsString": "1"},
                                                           {"FeatureName": "ts", "ValueAsString": "2026-11-01T00:00:00Z"}])
        assert runtime.get_record(FeatureGroupName="tls", RecordIdentifierValueAsString="1")["Record"]
        from botocore.config import Config
        from botocore.exceptions import SSLError

        distrustful = srv.client("sagemaker", verify=True, config=Config(retries={"max_attempts": 1}))
        with pytest.raises(SSLError):  # a client that does not trust the certificate refuses the server
            distrustful.list_feature_groups()
        for client in (control, runtime, distrustful):
            client.close()  # idle TLS connections would hold up the server's graceful stop


def test_a_public_bind_without_tls_and_keys_is_refused_unless_insecure(tmp_path):
    result = subprocess.run([sys.executable, "-m", "store.cli", "--store", str(tmp_path / "s"), "serve", "--host",
                             "0.0.0.0", "--port", "1"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "serve it with --certfile/--keyfile (HTTPS) and --keys" in result.stderr
