"""Entities: the things rows are about (``customer`` keyed by ``customer_id``), and how a feature
group's identifier columns line up with an entity's keys.

A group declares its entity with a mapping from its identifier columns to the entity's key names
(``{"cust_id": "customer_id"}``), so a group may name its columns as it likes; datasets and
lookups then key the group by the entity's key names. ``identifier_columns`` is the one place that
says which columns identify a group's records.

Studio-facing: ``Entity`` and ``identifier_columns``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ..errors import ValidationError
from .schema import MAX_TAGS, Feature, FeatureGroup, check_name, check_parameters, check_text

MAX_DESCRIPTION = 128_000


def identifier_columns(group: FeatureGroup) -> tuple[str, ...]:
    """The columns that identify the group's records, in order."""
    return tuple(group.identifiers)


def _typed(feature: Feature) -> str:
    return f"{feature.name} {feature.type}"


@dataclass(frozen=True)
class Entity:
    """What rows are about: a name, one or more scalar key columns, a description and tags.
    ``groups`` lists the feature groups declaring it (as the reader may see them) when loaded
    with them, else is empty."""

    name: str
    keys: tuple[Feature, ...]
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    created_at: int | None = None
    modified_at: int | None = None
    created_by: str = ""
    groups: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_name(self.name, "Entity")
        keys = tuple(self.keys) if isinstance(self.keys, (list, tuple)) else self.keys
        if not isinstance(keys, tuple) or not keys:
            raise ValidationError(f"Entity {self.name!r} needs keys=[Feature('..._id', 'Integral'), ...]: at least one "
                                  "key column", entity=self.name)
        seen: dict[str, str] = {}
        for key in keys:
            if not isinstance(key, Feature):
                raise ValidationError(f"Entity {self.name!r}: keys must be Feature objects, got {key!r}",
                                      entity=self.name)
            if key.is_collection:
                raise ValidationError(f"Entity {self.name!r}: key {key.name!r} must be a scalar (Integral, Fractional "
                                      f"or String), not a {key.collection}", entity=self.name, feature=key.name)
            twin = seen.get(key.name.lower())
            if twin is not None:
                raise ValidationError(f"Entity {self.name!r} names key {key.name!r} twice (or as {twin!r}, which "
                                      "differs only in letter case)", entity=self.name, feature=key.name)
            seen[key.name.lower()] = key.name
        object.__setattr__(self, "keys", keys)
        if not isinstance(self.description, str) or len(self.description) > MAX_DESCRIPTION:
            raise ValidationError(f"Description of entity {self.name!r} must be a string of at most "
                                  f"{MAX_DESCRIPTION} characters", entity=self.name)
        check_text(self.description, f"Description of entity {self.name!r}")
        check_parameters(self.tags, f"entity {self.name!r}", limit=MAX_TAGS, what="tags")

    @property
    def key_names(self) -> list[str]:
        return [k.name for k in self.keys]

    def key(self, name: str) -> Feature:
        for k in self.keys:
            if k.name == name:
                return k
        raise ValidationError(f"Entity {self.name!r} has no key {name!r}; its keys: {', '.join(self.key_names)}",
                              entity=self.name)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "keys": [k.to_dict() for k in self.keys], "description": self.description,
                "tags": dict(self.tags), "created_at": self.created_at, "modified_at": self.modified_at,
                "created_by": self.created_by, "groups": list(self.groups)}

    def key_values(self, key: Any) -> dict[str, Any]:
        """One entity's key values by key name, from a dict ({"customer_id": 1011}), a tuple or
        list in key order, or a plain value for a one-key entity."""
        names = self.key_names
        if isinstance(key, Mapping):
            unknown, absent = sorted(set(key) - set(names)), [n for n in names if n not in key]
            if unknown or absent:
                raise ValidationError(f"Entity {self.name!r} is keyed by {', '.join(names)}; the key given "
                                      + (f"names {unknown} it does not have" if unknown else f"lacks {absent}"),
                                      entity=self.name)
            return {n: key[n] for n in names}
        if isinstance(key, (tuple, list)):
            if len(key) != len(names):
                raise ValidationError(f"Entity {self.name!r} is keyed by {len(names)} column(s) ({', '.join(names)}); "
                                      f"{len(key)} value(s) given", entity=self.name)
            return dict(zip(names, key))
        if len(names) != 1:
            raise ValidationError(f"Entity {self.name!r} is keyed by {', '.join(names)}: give a value for each, as "
                                  "{" + ", ".join(f"{n!r}: ..." for n in names) + "}", entity=self.name)
        if key is None:
            raise ValidationError(f"Give a {names[0]!r} value to look up an entity {self.name!r}", entity=self.name)
        return {names[0]: key}


