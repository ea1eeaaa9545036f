"""One record on its way in: typed by the group's features (the rules of ``coerce``), with the
verdict of the group's row rules, before ``FeatureStore.put_record`` writes it."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import keys
from .coerce import coerce_event_time, coerce_value, shown
from ..errors import ValidationError

if TYPE_CHECKING:
    from .rules import Rule
    from .schema import FeatureGroup


def typed(g: "FeatureGroup", by_name: dict[str, Any], record: Any) -> tuple[dict[str, Any], int]:
    """(feature -> typed value, event time in microseconds). Raises ValidationError naming the
    feature and value at fault."""
    if not isinstance(record, dict):
        raise ValidationError(f"A record must be a dict of feature name to value, got {type(record).__name__}")
    values: dict[str, Any] = {}
    for key, value in record.items():
        f = by_name.get(key)
        if f is None:
            raise ValidationError(
                f"Feature {key!r} is not in feature group {g.name!r}{g.former(key)}; add it with add_features or "
                "drop it",
                group=g.name, feature=key,
            )
        if key == g.event_time:
            continue
        try:
            values[key] = coerce_value(f, value)
        except ValueError as exc:
            raise ValidationError(f"Feature {key} = {shown(value)} {exc}", group=g.name, feature=key, value=value) from None
    for name in g.identifiers:
        if values.get(name) is None:
            raise ValidationError(f"Record identifier {name!r} is required", group=g.name, feature=name)
    identifier(g, keys.of_row(g, values))
    raw_time = record.get(g.event_time)
    try:
        values[g.event_time], event_us = coerce_event_time(g.time_feature, raw_time)
    except ValueError as exc:
        raise ValidationError(f"Event time {g.event_time} = {shown(raw_time)} {exc}", group=g.name,
                              feature=g.event_time, value=raw_time) from None
    return values, event_us


def identifier(g: "FeatureGroup", record_id: Any) -> Any:
    """A record identifier as the group's key type: a scalar, or a tuple in key order for a key of
    several columns (see ``keys.key``). Raises ValidationError."""
    return keys.key(g, record_id)


def refused_message(g: "FeatureGroup", values: dict[str, Any], rules: "list[Rule]") -> str:
    """Why rules refuse a record, naming the rule, the feature and the value."""
    from .rules import reason

    rid = keys.of_row(g, values)
    parts = [f"{r.feature} = {values.get(r.feature)!r} {reason(r)}" if r.feature else f"the record {reason(r)}"
             for r in rules]
    return f"Record {g.key_label} = {rid!r} of {g.name!r} was refused: " + "; ".join(parts)
