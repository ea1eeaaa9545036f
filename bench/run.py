"""Run the benchmark: ``python -m bench.run [--size small|large] [--out bench/results] [--only STEP ...]``.

Runs each step of ``bench.steps`` in its own subprocess (peak RSS from ``os.wait4``), prints a
table of engine vs raw-limit figures with ratios and targets, and writes
``<out>/<size>-<UTC time>.json``, ``<out>/latest-<size>.json`` and ``<out>/latest-<size>.md``.
"""
from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from typing import Any

from .common import REPO_ROOT, SIZES, read_json, write_json

# Order matters: later steps read the store ingest_engine builds; puts and compaction change it,
# so they run after the reads that are checked against a hand-written query.
STEPS = [
    "gen",
    "ingest_engine", "ingest_raw_sqlite_all", "ingest_raw_sqlite_latest", "ingest_raw_parquet", "ingest_shuffled",
    "online_reads",
    "build_engine", "build_raw", "build_check", "spark_build",
    "asof_engine", "asof_raw",
    "query_engine", "query_raw",
    "put_raw", "put_engine",
    "compact_raw", "compact_engine",
    "sparse",
    "quality_ingest", "quality_puts", "quality_drift",
    "pipeline_runs",
    "access_overhead",
    "spark_ingest", "s3_storage", "online_backends",
    "cli",
]

TARGETS = {
    "ingest_rows_per_s": 300_000,
    "shuffled_ingest_rows_per_s": 500_000,
    "get_record_ratio": 5.0,
    "batch_ratio": 2.0,
    "puts_per_s": 5_000,
    "build_ratio": {"small": 1.5, "large": 2.0},  # against the same rows in one file per group
    "sparse_scan_ratio": 1.5,
    "rules_ingest_overhead": 0.20,
    "rules_put_share": 0.90,
    "drift_seconds": 1.0,
    "pipeline_ratio": 1.5,  # an incremental run against the same SQL by hand on the new rows
    "empty_run_seconds": 0.05,
    "spark_raw_ratio": 3.0,  # a warm Spark build_dataset against a hand-written Spark join on the same files
    "s3_ratio": 2.0,  # S3 on loopback against a local folder, ingest and dataset
}


STEP_TIMEOUT_S = {"small": 300, "large": 1800}


