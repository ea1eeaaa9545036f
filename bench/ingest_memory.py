"""Peak memory of ingesting small files that expand to 40M rows (issue 19, D6):
``python -m bench.ingest_memory [--rows 40000000] [--kill-mb 6500] [--only parquet csv.gz]``.

Writes the attack report's two files (a 40M-row Parquet file of dictionary/zstd columns, ~0.5 MB,
and a ``.csv.gz`` of the same rows, ~2.4 MB) into a temporary folder, then ingests each into a
fresh store in its own subprocess and reports its peak RSS (``os.wait4``'s ``ru_maxrss``) and
seconds. A watchdog kills a child whose RSS passes ``--kill-mb`` (reported as killed), so a
run without streaming does not take the machine down.
"""
from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time

from .common import REPO_ROOT

CHILD = """
import sys
from store import FeatureStore, Feature
fs = FeatureStore(sys.argv[1])
fs.create_feature_group("g", "id", "ts", [Feature("id"), Feature("ts"), Feature("i", "Integral")])
report = fs.ingest("g", sys.argv[2], on_error="skip")
print(report.rows_written)
"""


def write_files(folder: str, rows: int) -> dict[str, str]:
    """The report's Parquet bomb and a gzip CSV with the same rows (written in slices)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    z = pa.array(np.zeros(rows, dtype=np.int32))
    parquet = os.path.join(folder, "bomb.parquet")
    pq.write_table(pa.table({"id": pa.DictionaryArray.from_arrays(z, pa.array(["b"])),
                             "ts": pa.DictionaryArray.from_arrays(z, pa.array(["2026-01-01T00:00:00Z"])),
                             "i": pa.array(np.ones(rows, dtype=np.int64))}),
                   parquet, compression="zstd", row_group_size=4_000_000)
    csv_gz = os.path.join(folder, "bomb.csv.gz")
    line = b"b,2026-01-01T00:00:00Z,1\n"
    with gzip.open(csv_gz, "wb", compresslevel=9) as fh:
        fh.write(b"id,ts,i\n")
        step = 1_000_000
        for start in range(0, rows, step):
            fh.write(line * min(step, rows - start))
    return {"parquet": parquet, "csv.gz": csv_gz}


def measure(path: str, kill_mb: int) -> dict:
    """Ingest ``path`` into a fresh store in a child process: peak RSS (MB), seconds, outcome."""
    store = tempfile.mkdtemp(prefix="fs-mem-")
    env = {**os.environ, "PYTHONPATH": REPO_ROOT}
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", CHILD, store, path], env=env, cwd=REPO_ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = False
    while True:  # wait4 (not poll, which would reap the child) gives its own ru_maxrss
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        try:
            with open(f"/proc/{child.pid}/status") as fh:
                rss_kb = next((int(x.split()[1]) for x in fh if x.startswith("VmRSS:")), 0)
        except OSError:
            rss_kb = 0
        if rss_kb > kill_mb * 1024 and not killed:
            child.kill()
            killed = True
        time.sleep(0.2)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    out, err = child.stdout.read(), child.stderr.read()
    return {"file": os.path.basename(path), "bytes": os.path.getsize(path), "peak_rss_mb": usage.ru_maxrss // 1024,
            "seconds": round(seconds, 1), "killed": killed,
            "rows_written": out.strip() or None, "error": None if killed or status == 0 else err.strip()[-300:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=40_000_000)
    parser.add_argument("--kill-mb", type=int, default=6500)
    parser.add_argument("--only", nargs="*", default=["parquet", "csv.gz"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fs-bomb-") as folder:
        files = write_files(folder, args.rows)
        for kind in args.only:
            result = measure(files[kind], args.kill_mb)
            print(" ".join(f"{k}={v}" for k, v in result.items()), flush=True)


if __name__ == "__main__":
    main()
