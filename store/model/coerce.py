"""Turning user values into typed feature values, for one record or a whole column.

Two paths share one set of rules (see the spec's "Records" section): ``coerce_value`` for a
single put, ``coerce_column`` for bulk ingest, vectorised with Arrow. Both accept values typed
or as strings, since the wire model sends every value as a string.
"""
from __future__ import annotations

import json
import math
import re
import reprlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .schema import Feature
from ..common.timeutil import ISO_Z_PATTERN, event_time_to_us, us_to_iso

if TYPE_CHECKING:
    import pyarrow as pa

# Digits are ASCII digits only, on both paths: Python's \d, int() and float() would also take
# '١٢٣' or '１２３', which Arrow's regex and casts refuse. Values are trimmed first (Python's
# str.strip and Arrow's utf8_trim_whitespace trim the same characters), then fully matched.
INT_PATTERN = r"^\s*[+-]?[0-9]{1,19}\s*$"
FLOAT_PATTERN = r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"
# Booleans as text land in Integral features as 1/0, as a boolean column does.
BOOL_WORDS_PATTERN = r"(?i)^\s*(true|false|yes|no)\s*$"
BOOL_WORDS = {"true": 1, "yes": 1, "false": 0, "no": 0}
_INT_RE = re.compile(INT_PATTERN, re.ASCII)
_FLOAT_RE = re.compile(FLOAT_PATTERN, re.ASCII)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
NOT_INTEGER = "is not an integer"
NOT_INTEGER_DECIMAL = "is not an integer (write it without a decimal point)"
MAX_IDENTIFIER_BYTES = 2048
MAX_SHOWN = 200  # characters of a value quoted in an error message


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, MAX_SHOWN, MAX_SHOWN


def shown(value: Any) -> str:
    """A value for an error message: its repr, cut short, and safe for lists nested any depth."""
    return _REPR.repr(value)


# A JSON number in a String list has no one text (DuckDB reads 1e16 as 10000000000000000.0), so it
# is refused on every path; a typed int in a Python list or an Arrow list<int64> is text as written.
JSON_NUMBER_IN_TEXT = "holds a JSON number; a String {} holds text, so quote it (\"1.5\", not 1.5)"


class JsonNumber(str):
    """A number read from a JSON list, kept as its text: bulk ingest types JSON lists from their
    text (Arrow), so a put of the same JSON gets the same verdict ('[1.0]' is no Integral list)."""


def _json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_list(text: str) -> Any:
    """A JSON text parsed with its numbers as ``JsonNumber``; ValueError if it is not JSON."""
    try:
        return json.loads(text, parse_int=JsonNumber, parse_float=JsonNumber, parse_constant=_json_constant)
    except RecursionError:
        raise ValueError("nests lists too deeply") from None


def _element_kind(item: Any) -> str:
    """What a list element is, as JSON would say: lists hold elements of one kind."""
    if isinstance(item, (bool, np.bool_)):
        return "boolean"
    if isinstance(item, JsonNumber) or isinstance(item, (int, float, np.integer, np.floating)):
        return "number"
    if isinstance(item, str):
        return "string"
    return type(item).__name__


