"""Record keys: a user's key value typed by the group's key columns.

A group keyed by one column takes and returns a plain value ('c1', 7). A group keyed by several
columns (``FeatureGroup.identifiers``) takes a tuple or list of values in key order, or a dict
{column: value}, and returns a tuple in key order; backends receive that tuple.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .coerce import MAX_IDENTIFIER_BYTES, coerce_scalar, shown
from ..errors import ValidationError

if TYPE_CHECKING:
    from .schema import FeatureGroup


def _column(g: "FeatureGroup", name: str, kind: str, value: Any) -> Any:
    if value is None:
        raise ValidationError(f"Record identifier {name!r} of {g.name!r} is required", group=g.name, feature=name)
    try:
        typed = coerce_scalar(kind, value)
    except ValueError as exc:
        raise ValidationError(f"Record identifier {name} = {shown(value)} {exc}", group=g.name, feature=name,
                              value=value) from None
    if isinstance(typed, str) and len(typed.encode()) > MAX_IDENTIFIER_BYTES:
        column = f" {name!r}" if g.composite else ""
        raise ValidationError(f"Record identifier{column} of {g.name!r} is longer than 2 KB", group=g.name,
                              feature=name)
    return typed


def example(g: "FeatureGroup") -> str:
    """A key value of ``g`` as code, for error messages: ('m1', 7)."""
    samples = {"Integral": "7", "Fractional": "1.5", "String": "'a1'"}
    return "(" + ", ".join(samples[f.type] for f in g.id_features) + ")"


def key(g: "FeatureGroup", value: Any) -> Any:
    """``value`` as ``g``'s typed record key: a scalar for a one-column key, else a tuple in key
    order (from a tuple/list in key order or a dict by column). Raises ValidationError naming the
    column and the fix."""
    if not g.composite:
        if value is None:
            raise ValidationError(f"A record identifier for {g.name!r} is required", group=g.name)
        return _column(g, g.identifiers[0], g.id_features[0].type, value)
    names = g.identifiers
    if isinstance(value, dict):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise ValidationError(f"Record key of {g.name!r} has no column {unknown[0]!r}; its columns are "
                                  f"{', '.join(names)}", group=g.name, feature=unknown[0])
        missing = [n for n in names if value.get(n) is None]
        if missing:
            raise ValidationError(f"Record key of {g.name!r} needs {missing[0]!r} (its columns: {', '.join(names)})",
                                  group=g.name, feature=missing[0])
        values = [value[n] for n in names]
    elif isinstance(value, (tuple, list)):
        if len(value) != len(names):
            raise ValidationError(
                f"Record key of {g.name!r} has {len(names)} columns ({', '.join(names)}); got {len(value)} values "
                f"{shown(value)}: give one per column in that order, e.g. {example(g)}, or a dict by column",
                group=g.name, value=value)
        values = list(value)
    else:
        raise ValidationError(
            f"Record key of {g.name!r} has several columns ({', '.join(names)}); give a tuple in that order, "
            f"e.g. {example(g)}, or a dict by column, not {shown(value)}", group=g.name, value=value)
    return tuple(_column(g, n, f.type, v) for n, f, v in zip(names, g.id_features, values))


def of_row(g: "FeatureGroup", row: dict[str, Any]) -> Any:
    """The key of a record dict (a scalar, or a tuple for a composite key); None if a column is absent."""
    if not g.composite:
        return row.get(g.identifiers[0])
    values = tuple(row.get(n) for n in g.identifiers)
    return None if None in values else values


def parts(g: "FeatureGroup", typed_key: Any) -> tuple[Any, ...]:
    """A typed key as a tuple of column values in key order."""
    return typed_key if g.composite else (typed_key,)


def as_text(values: tuple[Any, ...] | list[Any]) -> str:
    """A composite key's values as compact JSON array text: how Redis and the HTTP API name it."""
    return json.dumps(list(values), separators=(",", ":"))

