"""Every maintenance path on an encrypted store, on a local folder and on S3: compaction,
repartition, retention, the expiry sweep, flush, and the background thread that runs them.
Each rewrites or writes Parquet files, which must come out encrypted with the store's key, in
the row groups an outside DuckDB reads, with no row lost (issue 20: compaction raised
``TypeError: ... multiple values for keyword argument 'row_group_size'``)."""
from __future__ import annotations

import time

import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import offline_files
from store import Feature, FeatureStore
from store.storage import encryption as crypto
from store.core import upkeep as tasks
from store.core.background import Maintainer

pytestmark = pytest.mark.storage  # each test on a local folder and on S3

FEATURES = [Feature("id", "Integral"), Feature("ts", "String"), Feature("secret", "String"),
            Feature("v", "Fractional")]


@pytest.fixture
def encrypted(tmp_path, offline_location):
    """An encrypted store (as `featurestore init --encrypt` makes it) with its files where the test's
    storage axis says, and the store's key."""
    path = tmp_path / "store"
    path.mkdir()
    key = crypto.new_key()
    crypto.mark(str(path), key)
    store = FeatureStore(path, key=key, offline=offline_location)
    yield store
    store.close()


def small_files(fs: FeatureStore, n: int = 4, day: str = "2026-10-01") -> None:
    """``n`` ingests of one row each: ``n`` small files in one partition."""
    for i in range(n):
        fs.ingest("g", pd.DataFrame({"id": [i], "ts": [f"{day}T0{i}:00:00Z"], "secret": [f"zebra-{i}"],
                                     "v": [float(i)]}))


def assert_encrypted(fs: FeatureStore) -> list[str]:
    """Every data file of ``g`` has an encrypted footer and row groups an outside DuckDB can decrypt."""
    paths = offline_files(fs, "g", "data")
    assert paths
    storage = fs._ctx.files.storage
    for path in paths:
        with storage.fs.open_input_file(path) as fh:
            head, size = fh.read(4), fh.size()
            fh.seek(size - 4)
            assert head == fh.read(4) == b"PARE", path  # Parquet's magic for an encrypted footer
            meta = pq.ParquetFile(fh, decryption_properties=fs._ctx.files.read_options["decryption_properties"]).metadata
        assert all(meta.row_group(i).num_rows <= crypto.ROW_GROUP_ROWS for i in range(meta.num_row_groups))
    return paths


def test_compaction_rewrites_an_encrypted_store(encrypted):
    fs = encrypted
    fs.create_feature_group("g", "id", "ts", FEATURES)
    small_files(fs)
    assert fs.describe("g")["offline_files"] == 4
    done = fs.compact("g")
    assert (done["files_before"], done["files_after"], done["rows"]) == (4, 1, 4)
    assert len(assert_encrypted(fs)) == 1
    assert sorted(fs.as_of("g")["secret"]) == [f"zebra-{i}" for i in range(4)]


def test_repartition_rewrites_an_encrypted_store(encrypted):
    fs = encrypted
    fs.create_feature_group("g", "id", "ts", FEATURES)
    small_files(fs, 2, "2026-10-01")
    small_files(fs, 2, "2026-11-02")
    fs.compact("g", repartition="month")
    assert fs.feature_group("g").partition_by == "month"
    paths = assert_encrypted(fs)
    assert [p.split("/data/")[1].rsplit("/", 1)[0] for p in paths] == [
        "year=2026/month=10", "year=2026/month=11"]
    assert len(fs.as_of("g")) == 2  # ids 0 and 1, each newest in November
    assert fs.query("SELECT count(*) AS n FROM g")["n"].iloc[0] == 4


def test_retention_drops_history_of_an_encrypted_store(encrypted, monkeypatch):
    fs = encrypted
    fs.create_feature_group("g", "id", "ts", FEATURES, offline_retention=pd.Timedelta(days=30))
    old = pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=100)
    fs.ingest("g", pd.DataFrame({"id": [1, 1, 2], "v": [1.0, 2.0, 3.0], "secret": ["a", "b", "c"], "ts": [
        (old + pd.Timedelta(days=d)).strftime("%Y-%m-%dT%H:%M:%SZ") for d in (0, 1, 0)]}))
    later = tasks.now_us() + 60 * 86_400_000_000  # sixty days on, the writes above are outside the window
    monkeypatch.setattr(tasks, "now_us", lambda: later)
    assert fs.compact("g")["rows_dropped"] == 1  # record 1's older row; each record's state stays
    assert_encrypted(fs)
    assert sorted(fs.as_of("g")["secret"]) == ["b", "c"]


def test_sweep_expired_on_an_encrypted_store(encrypted):
    fs = encrypted
    fs.create_feature_group("g", "id", "ts", [Feature("id", "Integral"), Feature("ts", "Fractional"),
                                              Feature("secret", "String")], ttl=10)
    now = time.time()
    fs.put_record("g", {"id": 1, "ts": now - 100, "secret": "old"})
    fs.put_record("g", {"id": 2, "ts": now, "secret": "new"})
    assert fs.sweep_expired("g") == 1
    assert fs.flush() == 3  # two puts and the expiry's delete marker
    assert_encrypted(fs)
    assert bool(fs.history("g", 1).iloc[-1]["is_deleted"])
    assert fs.get_record("g", 2)["secret"] == "new"


def test_flush_writes_encrypted_files(encrypted):
    fs = encrypted
    fs.create_feature_group("g", "id", "ts", FEATURES)
    for i in range(3):
        fs.put_record("g", {"id": i, "ts": "2026-10-01T00:00:00Z", "secret": f"zebra-{i}", "v": 1.0})
    assert fs.flush() == 3
    assert len(assert_encrypted(fs)) == 1
    assert sorted(fs.as_of("g")["secret"]) == ["zebra-0", "zebra-1", "zebra-2"]


def test_background_maintenance_flushes_and_compacts_an_encrypted_store(encrypted):
    fs = encrypted
    fs.create_feature_group("g", "id", "ts", FEATURES)
    small_files(fs)
    fs.put_record("g", {"id": 9, "ts": "2026-10-01T09:00:00Z", "secret": "zebra-9", "v": 9.0})
    maintainer = Maintainer(fs._ctx, flush_interval=0.2, compact_interval=0.2).start()
    try:
        deadline = time.monotonic() + 20
        while (fs.describe("g")["offline_files"] > 1 or fs.describe("g")["staged_rows"]) \
                and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        maintainer.stop()
    info = fs.describe("g")
    assert (info["offline_files"], info["offline_rows"], info["staged_rows"]) == (1, 5, 0)
    assert_encrypted(fs)