def run_step(name: str, size: str, tmp: str, profile: str | None, timeout: float) -> dict[str, Any]:
    result = os.path.join(tmp, f"{name}.json")
    argv = [sys.executable, "-m", "bench.steps", name, "--size", size, "--result", result]
    if profile:
        argv += ["--profile", profile]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [REPO_ROOT, os.environ.get("PYTHONPATH")]))}
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=REPO_ROOT, env=env)
    timed_out = False
    while True:  # wait4 gives this child's own rusage (peak RSS); poll so a runaway step can be stopped
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - started > timeout and not timed_out:
            timed_out = True
            proc.kill()
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen from waiting again
    wall = time.perf_counter() - started
    if os.path.exists(result):
        payload = read_json(result)
    elif timed_out:
        payload = {"step": name, "ok": False, "timed_out": True,
                   "error": f"killed after the {timeout:.0f}s step timeout (--step-timeout)"}
    else:
        payload = {"step": name, "ok": False, "error": f"exited with {proc.returncode} and wrote no result"}
    payload["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)
    payload["wall_s"] = round(wall, 2)
    # Other processes on the machine skew timings; the 1-minute load average says how busy it was.
    payload["loadavg_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return payload


# ----------------------------------------------------------------------------- table


def _r(steps: dict, name: str) -> dict:
    s = steps.get(name) or {}
    return s.get("result") or {} if s.get("ok") else {}


def _rss(steps: dict, name: str) -> str:
    s = steps.get(name)
    return f"{s['peak_rss_mb']:,.0f}" if s and "peak_rss_mb" in s else "-"


def _fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    if x < 0.01:
        return f"{x * 1000:.2f} ms"
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s"


def _fmt_rate(x: float | None, unit: str = "rows/s") -> str:
    return "-" if x is None else f"{x / 1000:,.0f}k {unit}" if x >= 10_000 else f"{x:,.0f} {unit}"


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    return f"{a / b:.2f}x"


def _ok(flag: bool | None) -> str:
    return "-" if flag is None else ("PASS" if flag else "MISS")


def summary_rows(steps: dict, size: str) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []

    def add(measure: str, engine: str, raw: str, ratio: str, target: str = "", ok: bool | None = None,
            rss_e: str = "-", rss_r: str = "-") -> None:
        rows.append({"measure": measure, "engine": engine, "raw": raw, "ratio": ratio, "target": target,
                     "status": _ok(ok), "rss_engine_mb": rss_e, "rss_raw_mb": rss_r})

    # 1. ingest
    ie, ia, il, ip = (_r(steps, n) for n in ("ingest_engine", "ingest_raw_sqlite_all", "ingest_raw_sqlite_latest",
                                              "ingest_raw_parquet"))
    for g in ("driver_stats", "customer_profile"):
        e, a, l, p = ie.get(g, {}), ia.get(g, {}), il.get(g, {}), ip.get(g, {})
        raw_s = (l.get("seconds") or 0) + (p.get("seconds") or 0) if l and p else None
        add(f"1. ingest {g} ({e.get('rows', 0):,} rows)",
            f"{_fmt_s(e.get('seconds'))} = {_fmt_rate(e.get('rows_per_s'))}",
            f"{_fmt_s(raw_s)} (sqlite latest {_fmt_s(l.get('seconds'))} + parquet {_fmt_s(p.get('seconds'))})",
            _ratio(e.get("seconds"), raw_s), rss_e=_rss(steps, "ingest_engine"))
    et, at_, lt, pt = ie.get("total", {}), ia.get("total", {}), il.get("total", {}), ip.get("total", {})
    raw_latest = lt["seconds"] + pt["seconds"] if lt and pt else None
    raw_all = at_["seconds"] + pt["seconds"] if at_ and pt else None
    rate = et.get("rows_per_s")
    add("1. ingest total, both groups (vs sqlite latest-per-id + parquet)",
        f"{_fmt_s(et.get('seconds'))} = {_fmt_rate(rate)}",
        f"{_fmt_s(raw_latest)} = {_fmt_rate(et['rows'] / raw_latest if raw_latest and et else None)}",
        _ratio(et.get("seconds"), raw_latest), ">= 300k rows/s",
        rate >= TARGETS["ingest_rows_per_s"] if rate else None,
        _rss(steps, "ingest_engine"), _rss(steps, "ingest_raw_sqlite_latest"))
    add("1. ingest total (vs sqlite ALL rows + parquet)", "", 
        f"{_fmt_s(raw_all)} = {_fmt_rate(et['rows'] / raw_all if raw_all and et else None)}",
        _ratio(et.get("seconds"), raw_all), rss_r=_rss(steps, "ingest_raw_sqlite_all"))
    for label, part, step in (("raw: sqlite executemany upsert, ALL rows", at_, "ingest_raw_sqlite_all"),
                              ("raw: sqlite executemany upsert, latest-per-id rows", lt, "ingest_raw_sqlite_latest"),
                              ("raw: pyarrow.parquet.write_table (one file per group)", pt, "ingest_raw_parquet")):
        detail = ""
        if step != "ingest_raw_parquet":
            r = _r(steps, step)
            conv = sum(r.get(g, {}).get("convert_s", 0) for g in ("driver_stats", "customer_profile"))
            detail = f" (to tuples {_fmt_s(conv)})" if r else ""
        add(f"   {label}", "", f"{_fmt_s(part.get('seconds'))} = {_fmt_rate(part['rows'] / part['seconds'] if part else None)}{detail}",
            "", rss_r=_rss(steps, step))
    daily = ip.get("daily")
    if daily:
        add(f"   (ref) parquet write_table per event day, {daily['files']:,} files like the engine", "",
            f"{_fmt_s(daily['seconds'])} = {_fmt_rate(daily['rows'] / daily['seconds'])}", "")
    sh = _r(steps, "ingest_shuffled")
    if sh:
        add(f"1. ingest both groups shuffled (every batch spans the month; {sh['rows']:,} rows)",
            f"{_fmt_s(sh['seconds'])} = {_fmt_rate(sh['rows_per_s'])}",
            f"{_fmt_s(raw_latest)} (as above)", _ratio(sh["seconds"], raw_latest), ">= 500k rows/s",
            sh["rows_per_s"] >= TARGETS["shuffled_ingest_rows_per_s"], _rss(steps, "ingest_shuffled"))
        add("   fsync of files and folders before the commit (the same shuffled ingest without it)",
            f"+{_fmt_s(sh['fsync_cost_s'])}", f"{_fmt_s(sh['seconds_without_fsync'])} without fsync",
            _ratio(sh["seconds"], sh["seconds_without_fsync"]))

    # 2. online reads
    o = _r(steps, "online_reads")
    for key, label, limit in (("get_record", "get_record", TARGETS["get_record_ratio"]),
                              ("batch_get_records", f"batch_get_records({o.get('batch_get_records', {}).get('batch', 100)})",
                               TARGETS["batch_ratio"])):
        e, r = o.get(key, {}).get("engine", {}), o.get(key, {}).get("raw", {})
        for p in ("p50", "p99"):
            ev, rv = e.get(f"{p}_us"), r.get(f"{p}_us")
            add(f"2. {label} {p}", f"{ev:,.1f} us" if ev else "-", f"{rv:,.1f} us" if rv else "-", _ratio(ev, rv),
                f"<= {limit:g}x raw", (ev / rv <= limit) if ev and rv else None, _rss(steps, "online_reads"),
                _rss(steps, "online_reads"))

    # 3. puts
    pe, pr = _r(steps, "put_engine"), _r(steps, "put_raw")
    if pe or pr:
        add(f"3. put_record x{pe.get('puts', 0):,} (online + staging, incl. auto-flush)",
            f"{_fmt_rate(pe.get('puts_per_s'), 'puts/s')} (p50 {pe.get('latency', {}).get('p50_us', 0):,.0f} us)",
            f"{_fmt_rate(pr.get('puts_per_s'), 'puts/s')}",
            _ratio(pr.get("puts_per_s"), pe.get("puts_per_s")), ">= 5k puts/s",
            pe.get("puts_per_s", 0) >= TARGETS["puts_per_s"] if pe else None,
            _rss(steps, "put_engine"), _rss(steps, "put_raw"))

    # 4. datasets
    be, br, bc = _r(steps, "build_engine"), _r(steps, "build_raw"), _r(steps, "build_check")
    if steps.get("build_engine", {}).get("timed_out"):
        be_label = f"timed out after {steps['build_engine']['wall_s']:.0f} s"
    else:
        be_label = _fmt_s(be.get("seconds"))
    build_limit = TARGETS["build_ratio"][size]
    add(f"4. build_dataset ({(be or br).get('rows', 0):,} entity rows x 2 groups, straight after ingest)", be_label,
        f"{_fmt_s(br.get('seconds'))} (DuckDB ASOF JOIN, each group in one file)",
        _ratio(be.get("seconds"), br.get("seconds")), f"<= {build_limit:g}x raw",
        (be["seconds"] / br["seconds"] <= build_limit) if be and br else None,
        _rss(steps, "build_engine"), _rss(steps, "build_raw"))
    add("4. build_dataset result identical to hand-written query",
        "yes" if bc.get("identical") else ("NO" if bc else "-"),
        f"mismatches: {bc.get('mismatched_columns') or 'none'}" if bc else "-", "", "identical", bc.get("identical"))

    # other reads
    ae, ar = _r(steps, "asof_engine"), _r(steps, "asof_raw")
    for key, label in (("latest", "as_of(driver_stats) latest"), ("mid", "as_of(driver_stats) at 2026-10-16")):
        e, r = ae.get(key, {}), ar.get(key, {})
        same = (e.get("rows") == r.get("rows") and e.get("id_sum") == r.get("id_sum")
                and abs(e.get("conv_rate_sum", 0) - r.get("conv_rate_sum", 0)) < 1e-6) if e and r else None
        add(f"   {label} ({e.get('rows', 0):,} rows{'' if same is None else ', same as raw' if same else ', DIFFERS'})",
            _fmt_s(e.get("seconds")), _fmt_s(r.get("seconds")), _ratio(e.get("seconds"), r.get("seconds")),
            rss_e=_rss(steps, "asof_engine"), rss_r=_rss(steps, "asof_raw"))
    qe, qr = _r(steps, "query_engine"), _r(steps, "query_raw")
    for key, label in (("count", "fs.query('select count(*) from driver_stats')"),
                       ("group_by_city", "fs.query(city group-by avg)")):
        e, r = qe.get(key, {}), qr.get(key, {})
        add(f"   {label}", _fmt_s(e.get("seconds")), _fmt_s(r.get("seconds")), _ratio(e.get("seconds"), r.get("seconds")),
            rss_e=_rss(steps, "query_engine"), rss_r=_rss(steps, "query_raw"))
    ce, cr = _r(steps, "compact_engine"), _r(steps, "compact_raw")
    add(f"   compact(driver_stats) ({ce.get('files_before', 0):,} -> {ce.get('files_after', 0):,} files)",
        _fmt_s(ce.get("seconds")), f"{_fmt_s(cr.get('seconds'))} (pyarrow read+sort+write, same partitions)",
        _ratio(ce.get("seconds"), cr.get("seconds")), rss_e=_rss(steps, "compact_engine"),
        rss_r=_rss(steps, "compact_raw"))

    sp = _r(steps, "sparse")
    for key, label in (("select_all", "SELECT *"), ("aggregate", "count/sum/distinct")):
        e = sp.get(key)
        if e:
            add(f"   sparse group ({sp['rows']:,} rows over 30 days, {sp['files_before']:,} -> {sp['files_after']:,} files "
                f"after auto compaction): fs.query {label}", _fmt_s(e["engine_s"]),
                f"{_fmt_s(e['raw_s'])} (one file, warm DuckDB)", _ratio(e["engine_s"], e["raw_s"]),
                "<= 1.5x raw" if key == "select_all" else "",
                e["engine_s"] / e["raw_s"] <= TARGETS["sparse_scan_ratio"] if key == "select_all" else None,
                _rss(steps, "sparse"))

    # data quality
    qi, qp, qd = _r(steps, "quality_ingest"), _r(steps, "quality_puts"), _r(steps, "quality_drift")
    if qi:
        add(f"6. ingest driver_stats with {qi['rules']} row rules ({qi['rows']:,} rows)", _fmt_s(qi["seconds_with"]),
            f"{_fmt_s(qi['seconds_without'])} (the same ingest, no rules)", _ratio(qi["seconds_with"],
                                                                                  qi["seconds_without"]),
            "<= 1.20x", qi["overhead"] <= TARGETS["rules_ingest_overhead"], _rss(steps, "quality_ingest"))
    if qp:
        add(f"6. put_record with {qp['rules']} rules (x{qp['puts']:,})", _fmt_rate(qp["puts_per_s_with"], "puts/s"),
            f"{_fmt_rate(qp['puts_per_s_without'], 'puts/s')} (no rules)",
            _ratio(qp["puts_per_s_with"], qp["puts_per_s_without"]), ">= 0.90x",
            qp["share"] >= TARGETS["rules_put_share"], _rss(steps, "quality_puts"))
    if qd:
        add(f"6. drift, {qd['features']} features, {qd['rows_reference']:,} vs {qd['rows_current']:,} rows",
            _fmt_s(qd["seconds"]), f"{_fmt_s(qd['raw_seconds'])} (DuckDB reads both windows, no figures)",
            _ratio(qd["seconds"], qd["raw_seconds"]), "< 1 s", qd["seconds"] < TARGETS["drift_seconds"],
            _rss(steps, "quality_drift"))

    # pipelines
    pr = _r(steps, "pipeline_runs")
    if pr:
        by_hand = pr["raw_seconds"] + pr["raw_write_seconds"]
        add(f"7. incremental pipeline run, {pr['new_rows']:,} new of {pr['input_rows']:,} rows -> {pr['rows_out']:,} "
            "rows written", _fmt_s(pr["seconds"]),
            f"{_fmt_s(by_hand)} (the SQL by hand on the new rows {_fmt_s(pr['raw_seconds'])} + a bare write of "
            f"its output {_fmt_s(pr['raw_write_seconds'])})", _ratio(pr["seconds"], by_hand), "<= 1.5x",
            pr["seconds"] / by_hand <= TARGETS["pipeline_ratio"], _rss(steps, "pipeline_runs"))
        add("   the same run against the SQL alone (no write)", _fmt_s(pr["seconds"]), _fmt_s(pr["raw_seconds"]),
            _ratio(pr["seconds"], pr["raw_seconds"]))
        add("7. pipeline run with nothing new", _fmt_s(pr["empty_seconds"]), "", "", "< 50 ms",
            pr["empty_seconds"] < TARGETS["empty_run_seconds"], _rss(steps, "pipeline_runs"))

    # access control
    ac = _r(steps, "access_overhead")
    if ac:
        add(f"8. put_record x{ac['puts']:,} with an access file (checked, audited)",
            _fmt_rate(ac["put_per_s"]["secured"], "puts/s"), f"{_fmt_rate(ac['put_per_s']['open'], 'puts/s')} (open store)",
            _ratio(ac["put_per_s"]["open"], ac["put_per_s"]["secured"]), ">= 5k puts/s",
            ac["put_per_s"]["secured"] >= TARGETS["puts_per_s"], _rss(steps, "access_overhead"))
        add("8. get_record with an access file (checked)", f"{ac['get_us']['secured']:,.1f} us",
            f"{ac['get_us']['open']:,.1f} us (open store)", _ratio(ac["get_us"]["secured"], ac["get_us"]["open"]))
        add(f"8. ingest {ac['rows']:,} rows with an access file", _fmt_s(ac["ingest_s"]["secured"]),
            f"{_fmt_s(ac['ingest_s']['open'])} (open store)", _ratio(ac["ingest_s"]["secured"], ac["ingest_s"]["open"]))
        enc = ac.get("encryption")
        if enc:
            add(f"8. ingest {ac['rows']:,} rows into an encrypted store", _fmt_s(enc["ingest_s"]["encrypted"]),
                f"{_fmt_s(enc['ingest_s']['plain'])} (the same store unencrypted)",
                _ratio(enc["ingest_s"]["encrypted"], enc["ingest_s"]["plain"]))
            add("8. full scan (count, sum, distinct) of an encrypted store", _fmt_s(enc["scan_s"]["encrypted"]),
                f"{_fmt_s(enc['scan_s']['plain'])} (unencrypted)", _ratio(enc["scan_s"]["encrypted"],
                                                                           enc["scan_s"]["plain"]))
            add("8. get_record from an encrypted store", f"{enc['get_us']['encrypted']:,.1f} us",
                f"{enc['get_us']['plain']:,.1f} us (unencrypted)", _ratio(enc["get_us"]["encrypted"],
                                                                         enc["get_us"]["plain"]))
            add("8. dataset of 20,000 entity rows from an encrypted store", _fmt_s(enc["dataset_s"]["encrypted"]),
                f"{_fmt_s(enc['dataset_s']['plain'])} (unencrypted)", _ratio(enc["dataset_s"]["encrypted"],
                                                                            enc["dataset_s"]["plain"]))

    # 9. scaling out
    sb = _r(steps, "spark_build")
    if sb:
        add(f"9. Spark session start (local[*])", _fmt_s(sb["session_s"]), "", "")
        add(f"9. build_dataset on Spark, first run ({sb['rows']:,} rows; identical: {sb['identical']})",
            _fmt_s(sb["first_s"]), f"{_fmt_s(sb['duckdb_s'])} (DuckDB)", _ratio(sb["first_s"], sb["duckdb_s"]))
        add("9. build_dataset on Spark, warm", _fmt_s(sb["warm_s"]), f"{_fmt_s(sb['raw_spark_s'])} (Spark by hand)",
            _ratio(sb["warm_s"], sb["raw_spark_s"]), "<= 3x", sb["warm_s"] <= TARGETS["spark_raw_ratio"] * sb["raw_spark_s"],
            _rss(steps, "spark_build"))
    si = _r(steps, "spark_ingest")
    if si:
        add(f"9. Spark ingest of {si['rows']:,} rows ({si['spark_files']} files)", _fmt_s(si["spark_s"]),
            f"{_fmt_s(si['pandas_s'])} (pandas ingest, {si['pandas_files']} files)", _ratio(si["spark_s"], si["pandas_s"]))
    s3 = _r(steps, "s3_storage")
    if s3:
        for what, label in (("ingest", f"ingest {s3['rows']:,} rows"), ("dataset", f"dataset of {s3['entity_rows']:,} rows")):
            got, local = s3[f"{what}_s"]["s3"], s3[f"{what}_s"]["local"]
            add(f"9. {label}, store on S3 (loopback SeaweedFS)", _fmt_s(got), f"{_fmt_s(local)} (local folder)",
                _ratio(got, local), "<= 2x", got <= TARGETS["s3_ratio"] * local, _rss(steps, "s3_storage"))

    # 10. online store backends
    ob = _r(steps, "online_backends")
    if ob:
        bare = {"sqlite": ("bare sqlite3 SELECT", "IN (...)"), "redis": ("bare redis-py HMGET", "pipeline of 100 HMGET"),
                "postgresql": ("bare psycopg prepared SELECT", "= ANY(...)")}
        bare["pg_registry"] = bare["postgresql"]
        for backend in ("sqlite", "redis", "postgresql", "pg_registry"):
            if backend not in ob:
                continue
            b, server = ob[backend], backend != "sqlite"
            where = "the registry on PostgreSQL" if backend == "pg_registry" else backend
            add(f"10. get_record p50, online store in {where}", f"{b['get']['p50_us']:,.1f} us",
                f"{b['get_raw']['p50_us']:,.1f} us ({bare[backend][0]})", _ratio(b["get"]["p50_us"], b["get_raw"]["p50_us"]),
                "<= 2x" if server else "", b["get"]["p50_us"] <= 2 * b["get_raw"]["p50_us"] if server else None,
                _rss(steps, "online_backends"))
            add(f"10. batch_get_records(100) p50, {backend}", f"{b['batch']['p50_us']:,.1f} us",
                f"{b['batch_raw']['p50_us']:,.1f} us ({bare[backend][1]})",
                _ratio(b["batch"]["p50_us"], b["batch_raw"]["p50_us"]), "<= 1.5x" if server else "",
                b["batch"]["p50_us"] <= 1.5 * b["batch_raw"]["p50_us"] if server else None)
            add(f"10. put_record x{ob['puts']:,}, {backend}", _fmt_rate(b["puts_per_s"], "puts/s"), "", "")

    # 5. CLI
    cl = _r(steps, "cli")
    if cl:
        add(f"5. {cl['command']['label']}", _fmt_s(cl["command"]["seconds"]),
            f"{_fmt_s(cl['python_startup']['seconds'])} (python -c pass)",
            _ratio(cl["command"]["seconds"], cl["python_startup"]["seconds"]))
        if cl["command"]["label"] != cl["import_store"]["label"]:
            add("   python -c 'import store'", _fmt_s(cl["import_store"]["seconds"]), "", "")
    # Partial runs (--only): drop the rows nothing was measured for.
    return [r for r in rows if any(c.isdigit() for c in r["engine"] + r["raw"]) or r["engine"] in ("yes", "NO")]


COLUMNS = [("measure", "Measurement"), ("engine", "Engine"), ("raw", "Raw limit"), ("ratio", "Engine/raw"),
           ("target", "Target"), ("status", "Status"), ("rss_engine_mb", "Peak RSS eng MiB"),
           ("rss_raw_mb", "Peak RSS raw MiB")]


def render_text(rows: list[dict[str, str]]) -> str:
    widths = {k: max([len(title), *(len(r[k]) for r in rows)]) for k, title in COLUMNS}
    line = "  ".join(title.ljust(widths[k]) for k, title in COLUMNS)
    out = [line, "  ".join("-" * widths[k] for k, _ in COLUMNS)]
    out += ["  ".join(r[k].ljust(widths[k]) for k, _ in COLUMNS) for r in rows]
    return "\n".join(out)


def render_markdown(rows: list[dict[str, str]]) -> str:
    out = ["| " + " | ".join(t for _, t in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    out += ["| " + " | ".join(r[k].replace("|", "\\|") for k, _ in COLUMNS) + " |" for r in rows]
    return "\n".join(out)


# ----------------------------------------------------------------------------- environment


def environment() -> dict[str, Any]:
    def version(pkg: str) -> str | None:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    mem = None
    try:
        with open("/proc/meminfo") as fh:
            mem = round(int(fh.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count(), "mem_gib": mem,
        "sqlite": sqlite3.sqlite_version,
        "packages": {p: version(p) for p in ("pandas", "pyarrow", "duckdb", "numpy", "psycopg", "redis")},
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_dirty_engine": git("status", "--porcelain", "--", "store").splitlines(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="small", choices=sorted(SIZES))
    parser.add_argument("--out", default=os.path.join("bench", "results"))
    parser.add_argument("--only", nargs="+", choices=STEPS, help="run only these steps (the store must exist)")
    parser.add_argument("--step-timeout", type=float, default=None,
                        help="seconds before a step is killed (default 300 small, 1800 large)")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile each timed block into <out>/profile-<size>/ (figures are then inflated)")
    args = parser.parse_args(argv)
    out_dir = os.path.abspath(args.out)
    os.makedirs(out_dir, exist_ok=True)
    profile = os.path.join(out_dir, f"profile-{args.size}") if args.profile else None
    steps: dict[str, Any] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for name in args.only or STEPS:
            print(f"[bench {args.size}] {name} ...", file=sys.stderr, flush=True)
            steps[name] = run_step(name, args.size, tmp, profile, args.step_timeout or STEP_TIMEOUT_S[args.size])
            s = steps[name]
            status = "ok" if s.get("ok") else "FAILED"
            print(f"[bench {args.size}] {name}: {status} in {s['wall_s']:.1f}s, peak RSS {s['peak_rss_mb']:,.0f} MiB",
                  file=sys.stderr, flush=True)
            if not s.get("ok"):
                print(s.get("error", ""), file=sys.stderr)
    total = time.perf_counter() - started
    rows = summary_rows(steps, args.size)
    text = render_text(rows)
    print()
    print(f"Feature store benchmark, size={args.size} ({'profiled, inflated figures' if profile else 'not profiled'}), "
          f"total {total:.0f}s")
    print(text)
    report = {"size": args.size, "size_params": vars(SIZES[args.size]), "targets": TARGETS, "profiled": bool(profile),
              "env": environment(), "total_wall_s": round(total, 1), "summary": rows, "steps": steps}
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    if not args.only:
        write_json(os.path.join(out_dir, f"latest-{args.size}.json"), report)
        with open(os.path.join(out_dir, f"latest-{args.size}.md"), "w") as fh:
            fh.write(f"size={args.size}, {report['env']['utc']}, commit {report['env']['git_commit']}"
                     f"{' (store/ has uncommitted changes)' if report['env']['git_dirty_engine'] else ''}\n\n")
            fh.write(render_markdown(rows) + "\n")
    path = os.path.join(out_dir, f"{args.size}-{stamp}{'-partial' if args.only else ''}.json")
    write_json(path, report)
    print(f"\nresults: {path}")
    return 0 if all(s.get("ok") for s in steps.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
