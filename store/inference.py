"""Proposing a feature group from data: feature names, types, identifier and event time.

The types are chosen with the very tests ingest applies (``coerce``'s patterns), so a group
created from a file always ingests that same file. Text columns (every CSV column) are typed by
their values: whole numbers without leading zeros are Integral, true/false/yes/no are Integral
(1/0), other numbers Fractional, JSON lists List, the rest String. Typed columns (Parquet,
DataFrames) keep their type. Column names that are not valid feature names get a sanitised
feature name, and the proposal maps one onto the other for ingest.
"""
from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .coerce import BOOL_WORDS_PATTERN, FLOAT_PATTERN, INT_PATTERN
from .errors import ValidationError
from .schema import NAME_RE, Feature, reserved_clash
from .timeutil import time_share

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


def feature_name(column: str, taken: set[str]) -> str:
    """``column`` if it is a valid, free feature name, else a sanitised one ('Order ID' ->
    'Order_ID', 'prénom' -> 'prenom', 'year' or 'YEAR' -> 'year_value'), unique among ``taken``
    (the lower-case names given so far: SQL does not tell 'Amount' from 'amount')."""
    name = column
    if not (NAME_RE.fullmatch(name) and len(name) <= 64):
        ascii_text = unicodedata.normalize("NFKD", column).encode("ascii", "ignore").decode()
        name = re.sub(r"[^A-Za-z0-9_-]+", "_", ascii_text).strip("_-")[:64].strip("_-") or "column"
    if reserved_clash(name):
        name = f"{name}_value"
    base, n = name, 2
    while name.lower() in taken:
        suffix = f"_{n}"
        name, n = base[: 64 - len(suffix)] + suffix, n + 1
    taken.add(name.lower())
    return name


def _text_type(arr: "pa.Array") -> tuple[str, str | None]:
    """(type, collection) for a text column, by the patterns ingest accepts."""
    import pyarrow.compute as pc

    values = pc.drop_null(pc.utf8_trim_whitespace(arr))
    values = values.filter(pc.not_equal(values, ""))
    if len(values) == 0:
        return "String", None

    def every(pattern: str) -> bool:
        return bool(pc.all(pc.match_substring_regex(values, pattern)).as_py())

    # Leading zeros ('02134', '007') mark codes, which a number would lose.
    if not pc.any(pc.match_substring_regex(values, r"^[+-]?0\d")).as_py():
        if every(INT_PATTERN) and _fits_int64(values):
            return "Integral", None
        if every(FLOAT_PATTERN) and _finite(values):
            return "Fractional", None
    if every(BOOL_WORDS_PATTERN):
        return "Integral", None
    if every(r"^\[.*\]$"):
        element = _list_element_type(values)
        if element:
            return element, "List"
    return "String", None


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
    from . import duck
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
    kind, _ = _text_type(unquoted)
    return "String" if quoted else kind


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


def _time_kind(arr: "pa.Array", kind: tuple[str, str | None]) -> tuple[str | None, float]:
    """('String', share) if the column holds instants (timestamps, dates, ISO-8601 text; share:
    the part of the values that are), ('Fractional', 1) if numbers (epoch seconds), else (None, 0)."""
    import pyarrow.types as pat

    t = arr.type
    if pat.is_timestamp(t) or pat.is_date(t):
        return "String", 1.0
    if _is_text(t) and kind == ("String", None):
        share = time_share(arr)
        if share:
            return "String", share
    if kind[1] is None and kind[0] in ("Integral", "Fractional"):
        return "Fractional", 1.0
    return None, 0.0


def propose(table: "pa.Table", event_time: str | None = None, record_identifier: str | None = None) -> Proposal:
    """A proposal for ``table``'s columns; ``event_time``/``record_identifier`` name columns the
    user already chose (else they are guessed). Raises ValidationError for a column no feature
    type can hold."""
    names = table.column_names
    if not names:
        raise ValidationError("The data has no columns")
    taken: set[str] = set()
    kinds: dict[str, tuple[str, str | None]] = {}
    columns: dict[str, str] = {}
    for name in names:
        arr = table.column(name).combine_chunks()
        kinds[name] = _text_type(arr) if _is_text(arr.type) else _typed_type(arr.type, name)
        columns[name] = feature_name(name, taken)

    by_feature = {f: c for c, f in columns.items()}
    ident = (_column(record_identifier, names, by_feature, "Record identifier") if record_identifier
             else next((n for n in names if _ID_NAME.search(n)), names[0]))
    time_kinds = {n: _time_kind(table.column(n).combine_chunks(), kinds[n]) for n in names if n != ident}
    event_time = (_column(event_time, names, by_feature, "Event time") if event_time
                  else _guess_event_time(names, ident, time_kinds))
    features = []
    for name in names:
        kind, collection = kinds[name]
        if name == event_time:
            kind, collection = time_kinds.get(name, (None, 0.0))[0] or "String", None
        features.append(Feature(columns[name], kind, collection=collection).to_dict())
    return Proposal(features, columns[ident], columns[event_time] if event_time else None,
                    {c: f for c, f in columns.items() if c != f}, list(names))


def _column(name: str, names: list[str], by_feature: dict[str, str], what: str) -> str:
    """The column a user named, by its own name or by the feature name proposed for it."""
    if name in names:
        return name
    if name in by_feature:
        return by_feature[name]
    raise ValidationError(f"{what} column {name!r} is not in the data; it has {', '.join(names)}", column=name)


def _guess_event_time(names: list[str], ident: str, time_kinds: dict[str, tuple[str | None, float]]) -> str | None:
    """An exact 'event_time', else a time-like name holding mostly instants, else one holding
    epoch numbers, else the first column holding nothing but instants."""
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
    return next((n for n in names if n != ident and time_kinds[n] == ("String", 1.0)), None)


def guess_time_column(table: "pa.Table", exclude: tuple[str, ...] = ()) -> str | None:
    """The column of ``table`` most likely to hold each row's event time (as ``propose`` guesses
    it), or None."""
    names = [n for n in table.column_names if n not in exclude]
    kinds = {}
    for n in names:
        arr = table.column(n).combine_chunks()
        try:
            kinds[n] = _time_kind(arr, _text_type(arr) if _is_text(arr.type) else _typed_type(arr.type, n))
        except ValidationError:  # a type no feature holds is no event time either
            kinds[n] = (None, 0.0)
    return _guess_event_time(names, "", kinds)


def propose_data(data: Any, event_time: str | None = None, record_identifier: str | None = None) -> Proposal:
    """``propose`` for a DataFrame, an Arrow table or a CSV/Parquet file (its first rows)."""
    from .ingest import load

    if isinstance(data, (str, os.PathLike)):
        return propose_file(os.fspath(data), event_time=event_time, record_identifier=record_identifier)
    return propose(load(data).table, event_time, record_identifier)


def propose_file(path: str, sample_rows: int = SAMPLE_ROWS, event_time: str | None = None,
                 record_identifier: str | None = None) -> Proposal:
    """``propose`` over the file's first ``sample_rows`` rows, read as ingest reads them."""
    from .tabular import read_table

    table = read_table(path, rows=sample_rows)
    if not table.column_names:
        raise ValidationError(f"{os.path.basename(path)!r} has no columns")
    return propose(table, event_time, record_identifier)