def checked_text(value: str) -> str:
    """``value`` as a plain str, if it is Unicode text: a lone surrogate ('\ud800') cannot be
    stored as UTF-8, in SQLite, Parquet or on the wire."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"is not Unicode text (a lone surrogate {value[exc.start]!r} at position {exc.start}); "
                             "fix the value (decode its bytes properly)") from None
    return str(value)  # a JsonNumber becomes plain text


# ----------------------------------------------------------------------------- one value


def coerce_scalar(kind: str, value: Any) -> Any:
    """One non-null scalar as ``kind`` (Integral/Fractional/String); ValueError says why not."""
    if kind == "Integral":
        if isinstance(value, (bool, np.bool_)):
            return int(value)
        if isinstance(value, (int, np.integer)):
            if not INT64_MIN <= int(value) <= INT64_MAX:
                raise ValueError("is outside the 64-bit integer range")
            return int(value)
        if isinstance(value, (float, np.floating)):
            if not math.isfinite(value) or value != math.floor(value):
                raise ValueError("is not a whole number")
            if not INT64_MIN <= value < 2.0**63:
                raise ValueError("is outside the 64-bit integer range")
            return int(value)
        if isinstance(value, str):
            text = value.strip()
            if text.lower() in BOOL_WORDS:
                return BOOL_WORDS[text.lower()]
            if not _INT_RE.fullmatch(text):
                raise ValueError(NOT_INTEGER_DECIMAL if _FLOAT_RE.fullmatch(text) else NOT_INTEGER)
            number = int(text)
            if not INT64_MIN <= number <= INT64_MAX:
                raise ValueError("is outside the 64-bit integer range")
            return number
        raise ValueError(f"is a {type(value).__name__}, not an integer")
    if kind == "Fractional":
        if isinstance(value, (bool, np.bool_)):
            raise ValueError("is a boolean, not a number")
        if isinstance(value, (int, float, np.integer, np.floating)):
            number = float(value)
        elif isinstance(value, str):
            text = value.strip()
            if not _FLOAT_RE.fullmatch(text):
                raise ValueError("is not a number")
            number = float(text)
        else:
            raise ValueError(f"is a {type(value).__name__}, not a number")
        if not math.isfinite(number):
            raise ValueError("is not a finite number (NaN and infinity are not allowed)")
        return number
    if isinstance(value, str):
        return checked_text(value)
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"  # as a boolean column reads into a String feature
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    raise ValueError(f"is a {type(value).__name__}, not a string")


def coerce_value(feature: Feature, value: Any) -> Any:
    """A feature value (scalar or collection) in its Python form, None for null."""
    if value is None or (isinstance(value, float) and math.isnan(value) and not feature.is_collection):
        if isinstance(value, float) and feature.type == "Fractional":
            raise ValueError("is not a finite number (NaN and infinity are not allowed)")
        return None
    if not feature.is_collection:
        return coerce_scalar(feature.type, value)
    if isinstance(value, str):
        try:
            value = json_list(value)
        except ValueError:
            raise ValueError(f"is not a JSON list for the {feature.collection} feature") from None
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise ValueError(f"is a {type(value).__name__}, not a {feature.collection}")
    items = []
    kinds = set()
    for item in value:
        if item is None:
            raise ValueError(f"holds a null; a {feature.collection} cannot")
        kinds.add(_element_kind(item))
        if len(kinds) > 1:
            raise ValueError(f"mixes {' and '.join(sorted(kinds))} values; a {feature.collection} holds values of "
                             "one type")
        if feature.type == "String" and isinstance(item, JsonNumber):
            raise ValueError(JSON_NUMBER_IN_TEXT.format(feature.collection))
        try:
            items.append(coerce_scalar(feature.type, item))
        except ValueError as exc:
            raise ValueError(f"holds a value that {exc}") from None
    return check_collection(feature, items)


def check_collection(feature: Feature, items: list) -> list:
    if feature.collection == "Set" and len(set(items)) != len(items):
        raise ValueError("repeats a value; a Set holds each value once")
    if feature.collection == "Vector" and len(items) != feature.dimension:
        raise ValueError(f"has {len(items)} values; the Vector's dimension is {feature.dimension}")
    return items


def coerce_event_time(feature: Feature, value: Any) -> tuple[Any, int]:
    """(value in the feature's declared form, microseconds) for an event-time value."""
    us = event_time_to_us(value, feature.type)
    if feature.type == "String":
        return (value if isinstance(value, str) else us_to_iso(us)), us
    return (float(value) if isinstance(value, (int, float, str)) else us / 1_000_000), us


# ----------------------------------------------------------------------------- a column


@dataclass
class ColumnProblem:
    """Rows of one column that break a rule, and the rule they break."""

    feature: str
    mask: np.ndarray  # bool, True where the row is bad
    reason: str


def _mask(arr: "pa.Array") -> np.ndarray:
    return np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _strings(arr: "pa.Array") -> "pa.Array":
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_large_string(arr.type) or pa.types.is_string_view(arr.type):
        arr = arr.cast(pa.string())
    return pc.utf8_trim_whitespace(arr) if pa.types.is_string(arr.type) else arr


def _scalar_column(kind: str, arr: "pa.Array", name: str, problems: list[ColumnProblem]) -> "pa.Array":
    """Coerce an Arrow array to ``kind``; bad rows become null and are reported."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.types as pat

    t = arr.type
    if pat.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    if pat.is_null(t):
        return pa.nulls(len(arr), {"Integral": pa.int64(), "Fractional": pa.float64(), "String": pa.string()}[kind])
    if kind == "Integral":
        if pat.is_integer(t) or pat.is_boolean(t):
            if pat.is_uint64(t):
                big = _mask(pc.greater(arr, pa.scalar(INT64_MAX, pa.uint64())))
                if big.any():
                    problems.append(ColumnProblem(name, big, "is outside the 64-bit integer range"))
                    arr = pc.if_else(pa.array(big), pa.scalar(None, t), arr)
            return arr.cast(pa.int64())
        if pat.is_floating(t) or pat.is_decimal(t):
            f = arr.cast(pa.float64())
            bad = _mask(pc.or_(pc.invert(pc.is_finite(f)), pc.not_equal(pc.floor(f), f)))
            big = _mask(pc.or_(pc.less(f, -(2.0**63)), pc.greater_equal(f, 2.0**63)))
            if bad.any():
                problems.append(ColumnProblem(name, bad, "is not a whole number"))
            if (big & ~bad).any():
                problems.append(ColumnProblem(name, big & ~bad, "is outside the 64-bit integer range"))
            bad |= big
            if bad.any():
                f = pc.if_else(pa.array(bad), pa.scalar(None, pa.float64()), f)
            return f.cast(pa.int64())
        if pat.is_string(t) or pat.is_large_string(t) or pat.is_string_view(t):
            s = _strings(arr)
            words = _mask(pc.match_substring_regex(s, BOOL_WORDS_PATTERN))
            if words.any():
                truthy = pc.is_in(pc.utf8_lower(s), pa.array(["true", "yes"]))
                s = pc.if_else(pa.array(words), pc.if_else(truthy, "1", "0"), s)
            bad = _mask(pc.invert(pc.match_substring_regex(s, INT_PATTERN)))
            bad &= _mask(pc.is_valid(s))
            if bad.any():
                # The decimal-point hint only for a decimal such as '7.0'; 'n/a' is simply no integer.
                decimal = bad & _mask(pc.match_substring_regex(s, FLOAT_PATTERN))
                for mask, reason in ((decimal, NOT_INTEGER_DECIMAL), (bad & ~decimal, NOT_INTEGER)):
                    if mask.any():
                        problems.append(ColumnProblem(name, mask, reason))
                s = pc.if_else(pa.array(bad), pa.scalar(None, pa.string()), s)
            s = pc.replace_substring_regex(s, r"^\s*\+", "")  # '+4' is 4, as a single put reads it; Arrow's cast refuses the sign
            try:
                return s.cast(pa.int64())
            except pa.ArrowInvalid:  # a 19-digit value past int64: find it the slow way, rarely
                big = np.array([v is not None and not INT64_MIN <= int(v) <= INT64_MAX for v in s.to_pylist()])
                problems.append(ColumnProblem(name, big, "is outside the 64-bit integer range"))
                return pc.if_else(pa.array(big), pa.scalar(None, pa.string()), s).cast(pa.int64())
    elif kind == "Fractional":
        if pat.is_integer(t) or pat.is_floating(t) or pat.is_decimal(t):
            f = arr.cast(pa.float64())
            bad = _mask(pc.invert(pc.is_finite(f)))
            if bad.any():
                problems.append(ColumnProblem(name, bad, "is not a finite number (NaN and infinity are not allowed)"))
                f = pc.if_else(pa.array(bad), pa.scalar(None, pa.float64()), f)
            return f
        if pat.is_string(t) or pat.is_large_string(t) or pat.is_string_view(t):
            s = _strings(arr)
            bad = _mask(pc.invert(pc.match_substring_regex(s, FLOAT_PATTERN))) & _mask(pc.is_valid(s))
            if bad.any():
                problems.append(ColumnProblem(name, bad, "is not a number"))
                s = pc.if_else(pa.array(bad), pa.scalar(None, pa.string()), s)
            f = s.cast(pa.float64())
            inf = _mask(pc.invert(pc.is_finite(f)))
            if inf.any():
                problems.append(ColumnProblem(name, inf, "is not a finite number (NaN and infinity are not allowed)"))
                f = pc.if_else(pa.array(inf), pa.scalar(None, pa.float64()), f)
            return f
    else:
        if pat.is_string(t) or pat.is_large_string(t) or pat.is_string_view(t):
            return arr.cast(pa.string())
        if pat.is_integer(t) or pat.is_date(t) or pat.is_time(t):
            return arr.cast(pa.string())
        if pat.is_boolean(t):
            return pc.if_else(arr, "true", "false")
        if pat.is_timestamp(t):
            from ..common.timeutil import arrow_timestamps_to_us, us_array_to_iso

            return us_array_to_iso(arrow_timestamps_to_us(arr))
    bad = _mask(pc.is_valid(arr))
    if bad.any():
        article = "an integer" if kind == "Integral" else "a number" if kind == "Fractional" else "a string"
        problems.append(ColumnProblem(name, bad, f"is of type {t}, not {article}"))
    return pa.nulls(len(arr), {"Integral": pa.int64(), "Fractional": pa.float64(), "String": pa.string()}[kind])


def _collection_column(feature: Feature, arr: "pa.Array", problems: list[ColumnProblem]) -> "pa.Array":
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.types as pat

    n = len(arr)
    if pat.is_string(arr.type) or pat.is_large_string(arr.type) or pat.is_string_view(arr.type):
        from ..common import duck

        strings = _strings(arr)
        with duck.cursor() as con:
            con.register("t", pa.table({"s": strings}))
            parsed = con.sql(
                "SELECT TRY_CAST(TRY_CAST(s AS JSON) AS JSON[]) AS v FROM t"
            ).to_arrow_table().column("v").combine_chunks()
        bad = _mask(pc.and_(pc.is_null(parsed), pc.is_valid(strings)))
        if bad.any():
            problems.append(ColumnProblem(feature.name, bad, f"is not a JSON list for the {feature.collection} feature"))
        # Elements come back as JSON text: its first character says the kind; strings lose their
        # quotes, and the few holding an escape ('\"', '\u00e9') are decoded as a put decodes them.
        flat = parsed.flatten().cast(pa.string())
        first = pc.utf8_slice_codeunits(flat, 0, 1).fill_null("")
        text = pc.equal(first, '"')
        values = pc.if_else(text, pc.utf8_slice_codeunits(flat, 1, -1), flat)
        escaped = _mask(pc.and_(text, pc.match_substring(flat, "\\")))
        if escaped.any():
            with duck.cursor() as con:
                con.register("e", pa.table({"x": flat.filter(pa.array(escaped))}))
                decoded = con.sql("SELECT x::JSON->>'$' AS d FROM e").to_arrow_table().column("d").combine_chunks()
            values = pc.replace_with_mask(values, pa.array(escaped), decoded)
        # As a put of the same JSON says (``coerce_value``): no nested lists or objects, one kind per list.
        parents = pc.list_parent_indices(parsed).to_numpy()
        nested = np.zeros(len(arr), dtype=bool)
        nested[parents[_mask(pc.is_in(first, pa.array(["[", "{"])))]] = True
        is_number = pc.invert(pc.is_in(first, pa.array(['"', "[", "{", "t", "f", "n", ""])))
        seen = [np.bincount(parents[_mask(kind)], minlength=len(arr)) > 0
                for kind in (text, is_number, pc.is_in(first, pa.array(["t", "f"])))]
        mixed = (np.sum(seen, axis=0) > 1) & ~nested
        if nested.any():
            problems.append(ColumnProblem(feature.name, nested, f"holds a list or object; a {feature.collection} "
                                          "holds plain values"))
        if mixed.any():
            problems.append(ColumnProblem(feature.name, mixed, f"mixes types of values; a {feature.collection} "
                                          "holds values of one type"))
        numbers = np.zeros(len(arr), dtype=bool)
        if feature.type == "String":
            numbers = seen[1] & ~nested & ~mixed
            if numbers.any():
                problems.append(ColumnProblem(feature.name, numbers, JSON_NUMBER_IN_TEXT.format(feature.collection)))
        refused = nested | mixed | numbers
        arr = pa.ListArray.from_arrays(parsed.offsets, values, mask=pc.is_null(parsed))
        if refused.any():
            arr = pc.if_else(pa.array(refused), pa.scalar(None, arr.type), arr)
    if not (pat.is_list(arr.type) or pat.is_large_list(arr.type) or pat.is_fixed_size_list(arr.type)):
        bad = _mask(pc.is_valid(arr))
        if bad.any():
            problems.append(ColumnProblem(feature.name, bad, f"is of type {arr.type}, not a {feature.collection}"))
        return pa.nulls(n, feature.arrow_type())
    if not pat.is_list(arr.type):
        arr = arr.cast(pa.list_(arr.type.value_type))
    flat = arr.flatten()
    parents = pc.list_parent_indices(arr).to_numpy()
    inner: list[ColumnProblem] = []
    values = _scalar_column(feature.type, flat, feature.name, inner)
    row_bad = np.zeros(n, dtype=bool)
    for problem in inner:
        rows = np.zeros(n, dtype=bool)
        rows[parents[problem.mask]] = True
        problems.append(ColumnProblem(feature.name, rows, f"holds a value that {problem.reason}"))
        row_bad |= rows
    null_inside = np.zeros(n, dtype=bool)
    null_inside[parents[_mask(pc.is_null(flat))]] = True
    null_inside &= ~row_bad
    if null_inside.any():
        problems.append(ColumnProblem(feature.name, null_inside, f"holds a null; a {feature.collection} cannot"))
        row_bad |= null_inside
    rebuilt = pa.ListArray.from_arrays(arr.offsets, values, mask=pc.is_null(arr))
    if feature.collection == "Vector":
        wrong = _mask(pc.not_equal(pc.list_value_length(rebuilt), feature.dimension)) & ~row_bad
        if wrong.any():
            problems.append(ColumnProblem(feature.name, wrong, f"does not have the Vector's dimension {feature.dimension}"))
            row_bad |= wrong
    if feature.collection == "Set":
        from ..common import duck

        with duck.cursor() as con:
            con.register("t", pa.table({"v": rebuilt}))
            dup = con.sql("SELECT len(list_distinct(v)) < len(v) AS d FROM t").to_arrow_table().column("d")
        dup_mask = _mask(dup.combine_chunks()) & ~row_bad
        if dup_mask.any():
            problems.append(ColumnProblem(feature.name, dup_mask, "repeats a value; a Set holds each value once"))
            row_bad |= dup_mask
    if row_bad.any():
        rebuilt = pc.if_else(pa.array(row_bad), pa.scalar(None, rebuilt.type), rebuilt)
    return rebuilt


def coerce_column(feature: Feature, arr: "pa.Array", problems: list[ColumnProblem]) -> "pa.Array":
    """An Arrow array as the feature's Arrow type; bad rows become null and land in ``problems``."""
    if isinstance(arr, __import__("pyarrow").ChunkedArray):
        arr = arr.combine_chunks()
    if feature.is_collection:
        return _collection_column(feature, arr, problems)
    return _scalar_column(feature.type, arr, feature.name, problems)


def epoch_unit(seconds: "pa.Array") -> int:
    """1 for epoch seconds; 1,000, 10**6 or 10**9 when every value is out of the supported range as
    seconds (past 2262) but in it as milli-, micro- or nanoseconds: no value can be read both ways."""
    import pyarrow.compute as pc

    from ..common.timeutil import MAX_US

    limit = MAX_US / 1_000_000
    finite = pc.drop_null(pc.abs(seconds))
    if not len(finite):
        return 1
    low, high = pc.min(finite).as_py(), pc.max(finite).as_py()
    if high <= limit or not low > limit:
        return 1
    return next((u for u in (1_000, 1_000_000, 1_000_000_000) if high / u <= limit), 1)


def event_time_column(feature: Feature, arr: "pa.Array", problems: list[ColumnProblem],
                      lenient: bool = False, time_format: str | None = None) -> tuple["pa.Array", "pa.Array"]:
    """(values in the declared form, int64 microseconds) for an event-time column.

    Text must be ISO-8601 UTC ending in Z, as SageMaker requires; ``lenient`` (text read from a
    file another tool wrote) also takes a space for 'T', an offset or no zone (UTC), and stores
    the canonical Z form, and reads a column of epoch milli-, micro- or nanoseconds as such (see
    ``epoch_unit``), storing seconds. With ``time_format`` (strftime codes, '%d.%m.%Y %H:%M'),
    text is read in that format (or as ISO-8601, which cannot be misread) and stored in the
    canonical form; a value in neither is refused, never guessed."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.types as pat

    from ..common.timeutil import MAX_US, MIN_US, OUT_OF_RANGE, arrow_timestamps_to_us, us_array_to_iso

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pat.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if time_format is not None and (pat.is_string(arr.type) or pat.is_large_string(arr.type)
                                    or pat.is_string_view(arr.type)):
        return _formatted_times(feature, arr.cast(pa.string()), time_format, problems)
    if lenient and (pat.is_string(arr.type) or pat.is_large_string(arr.type)) and pc.all(
            pc.match_substring_regex(arr.cast(pa.string()), FLOAT_PATTERN)).as_py():
        arr = arr.cast(pa.string()).cast(pa.float64())  # a file's column of epoch numbers, written as text
    t, n = arr.type, len(arr)
    missing = _mask(pc.is_null(arr))
    if missing.any():
        problems.append(ColumnProblem(feature.name, missing, "is missing; every record needs an event time"))
    if pat.is_timestamp(t) or pat.is_date(t):
        stamps = arr if pat.is_timestamp(t) else arr.cast(pa.timestamp("s"))
        factor = {"s": 1_000_000, "ms": 1_000}.get(stamps.type.unit)
        if factor:  # coarser than microseconds: what lies past the range would overflow the cast
            raw = stamps.cast(pa.int64())
            far = pc.or_(pc.less(raw, MIN_US // factor), pc.greater(raw, MAX_US // factor))
            stamps = pc.if_else(far.fill_null(False), pa.scalar(None, stamps.type), stamps)
            us = arrow_timestamps_to_us(stamps)
            us = _in_range(feature, pc.if_else(far.fill_null(False), pa.scalar(MAX_US + 1), us), problems)
        else:
            us = _in_range(feature, arrow_timestamps_to_us(stamps), problems)
    elif pat.is_integer(t) or pat.is_floating(t) or pat.is_decimal(t) or (
        feature.type == "Fractional" and (pat.is_string(t) or pat.is_large_string(t) or pat.is_string_view(t))
    ):
        sub: list[ColumnProblem] = []
        seconds = _scalar_column("Fractional", arr, feature.name, sub)
        for p in sub:
            problems.append(ColumnProblem(p.feature, p.mask, p.reason.replace("is not a number", "is not epoch seconds")))
        unit = epoch_unit(seconds)
        if lenient and unit != 1:  # a file of epoch milli-, micro- or nanoseconds: out of range as seconds
            seconds = pc.divide(seconds, float(unit))
        scaled = pc.multiply(seconds, 1_000_000.0)
        far = _mask(pc.or_(pc.less(scaled, float(MIN_US)), pc.greater(scaled, float(MAX_US))))
        if far.any():
            hint = {1_000: "milliseconds", 1_000_000: "microseconds", 1_000_000_000: "nanoseconds"}.get(unit)
            problems.append(ColumnProblem(feature.name, far, OUT_OF_RANGE + (
                f" (epoch {hint}? event times are epoch seconds: divide by {unit:,}, or upload the file, "
                "which reads them)" if hint else "")))
            scaled = pc.if_else(pa.array(far), pa.scalar(None, pa.float64()), scaled)
        us = pc.round(scaled).cast(pa.int64())
        if feature.type == "Fractional":
            return pc.if_else(pc.is_null(us), pa.scalar(None, pa.float64()), seconds), us
        return us_array_to_iso(us), us
    elif lenient and (pat.is_string(t) or pat.is_large_string(t) or pat.is_string_view(t)):
        from ..common.timeutil import parse_loose_iso

        s = arr.cast(pa.string())
        us, bad = parse_loose_iso(s)
        if bad.any():
            problems.append(ColumnProblem(
                feature.name, bad, "is not a date and time like 2024-05-01T12:00:00Z (an offset, or none for "
                "UTC, is read too)"))
        us = _in_range(feature, us, problems)
        strict = pc.match_substring_regex(s, ISO_Z_PATTERN).fill_null(False)
        return pc.if_else(strict, s, us_array_to_iso(us)), us
    elif pat.is_string(t) or pat.is_large_string(t) or pat.is_string_view(t):
        s = arr.cast(pa.string())
        shape_bad = _mask(pc.invert(pc.match_substring_regex(s, ISO_Z_PATTERN))) & ~missing
        parsed = pd.to_datetime(
            pd.Series(s.to_pandas(), dtype=object), format="ISO8601", utc=True, errors="coerce"
        )
        value_bad = parsed.isna().to_numpy() & ~missing & ~shape_bad
        if shape_bad.any():
            problems.append(ColumnProblem(
                feature.name, shape_bad,
                "is not ISO-8601 UTC: write it like 2024-05-01T12:00:00Z ('T', no offset, ending in Z)",
            ))
        if value_bad.any():
            problems.append(ColumnProblem(feature.name, value_bad, "is not a real date and time"))
        from ..common.timeutil import datetimes_to_us

        valid = ~(missing | shape_bad | value_bad)
        us = _in_range(feature, pa.array(datetimes_to_us(parsed), pa.int64(), mask=~valid), problems)
        return pc.if_else(pc.is_valid(us), s, pa.scalar(None, pa.string())), us
    else:
        bad = ~missing
        problems.append(ColumnProblem(feature.name, bad, f"is of type {t}, not a time"))
        us = pa.nulls(n, pa.int64())
    if feature.type == "Fractional":
        return pc.divide(us.cast(pa.float64()), 1_000_000.0), us
    return us_array_to_iso(us), us


def _in_range(feature: Feature, us: "pa.Array", problems: list[ColumnProblem]) -> "pa.Array":
    """``us`` with the instants outside the supported range nulled and reported (they would wrap
    in nanoseconds, as pandas and Arrow hold them: 9999 would read as 1816)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from ..common.timeutil import MAX_US, MIN_US, OUT_OF_RANGE

    far = _mask(pc.or_(pc.less(us, MIN_US), pc.greater(us, MAX_US)))
    if not far.any():
        return us
    problems.append(ColumnProblem(feature.name, far, OUT_OF_RANGE))
    return pc.if_else(pa.array(far), pa.scalar(None, pa.int64()), us)


def _formatted_times(feature: Feature, s: "pa.Array", fmt: str,
                     problems: list[ColumnProblem]) -> tuple["pa.Array", "pa.Array"]:
    """``event_time_column`` for text in the format ``fmt`` (ISO-8601 read too)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from ..common.timeutil import (
        LOOSE_ISO_PATTERN,
        OUT_OF_RANGE,
        format_example,
        parse_formatted,
        parse_loose_iso,
        us_array_to_iso,
    )

    missing = _mask(pc.is_null(s))
    if missing.any():
        problems.append(ColumnProblem(feature.name, missing, "is missing; every record needs an event time"))
    us, unmatched, far = parse_formatted(s, fmt)
    iso = unmatched & _mask(pc.match_substring_regex(s, LOOSE_ISO_PATTERN))
    if iso.any():
        iso_us, iso_bad = parse_loose_iso(s)
        us = pc.if_else(pa.array(iso & ~iso_bad), iso_us, us)
        unmatched &= ~(iso & ~iso_bad)
    if unmatched.any():
        problems.append(ColumnProblem(feature.name, unmatched, f"does not match the time format {fmt} "
                                      f"(like {format_example(fmt)})"))
    if far.any():
        problems.append(ColumnProblem(feature.name, far, OUT_OF_RANGE))
    us = _in_range(feature, us, problems)  # the ISO values read beside the format
    if feature.type == "Fractional":
        return pc.divide(us.cast(pa.float64()), 1_000_000.0), us
    return us_array_to_iso(us), us


def identifier_too_long(arr: "pa.Array") -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_string(arr.type):
        return np.zeros(len(arr), dtype=bool)
    return _mask(pc.greater(pc.binary_length(arr), MAX_IDENTIFIER_BYTES))
