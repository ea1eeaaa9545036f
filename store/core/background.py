"""Maintenance in the background of long-running processes (``serve``, ``ui``, later the
scheduler): buffered puts reach Parquet within ``flush_interval`` seconds, and partitions that
collect small files are compacted (and retention applied) every ``compact_interval`` seconds,
when online writes that a crashed client left in the outbox are applied too (see ``store.online``).

Every process flushes (a flush of an empty buffer costs one read); only the process holding the
store's compaction lease compacts, so several server workers do not rewrite the same files.
"""
from __future__ import annotations

import logging
import os
import threading
import uuid
from typing import TYPE_CHECKING

from ..common.timeutil import now_us
from . import upkeep

if TYPE_CHECKING:
    from .context import StoreContext

log = logging.getLogger("store.core.background")
LEASE = "compaction"


class Maintainer:
    """A daemon thread flushing and compacting one store until ``stop``."""

    def __init__(self, ctx: "StoreContext", flush_interval: float, compact_interval: float = 30.0) -> None:
        self.ctx, self.flush_interval, self.compact_interval = ctx, flush_interval, compact_interval
        self.holder = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="featurestore-maintenance", daemon=True)
        self._next_compaction = 0.0

    def start(self) -> "Maintainer":
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the current round, and hand the compaction lease back."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=60)
        try:
            with self.ctx.db.write() as conn:
                conn.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (LEASE, self.holder))
        except Exception:  # noqa: BLE001 - a store closing under us: the lease simply expires
            log.debug("Could not hand the compaction lease back", exc_info=True)

    def _run(self) -> None:
        import time

        while not self._stop.wait(self.flush_interval):
            try:
                with self.ctx.as_store():  # the store's own upkeep, whoever opened it
                    upkeep.flush(self.ctx)
                    if time.monotonic() >= self._next_compaction:
                        self._next_compaction = time.monotonic() + self.compact_interval
                        if self.take_lease():
                            upkeep.compact(self.ctx, None, None, True)
                            self.ctx.online.recover(self.ctx.db)  # online writes a crashed client left
            except Exception:  # noqa: BLE001 - a failed round is logged and retried next round
                log.exception("Background maintenance failed; retrying in %.0f s", self.flush_interval)

    def take_lease(self) -> bool:
        """Hold the store's compaction lease for a few rounds (taken over once it expires)."""
        now = now_us()
        expires = now + int(3 * self.compact_interval * 1_000_000)
        with self.ctx.db.write() as conn:
            conn.execute("INSERT INTO leases VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, "
                         "expires_us = excluded.expires_us WHERE leases.holder = excluded.holder "
                         "OR leases.expires_us < ?", (LEASE, self.holder, expires, now))
            holder = conn.execute("SELECT holder FROM leases WHERE name = ?", (LEASE,)).fetchone()[0]
        return holder == self.holder
