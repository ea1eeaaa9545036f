"""Benchmark steps for data quality: what ten row rules add to a bulk ingest, what five rules take
from single puts, and drift of ten features between two halves of the month. ``bench.steps``
registers them and passes itself as ``base`` (its helpers, and the size and store it runs with)."""
from __future__ import annotations

import os
import shutil
import statistics
import time
from types import ModuleType
from typing import Any

from .common import MID_PERIOD_ISO, Size, input_path, work_dir

CITIES = [f"C{i:03d}" for i in range(50)]
TEN_RULES = [
    {"feature": "conv_rate", "check": "not_null"},
    {"feature": "conv_rate", "check": "between", "min": 0, "max": 1},
    {"feature": "acc_rate", "check": "between", "min": 0, "max": 1},
    {"feature": "rating", "check": "between", "min": 1, "max": 5},
    {"feature": "earnings_7d", "check": "between", "min": 0},
    {"feature": "cancel_rate", "check": "between", "min": 0, "max": 1},
    {"feature": "trips_today", "check": "between", "min": 0, "max": 200},
    {"feature": "city", "check": "in", "values": CITIES},
    {"feature": "city", "check": "regex", "pattern": r"^C[0-9]{3}$"},
    {"check": "expression", "sql": "online_hours <= 24", "name": "hours_in_a_day"},
]
FIVE_RULES = [
    {"feature": "conv_rate", "check": "not_null"},
    {"feature": "conv_rate", "check": "between", "min": 0, "max": 100},
    {"feature": "trips_today", "check": "between", "min": 0, "max": 40},
    {"feature": "city", "check": "in", "values": CITIES},
    {"feature": "city", "check": "regex", "pattern": r"^C[0-9]{3}$"},
]


def _store(base: ModuleType, folder: str, rules: list[dict] | None):
    from store import FeatureStore

    shutil.rmtree(folder, ignore_errors=True)
    fs = FeatureStore(folder, writer="bench")
    rid, feats = base.GROUPS[base.DRIVERS]
    fs.create_feature_group(base.DRIVERS, rid, "event_time", feats(), description="bench drivers")
    if rules:
        fs.set_rules(base.DRIVERS, rules)
    return fs


def ingest_rules(size: Size, base: ModuleType) -> dict:
    """driver_stats (every row) into a fresh store without rules and with ten row rules, turn
    about, five times; the median of each."""
    import pandas as pd

    frame = pd.read_parquet(input_path(base.SIZE_NAME, base.DRIVERS))
    folder = os.path.join(work_dir(base.SIZE_NAME), "quality-ingest")
    times: dict[str, list[float]] = {"none": [], "rules": []}
    base.mark_baseline()
    for i in range(max(5, size.repeats)):
        for variant, rules in (("none", None), ("rules", TEN_RULES)):
            fs = _store(base, folder, rules)
            with base.timed(f"ingest-{variant}-{i}") as t:
                report = fs.ingest(base.DRIVERS, frame)
            assert report.rows_written == len(frame), report.summary()
            times[variant].append(t.seconds)
            fs.close()
    shutil.rmtree(folder, ignore_errors=True)
    none, rules = statistics.median(times["none"]), statistics.median(times["rules"])
    return {"rows": len(frame), "rules": len(TEN_RULES), "seconds_without": round(none, 3),
            "seconds_with": round(rules, 3), "overhead": round(rules / none - 1, 4),
            "runs": {k: [round(x, 3) for x in v] for k, v in times.items()}}


def put_rules(size: Size, base: ModuleType) -> dict:
    """``size.puts`` single puts into two fresh stores, one without rules and one with five, in
    blocks of 500 taken turn about (so a machine's changing speed falls on both alike), three
    rounds; the median rate of each."""
    records = base._put_inputs(size)
    folders = {v: os.path.join(work_dir(base.SIZE_NAME), f"quality-puts-{v}") for v in ("none", "rules")}
    rates: dict[str, list[float]] = {"none": [], "rules": []}
    base.mark_baseline()
    for i in range(3):
        stores = {"none": _store(base, folders["none"], None), "rules": _store(base, folders["rules"], FIVE_RULES)}
        seconds = dict.fromkeys(stores, 0.0)
        for lo in range(0, len(records), 500):
            block = records[lo:lo + 500]
            for variant, fs in stores.items():
                put = fs.put_record
                started = time.perf_counter()
                for rec in block:
                    put(base.DRIVERS, rec)
                seconds[variant] += time.perf_counter() - started
        for variant, fs in stores.items():
            rates[variant].append(len(records) / seconds[variant])
            fs.close()
    for folder in folders.values():
        shutil.rmtree(folder, ignore_errors=True)
    none, rules = statistics.median(rates["none"]), statistics.median(rates["rules"])
    return {"puts": len(records), "rules": len(FIVE_RULES), "puts_per_s_without": round(none),
            "puts_per_s_with": round(rules), "share": round(rules / none, 4),
            "runs": {k: [round(x) for x in v] for k, v in rates.items()}}


def drift(size: Size, base: ModuleType) -> dict:
    """Every figure for ten features of the ingested driver_stats, the first half of October
    against the second; the raw limit reads the same columns of both windows from the input file
    with a warm DuckDB connection (no figures)."""
    import duckdb

    from .data import DRIVER_FLOATS

    features = [*DRIVER_FLOATS, "trips_today", "city"]
    start, mid, end = "2026-10-01T00:00:00Z", MID_PERIOD_ISO, "2026-11-01T00:00:00Z"
    fs = base.open_store()
    warm = duckdb.connect()
    source = input_path(base.SIZE_NAME, base.DRIVERS)
    cols = ", ".join(features)

    def raw() -> list[Any]:
        return [warm.cursor().sql(f"SELECT {cols} FROM read_parquet('{source}') WHERE event_time >= TIMESTAMPTZ "
                                  f"'{lo}' AND event_time < TIMESTAMPTZ '{hi}'").to_arrow_table()
                for lo, hi in ((start, mid), (mid, end))]

    base.mark_baseline()
    result, engine = base._median_runs(size, "drift", lambda: fs.drift(base.DRIVERS, (start, mid), (mid, end),
                                                                       features), repeats=5)
    tables, raw_t = base._median_runs(size, "drift-raw", raw, repeats=5)
    fs.close()
    return {"features": len(features), "rows_reference": int(result["rows_reference"].iloc[0]),
            "rows_current": int(result["rows_current"].iloc[0]), "raw_rows": [t.num_rows for t in tables],
            "seconds": engine["seconds"], "raw_seconds": raw_t["seconds"], "runs": engine["runs"],
            "statuses": result.set_index("feature")["status"].to_dict(), "at": time.time()}
