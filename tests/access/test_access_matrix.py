"""Every role against every public method and HTTP operation, from two tables.

``METHODS`` has one row per public method of ``FeatureStore`` (mixins included) and ``OPERATIONS``
one per operation ``featurestore serve`` dispatches; a test holds each table to what the code
offers, so a method or operation added later without a row fails. Each row says how to call it
on a group with valid arguments, the least role on that group it needs (from the README's
Security section: a viewer reads, an editor also writes, ingests and runs pipelines, an owner
also changes and deletes the group, its rules, monitors and pipelines, an admin does everything,
creating groups and reading the audit log included; a principal without a grant is refused
everything), and how the call is aimed at a group the caller may not see.

A hidden group must look like a nonexistent one (the semantics' "hidden groups are absent from
every answer and error"): the call aimed at ``secret`` fails exactly as it does for ``nosuch``, a
group that does not exist, once the names are swapped, and an answer names nothing of ``secret``.
A refused call changes nothing in the store.

Three methods are open to anyone, a principal without a grant included: ``close``,
``with_principal`` and ``flush`` (upkeep: rows already accepted move to Parquet); aimed at a
hidden group, ``flush`` too must answer as for a missing one.

The expected outcomes are written from the README and the behaviour reference (semantics.md,
"Access and audit"), not from ``store.access.guard.ACTIONS``; a test compares the two tables and
names any difference. Rows that fail name the role, the probe and both answers.
"""
from __future__ import annotations

import dataclasses
import inspect
import io
import json
import os
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable

import pandas as pd
import pytest

from store import AccessDenied, Feature, FeatureStore, NotFound, OnDemandFeature, ValidationError

ROLES = ("none", "viewer", "editor", "owner", "admin")
RANK = {role: i for i, role in enumerate(ROLES)}
PRINCIPALS = {"none": "mallory", "viewer": "vic", "editor": "ed", "owner": "own", "admin": "root"}
ACCESS = """
users:
  - {name: vic, roles: [{role: viewer, groups: [public]}]}
  - {name: ed, roles: [{role: editor, groups: [public]}]}
  - {name: own, roles: [{role: owner, groups: [public]}]}
  - {name: root, roles: [{role: admin}]}
"""
VISIBLE, HIDDEN, MISSING = "public", "secret", "nosuch"
# What only the hidden group holds: its name, a feature of its own and a value.
SECRET_MARKERS = re.compile("secret|classified", re.IGNORECASE)
T0 = "2026-01-01T00:00:00Z"
REFERENCE, CURRENT = ("2025-12-01", "2026-01-01"), ("2026-01-01", "2026-02-01")
RULES = [{"feature": "label", "check": "not_null"}]
ENTITY = pd.DataFrame({"id": ["r1"], "event_time": pd.to_datetime(["2026-02-01"], utc=True)})
REFUSED = (AccessDenied, NotFound)
FAKE_DATASET, FAKE_ID = "0123456789ab", 987654321
ENTITY_NAME = "account"


def twice(name: str, group: str) -> OnDemandFeature:
    return OnDemandFeature(name, inputs=[f"{group}:amount"], outputs=[Feature("twice", "Fractional")], sql="amount * 2")


def features(group: str) -> list[Feature]:
    own = [Feature("classified", "String")] if group == HIDDEN else []
    return [Feature("id"), Feature("ts"), Feature("amount", "Fractional"), Feature("label"), *own]


def batch(group: str, n: int = 3, start: int = 0) -> pd.DataFrame:
    rows = pd.DataFrame({"id": [f"b{start + i}" for i in range(n)], "ts": T0, "amount": 1.5, "label": "ok"})
    return rows.assign(classified="TOP-SECRET") if group == HIDDEN else rows


