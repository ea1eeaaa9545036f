"""Engine objects to AWS wire shapes and back: ARNs, times, TTLs, features, records, tags.

Timestamps on the JSON protocols are epoch seconds; ``ExpiresAt`` is an ISO-8601 string.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from ..errors import ValidationError
from ..model import keys
from ..model.schema import Feature, FeatureGroup

ACCOUNT = "000000000000"  # ARNs need a 12-digit account; a local store has none
ARN_PREFIX = "arn:aws:sagemaker:"
TTL_UNITS = {"Weeks": 604_800, "Days": 86_400, "Hours": 3_600, "Minutes": 60, "Seconds": 1}
MAX_TTL_SECONDS = 1000 * 365 * 86_400  # expiry times must stay inside 64-bit microseconds
MAX_RECORD_BYTES = 350 * 1024


def arn(region: str, name: str) -> str:
    return f"{ARN_PREFIX}{region}:{ACCOUNT}:feature-group/{name}"


def group_name(name_or_arn: str) -> str:
    """The feature group named by a name or a feature-group ARN (any region or account)."""
    if name_or_arn.startswith("arn:"):
        prefix, sep, name = name_or_arn.partition(":feature-group/")
        if not sep or not prefix.startswith("arn:aws") or ":sagemaker:" not in prefix:
            raise ValidationError(f"{name_or_arn!r} is not a feature group ARN")
        return name
    return name_or_arn


def epoch(us: int | None) -> float | None:
    return None if us is None else us / 1_000_000


def iso(us: int) -> str:
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=us)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{us % 1_000_000:06d}Z" if us % 1_000_000 else "Z")


def ttl_seconds(duration: dict[str, Any] | None) -> int | None:
    """A TtlDuration as seconds (None stays None)."""
    if duration is None:
        return None
    if "Unit" not in duration or "Value" not in duration:  # optional in the control plane's model
        raise ValidationError("TtlDuration needs both Unit and Value, e.g. {\"Unit\": \"Days\", \"Value\": 7}")
    seconds = duration["Value"] * TTL_UNITS[duration["Unit"]]
    if seconds > MAX_TTL_SECONDS:
        raise ValidationError(f"TtlDuration {duration['Value']} {duration['Unit']} is longer than 1000 years")
    return seconds


def ttl_duration(seconds: float, given: dict[str, Any] | None = None) -> dict[str, Any]:
    """Seconds as a TtlDuration: the one the client gave if it still holds, else the largest exact unit."""
    if given and ttl_seconds(given) == seconds:
        return given
    whole = max(1, math.ceil(seconds))
    unit = next(u for u, size in TTL_UNITS.items() if whole % size == 0)
    return {"Unit": unit, "Value": whole // TTL_UNITS[unit]}


# ----------------------------------------------------------------------------- features

def feature_from_definition(spec: dict[str, Any]) -> Feature:
    vector = (spec.get("CollectionConfig") or {}).get("VectorConfig") or {}
    return Feature(spec["FeatureName"], spec["FeatureType"], spec.get("CollectionType"), vector.get("Dimension"))


def feature_definition(f: Feature) -> dict[str, Any]:
    out: dict[str, Any] = {"FeatureName": f.name, "FeatureType": f.type}
    if f.collection:
        out["CollectionType"] = f.collection
    if f.dimension is not None:
        out["CollectionConfig"] = {"VectorConfig": {"Dimension": f.dimension}}
    return out


# ----------------------------------------------------------------------------- feature groups

def offline_status(group: FeatureGroup) -> dict[str, str] | None:
    return {"Status": "Active"} if group.offline else None


def summary(group: FeatureGroup, region: str) -> dict[str, Any]:
    """ListFeatureGroups' FeatureGroupSummary."""
    out = {"FeatureGroupName": group.name, "FeatureGroupArn": arn(region, group.name),
           "CreationTime": epoch(group.created_at), "FeatureGroupStatus": group.status}
    if group.offline:
        out["OfflineStoreStatus"] = offline_status(group)
    return out


