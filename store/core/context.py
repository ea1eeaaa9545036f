"""The kernel under the facade: one ``StoreContext`` per open store, holding what every read and
write path needs (the database, the offline files, the online backend, the groups compiled once,
the policy), built once by ``open_context``. Every module below ``FeatureStore`` takes a context,
or narrower arguments, never the facade.

Access checks reach the core through ``Policy``, a protocol declared here and implemented by
``store.access.guard.Guard``: the core never imports ``access``.
"""
from __future__ import annotations

import copy
import os
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Protocol, Sequence

from ..access import audit
from ..common.duck import Sandboxes
from ..common.timeutil import MAX_DURATION_SECONDS, ttl_to_seconds
from ..databases import Database, open_database, shared
from ..errors import ValidationError
from ..model.schema import FeatureGroup
from ..offline import files as offline_files
from ..offline.files import OfflineFiles
from ..online import OnlineBackend, open_online
from ..pipelines import tables as pipeline_tables
from ..streams import tables as stream_tables
from ..quality import tables as quality_tables
from ..registry import lineage
from .. import registry
from ..storage import config as storage_config
from ..storage import encryption, open_storage

if TYPE_CHECKING:
    from ..offline.snapshot import GroupSnapshot

SCHEMA_VERSION = 12  # 12: streams' offsets; 11: on-demand features; 10: feature services; 9: entities; 8: definition versions; 2: partition choices, retention, storage growth;
# 3: data quality; 4: pipelines; 5: audit; 6: the audit log's head; 7: the audit log's put counts
ONLINE, OFFLINE = "OnlineStore", "OfflineStore"
# How long the policy check's read of the registry version stands in for its call's first lookup.
HAND_ON_NS = 20_000_000


class Policy(Protocol):
    """What the core asks of the access policy in force (``store.access.guard.Guard``)."""

    name: str  # the principal calls act as

    @property
    def governed(self) -> bool: ...

    def may(self, role: str, group: str | None) -> bool: ...

    def visible(self, groups: list[str]) -> list[str]: ...

    def readable_in(self, groups: list[str], version: int) -> bool: ...

    def hidden_lineage(self) -> set[str]: ...

    def require(self, action: str, role: str, group: str | None) -> None: ...

    def require_read(self, groups: list[str]) -> None: ...

    def record(self, action: str, group: str | None, outcome: str, details: dict[str, Any] | None = None) -> None: ...

    def log_in(self, conn: Any, action: str, group: str | None, details: dict[str, Any] | None = None,
               outcome: str = "ok") -> None: ...

    def logged(self, conn: Any, action: str, details: dict[str, Any], group: str | None = None) -> None: ...

    def count_put(self, conn: Any, group: str, at_us: int) -> None: ...


