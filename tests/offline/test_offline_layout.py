"""The offline store's layout and upkeep: partition choices read as-is by other engines,
repartitioning, compaction into sorted files, background flushing and compaction, the flush at
exit, fsync before the manifest lists a file, storage figures, and version-1 stores."""
from __future__ import annotations

import glob
import os
import sqlite3
import subprocess
import sys
import time

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
from datafiles import transactions

from store import Feature, FeatureStore, ValidationError
from tests.conftest import offline_files, read_as_is
from store.demo import GROUPS
from store.core.background import Maintainer

pytestmark = pytest.mark.storage  # every test on `fs` runs on a local folder and on S3

TRANSACTIONS = next(g for g in GROUPS if g.name == "transactions")
FOLDERS = {"day": "year=2026/month=09/day=01", "hour": "year=2026/month=09/day=01/hour=00",
           "month": "year=2026/month=09", "none": ""}


def make(fs: FeatureStore, partition_by: str = "day", rows: int = 3000, days: int = 10) -> pd.DataFrame:
    fs.create_feature_group("t", "transaction_id", "event_time", TRANSACTIONS.features, partition_by=partition_by)
    data = transactions(rows, days=days)
    fs.ingest("t", data)
    return data


def answers(fs: FeatureStore) -> tuple:
    entity = pd.DataFrame({"transaction_id": ["X0000001", "X0000500", "nope"],
                           "at": ["2026-09-03T00:00:00Z", "2026-09-30T00:00:00Z", "2026-09-05T00:00:00Z"]})
    frames = (fs.as_of("t"), fs.as_of("t", "2026-09-04T12:00:00Z"), fs.history("t", "X0000010"),
              fs.build_dataset(entity, ["t:amount"], "at", record=False).to_pandas())
    return tuple(f.astype(object).where(f.notna(), None).to_dict("records") for f in frames)


@pytest.mark.parametrize("partition_by", ["day", "hour", "month", "none"])
def test_each_layout_is_read_as_it_is_by_duckdb(fs, partition_by):
    data = make(fs, partition_by)
    files = offline_files(fs, "t", "data")
    assert len(files) == {"day": 10, "hour": 240, "month": 1, "none": 1}[partition_by]
    assert all(f"/t/data/{FOLDERS[partition_by]}" in f for f in files[:1])
    if fs._ctx.files.storage.local:  # DuckDB by itself, with a glob
        data_dir = os.path.join(fs._ctx.files.storage.base, "t", "data")
        hive = partition_by != "none"
        n = duckdb.sql(f"SELECT count(*) FROM read_parquet('{data_dir}/**/*.parquet', hive_partitioning = {hive})")
    else:  # DuckDB over the bucket's folder, through pyarrow's S3 filesystem
        n = duckdb.from_arrow(read_as_is(fs, "t", "data")).aggregate("count(*)")
    assert n.fetchall() == [(len(data),)]
    assert fs.describe("t")["partition_by"] == partition_by == fs.feature_group("t").partition_by


def test_a_bad_layout_is_refused(fs):
    with pytest.raises(ValidationError, match="partition_by='week'"):
        fs.create_feature_group("t", "id", "ts", [Feature("id", "Integral"), Feature("ts", "String")], partition_by="week")


def test_repartition_rewrites_a_group_without_changing_an_answer(fs):
    make(fs, "hour")
    fs.put_record("t", {"transaction_id": "late", "customer_id": 1, "event_time": "2026-09-02T00:00:00Z"})
    before = answers(fs)
    result = fs.compact("t", repartition="day")
    assert (result["files_before"], result["files_after"]) == (241, 10) and fs.feature_group("t").partition_by == "day"
    assert answers(fs) == before
    assert not [f for f in offline_files(fs, "t", "data") if "/hour=" in f]  # no file of the old layout is left
    assert len(offline_files(fs, "t", "_trash")) == 241  # kept a while for queries that listed them
    with pytest.raises(ValidationError, match="repartition needs a group"):
        fs.compact(repartition="day")


def test_compaction_writes_files_sorted_by_record_then_event_time(fs):
    fs.create_feature_group("t", "transaction_id", "event_time", TRANSACTIONS.features)
    data = transactions(2000, days=1)
    for part in range(4):  # four ingests: four small files per day partition
        fs.ingest("t", data.iloc[part::4])
    before = answers(fs)
    assert fs.describe("t")["offline_files"] == 4
    assert fs.compact("t")["files_after"] == 1
    assert answers(fs) == before
    (path,) = offline_files(fs, "t", "data")
    ids = pq.read_table(path, columns=["transaction_id"], filesystem=fs._ctx.files.storage.fs).column(0).to_pylist()
    assert ids == sorted(ids)


