"""Feature and feature-group definitions, the naming rules, and a group's Arrow schema in the
offline store (proposing a schema from data lives in ``ingest.infer``).

Studio-facing: the feature and collection type names the schema editors offer.
"""
from __future__ import annotations

import re
import unicodedata
from contextvars import ContextVar
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

from ..errors import ValidationError

if TYPE_CHECKING:
    import pyarrow as pa

FEATURE_TYPES = ("Integral", "Fractional", "String")
COLLECTION_TYPES = ("List", "Set", "Vector")
RESERVED_NAMES = frozenset(
    {"write_time", "api_invocation_time", "is_deleted", "year", "month", "day", "hour"}
)
# Always NAME_RE.fullmatch: with .match, '$' lets a trailing newline through ('sales\n').
NAME_RE = re.compile(r"[a-zA-Z0-9]([_-]*[a-zA-Z0-9]){0,63}")
# SageMaker allows 2,500 features; a SQLite table holds at most 2,000 columns, five of them ours.
MAX_FEATURES = 1995
MAX_TAGS = 50
MAX_PARAMETERS = 25
MAX_VECTOR_DIMENSION = 8192


def check_name(name: Any, what: str) -> str:
    """Return ``name`` if it is a valid group or feature name, else raise ValidationError."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or len(name) > 64:
        raise ValidationError(
            f"{what} name {name!r} is invalid: use 1-64 letters, digits, '_' or '-', "
            "starting and ending with a letter or digit",
            name=name,
        )
    return name


def reserved_clash(name: str) -> str | None:
    """The reserved column ``name`` stands for (DuckDB and SQL compare names case-insensitively),
    or None."""
    return name.lower() if name.lower() in RESERVED_NAMES else None


# Set while the registry loads stored definitions: a store may hold a case variant of a reserved
# name ('IS_DELETED') from before such names were refused; it must still open (see FeatureGroup.reserved_clashes).
_LOADING_STORED: ContextVar[bool] = ContextVar("loading_stored", default=False)


@contextmanager
def stored_definitions() -> Iterator[None]:
    token = _LOADING_STORED.set(True)
    try:
        yield
    finally:
        _LOADING_STORED.reset(token)


@dataclass(frozen=True)
class Feature:
    """One typed column of a feature group.

    ``type`` is Integral, Fractional or String; ``collection`` optionally List, Set or Vector
    (a Vector holds Fractional values of a fixed ``dimension``).
    """

    name: str
    type: str = "String"
    collection: str | None = None
    dimension: int | None = None
    description: str = ""
    parameters: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.name, "Feature")
        if reserved_clash(self.name) and not (_LOADING_STORED.get() and self.name not in RESERVED_NAMES):
            raise ValidationError(
                f"Feature name {self.name!r} is reserved in any letter case (reserved: "
                f"{', '.join(sorted(RESERVED_NAMES))}); rename it, e.g. to {self.name + '_value'!r}",
                feature=self.name,
            )
        if self.type not in FEATURE_TYPES:
            raise ValidationError(
                f"Feature {self.name!r} has type {self.type!r}; use one of {', '.join(FEATURE_TYPES)}",
                feature=self.name,
            )
        if self.collection is not None and self.collection not in COLLECTION_TYPES:
            raise ValidationError(
                f"Feature {self.name!r} has collection type {self.collection!r}; "
                f"use one of {', '.join(COLLECTION_TYPES)} or none",
                feature=self.name,
            )
        if self.collection == "Vector":
            if self.type != "Fractional":
                raise ValidationError(
                    f"Feature {self.name!r}: a Vector holds Fractional values; set type='Fractional'",
                    feature=self.name,
                )
            if not isinstance(self.dimension, int) or not 1 <= self.dimension <= MAX_VECTOR_DIMENSION:
                raise ValidationError(
                    f"Feature {self.name!r}: a Vector needs a dimension between 1 and {MAX_VECTOR_DIMENSION}",
                    feature=self.name,
                )
        elif self.dimension is not None:
            raise ValidationError(
                f"Feature {self.name!r}: dimension applies to Vector features only", feature=self.name
            )
        check_parameters(self.parameters, f"feature {self.name!r}")
        if isinstance(self.description, str):
            check_text(self.description, f"Description of feature {self.name!r}")

    @property
    def is_collection(self) -> bool:
        return self.collection is not None

    def arrow_type(self) -> "pa.DataType":
        import pyarrow as pa

        scalar = {"Integral": pa.int64(), "Fractional": pa.float64(), "String": pa.string()}[self.type]
        return pa.list_(scalar) if self.collection else scalar

    @property
    def sqlite_type(self) -> str:
        if self.collection:
            return "TEXT"  # JSON array
        return {"Integral": "INTEGER", "Fractional": "REAL", "String": "TEXT"}[self.type]

    @property
    def duckdb_type(self) -> str:
        scalar = {"Integral": "BIGINT", "Fractional": "DOUBLE", "String": "VARCHAR"}[self.type]
        return scalar + "[]" if self.collection else scalar

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.collection:
            out["collection"] = self.collection
        if self.dimension is not None:
            out["dimension"] = self.dimension
        if self.description:
            out["description"] = self.description
        if self.parameters:
            out["parameters"] = dict(self.parameters)
        return out

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> "Feature":
        unknown = set(spec) - {"name", "type", "collection", "dimension", "description", "parameters"}
        if unknown:
            raise ValidationError(
                f"Feature spec {spec.get('name')!r} has unknown keys {sorted(unknown)}; "
                "allowed: name, type, collection, dimension, description, parameters"
            )
        return cls(
            name=spec.get("name"),  # type: ignore[arg-type]
            type=spec.get("type", "String"),
            collection=spec.get("collection"),
            dimension=spec.get("dimension"),
            description=spec.get("description") or "",
            parameters=dict(spec.get("parameters") or {}),
        )


def check_text(value: str, what: str) -> str:
    """``value`` if it can be stored as UTF-8: a lone surrogate ('\ud800', which JSON and Python
    strings can carry) cannot go into SQLite, Parquet or an HTTP answer."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValidationError(f"{what} is not Unicode text: a lone surrogate {value[exc.start]!r} at position "
                                  f"{exc.start}; fix the text (decode its bytes properly)") from None
    return value


