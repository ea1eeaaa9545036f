"""A feature service's online vector against the bare reads it needs (issue 23):
``python -m bench.feature_services [--records 20000] [--calls 20000]``.

One store in a folder (its SQLite file holds the online rows), three groups of 10 Fractional
features keyed by ``customer_id``, and a service over all 30 plus two on-demand features: a SQL
one (``amount / NULLIF(g0_f1, 0)``, ``amount`` a request value) and a plain-Python one. Measured
in alternation, so both sides see the same machine:

- 1 entity: ``get_online_features(..., as_dict=True)`` against the bare reads of the same 3 rows by
  primary key in one SQLite read transaction (``BEGIN``; 3 ``SELECT *``; ``COMMIT``) on a
  connection of its own (the issue asks for a p50 at most 2x);
- 100 entities: the same against 3 ``SELECT * ... WHERE customer_id IN (100 keys)`` in one read
  transaction (at most 1.5x);
- the DataFrame answer (the default) for 1 entity, for scale.
Reports p50 and p99 of each and the ratios of the p50s.
"""
from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import tempfile
import time

GROUPS, FEATURES = 3, 10

ON_DEMAND_SOURCE = '''
from store import Feature, on_demand


@on_demand(inputs=["g1:g1_f2"], outputs=[Feature("g1_band", "Integral")], mode="python")
def g1_band(batch):
    return {"g1_band": [None if v is None else int(v * 10) for v in batch["g1_f2"]]}
'''


def seed(fs, records: int) -> None:
    import importlib.util

    import pandas as pd

    from store import Feature, OnDemandFeature

    rng = random.Random(7)
    for g in range(GROUPS):
        names = [f"g{g}_f{i}" for i in range(FEATURES)]
        fs.create_feature_group(f"g{g}", "customer_id", "ts", [
            Feature("customer_id", "Integral"), Feature("ts"), *[Feature(n, "Fractional") for n in names]])
        fs.ingest(f"g{g}", pd.DataFrame({"customer_id": range(records), "ts": "2026-12-01T00:00:00Z",
                                         **{n: [rng.random() for _ in range(records)] for n in names}}))
    fs.register_on_demand(OnDemandFeature("amount_ratio", inputs=["g0:g0_f1"], request={"amount": "Fractional"},
                                          outputs=[Feature("amount_ratio", "Fractional")],
                                          sql="amount / NULLIF(g0_f1, 0)"))
    path = os.path.join(tempfile.mkdtemp(prefix="bench-od-"), "bench_on_demand.py")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(ON_DEMAND_SOURCE)
    spec = importlib.util.spec_from_file_location("bench_on_demand", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    fs.register_on_demand(module.g1_band)
    fs.create_feature_service("bench", [f"g{g}" for g in range(GROUPS)] + ["on_demand:amount_ratio",
                                                                          "on_demand:g1_band"])


def pair(ours, bare, calls: int) -> tuple[list[int], list[int]]:
    """Alternate the two; drop the first 10 % (warm-up)."""
    perf, a, b = time.perf_counter_ns, [], []
    for _ in range(calls):
        t0 = perf()
        ours()
        t1 = perf()
        bare()
        t2 = perf()
        a.append(t1 - t0)
        b.append(t2 - t1)
    skip = calls // 10
    return a[skip:], b[skip:]


def stats(ns: list[int]) -> tuple[float, float]:
    ordered = sorted(ns)
    return statistics.median(ordered) / 1000, ordered[int(len(ordered) * 0.99)] / 1000


def main() -> None:
    from store import FeatureStore

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    rng = random.Random(3)
    with tempfile.TemporaryDirectory(prefix="bench-services-") as folder, FeatureStore(folder) as fs:
        seed(fs, args.records)
        fs.flush()
        con = sqlite3.connect(os.path.join(folder, "featurestore.db"), isolation_level=None)
        tables = [f'"online:g{g}"' for g in range(GROUPS)]
        keys = [rng.randrange(args.records) for _ in range(args.calls)]
        it = iter(keys * 3)
        bare_keys = iter(keys * 3)
        check = fs.get_online_features("bench", [{"customer_id": keys[0]}], request={"amount": 12.5}, as_dict=True)
        assert check["statuses"]["amount_ratio"] == ["present"] and len(check["features"]) == 32

        def ours_one() -> None:
            fs.get_online_features("bench", [{"customer_id": next(it)}], request={"amount": 12.5}, as_dict=True)

        def bare_one() -> None:
            key = next(bare_keys)
            con.execute("BEGIN")
            for t in tables:
                con.execute(f"SELECT * FROM {t} WHERE customer_id = ?", (key,)).fetchone()
            con.execute("COMMIT")

        one = pair(ours_one, bare_one, args.calls)
        batches = [[rng.randrange(args.records) for _ in range(100)] for _ in range(max(args.calls // 20, 200))]
        bi, bb = iter(batches * 3), iter(batches * 3)
        marks = ",".join("?" * 100)

        def ours_many() -> None:
            fs.get_online_features("bench", [{"customer_id": k} for k in next(bi)], request={"amount": 12.5},
                                   as_dict=True)

        def bare_many() -> None:
            batch = next(bb)
            con.execute("BEGIN")
            for t in tables:
                con.execute(f"SELECT * FROM {t} WHERE customer_id IN ({marks})", batch).fetchall()
            con.execute("COMMIT")

        many = pair(ours_many, bare_many, len(batches))
        fi = iter(keys * 3)
        frame = pair(lambda: fs.get_online_features("bench", [{"customer_id": next(fi)}], request={"amount": 12.5}),
                     lambda: None, min(args.calls, 2000))
    print(f"{GROUPS} groups x {FEATURES} Fractional features + 2 on-demand (SQL, plain Python), {args.records:,} "
          f"records per group, store in one folder (SQLite), {os.cpu_count()} cores, 1-min load "
          f"{os.getloadavg()[0]:.1f}\n")
    print("| call | ours p50 us | ours p99 us | bare p50 us | bare p99 us | p50 ratio | issue asks |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, (a, b), asks in (("1 entity, as_dict", one, "<= 2x"), ("100 entities, as_dict", many, "<= 1.5x")):
        (a50, a99), (b50, b99) = stats(a), stats(b)
        print(f"| {label} | {a50:,.1f} | {a99:,.1f} | {b50:,.1f} | {b99:,.1f} | {a50 / b50:.2f}x | {asks} |")
    f50, f99 = stats(frame[0])
    print(f"| 1 entity, DataFrame (for scale) | {f50:,.1f} | {f99:,.1f} | | | | |")


if __name__ == "__main__":
    main()
