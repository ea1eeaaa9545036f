"""One measurement per process: ``python -m bench.steps <step> --size small --result out.json``.

Each step loads its inputs untimed, records its peak RSS just before the timed part
(``baseline_rss_mb``), times only the operation, and writes a JSON result. ``bench.run`` reads
the process's own peak RSS from ``wait4``. Steps after ``ingest_engine`` reuse the store it built
under ``bench/data/<size>/work/store``; the runner's order matters (see ``bench.run.STEPS``).
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import glob
import io
import os
import pstats
import shutil
import sqlite3
import statistics
import sys
import time
import traceback
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from .common import (BATCH, DELETE_EVENT_ISO, DRIVER_ID_BASE, MID_PERIOD_ISO, PERIOD_DAYS, DAY_S,
                     SIZES, START_S, Size, Timer, input_path, maxrss_mb, percentile, read_json, state_path,
                     store_dir, work_dir, write_json)

DRIVERS, CUSTOMERS = "driver_stats", "customer_profile"
ONLINE_DRIVERS = f'"online:{DRIVERS}"'
STAGING_DRIVERS = f'"staging:{DRIVERS}"'
INTERNAL = ("_event_us", "_write_us", "_expires_us", "_deleted")

PROFILE_DIR: str | None = None
STEP_NAME = ""
BASELINE: dict[str, float] = {}


# ----------------------------------------------------------------------------- helpers


def mark_baseline() -> None:
    """Peak RSS before the timed part (inputs loaded)."""
    gc.collect()
    BASELINE.setdefault("baseline_rss_mb", round(maxrss_mb(), 1))


@contextmanager
def timed(label: str) -> Iterator[Timer]:
    """Time a block; with --profile, also cProfile it and dump the top functions."""
    gc.collect()
    prof = cProfile.Profile() if PROFILE_DIR else None
    timer = Timer()
    with timer:
        if prof:
            prof.enable()
        try:
            yield timer
        finally:
            if prof:
                prof.disable()
    if prof:
        os.makedirs(PROFILE_DIR, exist_ok=True)
        out = io.StringIO()
        stats = pstats.Stats(prof, stream=out)
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(30)
        path = os.path.join(PROFILE_DIR, f"{STEP_NAME}-{label}.txt")
        with open(path, "w") as fh:
            fh.write(out.getvalue())
        prof.dump_stats(path[:-4] + ".prof")


def sqlite_connect(path: str) -> sqlite3.Connection:
    """A bare connection with the engine's pragmas (WAL, synchronous=NORMAL), autocommit mode."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=120)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def engine_db() -> str:
    return os.path.join(STORE, "featurestore.db")


def engine_ddl(table: str) -> list[str]:
    """CREATE statements of one of the engine's tables and its indexes, so raw tables are the same shape."""
    conn = sqlite3.connect(engine_db())
    try:
        rows = conn.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL ORDER BY type DESC", (table,)
        ).fetchall()
    finally:
        conn.close()
    if not rows:
        raise RuntimeError(f"Table {table!r} not in {engine_db()}: run the ingest_engine step first")
    return [r[0] for r in rows]


