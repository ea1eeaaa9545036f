"""A writer killed with SIGKILL mid-ingest leaves the store readable and consistent."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pyarrow.parquet as pq
import pytest

from store import Feature, FeatureStore
from tests.conftest import offline_files

pytestmark = [pytest.mark.slow, pytest.mark.storage]
BATCH = 30_000

WRITER = textwrap.dedent(f"""
    import sys, numpy as np, pandas as pd
    from store import FeatureStore
    fs = FeatureStore(sys.argv[1])
    batch = int(sys.argv[2])
    while True:
        n = {BATCH}
        ids = np.arange(n) + batch * n
        fs.ingest("g", pd.DataFrame({{
            "id": ids, "ts": 1.7e9 + (ids % 500) * 3600.0, "batch": batch, "x": np.random.rand(n)}}))
        print(batch, flush=True)
        batch += 1
""")


def test_sigkill_mid_ingest_leaves_no_partial_batch(tmp_path, offline_location, registry_location):
    """On a local folder, on S3 (where the killed writer's uploads are objects the manifest
    never listed), and on S3 with the manifest in PostgreSQL."""
    path = str(tmp_path / "store")
    FeatureStore(path, offline=offline_location, registry=registry_location).create_feature_group("g", "id", "ts", [
        Feature("id", "Integral"), Feature("ts", "Fractional"), Feature("batch", "Integral"), Feature("x", "Fractional")])
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    landed = 0
    for delay in (0.9, 1.6, 2.3):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, path, str(landed)], cwd=repo, stdout=subprocess.PIPE,
                                env={**os.environ, "PYTHONPATH": repo})
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        fs = FeatureStore(path)  # opening repairs what the killed writer left
        # Every Parquet file another engine could see is whole.
        for f in offline_files(fs, "g", "data"):
            pq.read_metadata(f, filesystem=fs._ctx.files.storage.fs)
        counts = fs.query("SELECT batch, count(*) AS n FROM g GROUP BY batch")
        assert (counts["n"] == BATCH).all(), counts
        online = fs.query("SELECT 1").shape  # store answers queries
        assert online == (1, 1)
        batches = sorted(counts["batch"].tolist())
        assert batches == list(range(len(batches)))
        landed = len(batches)
        live = len(fs.as_of("g"))
        assert live == len(batches) * BATCH
        n_online = fs.describe("g")["online_records"]
        assert n_online == live  # online and offline agree: the same batches landed in both
        on_disk = set(offline_files(fs, "g", "data"))
        listed = {fs._ctx.files.storage.full(p) for (p,) in
                  fs._ctx.db.get().execute("SELECT path FROM offline_files WHERE group_name = 'g'")}
        assert on_disk == listed  # no orphan files left for other engines to read
        assert not offline_files(fs, "g", "data", suffix=".tmp")
        fs.close()
