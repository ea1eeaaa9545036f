"""The bodies of the facade's group methods (create, describe, update, add features, delete);
their documentation is on ``FeatureStore``, where users read it."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable, Sequence

from .. import registry
from ..common.timeutil import check_time_format, now_us, retention_seconds, ttl_to_seconds
from ..errors import ValidationError
from ..model import layout
from ..model.schema import (Feature, FeatureGroup, check_parameters, check_text, identifier_columns,
                            validate_definition)
from ..offline import files as offline_store
from ..quality import tables as quality_tables
from ..registry import lineage
from . import entities, upkeep, versions
from .context import StoreContext

UNSET: Any = object()  # "not given" for settings where None means "remove it"


def create_feature_group(
    ctx: StoreContext, name: str, record_identifier: str | Sequence[str], event_time: str,
    features: Sequence[Feature | dict] | None = None, dataframe: Any = None, description: str = "",
    tags: dict[str, str] | None = None,
    online: bool = True, offline: bool = True, ttl: Any = None, extra: dict[str, Any] | None = None,
    partition_by: str = layout.DEFAULT_PARTITION, offline_retention: Any = None, time_format: str | None = None,
    entity: str | None = None, entity_keys: dict[str, str] | None = None,
) -> FeatureGroup:
    from ..ingest.prepare import INGEST_SETTINGS

    if time_format is not None:
        check_time_format(time_format)
    if features is None:
        if dataframe is None:
            raise ValidationError(f"Feature group {name!r} needs features=[...] or a dataframe= to infer them from")
        from ..ingest.infer import propose_data

        several = not isinstance(record_identifier, str) and record_identifier is not None
        given = identifier_columns(record_identifier, name) if several else (record_identifier,)
        proposal = propose_data(dataframe, event_time, given[0], time_format=time_format)
        proposal.check_event_time()  # raises: a group that could not take its own sample
        features = proposal.features
        record_identifier, event_time = proposal.record_identifier, proposal.event_time
        if several:  # the other key columns under their (maybe sanitised) feature names
            record_identifier = [proposal.columns.get(c, c) for c in given]
        time_format = proposal.time_format
    if time_format is not None:
        extra = {**(extra or {}), INGEST_SETTINGS: {**(extra or {}).get(INGEST_SETTINGS, {}),
                                                    "time_format": time_format}}
    feats = [f if isinstance(f, Feature) else Feature.from_dict(f) for f in features]
    tags = dict(tags or {})
    ttl_seconds = ttl_to_seconds(ttl)
    retention = retention_seconds(offline_retention)
    validate_definition(name, record_identifier, event_time, feats, description, tags, online, offline)
    identifiers = identifier_columns(record_identifier, name)
    ctx.db.check_width(name, len(feats))
    layout.check(partition_by)
    if ttl_seconds is not None and not online:
        raise ValidationError(f"Feature group {name!r}: a TTL applies to the online store; enable it or drop ttl")
    now = now_us()
    group = FeatureGroup(
        name=name, identifiers=identifiers, event_time=event_time, features=tuple(feats),
        description=description, tags=tags, online=online, offline=offline, ttl_seconds=ttl_seconds,
        created_at=now, modified_at=now, created_by=ctx.policy.name,
        offline_path=ctx.files.storage.url(ctx.files.data_dir(name)), partition_by=partition_by,
        offline_retention_seconds=retention,
    )
    if entity_keys is not None and entity is None:
        raise ValidationError(f"entity_keys without an entity: name the entity {name!r} is about with entity=",
                              group=name)
    with ctx.db.write() as conn:
        if entity is not None:
            group = replace(group, entity=entity, entity_keys=entities.declare(conn, group, entity, entity_keys))
        if conn.execute("SELECT 1 FROM feature_groups WHERE name = ?", (name,)).fetchone():
            registry.insert_group(conn, group, now, extra or {})  # raises Conflict
        twin = conn.execute("SELECT name FROM feature_groups WHERE lower(name) = ?", (name.lower(),)).fetchone()
        if twin and not ctx.policy.may("viewer", twin[0]):  # refused without naming a group it may not see
            raise ValidationError(f"Feature group name {name!r} is taken (SQL does not tell letter case apart); "
                                  "pick another name", group=name)
        if twin:  # its tables and SQL views would be the same ones
            raise ValidationError(f"Feature group {name!r} differs from the existing group {twin[0]!r} only in letter "
                                  "case; SQL cannot tell them apart, so pick another name", group=name)
        ctx.files.retire(name)  # files a deleted namesake kept
        registry.insert_group(conn, group, now, extra or {})
        if online:
            ctx.online.create(conn, group)
        if offline:
            offline_store.create_staging(conn, group)
        lineage.upsert_node(conn, f"feature_group:{name}", "feature_group", name, now,
                            {"description": description, "deleted": False, "features": len(feats)})
    return feature_group(ctx, name)


def feature_group(ctx: StoreContext, name: str) -> FeatureGroup:
    return ctx.group(name)[0]


def list_feature_groups(ctx: StoreContext) -> list[FeatureGroup]:
    return registry.load_all(ctx.db.get())


def describe(ctx: StoreContext, name: str, storage: bool = True, version: int | None = None) -> dict[str, Any]:
    from ..offline import usage as disk

    group = feature_group(ctx, name) if version is None else versions.at_version(ctx, name, version)
    now = now_us()
    with ctx.db.read() as conn:
        st = registry.state(conn, name)
        files = ctx.files.stats(conn, name)
        online_count = ctx.online.count(group, now) if group.online else None
        usage = {"online_bytes": ctx.online.size_bytes(conn, group) if group.online else None,
                 "growth_per_day": disk.growth(conn, name, now)} if storage else {}
    return {
        "group": group, "entity": group.entity, "entity_keys": dict(group.entity_keys),
        "online_records": online_count, "offline_rows": files["rows"] + st["staged_rows"],
        "staged_rows": st["staged_rows"], "offline_files": files["files"], "offline_bytes": files["bytes"],
        "last_event_us": st["last_event_us"], "last_write_us": st["last_write_us"] or None,
        "write_seq": st["seq"], "offline_uri": ctx.files.storage.url(ctx.files.data_dir(name)), "extra": group.extra,
        "partition_by": group.partition_by, "offline_retention_seconds": group.offline_retention_seconds,
        "retained_from_us": st["retained_from_us"], "oldest_event_us": files["oldest_event_us"], **usage,
        "warnings": [_clash_warning(group)] if group.reserved_clashes else [],
        "version": group.version, "current_version": feature_group(ctx, name).version,
    }


def storage(ctx: StoreContext, group: str | None = None) -> list[dict[str, Any]]:
    names = [group] if group else [g.name for g in list_feature_groups(ctx)]
    rows = [describe(ctx, n) for n in names]
    return sorted(rows, key=lambda r: -((r["online_bytes"] or 0) + r["offline_bytes"]))


def search(ctx: StoreContext, text: str) -> list[dict[str, Any]]:
    return registry.search(ctx.db.get(), text)


def update_feature_group(ctx: StoreContext, name: str, *, description: str | None = None,
                         tags: dict[str, str] | None = None,
                         add_tags: dict[str, str] | None = None, remove_tags: Iterable[str] = (),
                         ttl: Any = UNSET, extra: dict[str, Any] | None = None,
                         offline_retention: Any = UNSET, entity: Any = UNSET,
                         entity_keys: dict[str, str] | None = None) -> FeatureGroup:
    group = feature_group(ctx, name)
    if entity is UNSET and entity_keys is not None:
        if not group.entity:
            raise ValidationError(f"entity_keys without an entity: {name!r} declares none; pass entity= too", group=name)
        entity = group.entity
    if description is not None and not isinstance(description, str):
        raise ValidationError("description must be a string")
    if description is not None:
        check_text(description, f"Description of {name!r}")
    if ttl is not UNSET and ttl is not None and not group.online:
        raise ValidationError(f"Feature group {name!r} has no online store, so no TTL")
    ttl_seconds = ttl_to_seconds(ttl) if ttl is not UNSET else None
    retention = retention_seconds(offline_retention) if offline_retention is not UNSET else None
    if offline_retention is not UNSET and retention is not None and not group.offline:
        raise ValidationError(f"Feature group {name!r} has no offline store, so no offline retention")
    remove = set(remove_tags)
    with ctx.db.write() as conn:
        current = registry.load_group(conn, name)
        fields: dict[str, Any] = {}
        if description is not None:
            fields["description"] = description
        if tags is not None or add_tags or remove:
            merged = {**(current.tags if tags is None else dict(tags)), **(add_tags or {})}
            merged = {k: v for k, v in merged.items() if k not in remove}
            fields["tags"] = check_parameters(merged, f"feature group {name!r}", limit=50, what="tags")
        if ttl is not UNSET:
            fields["ttl_seconds"] = ttl_seconds
        if offline_retention is not UNSET:
            fields["offline_retention_seconds"] = retention
        if extra is not None:
            fields["extra"] = {**current.extra, **extra}
        now = now_us()
        if fields:
            registry.update_group(conn, name, now, **fields)
        if entity is not UNSET:
            entities.attach(conn, current, entity, entity_keys)
        if fields or entity is not UNSET:
            versions.commit(ctx, conn, current, "update_feature_group", now)
    return feature_group(ctx, name)


def add_features(ctx: StoreContext, name: str, features: Sequence[Feature | dict]) -> FeatureGroup:
    group = feature_group(ctx, name)
    feats = [f if isinstance(f, Feature) else Feature.from_dict(f) for f in features]
    if not feats:
        raise ValidationError(f"No new features to add to {name!r}: give each one a name and a type")
    existing = {n.lower(): n for n in group.feature_names}  # SQL does not tell 'age' from 'AGE'
    for f in feats:
        twin = existing.get(f.name.lower())
        if twin == f.name:
            raise ValidationError(f"Feature group {name!r} already has a feature {f.name!r}; features cannot be "
                                  "retyped, so pick a new name", group=name, feature=f.name)
        if twin is not None:
            raise ValidationError(f"Feature {f.name!r} differs from {twin!r} of {name!r} only in letter case; SQL "
                                  "cannot tell them apart, so pick another name", group=name, feature=f.name)
        existing[f.name.lower()] = f.name
    ctx.db.check_width(name, len(existing))
    now = now_us()
    with ctx.db.write() as conn:
        current = registry.load_group(conn, name)
        registry.insert_features(conn, name, feats, len(current.features), now)
        registry.update_group(conn, name, now)
        versions.commit(ctx, conn, current, "add_features", now)
        if group.online:
            ctx.online.add_columns(conn, name, feats)
        if group.offline:
            offline_store.add_staging_columns(conn, name, feats)
    return feature_group(ctx, name)


def update_feature_metadata(ctx: StoreContext, group: str, feature: str, *, description: str | None = None,
                            parameters: dict[str, str] | None = None,
                            remove_parameters: Iterable[str] = ()) -> Feature:
    current = feature_group(ctx, group).feature(feature)
    params = dict(current.parameters)
    params.update(parameters or {})
    for key in remove_parameters:
        params.pop(key, None)
    check_parameters(params, f"feature {feature!r}")
    if description is not None and (not isinstance(description, str) or len(description) > 255):
        raise ValidationError(f"Description of feature {feature!r} must be a string of at most 255 characters")
    if description is not None:
        check_text(description, f"Description of feature {feature!r}")
    with ctx.db.write() as conn:
        current = registry.load_group(conn, group)
        now = now_us()
        registry.update_feature(conn, group, feature, now, description, params)
        versions.commit(ctx, conn, current, "update_feature_metadata", now)
    return feature_group(ctx, group).feature(feature)


def feature_metadata(ctx: StoreContext, group: str, feature: str) -> dict[str, Any]:
    f = feature_group(ctx, group).feature(feature)
    added, modified = registry.feature_times(ctx.db.get(), group, feature)
    return {**f.to_dict(), "group": group, "created_us": added, "modified_us": modified}


def delete_feature_group(ctx: StoreContext, name: str, purge_offline: bool = False) -> None:
    group = feature_group(ctx, name)
    now = now_us()
    with ctx.db.write() as conn:
        if group.offline:
            upkeep.flush_locked(ctx, conn, group, now)
            offline_store.drop_staging(conn, name)
        ctx.online.drop(conn, group)
        ctx.files.forget(conn, name)
        quality_tables.forget(conn, name)
        registry.delete_group(conn, name)
        lineage.upsert_node(conn, f"feature_group:{name}", "feature_group", name, now,
                            {"deleted": True, "deleted_us": now, "offline_purged": purge_offline})
    ctx.files.committed(name)
    ctx.online.after_commit()
    if purge_offline:
        ctx.files.purge(name)



def _clash_warning(group: FeatureGroup) -> str:
    """``FeatureGroup.check_readable``'s message, for describe() to show without failing."""
    try:
        group.check_readable()
    except ValidationError as exc:
        return exc.message
    return ""
