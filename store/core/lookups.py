"""Reads of the online store: ``get_record`` and ``batch_get_records`` (the hot path), the paging
of identifiers and the metadata read beside them.

Each group's reads are compiled once per definition (``Lookup``, kept in the group's prepared
dict): the identifier's coercion, the backend's statements (``OnlineBackend.reader``), the
decoding. Where the online rows live in the registry's own SQLite database, a read does not read
the registry version first (in WAL mode starting a read costs SQLite about as much as the lookup):
it uses the cached definition and reads the version with the rows (a record's in the lookup's own
statement, a batch's right after it), and keeps the answer only if that is the version the
definition was read at. Otherwise, or on any error, the call runs again the ordinary way
(``StoreContext.group`` reads the version, then the rows), which raises what a call raises.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

from ..common.timeutil import now_us
from ..errors import ValidationError
from ..model import record as records
from ..model.coerce import MAX_IDENTIFIER_BYTES
from ..model.schema import FeatureGroup
from ..online import sqlite_tables
from ..online.base import Reader
from .context import StoreContext

_INT64 = (-(2**63), 2**63)
_INTS, _LISTS = {int}, (list, tuple)
_PLAIN = {"String": str, "Integral": int}  # Fractional keys are always coerced (NaN, infinities)


class Lookup:
    """A group's online reads compiled for one definition."""

    __slots__ = ("group", "reader", "versioned", "names", "json", "integral", "plain")

    def __init__(self, ctx: StoreContext, group: FeatureGroup, prep: dict) -> None:
        self.group = group
        self.reader: Reader = ctx.online.reader(group)
        self.versioned = self.reader.versioned
        self.names = tuple(prep["names"])
        self.json = tuple(n for i, n in enumerate(self.names) if i in prep["json_cols"])  # collections
        self.integral = not group.composite and group.id_features[0].type == "Integral"
        # A composite key's columns as the Python types a value already typed has (None: always coerced).
        self.plain = tuple(_PLAIN.get(f.type) for f in group.id_features) if group.composite else None

    def identifier(self, value: Any) -> Any:
        """``value`` as the group's identifier type (a plain int of an integer group as it is; a
        tuple of a composite group's already typed values as it is)."""
        if self.integral and type(value) is int and _INT64[0] <= value < _INT64[1]:
            return value
        plain = self.plain
        if plain is not None and type(value) is tuple and len(value) == len(plain):
            for v, t in zip(value, plain):
                if type(v) is not t:
                    break
                if t is str:
                    if not (v.isascii() and len(v) <= MAX_IDENTIFIER_BYTES):  # ASCII: a byte a character
                        break
                elif not _INT64[0] <= v < _INT64[1]:
                    break
            else:
                return value
        return records.identifier(self.group, value)

    def identifiers(self, values: Sequence[Any]) -> list[Any]:
        """The distinct identifiers of ``values`` in order; a list of plain ints checked at C speed."""
        if self.integral and type(values) in _LISTS and values and set(map(type, values)) == _INTS \
                and _INT64[0] <= min(values) and max(values) < _INT64[1]:
            return list(dict.fromkeys(values))
        return list(dict.fromkeys(map(self.identifier, values)))

    def decode_one(self, row: Sequence[Any]) -> dict[str, Any]:
        if self.json:
            return self.decode((row,))[0]
        return {n: v for n, v in zip(self.names, row) if v is not None}

    def decode(self, rows: Iterable[Sequence[Any] | None]) -> list[dict[str, Any]]:
        """Rows of the reader's as records (None skipped): nulls dropped, collections parsed from JSON."""
        names = self.names
        out = [{n: v for n, v in zip(names, row) if v is not None} for row in rows if row is not None]
        if self.json:
            for record in out:
                for name in self.json:
                    if name in record:
                        record[name] = json.loads(record[name])
        return out


def compiled(ctx: StoreContext, group: FeatureGroup, prep: dict) -> Lookup:
    """The group's ``Lookup``, made on first use of this definition."""
    look = prep.get("lookup")
    if look is None:
        look = prep["lookup"] = Lookup(ctx, group, prep)
    return look


