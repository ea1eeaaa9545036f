"""``sagemaker-featurestore-runtime`` (rest-json): records in and out of the online store.

Each handler takes a validated Call and returns the response body; errors propagate to the
one mapping in errors.py, except in batches, where each failed item is reported in ``Errors``.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

from ..errors import FeatureStoreError, ValidationError
from ..model import keys
from ..model.schema import FeatureGroup
from . import paging
from .call import Call
from .errors import code_of, message_of
from .shapes import (check_features, group_name, identifier_key, identifier_text, iso, project, record_from_wire,
                     record_to_wire, ttl_seconds, wire_key)
from .vendor import RUNTIME

MAX_BATCH_IDENTIFIERS = 100


def _online_group(call: Call, name: str) -> FeatureGroup:
    group = call.fs.feature_group(name)
    if not group.online:
        raise ValidationError(f"Feature group {name!r} has no online store", group=name)
    return group


def _engine_key(call: Call, name: str, text: str) -> Any:
    """A RecordIdentifierValueAsString as the engine takes it (``shapes.wire_key``); a one-column
    key's text is passed on as it is, without reading the definition (the hot path)."""
    return wire_key(call.fs.feature_group(name), text) if text.startswith("[") else text


@contextmanager
def _wire_keys(call: Call, name: str, text: str) -> Iterator[None]:
    """A composite group's key refused by the engine is refused in the wire's terms (a JSON array)."""
    try:
        yield
    except ValidationError:
        group = call.fs.feature_group(name)
        if group.composite:
            wire_key(group, text)
        raise


def _failure(exc: FeatureStoreError) -> dict[str, str]:
    return {"ErrorCode": code_of(exc, RUNTIME)[0], "ErrorMessage": message_of(exc)}


def _write(call: Call, entry: dict[str, Any], default_ttl: dict[str, Any] | None = None) -> None:
    name = group_name(entry["FeatureGroupName"])
    record = record_from_wire(call.fs.feature_group(name), entry["Record"])
    call.fs.put_record(name, record, target_stores=entry.get("TargetStores"),
                       ttl=ttl_seconds(entry.get("TtlDuration") or default_ttl), source=call.source)


def put_record(call: Call) -> dict[str, Any]:
    _write(call, call.input)
    return {}


def batch_write_record(call: Call) -> dict[str, Any]:
    """Writes each entry on its own; the ones that fail are reported, the others stay written."""
    errors = []
    for entry in call.input["Entries"]:
        try:
            _write(call, entry, call.input.get("TtlDuration"))
        except FeatureStoreError as exc:
            errors.append({"Entry": entry, **_failure(exc)})
    return {"Errors": errors, "UnprocessedEntries": []}


def get_record(call: Call) -> dict[str, Any]:
    name = group_name(call.input["FeatureGroupName"])
    record_id, features = call.input["RecordIdentifierValueAsString"], call.input.get("FeatureNames")
    with_expiry = call.input.get("ExpirationTimeResponse") == "Enabled"
    with _wire_keys(call, name, record_id):
        return _get_record(call, name, _engine_key(call, name, record_id), features, with_expiry)


def _get_record(call: Call, name: str, record_id: Any, features: list[str] | None,
                with_expiry: bool) -> dict[str, Any]:
    expires_us = None
    if features is None and not with_expiry:  # the hot path: the engine checks the group itself
        record = call.fs.get_record(name, record_id)
    else:
        check_features(_online_group(call, name), features)
        if not with_expiry:
            record = call.fs.get_record(name, record_id, features)
        else:  # only the online row carries the expiry
            row = call.fs.online_record(name, record_id)
            record = project(row["record"], features) if row and row["live"] else None
            expires_us = row["expires_us"] if record else None
    out: dict[str, Any] = {"Record": record_to_wire(record)} if record else {}
    if expires_us is not None:
        out["ExpiresAt"] = iso(expires_us)
    return out


def batch_get_record(call: Call) -> dict[str, Any]:
    """The live records among those asked for; missing ones are absent, failures listed per identifier."""
    identifiers = call.input["Identifiers"]
    total = sum(len(i["RecordIdentifiersValueAsString"]) for i in identifiers)
    if total > MAX_BATCH_IDENTIFIERS:
        raise ValidationError(f"BatchGetRecord asks for {total} records; at most {MAX_BATCH_IDENTIFIERS} per call")
    out: dict[str, Any] = {"Records": [], "Errors": [], "UnprocessedIdentifiers": []}
    for item in identifiers:
        _batch_get(call, item, item["RecordIdentifiersValueAsString"], out)
    return out


