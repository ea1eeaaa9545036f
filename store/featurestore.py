"""``FeatureStore``: the public entry point tying registry, online and offline stores together."""
from __future__ import annotations

import atexit
import itertools
import os
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Iterable, Sequence

from .model import layout, record as records
from .registry import lineage
from . import registry
from .core import context, lookups
from .offline import files as offline_store
from .access import local as local_access
from .access import policy as access_policy
from .access import published as published_access
from .access.api import AccessMethods
from .access.guard import counts, install
from .model.coerce import coerce_event_time
from .errors import AccessDenied, StorageFull, ValidationError
from .offline.files import FLUSH_ROWS
from .pipelines.api import PipelineMethods
from .quality import tables as quality_tables
from .quality.api import QualityMethods
from .model.schema import Feature, FeatureGroup, check_parameters, check_text, validate_definition
from .common.timeutil import (
    arg_to_us,
    check_time_format,
    now_us,
    retention_seconds,
    ttl_to_seconds,
)

if TYPE_CHECKING:
    import pandas as pd

    from .retrieval.dataset import Dataset
    from .ingest.prepare import IngestReport

# Buffered puts reach Parquet within this many seconds in processes running background maintenance
# (SageMaker documents up to 15 minutes for its offline store).
FLUSH_INTERVAL = 5.0
_UNSET: Any = object()


def default_path() -> str:
    """``$FEATURESTORE_HOME`` (a folder, or a shared store's URL), else ``./.featurestore``."""
    return os.environ.get("FEATURESTORE_HOME") or os.path.join(os.getcwd(), ".featurestore")


