"""Benchmark steps for scaling out (section 9): Spark against DuckDB and a hand-written Spark join,
Spark ingest against pandas ingest, and a store on S3 (SeaweedFS on loopback) against a local one."""
from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from types import ModuleType

from .common import REPO_ROOT, Size, input_path, work_dir


def _spark_session():
    """A local session on every core, as ``engine="spark"`` makes by itself; its start is timed."""
    from pyspark.sql import SparkSession

    from store.engines.spark import local_builder

    started = time.perf_counter()
    spark = local_builder(SparkSession.builder, "local[*]").config("spark.driver.memory", "6g").getOrCreate()
    spark.range(1).count()  # the JVM and a first job, not just the builder
    return spark, time.perf_counter() - started


def raw_spark_sql(entity_cols: list[str], base: ModuleType) -> str:
    """The hand-written Spark equivalent of an ASOF join (Spark has none): per group, dedup
    (id, event time) keeping the latest write; join each entity row to its key's versions up to
    its time and keep the newest with a window; delete markers -> nulls; order by entity row."""
    ctes, selects, joins = [], [], []
    for group, (alias, rid, feats) in base.dataset_spec().items():
        cols = ", ".join(feats)
        ctes.append(f"{alias}_v AS (SELECT k, ev, del, {cols} FROM (SELECT {rid} AS k, _event_time AS ev, "
                    f"is_deleted AS del, {cols}, row_number() OVER (PARTITION BY {rid}, _event_time ORDER BY "
                    f"write_time DESC, _seq DESC) AS rn FROM {group}) WHERE rn = 1)")
        ctes.append(f"{alias} AS (SELECT r, del, {cols} FROM (SELECT e.__row AS r, v.*, row_number() OVER "
                    f"(PARTITION BY e.__row ORDER BY v.ev DESC) AS rn FROM entity e JOIN {alias}_v v "
                    f"ON e.{rid} = v.k AND v.ev <= e.request_time) WHERE rn = 1)")
        joins.append(f"LEFT JOIN {alias} ON {alias}.r = e.__row")
        for f in feats:
            name = f"{group}__{f}" if f == "event_time" else f
            selects.append(f"CASE WHEN {alias}.del THEN NULL ELSE {alias}.{f} END AS `{name}`")
    return (f"WITH {', '.join(ctes)} SELECT {', '.join('e.' + c for c in entity_cols)}, {', '.join(selects)} "
            f"FROM entity e {' '.join(joins)} ORDER BY e.__row")


