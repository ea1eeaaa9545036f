"""A brute-force, pure-Python model of the store's record semantics (spec: semantics.md).

It knows nothing about SQLite, Parquet or DuckDB: it keeps the online store as a dict and the
offline store as a list of versions, and answers every read by scanning. ``tests/core/test_property.py``
runs random histories against the engine and this model and compares the answers.

Clocks: event times are integers (microseconds); the write time of a version is the index of the
operation that wrote it (``op``), and ``seq`` orders rows written by the same operation (an
ingest batch), so versions rank by ``(ev, op, seq)``: event time, then write time, then order
within the batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable


class HardDeleteRejected(Exception):
    """The semantics require ``delete_record(..., hard=True)`` to raise ValidationError here."""


@dataclass(frozen=True)
class Version:
    """One offline row: a put/ingested row, or a delete marker."""

    rid: Any
    ev: int  # event time, microseconds
    op: int  # write time = index of the operation that wrote it
    seq: int  # order of writing (breaks ties within one operation)
    deleted: bool
    values: tuple  # (feature, value) pairs in group order; None is null

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.ev, self.op, self.seq)

    def record(self) -> dict[str, Any]:
        return dict(self.values)


@dataclass
class OnlineRow:
    ev: int
    deleted: bool  # a soft-delete tombstone
    values: dict[str, Any] | None


class Reference:
    """The semantics of put / delete / ingest and of get, as_of, history and point-in-time joins."""

    def __init__(self, features: Iterable[str], record_identifier: str | tuple[str, ...], event_time: str) -> None:
        """``record_identifier``: a feature, or a tuple of features (a key of several columns, whose
        values are tuples in that order)."""
        self.features = list(features)
        self.rid_name = record_identifier
        self.et_name = event_time
        self.online: dict[Any, OnlineRow] = {}
        self.versions: list[Version] = []
        self._seq = 0

    # ------------------------------------------------------------------ writes

    def _append(self, rid: Any, ev: int, op: int, deleted: bool, values: dict[str, Any]) -> None:
        self._seq += 1
        self.versions.append(Version(rid, ev, op, self._seq, deleted,
                                     tuple((f, values.get(f)) for f in self.features)))

    def put(self, record: dict[str, Any], ev: int, op: int) -> None:
        """A full overwrite: features missing from ``record`` are null. Historic puts still go offline."""
        values = {f: record.get(f) for f in self.features}
        rid = self.key_of(values)
        self._append(rid, ev, op, False, values)
        cur = self.online.get(rid)
        if cur is None or ev >= cur.ev:  # equal event time: the later write wins (also over a tombstone)
            self.online[rid] = OnlineRow(ev, False, values)

    def ingest(self, rows: Iterable[tuple[dict[str, Any], int]], op: int) -> None:
        """A batch shares one write time; later rows in the batch count as later writes."""
        for record, ev in rows:
            self.put(record, ev, op)

    def delete(self, rid: Any, ev: int, ev_value: Any, hard: bool, op: int) -> None:
        """Soft: tombstone if not older than the stored row. Hard: forget the row, unless a live
        record is stored at an event time >= the delete's (then raise and change nothing)."""
        cur = self.online.get(rid)
        if hard:
            if cur is not None and not cur.deleted and ev <= cur.ev:
                raise HardDeleteRejected(f"hard delete of {rid!r} at {ev} is not newer than the live record at {cur.ev}")
            self.online.pop(rid, None)
        elif cur is None or ev >= cur.ev:
            self.online[rid] = OnlineRow(ev, True, None)
        marker = {f: None for f in self.features}
        if isinstance(self.rid_name, tuple):
            marker.update(zip(self.rid_name, rid))
        else:
            marker[self.rid_name] = rid
        marker[self.et_name] = ev_value
        self._append(rid, ev, op, True, marker)

    def key_of(self, values: dict[str, Any]) -> Any:
        """A record's key: its identifier's value, or the tuple of its key columns' values."""
        if isinstance(self.rid_name, tuple):
            return tuple(values[n] for n in self.rid_name)
        return values[self.rid_name]

    # ------------------------------------------------------------------ reads

    def get(self, rid: Any) -> dict[str, Any] | None:
        """``get_record``: the live online record without its null features, or None."""
        cur = self.online.get(rid)
        if cur is None or cur.deleted:
            return None
        return {k: v for k, v in cur.values.items() if v is not None}

    def ids(self) -> list[Any]:
        return sorted({v.rid for v in self.versions})

    def top(self, rid: Any, max_ev: int | None = None, max_op: int | None = None) -> Version | None:
        """The highest-ranked version of ``rid`` within the bounds (delete markers included)."""
        best = None
        for v in self.versions:
            if v.rid != rid or (max_ev is not None and v.ev > max_ev) or (max_op is not None and v.op > max_op):
                continue
            if best is None or v.key > best.key:
                best = v
        return best

    def as_of(self, max_ev: int | None = None, max_op: int | None = None) -> list[dict[str, Any]]:
        """``as_of``: per identifier the top version, absent if it is a delete marker; by identifier."""
        out = []
        for rid in self.ids():
            v = self.top(rid, max_ev, max_op)
            if v is not None and not v.deleted:
                out.append(v.record())
        return out

    def history(self, rid: Any) -> list[Version]:
        """Every version of one record, oldest first by (event time, write time, order)."""
        return sorted((v for v in self.versions if v.rid == rid), key=lambda v: v.key)

    def point_in_time(self, rid: Any, ts: int | None, max_op: int | None = None) -> dict[str, Any] | None:
        """One entity row of ``build_dataset``: the record as of ``ts``, None if nothing or deleted."""
        if ts is None:
            return None
        v = self.top(rid, ts, max_op)
        if v is None or v.deleted:
            return None
        return v.record()