class World:
    """The module's store and the things rows refer to (datasets, runs, quarantined rows), made
    by the admin on first use and remade when a row's call removed them."""

    def __init__(self, path: str, tmp: str) -> None:
        self.path, self.tmp = path, tmp
        self.admin = FeatureStore(path, principal=PRINCIPALS["admin"])
        self.handles = {role: self.admin.with_principal(name) for role, name in PRINCIPALS.items()}
        self.handles["admin"] = self.admin
        self.opened: list[FeatureStore] = []  # stores a row opened as its principal (see opened_as)
        self.stopped = threading.Event()
        self.stopped.set()  # the scheduler returns at once
        self.suite = os.path.join(tmp, "suite.json")
        with open(self.suite, "w", encoding="utf-8") as fh:
            json.dump({"expectation_suite_name": "s", "expectations": [
                {"expectation_type": "expect_column_values_to_not_be_null", "kwargs": {"column": "label"}}]}, fh)
        self.outside_csv = os.path.join(tmp, "outside", "private.csv")
        os.makedirs(os.path.dirname(self.outside_csv))
        batch(HIDDEN).to_csv(self.outside_csv, index=False)
        self._datasets: dict[str, str] = {}
        self._runs: dict[str, int] = {}
        self._quarantined: dict[str, list[int]] = {}
        self._counter = 0
        # An entity both groups declare: its definition is store-wide, its groups and lookups are cut.
        self.admin.create_entity(ENTITY_NAME, keys=[Feature("id")])
        for group in (VISIBLE, HIDDEN):
            self.rebuild(group)
        # An admin's pipeline writing into the visible group from the hidden one: whoever runs it
        # must be able to read its input (D2), so no one but the admin may.
        self.admin.create_pipeline("from_secret", target=VISIBLE, inputs=[HIDDEN], mode="full",
                                   sql="SELECT 'x' || id AS id, ts, amount, 'copied' AS label FROM secret")
        self.admin.run_pipeline("from_secret")
        # A dataset and a model over both groups: the visible one must not lead to them (their
        # names carry the hidden group's, so an answer that shows them is caught).
        both = self.admin.build_dataset(ENTITY, [VISIBLE, HIDDEN], name="public_with_secret")
        self.admin.register_model("model_with_secret", datasets=[both.id])
        for group in (VISIBLE, HIDDEN):
            self.run(group)
            self.admin.register_model(f"model_of_{group}", datasets=[self.dataset(group)])
            # A feature service per group: one over a hidden group is absent, as a missing one is.
            self.admin.create_feature_service(f"svc_{group}", [group])
            self.admin.register_on_demand(twice(f"od_{group}", group))

    def rebuild(self, group: str) -> None:
        """The group as the module starts it, if it is gone: records in a flushed file, rules, a
        monitor, and a pipeline that copies the group onto itself (resumed if paused)."""
        if group not in {g.name for g in self.admin.list_feature_groups()}:
            self.admin.create_feature_group(group, "id", "ts", features(group), tags={"team": "risk"},
                                            entity=ENTITY_NAME)
            record = {"id": "r1", "ts": T0, "amount": 2.5, "label": "TOP-SECRET" if group == HIDDEN else "open"}
            self.admin.put_record(group, {**record, **({"classified": "TOP-SECRET"} if group == HIDDEN else {})})
            self.admin.ingest(group, batch(group))
            self.admin.flush()
            self.admin.set_rules(group, RULES)
            self.admin.set_monitor(group, expected_interval=3600)
        if f"{group}_copy" not in {p["name"] for p in self.admin.list_pipelines()}:
            self.admin.create_pipeline(f"{group}_copy", target=group, inputs=[group], mode="full",
                                       sql=f"SELECT id, ts, amount, label FROM {group}")
        self.admin.resume_pipeline(f"{group}_copy")

    def drop_group(self, name: str) -> None:
        if name in {g.name for g in self.admin.list_feature_groups()}:
            self.admin.delete_feature_group(name)

    def spare_entity(self) -> str:
        """An entity no group declares (for a delete to go through)."""
        if "spare" not in {e.name for e in self.admin.list_entities()}:
            self.admin.create_entity("spare", keys=[Feature("id")])
        return "spare"

    def drop_made_entities(self) -> None:
        for e in self.admin.list_entities():
            if e.name.startswith("made"):
                self.admin.delete_entity(e.name)

    def spare_service(self, group: str) -> str:
        """A service for a delete to go through."""
        if f"spare_svc_{group}" not in {s.name for s in self.admin.list_feature_services()}:
            self.admin.create_feature_service(f"spare_svc_{group}", [group])
        return f"spare_svc_{group}"

    def spare_on_demand(self, group: str) -> str:
        """An on-demand feature no service uses (for a delete to go through)."""
        if f"spare_od_{group}" not in {f.name for f in self.admin.list_on_demand_features()}:
            self.admin.register_on_demand(twice(f"spare_od_{group}", group))
        return f"spare_od_{group}"

    def drop_made_on_demand(self) -> None:
        for f in self.admin.list_on_demand_features():
            if f.name.startswith("made_od"):
                self.admin.delete_on_demand_feature(f.name)

    def drop_made_services(self) -> None:
        for s in self.admin.list_feature_services():
            if s.name.startswith("made_svc"):
                self.admin.delete_feature_service(s.name)

    def drop_pipelines(self, *names: str) -> None:
        existing = {p["name"] for p in self.admin.list_pipelines()}
        for name in names:
            if name in existing:
                self.admin.delete_pipeline(name)

    def count(self) -> int:
        self._counter += 1
        return self._counter

    def scratch(self, group: str) -> str:
        """A feature the admin just added to ``group``, for a row to drop."""
        name = self.scratched = f"scratch{self.count()}"
        if group != MISSING:
            self.admin.add_features(group, [Feature(name)])
        return name

    def dataset(self, group: str) -> str:
        """The id of a dataset the admin built on ``group`` (a made-up id for a missing group)."""
        if group == MISSING:
            return FAKE_DATASET
        if group not in self._datasets or self._datasets[group] not in {d["id"] for d in self.admin.datasets()}:
            self._datasets[group] = self.admin.build_dataset(ENTITY, [group]).id
        return self._datasets[group]

    def run(self, group: str) -> int:
        """The id of a run of ``group``'s pipeline."""
        if group == MISSING:
            return FAKE_ID
        runs = self.admin.pipeline_runs(f"{group}_copy")
        if group not in self._runs or self._runs[group] not in set(runs["id"]):
            self._runs[group] = self.admin.run_pipeline(f"{group}_copy")["id"]
        return self._runs[group]

    def quarantined(self, group: str) -> list[int]:
        """Ids of rows waiting in ``group``'s quarantine."""
        if group == MISSING:
            return [FAKE_ID]
        held = set(self.admin.quarantine(group)["id"])
        if not self._quarantined.get(group) or not set(self._quarantined[group]) <= held:
            bad = batch(group, 1, start=1000 + self.count()).assign(label=None)
            self.admin.ingest(group, bad, on_error="skip")
            self._quarantined[group] = sorted(set(self.admin.quarantine(group)["id"]) - held)
        return self._quarantined[group]

    def principal_of(self, fs: FeatureStore) -> str:
        return next(PRINCIPALS[role] for role, handle in self.handles.items() if handle is fs)

    def fingerprint(self) -> tuple[Any, ...]:
        return fingerprint(self.path)

    def put_policy_back(self) -> None:
        """Undo ``remove_access_policy``: the file back, and recorded again by an opener under it."""
        os.replace(f"{self.path}/access.yaml.removed", f"{self.path}/access.yaml")
        FeatureStore(self.path, principal=PRINCIPALS["admin"]).close()


def fingerprint(path: str, skip: tuple[str, ...] = ()) -> tuple[Any, ...]:
    """Everything a call could change: each table of the store but the audit's (refusals are
    logged) and those in ``skip``, and the offline files."""
    conn = sqlite3.connect(f"file:{os.path.join(path, 'featurestore.db')}?mode=ro", uri=True)
    try:
        tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                  if not t.startswith("audit") and t not in ("sqlite_sequence", "leases", *skip)]
        content = tuple((t, sorted(map(repr, conn.execute(f'SELECT * FROM "{t}"')))) for t in tables)
    finally:
        conn.close()
    files = sorted((os.path.relpath(os.path.join(d, f), path), os.path.getsize(os.path.join(d, f)))
                   for d, _, names in os.walk(os.path.join(path, "offline")) for f in names)
    return content, tuple(files)


def changes(before: tuple[Any, ...], after: tuple[Any, ...]) -> list[str]:
    """The tables (and "offline files") that differ between two fingerprints."""
    tables = dict(before[0]), dict(after[0])
    named = sorted(t for t in tables[0].keys() | tables[1].keys() if tables[0].get(t) != tables[1].get(t))
    return named + (["offline files"] if before[1] != after[1] else [])


W: World  # set by the module fixture; the rows' calls read it when they run


@dataclass(frozen=True)
class Probe:
    """A call aimed at a group the caller may not see. ``missing``: it must answer exactly as for
    a group that does not exist; otherwise it must be refused (a pipeline whose input is hidden:
    the caller may see the pipeline, so only the refusal and the absence of data are required).
    ``echo``: the answer may repeat the name the caller gave (a preview reporting its own SQL's
    error), so it need only equal the missing group's, names swapped."""
    call: Callable[[FeatureStore, str], Any]
    missing: bool = True
    refusals: tuple[type[Exception], ...] = REFUSED
    echo: bool = False


