"""Proposing a feature group from data: feature names, types, identifier and event time.

The types are chosen with the very tests ingest applies (``coerce``'s patterns), so a group
created from a file always ingests that same file. Text columns (every CSV column) are typed by
their values: whole numbers without leading zeros are Integral, true/false/yes/no are Integral
(1/0), other numbers Fractional, JSON lists List, the rest String. Typed columns (Parquet,
DataFrames) keep their type. A column where a few values (at most 5%) do not fit a number type
is proposed as that type with a note naming them: they will be refused on ingest, where a String
feature would keep them for good. Column names that are not valid feature names get a sanitised
feature name, and the proposal maps one onto the other for ingest.

Dates other tools write ('11.10.2026 01:21', '12/31/2025 2:05 PM') are event times too, read with
the format they fit (``timeutil.time_formats_fitting``); where day-first and month-first both fit,
the proposal names both and the user chooses (``Proposal.check_event_time`` refuses until then).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..model.coerce import BOOL_WORDS_PATTERN, FLOAT_PATTERN, INT_PATTERN
from ..errors import ValidationError
from ..model.schema import Feature, feature_name
from ..common.timeutil import format_example, parse_formatted, parse_loose_iso, time_formats_fitting, time_share

if TYPE_CHECKING:
    import pyarrow as pa

SAMPLE_ROWS = 200_000
_ID_NAME = re.compile(r"(^id$|[_\s-]id$|[a-z]Id$|^key$|_key$)", re.I)
_TIME_NAME = re.compile(r"(^|_)(event_?time(stamp)?|time(stamp)?|ts|date(time)?|datetime|updated|created|"
                        r"[a-z]+_at|at)($|_)|[a-z](At|Time|Date)$", re.I)
_EXACT_TIME = ("event_time", "eventtime", "event_timestamp")


@dataclass
class Proposal:
    """A proposed schema for the user to review before creating a group."""

    features: list[dict[str, Any]]  # Feature.to_dict() specs, in the data's column order
    record_identifier: str | None  # a feature name
    event_time: str | None  # a feature name, None when no column looks like a time
    columns: dict[str, str] = field(default_factory=dict)  # column -> feature name, where they differ
    source_columns: list[str] = field(default_factory=list)  # the data's columns, one per feature
    # The strftime format the event time's text is read with (None: ISO-8601, epoch numbers, or
    # not decided); kept with the group so every ingest reads the same export the same way.
    time_format: str | None = None
    # feature -> the formats its dates fit; more than one: ambiguous, the user chooses.
    time_formats: dict[str, list[str]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # feature -> why its type is what it is
    event_time_problem: str | None = None  # why the event time cannot be read, None when it can

    def check_event_time(self) -> None:
        """Raise ValidationError when the event time's values cannot be read (a group made so
        could not take its own sample), or read two ways and no format was chosen."""
        if self.event_time_problem:
            raise ValidationError(self.event_time_problem, feature=self.event_time, argument="time_format")


@dataclass
class TimeCheck:
    """How a column reads as event times: the format used, the values it cannot read."""

    time_format: str | None  # None: ISO-8601, epoch numbers or typed timestamps
    formats: list[str]  # the formats the values fit (more than one: ambiguous)
    total: int  # non-null values
    bad: int  # values that do not read
    examples: list[str]  # a few of them
    problem: str | None  # why the column cannot be the event time, None when it can
    note: str | None  # what happens to the values that do not read
    preview: "pa.Table | None" = None  # first values and the instants read from them (ISO-8601)


def _text_type(arr: "pa.Array") -> tuple[str, str | None, str | None]:
    """(type, collection, note) for a text column, by the patterns ingest accepts; the note says
    why: which values will be refused, or why numbers stayed String."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pc.drop_null(pc.utf8_trim_whitespace(arr))
    values = values.filter(pc.not_equal(values, ""))
    n = len(values)
    if n == 0:
        return "String", None, None

    def fits(pattern: str) -> "pa.Array":
        return pc.match_substring_regex(values, pattern)

    # Leading zeros ('02134', '007') mark codes, which a number would lose.
    codes = fits(r"^[+-]?0\d")
    if not pc.any(codes).as_py():
        ints, floats = fits(INT_PATTERN), fits(FLOAT_PATTERN)
        n_int, n_float = (int(pc.sum(m.cast(pa.int64())).as_py() or 0) for m in (ints, floats))
        if n_int == n and _fits_int64(values):
            return "Integral", None, None
        if n_float == n and _finite(values):
            return "Fractional", None, None
        # A few values that are no number ('n/a', 'seven hundred') do not make a column of numbers
        # text for good: propose the number type and say those values will be refused.
        kind, good = ("Integral", ints) if n_int == n_float else ("Fractional", floats)
        misfits = n - int(pc.sum(good.cast(pa.int64())).as_py() or 0)
        kept = values.filter(good)
        if 0 < misfits <= MISFIT_SHARE * n and (_fits_int64(kept) if kind == "Integral" else _finite(kept)):
            return kind, None, (f"{kind}; {_values(misfits)} {'don' if misfits > 1 else 'doesn'}'t fit "
                                f"({_examples(values.filter(pc.invert(good)))}): "
                                f"{'they' if misfits > 1 else 'it'} will be rejected on ingest")
        if n_float >= n / 2:
            return "String", None, (f"String: {_values(n - n_float)} of {n:,} {'are' if n - n_float > 1 else 'is'} "
                                    f"not numbers ({_examples(values.filter(pc.invert(floats)))})")
    elif pc.all(fits(INT_PATTERN)).as_py():
        return "String", None, f"String: codes with leading zeros ({_examples(values.filter(codes))}) keep them as text"
    if pc.all(fits(BOOL_WORDS_PATTERN)).as_py():
        return "Integral", None, None
    if pc.all(fits(r"^\[.*\]$")).as_py():
        element = _list_element_type(values)
        if element:
            return element, "List", None
    return "String", None, None


