"""``FeatureStore``: the public entry point. Each method keeps its signature and documentation
here, where users read them, and delegates in one line to the floor below (``core``, ``retrieval``
and the capabilities ``quality``, ``pipelines``, ``access``), passing the store's ``StoreContext``.

``store.access.guard.install`` wraps every public method in its access check at import (the
bottom of this file), so the class that runs checks each call before the body shown here."""
from __future__ import annotations

import atexit
import copy
import os
import threading
import weakref
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Iterable, Sequence

from . import registry
from .access import api as access_api
from .access import local as local_access
from .access import policy as access_policy
from .access import published as published_access
from .access import views as access_views
from .access.guard import install
from .core import context, entities, groups, lookups, reads, upkeep, versions, writes
from .errors import AccessDenied, StorageFull
from .model import layout
from .model.entity import Entity
from .model.schema import Feature, FeatureGroup
from .pipelines import api as pipelines
from .streams import api as streams
from .quality import api as quality
from .registry import lineage
from .retrieval import browse, on_demand, saved, services, stats
from .retrieval import dataset as training
from .retrieval import lineage as seen

if TYPE_CHECKING:
    import pandas as pd

    from .access.policy import AccessFile
    from .ingest.prepare import IngestReport
    from .retrieval.browse import Browser
    from .model.on_demand import OnDemandFeature
    from .model.services import FeatureService
    from .retrieval.dataset import Dataset

# Buffered puts reach Parquet within this many seconds in processes running background maintenance
# (SageMaker documents up to 15 minutes for its offline store).
FLUSH_INTERVAL = 5.0


def default_path() -> str:
    """``$FEATURESTORE_HOME`` (a folder, or a shared store's URL), else ``./.featurestore``."""
    return os.environ.get("FEATURESTORE_HOME") or os.path.join(os.getcwd(), ".featurestore")