@dataclass(frozen=True)
class Row:
    call: Callable[[FeatureStore, str], Any]  # valid arguments, on the group given
    needs: str | None  # least role on the group; None: anyone, even a principal without a grant
    hidden: tuple[Probe, ...] = ()  # default: the call itself, aimed at the hidden group
    restore: Callable[[str], None] | None = None  # as the admin, after a call that went through
    prepare: Callable[[str], Any] | None = None  # as the admin, before the store is fingerprinted
    passes_to: type[Exception] | None = None  # the error the call meets once past the access check

    @property
    def probes(self) -> tuple[Probe, ...]:
        return self.hidden or (Probe(self.call),)


def new_group(fs: FeatureStore, name: str) -> Any:
    return fs.create_feature_group(name, "id", "ts", features(VISIBLE))


def copy_sql(group: str) -> str:
    return f"SELECT id, ts, amount, label FROM {group}"


def lineage_of(fs: FeatureStore, group: str) -> Any:
    return fs.lineage(node=f"feature_group:{group}", depth=2)


METHODS: dict[str, Row] = {
    # -- reads of one group: a viewer's ----------------------------------------------------------
    "as_of": Row(lambda fs, g: fs.as_of(g), "viewer"),
    "batch_get_records": Row(lambda fs, g: fs.batch_get_records(g, ["r1", "b0"]), "viewer"),
    "describe": Row(lambda fs, g: fs.describe(g), "viewer"),
    "data_version": Row(lambda fs, g: fs.data_version(g), "viewer"),
    "browser": Row(lambda fs, g: fs.browser().latest_page(g, 5), "viewer",
                   hidden=(Probe(lambda fs, g: fs.browser().latest_page(g, 5)),
                           Probe(lambda fs, g: fs.browser().write_batches(g)),
                           Probe(lambda fs, g: fs.browser().time_travel(g)),
                           Probe(lambda fs, g: fs.browser().over_time(g)))),
    "distributions": Row(lambda fs, g: fs.distributions(g, "label", REFERENCE, CURRENT), "viewer"),
    "drift": Row(lambda fs, g: fs.drift(g, REFERENCE, CURRENT), "viewer"),
    "drift_timeline": Row(lambda fs, g: fs.drift_timeline(g, periods=3), "viewer"),
    "feature_group": Row(lambda fs, g: fs.feature_group(g), "viewer"),
    "feature_metadata": Row(lambda fs, g: fs.feature_metadata(g, "label"), "viewer"),
    "freshness": Row(lambda fs, g: fs.freshness(g), "viewer"),
    "get_record": Row(lambda fs, g: fs.get_record(g, "r1"), "viewer"),
    "history": Row(lambda fs, g: fs.history(g, "r1"), "viewer"),
    "list_record_ids": Row(lambda fs, g: fs.list_record_ids(g), "viewer"),
    "monitor": Row(lambda fs, g: fs.monitor(g), "viewer"),
    "online_record": Row(lambda fs, g: fs.online_record(g, "r1"), "viewer"),
    "preview_rules": Row(lambda fs, g: fs.preview_rules(g, RULES), "viewer"),
    "quality_check": Row(lambda fs, g: fs.quality_check(g, batch(g), RULES), "viewer"),
    "quarantine": Row(lambda fs, g: fs.quarantine(g), "viewer"),
    "quarantine_retention": Row(lambda fs, g: fs.quarantine_retention(g), "viewer"),
    "rules": Row(lambda fs, g: fs.rules(g), "viewer"),
    "statistics": Row(lambda fs, g: fs.statistics(g), "viewer"),
    "suggest_rules": Row(lambda fs, g: fs.suggest_rules(g), "viewer"),
    "validate": Row(lambda fs, g: fs.validate(g, batch(g)), "viewer"),
    "validation_runs": Row(lambda fs, g: fs.validation_runs(g), "viewer"),
    "volume": Row(lambda fs, g: fs.volume(g), "viewer"),
    "storage": Row(lambda fs, g: fs.storage(g), "viewer",
                   hidden=(Probe(lambda fs, g: fs.storage(g)), Probe(lambda fs, g: fs.storage()))),
    "check_monitors": Row(lambda fs, g: fs.check_monitors(g), "viewer",
                          hidden=(Probe(lambda fs, g: fs.check_monitors(g)), Probe(lambda fs, g: fs.check_monitors()))),
    # -- reads across groups: a viewer's, cut to what the caller may see -------------------------
    "list_feature_groups": Row(lambda fs, g: fs.list_feature_groups(), "viewer"),
    "search": Row(lambda fs, g: fs.search(g), "viewer"),
    "query": Row(lambda fs, g: fs.query(f"SELECT count(*) AS n FROM {g}"), "viewer",
                 hidden=(Probe(lambda fs, g: fs.query(f"SELECT count(*) AS n FROM {g}"),
                              refusals=(ValidationError, AccessDenied)),)),  # an unknown table is a SQL error
    "query_csv": Row(lambda fs, g: fs.query_csv(f"SELECT count(*) AS n FROM {g}", io.BytesIO()), "viewer",
                     hidden=(Probe(lambda fs, g: fs.query_csv(f"SELECT count(*) AS n FROM {g}", io.BytesIO()),
                                   refusals=(ValidationError, AccessDenied)),)),
    "lineage": Row(lambda fs, g: fs.lineage(), "viewer",
                   hidden=(Probe(lambda fs, g: fs.lineage()), Probe(lineage_of))),
    "usage": Row(lambda fs, g: fs.usage(), "viewer"),
    "build_dataset": Row(lambda fs, g: fs.build_dataset(ENTITY, [g]), "viewer",
                         hidden=(Probe(lambda fs, g: fs.build_dataset(ENTITY, [g])),
                                 Probe(lambda fs, g: fs.build_dataset(ENTITY, [f"{g}:nope"])))),
    "dataset": Row(lambda fs, g: fs.dataset(W.dataset(g)), "viewer", prepare=lambda g: W.dataset(g)),
    "rebuild_dataset": Row(lambda fs, g: fs.rebuild_dataset(W.dataset(g)), "viewer", prepare=lambda g: W.dataset(g)),
    "datasets": Row(lambda fs, g: fs.datasets(), "viewer"),
    # Entities are store-wide: the hidden group must be absent from their groups and lookups.
    "entity": Row(lambda fs, g: fs.entity(ENTITY_NAME), "viewer"),
    "list_entities": Row(lambda fs, g: fs.list_entities(), "viewer"),
    "entity_record": Row(lambda fs, g: fs.entity_record(ENTITY_NAME, "r1"), "viewer"),
    "feature_service": Row(lambda fs, g: fs.feature_service(f"svc_{g}"), "viewer"),
    "list_feature_services": Row(lambda fs, g: fs.list_feature_services(), "viewer"),
    "feature_service_history": Row(lambda fs, g: fs.feature_service_history(f"svc_{g}"), "viewer"),
    "get_online_features": Row(lambda fs, g: fs.get_online_features(f"svc_{g}", [{"id": "r1"}]), "viewer"),
    "on_demand_feature": Row(lambda fs, g: fs.on_demand_feature(f"od_{g}"), "viewer"),
    "list_on_demand_features": Row(lambda fs, g: fs.list_on_demand_features(), "viewer"),
    "list_pipelines": Row(lambda fs, g: fs.list_pipelines(), "viewer"),
    "scheduler_status": Row(lambda fs, g: fs.scheduler_status(), "viewer"),
    "stream_status": Row(lambda fs, g: fs.stream_status(), "viewer"),
    "pipeline": Row(lambda fs, g: fs.pipeline(f"{g}_copy"), "viewer",
                    hidden=(Probe(lambda fs, g: fs.pipeline(f"{g}_copy")),
                            Probe(lambda fs, g: fs.pipeline(f"from_{g}"), missing=False))),
    "pipeline_runs": Row(lambda fs, g: fs.pipeline_runs(f"{g}_copy"), "viewer",
                         hidden=(Probe(lambda fs, g: fs.pipeline_runs(f"{g}_copy")),
                                 Probe(lambda fs, g: fs.pipeline_runs()))),
    "pipeline_run": Row(lambda fs, g: fs.pipeline_run(W.run(g)), "viewer", prepare=lambda g: W.run(g)),
    "preview_pipeline": Row(
        lambda fs, g: fs.preview_pipeline(f"{g}_copy"), "viewer",
        hidden=(Probe(lambda fs, g: fs.preview_pipeline(f"{g}_copy")),
                Probe(lambda fs, g: fs.preview_pipeline(target=VISIBLE, inputs=[g], sql=copy_sql(g), mode="full"),
                     refusals=(*REFUSED, ValidationError)),  # an input that is no group is read as a file path
                Probe(lambda fs, g: fs.preview_pipeline(  # the hidden group's files, read by path
                    target=VISIBLE, inputs=[VISIBLE], mode="full",
                    sql=f"SELECT * FROM read_parquet('{W.path}/offline/{g}/**/*.parquet')"),
                     refusals=(*REFUSED, ValidationError), echo=True),
                Probe(lambda fs, g: fs.preview_pipeline(  # a file outside the store
                    target=VISIBLE, inputs={"x": W.outside_csv}, sql="SELECT * FROM x", mode="full"),
                      missing=False, refusals=(*REFUSED, ValidationError)))),
    # -- writes: an editor's ---------------------------------------------------------------------
    "put_record": Row(lambda fs, g: fs.put_record(g, {"id": "w1", "ts": T0, "amount": 1.0, "label": "x"}), "editor"),
    "ingest": Row(lambda fs, g: fs.ingest(g, batch(g, start=100)), "editor"),
    "consume": Row(lambda fs, g: fs.consume(g, "topic", "127.0.0.1:1", batch_size=0), "editor",
                   passes_to=ValidationError),  # past the check, the bad setting is refused before any connection
    "delete_record": Row(lambda fs, g: fs.delete_record(g, "never-written", "2026-06-01T00:00:00Z"), "editor"),
    "requeue": Row(lambda fs, g: fs.requeue(g, W.quarantined(g)), "editor", prepare=lambda g: W.quarantined(g)),
    "release_quarantined": Row(lambda fs, g: fs.release_quarantined(g, W.quarantined(g)), "editor",
                               prepare=lambda g: W.quarantined(g)),
    "run_pipeline": Row(lambda fs, g: fs.run_pipeline(f"{g}_copy"), "editor",
                        hidden=(Probe(lambda fs, g: fs.run_pipeline(f"{g}_copy")),
                                Probe(lambda fs, g: fs.run_pipeline(f"from_{g}"), missing=False))),
    "backfill": Row(lambda fs, g: fs.backfill(f"{g}_copy", "2026-01-01", "2026-01-02"), "editor",
                    hidden=(Probe(lambda fs, g: fs.backfill(f"{g}_copy", "2026-01-01", "2026-01-02")),
                            Probe(lambda fs, g: fs.backfill(f"from_{g}", "2026-01-01", "2026-01-02"), missing=False))),
    # A model is lineage written over datasets; the datasets' groups must be readable.
    "register_model": Row(lambda fs, g: fs.register_model(f"model_{g}", datasets=[W.dataset(g)]), "editor",
                          prepare=lambda g: W.dataset(g)),
    # -- changes of the group, its rules, monitors and pipelines: an owner's ---------------------
    "add_features": Row(lambda fs, g: fs.add_features(g, [Feature(f"extra{W.count()}")]), "owner",
                        hidden=(Probe(lambda fs, g: fs.add_features(g, [Feature("extra")])),)),
    "update_feature_group": Row(lambda fs, g: fs.update_feature_group(g, description="Updated"), "owner"),
    "change_features": Row(lambda fs, g: fs.change_features(g, drop=[W.scratched]), "owner",
                           prepare=lambda g: W.scratch(g)),
    "definition_history": Row(lambda fs, g: fs.definition_history(g), "viewer"),
    "update_feature_metadata": Row(lambda fs, g: fs.update_feature_metadata(g, "label", description="A label"),
                                   "owner"),
    "delete_feature_group": Row(lambda fs, g: fs.delete_feature_group(g), "owner", restore=lambda g: W.rebuild(g)),
    "set_rules": Row(lambda fs, g: fs.set_rules(g, RULES), "owner"),
    "import_rules": Row(lambda fs, g: fs.import_rules(g, W.suite, replace=True), "owner"),
    "set_monitor": Row(lambda fs, g: fs.set_monitor(g, expected_interval=3600), "owner"),
    "set_quarantine_retention": Row(lambda fs, g: fs.set_quarantine_retention(g, timedelta(days=30)), "owner"),
    "compact": Row(lambda fs, g: fs.compact(g), "owner"),
    "sweep_expired": Row(lambda fs, g: fs.sweep_expired(g), "owner"),
    "create_pipeline": Row(
        lambda fs, g: fs.create_pipeline(f"{g}_new", target=g, inputs=[g], sql=copy_sql(g), mode="full"), "owner",
        hidden=(Probe(lambda fs, g: fs.create_pipeline(f"{g}_new", target=g, inputs=[g], sql=copy_sql(g), mode="full")),
                # into the caller's own group, reading the hidden one (D2): every input needs a read grant
                # (an input that is no group is read as a file path: a ValidationError if none is there)
                Probe(lambda fs, g: fs.create_pipeline(f"in_{g}", target=VISIBLE, inputs=[g], sql=copy_sql(g),
                                                      mode="full"), refusals=(*REFUSED, ValidationError))),
        restore=lambda g: W.drop_pipelines(f"{g}_new", f"in_{g}")),
    "update_pipeline": Row(lambda fs, g: fs.update_pipeline(f"{g}_copy", description="Updated"), "owner"),
    "delete_pipeline": Row(lambda fs, g: fs.delete_pipeline(f"{g}_copy"), "owner", restore=lambda g: W.rebuild(g)),
    "pause_pipeline": Row(lambda fs, g: fs.pause_pipeline(f"{g}_copy"), "owner", restore=lambda g: W.rebuild(g)),
    "resume_pipeline": Row(lambda fs, g: fs.resume_pipeline(f"{g}_copy"), "owner"),
    # -- the store's administration: an admin's --------------------------------------------------
    "create_feature_group": Row(lambda fs, g: new_group(fs, f"{g}_new"), "admin",
                                hidden=(Probe(lambda fs, g: new_group(fs, g)),),
                                restore=lambda g: W.drop_group(f"{g}_new")),
    "delete_dataset": Row(lambda fs, g: fs.delete_dataset(W.dataset(g)), "admin", prepare=lambda g: W.dataset(g)),
    "create_entity": Row(lambda fs, g: fs.create_entity(f"made{W.count()}", keys=[Feature("id")]), "admin",
                         restore=lambda g: W.drop_made_entities()),
    "update_entity": Row(lambda fs, g: fs.update_entity(ENTITY_NAME, description="Updated"), "admin"),
    "delete_entity": Row(lambda fs, g: fs.delete_entity(W.spare_entity()), "admin", prepare=lambda g: W.spare_entity()),
    # Feature services span groups: admins define them; reading one needs read on every group it reads.
    "create_feature_service": Row(lambda fs, g: fs.create_feature_service(f"made_svc_{g}", [g]), "admin",
                                  restore=lambda g: W.drop_made_services()),
    "update_feature_service": Row(lambda fs, g: fs.update_feature_service(f"svc_{g}", description="Updated"), "admin"),
    "delete_feature_service": Row(lambda fs, g: fs.delete_feature_service(W.spare_service(g)), "admin",
                                  hidden=(Probe(lambda fs, g: fs.delete_feature_service(f"spare_svc_{g}")),),
                                  prepare=lambda g: W.spare_service(g)),
    # On-demand code runs where the store serves: owners of every group it reads register and delete it.
    "register_on_demand": Row(lambda fs, g: fs.register_on_demand(twice(f"made_od_{g}", g)), "owner",
                              restore=lambda g: W.drop_made_on_demand()),
    "delete_on_demand_feature": Row(lambda fs, g: fs.delete_on_demand_feature(W.spare_on_demand(g)), "owner",
                                    hidden=(Probe(lambda fs, g: fs.delete_on_demand_feature(f"spare_od_{g}")),),
                                    prepare=lambda g: W.spare_on_demand(g)),
    "run_scheduler": Row(lambda fs, g: fs.run_scheduler(tick=0.01, stop=W.stopped), "admin"),
    "audit": Row(lambda fs, g: fs.audit(group=g), "admin"),
    "verify_audit": Row(lambda fs, g: fs.verify_audit(), "admin"),
    # A store in one folder reads its access file there: publishing gets past the check, then is
    # refused as a shared store's feature.
    "publish_access": Row(lambda fs, g: fs.publish_access(None), "admin", passes_to=ValidationError),
    # -- open to anyone: they change no answer ---------------------------------------------------
    "flush": Row(lambda fs, g: fs.flush(g), "viewer"),  # rows already accepted move to Parquet; a hidden group is missing
    "remove_access_policy": Row(lambda fs, g: fs.remove_access_policy(), "admin",
                                restore=lambda g: W.put_policy_back()),
    "close": Row(lambda fs, g: FeatureStore(W.path, principal=W.principal_of(fs)).close(), None),
    "with_principal": Row(lambda fs, g: fs.with_principal(PRINCIPALS["viewer"]), None),
    "allowed": Row(lambda fs, g: fs.allowed("get_record", g), None),  # a question; the same answer for hidden and missing
    "record_sign_in": Row(lambda fs, g: fs.record_sign_in("someone", "denied"), None),  # an audit entry only
    "can": Row(lambda fs, g: fs.can("viewer", g), None),  # a question, like allowed
    # the file its opener reads (a principal's handle is refused: tests/test_facade_views.py)
    "policy": Row(lambda fs, g: opened_as(fs).policy(), None),
}