def check_parameters(params: Any, where: str, limit: int = MAX_PARAMETERS, what: str = "parameters") -> dict[str, str]:
    if not isinstance(params, dict):
        raise ValidationError(f"{what} of {where} must be a mapping of strings to strings")
    if len(params) > limit:
        raise ValidationError(f"{where} has {len(params)} {what}; at most {limit} are allowed")
    for key, value in params.items():
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise ValidationError(
                f"{what} of {where} must map non-empty strings to strings; got {key!r}: {value!r}"
            )
        check_text(key, f"A key of the {what} of {where}")
        check_text(value, f"The value of {key!r} in the {what} of {where}")
    return params


@dataclass(frozen=True)
class FeatureGroup:
    """A feature group's definition as the registry holds it. Its record key is ``identifiers``:
    one scalar feature, or several in key order (``composite``); ``record_identifier`` names the
    one of a group keyed by one feature and refuses a composite group's."""

    name: str
    identifiers: tuple[str, ...]  # the record key's columns, in key order (one for most groups)
    event_time: str
    features: tuple[Feature, ...]
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    online: bool = True
    offline: bool = True
    ttl_seconds: float | None = None
    status: str = "Created"
    created_at: Any = None
    modified_at: Any = None
    created_by: str = ""
    offline_path: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # settings only the HTTP API knows (RoleArn...)
    partition_by: str = "day"  # the offline folders' event-time granularity (see ``layout``)
    offline_retention_seconds: float | None = None  # history older than this may be dropped (see ``retention``)
    entity: str | None = None  # what its rows are about (see ``model.entity``)
    entity_keys: dict[str, str] = field(default_factory=dict)  # identifier column -> the entity's key name
    version: int = 1  # the definition version (see ``model.versions``)
    # Each feature's stable id, in feature order: a rename or a retype keeps it, so history written
    # under an older version is read by id (empty: 1..n, a group never changed but by additions).
    feature_ids: tuple[int, ...] = ()
    # Names features had in earlier versions: the name each goes by now, or None if it was dropped.
    former_names: dict[str, str | None] = field(default_factory=dict, compare=False)

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        from ..errors import NotFound

        raise NotFound(
            f"Feature group {self.name!r} has no feature {name!r}; it has: "
            + ", ".join(f.name for f in self.features),
            group=self.name,
            feature=name,
        )

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def former(self, name: str) -> str:
        """Why ``name`` is not a feature when an earlier version had it ('' otherwise): for errors."""
        if name not in self.former_names:
            return ""
        now = self.former_names[name]
        return f" ({name!r} was dropped)" if now is None else f" ({name!r} was renamed to {now!r})"

    @property
    def ids(self) -> tuple[int, ...]:
        """Each feature's stable id, in feature order."""
        return self.feature_ids or tuple(range(1, len(self.features) + 1))

    @property
    def composite(self) -> bool:
        """Whether the record key has several columns."""
        return len(self.identifiers) > 1

    @property
    def record_identifier(self) -> str:
        """The key column of a group keyed by one column. Raises ValidationError for a key of
        several columns, so no path keys on one of them by accident (use ``identifiers``)."""
        if len(self.identifiers) != 1:
            raise ValidationError(
                f"Feature group {self.name!r} has a record key of several columns "
                f"({', '.join(self.identifiers)}); use its identifiers", group=self.name)
        return self.identifiers[0]

    @property
    def key_label(self) -> str:
        """The key's columns as people read them: 'id', or '(merchant_id, terminal_id)'."""
        return self.identifiers[0] if len(self.identifiers) == 1 else f"({', '.join(self.identifiers)})"

    @property
    def id_feature(self) -> Feature:
        return self.feature(self.record_identifier)

    @property
    def id_features(self) -> tuple[Feature, ...]:
        """The key columns' features, in key order."""
        return tuple(self.feature(n) for n in self.identifiers)

    @property
    def time_feature(self) -> Feature:
        return self.feature(self.event_time)

    @property
    def reserved_clashes(self) -> list[str]:
        """Features named like a reserved column in another letter case ('IS_DELETED'), which
        stores created before such names were refused may hold."""
        return [f.name for f in self.features if reserved_clash(f.name)]

    def check_readable(self) -> None:
        """Raise ValidationError if the group's history cannot be read right (see ``reserved_clashes``)."""
        clashes = self.reserved_clashes
        if clashes:
            name = clashes[0]
            raise ValidationError(
                f"Feature group {self.name!r} has a feature {name!r}, which SQL reads as the store's own column "
                f"{reserved_clash(name)!r}, so its history would be read wrong (a record could vanish). Rename it: "
                f"create a group with the feature renamed (e.g. {name + '_value'!r}), ingest your data into it with "
                f"columns={{{name!r}: {name + '_value'!r}}}, then delete this group",
                group=self.name, feature=name,
            )