def spark_build(size: Size, base: ModuleType) -> dict:
    """build_dataset on Spark (first and warm runs) against DuckDB and a hand-written Spark join
    over the same files the manifest lists; results compared."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from store.offline import snapshot as query

    entity = pd.read_parquet(input_path(base.SIZE_NAME, "entity"))
    fs = base.open_store()
    spark, session_s = _spark_session()
    groups = [base.DRIVERS, base.CUSTOMERS]
    started = time.perf_counter()
    first = fs.build_dataset(entity, groups, event_time_column="request_time", record=False, engine="spark",
                             spark=spark)
    first_s = time.perf_counter() - started
    warm = []
    for _ in range(2):
        started = time.perf_counter()
        fs.build_dataset(entity, groups, event_time_column="request_time", record=False, engine="spark", spark=spark)
        warm.append(time.perf_counter() - started)
    duck = []
    for _ in range(3):
        started = time.perf_counter()
        expected = fs.build_dataset(entity, groups, event_time_column="request_time", record=False)
        duck.append(time.perf_counter() - started)

    # The hand-written join over the same files, read the same way (Spark's own Parquet reader).
    with fs._ctx.db.read() as conn:
        files = {g: [p for ps in query.snapshot(conn, fs._ctx.files, fs.feature_group(g)).files.values() for p in ps]
                 for g in groups}
    table = pa.Table.from_pandas(entity, preserve_index=False)
    table = table.append_column("__row", pa.array(np.arange(table.num_rows, dtype="int64")))
    sql = raw_spark_sql(list(entity.columns), base)
    raw = []
    for _ in range(3):
        started = time.perf_counter()
        session = spark.newSession()
        session.createDataFrame(table).createOrReplaceTempView("entity")
        for g in groups:
            session.read.parquet(*files[g]).createOrReplaceTempView(g)
        by_hand = session.sql(sql).toArrow()
        raw.append(time.perf_counter() - started)
    fs.close()
    spark.stop()
    same_values = all(by_hand.column(c).to_pylist() == expected.table.column(c).to_pylist()
                      for c in by_hand.column_names if c in expected.table.column_names and c != "__row")
    return {"rows": first.num_rows, "files": {g: len(p) for g, p in files.items()}, "session_s": round(session_s, 3),
            "first_s": round(first_s, 3), "warm_s": round(statistics.median(warm), 3),
            "duckdb_s": round(statistics.median(duck), 3), "raw_spark_s": round(statistics.median(raw), 3),
            "identical": first.table.equals(expected.table), "raw_same_values": same_values, "raw_sql": sql}


def spark_ingest(size: Size, base: ModuleType) -> dict:
    """driver_stats (1M rows small) into a fresh store by a Spark ingest and by a pandas ingest."""
    import pandas as pd

    from store import FeatureStore

    frame = pd.read_parquet(input_path(base.SIZE_NAME, base.DRIVERS))
    spark, _ = _spark_session()
    source = spark.createDataFrame(frame).cache()
    source.count()  # the input in Spark's memory first: what is timed is the ingest
    root = os.path.join(work_dir(base.SIZE_NAME), "spark-ingest")
    out: dict[str, float] = {}
    for variant in ("pandas", "spark"):
        shutil.rmtree(root, ignore_errors=True)
        with FeatureStore(root) as fs:
            rid, feats = base.GROUPS[base.DRIVERS]
            fs.create_feature_group(base.DRIVERS, rid, "event_time", feats())
            started = time.perf_counter()
            report = fs.ingest(base.DRIVERS, source if variant == "spark" else frame)
            out[f"{variant}_s"] = round(time.perf_counter() - started, 3)
            out[f"{variant}_files"] = report.files_written
    spark.stop()
    shutil.rmtree(root, ignore_errors=True)
    return {"rows": len(frame), **out}


def s3_storage(size: Size, base: ModuleType) -> dict:
    """driver_stats ingested into a store on S3 (SeaweedFS on 127.0.0.1) and into a local one,
    then the same point-in-time dataset built from each (median of 3, turn about)."""
    import pandas as pd

    from store import FeatureStore

    sys.path.insert(0, os.path.join(REPO_ROOT, "tests"))
    from servers.s3 import SeaweedS3

    frame = pd.read_parquet(input_path(base.SIZE_NAME, base.DRIVERS))
    entity = pd.read_parquet(input_path(base.SIZE_NAME, "entity")).drop(columns=["customer_id"])
    root = os.path.join(work_dir(base.SIZE_NAME), "s3-compare")
    shutil.rmtree(root, ignore_errors=True)
    times: dict[str, dict[str, list[float]]] = {"ingest": {"local": [], "s3": []}, "dataset": {"local": [], "s3": []}}
    with SeaweedS3() as s3:
        s3.bucket("bench")
        os.environ.update(s3.env)
        for i in range(3):
            for variant in ("local", "s3"):
                path = os.path.join(root, f"{variant}-{i}")
                offline = f"s3://bench/run-{i}" if variant == "s3" else None
                with FeatureStore(path, offline=offline) as fs:
                    rid, feats = base.GROUPS[base.DRIVERS]
                    fs.create_feature_group(base.DRIVERS, rid, "event_time", feats())
                    started = time.perf_counter()
                    fs.ingest(base.DRIVERS, frame)
                    times["ingest"][variant].append(time.perf_counter() - started)
                with FeatureStore(path) as fs:  # a fresh process would have no decoded files in memory either
                    started = time.perf_counter()
                    fs.build_dataset(entity, [base.DRIVERS], event_time_column="request_time", record=False)
                    times["dataset"][variant].append(time.perf_counter() - started)
    shutil.rmtree(root, ignore_errors=True)
    return {"rows": len(frame), "entity_rows": len(entity),
            **{f"{what}_s": {v: round(statistics.median(x), 3) for v, x in d.items()} for what, d in times.items()}}