class FeatureStore(QualityMethods, PipelineMethods, AccessMethods):
    """A feature store in one folder: ``featurestore.db`` (registry, online store, staging) and
    ``offline/`` (Parquet). Safe to share between threads; several processes may open the same
    folder at once.
    """

    def __init__(self, path: str | os.PathLike | None = None, writer: str = "python-sdk", *,
                 flush_interval: float = FLUSH_INTERVAL, background: bool = False, principal: Any = None,
                 access: str | None = None, key: Any = None, offline: str | None = None,
                 online: str | None = None, registry: str | None = None) -> None:
        """Open (or create) the store at ``path``. ``background`` starts a maintenance thread (what
        ``serve`` and ``ui`` do) that moves buffered puts to Parquet every ``flush_interval``
        seconds and compacts small files; without it, buffered puts reach Parquet after
        FLUSH_ROWS puts, on ``flush()``/``close()``, and when the interpreter exits.

        With an access file (``access``, else ``access.yaml`` in the store folder) every call is
        checked against ``principal``'s roles (default: $FEATURESTORE_PRINCIPAL, else the OS
        user) and raises AccessDenied when refused; see ``store.access``. An encrypted store
        (``featurestore init --encrypt``) needs its ``key`` (or $FEATURESTORE_KEY /
        $FEATURESTORE_KEY_FILE); see ``store.storage.encryption``. ``offline`` puts a new store's
        Parquet files elsewhere (a folder, or ``s3://bucket/prefix``); see ``store.storage``;
        ``online`` its online records (``redis://...``; see ``store.online``), ``registry``
        its tables (``postgresql://...``, so stores on several machines share them; see
        ``store.databases``). Such a store opens on any machine from its URL given as ``path``
        (``postgresql://...?schema=...``, its ``shared_url``; see ``store.databases.shared``)."""
        self._ctx = context.open_context(
            os.fspath(path) if path is not None else default_path(), writer, key=key, offline=offline, online=online,
            registry_url=registry, policy=lambda ctx: published_access.guard(
                ctx, access or access_policy.find(ctx.path), principal))
        try:  # the local policy noted and recorded; a store that had one refused without it
            local_access.at_open(self._ctx)
        except AccessDenied:
            self._ctx.close()
            raise
        self._ctx.recover()
        self._maintainer = None
        if background:
            from .core.background import Maintainer

            self._maintainer = Maintainer(self._ctx, flush_interval).start()
        atexit.register(_flush_at_exit, weakref.ref(self))

    @property
    def path(self) -> str:
        """The store's folder."""
        return self._ctx.path

    @property
    def writer(self) -> str:
        """This client's name in lineage and quarantine records (``writer=`` when opened)."""
        return self._ctx.writer

    # ----------------------------------------------------------------------------- plumbing

    def close(self) -> None:
        """Stop background maintenance, flush buffered offline rows to Parquet and close connections.
        Raises StorageFull after closing when the disk is too full to flush (the rows stay buffered)."""
        full: StorageFull | None = None
        try:
            if self._maintainer is not None:
                self._maintainer.stop()
            with self._ctx.as_store():
                try:
                    self.flush()
                except StorageFull as exc:
                    full = exc
        finally:
            self._ctx.close()
        if full is not None:
            raise StorageFull(f"The store was closed, but the disk holding it is full, so the buffered puts were not "
                              f"moved to Parquet; they are kept in the database and move at the next flush once "
                              f"there is space ({full.message})") from full

    def __enter__(self) -> "FeatureStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FeatureStore({self.path!r})"

    def _record_id(self, group: FeatureGroup, record_id: Any) -> Any:
        return records.identifier(group, record_id)

    # ----------------------------------------------------------------------------- groups

    def create_feature_group(
        self, name: str, record_identifier: str, event_time: str, features: Sequence[Feature | dict] | None = None,
        *, dataframe: Any = None, description: str = "", tags: dict[str, str] | None = None,
        online: bool = True, offline: bool = True, ttl: Any = None, extra: dict[str, Any] | None = None,
        partition_by: str = layout.DEFAULT_PARTITION, offline_retention: Any = None, time_format: str | None = None,
    ) -> FeatureGroup:
        """Create a group from ``features``, or infer them from ``dataframe`` (a DataFrame, Arrow
        table or file; its data is not ingested, and a column whose name is not a valid feature
        name gets a sanitised one, which ingest maps it onto). ``partition_by``: day, hour, month
        or none; ``offline_retention``: a timedelta or days of history to keep (None: all).
        ``time_format`` (strftime codes, '%d.%m.%Y %H:%M') is how the files' event times are
        written; it is kept with the group, so every ingest reads them so (detected from
        ``dataframe`` when unambiguous). Raises ValidationError (also for a ``dataframe`` whose
        event times do not parse, or are ambiguous without ``time_format``), Conflict."""
        from .ingest.prepare import INGEST_SETTINGS

        if time_format is not None:
            check_time_format(time_format)
        if features is None:
            if dataframe is None:
                raise ValidationError(f"Feature group {name!r} needs features=[...] or a dataframe= to infer them from")
            from .ingest.infer import propose_data

            proposal = propose_data(dataframe, event_time, record_identifier, time_format=time_format)
            proposal.check_event_time()  # raises: a group that could not take its own sample
            features = proposal.features
            record_identifier, event_time = proposal.record_identifier, proposal.event_time
            time_format = proposal.time_format
        if time_format is not None:
            extra = {**(extra or {}), INGEST_SETTINGS: {**(extra or {}).get(INGEST_SETTINGS, {}),
                                                        "time_format": time_format}}
        feats = [f if isinstance(f, Feature) else Feature.from_dict(f) for f in features]
        tags = dict(tags or {})
        ttl_seconds = ttl_to_seconds(ttl)
        retention = retention_seconds(offline_retention)
        validate_definition(name, record_identifier, event_time, feats, description, tags, online, offline)
        self._ctx.db.check_width(name, len(feats))
        layout.check(partition_by)
        if ttl_seconds is not None and not online:
            raise ValidationError(f"Feature group {name!r}: a TTL applies to the online store; enable it or drop ttl")
        now = now_us()
        group = FeatureGroup(
            name=name, record_identifier=record_identifier, event_time=event_time, features=tuple(feats),
            description=description, tags=tags, online=online, offline=offline, ttl_seconds=ttl_seconds,
            created_at=now, modified_at=now, created_by=lineage.user(),
            offline_path=self._ctx.files.storage.url(self._ctx.files.data_dir(name)), partition_by=partition_by,
            offline_retention_seconds=retention,
        )
        with self._ctx.db.write() as conn:
            if conn.execute("SELECT 1 FROM feature_groups WHERE name = ?", (name,)).fetchone():
                registry.insert_group(conn, group, now, extra or {})  # raises Conflict
            twin = conn.execute("SELECT name FROM feature_groups WHERE lower(name) = ?", (name.lower(),)).fetchone()
            if twin and not self._ctx.policy.may("viewer", twin[0]):  # refused without naming a group it may not see
                raise ValidationError(f"Feature group name {name!r} is taken (SQL does not tell letter case apart); "
                                      "pick another name", group=name)
            if twin:  # its tables and SQL views would be the same ones
                raise ValidationError(f"Feature group {name!r} differs from the existing group {twin[0]!r} only in letter "
                                      "case; SQL cannot tell them apart, so pick another name", group=name)
            self._ctx.files.retire(name)  # files a deleted namesake kept
            registry.insert_group(conn, group, now, extra or {})
            if online:
                self._ctx.online.create(conn, group)
            if offline:
                offline_store.create_staging(conn, group)
            lineage.upsert_node(conn, f"feature_group:{name}", "feature_group", name, now,
                                {"description": description, "deleted": False, "features": len(feats)})
        return self.feature_group(name)

    def feature_group(self, name: str) -> FeatureGroup:
        """The group's definition. Raises NotFound."""
        return self._ctx.group(name)[0]

    def list_feature_groups(self) -> list[FeatureGroup]:
        return registry.load_all(self._ctx.db.get())

    def describe(self, name: str, storage: bool = True) -> dict[str, Any]:
        """Definition plus live figures: record counts, files, last event and last write, and (with
        ``storage``) what the group costs on disk: online bytes, the oldest event kept, the start of
        the retained history and the offline growth per day over 30 days."""
        from .offline import usage as disk

        group = self.feature_group(name)
        now = now_us()
        with self._ctx.db.read() as conn:
            st = registry.state(conn, name)
            files = self._ctx.files.stats(conn, name)
            online_count = self._ctx.online.count(group, now) if group.online else None
            usage = {"online_bytes": self._ctx.online.size_bytes(conn, group) if group.online else None,
                     "growth_per_day": disk.growth(conn, name, now)} if storage else {}
        return {
            "group": group, "online_records": online_count, "offline_rows": files["rows"] + st["staged_rows"],
            "staged_rows": st["staged_rows"], "offline_files": files["files"], "offline_bytes": files["bytes"],
            "last_event_us": st["last_event_us"], "last_write_us": st["last_write_us"] or None,
            "write_seq": st["seq"], "offline_uri": self._ctx.files.storage.url(self._ctx.files.data_dir(name)), "extra": group.extra,
            "partition_by": group.partition_by, "offline_retention_seconds": group.offline_retention_seconds,
            "retained_from_us": st["retained_from_us"], "oldest_event_us": files["oldest_event_us"], **usage,
            "warnings": [_clash_warning(group)] if group.reserved_clashes else [],
        }

    def storage(self, group: str | None = None) -> list[dict[str, Any]]:
        """Storage use of one group or of every group, largest first (``featurestore du``)."""
        names = [group] if group else [g.name for g in self.list_feature_groups()]
        rows = [self.describe(n) for n in names]
        return sorted(rows, key=lambda r: -((r["online_bytes"] or 0) + r["offline_bytes"]))

    def search(self, text: str) -> list[dict[str, Any]]:
        """Groups and features whose name, description, tags or parameters contain ``text``."""
        return registry.search(self._ctx.db.get(), text)

    def update_feature_group(self, name: str, *, description: str | None = None, tags: dict[str, str] | None = None,
                             add_tags: dict[str, str] | None = None, remove_tags: Iterable[str] = (),
                             ttl: Any = _UNSET, extra: dict[str, Any] | None = None,
                             offline_retention: Any = _UNSET) -> FeatureGroup:
        """Change description; tags (``tags`` replaces them, ``add_tags``/``remove_tags`` edit them);
        the default TTL (None removes it; it applies to records written afterwards); ``extra``
        (merged key by key); ``offline_retention`` (None keeps all history; compaction applies it).
        Edits are read and written in one transaction, so concurrent writers do not lose each
        other's changes."""
        group = self.feature_group(name)
        if description is not None and not isinstance(description, str):
            raise ValidationError("description must be a string")
        if description is not None:
            check_text(description, f"Description of {name!r}")
        if ttl is not _UNSET and ttl is not None and not group.online:
            raise ValidationError(f"Feature group {name!r} has no online store, so no TTL")
        ttl_seconds = ttl_to_seconds(ttl) if ttl is not _UNSET else None
        retention = retention_seconds(offline_retention) if offline_retention is not _UNSET else None
        if offline_retention is not _UNSET and retention is not None and not group.offline:
            raise ValidationError(f"Feature group {name!r} has no offline store, so no offline retention")
        remove = set(remove_tags)
        with self._ctx.db.write() as conn:
            current = registry.load_group(conn, name)
            fields: dict[str, Any] = {}
            if description is not None:
                fields["description"] = description
            if tags is not None or add_tags or remove:
                merged = {**(current.tags if tags is None else dict(tags)), **(add_tags or {})}
                merged = {k: v for k, v in merged.items() if k not in remove}
                fields["tags"] = check_parameters(merged, f"feature group {name!r}", limit=50, what="tags")
            if ttl is not _UNSET:
                fields["ttl_seconds"] = ttl_seconds
            if offline_retention is not _UNSET:
                fields["offline_retention_seconds"] = retention
            if extra is not None:
                fields["extra"] = {**current.extra, **extra}
            if fields:
                registry.update_group(conn, name, now_us(), **fields)
        return self.feature_group(name)

    def add_features(self, name: str, features: Sequence[Feature | dict]) -> FeatureGroup:
        """Add features; existing rows read them as null. Features are never removed or retyped."""
        group = self.feature_group(name)
        feats = [f if isinstance(f, Feature) else Feature.from_dict(f) for f in features]
        if not feats:
            raise ValidationError(f"No new features to add to {name!r}: give each one a name and a type")
        existing = {n.lower(): n for n in group.feature_names}  # SQL does not tell 'age' from 'AGE'
        for f in feats:
            twin = existing.get(f.name.lower())
            if twin == f.name:
                raise ValidationError(f"Feature group {name!r} already has a feature {f.name!r}; features cannot be "
                                      "retyped, so pick a new name", group=name, feature=f.name)
            if twin is not None:
                raise ValidationError(f"Feature {f.name!r} differs from {twin!r} of {name!r} only in letter case; SQL "
                                      "cannot tell them apart, so pick another name", group=name, feature=f.name)
            existing[f.name.lower()] = f.name
        self._ctx.db.check_width(name, len(existing))
        now = now_us()
        with self._ctx.db.write() as conn:
            registry.insert_features(conn, name, feats, len(group.features), now)
            registry.update_group(conn, name, now)
            if group.online:
                self._ctx.online.add_columns(conn, name, feats)
            if group.offline:
                offline_store.add_staging_columns(conn, name, feats)
        return self.feature_group(name)

    def update_feature_metadata(self, group: str, feature: str, *, description: str | None = None,
                                parameters: dict[str, str] | None = None,
                                remove_parameters: Iterable[str] = ()) -> Feature:
        """Set a feature's description; add or change ``parameters``; drop ``remove_parameters``."""
        current = self.feature_group(group).feature(feature)
        params = dict(current.parameters)
        params.update(parameters or {})
        for key in remove_parameters:
            params.pop(key, None)
        check_parameters(params, f"feature {feature!r}")
        if description is not None and (not isinstance(description, str) or len(description) > 255):
            raise ValidationError(f"Description of feature {feature!r} must be a string of at most 255 characters")
        if description is not None:
            check_text(description, f"Description of feature {feature!r}")
        with self._ctx.db.write() as conn:
            registry.update_feature(conn, group, feature, now_us(), description, params)
        return self.feature_group(group).feature(feature)

    def feature_metadata(self, group: str, feature: str) -> dict[str, Any]:
        """A feature's definition with its creation and last-modified times."""
        f = self.feature_group(group).feature(feature)
        added, modified = registry.feature_times(self._ctx.db.get(), group, feature)
        return {**f.to_dict(), "group": group, "created_us": added, "modified_us": modified}

    def delete_feature_group(self, name: str, purge_offline: bool = False) -> None:
        """Remove the group's online data and registry entry; its Parquet files stay on disk
        (buffered rows are flushed to them first) unless ``purge_offline``."""
        from .core.upkeep import flush_locked

        group = self.feature_group(name)
        now = now_us()
        with self._ctx.db.write() as conn:
            if group.offline:
                flush_locked(self, conn, group, now)
                offline_store.drop_staging(conn, name)
            self._ctx.online.drop(conn, group)
            self._ctx.files.forget(conn, name)
            quality_tables.forget(conn, name)
            registry.delete_group(conn, name)
            lineage.upsert_node(conn, f"feature_group:{name}", "feature_group", name, now,
                                {"deleted": True, "deleted_us": now, "offline_purged": purge_offline})
        self._ctx.files.committed(name)
        self._ctx.online.after_commit()
        if purge_offline:
            self._ctx.files.purge(name)

    # ----------------------------------------------------------------------------- records

    def put_record(self, group: str, record: dict[str, Any], target_stores: Iterable[str] | None = None,
                   ttl: Any = None, *, source: str | None = None) -> None:
        """Write one record (a full overwrite: omitted features become null). A record the types or
        the group's row rules refuse raises ValidationError naming the rule, feature and value, and
        is kept in the quarantine with ``source`` (default: this client's writer name)."""
        g, prep = self._ctx.group(group)
        to_online, to_offline = self._ctx.targets(g, target_stores)
        try:
            values, event_us = records.typed(g, prep["by_name"], record)
        except ValidationError as exc:
            self._refuse(g, record, "type", exc.message, source)
            raise
        warned: list[str] = []
        if prep["checker"] is not None:
            failed = prep["checker"].failures(values)
            refused = [r for r in failed if r.severity != "warn"]
            if refused:
                message = records.refused_message(g, values, refused)
                self._refuse(g, record, ",".join(r.name for r in refused), message, source)
                raise ValidationError(message, group=group, rule=refused[0].name, feature=refused[0].feature)
            warned = [r.name for r in failed]
        ttl_us = self._ctx.ttl_us(g, ttl) if to_online else None
        row = [values.get(n) for n in prep["names"]]
        for i in prep["json_cols"]:
            if row[i] is not None:
                row[i] = json_dumps(row[i])
        api = now_us()
        with self._ctx.db.write() as conn:
            seq, wt, staged = registry.allocate(conn, group, 1, api, event_us, staged=int(to_offline))
            if to_online:
                expires = None if ttl_us is None else event_us + ttl_us
                self._ctx.online.upsert(conn, g, [(event_us, wt, expires, 0, *row)], wt)
            if to_offline:
                offline_store.stage(conn, g, [(event_us, wt, api, seq, 0, *row)], prep["stage"])
            self._ctx.note_writer(conn, group, wt)
            self._ctx.policy.count_put(conn, group, wt)  # in the put's own transaction: no put uncounted
        self._ctx.online.after_commit()
        self._ctx.tally.count(group, wt, source or self.writer, True, warned, [])
        if staged >= FLUSH_ROWS:
            self.flush(group)

    def get_record(self, group: str, record_id: Any, features: Sequence[str] | None = None) -> dict[str, Any] | None:
        """The latest live record from the online store, or None (missing, deleted or expired)."""
        return lookups.get_record(self._ctx, group, record_id, features)

    def batch_get_records(self, group: str, record_ids: Sequence[Any], features: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Live records for the identifiers found, in the order asked; missing ones are skipped."""
        return lookups.batch_get_records(self._ctx, group, record_ids, features)

    def list_record_ids(self, group: str, after: Any = None, limit: int = 100,
                        include_deleted: bool = False) -> list[Any]:
        """Identifiers in the online store in identifier order, after ``after`` (for paging).
        Expired records are left out; tombstones only with ``include_deleted``."""
        return lookups.list_record_ids(self._ctx, group, after, limit, include_deleted)

    def online_record(self, group: str, record_id: Any) -> dict[str, Any] | None:
        """The online row with its metadata (event, write and expiry times, tombstone flag), or None."""
        return lookups.online_record(self._ctx, group, record_id)

    def delete_record(self, group: str, record_id: Any, event_time: Any, hard: bool = False,
                      target_stores: Iterable[str] | None = None) -> str:
        """Delete a record as of ``event_time``; a soft delete leaves a tombstone that blocks older
        puts, a hard one forgets the record (its event time must be newer than the stored one).
        Both append a delete marker offline. Raises ValidationError.

        Returns what happened online: "deleted" (a live record is gone), "not_live" (there was
        none; a soft delete still leaves its tombstone), "newer_kept" (the stored version is newer
        than the delete and stays) or "offline_only" (``target_stores`` left the online store out)."""
        g, prep = self._ctx.group(group)
        to_online, to_offline = self._ctx.targets(g, target_stores)
        rid = records.identifier(g, record_id)
        try:
            ev_value, event_us = coerce_event_time(g.time_feature, event_time)
        except ValueError as exc:
            raise ValidationError(f"Event time {_shown(event_time)} of the delete {exc}", group=group,
                                  feature=g.event_time, value=event_time) from None
        row = [None] * len(prep["names"])
        row[prep["names"].index(g.record_identifier)] = rid
        row[prep["names"].index(g.event_time)] = ev_value
        api = now_us()
        outcome = "offline_only"
        with self._ctx.db.write() as conn:
            seq, wt, staged = registry.allocate(conn, group, 1, api, event_us, staged=int(to_offline))
            if to_online:
                stored = self._ctx.online.current(conn, g, rid)  # (event, deleted, expires)
                present = stored is not None and not (stored[2] is not None and stored[2] <= wt)
                live = present and not stored[1]
                if present and event_us < stored[0]:
                    outcome = "newer_kept"
                else:
                    outcome = "deleted" if live else "not_live"
                if hard:
                    if live and event_us <= stored[0]:
                        raise ValidationError(
                            f"Hard delete of {g.record_identifier} = {record_id!r} in {group!r} at event time "
                            f"{_shown(event_time)} is not newer than the stored record; use a later event time",
                            group=group, value=record_id,
                        )
                    self._ctx.online.remove(conn, g, rid, event_us, wt)
                    outcome = "deleted" if live else "not_live"
                else:  # the upsert's own rule keeps a newer record or tombstone
                    self._ctx.online.upsert(conn, g, [(event_us, wt, None, 1, *row)], wt)
            if to_offline:
                offline_store.stage(conn, g, [(event_us, wt, api, seq, 1, *row)], prep["stage"])
            self._ctx.note_writer(conn, group, wt)
            self._ctx.policy.log_in(conn, "delete_record", group, {"hard": hard, "outcome": outcome})
        self._ctx.online.after_commit()
        if staged >= FLUSH_ROWS:
            self.flush(group)
        return outcome

    # ----------------------------------------------------------------------------- bulk

    def ingest(self, group: str, data: Any, on_error: str = "reject", progress: Callable[[int, int], None] | None = None,
               *, target_stores: Iterable[str] | None = None, ttl: Any = None, source: str | None = None,
               columns: dict[str, str | None] | None = None, time_format: str | None = None,
               _on_commit: Callable[[Any, "IngestReport"], None] | None = None) -> "IngestReport":
        """Validate and write a DataFrame (pandas or Spark), Arrow table, or CSV/Parquet file,
        all-or-nothing per store (a Spark DataFrame on its executors, see ``engines.spark_ingest``).

        ``on_error="reject"`` refuses the whole batch if any row is bad (IngestRejected carries
        the report); ``"skip"`` writes the good rows. ``progress(done, total)`` is called as rows land.
        ``columns`` maps input columns onto features ({"column": "feature"}, None drops one).
        ``time_format`` (strftime codes) reads text event times so, instead of the format kept
        with the group (see ``create_feature_group``); a value in neither it nor ISO-8601 is refused.
        (``_on_commit(conn, report)`` runs inside the write transaction: pipelines commit their
        watermark with their rows.)
        """
        from .ingest import prepare as ing
        from .core import writes_spark as spark_ingest

        if on_error not in ("reject", "skip"):
            raise ValidationError(f"on_error={on_error!r}: use 'reject' or 'skip'")
        if spark_ingest.is_spark_dataframe(data):  # checked and written by Spark's executors
            if time_format is not None:
                raise ValidationError("time_format= applies to files, pandas and Arrow data; for a Spark DataFrame "
                                      "keep it with the group (create_feature_group(..., time_format=))")
            return spark_ingest.ingest(self, group, data, on_error, target_stores, ttl, source, columns)
        started = time.perf_counter()
        api = now_us()
        g, _ = self._ctx.group(group)
        g = ing.with_time_format(g, time_format)
        to_online, to_offline = self._ctx.targets(g, target_stores)
        batches = ing.load_batches(data)
        loaded = next(batches)
        more = next(batches, None)
        if more is not None:  # longer than one batch: read, checked and written a batch at a time
            from .core import batches as ingest_stream

            return ingest_stream.ingest(
                self, g, itertools.chain([loaded, more], batches), columns=columns, on_error=on_error,
                progress=progress, to_online=to_online, to_offline=to_offline,
                ttl_us=self._ctx.ttl_us(g, ttl) if to_online else None, source=source, api=api, started=started,
                on_commit=_on_commit)
        prepared = ing.check(g, loaded, columns, api, self._ctx.group(group)[1]["rules"])
        report = prepared.report
        report.source = source or loaded.source_name
        self._judged(g, report, on_error, api, time.perf_counter() - started)  # raises IngestRejected
        total = prepared.table.num_rows
        done = [0]

        def advance(rows: int) -> None:
            done[0] += rows
            if progress:
                progress(min(done[0], total), total)

        ttl_us = self._ctx.ttl_us(g, ttl) if to_online else None
        if total:
            with self._ctx.db.write() as conn:
                first, wt, _ = registry.allocate(conn, group, total, api, prepared.max_event_us)
                table = ing.stamp(prepared.table, wt, first)
                if to_offline:
                    entries = self._ctx.files.write(conn, g, table, wt, self._ctx.db.on_rollback, progress=advance)
                    report.files_written = len(entries)
                if to_online:
                    latest = ing.latest_per_record(g, table)
                    self._ctx.online.upsert(conn, g, ing.online_rows(g, latest, wt, ttl_us), wt)
                    report.records_online = latest.num_rows
                    if not to_offline:
                        advance(total)
                self._record_source(conn, group, loaded, report, wt)
                self._written(conn, g, report, report.source, api, time.perf_counter() - started)
                self._ctx.policy.logged(conn, "ingest", counts("ingest", report))  # no rows committed without their entry
                if _on_commit:
                    _on_commit(conn, report)
            self._ctx.files.committed(group)
            self._ctx.online.after_commit()
        elif report.rows_total or _on_commit:  # nothing to write, but the run and refused rows are kept
            with self._ctx.db.write() as conn:
                if report.rows_total:
                    self._written(conn, g, report, report.source, api, time.perf_counter() - started)
                    self._ctx.policy.logged(conn, "ingest", counts("ingest", report))
                if _on_commit:
                    _on_commit(conn, report)
        report.seconds = time.perf_counter() - started
        return report

    def validate(self, group: str, data: Any, columns: dict[str, str | None] | None = None,
                 time_format: str | None = None) -> "IngestReport":
        """Check data as ``ingest`` would (types and the group's rules), writing nothing; the
        report lists every verdict: refused rows, warnings, failed batch rules."""
        from .ingest.prepare import with_time_format
        from .core.batches import validate

        g, prep = self._ctx.group(group)
        g = with_time_format(g, time_format)
        report = validate(g, data, columns, now_us(), prep["rules"])
        report.dry_run = True
        return report

    def _record_source(self, conn: Any, group: str, loaded: Any, report: "IngestReport", now: int) -> None:
        if loaded.source_kind == "pipeline":
            return  # the pipeline records its own lineage, with the run
        if loaded.source_kind == "file":
            node = f"source:{loaded.sha256[:16]}"
            props = {"file": loaded.source_name, "bytes": loaded.size_bytes, "sha256": loaded.sha256}
            lineage.upsert_node(conn, node, "source", report.source or loaded.source_name, now, props)
        else:
            node = f"writer:{self.writer}"
            lineage.upsert_node(conn, node, "writer", self.writer, now, {"client": self.writer})
        lineage.add_edge(conn, node, f"feature_group:{group}", "ingested_into", now,
                         {"rows": report.rows_written, "rejected": report.rows_rejected, "last_ingest_us": now,
                          "source": report.source})

    # ----------------------------------------------------------------------------- maintenance

    def flush(self, group: str | None = None) -> int:
        """Move buffered single-put rows into Parquet files; returns the rows moved."""
        from .core import upkeep as tasks

        return tasks.flush(self, group)

    def compact(self, group: str | None = None, repartition: str | None = None, *, auto: bool = False) -> dict[str, int]:
        """Flush the buffer, drop history outside each group's ``offline_retention``, and merge
        each partition's small files into files sized for reading, sorted by record and event
        time; ``repartition`` rewrites ``group`` in another layout (day, hour, month, none) in one
        transaction. No answer inside the retained history changes. ``auto`` only merges
        partitions with several small files (what background maintenance runs)."""
        from .core import upkeep as tasks

        return tasks.compact(self, group, repartition, auto)

    def sweep_expired(self, group: str | None = None) -> int:
        """Remove expired online records and append their delete markers offline; returns how many."""
        from .core import upkeep as tasks

        return tasks.sweep_expired(self, group)

    # ----------------------------------------------------------------------------- reads

    def as_of(self, group: str, event_time: Any = None, known_at: Any = None, record_ids: Sequence[Any] | None = None,
              include_metadata: bool = False) -> "pd.DataFrame":
        """Each record as it was at ``event_time`` (default: latest), as far as the store knew at
        ``known_at`` (default: now). Deleted records are absent. Ordered by identifier."""
        from .offline import snapshot as query

        event_us = arg_to_us(event_time, "event_time") if event_time is not None else None
        known_us = arg_to_us(known_at, "known_at") if known_at is not None else None
        g, _ = self._ctx.group(group)
        ids = query.ids_arrow(record_ids, g) if record_ids is not None else None

        (snap,) = self._ctx.snapshots([group], event_us, known_us)
        snap.check_retained(event_us, "as_of event_time")
        snap.check_retained(known_us, "as_of known_at")

        def run() -> "pd.DataFrame":
            with query.connect() as con:
                view = query.register(con, snap)
                if ids is not None:
                    con.register("__ids", ids)
                sql = query.as_of_sql(g, view, event_us, known_us, "__ids" if ids is not None else None, include_metadata)
                return query.to_pandas(con.sql(sql).to_arrow_table())

        return query.with_retry(run)

    def history(self, group: str, record_id: Any) -> "pd.DataFrame":
        """Every version of one record, oldest first, with both clocks and delete markers."""
        from .offline import snapshot as query

        g, _ = self._ctx.group(group)
        rid = records.identifier(g, record_id)

        (snap,) = self._ctx.snapshots([group])

        def run() -> "pd.DataFrame":
            with query.connect() as con:
                view = query.register(con, snap)
                return query.to_pandas(con.sql(query.history_sql(g, view), params={"id": rid}).to_arrow_table())

        return query.with_retry(run)

    def query(self, sql: str, limit: int | None = None, *, timeout: float | None = None,
              cancel: threading.Event | None = None, engine: str = "duckdb", spark: Any = None) -> "pd.DataFrame":
        """Read-only SQL; each group with an offline store is a view named like the group, holding
        its full history (with write_time, api_invocation_time, is_deleted). DuckDB by default;
        ``engine="spark"`` runs Spark SQL (on ``spark``, else a local session; see
        ``store.engines.spark``). A DuckDB query is stopped (Interrupted) after ``timeout``
        seconds or once ``cancel`` is set."""
        from .offline import snapshot as query
        from .engines import base as engines

        if not isinstance(sql, str):
            raise ValidationError("sql must be a string")
        offline_groups = registry.offline_names(self._ctx.db.get())
        offline_groups = self._ctx.policy.visible(offline_groups)  # a principal's SQL sees its groups as views, their folders only
        return query.to_pandas(engines.get(engine, spark).query(self, sql, offline_groups, limit, timeout, cancel))

    def query_csv(self, sql: str, out: BinaryIO, *, timeout: float | None = None,
                  cancel: threading.Event | None = None) -> int:
        """The whole result of a read-only DuckDB query (as ``query`` runs it) written to the binary
        stream ``out`` as CSV with a header, streamed in record batches; returns the rows written."""
        from .engines.duckdb_engine import DuckDBEngine

        if not isinstance(sql, str):
            raise ValidationError("sql must be a string")
        offline_groups = registry.offline_names(self._ctx.db.get())
        offline_groups = self._ctx.policy.visible(offline_groups)
        return DuckDBEngine().query_csv(self, sql, offline_groups, out, timeout, cancel)

    def statistics(self, group: str, scope: str = "history", *, engine: str = "duckdb",
                   spark: Any = None) -> "pd.DataFrame":
        """One row per feature (count, nulls, distinct, min/max, mean/std, quantiles, top values) over
        the group's full history or, with scope="latest", its live records; on DuckDB or Spark."""
        from .retrieval import stats

        return stats.summary(self, group, scope, engine, spark)

    @property
    def offline_location(self) -> str:
        """Where the offline store's Parquet files are: a folder, or s3://bucket/prefix."""
        return self._ctx.files.storage.uri

    @property
    def online_location(self) -> str:
        """Where the online store's records are: the registry's database, or redis://..."""
        return self._ctx.online.url

    @property
    def shared_url(self) -> str | None:
        """The URL other machines open this store by (postgresql://...?schema=...), or None for a
        store whose tables are in its folder."""
        return self._ctx.db.shared_url

    @property
    def registry_location(self) -> str:
        """Where the store's tables are: sqlite:///<its featurestore.db>, or postgresql://... (schema ...)."""
        return self._ctx.db.url

    def build_dataset(self, entity_df: Any, features: Sequence[str], event_time_column: str = "event_time",
                      keys: dict[str, str] | None = None, *, known_at: Any = None, include_deleted: bool = False,
                      ttl_lookback: bool = False, write_time_guard: bool = False, include_duplicates: bool = False,
                      event_time_range: tuple[Any, Any] | None = None, name: str | None = None,
                      record: bool = True, prefix_features: bool = False, engine: str = "duckdb",
                      spark: Any = None, require_coverage: float | bool | None = None,
                      pad_keys: dict[str, int] | None = None) -> "Dataset":
        """A point-in-time-correct training set: one row per entity row, in order, with each
        group's latest version at or before the row's event time. Feature columns are named
        ``<feature>``, or ``<group>__<feature>`` on a clash (always, with ``prefix_features``).
        ``record`` keeps it in lineage and ``datasets()``. ``engine="spark"`` joins on Spark (on
        ``spark``, else a local session), with the same answer. See the spec for the options.
        A group whose features reached no row is a UserWarning; with ``require_coverage`` (a
        fraction of the rows each group must reach, True: one row) a ValidationError, and nothing
        is recorded. ``pad_keys`` ({group: digits}) joins whole-number keys zero-padded like that
        group's String identifiers (1 -> '000001')."""
        from .retrieval.dataset import build

        return build(self, entity_df, features, event_time_column, keys or {}, known_at=known_at,
                     include_deleted=include_deleted, ttl_lookback=ttl_lookback, write_time_guard=write_time_guard,
                     include_duplicates=include_duplicates, event_time_range=event_time_range, name=name, record=record,
                     prefix_features=prefix_features, engine=engine, spark=spark, require_coverage=require_coverage,
                     pad_keys=pad_keys)

    def datasets(self) -> list[dict[str, Any]]:
        """Every recorded dataset, newest first, with its definition, coverage and models."""
        from .retrieval.saved import list_datasets

        return list_datasets(self)

    def dataset(self, dataset: str) -> "Dataset":
        """A recorded dataset (by id or name) rebuilt exactly as it was built. Raises NotFound."""
        from .retrieval.saved import reproduce

        return reproduce(self, dataset)

    def rebuild_dataset(self, dataset: str, name: str | None = None) -> "Dataset":
        """A recorded dataset's definition built again on today's data, recorded as a new dataset."""
        from .retrieval.saved import rebuild

        return rebuild(self, dataset, name)

    def delete_dataset(self, dataset: str) -> None:
        """Drop a recorded dataset's saved entity table and mark it deleted in lineage."""
        from .retrieval.saved import delete_dataset

        delete_dataset(self, dataset)

    # ----------------------------------------------------------------------------- lineage

    def register_model(self, name: str, datasets: Sequence[str] = (), description: str = "",
                       properties: dict[str, Any] | None = None) -> dict[str, Any]:
        """Record a model and link it to the datasets (ids or names) it was trained on."""
        if not isinstance(name, str) or not name.strip():
            raise ValidationError("A model needs a non-empty name")
        now = now_us()
        hidden = self._ctx.policy.hidden_lineage()
        with self._ctx.db.write() as conn:
            ids = [lineage.dataset_node(conn, d, hidden) for d in datasets]
            node = f"model:{name}"
            lineage.upsert_node(conn, node, "model", name, now, {"description": description, **(properties or {})})
            for d in ids:
                lineage.add_edge(conn, d, node, "trained", now)
            return lineage.node(conn, node)

    def usage(self) -> dict[str, dict[str, list[str]]]:
        """Per group, the datasets built from it and the models trained on those."""
        hidden = self._ctx.policy.hidden_lineage()
        return lineage.usage(self._ctx.db.get(), hidden)

    def lineage(self, node: str | None = None, depth: int | None = None) -> lineage.LineageGraph:
        """The lineage graph, or the part within ``depth`` edges of ``node`` (e.g. 'feature_group:x'),
        without what would tell the principal about groups it may not see."""
        conn = self._ctx.db.get()
        if node is not None and ":" not in node:
            node = f"feature_group:{node}"
        hidden = self._ctx.policy.hidden_lineage()
        return lineage.graph(conn, node, depth, hidden)


    # ----------------------------------------------------------------------------- quality
    # (the quality methods, one delegating line each, go here)

    # ----------------------------------------------------------------------------- pipelines
    # (the pipeline methods, one delegating line each, go here)

    # ----------------------------------------------------------------------------- access
    # (the access methods, one delegating line each, go here)



def _flush_at_exit(ref: "weakref.ref[FeatureStore]") -> None:
    """At interpreter exit, buffered puts of a store still open reach Parquet (a script need not
    call close)."""
    fs = ref()
    if fs is not None:
        try:
            with fs._ctx.as_store():  # the store's own upkeep, whoever opened it
                fs.flush()
        except Exception:  # noqa: BLE001 - exiting: nothing left to report it to
            pass


def _clash_warning(group: FeatureGroup) -> str:
    """``FeatureGroup.check_readable``'s message, for describe() to show without failing."""
    try:
        group.check_readable()
    except ValidationError as exc:
        return exc.message
    return ""


def _shown(value: Any) -> str:
    """A time argument as a user wrote it, or as ISO-8601 UTC if it is a datetime-like object."""
    if isinstance(value, (str, int, float)):
        return repr(value)
    try:
        from .common.timeutil import instant_to_us, us_to_iso

        return us_to_iso(instant_to_us(value))
    except ValueError:
        return repr(value)


def json_dumps(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"))


install(FeatureStore, lambda fs: fs._ctx)  # every public method checks the principal's role once an access file is in force