class FeatureStore:
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

    # ----------------------------------------------------------------------------- groups

    def create_feature_group(
        self, name: str, record_identifier: str | Sequence[str], event_time: str,
        features: Sequence[Feature | dict] | None = None,
        *, dataframe: Any = None, description: str = "", tags: dict[str, str] | None = None,
        online: bool = True, offline: bool = True, ttl: Any = None, extra: dict[str, Any] | None = None,
        partition_by: str = layout.DEFAULT_PARTITION, offline_retention: Any = None, time_format: str | None = None,
        entity: str | None = None, entity_keys: dict[str, str] | None = None,
    ) -> FeatureGroup:
        """Create a group keyed by ``record_identifier`` (a feature, or a list of scalar features in key
        order: record keys are then tuples, or dicts by column), from ``features``, or inferred from ``dataframe`` (a DataFrame, Arrow
        table or file; its data is not ingested, and a column whose name is not a valid feature
        name gets a sanitised one, which ingest maps it onto). ``partition_by``: day, hour, month
        or none; ``offline_retention``: a timedelta or days of history to keep (None: all).
        ``time_format`` (strftime codes, '%d.%m.%Y %H:%M') is how the files' event times are
        written; it is kept with the group, so every ingest reads them so (detected from
        ``dataframe`` when unambiguous). ``entity``: what the rows are about, its keys matched to
        the identifier by name, for one key by position, or by ``entity_keys`` ({"cust_id":
        "customer_id"}). Raises ValidationError (also for event times that do not parse, or
        are ambiguous without ``time_format``, and keys that do not fit), NotFound, Conflict."""
        return groups.create_feature_group(self._ctx, name, record_identifier, event_time, features, dataframe,
                                           description, tags, online, offline, ttl, extra, partition_by,
                                           offline_retention, time_format, entity, entity_keys)

    def feature_group(self, name: str) -> FeatureGroup:
        """The group's definition. Raises NotFound."""
        return groups.feature_group(self._ctx, name)

    def list_feature_groups(self) -> list[FeatureGroup]:
        return groups.list_feature_groups(self._ctx)

    def describe(self, name: str, storage: bool = True, version: int | None = None) -> dict[str, Any]:
        """Definition (``version``: that definition version's) plus live figures: record counts, files, last event and
        last write, and (with ``storage``) what the group costs on disk: online bytes, the oldest event kept, the
        start of the retained history and the offline growth per day over 30 days."""
        return groups.describe(self._ctx, name, storage, version)

    def storage(self, group: str | None = None) -> list[dict[str, Any]]:
        """Storage use of one group or of every group, largest first (``featurestore du``)."""
        return groups.storage(self._ctx, group)

    def search(self, text: str) -> list[dict[str, Any]]:
        """Groups and features whose name, description, tags or parameters contain ``text``."""
        return groups.search(self._ctx, text)

    def update_feature_group(self, name: str, *, description: str | None = None, tags: dict[str, str] | None = None,
                             add_tags: dict[str, str] | None = None, remove_tags: Iterable[str] = (),
                             ttl: Any = groups.UNSET, extra: dict[str, Any] | None = None,
                             offline_retention: Any = groups.UNSET, entity: Any = groups.UNSET,
                             entity_keys: dict[str, str] | None = None) -> FeatureGroup:
        """Change description; tags (``tags`` replaces them, ``add_tags``/``remove_tags`` edit them); the default TTL
        (None removes it; it applies to records written afterwards); ``extra`` (merged key by key);
        ``offline_retention`` (None keeps all history; compaction applies it); ``entity`` and ``entity_keys`` (as at
        create; ``entity=None`` detaches the group from its entity). Edits are read and written in one transaction, so
        concurrent writers do not lose each other's changes."""
        return groups.update_feature_group(
            self._ctx, name, description=description, tags=tags, add_tags=add_tags, remove_tags=remove_tags, ttl=ttl,
            extra=extra, offline_retention=offline_retention, entity=entity, entity_keys=entity_keys)

    def add_features(self, name: str, features: Sequence[Feature | dict]) -> FeatureGroup:
        """Add features (a new definition version); existing rows read them as null."""
        return groups.add_features(self._ctx, name, features)

    def change_features(self, group: str, *, drop: Iterable[str] = (), rename: dict[str, str] | None = None,
                        retype: dict[str, str] | None = None) -> FeatureGroup:
        """Drop features, ``rename`` them ({old: new}) and widen their type (``retype``: Integral -> Fractional, any
        scalar -> String), as one new definition version. History stays readable: current reads omit dropped features,
        answer renamed ones under the new name and convert widened ones; reads known at an earlier instant use the
        definition in force then. Narrowing, a taken name, or touching the identifier or event time is refused."""
        return versions.change_features(self._ctx, group, drop, rename, retype)

    def definition_history(self, group: str) -> list[dict[str, Any]]:
        """Every definition version, oldest first: who changed it, when, and what (a diff)."""
        return versions.definition_history(self._ctx, group)

    def update_feature_metadata(self, group: str, feature: str, *, description: str | None = None,
                                parameters: dict[str, str] | None = None,
                                remove_parameters: Iterable[str] = ()) -> Feature:
        """Set a feature's description; add or change ``parameters``; drop ``remove_parameters``."""
        return groups.update_feature_metadata(
            self._ctx, group, feature, description=description, parameters=parameters,
            remove_parameters=remove_parameters)

    def feature_metadata(self, group: str, feature: str) -> dict[str, Any]:
        """A feature's definition with its creation and last-modified times."""
        return groups.feature_metadata(self._ctx, group, feature)

    def delete_feature_group(self, name: str, purge_offline: bool = False) -> None:
        """Remove the group's online data and registry entry; its Parquet files stay on disk
        (buffered rows are flushed to them first) unless ``purge_offline``."""
        groups.delete_feature_group(self._ctx, name, purge_offline)

    # ----------------------------------------------------------------------------- entities

    def create_entity(self, name: str, keys: Sequence[Feature | dict], description: str = "",
                      tags: dict[str, str] | None = None) -> Entity:
        """Define what rows are about: a name (as groups are named) and 1+ scalar key Features."""
        return entities.create_entity(self._ctx, name, keys, description, tags)

    def entity(self, name: str) -> Entity:
        """An entity's definition and the groups declaring it. Raises NotFound."""
        return entities.entity_definition(self._ctx, name)

    def list_entities(self) -> list[Entity]:
        """Every entity, in name order, each with the groups declaring it."""
        return entities.list_entities(self._ctx)

    def update_entity(self, name: str, *, description: str | None = None, tags: dict[str, str] | None = None) -> Entity:
        """Change an entity's description or tags (``tags`` replaces them); its keys stay."""
        return entities.update_entity(self._ctx, name, description, tags)

    def delete_entity(self, name: str) -> None:
        """Remove an entity; refused (ValidationError naming them) while groups declare it."""
        entities.delete_entity(self._ctx, name)

    def entity_record(self, entity: str, key: Any) -> dict[str, Any]:
        """Everything the online store holds about one entity: ``key`` is its value (a one-key
        entity) or {key name: value}. Per group of the entity the caller may see: its live
        features, the record's event time and age in seconds, or status "not found" / "no online
        store". Each group is read with one batch read. Raises NotFound, ValidationError."""
        return entities.entity_record(self._ctx, entity, key)

    # ----------------------------------------------------------------------------- records

    def put_record(self, group: str, record: dict[str, Any], target_stores: Iterable[str] | None = None,
                   ttl: Any = None, *, source: str | None = None) -> None:
        """Write one record (a full overwrite: omitted features become null). A record the types or
        the group's row rules refuse raises ValidationError naming the rule, feature and value, and
        is kept in the quarantine with ``source`` (default: this client's writer name)."""
        writes.put_record(self._ctx, group, record, target_stores, ttl, source=source)

    def get_record(self, group: str, record_id: Any, features: Sequence[str] | None = None) -> dict[str, Any] | None:
        """The latest live record from the online store, or None (missing, deleted or expired).
        ``record_id`` of a group keyed by several columns: a tuple in key order or a dict by column."""
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
        return writes.delete_record(self._ctx, group, record_id, event_time, hard, target_stores)

    # ----------------------------------------------------------------------------- bulk

    def ingest(self, group: str, data: Any, on_error: str = "reject", progress: Callable[[int, int], None] | None = None,
               *, target_stores: Iterable[str] | None = None, ttl: Any = None, source: str | None = None,
               columns: dict[str, str | None] | None = None, time_format: str | None = None,
               _on_commit: Callable[[Any, "IngestReport"], None] | None = None) -> "IngestReport":
        """Validate and write a DataFrame (pandas or Spark), Arrow table, or CSV/Parquet file,
        all-or-nothing per store (a Spark DataFrame on its executors, see ``core.writes_spark``).

        ``on_error="reject"`` refuses the whole batch if any row is bad (IngestRejected carries
        the report); ``"skip"`` writes the good rows. ``progress(done, total)`` is called as rows land.
        ``columns`` maps input columns onto features ({"column": "feature"}, None drops one).
        ``time_format`` (strftime codes) reads text event times so, instead of the format kept
        with the group (see ``create_feature_group``); a value in neither it nor ISO-8601 is refused.
        (``_on_commit(conn, report)`` runs inside the write transaction: pipelines commit their
        watermark with their rows.)
        """
        return writes.ingest(
            self._ctx, group, data, on_error, progress, target_stores=target_stores, ttl=ttl, source=source,
            columns=columns, time_format=time_format, _on_commit=_on_commit)

    def validate(self, group: str, data: Any, columns: dict[str, str | None] | None = None,
                 time_format: str | None = None) -> "IngestReport":
        """Check data as ``ingest`` would (types and the group's rules), writing nothing; the
        report lists every verdict: refused rows, warnings, failed batch rules."""
        return writes.validate(self._ctx, group, data, columns, time_format)

    # ----------------------------------------------------------------------------- maintenance

    def flush(self, group: str | None = None) -> int:
        """Move buffered single-put rows into Parquet files; returns the rows moved."""
        return upkeep.flush(self._ctx, group)

    def compact(self, group: str | None = None, repartition: str | None = None, *, auto: bool = False) -> dict[str, int]:
        """Flush the buffer, drop history outside each group's ``offline_retention``, and merge each partition's small
        files into files sized for reading, sorted by record and event time; ``repartition`` rewrites ``group`` in
        another layout (day, hour, month, none) in one transaction. No answer inside the retained history changes.
        ``auto`` only merges partitions with several small files (what background maintenance runs)."""
        return upkeep.compact(self._ctx, group, repartition, auto)

    def sweep_expired(self, group: str | None = None) -> int:
        """Remove expired online records and append their delete markers offline; returns how many."""
        return upkeep.sweep_expired(self._ctx, group)

    # ----------------------------------------------------------------------------- reads

    def as_of(self, group: str, event_time: Any = None, known_at: Any = None, record_ids: Sequence[Any] | None = None,
              include_metadata: bool = False) -> "pd.DataFrame":
        """Each record as it was at ``event_time`` (default: latest), as far as the store knew at
        ``known_at`` (default: now). Deleted records are absent. Ordered by identifier."""
        return reads.as_of(self._ctx, group, event_time, known_at, record_ids, include_metadata)

    def history(self, group: str, record_id: Any) -> "pd.DataFrame":
        """Every version of one record, oldest first, with both clocks and delete markers."""
        return reads.history(self._ctx, group, record_id)

    def query(self, sql: str, limit: int | None = None, *, timeout: float | None = None,
              cancel: threading.Event | None = None, engine: str = "duckdb", spark: Any = None) -> "pd.DataFrame":
        """Read-only SQL; each group with an offline store is a view named like the group, holding its full history
        (with write_time, api_invocation_time, is_deleted). DuckDB by default; ``engine="spark"`` runs Spark SQL (on
        ``spark``, else a local session; see ``store.engines.spark``). A DuckDB query is stopped (Interrupted) after
        ``timeout`` seconds or once ``cancel`` is set."""
        return reads.query(self._ctx, sql, limit, timeout=timeout, cancel=cancel, engine=engine, spark=spark)

    def query_csv(self, sql: str, out: BinaryIO, *, timeout: float | None = None,
                  cancel: threading.Event | None = None) -> int:
        """The whole result of a read-only DuckDB query (as ``query`` runs it) written to the binary
        stream ``out`` as CSV with a header, streamed in record batches; returns the rows written."""
        return reads.query_csv(self._ctx, sql, out, timeout=timeout, cancel=cancel)

    def statistics(self, group: str, scope: str = "history", *, engine: str = "duckdb",
                   spark: Any = None) -> "pd.DataFrame":
        """One row per feature (count, nulls, distinct, min/max, mean/std, quantiles, top values) over
        the group's full history or, with scope="latest", its live records; on DuckDB or Spark."""
        return stats.summary(self._ctx, group, scope, engine, spark)

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
        group's String identifiers (1 -> '000001'). ``features="service:NAME[@VERSION]"``: a feature
        service's columns, as ``get_online_features`` gives them (its groups' TTLs applied)."""
        return training.build(self._ctx, entity_df, features, event_time_column, keys or {}, known_at, include_deleted,
                              ttl_lookback, write_time_guard, include_duplicates, event_time_range, name, record,
                              prefix_features, engine, spark, require_coverage, pad_keys)

    def datasets(self) -> list[dict[str, Any]]:
        """Every recorded dataset, newest first, with its definition, coverage and models."""
        return saved.list_datasets(self._ctx)

    def dataset(self, dataset: str) -> "Dataset":
        """A recorded dataset (by id or name) rebuilt exactly as it was built. Raises NotFound."""
        return saved.reproduce(self._ctx, dataset)

    def rebuild_dataset(self, dataset: str, name: str | None = None) -> "Dataset":
        """A recorded dataset's definition built again on today's data, recorded as a new dataset."""
        return saved.rebuild(self._ctx, dataset, name)

    def delete_dataset(self, dataset: str) -> None:
        """Drop a recorded dataset's saved entity table and mark it deleted in lineage."""
        saved.delete_dataset(self._ctx, dataset)

    # ----------------------------------------------------------------------------- feature services

    def create_feature_service(self, name: str, features: Sequence[str], description: str = "",
                               tags: dict[str, str] | None = None, owner: str | None = None) -> "FeatureService":
        """Define a service from 'group:feature', 'group:*' or 'group' refs (expanded now). Version 1."""
        return services.create(self._ctx, name, features, description, tags, owner)

    def update_feature_service(self, name: str, features: Sequence[str] | None = None, description: str | None = None,
                               tags: dict[str, str] | None = None) -> "FeatureService":
        """Record the service's next version with what is given changed; earlier versions stay."""
        return services.update(self._ctx, name, features, description, tags)

    def feature_service(self, name: str, version: int | None = None) -> "FeatureService":
        """A service's current version, or ``version``. Raises NotFound."""
        return services.load(self._ctx, name, version)

    def feature_service_history(self, name: str) -> list["FeatureService"]:
        """Every version of a service, oldest first (but those reading a group you may not read). Raises NotFound."""
        return services.history(self._ctx, name)

    def list_feature_services(self) -> list["FeatureService"]:
        """Every service (current versions) whose groups the principal may all read, by name."""
        return services.list_all(self._ctx)

    def delete_feature_service(self, name: str) -> None:
        """Delete a service (its versions stay recorded). Raises NotFound."""
        services.delete(self._ctx, name)

    def get_online_features(self, service: str | Sequence[str], entity_rows: Any, *, request: Any = None,
                            version: int | None = None, as_dict: bool = False) -> Any:
        """A service's online vector (or, for a list of 'group:feature' refs, an unsaved service's), one row
        per entity row: a DataFrame, or with ``as_dict`` plain lists with statuses and event times;
        ``request`` gives request values. See ``store.retrieval.services``."""
        return services.online_features(self._ctx, service, entity_rows, version, request, as_dict)

    def register_on_demand(self, feature: "OnDemandFeature") -> "OnDemandFeature":
        """Register an ``@on_demand`` function or SQL ``OnDemandFeature`` (a new version when it changed).
        Owners only: its code runs where the store serves."""
        return on_demand.register(self._ctx, feature)

    def on_demand_feature(self, name: str, version: int | None = None) -> "OnDemandFeature":
        """An on-demand feature's current version, or ``version``, with its source. Raises NotFound."""
        return on_demand.load(self._ctx, name, version)

    def list_on_demand_features(self) -> list["OnDemandFeature"]:
        """Every on-demand feature (current versions) whose groups the principal may all read."""
        return on_demand.list_all(self._ctx)

    def delete_on_demand_feature(self, name: str) -> None:
        """Delete an on-demand feature (versions stay); refused while a service uses it."""
        on_demand.delete(self._ctx, name)

    # ----------------------------------------------------------------------------- lineage

    def register_model(self, name: str, datasets: Sequence[str] = (), description: str = "",
                       properties: dict[str, Any] | None = None) -> dict[str, Any]:
        """Record a model and link it to the datasets (ids or names) it was trained on."""
        return seen.register_model(self._ctx, name, datasets, description, properties)

    def usage(self) -> dict[str, dict[str, list[str]]]:
        """Per group, the datasets built from it and the models trained on those."""
        return seen.usage(self._ctx)

    def lineage(self, node: str | None = None, depth: int | None = None) -> lineage.LineageGraph:
        """The lineage graph, or the part within ``depth`` edges of ``node`` (e.g. 'feature_group:x'),
        without what would tell the principal about groups it may not see."""
        return seen.graph(self._ctx, node, depth)

    # ----------------------------------------------------------------------------- quality

    def set_rules(self, group: str, rules: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Replace the group's validation rules (see ``store.model.rules`` for the checks and
        severities); every write path applies them from now on. Returns them as stored, each
        with its name and severity. Raises ValidationError naming the rule at fault."""
        return quality.set_rules(self._ctx, group, rules)

    def rules(self, group: str) -> list[dict[str, Any]]:
        """The group's validation rules, each with its name and severity."""
        return quality.rules(self._ctx, group)

    def suggest_rules(self, group: str) -> list[dict[str, Any]]:
        """Rules a profile of the group's latest records suggests: not_null where no value is
        missing, ranges of numbers, the allowed values of low-cardinality text, text lengths."""
        return quality.suggest_rules(self._ctx, group)

    def import_rules(self, group: str, source: Any, kind: str = "auto",
                     replace: bool = False) -> dict[str, Any]:
        """Add (or with ``replace``, set) rules from a Great Expectations suite or a SageMaker
        Model Monitor constraints.json (a path, JSON text or a dict; see
        ``store.quality.imports`` for what maps). Returns {"rules": as stored, "skipped": what was
        not imported and why}; nothing is stored if any imported rule is invalid for the group."""
        return quality.import_rules(self._ctx, group, source, kind, replace)

    def quality_check(self, group: str, data: Any, rules: Sequence[dict[str, Any]],
                      columns: dict[str, str | None] | None = None) -> "IngestReport":
        """``validate`` with other rules than the group's (to preview rules before saving them)."""
        return quality.quality_check(self._ctx, group, data, rules, columns)

    def preview_rules(self, group: str, rules: Sequence[dict[str, Any]],
                      rows: int = 10_000) -> "IngestReport":
        """What ``rules`` would refuse or warn about in the ``rows`` rows written last: the check
        to run before saving rules (nothing is written). Batch rules judge those rows as one batch."""
        return quality.preview_rules(self._ctx, group, rules, rows)

    def validation_runs(self, group: str, since: Any = None, limit: int = 1000) -> "pd.DataFrame":
        """Validation runs, newest first: each ingest (source, rows checked, written, warned, rejected, held back,
        outcome, per-rule counts) and single puts per minute. Rows rejected are the invalid ones (wrong type, or
        refused by a row rule); rows held back are valid rows not written because their batch was refused
        (on_error="reject", or a batch rule), so rows_checked = rows_written + rows_rejected + rows_held_back."""
        return quality.validation_runs(self._ctx, group, since, limit)

    def quarantine(self, group: str, since: Any = None, limit: int | None = None) -> "pd.DataFrame":
        """Refused rows of the group, newest first: id, when, source (file, writer or HTTP key),
        position in the source, the rules that refused it, why, and the row as it was received."""
        return quality.quarantine(self._ctx, group, since, limit)

    def requeue(self, group: str, ids: Iterable[int], on_error: str = "skip",
                corrected: dict[int, dict[str, Any]] | None = None) -> "IngestReport":
        """Ingest quarantined rows again, after the rules were fixed or with ``corrected`` values
        ({entry id: {feature: value}}, merged over the row as kept); the ones written leave the
        quarantine, the ones refused again stay (as new entries) with today's verdict."""
        return quality.requeue(self._ctx, group, ids, on_error, corrected)

    def release_quarantined(self, group: str, ids: Iterable[int]) -> int:
        """Drop quarantined rows for good; returns how many."""
        return quality.release_quarantined(self._ctx, group, ids)

    def quarantine_retention(self, group: str) -> float:
        """Seconds refused rows stay in the group's quarantine."""
        return quality.quarantine_retention(self._ctx, group)

    def set_quarantine_retention(self, group: str, retention: Any) -> None:
        """How long refused rows stay in the quarantine (a timedelta or days; default 30 days)."""
        quality.set_quarantine_retention(self._ctx, group, retention)

    def freshness(self, group: str) -> dict[str, Any]:
        """Last event, last write, the expected interval (from ``set_monitor``) and ok/late/unknown."""
        return quality.freshness(self._ctx, group)

    def volume(self, group: str, by: str = "day", clock: str = "event_time") -> "pd.DataFrame":
        """Rows (and delete markers) per hour/day/week/month of either clock."""
        return quality.volume(self._ctx, group, by, clock)

    def drift(self, group: str, reference: tuple[Any, Any], current: tuple[Any, Any],
              features: Sequence[str] | None = None, clock: str = "event_time") -> "pd.DataFrame":
        """Per feature, how its values in ``current`` differ from ``reference`` (two [start, end) windows of either
        clock): PSI, Jensen-Shannon distance, KS, Wasserstein, mean and std change for numbers; PSI, JS, chi-square
        p-value, new and missing categories for text; null-rate change for all. See ``store.quality.drift``."""
        return quality.drift(self._ctx, group, reference, current, features, clock)

    def drift_timeline(self, group: str, periods: int = 14,
                       features: Sequence[str] | None = None) -> "pd.DataFrame":
        """``drift`` of each of the last ``periods`` monitor windows against the reference before
        it, one row per window and feature: how a feature drifted over time."""
        return quality.drift_timeline(self._ctx, group, periods, features)

    def distributions(self, group: str, feature: str, reference: tuple[Any, Any],
                      current: tuple[Any, Any], clock: str = "event_time", bins: int = 30) -> "pd.DataFrame":
        """One feature's values in two windows as shares per bucket (numbers binned alike, text by
        value, nulls apart): the two distributions a drift figure compares, ready to overlay."""
        return quality.distributions(self._ctx, group, feature, reference, current, clock, bins)

    def set_monitor(self, group: str, **settings: Any) -> dict[str, Any]:
        """Monitor a group: expected_interval (a timedelta: later is "late"), drift thresholds ({"psi": 0.2, "js":
        0.1}), null_rate_change (0.05), window (the current window, default a day), reference_window (the window
        before it, default 7 days), features (default all but the identifier and event time) and min_rows (a window
        with fewer rows raises no drift alert; default 100). None turns one off."""
        return quality.set_monitor(self._ctx, group, **settings)

    def monitor(self, group: str) -> dict[str, Any]:
        """The group's monitor settings ({} when it has none)."""
        return quality.monitor(self._ctx, group)

    def check_monitors(self, group: str | None = None) -> list[dict[str, Any]]:
        """Alerts and warnings of every monitored group (or one): late data, drifted features,
        changed null rates, and pipelines whose latest run failed (on their target). Each names
        the group, what is wrong, the figure and its threshold."""
        return quality.check_monitors(self._ctx, group)

    # ----------------------------------------------------------------------------- pipelines
    def create_pipeline(self, name: str, target: str, *, sql: str | None = None,
                        function: str | None = None, inputs: Any = (), mode: str = "incremental",
                        schedule: str | None = None, trigger: str | None = None, params: dict[str, Any] | None = None,
                        description: str = "", tags: dict[str, str] | None = None, lookback: Any = None,
                        retries: int = 2, retry_delay: Any = 60, paused: bool = False) -> dict[str, Any]:
        """A pipeline computing ``target``'s rows from ``inputs`` (groups, CSV/Parquet paths and globs) with DuckDB
        ``sql`` or a Python ``function`` ('module:callable'); see ``store.pipelines.runner`` (modes, lookback),
        ``schedule`` (cron, UTC) and ``trigger`` "on_change" (``featurestore scheduler``), ``grants`` (policies)."""
        return pipelines.create_pipeline(
            self._ctx, name, target, sql=sql, function=function, inputs=inputs, mode=mode, schedule=schedule, trigger=trigger,
            params=params, description=description, tags=tags, lookback=lookback, retries=retries, retry_delay=retry_delay, paused=paused)

    def update_pipeline(self, name: str, **changes: Any) -> dict[str, Any]:
        """Change a pipeline's definition (``create_pipeline``'s keywords); its watermark stays. The caller
        becomes its owner, whom scheduled runs act as."""
        return pipelines.update_pipeline(self._ctx, name, **changes)

    def pipeline(self, name: str) -> dict[str, Any]:
        """The definition, whether it is paused or running, its last run and its next scheduled run.
        When the last run ended a backfill, ``last_rows_out`` is the whole backfill's and
        ``last_backfill`` sums its runs."""
        return pipelines.pipeline(self._ctx, name)

    def list_pipelines(self) -> list[dict[str, Any]]:
        """Every pipeline, as ``pipeline()`` describes it, in name order (under a policy, those
        whose target and input groups the caller may see)."""
        return pipelines.list_pipelines(self._ctx)

    def delete_pipeline(self, name: str) -> None:
        """Remove the pipeline and its run history (the rows it wrote stay in its target)."""
        pipelines.delete_pipeline(self._ctx, name)

    def pause_pipeline(self, name: str) -> dict[str, Any]:
        """Stop the scheduler from starting it (it can still be run by hand)."""
        return pipelines.pause_pipeline(self._ctx, name)

    def resume_pipeline(self, name: str) -> dict[str, Any]:
        """Let the scheduler start it again; fire times missed while paused are not made up."""
        return pipelines.resume_pipeline(self._ctx, name)

    def run_pipeline(self, name: str, *, full: bool = False, wait: float = 0,
                     trigger: str = "manual") -> dict[str, Any]:
        """Run it now (``full``: every input row) and return the run (id, status: succeeded, skipped or failed,
        window, rows, times, error, log); a failure is returned. Already running: waits ``wait`` s, then Conflict."""
        return pipelines.run_pipeline(self._ctx, name, full=full, wait=wait, trigger=trigger)

    def backfill(self, name: str, start: Any, end: Any, interval: Any = "1d") -> list[dict[str, Any]]:
        """Recompute the event-time range [start, end) in intervals, one run each, oldest first.
        Backfills never move the incremental watermark; re-running one rewrites the same rows
        (the later write wins)."""
        return pipelines.backfill(self._ctx, name, start, end, interval)

    def pipeline_runs(self, name: str | None = None, limit: int = 50) -> "pd.DataFrame":
        """Runs, newest first (of one pipeline, or of all): status, window, rows, times, error."""
        return pipelines.pipeline_runs(self._ctx, name, limit)

    def pipeline_run(self, run_id: int) -> dict[str, Any]:
        """One run with its log and, for a failure, the error and traceback."""
        return pipelines.pipeline_run(self._ctx, run_id)

    def preview_pipeline(self, name: str | None = None, rows: int = pipelines.PREVIEW_ROWS,
                         **definition: Any) -> dict[str, Any]:
        """What a stored pipeline's (``name``) or a definition's next run would compute, written nowhere, from at
        most ``rows`` rows of each input group: the output (first 200 rows), its row count, the window and the
        problems a run would meet. See ``store.pipelines.preview``."""
        return pipelines.preview_pipeline(self._ctx, name, rows, **definition)

    def scheduler_status(self) -> dict[str, Any]:
        """Whether a scheduler runs on this store: {"running", "pid", "host", "since"}."""
        return pipelines.scheduler_status(self._ctx)

    def run_scheduler(self, tick: float = 1.0, stop: Any = None) -> None:
        """Run due pipelines until ``stop`` (a threading.Event) is set: cron schedules (one
        catch-up run after downtime), on_change triggers and retries of failed scheduled runs.
        One scheduler per store: a second raises Conflict."""
        pipelines.run_scheduler(self._ctx, lambda owner: access_api.with_principal(self._ctx, owner), tick, stop)

    # ----------------------------------------------------------------------------- streams
    def consume(self, group: str, topics: str | Sequence[str], bootstrap_servers: str, **options: Any) -> Any:
        """Read Kafka ``topics`` into ``group`` exactly once; ``options``: ``StreamSpec``'s fields and
        max_messages, idle_timeout, stop. Returns a StreamReport (see ``store.streams.consumer``)."""
        return streams.consume(self._ctx, group, topics, bootstrap_servers, **options)

    def stream_status(self) -> list[dict[str, Any]]:
        """Every stream's counts, last error and stored offsets (those of groups the caller may see)."""
        return streams.status(self._ctx)

    # ----------------------------------------------------------------------------- access
    @property
    def governed(self) -> bool:
        """Whether an access policy (the store's access file, or one published in its tables)
        governs this store; without one everything is allowed, and writes are still audited."""
        return access_api.governed(self._ctx)

    def with_principal(self, principal: Any) -> "FeatureStore":
        """The same open store seen as another principal of its access file (a name, or a
        ``Principal``; on a store without one, whose writes are logged in that name): the server
        and the studio take one per signed-in caller. Do not close it."""
        handle = copy.copy(self)  # the same maintainer and parts; only the policy differs
        handle._ctx = access_api.with_principal(self._ctx, principal)
        return handle

    def allowed(self, action: str, group: str | None = None) -> bool:
        """Whether this handle's principal may call ``action`` (a ``FeatureStore`` method name) on
        ``group`` (None: store-wide), as the check the call meets would decide: front ends hide or
        disable what would be refused. Everything is allowed on a store without an access policy.
        Raises ValidationError for a name that is not a method."""
        return access_api.allowed(self._ctx, action, group)

    def record_sign_in(self, name: str, outcome: str, details: dict[str, Any] | None = None) -> None:
        """Log a refused sign-in to a front end of this store (the studio's password form), in the name tried:
        ``outcome`` "denied" (wrong name or password) or "locked" (too many failures in a row). The entry also names
        the principal that recorded it (``via``): the name tried is only a claim, and an entry made by another caller
        is attributable to it. Raises ValidationError for another outcome."""
        access_api.record_sign_in(self._ctx, name, outcome, details)

    def publish_access(self, path: str | None) -> None:
        """Make the access file at ``path`` this shared store's policy on every machine, or with
        None withdraw it (an admin's call; see ``store.access.published``)."""
        access_api.publish_access(self._ctx, path)

    def remove_access_policy(self) -> dict[str, str]:
        """Stop enforcing the local access file (an admin's call, while the file still reads): it
        is moved aside to ``<file>.removed`` and the store's record of it cleared, audited, so the
        store opens without a policy; until then a store that had one refuses to open without it.
        Returns {"path", "kept_as"}. See ``store.access.local``."""
        return access_api.remove_access_policy(self._ctx)

    def audit(self, since: Any = None, principal: str | None = None, group: str | None = None,
              action: str | None = None, limit: int = 10_000) -> "pd.DataFrame":
        """Audit entries, newest first: when, who, what, which group, outcome and counts."""
        return access_api.audit(self._ctx, since, principal, group, action, limit)

    def verify_audit(self) -> dict[str, Any]:
        """Check the audit log's hash chain and that it ends where its recorded head says: {"ok", "entries",
        "last_id", "last_hash", "first_bad_id", "problem"}. Keep "entries" and "last_hash" somewhere else too: a later
        check against them catches even an attacker who rewrote the whole log."""
        return access_api.verify_audit(self._ctx)

    @property
    def principal(self) -> str:
        """The name this handle's calls act as: the principal it was opened or taken
        (``with_principal``) for, by default $FEATURESTORE_PRINCIPAL or the OS user."""
        return self._ctx.policy.name

    def can(self, role: str, group: str | None = None) -> bool:
        """Whether this handle's principal holds ``role`` ("viewer", "editor", "owner" or "admin") on ``group``, or
        with None on some group (for "admin": an admin grant), as the access policy decides; always True on a store
        without one. Front ends hide what the principal lacks; ``allowed`` asks the same of a method. Raises
        ValidationError for another role."""
        return access_views.can(self._ctx, role, group)

    def policy(self) -> "AccessFile | None":
        """The access file in force (a published one as it stands now), or None on a store without an access policy:
        what a front end checks passwords and keys against. Only the handle that opened the store reads it (it holds
        password hashes and key secrets); on a ``with_principal`` handle, and while a local access file is gone or
        does not parse, it raises AccessDenied."""
        return access_views.policy(self._ctx)

    def browser(self) -> "Browser":
        """The studio's read-only views under this handle's policy: a page of latest records, time travel with its
        differences and SQL, a group's writes, a feature's distribution and series, a key check and dataset column
        names (see ``store.retrieval.browse``). Each view checks the read of the groups it shows."""
        return browse.Browser(self._ctx)

    def data_version(self, group: str) -> tuple:
        """A key that changes whenever ``group``'s rows (a put, delete, ingest, flush, retention) or its definition
        change (it also moves with any other definition change): one registry row, read in microseconds, for caches of
        results computed from the group (the studio keys its statistics with it). Raises NotFound."""
        return registry.data_version(self._ctx.db.get(), group)



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


install(FeatureStore, lambda fs: fs._ctx)  # every public method checks the principal's role once an access file is in force