def opened_as(fs: FeatureStore) -> FeatureStore:
    """The store opened by the principal of ``fs`` itself (closed at the end of the test)."""
    opened = FeatureStore(W.path, principal=W.principal_of(fs))
    W.opened.append(opened)
    return opened


def public_methods() -> set[str]:
    return {name for name, value in inspect.getmembers(FeatureStore)
            if callable(value) and not name.startswith("_") and not isinstance(value, type)}


def allowed(row: Row, role: str) -> bool:
    return row.needs is None or (role != "none" and RANK[role] >= RANK[row.needs])


def outcome(call: Callable[[], Any]) -> tuple[Any, BaseException | None]:
    try:
        return call(), None
    except Exception as exc:  # noqa: BLE001 - the table judges every outcome
        return None, exc


def render(value: Any) -> str:
    """A full text of an answer (no elision), to look for what it must not name."""
    if isinstance(value, pd.DataFrame):
        return value.astype(str).to_csv()
    if hasattr(value, "nodes") and hasattr(value, "edges"):
        return json.dumps({"nodes": value.nodes, "edges": value.edges}, default=str)
    if isinstance(value, FeatureStore):
        return ""

    def plain(item: Any) -> Any:
        if isinstance(item, pd.DataFrame):
            return render(item)
        if dataclasses.is_dataclass(item):
            return {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}
        return str(item)

    return json.dumps(value, default=plain)