def _online(group: FeatureGroup, hint: str = "; read it with as_of()") -> None:
    if not group.online:
        raise ValidationError(f"Feature group {group.name!r} has no online store{hint}", group=group.name)


def check_features(group: FeatureGroup, features: Sequence[str]) -> None:
    """Refuse a string, or a feature the group does not have (NotFound names its features)."""
    if isinstance(features, str):
        raise ValidationError("features must be a list of feature names, not a string")
    for f in features:
        group.feature(f)


def get_record(ctx: StoreContext, group: str, record_id: Any,
               features: Sequence[str] | None = None) -> dict[str, Any] | None:
    hit = ctx.cached_group(group)
    if hit is not None:
        look = hit[0][1].get("lookup") or compiled(ctx, *hit[0])
        if look.versioned:
            try:
                version, out = _get(look, record_id, features, True)
            except Exception:  # the cached definition may be stale: the ordinary way raises what is wrong
                version = None
            if version == hit[1]:
                return out
    g, prep = ctx.group(group)
    return _get(compiled(ctx, g, prep), record_id, features, False)[1]


def _get(look: Lookup, record_id: Any, features: Sequence[str] | None,
         versioned: bool) -> tuple[int | None, dict[str, Any] | None]:
    if not look.group.online:
        _online(look.group)
    rid = look.identifier(record_id)
    if features is not None:
        check_features(look.group, features)
    if versioned:
        version, row = look.reader.one_versioned(rid, now_us())
    else:
        version, row = None, look.reader.one(rid, now_us())
    if row is None:
        return version, None
    out = look.decode_one(row)
    return version, (out if features is None else {f: out[f] for f in features if f in out})


def batch_get_records(ctx: StoreContext, group: str, record_ids: Sequence[Any],
                      features: Sequence[str] | None = None) -> list[dict[str, Any]]:
    hit = ctx.cached_group(group) if type(record_ids) in _LISTS else None  # others may be read only once
    if hit is not None:
        look = hit[0][1].get("lookup") or compiled(ctx, *hit[0])
        if look.versioned:
            try:
                version, out = _get_many(look, record_ids, features, True)
            except Exception:  # as in get_record
                version = None
            if version is not None and version == hit[1]:
                return out
    g, prep = ctx.group(group)
    return _get_many(compiled(ctx, g, prep), record_ids, features, False)[1]


def _get_many(look: Lookup, record_ids: Sequence[Any], features: Sequence[str] | None,
              versioned: bool) -> tuple[int | None, list[dict[str, Any]]]:
    _online(look.group)
    ids = look.identifiers(record_ids)
    if features is not None:
        check_features(look.group, features)
    if not ids:
        return None, []
    if versioned:
        version, found = look.reader.many_versioned(ids, now_us())
    else:
        version, found = None, look.reader.many(ids, now_us())
    out = look.decode(map(found.get, ids))
    return version, (out if features is None else [{f: r[f] for f in features if f in r} for r in out])


def list_record_ids(ctx: StoreContext, group: str, after: Any = None, limit: int = 100,
                    include_deleted: bool = False) -> list[Any]:
    g, _ = ctx.group(group)
    _online(g, "")
    after_id = records.identifier(g, after) if after is not None else None
    return ctx.online.ids(g, now_us(), after_id, int(limit), include_deleted)


def online_record(ctx: StoreContext, group: str, record_id: Any) -> dict[str, Any] | None:
    g, prep = ctx.group(group)
    _online(g, "")
    rid = records.identifier(g, record_id)
    data = ctx.online.raw(g, rid)
    if data is None:
        return None
    now = now_us()
    record = sqlite_tables.decode([None] + [data.get(n) for n in g.feature_names], g.feature_names, prep["json_cols"])
    expired = data["_expires_us"] is not None and data["_expires_us"] <= now
    return {"record": record, "event_us": data["_event_us"], "write_us": data["_write_us"],
            "expires_us": data["_expires_us"], "deleted": bool(data["_deleted"]), "expired": expired,
            "live": not data["_deleted"] and not expired}