def test_background_maintenance_flushes_within_the_interval_and_compacts(tmp_path):
    with FeatureStore(tmp_path / "s", background=True, flush_interval=0.3) as fs:
        fs.create_feature_group("g", "id", "ts", [Feature("id", "Integral"), Feature("ts", "String")])
        for i in range(5):
            fs.put_record("g", {"id": i, "ts": "2026-01-01T00:00:00Z"})
            time.sleep(0.4)  # each round of the maintainer finds new puts: one small file each
        deadline = time.monotonic() + 5
        while fs.describe("g")["staged_rows"] and time.monotonic() < deadline:
            time.sleep(0.1)
        info = fs.describe("g")
        assert info["staged_rows"] == 0 and info["offline_rows"] == 5 and info["offline_files"] >= 4
    with FeatureStore(tmp_path / "s") as fs:  # compaction every 0.2 s instead of every 30 s
        maintainer = Maintainer(fs._ctx, flush_interval=0.2, compact_interval=0.2).start()
        try:
            deadline = time.monotonic() + 10
            while fs.describe("g")["offline_files"] > 1 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            maintainer.stop()
        assert fs.describe("g")["offline_files"] == 1 and len(fs.as_of("g")) == 5


def test_a_script_that_never_closes_its_store_still_reaches_parquet(tmp_path):
    script = ("import sys; from store import Feature, FeatureStore\n"
              "fs = FeatureStore(sys.argv[1])\n"
              "fs.create_feature_group('g', 'id', 'ts', [Feature('id', 'Integral'), Feature('ts', 'String')])\n"
              "fs.put_record('g', {'id': 1, 'ts': '2026-01-01T00:00:00Z'})\n")
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "s")], check=True, timeout=60)
    assert glob.glob(str(tmp_path / "s" / "offline" / "g" / "data" / "**" / "*.parquet"), recursive=True)


def test_files_and_their_folders_are_fsynced_before_the_manifest_lists_them(tmp_path, monkeypatch):
    """On disk (an object store makes an object visible only once its upload is whole)."""
    fs = FeatureStore(tmp_path / "s")
    synced: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    make(fs, "day", rows=300, days=2)
    files = sorted(glob.glob(os.path.join(fs.path, "offline", "t", "data", "**", "*.parquet"), recursive=True))
    assert len(files) == 2
    for path in files:
        assert any(s.endswith(".tmp") and os.path.basename(path) in s for s in synced)  # the data, then renamed
        assert os.path.dirname(path) in synced  # and the folder holding the new name


def test_storage_figures(fs):
    make(fs, "day", rows=1000, days=3)
    info = fs.describe("t")
    assert info["online_bytes"] > 0 and info["offline_bytes"] > 0 and info["offline_files"] == 3
    assert info["oldest_event_us"] == pd.Timestamp("2026-09-01T00:00:00Z").value // 1000 + info["oldest_event_us"] % 3_600_000_000
    (today,) = info["growth_per_day"]
    assert today["rows"] == 1000 and today["bytes"] == info["offline_bytes"]
    fs.compact("t")  # rewrites are not growth
    assert fs.describe("t")["growth_per_day"] == [today]
    assert [s["group"].name for s in fs.storage()] == ["t"]


def test_a_version_1_store_opens_unchanged_and_keeps_its_hour_layout(tmp_path):
    path = tmp_path / "old"
    with FeatureStore(path) as fs:
        make(fs, "hour", rows=500, days=2)
    conn = sqlite3.connect(path / "featurestore.db")  # take it back to what version 1 wrote
    for table, column in (("feature_groups", "partition_by"), ("feature_groups", "offline_retention_seconds"),
                          ("group_state", "retained_from_us")):
        conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    conn.execute("DROP TABLE offline_growth")
    conn.execute("DROP TABLE leases")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with FeatureStore(path) as fs:
        assert fs.feature_group("t").partition_by == "hour" and len(fs.as_of("t")) == 500
        fs.ingest("t", transactions(24, days=1).assign(transaction_id=lambda d: "new" + d["transaction_id"]))
        assert glob.glob(str(path / "offline" / "t" / "data" / "*" / "*" / "*" / "hour=*" / "*.parquet"))
        assert fs.describe("t")["offline_rows"] == 524
