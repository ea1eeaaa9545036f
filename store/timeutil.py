"""Event times: parsing every accepted form into UTC microseconds, and formatting back.

Internally every instant is an int64 count of microseconds since the Unix epoch (UTC); SQLite
stores it as INTEGER and Parquet as timestamp[us, UTC].
"""
from __future__ import annotations

import datetime as dt
import math
import re
import time
from typing import TYPE_CHECKING, Any

from .errors import ValidationError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

# SageMaker's accepted shapes: date, 'T', time, optional fraction, a literal 'Z'.
ISO_Z_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$"
ISO_Z_RE = re.compile(ISO_Z_PATTERN, re.ASCII)  # always .fullmatch: '$' alone lets a trailing newline through
# What other tools write: 'T' or a space, optional seconds and fraction, and Z, an offset, ' UTC'
# or nothing (UTC). Files are read with it; values passed in code must match ISO_Z_PATTERN.
LOOSE_ISO_PATTERN = (r"^\s*\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?"
                     r"\s*(Z|z|UTC|[+-]\d{2}(:?\d{2})?)?\s*$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
# Keep instants inside what pandas' nanosecond timestamps and ISO years (0001-9999) can hold.
MIN_US = -9_223_372_036_854_775
MAX_US = 9_223_372_036_854_775
# The longest TTL, retention or other duration setting: 100 years. Added to any event time it
# stays an int64 of microseconds (SQLite INTEGER); 1e13 s overflowed it at every put.
MAX_DURATION_SECONDS = 3_155_760_000
# Why an instant outside MIN_US..MAX_US is refused, on every path (put, ingest, HTTP, arguments).
OUT_OF_RANGE = ("is outside the supported time range 1677-09-21T00:12:43.145225Z to 2262-04-11T23:47:16.854775Z "
                "(what a nanosecond timestamp holds)")


def now_us() -> int:
    return time.time_ns() // 1000


def checked_us(us: int) -> int:
    """``us`` if it lies in MIN_US..MAX_US, else ValueError: outside it, bulk paths (pandas,
    Arrow nanoseconds) would wrap, so every path refuses it."""
    if not MIN_US <= us <= MAX_US:
        raise ValueError(OUT_OF_RANGE)
    return us


def iso_z_to_us(text: str) -> int:
    """Parse a strict ISO-8601 UTC string ('2024-05-01T12:00:00Z', optional fraction)."""
    if not ISO_Z_RE.fullmatch(text):
        raise ValueError("expected ISO-8601 UTC like 2024-05-01T12:00:00Z")
    try:
        moment = dt.datetime.fromisoformat(text)  # the regex already pinned the shape
    except ValueError:
        raise ValueError("is not a real date and time") from None
    return checked_us((moment - _EPOCH) // dt.timedelta(microseconds=1))


def parse_loose_iso(arr: "pa.Array") -> tuple["pa.Array", "np.ndarray"]:
    """Text instants in any ``LOOSE_ISO_PATTERN`` form as int64 microseconds (UTC; no zone means
    UTC), and a mask of the values that are not such an instant (nulls are not flagged)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    shaped = np.asarray(pc.match_substring_regex(arr, LOOSE_ISO_PATTERN).fill_null(True)
                        .to_numpy(zero_copy_only=False), dtype=bool)
    text = pc.replace_substring_regex(pc.utf8_trim_whitespace(arr), r"\s*UTC$", "Z")
    parsed = pd.to_datetime(pd.Series(text.to_pandas(), dtype=object).where(shaped), format="ISO8601", utc=True,
                            errors="coerce")
    missing = np.asarray(pc.is_null(arr).to_numpy(zero_copy_only=False), dtype=bool)
    bad = parsed.isna().to_numpy() & ~missing
    return pa.array(datetimes_to_us(parsed), pa.int64(), mask=parsed.isna().to_numpy()), bad


def datetimes_to_us(parsed: "pd.Series") -> "np.ndarray":
    """A parsed datetime Series as int64 microseconds (NaT: any value; mask it). Through
    microseconds, never nanoseconds: year 9999 or 1500 would wrap in an int64 of nanoseconds."""
    return parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[us]").astype("int64")


def time_share(arr: "pa.Array") -> float:
    """The share of a text column's non-null values that are instants ``parse_loose_iso`` reads."""
    import pyarrow.compute as pc

    values = pc.drop_null(arr)
    if len(values) == 0:
        return 0.0
    return 1.0 - float(parse_loose_iso(values)[1].mean())


def seconds_to_us(seconds: float) -> int:
    if isinstance(seconds, bool) or not math.isfinite(seconds):
        raise ValueError("epoch seconds must be a finite number")
    return checked_us(round(seconds * 1_000_000))


def us_to_iso(us: int) -> str:
    """Format microseconds as ISO-8601 UTC, with a fraction only when there is one."""
    moment = _EPOCH + dt.timedelta(microseconds=us)
    if us % 1_000_000:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + "Z"


def us_to_datetime(us: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=us)


def event_time_to_us(value: Any, declared: str) -> int:
    """An event-time feature value as microseconds; raises ValueError with the reason.

    A String event time must be ISO-8601 ending in Z; a Fractional one epoch seconds (a number
    or its string form). Python/pandas/numpy datetimes are accepted for both.
    """
    if isinstance(value, str):
        if declared == "String":
            return iso_z_to_us(value)
        try:
            seconds = float(value)
        except ValueError:
            raise ValueError("expected epoch seconds such as 1714564800.5") from None
        return seconds_to_us(seconds)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return seconds_to_us(float(value))
    if value is None:
        raise ValueError("the event time is required")
    return instant_to_us(value)


def instant_to_us(value: Any) -> int:
    """Any instant a user may pass as an argument (event_time=, known_at=) as microseconds.

    Accepts ISO strings (with Z or an offset; a naive string is UTC), epoch seconds, and
    datetime/pandas/numpy timestamps (naive ones are UTC).
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a time")
    if isinstance(value, (int, float)):
        return seconds_to_us(float(value))
    if isinstance(value, str):
        if ISO_Z_RE.fullmatch(value):
            return iso_z_to_us(value)
        import pandas as pd

        try:
            ts = pd.Timestamp(value)
        except (ValueError, TypeError):
            raise ValueError(f"{value!r} is not a time: use ISO-8601 such as 2024-05-01T12:00:00Z") from None
        if ts is pd.NaT:
            raise ValueError(f"{value!r} is not a time")
        value = ts
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return checked_us((value - _EPOCH) // dt.timedelta(microseconds=1))
    if isinstance(value, dt.date):
        return instant_to_us(dt.datetime(value.year, value.month, value.day))
    import numpy as np

    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise ValueError(f"{value!r} is not a time")
        return checked_us(int(value.astype("datetime64[us]").astype("int64")))
    if isinstance(value, (np.integer, np.floating)):
        return seconds_to_us(float(value))
    raise ValueError(f"{value!r} is not a time: use ISO-8601, epoch seconds or a datetime")


def arg_to_us(value: Any, name: str) -> int:
    """``instant_to_us`` for a named argument, raising ValidationError that names it."""
    try:
        return instant_to_us(value)
    except ValueError as exc:
        raise ValidationError(f"{name}: {exc}", argument=name, value=value) from None


def ttl_to_seconds(ttl: Any, what: str = "ttl") -> float | None:
    """A TTL given as a timedelta or seconds, as positive seconds (None stays None)."""
    if ttl is None:
        return None
    if isinstance(ttl, dt.timedelta):
        seconds = ttl.total_seconds()
    elif isinstance(ttl, (int, float)) and not isinstance(ttl, bool):
        seconds = float(ttl)
    else:
        try:
            import pandas as pd

            seconds = pd.Timedelta(ttl).total_seconds()
        except (ValueError, TypeError):
            raise ValidationError(f"{what} {ttl!r} is not a duration: give seconds or a timedelta") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValidationError(f"{what} must be a positive duration, got {ttl!r}")
    if seconds > MAX_DURATION_SECONDS:
        raise ValidationError(f"{what} {ttl!r} is too long: give at most {MAX_DURATION_SECONDS:,} seconds (100 years), "
                              "or none", argument=what, value=ttl)
    return seconds


def retention_seconds(retention: Any) -> float | None:
    """An offline retention given as a timedelta or a number of days, as seconds (None: keep all)."""
    if retention is None:
        return None
    if isinstance(retention, (int, float)) and not isinstance(retention, bool):
        return ttl_to_seconds(retention * 86400, "offline_retention")
    return ttl_to_seconds(retention, "offline_retention")


def arrow_timestamps_to_us(arr: "pa.Array") -> "pa.Array":
    """A timestamp array (any unit, naive = UTC) as int64 microseconds."""
    import pyarrow as pa

    return arr.cast(pa.timestamp("us", tz=arr.type.tz or "UTC")).cast(pa.int64())


def us_array_to_iso(us: "pa.Array") -> "pa.Array":
    """int64 microseconds to ISO-8601 'Z' strings, fraction only when present (DuckDB: ~10x Arrow's strftime)."""
    from . import duck
    import pyarrow as pa

    with duck.cursor() as con:
        con.register("t", pa.table({"u": us}))
        return con.sql(
            "SELECT CASE WHEN u % 1000000 = 0 THEN strftime(make_timestamp(u), '%Y-%m-%dT%H:%M:%SZ') "
            "ELSE strftime(make_timestamp(u), '%Y-%m-%dT%H:%M:%S.%fZ') END AS s FROM t"
        ).to_arrow_table().column("s").combine_chunks()


_DURATION_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*", re.ASCII)  # .fullmatch; '١٥m' is none
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration_seconds(value: Any, what: str) -> float:
    """A length of time given as a timedelta, seconds, or text like '90s', '15m', '12h', '1d', '2w'."""
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and _DURATION_RE.fullmatch(value):
        number, unit = _DURATION_RE.fullmatch(value).groups()
        seconds = float(number) * _UNIT_SECONDS[unit]
    else:
        raise ValidationError(f"{what}={value!r}: give seconds, a timedelta, or text like '15m', '12h' or '1d'")
    if seconds < 0:
        raise ValidationError(f"{what}={value!r} is negative")
    if not seconds <= MAX_DURATION_SECONDS:
        raise ValidationError(f"{what}={value!r} is too long: give at most {MAX_DURATION_SECONDS:,} seconds (100 years)")
    return seconds