def columns_of(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def upsert_sql(table: str, cols: list[str], pk: str) -> str:
    quoted = [f'"{c}"' for c in cols]
    sets = ", ".join(f"{c} = excluded.{c}" for c in quoted if c != f'"{pk}"')
    return (f"INSERT INTO {table} ({', '.join(quoted)}) VALUES ({', '.join('?' * len(cols))}) "
            f'ON CONFLICT("{pk}") DO UPDATE SET {sets} WHERE excluded._event_us >= {table}._event_us')


def parquet_glob(group: str) -> str:
    return os.path.join(STORE, "offline", group, "data", "**", "*.parquet")


def one_file(group: str) -> str:
    """Where build_raw keeps the group's offline rows as one Parquet file."""
    return os.path.join(work_dir(SIZE_NAME), f"one-{group}.parquet")


_WARM: list = []


def duckdb_connect():
    """A cursor on a DuckDB database opened once per step (opening one costs ~14 ms, which the
    engine does not pay per query either), so raw figures are what DuckDB itself needs."""
    import duckdb

    if not _WARM:
        _WARM.append(duckdb.connect())
    return _WARM[0].cursor()


def ms(seconds: float) -> float:
    return round(seconds * 1000, 4)


def latency_summary(samples_ns: list[int]) -> dict[str, float]:
    s = sorted(samples_ns)
    return {"n": len(s), "p50_us": round(percentile(s, 50) / 1000, 2), "p99_us": round(percentile(s, 99) / 1000, 2),
            "mean_us": round(statistics.fmean(s) / 1000, 2), "max_us": round(s[-1] / 1000, 2)}


def live_driver_ids(size: Size) -> list[int]:
    deleted = set(read_json(state_path(SIZE_NAME))["deleted_driver_ids"])
    return [DRIVER_ID_BASE + i for i in range(size.drivers) if DRIVER_ID_BASE + i not in deleted]


def open_store():
    from store import FeatureStore

    return FeatureStore(STORE, writer="bench")


def driver_features():
    from store import Feature

    from .data import DRIVER_FLOATS

    return ([Feature("driver_id", "Integral"), Feature("event_time", "String")]
            + [Feature(n, "Fractional") for n in DRIVER_FLOATS]
            + [Feature("trips_today", "Integral"), Feature("city", "String")])


def customer_features():
    from store import Feature

    from .data import CUSTOMER_FLOATS

    return ([Feature("customer_id", "Integral"), Feature("event_time", "String")]
            + [Feature(n, "Fractional") for n in CUSTOMER_FLOATS]
            + [Feature("trips_total", "Integral"), Feature("tier", "String")])


GROUPS = {DRIVERS: ("driver_id", driver_features), CUSTOMERS: ("customer_id", customer_features)}


# ----------------------------------------------------------------------------- 0. inputs


def step_gen(size: Size) -> dict:
    from .data import ensure

    with Timer() as t:
        out = ensure(size.name)
    return {**out, "seconds": round(t.seconds, 2)}


# ----------------------------------------------------------------------------- 1. bulk ingest


def _fresh_store():
    shutil.rmtree(work_dir(SIZE_NAME), ignore_errors=True)
    os.makedirs(work_dir(SIZE_NAME))
    fs = open_store()
    for group, (rid, feats) in GROUPS.items():
        fs.create_feature_group(group, rid, "event_time", feats(), description=f"bench {group}")
    return fs


def _repeat_ingest(size: Size, trial: Callable[[int], dict[str, dict]]) -> dict:
    """Run ``trial(i)`` (one ingest of both groups, per-group results with "seconds") up to
    ``size.repeats`` times, stopping once a trial took over 5 s; medians per group and of the total."""
    trials = []
    for i in range(size.repeats):
        trials.append(trial(i))
        if sum(r["seconds"] for r in trials[-1].values()) > 5:
            break
    out: dict[str, Any] = {}
    for g in GROUPS:
        runs = [t[g] for t in trials]
        mid = sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]
        out[g] = {**mid, "runs": [round(r["seconds"], 3) for r in runs]}
        out[g]["rows_per_s"] = round(out[g]["rows"] / out[g]["seconds"])
    totals = sorted(sum(t[g]["seconds"] for g in GROUPS) for t in trials)
    rows = sum(out[g]["rows"] for g in GROUPS)
    total_s = totals[(len(totals) - 1) // 2]
    out["total"] = {"rows": rows, "seconds": round(total_s, 3), "rows_per_s": round(rows / total_s),
                    "runs": [round(x, 3) for x in totals]}
    return out


def step_ingest_engine(size: Size) -> dict:
    import numpy as np
    import pandas as pd

    frames = {g: pd.read_parquet(input_path(SIZE_NAME, g)) for g in GROUPS}
    holder: dict[str, Any] = {}

    def trial(i: int) -> dict[str, dict]:
        if "fs" in holder:
            holder.pop("fs").close()
        fs = holder["fs"] = _fresh_store()  # the last trial's store is the one later steps use
        mark_baseline()
        res = {}
        for group, df in frames.items():
            with timed(f"ingest-{group}-{i}") as t:
                report = fs.ingest(group, df)
            res[group] = {"rows": report.rows_written, "seconds": t.seconds, "files_written": report.files_written,
                          "records_online": report.records_online}
        return res

    out = _repeat_ingest(size, trial)
    fs = holder["fs"]
    del frames
    # Untimed setup for the later steps: soft-delete a few drivers after every ingested event, so
    # datasets must return nulls for them from then on; flush so everything is in Parquet.
    rng = np.random.default_rng(7)
    deleted = sorted(int(DRIVER_ID_BASE + i) for i in rng.choice(size.drivers, size.deleted_drivers, replace=False))
    with Timer() as t:
        for rid in deleted:
            fs.delete_record(DRIVERS, rid, DELETE_EVENT_ISO)
        moved = fs.flush()
    out["setup_deletes"] = {"deleted": len(deleted), "seconds": round(t.seconds, 3), "flushed_rows": moved}
    describe = {g: fs.describe(g) for g in GROUPS}
    fs.close()
    state = {"deleted_driver_ids": deleted,
             "offline_files": {g: d["offline_files"] for g, d in describe.items()},
             "offline_bytes": {g: d["offline_bytes"] for g, d in describe.items()},
             "online_records": {g: d["online_records"] for g, d in describe.items()}}
    write_json(state_path(SIZE_NAME), state)
    out["store"] = {k: v for k, v in state.items() if k != "deleted_driver_ids"}
    return out


def _online_tuples(table, write_us: int):
    """Per-chunk column lists shaped like the engine's online rows (internal columns, then features)."""
    import itertools

    import pyarrow as pa
    import pyarrow.compute as pc

    for batch in table.to_batches(max_chunksize=100_000):
        cols: list[Any] = []
        ev = batch.column("event_time")
        ev_us = ev.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_pylist()
        n = len(ev_us)
        cols += [ev_us, itertools.repeat(write_us, n), itertools.repeat(None, n), itertools.repeat(0, n)]
        for name in batch.schema.names:
            col = batch.column(name)
            if name == "event_time":
                col = pc.strftime(col.cast(pa.timestamp("s", tz="UTC")), format="%Y-%m-%dT%H:%M:%SZ")
            cols.append(col.to_pylist())
        yield list(zip(*cols))


def _latest_per_id(table, rid: str):
    """The row per id with the greatest event time, last row on a tie (what the engine keeps online)."""
    import numpy as np
    import pyarrow as pa

    ids = table.column(rid).to_numpy()
    ev = table.column("event_time").cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
    order = np.lexsort((np.arange(len(ids)), ev, ids))
    sorted_ids = ids[order]
    last = np.ones(len(ids), dtype=bool)
    last[:-1] = sorted_ids[:-1] != sorted_ids[1:]
    return table.take(pa.array(order[last]))


def _ingest_raw_sqlite(size: Size, latest: bool) -> dict:
    import pyarrow.parquet as pq

    raw_dir = os.path.join(work_dir(SIZE_NAME), "raw")
    os.makedirs(raw_dir, exist_ok=True)
    path = os.path.join(raw_dir, f"ingest-{'latest' if latest else 'all'}.db")
    ddl = {g: engine_ddl(f"online:{g}") for g in GROUPS}
    tables = {g: pq.read_table(input_path(SIZE_NAME, g)) for g in GROUPS}
    dedup = {}
    if latest:
        for g, (rid, _) in GROUPS.items():
            with Timer() as t:
                tables[g] = _latest_per_id(tables[g], rid)
            dedup[g] = round(t.seconds, 3)
    mark_baseline()

    def trial(i: int) -> dict[str, dict]:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        conn = sqlite_connect(path)
        for statements in ddl.values():
            for sql in statements:
                conn.execute(sql)
        write_us = time.time_ns() // 1000
        res = {}
        for g, (rid, _) in GROUPS.items():
            table = f'"online:{g}"'
            cols = columns_of(conn, table)
            assert cols[:4] == list(INTERNAL) and cols[4:] == tables[g].schema.names, (cols, tables[g].schema.names)
            sql = upsert_sql(table, cols, rid)
            convert_s = exec_s = 0.0
            with timed(f"{g}-{i}"):
                conn.execute("BEGIN IMMEDIATE")
                for chunk, conv_s in _wrap_timer(_online_tuples(tables[g], write_us)):
                    convert_s += conv_s
                    t0 = time.perf_counter()
                    conn.executemany(sql, chunk)
                    exec_s += time.perf_counter() - t0
                t0 = time.perf_counter()
                conn.execute("COMMIT")
                exec_s += time.perf_counter() - t0
            rows = tables[g].num_rows
            res[g] = {"rows": rows, "online_records": conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0],
                      "convert_s": round(convert_s, 3), "executemany_s": round(exec_s, 3),
                      "seconds": convert_s + exec_s, "executemany_rows_per_s": round(rows / exec_s)}
            if latest:
                res[g]["dedup_s_untimed"] = dedup[g]
        conn.close()
        return res

    out = _repeat_ingest(size, trial)
    out["ddl"] = ddl
    return out


