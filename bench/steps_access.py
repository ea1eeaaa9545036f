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
    for fs in stores.values():
        fs.close()
    shutil.rmtree(root, ignore_errors=True)
    n = len(records)
    return {"puts": n, "rows": len(frame), "audit_entries": audited,
            "put_per_s": {v: round(n / seconds[f"put_{v}"]) for v in stores},
            "get_us": {v: round(seconds[f"get_{v}"] / n * 1e6, 1) for v in stores},
            "ingest_s": {v: round(statistics.median(x), 3) for v, x in ingest.items()}}