MISFIT_SHARE = 0.05  # at most this share of a column's values may miss its proposed type


def _values(n: int) -> str:
    return f"{n:,} value{'s' if n != 1 else ''}"


def _examples(values: "pa.Array", limit: int = 3) -> str:
    """A few distinct values, quoted as code: `n/a`, `seven hundred`."""
    import pyarrow.compute as pc

    shown = pc.unique(values)[:limit].to_pylist()
    return ", ".join(f"`{v}`" for v in shown) + (", …" if len(pc.unique(values)) > limit else "")


def _fits_int64(values: "pa.Array") -> bool:
    import pyarrow as pa

    try:
        values.cast(pa.int64())
        return True
    except pa.ArrowInvalid:
        return False


def _finite(values: "pa.Array") -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc

    return bool(pc.all(pc.is_finite(values.cast(pa.float64()))).as_py())


def _list_element_type(values: "pa.Array") -> str | None:
    """The element type of JSON lists of scalars, None if any value is not one."""
    from ..common import duck
    import pyarrow as pa
    import pyarrow.compute as pc

    with duck.cursor() as con:
        con.register("t", pa.table({"s": values}))
        parsed = con.sql("SELECT TRY_CAST(TRY_CAST(s AS JSON) AS JSON[]) AS v FROM t").to_arrow_table().column("v")
    if parsed.null_count:
        return None
    flat = pc.list_flatten(parsed).cast(pa.string())
    if len(flat) == 0:
        return "String"
    if pc.any(pc.match_substring_regex(flat, r"^[\[{]|^null$")).as_py():
        return None  # nested or null elements: keep the JSON as text
    unquoted = pc.if_else(pc.starts_with(flat, '"'), pc.utf8_slice_codeunits(flat, 1, -1), flat)
    quoted = pc.any(pc.starts_with(flat, '"')).as_py()
    kind, _, note = _text_type(unquoted)
    return "String" if quoted or note and kind != "String" else kind


def _typed_type(t: "pa.DataType", column: str) -> tuple[str, str | None]:
    """(type, collection) for a typed Arrow column."""
    import pyarrow.types as pat

    if pat.is_dictionary(t):
        t = t.value_type
    if pat.is_list(t) or pat.is_large_list(t) or pat.is_fixed_size_list(t):
        inner, nested = _typed_type(t.value_type, column)
        if nested:
            raise ValidationError(f"Column {column!r} holds lists of lists, which no feature type can hold; "
                                  "flatten it or store it as JSON text first", column=column)
        return inner, "List"
    if pat.is_integer(t) or pat.is_boolean(t):
        return "Integral", None
    if pat.is_floating(t) or pat.is_decimal(t):
        return "Fractional", None
    if (pat.is_string(t) or pat.is_large_string(t) or pat.is_string_view(t) or pat.is_timestamp(t)
            or pat.is_date(t) or pat.is_time(t) or pat.is_null(t)):
        return "String", None
    raise ValidationError(f"Column {column!r} has type {t}, which no feature type can hold; convert it to "
                          "numbers, text or a list first", column=column)


def _is_text(t: "pa.DataType") -> bool:
    import pyarrow.types as pat

    return pat.is_string(t) or pat.is_large_string(t) or pat.is_string_view(t)


