"""Request parsing against the AWS service models: every limit the models state, checked here.

botocore checks only types and minimums on the client (and a client may skip even that), so
the server re-checks everything the models say: required members, lengths, ranges, patterns,
enums, list sizes and unions. The input shapes of the supported operations are vendored in
``service_models.py`` (so the server neither depends on botocore nor on its version); refresh
them with ``python -m store.server.vendor`` after upgrading botocore.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from functools import lru_cache
from typing import Any, Mapping

from ..errors import ValidationError
from .service_models import OPERATIONS, SHAPES


# Java regex syntax that Python's ``re`` lacks: Unicode classes (\w also admits digits and '_',
# which every model pattern using \p{L} admits anyway) and UTF-16 surrogate ranges.
_JAVA_CLASSES = {
    r"\p{L}": r"\w", r"\p{N}": r"\d", r"\p{Z}": r" \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000",
    r"\uD800\uDC00-\uDBFF\uDFFF": r"\U00010000-\U0010FFFF",
}


# A lone UTF-16 surrogate reaches a decoded body only through a \uD800-\uDFFF escape (UTF-8 cannot
# encode one), so a body without such an escape needs no walk.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


@lru_cache(maxsize=None)
def _pattern(java: str) -> re.Pattern:
    for cls, py in _JAVA_CLASSES.items():
        java = java.replace(cls, py)
    return re.compile(java, re.DOTALL)


def operation(service: str, name: str) -> dict[str, Any]:
    """The operation's HTTP binding and input shape name."""
    return OPERATIONS[service][name]


def parse_json(service: str, op: str, body: bytes) -> dict[str, Any]:
    """A JSON 1.1 request body, validated against the operation's input shape."""
    return _validate(service, operation(service, op)["input"], _json_object(body))


def parse_rest(service: str, op: str, path: Mapping[str, str], query: Any, body: bytes) -> dict[str, Any]:
    """A rest-json request: members bound to the URI and query string, the rest from the body.

    ``query`` is a multi-dict with ``getlist`` (Starlette's QueryParams)."""
    shape_name = operation(service, op)["input"]
    shape = SHAPES[service][shape_name]
    data = _json_object(body) if body.strip() else {}
    for member, ref in shape["members"].items():
        location, wire = ref.get("location"), ref.get("locationName", member)
        if location == "uri":
            data[member] = path.get(wire)
        elif location == "querystring":
            values = query.getlist(wire)
            if values:
                kind = SHAPES[service][ref["shape"]]["type"]
                data[member] = values if kind == "list" else _from_text(values[-1], kind, member)
            else:
                data.pop(member, None)
    return _validate(service, shape_name, data)


def _json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise ValidationError("The request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ValidationError("The request body must be a JSON object")
    if _SURROGATE_ESCAPE.search(body):
        _refuse_lone_surrogates(data)
    return data


def _refuse_lone_surrogates(data: dict[str, Any]) -> None:
    """Raise ValidationError at the first string (key or value) holding a lone surrogate: it is not
    Unicode text, so no store can keep it. Names the feature when it is in a record's value.
    Iterative, since the body may be nested as deep as the JSON parser allows."""
    stack: list[tuple[Any, str, str | None]] = [(data, "", None)]
    while stack:
        value, where, feature = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                named = f" (feature {feature!r})" if feature is not None else ""
                shown = (where or "the request").encode("utf-8", "backslashreplace").decode()  # a key may be bad
                raise ValidationError(
                    f"Value at '{shown}'{named} is not valid Unicode: it holds the lone surrogate "
                    f"{value[exc.start]!r} at character {exc.start} (a \\uD800-\\uDFFF escape not in a pair); "
                    "send UTF-8 text", feature=feature) from None
        elif isinstance(value, dict):
            name = value.get("FeatureName")
            feature = name if isinstance(name, str) else feature
            for key, item in reversed(value.items()):  # reversed onto the stack: reported in body order
                path = f"{where}.{key}".lstrip(".")
                stack += [(item, path, feature), (key, f"{path} (a key)", None)]
        elif isinstance(value, list):
            stack += [(item, f"{where}[{i}]", feature) for i, item in reversed(list(enumerate(value)))]


def _from_text(text: str, kind: str, member: str) -> Any:
    if kind in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            raise ValidationError(f"Query parameter {member}={text!r} is not an integer") from None
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise ValidationError(f"Query parameter {member}={text!r} must be true or false")
        return text.lower() == "true"
    return text


def _validate(service: str, shape_name: str, data: Any) -> dict[str, Any]:
    errors: list[str] = []
    value = _check(SHAPES[service], shape_name, data, "", errors)
    if errors:
        count = f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} detected: "
        raise ValidationError(count + "; ".join(errors[:10]))
    return value


