"""Sizes, paths and small helpers shared by the data generator, the steps and the runner.

Imports only the standard library so the runner stays light.
"""
from __future__ import annotations

import json
import os
import resource
import time
from dataclasses import asdict, dataclass

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
DATA_ROOT = os.path.join(BENCH_DIR, "data")

# Bump when the generator changes so cached inputs are regenerated.
DATA_VERSION = 1
SEED = 20261001

# 2026-10-01T00:00:00Z
START_S = 1790812800
DAY_S = 86_400
PERIOD_DAYS = 30          # event times: October 2026
ENTITY_EXTRA_DAYS = 8     # request times run 8 days past the period
MID_PERIOD_ISO = "2026-10-16T00:00:00Z"
DELETE_EVENT_ISO = "2026-10-31T23:59:59Z"

DRIVER_ID_BASE = 1_000_000
CUSTOMER_ID_BASE = 5_000_000
UNKNOWN_ID_BASE = 90_000_000


@dataclass(frozen=True)
class Size:
    name: str
    drivers: int
    driver_rows: int
    customers: int
    customer_rows: int
    entity_rows: int
    deleted_drivers: int      # soft-deleted via delete_record after the ingest, then flushed
    get_ids: int              # get_record calls
    batches: int              # batch_get_records calls of BATCH ids each
    puts: int                 # put_record calls
    repeats: int              # repeats of the quick offline reads (median reported)


BATCH = 100

SIZES = {
    "small": Size("small", 10_000, 1_000_000, 1_000, 100_000, 100_000, 50, 10_000, 500, 20_000, 3),
    "large": Size("large", 100_000, 10_000_000, 10_000, 1_000_000, 1_000_000, 500, 10_000, 500, 20_000, 1),
}


def data_dir(size: str) -> str:
    return os.path.join(DATA_ROOT, size)


def work_dir(size: str) -> str:
    return os.path.join(data_dir(size), "work")


def store_dir(size: str) -> str:
    return os.path.join(work_dir(size), "store")


def input_path(size: str, name: str) -> str:
    return os.path.join(data_dir(size), f"{name}.parquet")


def state_path(size: str) -> str:
    """Facts the ingest step leaves for later steps (deleted ids, file counts)."""
    return os.path.join(work_dir(size), "state.json")


def size_dict(size: Size) -> dict:
    return asdict(size)


def maxrss_mb() -> float:
    """This process's peak RSS so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Timer:
    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def read_json(path: str) -> dict:
    with open(path) as fh:
        return json.load(fh)


def write_json(path: str, data: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=False, default=str)
    os.replace(tmp, path)


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]
