"""Benchmark steps for pipelines: an incremental run over driver_stats after 10,000 new rows
(the rest already processed), against the same SQL run by hand in DuckDB on those rows; and
what a run costs when nothing is new. ``bench.steps`` registers them and passes itself as
``base``."""
from __future__ import annotations

import os
import shutil
import statistics
import time
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3

    import pyarrow as pa

from .common import Size, input_path, work_dir

NEW_ROWS = 10_000
ROUNDS = 5
# Per driver, over the rows the run reads: what a "latest activity" feature job computes.
SQL = """SELECT driver_id, count(*) AS rows_seen, avg(conv_rate) AS avg_conv_rate, sum(trips_today)::BIGINT AS trips,
       max(event_time) AS event_time
FROM {source} GROUP BY driver_id"""


def incremental(size: Size, base: ModuleType) -> dict:
    """driver_stats less its last ROUNDS x NEW_ROWS rows ingested and processed untimed; then,
    ROUNDS times: NEW_ROWS more rows ingested (untimed) and one incremental run (timed), beside
    the same SQL over those rows in a Parquet file with a warm DuckDB connection (timed), and
    a run with nothing new (timed)."""
    import duckdb
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from store import Feature, FeatureStore

    frame = pd.read_parquet(input_path(base.SIZE_NAME, base.DRIVERS))
    frame = frame.sort_values("event_time", kind="stable", ignore_index=True)
    folder = os.path.join(work_dir(base.SIZE_NAME), "pipelines")
    shutil.rmtree(folder, ignore_errors=True)
    fs = FeatureStore(os.path.join(folder, "store"), writer="bench")
    rid, feats = base.GROUPS[base.DRIVERS]
    fs.create_feature_group(base.DRIVERS, rid, "event_time", feats())
    fs.create_feature_group("driver_activity", "driver_id", "event_time", [
        Feature("driver_id", "Integral"), Feature("event_time", "String"), Feature("rows_seen", "Integral"),
        Feature("avg_conv_rate", "Fractional"), Feature("trips", "Integral")])
    # lookback=0: the aggregate over each run's new rows alone is what this step measures, on purpose.
    fs.create_pipeline("activity", "driver_activity", inputs=[base.DRIVERS], sql=SQL.format(source=base.DRIVERS),
                       lookback=0)
    head = len(frame) - ROUNDS * NEW_ROWS
    fs.ingest(base.DRIVERS, frame.iloc[:head])
    first = fs.run_pipeline("activity")
    assert first["status"] == "succeeded", first["error"]
    warm = duckdb.connect()
    bare = _bare_db(os.path.join(folder, "raw.db"))
    runs, raw, raw_write, empty, outputs = [], [], [], [], []
    base.mark_baseline()
    for i in range(ROUNDS):
        batch = frame.iloc[head + i * NEW_ROWS: head + (i + 1) * NEW_ROWS]
        fs.ingest(base.DRIVERS, batch)
        path = os.path.join(folder, f"new-{i}.parquet")
        pq.write_table(pa.Table.from_pandas(batch, preserve_index=False), path)
        with base.timed(f"run-{i}") as t:
            run = fs.run_pipeline("activity")
        assert run["status"] == "succeeded" and run["rows_in"] == NEW_ROWS, run
        runs.append(t.seconds)
        outputs.append(run["rows_out"])
        with base.timed(f"raw-{i}") as t:
            table = warm.cursor().sql(SQL.format(source=f"read_parquet('{path}')")).to_arrow_table()
        assert table.num_rows == run["rows_out"]
        raw.append(t.seconds)
        with base.timed(f"raw-write-{i}") as t:  # what storing the answer costs at the least
            _bare_write(bare, os.path.join(folder, f"out-{i}.parquet"), table)
        raw_write.append(t.seconds)
        with base.timed(f"empty-{i}") as t:
            assert fs.run_pipeline("activity")["status"] == "skipped"
        empty.append(t.seconds)
    fs.close()
    bare.close()
    shutil.rmtree(folder, ignore_errors=True)
    run_s, raw_s, write_s, empty_s = (statistics.median(x) for x in (runs, raw, raw_write, empty))
    return {"input_rows": len(frame), "new_rows": NEW_ROWS, "rows_out": int(statistics.median(outputs)),
            "seconds": round(run_s, 4), "raw_seconds": round(raw_s, 4), "raw_write_seconds": round(write_s, 4),
            "empty_seconds": round(empty_s, 4),
            "first_run_seconds": float(first["seconds"]), "first_run_rows": int(first["rows_in"]),
            "runs": [round(x, 4) for x in runs], "raw_runs": [round(x, 4) for x in raw],
            "raw_write_runs": [round(x, 4) for x in raw_write],
            "empty_runs": [round(x, 4) for x in empty], "at": time.time()}


def _bare_write(con: "sqlite3.Connection", path: str, table: "pa.Table") -> None:
    """The output upserted by primary key into a bare SQLite table (WAL, synchronous=NORMAL, as
    the engine runs) in one transaction, and written as one Parquet file: the least a store of
    the answer costs."""
    import pyarrow.parquet as pq

    import pyarrow as pa

    cols = table.column_names
    # Instants as epoch microseconds, as the engine keeps them online (datetime objects are slow to bind).
    values = [table.column(c).cast(pa.int64()) if pa.types.is_timestamp(table.schema.field(c).type)
              else table.column(c) for c in cols]
    con.execute(f"CREATE TABLE IF NOT EXISTS out ({', '.join(cols)}, PRIMARY KEY (driver_id))")
    with con:
        con.executemany(f"INSERT OR REPLACE INTO out VALUES ({', '.join('?' * len(cols))})",
                        zip(*(v.to_pylist() for v in values)))
    pq.write_table(table, path)


def _bare_db(path: str) -> "sqlite3.Connection":
    import sqlite3

    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = NORMAL")
    return con