def _check(shapes: dict, name: str, value: Any, where: str, errors: list[str]) -> Any:
    """``value`` converted to the shape's Python form (timestamps as epoch seconds); problems go to ``errors``."""
    shape = shapes[name]
    kind = shape["type"]
    at = where or "the request"

    def fail(constraint: str) -> None:
        shown = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
        shown = shown if len(shown) <= 80 else shown[:60] + f"...' ({len(value)} characters)"
        errors.append(f"Value {shown} at '{at}' failed to satisfy constraint: {constraint}")

    if kind == "structure":
        if not isinstance(value, dict):
            fail("Member must be an object")
            return None
        out = {}
        for member, ref in shape["members"].items():
            if value.get(member) is not None:
                out[member] = _check(shapes, ref["shape"], value[member], f"{where}.{member}".lstrip("."), errors)
        for member in shape.get("required", ()):
            if member not in out:
                errors.append(f"Value null at '{where + '.' if where else ''}{member}' failed to satisfy constraint: "
                              "Member must not be null")
        if shape.get("union") and len(out) != 1:
            fail("Exactly one member must be set")
        return out
    if kind in ("list", "map"):
        if not isinstance(value, list if kind == "list" else dict):
            fail(f"Member must be a {'list' if kind == 'list' else 'map'}")
            return None
        _check_size(shape, len(value), "Member must have length", fail)
        if kind == "list":
            member = shape["member"]["shape"]
            return [_check(shapes, member, item, f"{where}[{i}]", errors) for i, item in enumerate(value)]
        return {_check(shapes, shape["key"]["shape"], k, f"{where}.key", errors):
                _check(shapes, shape["value"]["shape"], v, f"{where}[{k!r}]", errors) for k, v in value.items()}
    if kind == "string":
        if not isinstance(value, str):
            fail("Member must be a string")
        elif "enum" in shape and value not in shape["enum"]:
            fail(f"Member must satisfy enum value set: [{', '.join(shape['enum'])}]")
        else:
            _check_size(shape, len(value), "Member must have length", fail)
            if "pattern" in shape and not _pattern(shape["pattern"]).fullmatch(value):
                fail(f"Member must satisfy regular expression pattern: {shape['pattern']}")
        return value
    if kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            fail("Member must be an integer")
        else:
            _check_size(shape, value, "Member must have value", fail)
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            fail("Member must be true or false")
        return value
    if kind == "timestamp":
        return _timestamp(value, fail)
    if kind in ("double", "float"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            fail("Member must be a number")
        return value
    raise AssertionError(f"shape type {kind} is not used by the supported operations")


def _check_size(shape: dict, size: int, what: str, fail: Any) -> None:
    if "min" in shape and size < shape["min"]:
        fail(f"{what} greater than or equal to {shape['min']}")
    elif "max" in shape and size > shape["max"]:
        fail(f"{what} less than or equal to {shape['max']}")


def _timestamp(value: Any, fail: Any) -> float | None:
    """Epoch seconds (what boto3 sends on JSON protocols) or ISO-8601, as epoch seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return (moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)).timestamp()
    fail("Member must be a timestamp (epoch seconds or ISO-8601)")
    return None
