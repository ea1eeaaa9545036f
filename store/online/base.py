"""The interface of an online store backend: the newest row per record of each group.

Rows are handed over as ``(_event_us, _write_us, _expires_us, _deleted, *features in group
order)`` with collections as JSON text, and read back as ``(_expires_us, *features)``. Every
backend keeps the same rule: a row replaces the stored one only if its event time is newer, or
equal and written later, or the stored one has expired; a soft delete is a tombstone row that
keeps its event time, so older puts stay out.

Writes are called inside the store's SQLite write transaction (``conn``). A backend that lives
in that database (SQLite) writes there and then, so the online and offline stores change
together. A backend elsewhere (Redis) cannot join that transaction: it records each write in the
database's outbox in the same transaction and applies it once the transaction has committed
(``after_commit``); writes a crash left unapplied are applied when a store next opens. Since
applying a row twice, or late, is harmless under the newest-wins rule, nothing is lost.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from ..databases import Connection
from ..model.schema import Feature, FeatureGroup

if TYPE_CHECKING:
    from ..databases import Database

Row = Sequence[Any]
EARLIEST = -(2**62)  # a "now" before every expiry: a read at it finds the records the TTL alone hides


class OnlineBackend(ABC):
    name: str
    url: str  # what the studio and ``describe`` show

    def create(self, conn: Connection, group: FeatureGroup) -> None:
        """Make room for a new group."""

    def add_columns(self, conn: Connection, group: str, features: Iterable[Feature]) -> None:
        """Features appended to a group (rows written before read them as null)."""

    @abstractmethod
    def change(self, conn: Connection, old: FeatureGroup, new: FeatureGroup) -> None:
        """A new definition version: features of ``old`` dropped, renamed or widened in ``new``
        (matched by feature id), for the stored rows (in the caller's transaction, or through the
        outbox)."""

    @abstractmethod
    def drop(self, conn: Connection, group: FeatureGroup) -> None:
        """Forget a deleted group's records."""

    @abstractmethod
    def upsert(self, conn: Connection, group: FeatureGroup, rows: Sequence[Row], now_us: int) -> None:
        """Store rows, each only where it is newer than the stored one (see the module docstring)."""

    @abstractmethod
    def current(self, conn: Connection, group: FeatureGroup, record_id: Any) -> tuple[int, int, int | None] | None:
        """(event time, deleted flag, expiry) of the stored row, or None."""

    @abstractmethod
    def remove(self, conn: Connection, group: FeatureGroup, record_id: Any, event_us: int,
               write_us: int) -> None:
        """A hard delete at ``event_us``, written at ``write_us``: forget the record (unless a live
        version at or after ``event_us``, or any later write, got there first)."""

    @abstractmethod
    def get(self, group: FeatureGroup, record_id: Any, now_us: int) -> Row | None:
        """(_expires_us, *features) of the live row, or None (missing, tombstone or expired)."""

    @abstractmethod
    def get_many(self, group: FeatureGroup, record_ids: Sequence[Any], now_us: int) -> dict[Any, Row]:
        """Live rows of the identifiers found, by identifier, in one round trip where it can."""

    @abstractmethod
    def raw(self, group: FeatureGroup, record_id: Any) -> dict[str, Any] | None:
        """The stored row with its metadata: _event_us, _write_us, _expires_us, _deleted and the features."""

    @abstractmethod
    def ids(self, group: FeatureGroup, now_us: int, after: Any, limit: int, include_deleted: bool) -> list[Any]:
        """Identifiers in identifier order after ``after``: live ones (and tombstones if asked)."""

    @abstractmethod
    def count(self, group: FeatureGroup, now_us: int) -> int:
        """Live records."""

    @abstractmethod
    def expired(self, conn: Connection, group: FeatureGroup, now_us: int) -> list[tuple[Any, int]]:
        """(identifier, expiry) of live rows whose TTL has passed."""

    @abstractmethod
    def remove_expired(self, conn: Connection, group: FeatureGroup, records: list[tuple[Any, int]],
                       now_us: int) -> None:
        """Remove those of ``records`` that are still expired."""

    def many_groups(self, requests: Sequence[tuple["Reader", Sequence[Any]]],
                    now_us: int) -> list[tuple[dict[Any, Row], set[Any]]]:
        """For each (group's reader, distinct identifiers), in order: the live rows found, by
        identifier, as ``Reader.many`` gives them, and the identifiers whose record is there but past
        its TTL at ``now_us``; every group as of one moment (one snapshot). Here, group after group:
        one snapshot where the rows live in the store's database and the caller holds one read
        transaction around the call (``DatabaseOnline``); a backend elsewhere overrides it."""
        out = []
        for reader, ids in requests:
            live = reader.many(ids, now_us)
            rest = [k for k in ids if k not in live]
            out.append((live, set(reader.many(rest, EARLIEST)) if rest else set()))
        return out

    def reader(self, group: FeatureGroup) -> "Reader":
        """The group's reads compiled once (the caller keeps it while the definition holds)."""
        return Reader(self, group)

    def each_reader(self, groups: Sequence[FeatureGroup]) -> Callable[[Sequence[Any]], Row] | None:
        """A read of one identifier's row in each group and the registry version in one statement,
        where the backend has one (the store's own SQLite); None: read group by group."""
        return None

    def size_bytes(self, conn: Connection, group: FeatureGroup) -> int | None:
        """What the group's online records take, where the backend can tell cheaply (else None)."""
        return None

    def after_commit(self) -> None:
        """Apply what this thread's last write transaction recorded for later (see the module docstring)."""

    def recover(self, conns: "Database") -> int:
        """Apply writes a crashed process recorded but never applied; returns how many."""
        return 0

    def close(self) -> None:
        """Let go of connections."""


class Reader:
    """One group's online reads, compiled once per definition (``OnlineBackend.reader``) for the
    hot path. Rows come back as the group's features in order (other columns may follow).

    ``versioned`` readers (where the rows live in the registry's own SQLite database) also offer
    ``one_versioned`` and ``many_versioned``, which read the registry version with the rows, so a
    caller may use a cached definition and keep the answer only if the version it saw is the
    definition's."""

    versioned = False

    def __init__(self, backend: OnlineBackend, group: FeatureGroup) -> None:
        self.backend, self.group = backend, group

    def one(self, record_id: Any, now_us: int) -> Row | None:
        row = self.backend.get(self.group, record_id, now_us)
        return None if row is None else row[1:]

    def many(self, record_ids: Sequence[Any], now_us: int) -> dict[Any, Row]:
        """Live rows of the identifiers found, by identifier."""
        return {rid: row[1:] for rid, row in self.backend.get_many(self.group, record_ids, now_us).items()}

    def one_versioned(self, record_id: Any, now_us: int) -> tuple[int | None, Row | None]:
        """(registry version, ``one``'s row) from one statement."""
        raise NotImplementedError

    def many_versioned(self, record_ids: Sequence[Any], now_us: int) -> tuple[int | None, dict[Any, Row]]:
        """(registry version read after the rows, ``many``'s rows): the counter only grows, so when
        it is the version a definition was read at, the rows were read under that definition too."""
        raise NotImplementedError
