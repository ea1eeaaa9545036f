"""The ``sagemaker`` control plane (JSON 1.1, ``X-Amz-Target: SageMaker.<Op>``): feature groups,
feature metadata, tags and search.

Settings the engine has no notion of (RoleArn, StorageType, ThroughputConfig, S3 locations, ...)
are kept in the group's ``extra`` so Describe returns what the client configured.
"""
from __future__ import annotations

from typing import Any, Callable

from ..errors import ValidationError
from ..model.schema import MAX_FEATURES, MAX_TAGS
from . import paging
from .call import Call
from .errors import WireError
from .search import search
from .shapes import (arn, feature_from_definition, feature_group, feature_metadata, group_name, mapping, pairs,
                     summary, ttl_seconds)

_ONLINE_EXTRA = ("SecurityConfig", "StorageType", "TtlDuration")


def _limit_exceeded(message: str) -> WireError:
    return WireError("ResourceLimitExceeded", message)


def _check_throughput(config: dict[str, Any] | None) -> None:
    if config and config.get("ThroughputMode") == "OnDemand" and (
            "ProvisionedReadCapacityUnits" in config or "ProvisionedWriteCapacityUnits" in config):
        raise ValidationError("Provisioned capacity units apply to ThroughputMode Provisioned only")


def create_feature_group(call: Call) -> dict[str, Any]:
    p = call.input
    online = p.get("OnlineStoreConfig") or {}
    offline = p.get("OfflineStoreConfig")
    _check_throughput(p.get("ThroughputConfig"))
    extra: dict[str, Any] = {k: p[k] for k in ("RoleArn", "ThroughputConfig") if k in p}
    if any(k in online for k in _ONLINE_EXTRA):
        extra["OnlineStoreConfig"] = {k: online[k] for k in _ONLINE_EXTRA if k in online}
    if offline:
        extra["OfflineStoreConfig"] = offline
    call.fs.create_feature_group(
        p["FeatureGroupName"], p["RecordIdentifierFeatureName"], p["EventTimeFeatureName"],
        [feature_from_definition(d) for d in p["FeatureDefinitions"]],
        description=p.get("Description", ""), tags=mapping(p.get("Tags", []), "Tag"),
        online=bool(online.get("EnableOnlineStore")), offline=offline is not None,
        ttl=ttl_seconds(online.get("TtlDuration")), extra=extra,
        partition_by="hour",  # SageMaker's own offline layout, which tools pointed at its S3 data expect
    )
    return {"FeatureGroupArn": arn(call.region, p["FeatureGroupName"])}


def describe_feature_group(call: Call) -> dict[str, Any]:
    out = feature_group(call.fs.describe(group_name(call.input["FeatureGroupName"]), storage=False), call.region)
    del out["Tags"]  # Describe has no tags; ListTags does
    return {**out, "NextToken": ""}  # required by the model; every feature fits in one response


def list_feature_groups(call: Call) -> dict[str, Any]:
    p = call.input
    contains = p.get("NameContains", "").lower()
    groups = [
        g for g in call.fs.list_feature_groups()
        if call.visible(g.name) and contains in g.name.lower()
        and p.get("FeatureGroupStatusEquals", g.status) == g.status
        and ("OfflineStoreStatusEquals" not in p or (g.offline and p["OfflineStoreStatusEquals"] == "Active"))
        and p.get("CreationTimeAfter", float("-inf")) < g.created_at / 1e6 < p.get("CreationTimeBefore", float("inf"))
    ]
    sort_key = {
        "Name": lambda g: g.name, "FeatureGroupStatus": lambda g: (g.status, g.name),
        "OfflineStoreStatus": lambda g: ("Active" if g.offline else "", g.name),
        "CreationTime": lambda g: (g.created_at, g.name),
    }[p.get("SortBy", "CreationTime")]
    groups.sort(key=sort_key, reverse=p.get("SortOrder", "Descending") == "Descending")
    shown, token = paging.page(groups, p.get("NextToken"), p.get("MaxResults", 10))
    out: dict[str, Any] = {"FeatureGroupSummaries": [summary(g, call.region) for g in shown]}
    if token:
        out["NextToken"] = token
    return out