def normalized(text: str, group: str) -> str:
    """An answer with the group's name and ids swapped for placeholders, to compare the hidden
    group's answer with the missing group's."""
    ids = {HIDDEN: (W._datasets.get(HIDDEN), W._runs.get(HIDDEN)), MISSING: (FAKE_DATASET, FAKE_ID)}[group]
    text = text.replace(ids[0] or "\0", "<dataset>")
    text = re.sub(rf"\b{ids[1]}\b", "<run>", text) if ids[1] is not None else text
    return text.replace(group, "<group>")


def describe(result: Any, exc: BaseException | None) -> str:
    return f"{type(exc).__name__}: {exc}" if exc else f"answered {render(result)[:300]}"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    global W
    tmp = tmp_path_factory.mktemp("matrix")
    path = tmp / "store"
    path.mkdir()
    (path / "access.yaml").write_text(ACCESS)
    W = World(str(path), str(tmp))
    yield W
    for opened in W.opened:
        opened.close()
    W.admin.close()


def test_every_public_method_has_a_row():
    methods = public_methods()
    assert set(METHODS) - methods == set(), "rows for methods FeatureStore no longer has"
    assert methods - set(METHODS) == set(), "public FeatureStore methods without a row in METHODS"


def test_the_rows_agree_with_the_guards_table():
    """A cross-check: the role each row expects is the role the engine asks for (store-wide
    checks ask for the role on some group). The rows are the specification; a difference here
    says which side to look at."""
    from store.access.guard import ACTIONS

    differ = {name: (row.needs, ACTIONS.get(name, ("no entry",))[0]) for name, row in METHODS.items()
              if row.needs != ACTIONS.get(name, ("no entry",))[0]}
    assert differ == {}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_each_role_is_allowed_or_refused_on_a_visible_group(world, method):
    row = METHODS[method]
    problems = []
    for role in ROLES:
        if row.prepare:
            row.prepare(VISIBLE)
        before = world.fingerprint()
        result, exc = outcome(lambda: row.call(world.handles[role], VISIBLE))
        if allowed(row, role):
            if exc is not None and not (row.passes_to and type(exc) is row.passes_to):
                problems.append(f"{role}: expected the call to go through, got {describe(result, exc)}")
            elif exc is None and row.restore:
                row.restore(VISIBLE)
        elif not isinstance(exc, AccessDenied if role != "none" else REFUSED):  # to "none", the group is hidden
            problems.append(f"{role}: expected AccessDenied, got {describe(result, exc)}")
            if exc is None and row.restore:
                row.restore(VISIBLE)
        elif changes(before, world.fingerprint()):
            problems.append(f"{role}: refused, but it changed {changes(before, world.fingerprint())}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_hidden_group_looks_like_a_missing_one(world, method):
    row = METHODS[method]
    problems = []
    for role in ROLES[:-1]:  # the admin sees every group
        fs = world.handles[role]
        for number, probe in enumerate(row.probes):
            where = f"{role}, probe {number}"
            if row.prepare:
                row.prepare(HIDDEN)
            before = world.fingerprint()
            result, exc = outcome(lambda: probe.call(fs, HIDDEN))
            if exc is None and row.restore:
                row.restore(HIDDEN)
            if exc is not None:
                text = f"{exc}"
                if not isinstance(exc, probe.refusals):
                    problems.append(f"{where}: refused with {type(exc).__name__}, not one of "
                                    f"{[c.__name__ for c in probe.refusals]}: {exc}")
                elif SECRET_MARKERS.search(text.replace(HIDDEN, "")):
                    problems.append(f"{where}: the refusal names what the hidden group holds: {exc}")
                elif changes(before, world.fingerprint()):
                    problems.append(f"{where}: refused, but it changed {changes(before, world.fingerprint())}")
            elif not probe.missing:
                problems.append(f"{where}: expected a refusal, got {describe(result, exc)}")
            elif SECRET_MARKERS.search(render(result).replace(HIDDEN, "") if probe.echo else render(result)):
                problems.append(f"{where}: the answer shows the hidden group: {describe(result, exc)}")
            if not probe.missing:
                continue
            missing, missing_exc = outcome(lambda: probe.call(fs, MISSING))
            if (exc is None) != (missing_exc is None):
                problems.append(f"{where}: hidden group {describe(result, exc)}, but a missing group "
                                f"{describe(missing, missing_exc)}")
            elif exc is not None and (type(exc), normalized(str(exc), HIDDEN)) != (
                    type(missing_exc), normalized(str(missing_exc), MISSING)) or exc is None and probe.echo and \
                    normalized(render(result), HIDDEN) != normalized(render(missing), MISSING):
                problems.append(f"{where}: hidden group {describe(result, exc)}, but a missing group "
                                f"{describe(missing, missing_exc)}")
    assert not problems, "\n".join(problems)


# -- the HTTP API: every operation `featurestore serve --keys` dispatches ----------------------------

KEY_ROLES = ("unknown", "viewer", "editor", "owner", "admin")
KEYS = {role: (f"AKIDMATRIX{role.upper():0<8}", f"{role}-secret-matrix") for role in KEY_ROLES}
REVOKED = ("AKIDMATRIXREVOKED", "revoked-secret-matrix")  # an admin key, removed once the server runs
HTTP_ACCESS = """
users:
  - {{name: root, roles: [{{role: admin}}]}}
keys:
  - {{access_key_id: {viewer[0]}, secret_access_key: {viewer[1]}, roles: [{{role: viewer, groups: [public]}}]}}
  - {{access_key_id: {editor[0]}, secret_access_key: {editor[1]}, roles: [{{role: editor, groups: [public]}}]}}
  - {{access_key_id: {owner[0]}, secret_access_key: {owner[1]}, roles: [{{role: owner, groups: [public]}}]}}
  - {{access_key_id: {admin[0]}, secret_access_key: {admin[1]}, roles: [{{role: admin}}]}}
"""
REVOKED_KEY = f"  - {{access_key_id: {REVOKED[0]}, secret_access_key: {REVOKED[1]}, roles: [{{role: admin}}]}}\n"
DEFINITIONS = [{"FeatureName": name, "FeatureType": kind}
               for name, kind in (("id", "String"), ("ts", "String"), ("amount", "Fractional"), ("label", "String"))]


@dataclass(frozen=True)
class Clients:
    sm: Any  # the control plane: boto3 "sagemaker"
    rt: Any  # the runtime: boto3 "sagemaker-featurestore-runtime"


@dataclass(frozen=True)
class Op:
    call: Callable[[Clients, str], dict[str, Any]]  # valid parameters, on the group given
    needs: str  # least role of the signing key on the group
    hidden: Callable[[Clients, str], dict[str, Any]] | None = None  # default: the call, aimed at the hidden group
    restore: Callable[[str], None] | None = None  # as the admin, after a call that went through


def group_arn(group: str) -> str:
    from store.server.shapes import arn

    return arn("us-east-1", group)


def http_record(record_id: str) -> list[dict[str, str]]:
    return [{"FeatureName": "id", "ValueAsString": record_id}, {"FeatureName": "ts", "ValueAsString": T0},
            {"FeatureName": "amount", "ValueAsString": "1.5"}, {"FeatureName": "label", "ValueAsString": "x"}]


def http_create(c: Clients, name: str) -> dict[str, Any]:
    return c.sm.create_feature_group(FeatureGroupName=name, RecordIdentifierFeatureName="id",
                                     EventTimeFeatureName="ts", FeatureDefinitions=DEFINITIONS,
                                     OnlineStoreConfig={"EnableOnlineStore": True})


def http_addition(c: Clients, g: str, name: str) -> dict[str, Any]:
    return c.sm.update_feature_group(FeatureGroupName=g, FeatureAdditions=[{"FeatureName": name,
                                                                             "FeatureType": "String"}])


OPERATIONS: dict[str, Op] = {
    # control plane
    "CreateFeatureGroup": Op(lambda c, g: http_create(c, f"{g}_new"), "admin", hidden=http_create,
                             restore=lambda g: SERVED.drop_group(f"{g}_new")),
    "DescribeFeatureGroup": Op(lambda c, g: c.sm.describe_feature_group(FeatureGroupName=g), "viewer"),
    "ListFeatureGroups": Op(lambda c, g: c.sm.list_feature_groups(), "viewer"),
    "UpdateFeatureGroup": Op(lambda c, g: http_addition(c, g, f"extra{SERVED.count()}"), "owner",
                             hidden=lambda c, g: http_addition(c, g, "extra")),
    "DeleteFeatureGroup": Op(lambda c, g: c.sm.delete_feature_group(FeatureGroupName=g), "owner",
                             restore=lambda g: SERVED.rebuild(g)),
    "DescribeFeatureMetadata": Op(lambda c, g: c.sm.describe_feature_metadata(FeatureGroupName=g, FeatureName="label"),
                                  "viewer"),
    "UpdateFeatureMetadata": Op(lambda c, g: c.sm.update_feature_metadata(FeatureGroupName=g, FeatureName="label",
                                                                          Description="A label"), "owner"),
    "Search": Op(lambda c, g: c.sm.search(Resource="FeatureGroup", SearchExpression={"Filters": [
        {"Name": "FeatureGroupName", "Operator": "Equals", "Value": g}]}), "viewer"),
    "AddTags": Op(lambda c, g: c.sm.add_tags(ResourceArn=group_arn(g), Tags=[{"Key": "team", "Value": "risk"}]),
                  "owner"),
    "ListTags": Op(lambda c, g: c.sm.list_tags(ResourceArn=group_arn(g)), "viewer"),
    "DeleteTags": Op(lambda c, g: c.sm.delete_tags(ResourceArn=group_arn(g), TagKeys=["spare"]), "owner"),
    # runtime
    "PutRecord": Op(lambda c, g: c.rt.put_record(FeatureGroupName=g, Record=http_record("w1")), "editor"),
    "GetRecord": Op(lambda c, g: c.rt.get_record(FeatureGroupName=g, RecordIdentifierValueAsString="r1"), "viewer"),
    "BatchGetRecord": Op(lambda c, g: c.rt.batch_get_record(Identifiers=[
        {"FeatureGroupName": g, "RecordIdentifiersValueAsString": ["r1", "b0"]}]), "viewer"),
    "DeleteRecord": Op(lambda c, g: c.rt.delete_record(
        FeatureGroupName=g, RecordIdentifierValueAsString="never-written", EventTime="2026-06-01T00:00:00Z"), "editor"),
    "BatchWriteRecord": Op(lambda c, g: c.rt.batch_write_record(Entries=[
        {"FeatureGroupName": g, "Record": http_record("w2")}]), "editor"),
    "ListRecords": Op(lambda c, g: c.rt.list_records(FeatureGroupName=g), "viewer"),
}


class Served:
    """The module's server over a store of its own, with one client pair per key."""

    def __init__(self, tmp: str) -> None:
        from store.server.process import LocalServer

        self.path, self.keys_path = os.path.join(tmp, "store"), os.path.join(tmp, "access.yaml")
        with open(self.keys_path, "w", encoding="utf-8") as fh:
            fh.write(HTTP_ACCESS.format(**KEYS) + REVOKED_KEY)
        self.admin = FeatureStore(self.path, principal="root", access=self.keys_path)
        self._counter = 0
        for group in (VISIBLE, HIDDEN):
            self.rebuild(group)
        self.admin.flush()
        self.server = LocalServer(self.path, keys_path=self.keys_path)
        self.server.start()
        self.clients = {role: self._clients(*KEYS[role]) for role in KEY_ROLES}
        self.revoked = self._clients(*REVOKED)
        self.revoked.rt.get_record(FeatureGroupName=VISIBLE, RecordIdentifierValueAsString="r1")  # works until...
        with open(self.keys_path, "w", encoding="utf-8") as fh:  # ...it leaves the file
            fh.write(HTTP_ACCESS.format(**KEYS))
        # A server may notice the edit at its next request or a moment later: give it 3 s.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and http_outcome(lambda: self.revoked.rt.get_record(
                FeatureGroupName=VISIBLE, RecordIdentifierValueAsString="r1"))[0] == "200":
            time.sleep(0.2)

    def _clients(self, key: str, secret: str) -> Clients:
        from botocore.config import Config

        options = {"aws_access_key_id": key, "aws_secret_access_key": secret,
                   "config": Config(retries={"max_attempts": 1})}
        return Clients(self.server.client("sagemaker", **options),
                       self.server.client("sagemaker-featurestore-runtime", **options))

    def rebuild(self, group: str) -> None:
        if group not in {g.name for g in self.admin.list_feature_groups()}:
            self.admin.create_feature_group(group, "id", "ts", features(group), tags={"team": "risk"})
            self.admin.put_record(group, {"id": "r1", "ts": T0, "amount": 2.5,
                                          "label": "TOP-SECRET" if group == HIDDEN else "open"})

    def drop_group(self, name: str) -> None:
        if name in {g.name for g in self.admin.list_feature_groups()}:
            self.admin.delete_feature_group(name)

    def count(self) -> int:
        self._counter += 1
        return self._counter

    def fingerprint(self) -> tuple[Any, ...]:
        """As ``fingerprint``, once the rows earlier calls wrote are flushed: the server flushes
        its buffer and records single puts' validation per minute in the background, which must
        not pass for a change (so wait out a flush of the server's that is under way)."""
        deadline = time.monotonic() + 5
        while self.admin.flush() or (self._staged() and time.monotonic() < deadline):
            time.sleep(0.05)
        # The server also compacts in the background, which rewrites files and the manifest but no
        # row: the offline store is compared by its rows, not by its files.
        tables, _ = fingerprint(self.path, skip=("validation_runs", "offline_files"))
        rows = tuple((g.name, tuple(sorted(self.admin.query(f'SELECT * FROM "{g.name}"').astype(str)
                                           .to_csv(index=False).splitlines())))
                     for g in self.admin.list_feature_groups() if g.offline)
        return tables, rows

    def _staged(self) -> int:
        conn = sqlite3.connect(f"file:{os.path.join(self.path, 'featurestore.db')}?mode=ro", uri=True)
        try:
            tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'staging:%'")]
            return sum(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables)
        finally:
            conn.close()

    def close(self) -> None:
        self.server.stop()
        self.admin.close()


