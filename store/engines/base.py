"""The interface an offline query engine implements, and what the engine-neutral callers hand it.

An engine reads groups from their snapshots (the manifest's file list and the staged rows, see
``offline.snapshot.GroupSnapshot``) and answers three kinds of work: user SQL (``query``), the
point-in-time join behind ``build_dataset`` (``join``) and a group's statistics
(``summary_row``, running ``plans``). Callers never import an engine's library; two engines given
the same call return the same rows, in the same order, with the same Arrow types. This module
imports no engine: ``store.engines.get`` finds them.
"""
from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Protocol, Sequence

if TYPE_CHECKING:
    import pyarrow as pa

    from ..offline.snapshot import GroupSnapshot
    from ..model.schema import FeatureGroup


class Governed(Protocol):
    @property
    def governed(self) -> bool: ...


class ReadContext(Protocol):
    """What an engine asks of the store it reads for a user's SQL (``core.context.StoreContext``
    has it): the groups' snapshots, taken after the policy's read check, and a sandboxed cursor."""

    policy: Governed  # a governed store's SQL sees only the folders of the groups it may read

    def snapshots(self, groups: Sequence[str], max_event_us: int | None = None,
                  max_write_us: int | None = None) -> list["GroupSnapshot"]: ...

    def sandbox_cursor(self, groups: Sequence[str] | None = None) -> Any: ...


@dataclass
class JoinPlan:
    """A point-in-time join, engine-neutral. ``entity`` holds the entity columns and ``__row``
    (0..n-1), ``__ts`` (timestamp[us, UTC]) and ``__k<i>`` (group i's key, typed as its
    identifier; for a key of several columns ``__k<i>_0``, ``__k<i>_1``... in key order: see
    ``key_pairs``). The answer: the entity columns, then each chosen feature under its output name,
    then ``__hit<i>`` (a live version of group i was found), one row per entity row in ``__row``
    order (several per row with ``include_duplicates``, ordered by write time and sequence)."""

    entity: "pa.Table"
    entity_columns: list[str]
    selection: list[tuple["FeatureGroup", list[str]]]
    snaps: list["GroupSnapshot"]
    out_names: dict[tuple[str, str], str]
    known_us: int | None
    lo_us: int | None
    hi_us: int | None
    include_deleted: bool
    include_duplicates: bool
    ttl_lookback: bool
    write_time_guard: bool

    def version_filter(self, literal: Callable[[int], str]) -> str:
        """Which versions the join may use (``known_at``, ``event_time_range``, deletes with
        ``include_deleted``), in SQL whose timestamp literal of ``us`` is ``literal(us)``."""
        where = ["TRUE"]
        if self.known_us is not None:
            where.append(f"write_time <= {literal(self.known_us)}")
        if self.lo_us is not None:
            where.append(f"_event_time >= {literal(self.lo_us)}")
        if self.hi_us is not None:
            where.append(f"_event_time <= {literal(self.hi_us)}")
        if self.include_deleted:
            where.append("NOT is_deleted")
        return " AND ".join(where)

    def outputs(self, i: int, quote: Callable[[str], str], micros: Callable[[str], str],
                name: Callable[[int, str], str]) -> tuple[list[str], str]:
        """Group i's feature columns and its hit flag, in the SQL of an engine whose identifiers
        are quoted by ``quote`` and whose microseconds of a timestamp ``e`` are ``micros(e)``;
        ``name(j, feature)`` names the j-th feature's column. A matched version reads as null when
        stale: a delete marker, or (with ``ttl_lookback``) older than the group's TTL at the
        entity time."""
        group, feats = self.selection[i]
        alias = f"__d{i}" if self.include_duplicates else f"__m{i}"
        stale = [f"{alias}.__del"] if not self.include_deleted else []
        if self.ttl_lookback and group.ttl_seconds:
            stale.append(f"{micros(f'{alias}.__ev')} < {micros('__e.__ts')} - {round(group.ttl_seconds * 1e6)}")
        selects = []
        for j, f in enumerate(feats):
            expr = f"{alias}.{quote(f)}"
            if stale:
                expr = f"CASE WHEN {' OR '.join(stale)} THEN NULL ELSE {expr} END"
            selects.append(f"{expr} AS {name(j, f)}")
        live = f" AND NOT coalesce({' OR '.join(stale)}, FALSE)" if stale else ""
        return selects, f"({alias}.{self.key_pairs(i)[0][1]} IS NOT NULL{live}) AS __hit{i}"

    def key_pairs(self, i: int) -> list[tuple[str, str]]:
        """(entity column, version column) of group i's key, column by column: ``__k<i>`` and
        ``__k``, or for a key of several columns ``__k<i>_<j>`` and ``__k_<j>``."""
        return key_pairs(self.selection[i][0], i)

    def key_select(self, i: int, quote: Callable[[str], str]) -> str:
        """Group i's key columns named as ``key_pairs``' version columns, for its versions' SELECT."""
        group = self.selection[i][0]
        return ", ".join(f"{quote(k)} AS {v}" for k, (_, v) in zip(group.identifiers, self.key_pairs(i)))

    def key_match(self, i: int, entity: str, version: str) -> str:
        """Entity alias ``entity``'s key of group i equals version alias ``version``'s."""
        return " AND ".join(f"{entity}.{e} = {version}.{v}" for e, v in self.key_pairs(i))

    def same_key(self, i: int, left: str, right: str) -> str:
        """Two versions of group i (aliases) have the same key."""
        return " AND ".join(f"{left}.{v} = {right}.{v}" for _, v in self.key_pairs(i))

    def version_keys(self, i: int) -> list[str]:
        return [v for _, v in self.key_pairs(i)]


def key_pairs(group: "FeatureGroup", i: int) -> list[tuple[str, str]]:
    """``JoinPlan.key_pairs`` of ``group`` as the plan's i-th group."""
    if not group.composite:
        return [(f"__k{i}", "__k")]
    return [(f"__k{i}_{j}", f"__k_{j}") for j in range(len(group.identifiers))]


class Engine(ABC):
    name: str
    takes_session: ClassVar[bool] = False  # built as cls(session) (a cluster's), else cls()

    @abstractmethod
    def query(self, ctx: ReadContext, sql: str, groups: Sequence[str], limit: int | None,
              timeout: float | None = None, cancel: threading.Event | None = None) -> "pa.Table":
        """Read-only SQL over ``groups`` (those the caller may read), each a view named like the group."""

    @abstractmethod
    def join(self, plan: JoinPlan) -> tuple["pa.Table", str]:
        """The point-in-time join (see JoinPlan) and the SQL that computed it."""

    @abstractmethod
    def summary_row(self, snap: "GroupSnapshot", scope: str) -> "pa.Table":
        """One row of raw aggregates over the group's rows in ``scope``: ``plans``' aggregates, which
        ``retrieval.stats.summary`` words."""