def match_keys(entity: Entity, group: FeatureGroup, entity_keys: Mapping[str, str] | None = None) -> dict[str, str]:
    """The group's identifier columns mapped to the entity's key names: ``entity_keys`` checked,
    or matched by name, or for one key positionally. Raises ValidationError naming the columns
    and types when the counts or types do not match."""
    columns = identifier_columns(group)
    ids = [group.feature(c) for c in columns]
    shown_ids = ", ".join(_typed(f) for f in ids)
    shown_keys = ", ".join(_typed(k) for k in entity.keys)
    if len(ids) != len(entity.keys):
        raise ValidationError(
            f"Entity {entity.name!r} has {len(entity.keys)} key column(s) ({shown_keys}), but feature group "
            f"{group.name!r} is identified by {len(ids)} ({shown_ids}): a group of this entity needs one identifier "
            "column per key", group=group.name, entity=entity.name)
    if entity_keys is not None:
        if not isinstance(entity_keys, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                           for k, v in entity_keys.items()):
            raise ValidationError("entity_keys must map the group's identifier columns to the entity's key names, "
                                  "like {'cust_id': 'customer_id'}", group=group.name, entity=entity.name)
        mapping = dict(entity_keys)
        if set(mapping) != set(columns) or sorted(mapping.values()) != sorted(entity.key_names):
            raise ValidationError(
                f"entity_keys={mapping} must map each identifier column of {group.name!r} ({', '.join(columns)}) to a "
                f"different key of entity {entity.name!r} ({', '.join(entity.key_names)})",
                group=group.name, entity=entity.name)
    elif set(entity.key_names) == set(columns):
        mapping = {c: c for c in columns}
    elif len(columns) == 1:
        mapping = {columns[0]: entity.key_names[0]}
    else:
        raise ValidationError(
            f"Feature group {group.name!r} is identified by {shown_ids}, and entity {entity.name!r} is keyed by "
            f"{shown_keys}: the names differ, so say which is which with entity_keys="
            "{" + ", ".join(f"{c!r}: ..." for c in columns) + "}", group=group.name, entity=entity.name)
    for column, key_name in mapping.items():
        mine, theirs = group.feature(column), entity.key(key_name)
        if mine.type != theirs.type:
            raise ValidationError(
                f"Feature group {group.name!r} identifier {column!r} is {mine.type}, but entity {entity.name!r} key "
                f"{key_name!r} is {theirs.type}: they cannot hold the same values. Key the group by a {theirs.type} "
                "column, or use another entity", group=group.name, entity=entity.name, feature=column)
    return {c: mapping[c] for c in columns}


def entity_columns(group: FeatureGroup) -> tuple[str, ...]:
    """The column names an entity table uses for the group's identifier columns: the entity's key
    names for a group with an entity, else the identifier columns themselves."""
    columns = identifier_columns(group)
    if not group.entity:
        return columns
    return tuple(group.entity_keys.get(c, c) for c in columns)


def check_keys_given(name: str, keys: Sequence[Any]) -> tuple[Feature, ...]:
    """``keys`` as Features (dicts accepted, as ``Feature.from_dict`` reads them)."""
    if isinstance(keys, (str, Feature, Mapping)) or not isinstance(keys, (list, tuple)):
        raise ValidationError(f"Entity {name!r}: keys must be a list like [Feature('customer_id', 'Integral')]",
                              entity=name)
    return tuple(k if isinstance(k, Feature) else Feature.from_dict(k) if isinstance(k, Mapping) else k for k in keys)