class StoreContext:
    """An open store's parts. Safe to share between threads; ``with_policy`` gives another
    principal's view over the same parts (the server and the studio take one per caller)."""

    def __init__(self, path: str, writer: str, db: Database, files: OfflineFiles, online: OnlineBackend) -> None:
        self.path, self.writer = path, writer
        self.db, self.files, self.online = db, files, online
        self.policy: Policy = None  # type: ignore[assignment]  # set by the facade once the tables exist
        self.opener = True  # the process's own handle, not a principal's view (see with_policy)
        self.calls = threading.local()  # per thread: the checked call running (see store.access.guard)
        self.sandboxes = Sandboxes()
        self.tally = quality_tables.PutTally()
        # name -> ((definition, prepared), the registry version they were read at)
        self._cache: dict[str, tuple[tuple[FeatureGroup, dict], int]] = {}
        self._cache_version = -1
        self._cache_lock = threading.Lock()
        self._writer_edges: set[str] = set()
        # (service, version asked) -> its serving plan (store.retrieval.services), checked against the registry version
        self.plans: dict[tuple[str, int | None], Any] = {}

    def with_policy(self, policy: Callable[["StoreContext"], Policy]) -> "StoreContext":
        """The same parts seen under another policy (``policy(new_context)`` builds it)."""
        other = copy.copy(self)
        other.calls = threading.local()
        other.opener = False
        other.policy = policy(other)
        return other

    def close(self) -> None:
        try:
            self.online.close()
        finally:
            self.db.close()

    # -- groups ----------------------------------------------------------------------------------

    def group(self, name: str) -> tuple[FeatureGroup, dict]:
        """The group's definition and prepared SQL, re-read whenever the registry changed."""
        if not isinstance(name, str):
            raise ValidationError(f"Feature group name must be a string, got {name!r}")
        conn = self.db.get()
        version = self._handed_on(conn)
        if version is None:
            version = self.db.registry_version(conn, registry.version)
        hit = self._cache.get(name)
        if hit is None or hit[1] != version:
            hit = self._load(conn, name)
        return hit[0]

    def cached_group(self, name: str) -> tuple[tuple[FeatureGroup, dict], int] | None:
        """((definition, prepared SQL), the registry version they were read at) as last read, or
        None, without reading the version now: for a read that reads it in its own statement and
        calls ``group`` when it moved (``store.core.lookups``)."""
        return self._cache.get(name) if type(name) is str else None

    def _load(self, conn: Any, name: str) -> tuple[tuple[FeatureGroup, dict], int]:
        """Read the definition, its rules and the version in one snapshot, so the version a cached
        definition carries is exactly the one it was read at. Read inside a transaction of the
        caller's it is not kept: that transaction may have changed the registry and roll back."""
        if conn.in_transaction:
            return self._read(conn, name)
        with self.db.read() as conn:
            hit = self._read(conn, name)
        with self._cache_lock:
            if hit[1] != self._cache_version:  # drop what an older (or newer) registry held
                self._cache.clear()
                self._cache_version = hit[1]
            self._cache[name] = hit
        return hit

    def _read(self, conn: Any, name: str) -> tuple[tuple[FeatureGroup, dict], int]:
        version = self.db.registry_version(conn, registry.version)
        group = registry.load_group(conn, name)
        return (group, self._prepare(group)), version

    def registry_version(self, hand_on: bool = False) -> int:
        """The registry's change counter, read now. ``hand_on`` (the policy's check, just before
        the call it checks runs): keep it for that call's first ``group``, so a checked call reads
        it once, not twice. Voided by any write of this thread in between, and short-lived."""
        conn = self.db.get()
        version = self.db.registry_version(conn, registry.version)
        if hand_on and not getattr(self.calls, "n", 0):
            changes = self.db.changes(conn)
            self.calls.handed = None if changes is None else (version, changes, time.monotonic_ns() + HAND_ON_NS)
        return version

    def _handed_on(self, conn: Any) -> int | None:
        """The version the policy's check just read for the call running (see ``registry_version``), once."""
        calls = self.calls
        handed = getattr(calls, "handed", None)
        if handed is None or getattr(calls, "n", 0) != 1:  # none, or not inside the checked call itself
            return None
        calls.handed = None
        if handed[1] != self.db.changes(conn) or time.monotonic_ns() > handed[2]:
            return None
        return handed[0]

    def end_call(self) -> None:
        """The checked call running on this thread is over: what was handed on to it lapses."""
        self.calls.handed = None

    def _prepare(self, group: FeatureGroup) -> dict:
        """What writes and reads of the group reuse: its SQL, and its rules compiled."""
        from ..model.rules import RecordChecker, parse

        rules = parse(group, quality_tables.settings(self.db.get(), group.name)["rules"])
        return {
            "rules": rules,
            "checker": RecordChecker(group, rules) if any(r.row_level and r.check != "unique" for r in rules) else None,
            "names": group.feature_names,
            "json_cols": frozenset(i for i, f in enumerate(group.features) if f.is_collection),
            "stage": offline_files.stage_sql(group),
            "by_name": {f.name: f for f in group.features},
        }

    def targets(self, group: FeatureGroup, target_stores: Iterable[str] | None) -> tuple[bool, bool]:
        """(online, offline): which stores a write goes to."""
        if target_stores is None:
            return group.online, group.offline
        if isinstance(target_stores, str):
            target_stores = [target_stores]
        wanted = set()
        for t in target_stores:
            key = {"onlinestore": ONLINE, "online": ONLINE, "offlinestore": OFFLINE, "offline": OFFLINE}.get(str(t).lower())
            if key is None:
                raise ValidationError(f"target_stores value {t!r} is not a store: use 'OnlineStore' or 'OfflineStore'")
            wanted.add(key)
        if not wanted:
            raise ValidationError("target_stores is empty: name OnlineStore, OfflineStore or both")
        for key, enabled in ((ONLINE, group.online), (OFFLINE, group.offline)):
            if key in wanted and not enabled:
                raise ValidationError(f"Feature group {group.name!r} has no {key}; drop it from target_stores",
                                      group=group.name)
        return ONLINE in wanted, OFFLINE in wanted

    @staticmethod
    def ttl_us(group: FeatureGroup, ttl: Any) -> int | None:
        """A write's TTL in microseconds: ``ttl``, else the group's default, else None."""
        seconds = ttl_to_seconds(ttl) if ttl is not None else group.ttl_seconds
        if seconds is not None and seconds > MAX_DURATION_SECONDS:  # set before TTLs were bounded
            raise ValidationError(f"Feature group {group.name!r} has a TTL of {seconds:g} seconds, longer than the "
                                  f"{MAX_DURATION_SECONDS:,} (100 years) a write can hold; set a shorter one with "
                                  "update_feature_group(ttl=...) or remove it with ttl=None", group=group.name)
        return None if seconds is None else round(seconds * 1_000_000)

    def note_writer(self, conn: Any, group: str, now: int) -> None:
        """Link this client to the group in lineage once per process (puts are too hot for more)."""
        if group in self._writer_edges:
            return
        node = f"writer:{self.writer}"
        lineage.upsert_node(conn, node, "writer", self.writer, now, {"client": self.writer})
        lineage.add_edge(conn, node, f"feature_group:{group}", "writes_to", now)
        self._writer_edges.add(group)

    # -- offline reads ---------------------------------------------------------------------------

    def snapshots(self, groups: Sequence[str], max_event_us: int | None = None,
                  max_write_us: int | None = None, known_us: int | None = None) -> list["GroupSnapshot"]:
        """The groups' offline files as of now, after the policy's read check (every offline read,
        whichever function asks, meets it here); with ``known_us``, read under the definitions
        in force at that write time (see ``model.versions``)."""
        from ..offline.snapshot import snapshot

        self.policy.require_read(list(groups))
        defs = []
        for name in groups:
            g, _ = self.group(name)
            if not g.offline:
                raise ValidationError(f"Feature group {name!r} has no offline store, so no history to read", group=name)
            g.check_readable()
            defs.append(g)
        with self.db.read() as conn:
            if known_us is not None:
                defs = [g if g.version == 1 else registry.load_version(conn, g, registry.version_at(conn, g.name, known_us))
                        for g in defs]
            return [snapshot(conn, self.files, g, max_event_us, max_write_us) for g in defs]

    def sandbox_cursor(self, groups: Sequence[str] | None = None) -> Any:
        """A cursor for user SQL that reads the offline folder (or only the folders of ``groups``)
        and nothing else (see ``OfflineFiles.sql_folders``)."""
        return self.sandboxes.cursor(self.files.sql_folders(groups) or [os.path.join(self.path, ".none")])

    @contextmanager
    def as_store(self) -> Iterator[None]:
        """Calls made inside are the store's own upkeep (flushing, compaction, closing), not a
        principal's: the policy does not apply to them."""
        self.calls.trusted = getattr(self.calls, "trusted", 0) + 1
        try:
            yield
        finally:
            self.calls.trusted -= 1

    def recover(self) -> None:
        """Remove files that a writer killed mid-write left behind (see OfflineFiles.recover), and
        apply online writes a crashed client left in the outbox."""
        for name in self.files.interrupted():
            with self.db.write() as conn:
                self.files.recover(conn, name)
        self.online.recover(self.db)


