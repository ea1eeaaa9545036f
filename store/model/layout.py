"""How a group's offline files are partitioned by event time: Hive folders that DuckDB, Spark,
Athena and pandas read as they are.

    hour   year=YYYY/month=MM/day=DD/hour=HH/   SageMaker's own layout (and this store's before v2)
    day    year=YYYY/month=MM/day=DD/           the default: files sized for reading
    month  year=YYYY/month=MM/                  for sparse groups
    none   (files directly in data/)

A partition is named by an int64 key per row (its start, in the unit of the granularity), so
rows are grouped with one vectorised computation.

Studio-facing: ``PARTITIONS``, the choices Create offers.
"""
from __future__ import annotations

import time
import numpy as np

from ..errors import ValidationError

PARTITIONS = ("day", "hour", "month", "none")
DEFAULT_PARTITION = "day"
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US


def check(partition_by: str) -> str:
    if partition_by not in PARTITIONS:
        raise ValidationError(f"partition_by={partition_by!r}: use one of {', '.join(PARTITIONS)}",
                              partition_by=partition_by)
    return partition_by


def keys(partition_by: str, event_us: np.ndarray) -> np.ndarray:
    """The partition key of each event time (microseconds): hours, days or months since 1970."""
    if partition_by == "hour":
        return np.floor_divide(event_us, HOUR_US)
    if partition_by == "day":
        return np.floor_divide(event_us, DAY_US)
    if partition_by == "month":
        return event_us.astype("datetime64[us]").astype("datetime64[M]").astype("int64")
    return np.zeros(len(event_us), dtype="int64")


def folder(partition_by: str, key: int) -> str:
    """The Hive folder of a partition key, relative to the group's data folder ('' for none)."""
    if partition_by == "none":
        return ""
    if partition_by == "month":
        year, month = divmod(int(key), 12)
        return f"year={1970 + year:04d}/month={month + 1:02d}"
    t = time.gmtime(int(key) * (3600 if partition_by == "hour" else 86400))
    day = f"year={t.tm_year:04d}/month={t.tm_mon:02d}/day={t.tm_mday:02d}"
    return f"{day}/hour={t.tm_hour:02d}" if partition_by == "hour" else day


def glob_pattern(partition_by: str) -> str:
    """The file pattern another engine reads the group with, relative to its data folder."""
    depth = {"hour": 4, "day": 3, "month": 2, "none": 0}[partition_by]
    return "/".join(["*"] * depth + ["*.parquet"])