SERVED: Served  # set by the module fixture


def http_outcome(call: Callable[[], dict[str, Any]]) -> tuple[str, str, str, dict[str, Any] | None]:
    """(status, error code, message, response): a refusal inside a batch's Errors counts as the
    call's, since batches answer 200 and report each entry."""
    from botocore.exceptions import ClientError

    try:
        response = call()
    except ClientError as exc:
        error = exc.response["Error"]
        status = str(exc.response["ResponseMetadata"]["HTTPStatusCode"])
        return status, error.get("Code", ""), error.get("Message", ""), None
    errors = response.get("Errors") or []
    if errors:
        return "200 with errors", errors[0].get("ErrorCode", ""), errors[0].get("ErrorMessage", ""), response
    return "200", "", "", response


def body(response: dict[str, Any] | None) -> str:
    """A response without its request id, date and other metadata."""
    if response is None:
        return ""
    return json.dumps({k: v for k, v in response.items() if k != "ResponseMetadata"}, default=str, sort_keys=True)


def access_code(operation: str) -> str:
    """What each service calls a refusal: the control plane AccessDeniedException, the runtime
    AccessForbidden (both HTTP 403)."""
    from store.server import runtime

    return "AccessForbidden" if operation in runtime.HANDLERS else "AccessDeniedException"