def identifier_columns(record_identifier: Any, group: str = "") -> tuple[str, ...]:
    """The key columns a user gave: one name, or a list/tuple of 1+ distinct names in key order.
    Raises ValidationError."""
    names = (record_identifier,) if isinstance(record_identifier, str) else record_identifier
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
        raise ValidationError(
            f"record_identifier of {group!r} must be a feature name or a list of feature names in key order, "
            f"e.g. 'id' or ['merchant_id', 'terminal_id']; got {record_identifier!r}", group=group)
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise ValidationError(f"record_identifier of {group!r} names {twice!r} twice; list each key column once",
                              group=group, feature=twice)
    return tuple(names)


def validate_definition(
    name: str,
    record_identifier: str | tuple[str, ...],
    event_time: str,
    features: list[Feature],
    description: str,
    tags: dict[str, str],
    online: bool,
    offline: bool,
) -> None:
    """Raise ValidationError unless these make a well-formed feature group."""
    check_name(name, "Feature group")
    if not features:
        raise ValidationError(f"Feature group {name!r} needs at least one feature")
    if len(features) > MAX_FEATURES:
        raise ValidationError(f"Feature group {name!r} has {len(features)} features; at most {MAX_FEATURES}")
    seen: dict[str, str] = {}  # lower case -> name: SQL (DuckDB, SQLite) does not tell 'age' from 'AGE'
    for f in features:
        if not isinstance(f, Feature):
            raise ValidationError(f"Feature group {name!r}: features must be Feature objects, got {f!r}")
        twin = seen.get(f.name.lower())
        if twin == f.name:
            raise ValidationError(f"Feature group {name!r} defines feature {f.name!r} twice", feature=f.name)
        if twin is not None:
            raise ValidationError(f"Feature group {name!r} defines features {twin!r} and {f.name!r}, which differ only "
                                  "in letter case; SQL cannot tell them apart, so rename one", feature=f.name)
        seen[f.name.lower()] = f.name
    by_name = {f.name: f for f in features}
    keys = identifier_columns(record_identifier, name)
    for key in keys:
        if key not in by_name:
            raise ValidationError(
                f"Record identifier {key!r} is not a feature of {name!r}; add it to features",
                group=name,
                feature=key,
            )
        if by_name[key].is_collection:
            raise ValidationError(
                f"Record identifier {key!r} of {name!r} must be a scalar, not a {by_name[key].collection}",
                group=name,
                feature=key,
            )
    if event_time not in by_name:
        raise ValidationError(
            f"Event time feature {event_time!r} is not a feature of {name!r}; add it to features",
            group=name,
            feature=event_time,
        )
    et = by_name[event_time]
    if et.is_collection or et.type not in ("String", "Fractional"):
        raise ValidationError(
            f"Event time feature {event_time!r} of {name!r} must be String (ISO-8601 ending in Z) "
            f"or Fractional (epoch seconds), not {et.collection or et.type}",
            group=name,
            feature=event_time,
        )
    if event_time in keys:
        raise ValidationError(f"Feature group {name!r}: record identifier and event time must differ")
    if not isinstance(description, str) or len(description) > 128_000:
        raise ValidationError(f"Description of {name!r} must be a string of at most 128000 characters")
    check_text(description, f"Description of {name!r}")
    check_parameters(tags, f"feature group {name!r}", limit=MAX_TAGS, what="tags")
    if not (online or offline):
        raise ValidationError(f"Feature group {name!r} needs an online or an offline store (or both)")