def _wrap_timer(gen):
    """Yield (item, seconds it took the generator to produce it)."""
    while True:
        t0 = time.perf_counter()
        try:
            item = next(gen)
        except StopIteration:
            return
        yield item, time.perf_counter() - t0


def step_ingest_raw_sqlite_all(size: Size) -> dict:
    return _ingest_raw_sqlite(size, latest=False)


def step_ingest_raw_sqlite_latest(size: Size) -> dict:
    return _ingest_raw_sqlite(size, latest=True)


def step_ingest_raw_parquet(size: Size) -> dict:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    raw_dir = os.path.join(work_dir(SIZE_NAME), "raw")
    os.makedirs(raw_dir, exist_ok=True)
    # The same Arrow table the engine receives: the DataFrame converted as fs.ingest converts it.
    tables = {g: pa.Table.from_pandas(pd.read_parquet(input_path(SIZE_NAME, g)), preserve_index=False) for g in GROUPS}
    mark_baseline()

    def trial(i: int) -> dict[str, dict]:
        res = {}
        for g, table in tables.items():
            path = os.path.join(raw_dir, f"{g}.parquet")
            with timed(f"{g}-{i}") as t:
                pq.write_table(table, path)
            res[g] = {"rows": table.num_rows, "seconds": t.seconds, "bytes": os.path.getsize(path)}
        return res

    out = _repeat_ingest(size, trial)
    # For reference, not the limit: the same tables written the way the engine lays them out by
    # default, one file per event-time day (Hive folders), sequentially.
    daily_s = 0.0
    files = 0
    for g, table in tables.items():
        with timed(f"{g}-daily") as t:
            files += _write_daily(table, os.path.join(raw_dir, "daily", g))
        out[g]["daily_seconds"] = round(t.seconds, 3)
        daily_s += t.seconds
    out["daily"] = {"rows": out["total"]["rows"], "seconds": round(daily_s, 3), "files": files}
    return out