def feature_group(info: dict[str, Any], region: str) -> dict[str, Any]:
    """``FeatureStore.describe`` as the FeatureGroup shape (Search's; Describe adds NextToken).

    The engine's definition wins; API-only settings the client gave (RoleArn, StorageType,
    ThroughputConfig, S3Uri, ...) come back from ``extra``, the rest get SageMaker's defaults.
    The offline store resolves to a ``file://`` URI of the local Parquet data."""
    group: FeatureGroup = info["group"]
    extra = info["extra"]
    out: dict[str, Any] = {
        "FeatureGroupArn": arn(region, group.name), "FeatureGroupName": group.name,
        "RecordIdentifierFeatureName": identifier_names(group), "EventTimeFeatureName": group.event_time,
        "FeatureDefinitions": [feature_definition(f) for f in group.features],
        "CreationTime": epoch(group.created_at), "LastModifiedTime": epoch(group.modified_at),
        "FeatureGroupStatus": group.status,
        "ThroughputConfig": extra.get("ThroughputConfig") or {"ThroughputMode": "OnDemand"},
        "Tags": pairs(group.tags),
    }
    if group.online:
        given = extra.get("OnlineStoreConfig") or {}
        online = {k: v for k, v in given.items() if k != "TtlDuration"}
        online.update({"EnableOnlineStore": True, "StorageType": given.get("StorageType", "Standard")})
        if group.ttl_seconds is not None:
            online["TtlDuration"] = ttl_duration(group.ttl_seconds, given.get("TtlDuration"))
        out["OnlineStoreConfig"] = online
    if group.offline:
        given = extra.get("OfflineStoreConfig") or {}
        s3 = dict(given.get("S3StorageConfig") or {})
        s3.setdefault("S3Uri", info["offline_uri"])
        s3["ResolvedOutputS3Uri"] = info["offline_uri"]
        catalog = given.get("DataCatalogConfig") or {
            "TableName": f"{group.name.lower().replace('-', '_')}_{int(epoch(group.created_at) or 0)}",
            "Catalog": "AwsDataCatalog", "Database": "sagemaker_featurestore"}
        out["OfflineStoreConfig"] = {"S3StorageConfig": s3,
                                     "DisableGlueTableCreation": given.get("DisableGlueTableCreation", False),
                                     "DataCatalogConfig": catalog, "TableFormat": given.get("TableFormat", "Glue")}
        out["OfflineStoreStatus"] = offline_status(group)
    for key in ("RoleArn", "LastUpdateStatus"):
        if key in extra:
            out[key] = extra[key]
    if group.description:
        out["Description"] = group.description
    return out


def feature_metadata(meta: dict[str, Any], region: str) -> dict[str, Any]:
    """``FeatureStore.feature_metadata`` as DescribeFeatureMetadata's (and Search's) shape."""
    out = {
        "FeatureGroupArn": arn(region, meta["group"]), "FeatureGroupName": meta["group"],
        "FeatureName": meta["name"], "FeatureType": meta["type"],
        "CreationTime": epoch(meta["created_us"]), "LastModifiedTime": epoch(meta["modified_us"]),
        "Parameters": pairs(meta.get("parameters") or {}),
    }
    if meta.get("description"):
        out["Description"] = meta["description"]
    return out


# ----------------------------------------------------------------------------- tags and parameters

def pairs(mapping: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in mapping.items()]


def mapping(items: list[dict[str, str]], what: str) -> dict[str, str]:
    """Key/Value pairs as a dict; a key given twice is an error."""
    out: dict[str, str] = {}
    for item in items:
        if "Key" not in item:  # optional in FeatureParameter's model
            raise ValidationError(f"Each {what} needs a Key")
        if item["Key"] in out:
            raise ValidationError(f"{what} key {item['Key']!r} is given twice")
        out[item["Key"]] = item.get("Value", "")
    return out


# ----------------------------------------------------------------------------- records

