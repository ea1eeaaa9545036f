"""get_record on a record key of two columns against one of one column (issue 22):
``python -m bench.composite_keys [--rows 100000] [--calls 50000]``.

One store, two groups over the same rows (15 features): ``one`` keyed by ``tid`` (Integral),
``two`` keyed by (``merchant_id`` String, ``terminal_id`` Integral). Calls alternate, one to each
group for the same row, so both see the same machine; the first 10 % are warm-up. Reports the
median and p99 of each, their ratio (the issue asks for at most 1.2), and ``batch_get_records``
of 100 keys the same way.
"""
from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time


def main() -> None:
    import pandas as pd

    from store import Feature, FeatureStore

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=50_000)
    args = parser.parse_args()
    n = args.rows
    rng = random.Random(1)
    feats = [Feature("merchant_id", "String"), Feature("terminal_id", "Integral"), Feature("tid", "Integral"),
             Feature("ts", "String"), *[Feature(f"f{i}", "Fractional") for i in range(10)], Feature("city", "String")]
    frame = pd.DataFrame({"merchant_id": [f"M{i // 20:06d}" for i in range(n)], "terminal_id": [i % 20 for i in range(n)],
                          "tid": list(range(n)), "ts": ["2026-10-01T00:00:00Z"] * n,
                          **{f"f{i}": [rng.random() for _ in range(n)] for i in range(10)}, "city": ["C001"] * n})
    with tempfile.TemporaryDirectory(prefix="bench-keys-") as folder, FeatureStore(folder) as fs:
        fs.create_feature_group("one", "tid", "ts", feats)
        fs.create_feature_group("two", ["merchant_id", "terminal_id"], "ts", feats)
        fs.ingest("one", frame)
        fs.ingest("two", frame)
        picks = [rng.randrange(n) for _ in range(args.calls)]
        two_key = [(f"M{i // 20:06d}", i % 20) for i in picks]
        get, fetch, perf = fs.get_record, fs.batch_get_records, time.perf_counter_ns
        one_ns, two_ns = [], []
        for i, k in zip(picks, two_key):
            t0 = perf()
            got_one = get("one", i)
            t1 = perf()
            got_two = get("two", k)
            t2 = perf()
            assert got_one == got_two
            one_ns.append(t1 - t0)
            two_ns.append(t2 - t1)
        batch_one, batch_two = [], []
        for start in range(0, min(len(picks), 20_000), 100):
            t0 = perf()
            fetch("one", picks[start:start + 100])
            t1 = perf()
            fetch("two", two_key[start:start + 100])
            t2 = perf()
            batch_one.append(t1 - t0)
            batch_two.append(t2 - t1)
    for label, one, two in (("get_record", one_ns, two_ns), ("batch_get_records(100)", batch_one, batch_two)):
        one, two = sorted(one[len(one) // 10:]), sorted(two[len(two) // 10:])
        m1, m2 = statistics.median(one), statistics.median(two)
        print(f"{label}: one column p50 {m1 / 1000:.1f} us p99 {one[int(len(one) * .99)] / 1000:.1f} us; "
              f"two columns p50 {m2 / 1000:.1f} us p99 {two[int(len(two) * .99)] / 1000:.1f} us; "
              f"ratio of p50 {m2 / m1:.2f}")


if __name__ == "__main__":
    main()