def _time_kind(arr: "pa.Array", kind: tuple[str, str | None]) -> tuple[str | None, float, list[str]]:
    """('String', share, formats) if the column holds instants (timestamps, dates, ISO-8601 text,
    or dates in one of ``formats``; share: the part of the values that are), ('Fractional', 1,
    []) if numbers (epoch seconds), else (None, 0, [])."""
    import pyarrow.types as pat

    t = arr.type
    if pat.is_timestamp(t) or pat.is_date(t):
        return "String", 1.0, []
    if _is_text(t) and kind == ("String", None):
        share = time_share(arr)
        formats, read = time_formats_fitting(arr) if share < 1 - MISFIT_SHARE else ([], 0.0)
        if read > share:
            return "String", read, formats
        if share:
            return "String", share, []
    if kind[1] is None and kind[0] in ("Integral", "Fractional"):
        return "Fractional", 1.0, []
    return None, 0.0, []


def propose(table: "pa.Table", event_time: str | None = None, record_identifier: str | None = None,
            time_format: str | None = None) -> Proposal:
    """A proposal for ``table``'s columns; ``event_time``/``record_identifier`` name columns the
    user already chose (else they are guessed), ``time_format`` how the event time is written
    (else detected). Raises ValidationError for a column no feature type can hold."""
    names = table.column_names
    if not names:
        raise ValidationError("The data has no columns")
    taken: set[str] = set()
    kinds: dict[str, tuple[str, str | None]] = {}
    notes: dict[str, str] = {}
    columns: dict[str, str] = {}
    for name in names:
        arr = table.column(name).combine_chunks()
        columns[name] = feature_name(name, taken)
        if _is_text(arr.type):
            kind, collection, note = _text_type(arr)
            kinds[name] = kind, collection
            if note:
                notes[columns[name]] = note
        else:
            kinds[name] = _typed_type(arr.type, name)

    by_feature = {f: c for c, f in columns.items()}
    ident = (_column(record_identifier, names, by_feature, "Record identifier") if record_identifier
             else next((n for n in names if _ID_NAME.search(n)), names[0]))
    if kinds[ident][0] != "String" and notes.pop(columns[ident], None):
        kinds[ident] = ("String", None)  # an identifier that is not always a number keeps every value as text
    found = {n: _time_kind(table.column(n).combine_chunks(), kinds[n]) for n in names if n != ident}
    time_kinds = {n: (kind, share) for n, (kind, share, _) in found.items()}
    event_time = (_column(event_time, names, by_feature, "Event time") if event_time
                  else _guess_event_time(names, ident, time_kinds))
    features = []
    for name in names:
        kind, collection = kinds[name]
        if name == event_time:
            kind, collection = time_kinds.get(name, (None, 0.0))[0] or "String", None
        features.append(Feature(columns[name], kind, collection=collection).to_dict())
    proposal = Proposal(features, columns[ident], columns[event_time] if event_time else None,
                        {c: f for c, f in columns.items() if c != f}, list(names), notes=notes,
                        time_formats={columns[n]: formats for n, (_, _, formats) in found.items() if formats})
    if event_time:
        notes.pop(columns[event_time], None)
        check = time_check(table.column(event_time), event_time, time_format,
                           found.get(event_time, (None, 0.0, []))[2])
        proposal.time_format, proposal.event_time_problem = check.time_format, check.problem
        if check.note:
            notes[columns[event_time]] = check.note
    return proposal