def _batch_get(call: Call, item: dict[str, Any], ids: list[str], out: dict[str, Any]) -> None:
    """Fetch ``ids`` of one group in one go; if that fails, one by one, so only the bad ones are errors."""
    wire_name, features = item["FeatureGroupName"], item.get("FeatureNames")
    with_expiry = call.input.get("ExpirationTimeResponse") == "Enabled"
    try:
        found = _fetch(call, group_name(wire_name), ids, features, with_expiry)
    except FeatureStoreError as exc:
        if len(ids) > 1:
            for one in ids:
                _batch_get(call, item, [one], out)
        else:
            out["Errors"].append({"FeatureGroupName": wire_name, "RecordIdentifierValueAsString": ids[0],
                                  **_failure(exc)})
        return
    for text, record, expires_us in found:
        result = {"FeatureGroupName": wire_name, "RecordIdentifierValueAsString": text,
                  "Record": record_to_wire(record)}
        if expires_us is not None:
            result["ExpiresAt"] = iso(expires_us)
        out["Records"].append(result)


def _fetch(call: Call, name: str, ids: list[str], features: list[str] | None,
           with_expiry: bool) -> list[tuple[str, dict[str, Any], int | None]]:
    """(identifier as asked, projected record, expiry) of the live records among ``ids``."""
    group = _online_group(call, name)
    check_features(group, features)
    results = []
    if with_expiry:  # only the online row carries the expiry
        for text in ids:
            row = call.fs.online_record(name, wire_key(group, text))
            record = project(row["record"], features) if row and row["live"] else None
            if record:
                results.append((text, record, row["expires_us"]))
        return results
    if group.composite:
        typed = [wire_key(group, text) for text in ids]
        found = {keys.of_row(group, r): r for r in call.fs.batch_get_records(name, typed)}
        for text, key in zip(ids, typed):
            record = project(found.get(key, {}), features)
            if record:
                results.append((text, record, None))
        return results
    found = {identifier_text(r[group.record_identifier]): r for r in call.fs.batch_get_records(name, ids)}
    for text in ids:
        record = project(found.get(identifier_key(group, text), {}), features)
        if record:
            results.append((text, record, None))
    return results


def delete_record(call: Call) -> dict[str, Any]:
    name, text = group_name(call.input["FeatureGroupName"]), call.input["RecordIdentifierValueAsString"]
    with _wire_keys(call, name, text):
        call.fs.delete_record(name, _engine_key(call, name, text), call.input["EventTime"],
                              hard=call.input.get("DeletionMode") == "HardDelete",
                              target_stores=call.input.get("TargetStores"))
    return {}


def list_records(call: Call) -> dict[str, Any]:
    """Identifiers in the online store, in identifier order, a page at a time."""
    name = group_name(call.input["FeatureGroupName"])
    _online_group(call, name)
    state = paging.decode(call.input.get("NextToken"))
    limit, with_deleted = call.input.get("MaxResults", 100), call.input.get("IncludeSoftDeletedRecords", False)
    try:
        found = call.fs.list_record_ids(name, after=state.get("after"), limit=limit + 1, include_deleted=with_deleted)
    except ValidationError:  # a token from a group whose identifiers have another type
        raise ValidationError("NextToken is not valid: pass the NextToken of the previous response unchanged") from None
    text = keys.as_text if found and isinstance(found[0], tuple) else identifier_text  # composite: JSON arrays
    out: dict[str, Any] = {"RecordIdentifiers": [text(i) for i in found[:limit]]}
    if len(found) > limit:
        out["NextToken"] = paging.encode({"after": found[limit - 1]})
    return out


HANDLERS: dict[str, Callable[[Call], dict[str, Any]]] = {
    "PutRecord": put_record, "GetRecord": get_record, "BatchGetRecord": batch_get_record,
    "DeleteRecord": delete_record, "BatchWriteRecord": batch_write_record, "ListRecords": list_records,
}