def update_feature_group(call: Call) -> dict[str, Any]:
    """Feature additions, the online TTL and storage type, throughput; all checked before any change."""
    p = call.input
    name = group_name(p["FeatureGroupName"])
    group = call.fs.feature_group(name)
    additions = [feature_from_definition(d) for d in p.get("FeatureAdditions", [])]
    if len(group.features) + len(additions) > MAX_FEATURES:
        raise _limit_exceeded(f"Feature group {name!r} would have {len(group.features) + len(additions)} "
                              f"features; at most {MAX_FEATURES}")
    online = p.get("OnlineStoreConfig") or {}
    if online and not group.online:
        raise ValidationError(f"Feature group {name!r} has no online store to configure", group=name)
    _check_throughput(p.get("ThroughputConfig"))
    ttl = ttl_seconds(online["TtlDuration"]) if "TtlDuration" in online else None
    if additions:
        call.fs.add_features(name, additions)
    current = call.fs.feature_group(name).extra
    extra: dict[str, Any] = {"LastUpdateStatus": {"Status": "Successful"}}
    if online:
        extra["OnlineStoreConfig"] = {**current.get("OnlineStoreConfig", {}), **online}
    if "ThroughputConfig" in p:
        extra["ThroughputConfig"] = {**current.get("ThroughputConfig", {}), **p["ThroughputConfig"]}
    if "TtlDuration" in online:
        call.fs.update_feature_group(name, ttl=ttl, extra=extra)
    else:
        call.fs.update_feature_group(name, extra=extra)
    return {"FeatureGroupArn": arn(call.region, name)}


def delete_feature_group(call: Call) -> dict[str, Any]:
    """Removes the online data and the definition; the offline Parquet files stay, as on SageMaker."""
    call.fs.delete_feature_group(call.input["FeatureGroupName"])
    return {}


def describe_feature_metadata(call: Call) -> dict[str, Any]:
    meta = call.fs.feature_metadata(group_name(call.input["FeatureGroupName"]), call.input["FeatureName"])
    return feature_metadata(meta, call.region)


def update_feature_metadata(call: Call) -> dict[str, Any]:
    p = call.input
    call.fs.update_feature_metadata(
        group_name(p["FeatureGroupName"]), p["FeatureName"], description=p.get("Description"),
        parameters=mapping(p.get("ParameterAdditions", []), "Parameter"),
        remove_parameters=p.get("ParameterRemovals", []),
    )
    return {}


def add_tags(call: Call) -> dict[str, Any]:
    name = group_name(call.input["ResourceArn"])
    added = mapping(call.input["Tags"], "Tag")
    tags = {**call.fs.feature_group(name).tags, **added}
    if len(tags) > MAX_TAGS:
        raise _limit_exceeded(f"Feature group {name!r} would have {len(tags)} tags; at most {MAX_TAGS}")
    call.fs.update_feature_group(name, add_tags=added)
    return {"Tags": pairs(added)}


def list_tags(call: Call) -> dict[str, Any]:
    tags = pairs(call.fs.feature_group(group_name(call.input["ResourceArn"])).tags)
    shown, token = paging.page(tags, call.input.get("NextToken"), call.input.get("MaxResults", 50))
    return {"Tags": shown, **({"NextToken": token} if token else {})}


def delete_tags(call: Call) -> dict[str, Any]:
    call.fs.update_feature_group(group_name(call.input["ResourceArn"]), remove_tags=call.input["TagKeys"])
    return {}


HANDLERS: dict[str, Callable[[Call], dict[str, Any]]] = {
    "CreateFeatureGroup": create_feature_group, "DescribeFeatureGroup": describe_feature_group,
    "ListFeatureGroups": list_feature_groups, "UpdateFeatureGroup": update_feature_group,
    "DeleteFeatureGroup": delete_feature_group, "DescribeFeatureMetadata": describe_feature_metadata,
    "UpdateFeatureMetadata": update_feature_metadata, "Search": search,
    "AddTags": add_tags, "ListTags": list_tags, "DeleteTags": delete_tags,
}