def time_check(arr: "pa.Array | pa.ChunkedArray", column: str, time_format: str | None = None,
               formats: list[str] | None = None, preview_rows: int = 5) -> TimeCheck:
    """How ``column`` reads as the event time, in ``time_format`` (else in the one format its
    text fits, of ``formats`` when given). Typed timestamps and numbers always read; text is
    refused when more than 5% of it does not read, or when it fits two formats and none was chosen."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from ..model.coerce import FLOAT_PATTERN
    from ..common.timeutil import us_array_to_iso

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if not _is_text(arr.type):
        return TimeCheck(None, [], len(arr) - arr.null_count, 0, [], None, None)
    values = pc.drop_null(pc.utf8_trim_whitespace(arr.cast(pa.string())))
    values = values.filter(pc.not_equal(values, ""))
    total = len(values)
    if time_format is None and total and pc.all(pc.match_substring_regex(values, FLOAT_PATTERN)).as_py():
        return TimeCheck(None, [], total, 0, [], None, None)  # epoch numbers written as text
    if time_format is None:
        formats = time_formats_fitting(values)[0] if formats is None else formats
        if len(formats) > 1:
            choices = " or ".join(f"{f!r} (31 December 2025 is {format_example(f)})" for f in formats)
            return TimeCheck(None, formats, total, 0, [], (
                f"Event time {column!r} reads both day-first and month-first (no day in it is above 12): "
                f"choose its time format (time_format=), {choices}"), None)
        time_format = formats[0] if formats else None
    iso_us, iso_bad = parse_loose_iso(values)
    if time_format is not None:
        us, unmatched, far = parse_formatted(values, time_format)
        iso = unmatched & ~iso_bad  # ISO-8601 is read whatever the format: it cannot be misread
        us = pc.if_else(pa.array(iso), iso_us, us)
        bad = (unmatched & ~iso) | far
    else:
        us, bad = iso_us, iso_bad
    n_bad = int(bad.sum())
    examples = pc.unique(values.filter(pa.array(bad)))[:3].to_pylist()
    shown = ", ".join(f"`{v}`" for v in examples)
    how = (f"do{'es' if n_bad == 1 else ''} not match the time format {time_format} (like {format_example(time_format)})"
           if time_format else f"{'is' if n_bad == 1 else 'are'} not a date and time this store reads")
    problem = note = None
    if total == 0:
        problem = f"Event time {column!r} has no values: pick the column saying when each row took effect"
    elif n_bad > MISFIT_SHARE * total:
        problem = (f"Event time {column!r}: {n_bad:,} of {total:,} values {how} ({shown}); "
                   + ("fix the time format" if time_format else
                      "give the format they are written in (time_format=, e.g. %d.%m.%Y %H:%M), or write them as "
                      "ISO-8601 like 2024-05-01T12:00:00Z") + ", or pick another column")
    elif n_bad:
        note = f"{_values(n_bad)} {how} ({shown}): {'they' if n_bad > 1 else 'it'} will be rejected on ingest"
    head = min(preview_rows, total)
    preview = pa.table({"value": values[:head], "read as": us_array_to_iso(us[:head])})
    return TimeCheck(time_format, formats or ([time_format] if time_format else []), total, n_bad,
                     examples, problem, note, preview)


def _column(name: str, names: list[str], by_feature: dict[str, str], what: str) -> str:
    """The column a user named, by its own name or by the feature name proposed for it."""
    if name in names:
        return name
    if name in by_feature:
        return by_feature[name]
    raise ValidationError(f"{what} column {name!r} is not in the data; it has {', '.join(names)}", column=name)


def _guess_event_time(names: list[str], ident: str, time_kinds: dict[str, tuple[str | None, float]]) -> str | None:
    """An exact 'event_time', else a time-like name holding mostly instants, else one holding
    epoch numbers, else the first column holding nothing but instants, else the only one holding
    instants but for a few values."""
    exact = next((n for n in names if n.lower() in _EXACT_TIME and n != ident), None)
    if exact:
        return exact
    named = [n for n in names if n != ident and _TIME_NAME.search(n)]
    for n in named:
        if time_kinds[n][0] == "String" and time_kinds[n][1] >= 0.8:
            return n
    for n in named:
        if time_kinds[n][0] == "Fractional":
            return n
    full = next((n for n in names if n != ident and time_kinds[n] == ("String", 1.0)), None)
    if full:
        return full
    # The only column of instants but for a few values ('yesterday'), which ingest will refuse.
    mostly = [n for n in names if n != ident and time_kinds[n][0] == "String" and time_kinds[n][1] >= 1 - MISFIT_SHARE]
    return mostly[0] if len(mostly) == 1 else None


def guess_time_column(table: "pa.Table", exclude: tuple[str, ...] = ()) -> str | None:
    """The column of ``table`` most likely to hold each row's event time (as ``propose`` guesses
    it), or None."""
    names = [n for n in table.column_names if n not in exclude]
    kinds = {}
    for n in names:
        arr = table.column(n).combine_chunks()
        try:
            kind = _text_type(arr)[:2] if _is_text(arr.type) else _typed_type(arr.type, n)
            kinds[n] = _time_kind(arr, kind)[:2]
        except ValidationError:  # a type no feature holds is no event time either
            kinds[n] = (None, 0.0)
    return _guess_event_time(names, "", kinds)


def propose_data(data: Any, event_time: str | None = None, record_identifier: str | None = None,
                 time_format: str | None = None) -> Proposal:
    """``propose`` for a DataFrame, an Arrow table or a CSV/Parquet file (its first rows)."""
    from .prepare import load

    if isinstance(data, (str, os.PathLike)):
        return propose_file(os.fspath(data), event_time=event_time, record_identifier=record_identifier,
                            time_format=time_format)
    return propose(load(data).table, event_time, record_identifier, time_format)


def propose_file(path: str, sample_rows: int = SAMPLE_ROWS, event_time: str | None = None,
                 record_identifier: str | None = None, time_format: str | None = None) -> Proposal:
    """``propose`` over the file's first ``sample_rows`` rows, read as ingest reads them."""
    from .files import read_table

    table = read_table(path, rows=sample_rows)
    if not table.column_names:
        raise ValidationError(f"{os.path.basename(path)!r} has no columns")
    return propose(table, event_time, record_identifier, time_format)