def _write_daily(table, root: str) -> int:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from store.model import layout

    shutil.rmtree(root, ignore_errors=True)
    days = layout.keys("day", table.column("event_time").cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy())
    order = np.argsort(days, kind="stable")
    if not np.array_equal(order, np.arange(len(order))):
        table, days = table.take(pa.array(order)), days[order]
    starts = np.concatenate(([0], np.flatnonzero(np.diff(days)) + 1))
    ends = np.concatenate((starts[1:], [len(days)]))
    for i, (lo, hi) in enumerate(zip(starts, ends)):
        folder = os.path.join(root, layout.folder("day", int(days[lo])))
        os.makedirs(folder, exist_ok=True)
        pq.write_table(table.slice(int(lo), int(hi - lo)), os.path.join(folder, f"part-{i:05d}.parquet"))
    return len(starts)


# ----------------------------------------------------------------------------- 2. online reads


def step_online_reads(size: Size) -> dict:
    """get_record vs a bare SELECT, batch_get_records vs a bare IN (...), interleaved call by call."""
    import random

    rng = random.Random(11)
    live = live_driver_ids(size)
    ids = [rng.choice(live) for _ in range(size.get_ids)]
    batches = [rng.sample(live, BATCH) for _ in range(size.batches)]
    fs = open_store()
    raw = sqlite3.connect(engine_db(), isolation_level=None)
    one_sql = f"SELECT * FROM {ONLINE_DRIVERS} WHERE driver_id = ?"
    in_sql = f"SELECT * FROM {ONLINE_DRIVERS} WHERE driver_id IN ({', '.join('?' * BATCH)})"

    # Same answers? (values of the first rows, engine dict vs bare row)
    cols = columns_of(raw, ONLINE_DRIVERS)
    for rid in ids[:200]:
        rec = fs.get_record(DRIVERS, rid)
        row = dict(zip(cols, raw.execute(one_sql, (rid,)).fetchone()))
        assert rec == {k: v for k, v in row.items() if k not in INTERNAL and v is not None}, (rec, row)
    assert len(fs.batch_get_records(DRIVERS, batches[0])) == len(raw.execute(in_sql, batches[0]).fetchall())

    get, fetch = fs.get_record, fs.batch_get_records
    perf = time.perf_counter_ns
    for rid in ids[:2000]:  # warm-up
        get(DRIVERS, rid)
        raw.execute(one_sql, (rid,)).fetchone()
    mark_baseline()
    eng_ns: list[int] = []
    raw_ns: list[int] = []
    with timed("get_record"):
        for rid in ids:
            t0 = perf()
            get(DRIVERS, rid)
            t1 = perf()
            raw.execute(one_sql, (rid,)).fetchone()
            t2 = perf()
            eng_ns.append(t1 - t0)
            raw_ns.append(t2 - t1)
    beng_ns: list[int] = []
    braw_ns: list[int] = []
    for b in batches[:50]:  # warm-up
        fetch(DRIVERS, b)
        raw.execute(in_sql, b).fetchall()
    with timed("batch_get_records"):
        for b in batches:
            t0 = perf()
            fetch(DRIVERS, b)
            t1 = perf()
            raw.execute(in_sql, b).fetchall()
            t2 = perf()
            beng_ns.append(t1 - t0)
            braw_ns.append(t2 - t1)
    fs.close()
    raw.close()
    return {"get_record": {"engine": latency_summary(eng_ns), "raw": latency_summary(raw_ns),
                           "raw_sql": one_sql},
            "batch_get_records": {"batch": BATCH, "engine": latency_summary(beng_ns), "raw": latency_summary(braw_ns),
                                  "raw_sql": f"SELECT * FROM {ONLINE_DRIVERS} WHERE driver_id IN (?, ... x{BATCH})"}}


# ----------------------------------------------------------------------------- 3. single puts


