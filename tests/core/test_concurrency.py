"""Several processes reading and writing one store: no "database is locked", no lost write."""
from __future__ import annotations

import multiprocessing as mp
import time

import pandas as pd
import pytest

from store import Feature, FeatureStore
from store.databases import open_database

pytestmark = pytest.mark.slow
FEATURES = [Feature("id", "String"), Feature("ts", "Fractional"), Feature("writer", "Integral"), Feature("n", "Integral")]


def writer(path: str, w: int, seconds: float, out: mp.Queue) -> None:
    fs = FeatureStore(path)
    written, i, deadline = [], 0, time.time() + seconds
    while time.time() < deadline:
        if i % 50 == 49:  # a small bulk batch now and then
            ids = [f"w{w}-{i}-{k}" for k in range(20)]
            fs.ingest("g", pd.DataFrame({"id": ids, "ts": [float(i)] * 20, "writer": [w] * 20, "n": [i] * 20}))
            written += ids
        else:
            fs.put_record("g", {"id": f"w{w}-{i}", "ts": float(i), "writer": w, "n": i})
            written.append(f"w{w}-{i}")
        if i % 400 == 399:
            fs.flush("g")
        i += 1
    fs.close()
    out.put(written)


def reader(path: str, seconds: float, out: mp.Queue) -> None:
    fs = FeatureStore(path)
    reads, deadline = 0, time.time() + seconds
    while time.time() < deadline:
        fs.get_record("g", "w0-0")
        fs.batch_get_records("g", [f"w1-{k}" for k in range(50)])
        if reads % 20 == 0:
            fs.as_of("g")
        reads += 1
    out.put(reads)


@pytest.mark.online  # online in the store's database (SQLite or PostgreSQL), Redis or PostgreSQL (after each commit)
def test_four_writers_and_two_readers_lose_nothing(tmp_path, online_location, registry_location):
    path = str(tmp_path / "store")
    FeatureStore(path, online=online_location, registry=registry_location).create_feature_group("g", "id", "ts", FEATURES)
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=writer, args=(path, w, 4.0, out)) for w in range(4)]
    procs += [ctx.Process(target=reader, args=(path, 4.0, out)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    written = [r for r in results if isinstance(r, list)]
    assert len(written) == 4 and all(len(w) > 50 for w in written)
    expected = {i for w in written for i in w}
    if online_location:  # every writer applied its own writes: none was left for a recovery (which opening does)
        db = open_database(path, None, None)
        assert db.get().execute("SELECT count(*) FROM online_outbox").fetchone() == (0,)
        db.close()
    fs = FeatureStore(path)
    offline_ids = fs.query("SELECT id FROM g")["id"]
    assert len(offline_ids) == len(expected) and set(offline_ids) == expected
    online = fs.batch_get_records("g", sorted(expected))
    assert len(online) == len(expected)
    fs.compact("g")
    assert set(fs.as_of("g")["id"]) == expected
    fs.close()


def test_reads_during_continuous_compaction_never_fail_or_change(tmp_path):
    """Compaction swaps files under readers that listed the old ones: they still read them (from
    _trash/), and every answer counts exactly the rows committed around the read."""
    import threading

    import numpy as np

    fs = FeatureStore(tmp_path / "store")
    fs.create_feature_group("g", "id", "ts", [Feature("id", "Integral"), Feature("ts", "Fractional"), Feature("v", "Integral")])
    stop, batches, errors, wrong = time.time() + 3, [0], [], []

    def write() -> None:
        while time.time() < stop:
            i = batches[0]
            fs.ingest("g", pd.DataFrame({"id": np.arange(50) + i * 50, "ts": 1.7e9 + np.arange(50) * 60.0, "v": i}))
            batches[0] += 1
            fs.compact("g")

    def read(kind: str) -> None:
        while time.time() < stop:
            before = batches[0]
            try:
                n = len(fs.as_of("g")) if kind == "as_of" else int(fs.query("SELECT count(*) AS n FROM g")["n"][0])
            except Exception as exc:  # noqa: BLE001 - any failure is what this test looks for
                errors.append(repr(exc))
                continue
            if not before * 50 <= n <= (batches[0] + 1) * 50:
                wrong.append((kind, before, n))

    threads = [threading.Thread(target=write), threading.Thread(target=read, args=("as_of",)),
               threading.Thread(target=read, args=("query",))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors and not wrong
    assert batches[0] > 3
    fs.close()