def arrow_schema(group: FeatureGroup) -> "pa.Schema":
    """The Arrow schema of ``group``'s rows in the offline store: its features, then the
    columns every offline row carries (its write and API times, tombstone, event time, order)."""
    import pyarrow as pa

    ts = pa.timestamp("us", tz="UTC")
    fields = [pa.field(f.name, f.arrow_type()) for f in group.features]
    fields += [
        pa.field("api_invocation_time", ts), pa.field("write_time", ts), pa.field("is_deleted", pa.bool_()),
        pa.field("_event_time", ts), pa.field("_seq", pa.int64()),
    ]
    return pa.schema(fields)


def feature_name(column: str, taken: set[str]) -> str:
    """``column`` if it is a valid, free feature name, else a sanitised one ('Order ID' ->
    'Order_ID', 'prénom' -> 'prenom', 'year' or 'YEAR' -> 'year_value'), unique among ``taken``
    (the lower-case names given so far: SQL does not tell 'Amount' from 'amount')."""
    name = column
    if not (NAME_RE.fullmatch(name) and len(name) <= 64):
        ascii_text = unicodedata.normalize("NFKD", column).encode("ascii", "ignore").decode()
        name = re.sub(r"[^A-Za-z0-9_-]+", "_", ascii_text).strip("_-")[:64].strip("_-") or "column"
    if reserved_clash(name):
        name = f"{name}_value"
    base, n = name, 2
    while name.lower() in taken:
        suffix = f"_{n}"
        name, n = base[: 64 - len(suffix)] + suffix, n + 1
    taken.add(name.lower())
    return name
