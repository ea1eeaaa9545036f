"""How the studio writes values: names and messages escaped for Markdown, counts with their
nouns, times, sizes and durations. Pure functions of their arguments."""
from __future__ import annotations

import datetime as dt
import math
import re

# What Streamlit's Markdown would read as markup in a message: emphasis, code, maths, strike,
# tables, and a link's closing bracket. An underscore only starts or ends emphasis at a word's
# edge ('_x', "'_'"), so one inside a name (event_time) is left as it is.
_MARKUP = re.compile(r"([\\`*$~|\]])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_LINE_START = re.compile(r"^(\s*)([#>+-])", re.MULTILINE)


def escape_markdown(text: str) -> str:
    """``text`` (a message, a name, a value from a file) shown as written inside Markdown: every
    store error and every name in a message goes through this, so '_x' is not an italic x."""
    escaped = _MARKUP.sub(lambda m: "\\" + m.group(0), text)
    return _LINE_START.sub(r"\1\\\2", escaped)


def plural(n: int, word: str, words: str | None = None) -> str:
    """'1 match', '2 matches', '1,000 rows': a count with its noun agreeing (``words`` for an
    irregular plural; 'es' after s, x, ch and sh, else 's')."""
    if n == 1:
        return f"1 {word}"
    many = words or (word + "es" if word.endswith(("s", "x", "ch", "sh")) else
                     word[:-1] + "ies" if word.endswith("y") and word[-2:-1] not in "aeiou" else word + "s")
    return f"{n:,} {many}"


def when(us: int | None) -> str:
    """Microseconds since the epoch as 'YYYY-MM-DD HH:MM:SS UTC'."""
    if us is None:
        return "—"
    return dt.datetime.fromtimestamp(us / 1e6, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(us: int | None, now_us: int | None = None) -> str:
    """How long ago, in the largest whole unit ('5 min ago')."""
    if us is None:
        return "never"
    now = now_us if now_us is not None else dt.datetime.now(dt.timezone.utc).timestamp() * 1e6
    seconds = max(0, (now - us) / 1e6)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


def timestamp(us: int | None) -> dt.datetime | None:
    """A UTC datetime for tables (Streamlit formats it)."""
    return None if us is None else dt.datetime.fromtimestamp(us / 1e6, dt.timezone.utc)


def number(value: float | int | str | None) -> str:
    """A statistic in full: thousands separators, whole numbers exact, up to 2 decimals (trailing
    zeros dropped), and 3 significant digits below 1 so a rate never shows as 0.00; "" for none."""
    import pandas as pd

    if value is None or (isinstance(value, str) and not value) or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, str):  # DuckDB's exact text of a min or max
        value = int(value) if value.lstrip("-").isdigit() else float(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "" if math.isnan(value) else str(value)
        if value.is_integer() and abs(value) < 2 ** 53:
            value = int(value)
    if isinstance(value, int):
        return f"{value:,}"
    decimals = 2 if abs(value) >= 1 else max(2, 2 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}".rstrip("0").rstrip(".")


# A numeric feature read as a time: a name that says so and values in one unit's range of epoch
# times (2001-09-09 to 2103). Amounts never have such names; counts never such values.
TIME_NAME = re.compile(r"time|epoch|date|(^|_)(ts|at)(_|$)", re.IGNORECASE)
EPOCH_UNITS = ((1e9, 4.2e9, 1e6), (1e12, 4.2e12, 1e3), (1e15, 4.2e15, 1.0))  # (low, high, microseconds per unit)


def epoch_unit(name: str, low: float | None, high: float | None, event_time: bool = False) -> float | None:
    """Microseconds per unit when a numeric feature holds epoch times (the group's event time is
    epoch seconds by definition), else None."""
    if event_time:
        return 1e6
    if low is None or high is None or not TIME_NAME.search(name):
        return None
    return next((us for lo, hi, us in EPOCH_UNITS if lo <= low and high <= hi), None)


def span(seconds: float) -> str:
    """A length of time in its largest unit, one decimal ('3.5 days')."""
    for unit, length in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if abs(seconds) >= length:
            return f"{seconds / length:,.1f} {unit}"
    return f"{seconds:,.1f} seconds"


def size(n: int | None) -> str:
    """Bytes in decimal units (1 MB = 1,000,000 bytes), as Streamlit's upload chip shows them,
    so one file has one size on a page."""
    if n is None:
        return "—"
    value = float(n)
    for unit in ("B", "KB", "MB"):
        if value < 1000:
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1000
    return f"{value:,.1f} GB"


def duration(seconds: float | None) -> str:
    """A TTL in the largest whole unit ('30 days'), or 'none'."""
    if seconds is None:
        return "none"
    for unit, length in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= length and seconds % length == 0:
            n = int(seconds // length)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds:g} seconds"


def key_values(mapping: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in mapping.items())


def facts(mapping: dict[str, object]) -> str:
    """Label/value pairs as Markdown lines, for a compact read-only summary."""
    return "  \n".join(f"**{label}** &nbsp; {value}" for label, value in mapping.items())
