"""What online backends outside the store's database share: the outbox.

Such a backend cannot join the database transaction that writes the offline rows, so each online
write is recorded in ``online_outbox`` in that transaction and applied to the backend once it
has committed (``after_commit``); a rollback forgets it. Entries a crash left unapplied are
applied when a store next opens, or by background maintenance (``recover``). Every operation is
idempotent and safe to apply late: upserts follow the newest-wins rule, and removals carry
their write time and spare rows written after them.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from abc import abstractmethod
from typing import TYPE_CHECKING, Any

from ..databases import Connection
from ..model.schema import FeatureGroup
from .base import OnlineBackend

if TYPE_CHECKING:
    from ..databases import Database

OUTBOX = """
CREATE TABLE IF NOT EXISTS online_outbox (
    token TEXT PRIMARY KEY,
    group_name TEXT NOT NULL,
    op TEXT NOT NULL,
    payload TEXT NOT NULL
)
"""
DELETE_BATCH = 256  # applied entries are deleted in batches of this many


class OutboxBackend(OnlineBackend):
    def __init__(self, conns: "Database") -> None:
        self.conns = conns
        with conns.write() as conn:
            conn.execute(OUTBOX)
        self._local = threading.local()  # this thread's writes waiting for their transaction to commit
        self._applied: list[str] = []
        self._lock = threading.Lock()
        self._versions: dict[tuple[str, Any, int], FeatureGroup] = {}

    def _version(self, group: FeatureGroup, version: int) -> FeatureGroup:
        """``group`` (the current definition) as it was at ``version``: the layout of rows written
        then (kept versions never change, so they are cached)."""
        from .. import registry

        if version == group.version:
            return group
        key = (group.name, group.created_at, version)
        found = self._versions.get(key)
        if found is None:
            with self.conns.read() as conn:
                found = self._versions[key] = registry.load_version(conn, group, version)
        return found

    @abstractmethod
    def _apply(self, group: str, op: str, payload: Any) -> None:
        """Carry out one recorded write (idempotent; see the module docstring)."""

    def _record(self, conn: Connection, group: str, op: str, payload: Any) -> None:
        token = f"{time.time_ns():020d}{uuid.uuid4().hex[:12]}"  # sorts in the order recorded
        conn.execute("INSERT INTO online_outbox VALUES (?, ?, ?, ?)", (token, group, op, json.dumps(payload)))
        pending = getattr(self._local, "pending", None)
        if not pending:
            pending = self._local.pending = []
            self.conns.on_rollback(pending.clear)  # a rolled-back write is never applied
        pending.append((token, group, op, payload))

    def after_commit(self) -> None:
        pending = getattr(self._local, "pending", None)
        if not pending:
            return
        self._local.pending = []
        for _token, group, op, payload in pending:
            self._apply(group, op, payload)
        with self._lock:
            self._applied += [p[0] for p in pending]
            done = self._applied if len(self._applied) >= DELETE_BATCH else None
            if done:
                self._applied = []
        if done:
            self._forget(done)

    def recover(self, conns: "Database") -> int:
        rows = conns.get().execute("SELECT token, group_name, op, payload FROM online_outbox ORDER BY token").fetchall()
        for _token, group, op, payload in rows:  # in the order they were recorded
            self._apply(group, op, json.loads(payload))
        if rows:
            self._forget([r[0] for r in rows])
        return len(rows)

    def _forget(self, tokens: list[str]) -> None:
        with self.conns.write() as conn:
            conn.executemany("DELETE FROM online_outbox WHERE token = ?", [(t,) for t in tokens])

    def close(self) -> None:
        with self._lock:
            done, self._applied = self._applied, []
        if done:
            self._forget(done)
