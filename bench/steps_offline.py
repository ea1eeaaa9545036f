"""Benchmark steps for the offline layout: an unordered bulk ingest spread over the whole period,
what fsync-before-commit costs, and a sparse group's full scan after automatic compaction against
the same rows in one file. ``bench.steps`` registers them and passes itself as ``base`` (its
helpers, and the size and store it runs with)."""
from __future__ import annotations

import os
import shutil
from types import ModuleType
from typing import Any

from .common import Size, input_path, work_dir

SPARSE_ROWS, SPARSE_DAYS, SPARSE_INGESTS = 1500, 30, 50
SPARSE_QUERIES = {
    "select_all": "SELECT * FROM {t}",
    "aggregate": "SELECT count(*) AS n, sum(x) AS s, count(DISTINCT id) AS ids, min(ts) AS first FROM {t}",
}


def _fresh(base: ModuleType, folder: str):
    from store import FeatureStore

    shutil.rmtree(folder, ignore_errors=True)
    fs = FeatureStore(folder, writer="bench")
    for group, (rid, feats) in base.GROUPS.items():
        fs.create_feature_group(group, rid, "event_time", feats(), description=f"bench {group}")
    return fs


def ingest_shuffled(size: Size, base: ModuleType) -> dict:
    """Both groups in random row order (every batch spans the whole month: one file per day
    partition), into a fresh store; then once more with fsync turned off, for its cost."""
    import pandas as pd

    frames = {g: pd.read_parquet(input_path(base.SIZE_NAME, g)).sample(frac=1.0, random_state=11)
              for g in base.GROUPS}
    folder = os.path.join(work_dir(base.SIZE_NAME), "shuffled")
    base.mark_baseline()
    trials = []
    for i in range(size.repeats):
        fs = _fresh(base, folder)
        res = {}
        for group, df in frames.items():
            with base.timed(f"ingest-shuffled-{group}-{i}") as t:
                report = fs.ingest(group, df)
            res[group] = {"rows": report.rows_written, "seconds": t.seconds, "files": report.files_written}
        fs.close()
        trials.append(res)
        if sum(r["seconds"] for r in res.values()) > 5:
            break
    real_fsync = os.fsync
    os.fsync = lambda fd: None  # what the same ingest costs without durability
    try:
        fs = _fresh(base, folder)
        with base.timed("ingest-shuffled-nofsync") as t:
            for df_group, df in frames.items():
                fs.ingest(df_group, df)
        fs.close()
    finally:
        os.fsync = real_fsync
    shutil.rmtree(folder, ignore_errors=True)
    totals = sorted(sum(r["seconds"] for r in trial.values()) for trial in trials)
    total = totals[(len(totals) - 1) // 2]
    rows = sum(r["rows"] for r in trials[0].values())
    return {"rows": rows, "seconds": round(total, 3), "rows_per_s": round(rows / total),
            "runs": [round(x, 3) for x in totals], "groups": trials[0],
            "seconds_without_fsync": round(t.seconds, 3), "fsync_cost_s": round(total - t.seconds, 3)}


def _sparse_frame():
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(5)
    seconds = 1_790_000_000 + rng.integers(0, SPARSE_DAYS * 24, SPARSE_ROWS) * 3600 + rng.integers(0, 3600, SPARSE_ROWS)
    return pd.DataFrame({"id": rng.integers(0, 300, SPARSE_ROWS),
                         "ts": pd.to_datetime(seconds, unit="s").strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "x": rng.random(SPARSE_ROWS), "c": rng.choice(["a", "b", "c"], SPARSE_ROWS)})


def sparse(size: Size, base: ModuleType) -> dict:
    """1,500 rows at random hours over 30 days, written in 50 small batches (many small files per
    day), compacted the way background maintenance does; a full scan through ``fs.query`` against
    the same rows in one Parquet file read by a warm DuckDB connection."""
    import duckdb
    import pyarrow.parquet as pq

    from store import Feature, FeatureStore

    folder = os.path.join(work_dir(base.SIZE_NAME), "sparse")
    shutil.rmtree(folder, ignore_errors=True)
    fs = FeatureStore(os.path.join(folder, "store"), writer="bench")
    fs.create_feature_group("sparse", "id", "ts", [Feature("id", "Integral"), Feature("ts", "String"),
                                                   Feature("x", "Fractional"), Feature("c", "String")])
    frame = _sparse_frame()
    for i in range(SPARSE_INGESTS):
        fs.ingest("sparse", frame.iloc[i::SPARSE_INGESTS])
    before = fs.describe("sparse")["offline_files"]
    compaction = fs.compact("sparse", auto=True)
    one = os.path.join(folder, "one.parquet")
    pq.write_table(fs.query("SELECT * FROM sparse ORDER BY id, ts").pipe(_arrow), one)
    warm = duckdb.connect()
    base.mark_baseline()
    out: dict[str, Any] = {"rows": SPARSE_ROWS, "files_before": before, "files_after": compaction["files_after"]}
    for label, sql in SPARSE_QUERIES.items():
        engine_sql, raw_sql = sql.format(t="sparse"), sql.format(t=f"read_parquet('{one}')")
        fs.query(engine_sql)  # first read decodes the small files; the figure is for the reads after it
        _, engine = base._median_runs(size, f"sparse-{label}", lambda: fs.query(engine_sql), repeats=25)
        _, raw = base._median_runs(size, f"sparse-raw-{label}",
                                   lambda: warm.cursor().sql(raw_sql).to_arrow_table().to_pandas(), repeats=25)
        out[label] = {"engine_s": engine["seconds"], "raw_s": raw["seconds"]}
    fs.close()
    shutil.rmtree(folder, ignore_errors=True)
    return out


def _arrow(df):
    import pyarrow as pa

    return pa.Table.from_pandas(df, preserve_index=False)