def http_refused(operation: str, status: str, code: str) -> bool:
    return code == access_code(operation) and status in ("403", "200 with errors")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    global SERVED
    pytest.importorskip("boto3", reason="the HTTP table drives the server with boto3")
    SERVED = Served(str(tmp_path_factory.mktemp("served")))
    yield SERVED
    SERVED.close()


def test_every_dispatched_operation_has_a_row():
    from store.server import app

    dispatched = {op for handlers in app._HANDLERS.values() for op in handlers}
    assert set(OPERATIONS) - dispatched == set(), "rows for operations the server no longer dispatches"
    assert dispatched - set(OPERATIONS) == set(), "operations the server dispatches without a row in OPERATIONS"


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_each_key_is_allowed_or_refused_on_a_visible_group(served, operation):
    op = OPERATIONS[operation]
    problems = []
    for role in KEY_ROLES:
        before = served.fingerprint()
        status, code, message, _ = http_outcome(lambda: op.call(served.clients[role], VISIBLE))
        went_through = status == "200"
        if went_through and op.restore:
            op.restore(VISIBLE)
        if role != "unknown" and RANK[role] >= RANK[op.needs]:
            if not went_through:
                problems.append(f"{role} key: expected success, got {status} {code}: {message}")
        elif not http_refused(operation, status, code):
            problems.append(f"{role} key: expected 403 {access_code(operation)}, got {status} {code} {message}")
        elif changes(before, served.fingerprint()):
            problems.append(f"{role} key: refused, but it changed {changes(before, served.fingerprint())}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_a_hidden_group_looks_like_a_missing_one_over_http(served, operation):
    op = OPERATIONS[operation]
    probe = op.hidden or op.call
    problems = []
    for role in KEY_ROLES[:-1]:
        clients = served.clients[role]
        before = served.fingerprint()
        hidden = http_outcome(lambda: probe(clients, HIDDEN))
        if hidden[0] == "200" and op.restore:
            op.restore(HIDDEN)
        missing = http_outcome(lambda: probe(clients, MISSING))
        # A refusal may echo the name the caller sent (a batch's entry, a message); an answer may not show it.
        shown = body(hidden[3]) if hidden[0] == "200" else (body(hidden[3]) or hidden[2]).replace(HIDDEN, "")
        if SECRET_MARKERS.search(shown):
            problems.append(f"{role} key: the answer shows the hidden group: {shown[:300]}")
        if hidden[:2] != missing[:2] or hidden[2].replace(HIDDEN, "<group>") != missing[2].replace(MISSING, "<group>") \
                or (hidden[0] != "200" and body(hidden[3]).replace(HIDDEN, "<group>") != body(missing[3]).replace(
                    MISSING, "<group>")):
            problems.append(f"{role} key: hidden group {hidden[:3]} {body(hidden[3])}, but a missing group "
                            f"{missing[:3]} {body(missing[3])}")
        if hidden[0] != "200" and changes(before, served.fingerprint()):
            problems.append(f"{role} key: refused, but it changed {changes(before, served.fingerprint())}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_a_key_removed_from_the_file_is_refused(served, operation):
    """A running server follows its access file: a key taken out of it is an unknown key (D7)."""
    op = OPERATIONS[operation]
    before = served.fingerprint()
    status, code, message, _ = http_outcome(lambda: op.call(served.revoked, VISIBLE))
    if status == "200" and op.restore:
        op.restore(VISIBLE)
    assert http_refused(operation, status, code), f"the revoked key got {status} {code} {message}"
    assert changes(before, served.fingerprint()) == []
