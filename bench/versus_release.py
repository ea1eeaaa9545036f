"""Single-column gets and puts of this tree against an earlier release, in the same run (issue 22:
"no slower than before"): ``python -m bench.versus_release --release DIR [--rounds 3]``, where DIR
holds that release's ``store/`` package (``git archive <commit> store | tar -x -C DIR``).

Each round runs one subprocess per code base, alternating, on a fresh store of 100k records of 15
features keyed by one Integral column: ``get_record`` of 20,000 random ids (p50, p99),
``batch_get_records`` of 100 ids (p50) and 3,000 single ``put_record`` calls (puts/s). Reports the
median over rounds of each figure and this tree's ratio to the release's.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROBE = r"""
import json, random, statistics, sys, tempfile, time
import pandas as pd
from store import Feature, FeatureStore

n, rng = 100_000, random.Random(7)
feats = [Feature("tid", "Integral"), Feature("ts", "String"), *[Feature(f"f{i}", "Fractional") for i in range(12)],
         Feature("city", "String")]
frame = pd.DataFrame({"tid": range(n), "ts": "2026-10-01T00:00:00Z", **{f"f{i}": [rng.random() for _ in range(n)]
                      for i in range(12)}, "city": "C001"})
with tempfile.TemporaryDirectory() as folder:
    fs = FeatureStore(folder)
    fs.create_feature_group("g", "tid", "ts", feats)
    fs.ingest("g", frame)
    perf, get = time.perf_counter_ns, fs.get_record
    picks = [rng.randrange(n) for _ in range(22_000)]
    gets = []
    for i in picks:
        t0 = perf(); get("g", i); gets.append(perf() - t0)
    gets = sorted(gets[2_000:])
    batches = []
    for s in range(0, 10_000, 100):
        t0 = perf(); fs.batch_get_records("g", picks[s:s + 100]); batches.append(perf() - t0)
    records = [{"tid": n + i, "ts": "2026-10-02T00:00:00Z", **{f"f{j}": 0.5 for j in range(12)}, "city": "C2"}
               for i in range(3_000)]
    t0 = time.perf_counter()
    for r in records:
        fs.put_record("g", r)
    puts = len(records) / (time.perf_counter() - t0)
    fs.close()
print(json.dumps({"get_p50_us": statistics.median(gets) / 1e3, "get_p99_us": gets[int(len(gets) * .99)] / 1e3,
                  "batch100_p50_us": statistics.median(batches) / 1e3, "puts_per_s": puts}))
"""


def run(code: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", PROBE], check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": code}, cwd=code)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--release", required=True, help="a folder holding the release's store/ package")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {"release": [], "this tree": []}
    for _ in range(args.rounds):
        results["release"].append(run(os.path.abspath(args.release)))
        results["this tree"].append(run(ROOT))
    medians = {k: {m: statistics.median(r[m] for r in runs) for m in runs[0]} for k, runs in results.items()}
    for metric in medians["release"]:
        before, after = medians["release"][metric], medians["this tree"][metric]
        print(f"{metric:>16}: release {before:10.1f}   this tree {after:10.1f}   ratio {after / before:.2f}")


if __name__ == "__main__":
    main()