def _put_inputs(size: Size) -> list[dict]:
    import random

    from .data import DRIVER_FLOATS

    rng = random.Random(13)
    live = live_driver_ids(size)
    records = []
    for _ in range(size.puts):
        secs = START_S + rng.randrange(PERIOD_DAYS * DAY_S)
        rec = {"driver_id": rng.choice(live), "event_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(secs))}
        for name in DRIVER_FLOATS:
            rec[name] = rng.random() * 100
        rec["trips_today"] = rng.randrange(40)
        rec["city"] = f"C{rng.randrange(50):03d}"
        records.append(rec)
    return records


def step_put_raw(size: Size) -> dict:
    """Bare upsert into the online table + insert into the staging table, one transaction each,
    on a copy of the engine's database (same tables, same rows)."""
    from store.common.timeutil import iso_z_to_us

    records = _put_inputs(size)
    raw_dir = os.path.join(work_dir(SIZE_NAME), "raw")
    os.makedirs(raw_dir, exist_ok=True)
    path = os.path.join(raw_dir, "puts.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    src = sqlite3.connect(engine_db())
    conn = sqlite_connect(path)
    src.backup(conn)
    src.close()
    conn.execute("PRAGMA journal_mode = WAL")
    online_cols = columns_of(conn, ONLINE_DRIVERS)
    staging_cols = columns_of(conn, STAGING_DRIVERS)
    feats = online_cols[4:]
    up = upsert_sql(ONLINE_DRIVERS, online_cols, "driver_id")
    ins = f"INSERT INTO {STAGING_DRIVERS} VALUES ({', '.join('?' * len(staging_cols))})"
    assert staging_cols[:5] == ["_event_us", "_write_us", "_api_us", "_seq", "_deleted"] and staging_cols[5:] == feats
    now = time.time_ns() // 1000
    rows = []
    for i, rec in enumerate(records):
        ev = iso_z_to_us(rec["event_time"])
        values = [rec[f] for f in feats]
        rows.append(((ev, now + i, None, 0, *values), (ev, now + i, now + i, i + 1, 0, *values)))
    mark_baseline()
    execute = conn.execute
    with timed("put_raw") as t:
        for online_row, staged_row in rows:
            execute("BEGIN IMMEDIATE")
            execute(up, online_row)
            execute(ins, staged_row)
            execute("COMMIT")
    conn.close()
    return {"puts": len(rows), "seconds": round(t.seconds, 3), "puts_per_s": round(len(rows) / t.seconds),
            "statements": [up, ins]}


def step_put_engine(size: Size) -> dict:
    records = _put_inputs(size)
    fs = open_store()
    put = fs.put_record
    perf = time.perf_counter_ns
    lat: list[int] = []
    mark_baseline()
    with timed("put_engine") as t:
        for rec in records:
            t0 = perf()
            put(DRIVERS, rec)
            lat.append(perf() - t0)
    flushed_after = fs.flush()
    staged = fs.describe(DRIVERS)["staged_rows"]
    fs.close()
    slowest = max(range(len(lat)), key=lat.__getitem__)
    return {"puts": len(records), "seconds": round(t.seconds, 3), "puts_per_s": round(len(records) / t.seconds),
            "latency": latency_summary(lat), "slowest_put_index": slowest,
            "seconds_without_slowest": round((sum(lat) - lat[slowest]) / 1e9, 3),
            "rows_flushed_after": flushed_after, "staged_rows_left": staged}


# ----------------------------------------------------------------------------- 4. datasets


def _median_runs(size: Size, label: str, run: Callable[[], Any], repeats: int | None = None) -> tuple[Any, dict]:
    """Median of ``repeats`` (default ``size.repeats``) runs; a run slower than 5 s is not
    repeated (keeps the small run short)."""
    times = []
    result = None
    for i in range(repeats or size.repeats):
        with timed(f"{label}-{i}") as t:
            result = run()
        times.append(t.seconds)
        if t.seconds > 5:
            break
    return result, {"seconds": round(statistics.median(times), 6), "runs": [round(x, 6) for x in times]}


def step_build_engine(size: Size) -> dict:
    import pandas as pd
    import pyarrow.parquet as pq

    out_file = os.path.join(work_dir(SIZE_NAME), "dataset-engine.parquet")
    if os.path.exists(out_file):
        os.remove(out_file)
    entity = pd.read_parquet(input_path(SIZE_NAME, "entity"))
    fs = open_store()
    mark_baseline()
    ds, timing = _median_runs(size, "build_dataset", lambda: fs.build_dataset(
        entity, [DRIVERS, CUSTOMERS], event_time_column="request_time"))
    table = ds.to_arrow()
    fs.close()
    pq.write_table(table, out_file)
    return {**timing, "rows": table.num_rows, "columns": table.column_names}


def dataset_spec() -> dict[str, tuple[str, str, list[str]]]:
    """Per group of the benchmark dataset: (alias, identifier, features), for the joins by hand."""
    from .data import CUSTOMER_FLOATS, DRIVER_FLOATS

    return {DRIVERS: ("d", "driver_id", ["event_time", *DRIVER_FLOATS, "trips_today", "city"]),
            CUSTOMERS: ("c", "customer_id", ["event_time", *CUSTOMER_FLOATS, "trips_total", "tier"])}


def raw_dataset_sql(entity_cols: list[str]) -> str:
    """Hand-written point-in-time join: per group, dedup (id, event time) keeping the latest write,
    ASOF-join the latest version at or before the request time, null out delete markers."""
    ctes, selects, joins = [], [], []
    for group, (alias, rid, feats) in dataset_spec().items():
        path = one_file(group).replace("'", "''")
        ctes.append(
            f"{alias} AS (SELECT {rid} AS k, _event_time AS ev, is_deleted AS del, {', '.join(feats)} "
            f"FROM read_parquet('{path}', hive_partitioning = false) "
            f"QUALIFY row_number() OVER (PARTITION BY {rid}, _event_time ORDER BY write_time DESC, _seq DESC) = 1)"
        )
        joins.append(f"ASOF LEFT JOIN {alias} ON e.{rid} = {alias}.k AND e.request_time >= {alias}.ev")
        for f in feats:
            name = f"{group}__{f}" if f == "event_time" else f
            selects.append(f'CASE WHEN {alias}.del THEN NULL ELSE {alias}.{f} END AS "{name}"')
    return (f"WITH {', '.join(ctes)} SELECT {', '.join('e.' + c for c in entity_cols)}, {', '.join(selects)} "
            f"FROM entity e {' '.join(joins)} ORDER BY e.__row")


def step_build_raw(size: Size) -> dict:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_file = os.path.join(work_dir(SIZE_NAME), "dataset-raw.parquet")
    if os.path.exists(out_file):
        os.remove(out_file)
    entity = pd.read_parquet(input_path(SIZE_NAME, "entity"))
    # The same rows as the engine reads, each group in one file (untimed): the raw limit a store
    # laid out in partitions is measured against.
    for group in GROUPS:
        with duckdb_connect() as con:
            con.execute(f"COPY (SELECT * FROM read_parquet('{parquet_glob(group)}', hive_partitioning = false)) "
                        f"TO '{one_file(group)}' (FORMAT parquet)")
    sql = raw_dataset_sql(list(entity.columns))
    duckdb_connect().close()  # open the database before timing
    mark_baseline()

    def run():
        table = pa.Table.from_pandas(entity, preserve_index=False)
        table = table.append_column("__row", pa.array(np.arange(table.num_rows, dtype="int64")))
        with duckdb_connect() as con:
            con.register("entity", table)
            return con.sql(sql).to_arrow_table()

    table, timing = _median_runs(size, "duckdb_asof", run)
    pq.write_table(table, out_file)
    return {**timing, "rows": table.num_rows, "sql": sql}


def step_build_check(size: Size) -> dict:
    """Are the engine's dataset and the hand-written ASOF join identical (values and row order)?"""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    eng = pq.read_table(os.path.join(work_dir(SIZE_NAME), "dataset-engine.parquet"))
    raw = pq.read_table(os.path.join(work_dir(SIZE_NAME), "dataset-raw.parquet"))
    out: dict[str, Any] = {"rows": [eng.num_rows, raw.num_rows], "same_columns": eng.column_names == raw.column_names}
    mismatches = {}
    if out["same_columns"] and eng.num_rows == raw.num_rows:
        for name in eng.column_names:
            a, b = eng.column(name).combine_chunks(), raw.column(name).combine_chunks()
            if a.type != b.type:
                if pa.types.is_timestamp(a.type) and pa.types.is_timestamp(b.type):
                    a, b = a.cast(pa.int64()), b.cast(pa.int64())
                else:
                    b = b.cast(a.type)
            if not a.equals(b):
                diff = pc.invert(pc.fill_null(pc.equal(a, b), False))
                both_null = pc.and_(pc.is_null(a), pc.is_null(b))
                mismatches[name] = int(pc.sum(pc.and_(diff, pc.invert(both_null))).as_py() or 0)
    out["mismatched_columns"] = mismatches
    out["identical"] = out["same_columns"] and eng.num_rows == raw.num_rows and not mismatches
    out["null_driver_rows"] = eng.column("conv_rate").null_count
    out["null_customer_rows"] = eng.column("lifetime_value").null_count
    out["types_differ"] = [n for n in eng.column_names if n in raw.column_names
                           and eng.schema.field(n).type != raw.schema.field(n).type]
    return out


# ----------------------------------------------------------------------------- other reads


def _checksum(df) -> dict:
    import pandas as pd

    return {"rows": int(len(df)), "id_sum": int(pd.to_numeric(df["driver_id"]).sum()),
            "conv_rate_sum": round(float(pd.to_numeric(df["conv_rate"]).sum()), 6)}


def step_asof_engine(size: Size) -> dict:
    fs = open_store()
    mark_baseline()
    out = {}
    for label, at in (("latest", None), ("mid", MID_PERIOD_ISO)):
        df, timing = _median_runs(size, f"as_of-{label}", lambda: fs.as_of(DRIVERS, at))
        out[label] = {**timing, **_checksum(df)}
    fs.close()
    return out


def raw_asof_sql(at: str | None) -> str:
    from .data import DRIVER_FLOATS

    cols = ["driver_id", "event_time", *DRIVER_FLOATS, "trips_today", "city"]
    where = f"WHERE _event_time <= TIMESTAMPTZ '{at}'" if at else ""
    path = parquet_glob(DRIVERS).replace("'", "''")
    return (f"SELECT {', '.join(cols)} FROM (SELECT * FROM read_parquet('{path}', hive_partitioning = false) {where} "
            "QUALIFY row_number() OVER (PARTITION BY driver_id ORDER BY _event_time DESC, write_time DESC, _seq DESC) = 1) "
            "WHERE NOT is_deleted ORDER BY driver_id")


def step_asof_raw(size: Size) -> dict:
    duckdb_connect().close()  # open the database before timing
    mark_baseline()
    out = {}
    for label, at in (("latest", None), ("mid", MID_PERIOD_ISO)):
        sql = raw_asof_sql(at)

        def run():
            with duckdb_connect() as con:
                return con.sql(sql).to_arrow_table().to_pandas()

        df, timing = _median_runs(size, f"as_of-{label}", run)
        out[label] = {**timing, **_checksum(df), "sql": sql}
    return out


QUERIES = {
    "count": "SELECT count(*) AS n FROM {t}",
    "group_by_city": "SELECT city, count(*) AS n, avg(conv_rate) AS conv FROM {t} GROUP BY city ORDER BY city",
}


def step_query_engine(size: Size) -> dict:
    fs = open_store()
    mark_baseline()
    out = {}
    for label, sql in QUERIES.items():
        df, timing = _median_runs(size, f"query-{label}", lambda: fs.query(sql.format(t=DRIVERS)))
        out[label] = {**timing, "first_row": [str(v) for v in df.iloc[0].tolist()]}
    fs.close()
    return out


def step_query_raw(size: Size) -> dict:
    duckdb_connect().close()  # open the database before timing
    mark_baseline()
    path = parquet_glob(DRIVERS).replace("'", "''")
    out = {}
    for label, sql in QUERIES.items():
        text = sql.format(t=f"read_parquet('{path}', hive_partitioning = false)")

        def run():
            with duckdb_connect() as con:
                return con.sql(text).to_arrow_table().to_pandas()

        df, timing = _median_runs(size, f"query-{label}", run)
        out[label] = {**timing, "first_row": [str(v) for v in df.iloc[0].tolist()]}
    return out


# ----------------------------------------------------------------------------- compaction


def _hour_dirs(group: str) -> dict[str, list[str]]:
    by_dir: dict[str, list[str]] = {}
    for path in sorted(glob.glob(parquet_glob(group), recursive=True)):
        by_dir.setdefault(os.path.dirname(path), []).append(path)
    return by_dir


def step_compact_raw(size: Size) -> dict:
    """What compact does, bare: per partition with >= 2 small files (the engine's own rule), read
    them, concatenate, sort by record and event time, write one file."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from store.offline.compaction import SMALL_FRACTION, TARGET_BYTES, TARGET_ROWS

    scratch = os.path.join(work_dir(SIZE_NAME), "raw", "compact")
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    by_dir = {folder: [f for f in files if pq.ParquetFile(f).metadata.num_rows < TARGET_ROWS // SMALL_FRACTION
                       and os.path.getsize(f) < TARGET_BYTES // SMALL_FRACTION]
              for folder, files in _hour_dirs(DRIVERS).items()}
    mark_baseline()
    merged_dirs = rows = 0
    with timed("compact_raw") as t:
        for i, (folder, files) in enumerate(by_dir.items()):
            if len(files) < 2:
                continue
            table = pa.concat_tables([pq.read_table(f) for f in files])
            order = pc.sort_indices(table, [("driver_id", "ascending"), ("_event_time", "ascending"), ("_seq", "ascending")])
            pq.write_table(table.take(order), os.path.join(scratch, f"{i:05d}.parquet"))
            merged_dirs += 1
            rows += table.num_rows
    return {"seconds": round(t.seconds, 3), "files_before": sum(map(len, by_dir.values())), "dirs_merged": merged_dirs,
            "rows_rewritten": rows}


def step_compact_engine(size: Size) -> dict:
    fs = open_store()
    mark_baseline()
    with timed("compact") as t:
        result = fs.compact(DRIVERS)
    fs.close()
    return {"seconds": round(t.seconds, 3), **result}


# ----------------------------------------------------------------------------- 5. CLI


def cli_command() -> tuple[list[str], str]:
    """The CLI's --help if there is a CLI, else importing the package."""
    import importlib.util

    exe = shutil.which("featurestore")
    if exe:
        return [exe, "--help"], "featurestore --help"
    if importlib.util.find_spec("store.cli") is not None:
        return [sys.executable, "-m", "store.cli", "--help"], "python -m store.cli --help"
    return [sys.executable, "-c", "import store"], "python -c 'import store' (no CLI yet: store/cli.py missing)"


def step_cli(size: Size) -> dict:
    import subprocess

    cmd, label = cli_command()
    runs = {"command": (cmd, label), "import_store": ([sys.executable, "-c", "import store"], "python -c 'import store'"),
            "python_startup": ([sys.executable, "-c", "pass"], "python -c pass")}
    out: dict[str, Any] = {}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
    mark_baseline()
    for key, (argv, text) in runs.items():
        times = []
        for i in range(6):
            t0 = time.perf_counter()
            proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
            dt = time.perf_counter() - t0
            if proc.returncode != 0:
                raise RuntimeError(f"{text} failed ({proc.returncode}): {proc.stderr[-2000:]}")
            if i:  # first run warms the page cache and .pyc files
                times.append(dt)
        out[key] = {"label": text, "seconds": round(statistics.median(times), 3), "runs": [round(x, 3) for x in times]}
    return out


# ----------------------------------------------------------------------------- main


def step_ingest_shuffled(size: Size) -> dict:
    from .steps_offline import ingest_shuffled

    return ingest_shuffled(size, sys.modules[__name__])


def step_sparse(size: Size) -> dict:
    from .steps_offline import sparse

    return sparse(size, sys.modules[__name__])


def step_quality_ingest(size: Size) -> dict:
    from .steps_quality import ingest_rules

    return ingest_rules(size, sys.modules[__name__])


def step_quality_puts(size: Size) -> dict:
    from .steps_quality import put_rules

    return put_rules(size, sys.modules[__name__])


def step_quality_drift(size: Size) -> dict:
    from .steps_quality import drift

    return drift(size, sys.modules[__name__])


def step_pipeline_runs(size: Size) -> dict:
    from .steps_pipelines import incremental

    return incremental(size, sys.modules[__name__])


def step_access_overhead(size: Size) -> dict:
    from .steps_access import overhead

    return overhead(size, sys.modules[__name__])


def step_spark_build(size: Size) -> dict:
    from .steps_scale import spark_build

    return spark_build(size, sys.modules[__name__])


def step_spark_ingest(size: Size) -> dict:
    from .steps_scale import spark_ingest

    return spark_ingest(size, sys.modules[__name__])


def step_s3_storage(size: Size) -> dict:
    from .steps_scale import s3_storage

    return s3_storage(size, sys.modules[__name__])


def step_online_backends(size: Size) -> dict:
    from .steps_online import online_backends

    return online_backends(size, sys.modules[__name__])


STEP_FUNCS = {name[5:]: fn for name, fn in dict(globals()).items() if name.startswith("step_")}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE_NAME = "small"
STORE = ""


def main(argv: list[str] | None = None) -> int:
    global PROFILE_DIR, STEP_NAME, SIZE_NAME, STORE
    parser = argparse.ArgumentParser(prog="python -m bench.steps")
    parser.add_argument("step", choices=sorted(STEP_FUNCS))
    parser.add_argument("--size", default="small", choices=sorted(SIZES))
    parser.add_argument("--result", required=True)
    parser.add_argument("--profile", default=None, help="folder for cProfile output of the timed blocks")
    args = parser.parse_args(argv)
    PROFILE_DIR, STEP_NAME, SIZE_NAME = args.profile, args.step, args.size
    STORE = store_dir(args.size)
    payload: dict[str, Any] = {"step": args.step, "size": args.size}
    try:
        payload["result"] = STEP_FUNCS[args.step](SIZES[args.size])
        payload["ok"] = True
    except Exception:  # noqa: BLE001 - reported to the runner
        payload["ok"] = False
        payload["error"] = traceback.format_exc()
    payload.update(BASELINE)
    payload["self_peak_rss_mb"] = round(maxrss_mb(), 1)
    write_json(args.result, payload)
    return 0 if payload["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