def open_context(path: str, writer: str, *, key: Any = None, offline: str | None = None,
                 online: str | None = None, registry_url: str | None = None,
                 policy: Callable[[StoreContext], Policy]) -> StoreContext:
    """Open (or create) the store's parts at ``path`` (see ``FeatureStore``); ``policy(context)``
    builds the policy once the database is open, before a new store's tables are made."""
    path, offline = shared.locate(path, offline, registry_url)
    os.makedirs(path, exist_ok=True)
    secret = encryption.load_key(path, key)
    db = open_database(path, registry_url, secret)
    # A new store whose tables other machines open names its offline folder in its config.
    pinned = registry_url is not None and db.shared_id is not None
    files = OfflineFiles(open_storage(path, offline, pin=pinned), encryption.ParquetKey(secret, path) if secret else None)
    ctx = StoreContext(path, writer, db, files, open_online(path, db, online))
    try:
        ctx.policy = policy(ctx)
        conn = db.get()
        # Only a new store takes the write lock here, so opening never waits behind a long ingest.
        if db.schema_version(conn) < SCHEMA_VERSION:
            with db.write() as conn:
                registry.init(conn, db)
                offline_files.init(conn, db)
                lineage.init(conn)
                quality_tables.init(conn)
                pipeline_tables.init(conn)
                stream_tables.init(conn)
                audit.init(conn)
                db.set_schema_version(conn, SCHEMA_VERSION)
        if db.shared_id is not None:
            with db.read() as conn:
                files.claim(conn, db.shared_id)
            shared.publish(db, storage_config.read(path))
    except BaseException:
        ctx.close()
        raise
    return ctx
