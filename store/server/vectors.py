"""Online feature vectors over HTTP: a feature service's vector, and Feast's ``/get-online-features``.

``POST /FeatureServices/{name}/OnlineFeatures`` takes ``{"EntityRows": [{...}], "Request": {...}
or [{...}], "Version": N}`` and answers one object per entity row::

    {"FeatureServiceName": "fraud", "Keys": ["customer_id"], "Features": ["age", "score"],
     "Rows": [{"customer_id": 7, "age": 41, "score": 0.5}],
     "Statuses": [{"age": "present", "score": "present"}],
     "EventTimes": [{"age": "2026-01-01T00:00:00Z", "score": null}]}

Values are JSON typed as the service's dataset columns (numbers, strings, lists; null for a
missing value; a float that is not finite as "NaN", "Infinity" or "-Infinity", as protobuf's JSON
has it), not GetRecord's strings. Statuses: present / not_found / outside_ttl, as
``FeatureStore.get_online_features`` gives them (an on-demand output: the worst of its inputs').

``POST /get-online-features`` speaks Feast's feature server: ``{"feature_service": "fraud"}`` or
``{"features": ["group:feature", ...]}`` over ``"entities": {"customer_id": [1, 2]}``, answered
column by column, the entity keys first, as Feast's ``convert_response_to_dict`` does; a
``features`` list is read as an unsaved service, in one snapshot like a service.

Both go through the server's one dispatch (signature, access policy, error mapping); a group the
caller may not read is absent (404 ResourceNotFound), as a missing service is.
"""
from __future__ import annotations

import functools
import itertools
import json
import math
from typing import Any, Callable, Mapping

import orjson

from ..errors import ValidationError
from .call import Call
from .shapes import iso

MAX_ENTITY_ROWS = 1000
FEAST_STATUS = {"present": "PRESENT", "not_found": "NOT_FOUND", "outside_ttl": "OUTSIDE_MAX_AGE"}
FEAST_NO_TIME = "1970-01-01T00:00:00Z"  # what Feast answers for a key or a missing value
_SERVICE_FIELDS = {"EntityRows", "Request", "Version"}
_FEAST_FIELDS = {"entities", "feature_service", "features", "full_feature_names", "request_context",
                 "include_feature_view_version_metadata"}


# ----------------------------------------------------------------------------- request bodies

