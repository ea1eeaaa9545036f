"""Two ``featurestore serve`` processes on one store (offline files on S3, online records in each
online backend), driven by real boto3 clients: a write through one server is read through the
other at once, and four clients putting and getting through both for a few seconds lose nothing.

With the registry in the store folder's SQLite file both servers open that folder (one
machine). With the registry on PostgreSQL the second server opens the store by its URL alone,
as a server on another machine would: nothing local is shared."""
from __future__ import annotations

import threading
import time
import uuid

import pytest

from store import Feature, FeatureStore
from store.server.process import LocalServer

pytestmark = [pytest.mark.slow, pytest.mark.online]
FEATURES = [Feature("id", "String"), Feature("ts", "String"), Feature("client", "Integral"), Feature("n", "Integral")]


def record(rid: str, client: int, n: int) -> list[dict]:
    return [{"FeatureName": "id", "ValueAsString": rid}, {"FeatureName": "ts", "ValueAsString": "2026-11-01T00:00:00Z"},
            {"FeatureName": "client", "ValueAsString": str(client)}, {"FeatureName": "n", "ValueAsString": str(n)}]


def test_two_servers_on_one_store_share_every_write(tmp_path, online_location, registry_location, s3_server,
                                                    monkeypatch):
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "store"
    with FeatureStore(path, offline=f"s3://featurestore-tests/servers-{uuid.uuid4().hex[:8]}",
                      online=online_location, registry=registry_location) as fs:
        fs.create_feature_group("g", "id", "ts", FEATURES)
        other = fs.shared_url or path  # "another machine": the URL, and a folder of its own made from it
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with LocalServer(path) as one, LocalServer(other) as two:
        first, second = one.client("sagemaker-featurestore-runtime"), two.client("sagemaker-featurestore-runtime")
        first.put_record(FeatureGroupName="g", Record=record("hello", 0, 1))
        assert second.get_record(FeatureGroupName="g", RecordIdentifierValueAsString="hello")["Record"] == record(
            "hello", 0, 1)  # at once, through the other server

        written: dict[int, list[str]] = {}
        errors: list[BaseException] = []
        deadline = time.monotonic() + 4.0

        def client(c: int) -> None:
            try:
                put = (one if c % 2 else two).client("sagemaker-featurestore-runtime")
                get = (two if c % 2 else one).client("sagemaker-featurestore-runtime")
                mine: list[str] = []
                n = 0
                while time.monotonic() < deadline or (n < 20 and time.monotonic() < deadline + 60):  # busy CI too
                    rid = f"c{c}-{n}"
                    put.put_record(FeatureGroupName="g", Record=record(rid, c, n))
                    mine.append(rid)
                    got = get.get_record(FeatureGroupName="g", RecordIdentifierValueAsString=rid)["Record"]
                    assert got == record(rid, c, n), (rid, got)  # read through the other server at once
                    n += 1
                written[c] = mine
            except BaseException as exc:  # noqa: BLE001 - reported by the test below
                errors.append(exc)

        threads = [threading.Thread(target=client, args=(c,)) for c in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors[0]
        assert len(written) == 4 and all(len(w) >= 20 for w in written.values())
        every = sorted(r for w in written.values() for r in w)
        for server in (first, second):
            for start in range(0, len(every), 100):
                chunk = every[start:start + 100]
                found = server.batch_get_record(Identifiers=[{"FeatureGroupName": "g",
                                                              "RecordIdentifiersValueAsString": chunk}])
                assert len(found["Records"]) == len(chunk) and not found["Errors"]
    for folder in {path, other}:
        with FeatureStore(folder) as fs:  # the servers stopped gracefully: every put reached the offline store
            assert set(fs.query("SELECT id FROM g")["id"]) == {"hello", *every}
            assert fs.describe("g")["online_records"] == len(every) + 1
    if registry_location:  # nothing local was needed
        assert [p.name for p in (tmp_path / "cache" / "featurestore").iterdir()] == [fs._ctx.db.schema]
        assert sorted(p.name for p in (tmp_path / "cache" / "featurestore" / fs._ctx.db.schema).iterdir()) == [
            "featurestore.yaml"]
