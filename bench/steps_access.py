"""Benchmark step for access control: what the policy check and the audit log cost a put, a get
and a bulk ingest, against the same store without an access file (blocks taken turn about)."""
from __future__ import annotations

import os
import shutil
import statistics
import time
from types import ModuleType

from .common import Size, input_path, work_dir

ACCESS = "users:\n  - name: bench\n    roles: [{role: editor, groups: ['*']}]\n  - name: root\n    roles: [{role: admin}]\n"


def overhead(size: Size, base: ModuleType) -> dict:
    """Two fresh stores, one with an access file (principal: an editor): ``size.puts`` puts and
    as many gets in blocks of 500 turn about, and driver_stats ingested into each (median of 3)."""
    import pandas as pd

    from store import FeatureStore

    records = base._put_inputs(size)
    frame = pd.read_parquet(input_path(base.SIZE_NAME, base.DRIVERS))
    root = os.path.join(work_dir(base.SIZE_NAME), "access")
    shutil.rmtree(root, ignore_errors=True)
    stores = {}
    for variant in ("open", "secured"):
        path = os.path.join(root, variant)
        os.makedirs(path)
        if variant == "secured":
            with open(os.path.join(path, "access.yaml"), "w") as fh:
                fh.write(ACCESS)
        with FeatureStore(path, principal="root") as fs:
            rid, feats = base.GROUPS[base.DRIVERS]
            fs.create_feature_group(base.DRIVERS, rid, "event_time", feats())
        stores[variant] = FeatureStore(path, writer="bench", principal="bench")
    seconds = {f"{k}_{v}": 0.0 for k in ("put", "get") for v in stores}
    base.mark_baseline()
    for lo in range(0, len(records), 500):
        block = records[lo:lo + 500]
        for variant, fs in stores.items():
            started = time.perf_counter()
            for rec in block:
                fs.put_record(base.DRIVERS, rec)
            seconds[f"put_{variant}"] += time.perf_counter() - started
            started = time.perf_counter()
            for rec in block:
                fs.get_record(base.DRIVERS, rec["driver_id"])
            seconds[f"get_{variant}"] += time.perf_counter() - started
    ingest: dict[str, list[float]] = {v: [] for v in stores}
    for i in range(3):
        for variant, fs in stores.items():
            with base.timed(f"ingest-{variant}-{i}") as t:
                fs.ingest(base.DRIVERS, frame)
            ingest[variant].append(t.seconds)
    audited = len(stores["secured"].with_principal("root").audit(limit=10**7))
    encrypted = _encryption(base, frame, root)
    for fs in stores.values():
        fs.close()
    shutil.rmtree(root, ignore_errors=True)
    n = len(records)
    return {"puts": n, "rows": len(frame), "audit_entries": audited,
            "put_per_s": {v: round(n / seconds[f"put_{v}"]) for v in stores},
            "get_us": {v: round(seconds[f"get_{v}"] / n * 1e6, 1) for v in stores},
            "ingest_s": {v: round(statistics.median(x), 3) for v, x in ingest.items()}, "encryption": encrypted}


def _encryption(base: ModuleType, frame, root: str) -> dict:
    """driver_stats into a plain and an encrypted store (median of 3 each, turn about), then on
    each a full scan (count, sums, distinct) through fs.query, 2,000 get_record calls and a
    point-in-time dataset of 20,000 entity rows."""
    from store import FeatureStore
    from store.storage import encryption as crypto

    stores = {}
    for variant in ("plain", "encrypted"):
        path = os.path.join(root, f"crypto-{variant}")
        os.makedirs(path)
        key = None
        if variant == "encrypted":
            key = crypto.new_key()
            crypto.mark(path, key)
        stores[variant] = (path, key)
    out: dict[str, dict[str, list[float]]] = {"ingest_s": {}, "scan_s": {}, "get_us": {}, "dataset_s": {}}
    ids = frame["driver_id"].drop_duplicates().head(2000).tolist()
    entity = frame.sample(20_000, random_state=1)[["driver_id", "event_time"]].rename(
        columns={"event_time": "request_time"})
    sql = f"SELECT count(*), sum(conv_rate), count(DISTINCT city) FROM {base.DRIVERS}"
    for i in range(3):
        for variant, (path, key) in stores.items():
            shutil.rmtree(os.path.join(path, "offline"), ignore_errors=True)
            for name in os.listdir(path):
                if name.startswith("featurestore.db"):
                    os.remove(os.path.join(path, name))
            fs = FeatureStore(path, writer="bench", key=key)
            rid, feats = base.GROUPS[base.DRIVERS]
            fs.create_feature_group(base.DRIVERS, rid, "event_time", feats())
            with base.timed(f"enc-ingest-{variant}-{i}") as t:
                fs.ingest(base.DRIVERS, frame)
            out["ingest_s"].setdefault(variant, []).append(t.seconds)
            fs.query(sql)  # warm
            with base.timed(f"enc-scan-{variant}-{i}") as t:
                fs.query(sql)
            out["scan_s"].setdefault(variant, []).append(t.seconds)
            with base.timed(f"enc-get-{variant}-{i}") as t:
                for rid in ids:
                    fs.get_record(base.DRIVERS, rid)
            out["get_us"].setdefault(variant, []).append(t.seconds / len(ids) * 1e6)
            with base.timed(f"enc-dataset-{variant}-{i}") as t:
                fs.build_dataset(entity, [base.DRIVERS], event_time_column="request_time", record=False)
            out["dataset_s"].setdefault(variant, []).append(t.seconds)
            fs.close()
    return {k: {v: round(statistics.median(x), 3) for v, x in d.items()} for k, d in out.items()}