def _body(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ValidationError("The request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise ValidationError("The request body must be a JSON object")
    return value


def _unknown(value: dict[str, Any], known: set[str]) -> None:
    extra = sorted(set(value) - known)
    if extra:
        raise ValidationError(f"Unknown field {extra[0]!r}; the body takes {', '.join(sorted(known))}",
                              field=extra[0])


def _request_values(value: Any, field: str, rows: int) -> Any:
    """A dict broadcast to every row, or a list of dicts, one per row."""
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        if len(value) != rows:
            raise ValidationError(f"{field} has {len(value)} entries for {rows} entity rows; give one per row, or one "
                                  "object for every row", field=field)
        return value
    raise ValidationError(f"{field} must be an object of request values (for every row) or a list of them (one per "
                          "row)", field=field)


def parse_service(path_params: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The service endpoint's input. Raises ValidationError naming the field."""
    value = _body(body)
    _unknown(value, _SERVICE_FIELDS)
    rows = value.get("EntityRows")
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise ValidationError('EntityRows must be a non-empty list of objects like [{"customer_id": 7}]',
                              field="EntityRows")
    if len(rows) > MAX_ENTITY_ROWS:
        raise ValidationError(f"EntityRows has {len(rows)} rows; at most {MAX_ENTITY_ROWS} per call",
                              field="EntityRows")
    version = value.get("Version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 1):
        raise ValidationError(f"Version must be a whole number from 1, got {version!r}", field="Version")
    return {"FeatureServiceName": path_params["name"], "EntityRows": rows, "Version": version,
            "Request": _request_values(value.get("Request"), "Request", len(rows))}


def parse_feast(path_params: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """Feast's GetOnlineFeaturesRequest (feast/feature_server.py), plus ``request_context``."""
    value = _body(body)
    _unknown(value, _FEAST_FIELDS)
    entities = value.get("entities")
    if not isinstance(entities, dict) or not entities or not all(
            isinstance(k, str) and isinstance(v, list) for k, v in entities.items()):
        raise ValidationError('entities must be an object of columns like {"customer_id": [1, 2]}', field="entities")
    lengths = {len(v) for v in entities.values()}
    if len(lengths) > 1:
        raise ValidationError(f"entities columns have different lengths ({', '.join(map(str, sorted(lengths)))}); "
                              "give every column one value per row", field="entities")
    rows = lengths.pop()
    if not rows or rows > MAX_ENTITY_ROWS:
        raise ValidationError(f"entities has {rows} rows; give 1 to {MAX_ENTITY_ROWS} per call", field="entities")
    service, features = value.get("feature_service"), value.get("features") or []
    if (service is None) == (not features):
        raise ValidationError("Give either feature_service (a name) or features (a list like ['customers:age']), "
                              "not both nor neither", field="features" if service is None else "feature_service")
    if service is not None and (not isinstance(service, str) or not service):
        raise ValidationError("feature_service must be a feature service's name", field="feature_service")
    if not isinstance(features, list) or not all(isinstance(f, str) and f.count(":") == 1 and f.split(":")[1]
                                                 for f in features):
        raise ValidationError("features must be a list of 'group:feature' references", field="features")
    for flag in ("full_feature_names", "include_feature_view_version_metadata"):
        if not isinstance(value.get(flag, False), bool):
            raise ValidationError(f"{flag} must be true or false", field=flag)
    if value.get("include_feature_view_version_metadata"):
        raise ValidationError("include_feature_view_version_metadata is not supported: feature groups have no "
                              "versions here; leave it false", field="include_feature_view_version_metadata")
    return {"FeatureServiceName": service, "features": features, "entities": entities, "rows": rows,
            "full_feature_names": value.get("full_feature_names", False),
            "Request": _request_values(value.get("request_context"), "request_context", rows)}


# ----------------------------------------------------------------------------- reads

def _plain(value: Any) -> Any:
    """A value as JSON: a float that is not finite as protobuf's JSON writes a double ("NaN",
    "Infinity", "-Infinity"), so neither side mistakes it for a missing value."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def service_vector(call: Call, name: Any, rows: list[dict[str, Any]], request: Any,
                   version: int | None) -> dict[str, Any]:
    """``get_online_features(..., as_dict=True)`` with its values as JSON (``name``: a service, or
    a list of 'group:feature' references)."""
    vector = call.fs.get_online_features(name, rows, request=request, version=version, as_dict=True)
    vector["values"] = _json_values(vector["values"])
    return vector


def _json_values(columns: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """``columns`` as they are when no value needs ``_plain``: no list, and the floats' sum finite
    (a NaN or infinity makes it so; an overflowing sum only sends them the long way)."""
    everything = list(itertools.chain.from_iterable(columns.values()))
    kinds = set(map(type, everything))
    if list not in kinds and (float not in kinds or math.isfinite(sum(v for v in everything if type(v) is float))):
        return columns
    return {c: _json(values) for c, values in columns.items()}


def _json(values: list[Any]) -> list[Any]:
    """``values`` as they are, unless one needs ``_plain`` (a non-finite float, a list)."""
    for v in values:
        kind = type(v)
        if kind is list or (kind is float and not math.isfinite(v)):
            return [_plain(x) for x in values]
    return values


def adhoc_vector(call: Call, refs: list[str], rows: list[dict[str, Any]], full_names: bool) -> dict[str, Any]:
    """Feast's ``features`` form: the references read as an unsaved service (one snapshot), its
    columns named as Feast names them (``feature``, or ``group__feature`` with full names)."""
    picked: list[tuple[str, str]] = []
    for ref in refs:
        name, feature = ref.split(":")
        if (name, feature) not in picked:
            picked.append((name, feature))
    first = {g: i for i, (g, _) in reversed(list(enumerate(picked)))}
    picked.sort(key=lambda ref: first[ref[0]])  # each group's features together, as Feast and services order them
    names = {ref: f"{ref[0]}__{ref[1]}" if full_names else ref[1] for ref in picked}
    clash = next((n for n in names.values() if list(names.values()).count(n) > 1), None)
    if clash:
        raise ValidationError(f"Several groups have a feature {clash!r}: set full_feature_names to true to tell them "
                              "apart", field="full_feature_names")
    vector = service_vector(call, [f"{g}:{f}" for g, f in picked], rows, None, None)
    rename = {(f if f in vector["statuses"] else f"{g}__{f}"): names[(g, f)] for g, f in picked}
    return {"keys": vector["keys"], "features": [rename[c] for c in vector["features"]],
            "values": {rename.get(c, c): v for c, v in vector["values"].items()},
            "statuses": {rename[c]: v for c, v in vector["statuses"].items()},
            "event_times": {rename[c]: v for c, v in vector["event_times"].items()}}


# ----------------------------------------------------------------------------- responses

def render(result: dict[str, Any]) -> bytes:
    """A vector answer as JSON bytes. orjson: encoding is most of a vector's cost after the read.
    Values went through ``_json`` (no NaN for orjson to write as null); a number orjson cannot
    write (an integer past 64 bits, echoed from an entity row) goes to the standard encoder."""
    try:
        return orjson.dumps(result)
    except orjson.JSONEncodeError:
        return json.dumps(result, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


@functools.lru_cache(maxsize=4096)
def _time(us: int | None) -> str | None:
    return None if us is None else iso(us)


def feast_time(us: int | None) -> str:
    """As Feast's feature server writes a protobuf Timestamp: 0, 3 or 6 fraction digits as the
    time needs; no time (a key, a missing value) is the epoch."""
    if us is None:
        return FEAST_NO_TIME
    return _feast_time(us)


@functools.lru_cache(maxsize=4096)
def _feast_time(us: int) -> str:
    text = iso(us - us % 1_000_000)[:-1]
    micros = us % 1_000_000
    if not micros:
        return text + "Z"
    return text + (f".{micros // 1000:03d}Z" if micros % 1000 == 0 else f".{micros:06d}Z")


def get_service_features(call: Call) -> dict[str, Any]:
    """The service endpoint: one object per entity row (see the module's docstring)."""
    params = call.input
    vector = service_vector(call, params["FeatureServiceName"], params["EntityRows"], params["Request"],
                            params["Version"])
    values, statuses, times, features = vector["values"], vector["statuses"], vector["event_times"], vector["features"]
    columns = vector["keys"] + features
    text = {us: _time(us) for us in set(itertools.chain.from_iterable(times.values()))}  # a group's features share one
    if len(params["EntityRows"]) == 1:
        rows = [{c: values[c][0] for c in columns}]
        status = [{f: s[0] for f, s in statuses.items()}]
        event_times = [{f: text[t[0]] for f, t in times.items()}]
    else:
        count = range(len(params["EntityRows"]))
        rows = [{c: values[c][i] for c in columns} for i in count]
        status = [{f: statuses[f][i] for f in features} for i in count]
        event_times = [{f: text[times[f][i]] for f in features} for i in count]
    return {"FeatureServiceName": params["FeatureServiceName"], "Keys": vector["keys"], "Features": features,
            "Rows": rows, "Statuses": status, "EventTimes": event_times}


def get_feast_features(call: Call) -> dict[str, Any]:
    """Feast's answer: metadata.feature_names (keys first), then one result per column."""
    params = call.input
    entities, count = params["entities"], params["rows"]
    rows = [{c: values[i] for c, values in entities.items()} for i in range(count)]
    if params["FeatureServiceName"] is not None:
        vector = service_vector(call, params["FeatureServiceName"], rows, params["Request"], None)
        if params["full_feature_names"]:
            vector = _full_names(call, params["FeatureServiceName"], vector)
    elif params["Request"] is not None:
        raise ValidationError("request_context feeds a feature service's on-demand features; a features list "
                              "reads stored features only: leave request_context out", field="request_context")
    else:
        vector = adhoc_vector(call, params["features"], rows, params["full_feature_names"])
    results = [{"values": vector["values"][k], "statuses": ["PRESENT"] * count,
                "event_timestamps": [FEAST_NO_TIME] * count} for k in vector["keys"]]
    for f in vector["features"]:
        values = vector["values"][f]
        results.append({"values": values,
                        "statuses": ["NULL_VALUE" if s == "present" and v is None else FEAST_STATUS[s]
                                     for s, v in zip(vector["statuses"][f], values)],
                        "event_timestamps": [feast_time(t) for t in vector["event_times"][f]]})
    return {"metadata": {"feature_names": vector["keys"] + vector["features"]}, "results": results}


def _full_names(call: Call, service: str, vector: dict[str, Any]) -> dict[str, Any]:
    """Feast's full feature names (``group__feature``) for a service's columns."""
    refs = call.fs.feature_service(service).features
    rename: dict[str, str] = {}
    for column in vector["features"]:
        match = next(((g, f) for g, f in refs if column in (f, f"{g}__{f}")), None)
        rename[column] = f"{match[0]}__{match[1]}" if match else column
    return {**vector, "features": [rename[f] for f in vector["features"]],
            "values": {rename.get(c, c): v for c, v in vector["values"].items()},
            "statuses": {rename[c]: v for c, v in vector["statuses"].items()},
            "event_times": {rename[c]: v for c, v in vector["event_times"].items()}}


ACTION = "GetOnlineFeatures"  # what an old-format key's actions must allow (sagemaker:GetOnlineFeatures), both forms
# op -> (input parser, handler)
HANDLERS: dict[str, tuple[Callable[[Mapping[str, str], bytes], dict[str, Any]], Callable[[Call], dict[str, Any]]]] = {
    "GetOnlineFeatures": (parse_service, get_service_features),
    "GetOnlineFeaturesFeast": (parse_feast, get_feast_features),
}