def _text(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def record_to_wire(record: dict[str, Any]) -> list[dict[str, Any]]:
    """An engine record as FeatureValues: every value a string, collections as string lists."""
    return [
        {"FeatureName": name, "ValueAsStringList": [_text(v) for v in value]} if isinstance(value, list)
        else {"FeatureName": name, "ValueAsString": _text(value)}
        for name, value in record.items()
    ]


def record_from_wire(group: FeatureGroup, values: list[dict[str, Any]]) -> dict[str, Any]:
    """FeatureValues as an engine record (the engine types and checks each value).
    Raises ValidationError for repeated features, the wrong value form, or a record over 350 KB."""
    kinds = {f.name: f for f in group.features}
    record: dict[str, Any] = {}
    size = 0
    for item in values:
        name = item["FeatureName"]
        if name in record:
            raise ValidationError(f"Feature {name!r} appears twice in the record", feature=name)
        if ("ValueAsString" in item) == ("ValueAsStringList" in item):
            raise ValidationError(f"Feature {name!r} needs exactly one of ValueAsString or ValueAsStringList",
                                  feature=name)
        feature = kinds.get(name)
        if feature is not None and feature.is_collection != ("ValueAsStringList" in item):
            form = "ValueAsStringList" if feature.is_collection else "ValueAsString"
            raise ValidationError(f"Feature {name!r} of {group.name!r} is a {feature.collection or 'scalar'}: "
                                  f"send its value in {form}", group=group.name, feature=name)
        value = item.get("ValueAsString", item.get("ValueAsStringList"))
        size += len(name.encode()) + sum(len(v.encode()) for v in ([value] if isinstance(value, str) else value))
        record[name] = value
    if size > MAX_RECORD_BYTES:
        raise ValidationError(f"The record for {group.name!r} is {size:,} bytes; a record may be at most 350 KB",
                              group=group.name)
    return record


def project(record: dict[str, Any], names: list[str] | None) -> dict[str, Any]:
    return record if names is None else {n: record[n] for n in names if n in record}


def check_features(group: FeatureGroup, names: list[str] | None) -> None:
    """Raise ValidationError (not NotFound: the group exists) for a requested feature it lacks."""
    unknown = [n for n in names or () if n not in set(group.feature_names)]
    if unknown:
        raise ValidationError(f"Feature group {group.name!r} has no feature {unknown[0]!r}", group=group.name,
                              feature=unknown[0])


def identifier_names(group: FeatureGroup) -> str:
    """RecordIdentifierFeatureName: the key's feature, or a JSON array of a composite key's
    features in key order (such groups are made with the Python API or the CLI)."""
    return group.identifiers[0] if not group.composite else keys.as_text(group.identifiers)


def wire_key(group: FeatureGroup, text: str) -> Any:
    """A RecordIdentifierValueAsString as the engine takes it: the text itself for a one-column
    key (the engine coerces it), a typed tuple for a composite key, whose text must be a JSON array
    of its values in key order, each a JSON string or number. Raises ValidationError."""
    if not group.composite:
        return text
    example = keys.as_text(["m1", 7][:len(group.identifiers)] + ["x"] * (len(group.identifiers) - 2))
    try:
        values = json.loads(text)
    except ValueError:
        values = None
    if (not isinstance(values, list) or len(values) != len(group.identifiers)
            or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in values)):
        raise ValidationError(
            f"Feature group {group.name!r} is keyed by {len(group.identifiers)} features "
            f"({', '.join(group.identifiers)}): give the record identifier as one JSON array of their values in that "
            f"order, each a JSON string or number, e.g. {example}; got {text[:200]!r}", group=group.name)
    return keys.key(group, values)


def identifier_key(group: FeatureGroup, text: str) -> str:
    """The identifier text as the engine's stored value prints, so "042" finds record 42."""
    kind = group.id_feature.type
    try:
        if kind == "Integral":
            return str(int(text.strip()))
        if kind == "Fractional":
            return repr(float(text))
    except ValueError:
        pass
    return text


def identifier_text(value: Any) -> str:
    return _text(value)
