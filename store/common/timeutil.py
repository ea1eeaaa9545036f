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

from ..errors import ValidationError

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


# ----------------------------------------------------------------------------- formatted dates
# Dates other tools write ('11.10.2026 01:21', '31/12/2025', '12/31/2025 2:05 PM') are read with a
# strftime-style format the user confirms: day-first and month-first cannot be told apart by the
# values alone when every day is <= 12, so the store never guesses between them.
_DATE_PARTS = [f"%{a}{sep}%{b}{sep}%{y}" for sep in "./-" for a, b in (("d", "m"), ("m", "d")) for y in "Yy"] + [
    f"%Y{sep}%m{sep}%d" for sep in "./"]
_TIME_PARTS = ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p")
TIME_FORMATS = tuple(d + t for d in _DATE_PARTS for t in _TIME_PARTS)
# A value shaped like a date with separators: what makes a column worth trying the formats on.
_DATE_SHAPE = r"^\s*\d{1,4}[./-]\d{1,2}[./-]\d{1,4}(\s+\d{1,2}:\d{2}(:\d{2})?(\s*[AaPp][Mm])?)?\s*$"
_SAMPLE_VALUES = 2_000


def check_time_format(fmt: Any) -> str:
    """``fmt`` if it is a strftime-style format naming a day, a month and a year, else
    ValidationError saying how to write one."""
    from . import duck

    example = "write one like %d.%m.%Y %H:%M (day.month.year hours:minutes) or %m/%d/%Y %I:%M %p"
    if not isinstance(fmt, str) or not fmt.strip():
        raise ValidationError(f"time_format={fmt!r} is not a format: {example}", argument="time_format")
    if not (re.search(r"%[dj]", fmt) and re.search(r"%[mbBj]", fmt) and re.search(r"%[Yy]", fmt)):
        raise ValidationError(f"time_format {fmt!r} does not name a day, a month and a year: {example}",
                              argument="time_format", value=fmt)
    try:
        with duck.cursor() as con:
            con.execute("SELECT try_strptime('', ?)", [fmt]).fetchall()
    except Exception as exc:  # DuckDB's InvalidInputException: an unknown %-code
        raise ValidationError(f"time_format {fmt!r} is not a valid format ({str(exc).split(': ')[-1]}): {example}",
                              argument="time_format", value=fmt) from None
    return fmt


def parse_formatted(arr: "pa.Array", fmt: str) -> tuple["pa.Array", "np.ndarray", "np.ndarray"]:
    """Text instants written in ``fmt`` (strftime codes; no zone means UTC) as int64 microseconds,
    a mask of the values that do not match it, and one of those that do but fall outside the
    supported range (1677-09-21..2262-04-11); nulls are not flagged. Strict: 29.02.2025 is
    refused, never rolled over to March."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from . import duck

    check_time_format(fmt)
    with duck.cursor() as con:
        con.register("t", pa.table({"s": arr.cast(pa.string())}))
        out = con.sql(f"SELECT CASE WHEN u BETWEEN {MIN_US} AND {MAX_US} THEN u END AS u, "
                      f"coalesce(u NOT BETWEEN {MIN_US} AND {MAX_US}, false) AS far FROM "
                      "(SELECT epoch_us(try_strptime(trim(s), $1)) AS u FROM t)", params=[fmt]).to_arrow_table()
    us = out.column("u").combine_chunks().cast(pa.int64())
    far = np.asarray(out.column("far").to_numpy(), dtype=bool)
    unmatched = np.asarray(pc.and_(pc.is_null(us), pc.is_valid(arr)).to_numpy(zero_copy_only=False), dtype=bool)
    return us, unmatched & ~far, far


def time_formats_fitting(arr: "pa.Array") -> tuple[list[str], float]:
    """The ``TIME_FORMATS`` that read the most non-null values of a text column, when they read
    at least 95% of them (tried on a sample of distinct values, then counted on all), and the
    share they read; ([], 0.0) when the column holds no such dates. More than one format means
    the column is ambiguous: every day is <= 12, so day-first and month-first both read it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from . import duck

    values = pc.drop_null(arr.cast(pa.string()))
    if not len(values):
        return [], 0.0
    sample = pc.unique(values)[:_SAMPLE_VALUES]
    if pc.sum(pc.match_substring_regex(sample, _DATE_SHAPE).cast(pa.int64())).as_py() < len(sample) / 2:
        return [], 0.0

    def best(column: "pa.Array", formats: list[str], share: float) -> tuple[list[str], int]:
        counts = ", ".join(f"count(*) FILTER (epoch_us(try_strptime(trim(s), ${i + 1})) BETWEEN {MIN_US} AND {MAX_US})"
                           for i in range(len(formats)))
        with duck.cursor() as con:
            con.register("t", pa.table({"s": column}))
            row = con.sql(f"SELECT {counts} FROM t", params=formats).fetchall()[0]
        top = max(row)
        return [f for f, n in zip(formats, row) if n >= top and n >= share * len(column)], top

    # Distinct values weigh each row once per value: the sample only narrows the candidates.
    candidates = best(sample, list(TIME_FORMATS), 0.5)[0]
    if not candidates:
        return [], 0.0
    candidates, read = best(values, candidates, 0.95)
    return candidates, read / len(values) if candidates else 0.0


def format_example(fmt: str) -> str:
    """31 December 2025, 14:05 written in ``fmt``: what a value in that format looks like."""
    return dt.datetime(2025, 12, 31, 14, 5, 9).strftime(fmt)
