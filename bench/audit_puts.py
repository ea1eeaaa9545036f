"""What the audit log costs single puts (issue 20): ``python -m bench.audit_puts [--puts 5000] [--rounds 5]``.

A ``put_record`` loop into a fresh SQLite store, three ways, interleaved round by round so that
the machine's load hits each alike: ``none`` (the put without its audit write, as before the log
was kept on every store), ``counted`` (the store as it is: one count per principal and group
updated in the put's transaction, folded into chained entries at flush), and ``per_put`` (a
chained entry appended in each put's transaction instead of the count). Prints puts/s per round,
the medians, and each way's cost against ``none``, by the wall clock and by this process's CPU
time (SQLite in WAL with synchronous=NORMAL does not wait for the disk at commit, so CPU time
is the steadier figure on a loaded machine).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from store import Feature, FeatureStore
from store.access import audit

WAYS = ("none", "counted", "per_put")


def rate(way: str, puts: int, folder: str) -> tuple[float, float]:
    fs = FeatureStore(tempfile.mkdtemp(dir=folder))
    fs.create_feature_group("g", "id", "t", [Feature("id", "Integral"), Feature("t", "String"),
                                             Feature("x", "Fractional")])
    if way == "none":
        fs._ctx.policy.count_put = lambda conn, group, at_us: None
    elif way == "per_put":
        fs._ctx.policy.count_put = lambda conn, group, at_us: audit.append(conn, at_us, "bench", "put_record", group, "ok",
                                                                       {"records": 1})
    for i in range(200):  # warm: caches, lineage edge, first pages
        fs.put_record("g", {"id": i, "t": "2026-01-01T00:00:00Z", "x": 1.0})
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(puts):
        fs.put_record("g", {"id": i, "t": "2026-01-01T00:00:00Z", "x": 1.0})
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    fs.close()
    return puts / seconds, puts / cpu_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--puts", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    runs: dict[str, list[tuple[float, float]]] = {way: [] for way in WAYS}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.rounds):
            for way in WAYS:
                runs[way].append(rate(way, args.puts, folder))
    for clock, i in (("wall clock", 0), ("CPU time", 1)):
        print(f"{clock}:")
        base = statistics.median(r[i] for r in runs["none"])
        for way in WAYS:
            median = statistics.median(r[i] for r in runs[way])
            print(f"  {way:8s} median {median:8,.0f} puts/s  cost {100 * (1 - median / base):5.1f}%   rounds: "
                  + ", ".join(f"{r[i]:,.0f}" for r in runs[way]))


if __name__ == "__main__":
    main()
