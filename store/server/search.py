"""Search over feature groups and feature metadata: SageMaker's filter expressions, sorting, paging.

A resource is matched against its wire shape flattened into dotted property names
(``OfflineStoreConfig.S3StorageConfig.S3Uri``); lists contribute every element, key/value lists
become ``Tags.<key>`` / ``Parameters.<key>`` plus ``AllTags`` / ``AllParameters`` (keys and values).
Times compare as instants, numbers as numbers, the rest as text; ``Contains`` ignores case.
"""
from __future__ import annotations

import datetime as dt
import operator
from typing import Any, Iterator

from ..errors import ValidationError
from . import paging
from .call import Call
from .shapes import feature_group, feature_metadata

MAX_DEPTH = 5  # nested SubExpressions; the model bounds each list to 20 but not the depth
_PAIRS = {"Tags": "AllTags", "Parameters": "AllParameters"}
_TIMES = {"CreationTime", "LastModifiedTime"}
_COMPARE = {"Equals": operator.eq, "GreaterThan": operator.gt, "GreaterThanOrEqualTo": operator.ge,
            "LessThan": operator.lt, "LessThanOrEqualTo": operator.le}


def search(call: Call) -> dict[str, Any]:
    p = call.input
    resource = p["Resource"]
    if resource == "FeatureGroup":
        items = [feature_group(call.fs.describe(g.name, storage=False), call.region)
                 for g in call.fs.list_feature_groups() if call.visible(g.name)]
    elif resource == "FeatureMetadata":
        items = [feature_metadata(call.fs.feature_metadata(g.name, f.name), call.region)
                 for g in call.fs.list_feature_groups() if call.visible(g.name) for f in g.features]
    else:
        raise ValidationError(f"Search on this server covers FeatureGroup and FeatureMetadata, not {resource}")
    expression = p.get("SearchExpression") or {}
    hits = [item for item in items if _matches(expression, _flatten(item), item, 1)]
    sort_by = p.get("SortBy", "LastModifiedTime")
    keyed = [(_flatten(h).get(sort_by), h) for h in hits]
    present = sorted(((_sortable(sort_by, k[0]), h) for k, h in keyed if k),
                     key=lambda pair: (isinstance(pair[0], str), pair[0]),
                     reverse=p.get("SortOrder", "Descending") == "Descending")
    ordered = [h for _, h in present] + [h for k, h in keyed if not k]  # items without the property last
    shown, token = paging.page(ordered, p.get("NextToken"), p.get("MaxResults", 10))
    out: dict[str, Any] = {"Results": [{resource: item} for item in shown],
                           "TotalHits": {"Value": len(hits), "Relation": "EqualTo"}}
    if token:
        out["NextToken"] = token
    return out


def _flatten(value: Any, prefix: str = "") -> dict[str, list[Any]]:
    """Property name -> every value under it."""
    out: dict[str, list[Any]] = {}
    for name, leaf in _leaves(value, prefix):
        out.setdefault(name, []).append(leaf)
    return out


def _leaves(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{prefix}.{key}" if prefix else key
            if key in _PAIRS and isinstance(item, list):
                for pair in item:
                    yield f"{name}.{pair['Key']}", pair["Value"]
                    yield _PAIRS[key], pair["Key"]
                    yield _PAIRS[key], pair["Value"]
            yield from _leaves(item, name)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item, prefix)
    else:
        yield prefix, value


def _matches(expression: dict[str, Any], props: dict[str, list[Any]], item: dict[str, Any], depth: int) -> bool:
    if depth > MAX_DEPTH:
        raise ValidationError(f"SearchExpression nests SubExpressions deeper than {MAX_DEPTH} levels")
    results = [_filter(f, props) for f in expression.get("Filters", [])]
    for nested in expression.get("NestedFilters", []):
        results.append(_nested(nested, item))
    results += [_matches(sub, props, item, depth + 1) for sub in expression.get("SubExpressions", [])]
    return any(results) if expression.get("Operator") == "Or" else all(results)


def _nested(nested: dict[str, Any], item: dict[str, Any]) -> bool:
    """True if one element of the nested list satisfies every filter."""
    name = nested["NestedPropertyName"]
    elements: Any = item
    for part in name.split("."):
        elements = elements.get(part) if isinstance(elements, dict) else None
    if not isinstance(elements, list):
        return False
    return any(all(_filter(f, _flatten(element, name)) for f in nested["Filters"]) for element in elements)


def _filter(spec: dict[str, Any], props: dict[str, list[Any]]) -> bool:
    name, op, wanted = spec["Name"], spec.get("Operator", "Equals"), spec.get("Value")
    values = props.get(name, [])
    if op in ("Exists", "NotExists"):  # a structure exists if anything under it does
        exists = bool(values) or any(key.startswith(name + ".") for key in props)
        return exists == (op == "Exists")
    if wanted is None:
        raise ValidationError(f"Filter on {name!r} with operator {op} needs a Value")
    if op == "Contains":
        return any(wanted.lower() in str(v).lower() for v in values)
    if op == "In":
        options = {w.strip() for w in wanted.split(",")}
        return any(str(v) in options for v in values)
    pairs = [(_sortable(name, v), _target(name, v, wanted)) for v in values]
    if op == "NotEquals":
        return all(have != want for have, want in pairs)
    return any(_COMPARE[op](have, want) for have, want in pairs)


def _target(name: str, value: Any, wanted: str) -> Any:
    """The filter's text in the property's kind: a time, a number or text."""
    if name.split(".")[-1] in _TIMES:
        return _sortable(name, wanted)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(wanted)
        except ValueError:
            raise ValidationError(f"Filter value {wanted!r} for {name} is not a number") from None
    return wanted


def _sortable(name: str, value: Any) -> Any:
    """Times as epoch seconds (filters give them as ISO-8601 or epoch text), numbers as numbers, else text."""
    if name.split(".")[-1] in _TIMES and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(f"Filter value {value!r} for {name} is not a time (use ISO-8601)") from None
        return (moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)).timestamp()
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return value
    return str(value)
