"""The bodies of the facade's entity methods: define, read, change and delete entities, attach a
feature group to one, and look up one entity across its groups; their documentation is on
``FeatureStore``. Groups the principal may not see are left out of every answer here."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Sequence

from ..common.timeutil import event_time_to_us, now_us, us_to_iso
from ..databases import Connection
from ..errors import ValidationError
from ..model import record as records
from ..model import keys as record_keys
from ..model.entity import Entity, check_keys_given, identifier_columns, match_keys
from ..model.schema import Feature, FeatureGroup, MAX_TAGS, check_parameters, check_text
from ..registry import entities as registry
from . import lookups
from .context import StoreContext


def _visible(ctx: StoreContext, entity: Entity) -> Entity:
    return replace(entity, groups=tuple(ctx.policy.visible(list(entity.groups))))


def create_entity(ctx: StoreContext, name: str, keys: Sequence[Feature | dict], description: str = "",
                  tags: dict[str, str] | None = None) -> Entity:
    now = now_us()
    entity = Entity(name=name, keys=check_keys_given(name, keys), description=description, tags=dict(tags or {}),
                    created_at=now, modified_at=now, created_by=ctx.policy.name)
    with ctx.db.write() as conn:
        registry.insert(conn, entity, now)
    return entity_definition(ctx, name)


def entity_definition(ctx: StoreContext, name: str) -> Entity:
    return _visible(ctx, registry.load(ctx.db.get(), name))


def list_entities(ctx: StoreContext) -> list[Entity]:
    return [_visible(ctx, e) for e in registry.load_all(ctx.db.get())]


def update_entity(ctx: StoreContext, name: str, description: str | None = None,
                  tags: dict[str, str] | None = None) -> Entity:
    fields: dict[str, Any] = {}
    if description is not None:
        if not isinstance(description, str) or len(description) > 128_000:
            raise ValidationError(f"Description of entity {name!r} must be a string of at most 128000 characters",
                                  entity=name)
        fields["description"] = check_text(description, f"Description of entity {name!r}")
    if tags is not None:
        fields["tags"] = check_parameters(dict(tags), f"entity {name!r}", limit=MAX_TAGS, what="tags")
    with ctx.db.write() as conn:
        registry.load(conn, name)  # NotFound before anything changes
        if fields:
            registry.update(conn, name, now_us(), **fields)
    return entity_definition(ctx, name)


def delete_entity(ctx: StoreContext, name: str) -> None:
    with ctx.db.write() as conn:
        registry.load(conn, name)
        users = registry.groups_of(conn, name)
        if users:
            raise ValidationError(
                f"Entity {name!r} is declared by {len(users)} feature group(s): {', '.join(users)}. Detach each "
                f"first (update_feature_group(group, entity=None)) or delete them, then delete the entity",
                entity=name, groups=users)
        registry.delete(conn, name)


def declare(conn: Connection, group: FeatureGroup, entity: str, entity_keys: Mapping[str, str] | None) -> dict[str, str]:
    """The group's identifier-to-key mapping for ``entity`` (read in ``conn``'s transaction).
    Raises NotFound for an unknown entity, ValidationError when the keys do not fit."""
    if not isinstance(entity, str):
        raise ValidationError(f"entity must be an entity's name, got {entity!r}", group=group.name)
    return match_keys(registry.load(conn, entity), group, entity_keys)


def attach(conn: Connection, group: FeatureGroup, entity: str | None, entity_keys: Mapping[str, str] | None) -> None:
    """Declare ``entity`` on an existing group (None: detach it), in ``conn``'s transaction."""
    if entity is None:
        if entity_keys:
            raise ValidationError(f"entity_keys without an entity: name the entity {group.name!r} is about",
                                  group=group.name)
        registry.attach(conn, group.name, None, {}, now_us())
        return
    registry.attach(conn, group.name, entity, declare(conn, group, entity, entity_keys), now_us())


def entity_record(ctx: StoreContext, entity: str, key: Any) -> dict[str, Any]:
    return entity_records(ctx, entity, [key])[0]


def entity_records(ctx: StoreContext, entity: str, keys: Sequence[Any]) -> list[dict[str, Any]]:
    """For each entity key: per visible group of the entity, its live online record (read with
    one batch read per group for all keys), the record's event time and age, or why there is
    none ("not found", "no online store")."""
    definition = entity_definition(ctx, entity)
    wanted = [definition.key_values(k) for k in keys]
    now = now_us()
    answers: list[dict[str, Any]] = [{"entity": entity, "key": k, "groups": []} for k in wanted]
    for name in definition.groups:
        group = ctx.group(name)[0]
        columns = identifier_columns(group)
        ids = [_identifier(group, definition, k, columns) for k in wanted]
        found: dict[Any, dict[str, Any]] = {}
        if group.online:
            for record in lookups.batch_get_records(ctx, name, ids):
                found[record_keys.of_row(group, record)] = record
        for answer, rid in zip(answers, ids):
            answer["groups"].append(_found(group, rid, found.get(rid), now))
    return answers


def _identifier(group: FeatureGroup, entity: Entity, key: dict[str, Any], columns: tuple[str, ...]) -> Any:
    """The group's record key for an entity key (the values of the entity's keys its columns map to)."""
    named = {c: group.entity_keys.get(c, c) for c in columns}
    value = {c: key[k] for c, k in named.items()} if group.composite else key[named[columns[0]]]
    try:
        return records.identifier(group, value)
    except ValidationError as exc:
        raise ValidationError(f"Entity {entity.name!r} key {key!r} does not fit {group.name!r}: {exc.message}",
                              entity=entity.name) from None


def _found(group: FeatureGroup, rid: Any, record: dict[str, Any] | None, now: int) -> dict[str, Any]:
    base = {"group": group.name, "identifier": dict(zip(identifier_columns(group), record_keys.parts(group, rid))),
            "record": None,
            "features": {}, "event_time": None, "event_us": None, "age_seconds": None}
    if not group.online:
        return {**base, "status": "no online store"}
    if record is None:
        return {**base, "status": "not found"}
    event_us = event_time_to_us(record[group.event_time], group.time_feature.type)
    skip = {*identifier_columns(group), group.event_time}
    features = {f: record.get(f) for f in group.feature_names if f not in skip}
    return {**base, "status": "found", "record": record, "features": features, "event_time": us_to_iso(event_us),
            "event_us": event_us, "age_seconds": max(0.0, (now - event_us) / 1e6)}
