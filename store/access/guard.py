"""The policy enforced inside the engine: every public method of the facade is checked against
the principal's role on the group it touches before it runs, lists are cut to what the principal
may see, writes and refusals go to the audit log. A store without a policy has a guard too, which
allows everything and logs the writes in the name of whoever opened it.

``ACTIONS`` maps each method to the role it needs and where its group comes from: a parameter
naming a group (``"group"``, ``"name"``, ``"target"``), the target of a named pipeline
(``"pipeline:name"``; a pipeline reading a group the principal may not see is missing for it),
or nothing (store-wide: the role must be held somewhere, and ``admin`` means an admin grant). A
method missing from the table is refused once a policy is in force, so a new method cannot slip
past by being forgotten. Offline reads that go through module
functions (statistics, datasets, previews) meet the same check where they take their snapshot.
"""
from __future__ import annotations

import functools
import getpass
import inspect
import os
from typing import TYPE_CHECKING, Any, Callable

from ..errors import AccessDenied, FeatureStoreError, NotFound
from ..common.timeutil import now_us
from . import audit
from .policy import RANK, AccessFile, Principal

if TYPE_CHECKING:
    from ..core.context import StoreContext
    from .local import LocalPolicy
    from .published import LivePolicy

_VIEW = ["as_of", "batch_get_records", "distributions", "drift", "drift_timeline", "feature_metadata", "freshness",
         "get_record", "history", "list_record_ids", "monitor", "online_record", "quarantine", "quarantine_retention",
         "rules", "statistics", "suggest_rules", "validate", "validation_runs", "volume", "preview_rules", "quality_check"]
_EDIT = ["put_record", "ingest", "delete_record", "requeue", "release_quarantined"]
_OWN = ["update_feature_metadata", "set_rules", "import_rules", "set_monitor", "set_quarantine_retention"]
ACTIONS: dict[str, tuple[str | None, str | None]] = {
    **{m: ("viewer", "group") for m in _VIEW},
    **{m: ("editor", "group") for m in _EDIT},
    **{m: ("owner", "group") for m in _OWN},
    "describe": ("viewer", "name"), "feature_group": ("viewer", "name"),
    "add_features": ("owner", "name"), "update_feature_group": ("owner", "name"),
    "change_features": ("owner", "group"), "definition_history": ("viewer", "group"),
    "delete_feature_group": ("owner", "name"), "create_feature_group": ("admin", "name"),
    "compact": ("owner", "group?"), "sweep_expired": ("owner", "group?"), "flush": ("viewer", "group?"),
    "run_pipeline": ("editor", "pipeline:name"), "backfill": ("editor", "pipeline:name"),
    "create_pipeline": ("owner", "target"), "update_pipeline": ("owner", "pipeline:name"),
    "delete_pipeline": ("owner", "pipeline:name"), "pause_pipeline": ("owner", "pipeline:name"),
    "resume_pipeline": ("owner", "pipeline:name"), "pipeline": ("viewer", "pipeline:name"),
    "pipeline_runs": ("viewer", "pipeline:name?"), "pipeline_run": ("viewer", None),
    "preview_pipeline": ("viewer", None), "list_pipelines": ("viewer", None), "scheduler_status": ("viewer", None),
    "run_scheduler": ("admin", None),
    "list_feature_groups": ("viewer", None), "search": ("viewer", None), "lineage": ("viewer", None),
    "usage": ("viewer", None), "storage": ("viewer", "group?"), "check_monitors": ("viewer", "group?"),
    "query": ("viewer", None), "query_csv": ("viewer", None), "build_dataset": ("viewer", None),
    "rebuild_dataset": ("viewer", None),
    "dataset": ("viewer", None), "datasets": ("viewer", None), "delete_dataset": ("admin", None),
    "register_model": ("editor", None),
    "audit": ("admin", None), "verify_audit": ("admin", None), "publish_access": ("admin", None),
    "remove_access_policy": ("admin", None),
    "close": (None, None), "with_principal": (None, None), "allowed": (None, None),
    "record_sign_in": (None, None),  # a front end's refusal, logged before anyone is signed in
    "can": (None, None), "policy": (None, None),  # what a front end hides: asking is never refused
    "data_version": ("viewer", "group"), "browser": ("viewer", None),  # each view checks its group
    # Entities are store-wide definitions; the groups they list and look up are cut to the visible ones.
    "create_entity": ("admin", None), "update_entity": ("admin", None), "delete_entity": ("admin", None),
    "entity": ("viewer", None), "list_entities": ("viewer", None), "entity_record": ("viewer", None),
    # Services span groups: admins define them; a read also needs read on each group the service reads.
    "create_feature_service": ("admin", None), "update_feature_service": ("admin", None),
    "delete_feature_service": ("admin", None), "feature_service": ("viewer", None),
    "list_feature_services": ("viewer", None), "get_online_features": ("viewer", None),
    # On-demand code runs where the store serves: registering needs owner on every group it reads
    # (checked in the body; here: owner of some group).
    "register_on_demand": ("owner", None), "delete_on_demand_feature": ("owner", None),
    "on_demand_feature": ("viewer", None), "list_on_demand_features": ("viewer", None),
    "feature_service_history": ("viewer", None),
    "consume": ("editor", "group"), "stream_status": ("viewer", None),  # a stream writes its group as ingest does
}
# Store-wide reads that check the principal themselves, against the registry version their own
# snapshot reads (``Guard.readable_in``), or with ``require`` where they cannot: no read of their own.
SELF_CHECKED = {"get_online_features"}
# Writes that log themselves inside their own transaction (no write commits without its entry): puts
# (counted, see ``audit.fold``) and deletes directly, pipeline runs (``runner``, whoever starts them) in
# the transaction that ends the run.
LOGGED_IN_TRANSACTION = {"put_record", "delete_record", "run_pipeline", "backfill", "remove_access_policy"}
# Writes whose entry the wrapper opens and the write fills in inside its transaction (``logged``); one
# that wrote nothing is logged after it returns.
LOGGED_BY_WRITE = {"ingest", "compact", "sweep_expired", "add_features", "update_feature_group", "change_features",
                   "update_feature_metadata", "consume"}
# What is written to the audit log when it succeeds (reads are not; refusals always are).
AUDITED = {*_EDIT, *_OWN, "add_features", "update_feature_group", "change_features", "delete_feature_group", "create_feature_group",
           "compact", "sweep_expired", "run_pipeline", "backfill", "create_pipeline", "update_pipeline",
           "delete_pipeline", "pause_pipeline", "resume_pipeline", "delete_dataset", "register_model",
           "build_dataset", "rebuild_dataset", "remove_access_policy", "create_entity", "update_entity", "delete_entity",
           "create_feature_service", "update_feature_service", "delete_feature_service", "register_on_demand",
           "delete_on_demand_feature", "consume"}


def default_principal() -> str:
    """Who a CLI or script is when it does not say: $FEATURESTORE_PRINCIPAL, else the OS user."""
    name = os.environ.get("FEATURESTORE_PRINCIPAL")
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class Guard:
    """One principal's view of the store: under an access file its roles are enforced; on a store
    without one (``governed`` false) everything is allowed, and its writes are still logged in its
    name, so every store keeps its audit log. It is the ``Policy`` the core asks (declared in
    ``store.core.context``, which cannot import this room)."""

    def __init__(self, file: AccessFile | None, principal: str | Principal, store: "StoreContext",
                 live: "LivePolicy | LocalPolicy | None" = None) -> None:
        self.file = file  # None: everything allowed (no policy, or a published one withdrawn; see governed)
        self.name = principal.name if isinstance(principal, Principal) else principal
        self.principal = principal if isinstance(principal, Principal) or file is None else file.principal(principal)
        self.store = store
        self.live = live  # the published policy or the local file, followed as it changes
        self._decided: dict[tuple[str, str | None], bool] = {}  # per registry version and file: tags may change
        self._version = -1

    @property
    def governed(self) -> bool:
        """Whether the store was opened under an access policy (which may have been withdrawn since)."""
        return self.live is not None or self.file is not None

    def current(self) -> AccessFile | None:
        """The policy in force now: a published one is re-read when the registry version moves,
        a local file when its stat changes. Raises AccessDenied while a local file is gone or
        does not parse."""
        if not self.governed:  # an open store stays open until it is opened again
            return None
        return self._at(self.store.registry_version(hand_on=True))  # the checked call's first lookup reuses it

    def _at(self, version: int) -> AccessFile | None:
        """The policy in force at registry ``version``, the decisions kept while it holds."""
        file = self.live.at(version) if self.live is not None else self.file
        if version != self._version or file is not self.file:
            self._decided, self._version = {}, version
            if file is not self.file:
                self.file = file
                self.principal = None if file is None else file.principal(self.name)
        return self.file

    # -- decisions -------------------------------------------------------------------------------

    def role_on(self, group: str) -> str | None:
        if self.principal is None:
            return None
        try:
            tags = self.store.group(group)[0].tags
        except NotFound:
            tags = {}
        return self.principal.role_on(group, tags)

    def may(self, role: str, group: str | None) -> bool:
        if self.current() is None:
            return True
        return self._known(role, group)

    def _known(self, role: str, group: str | None) -> bool:
        """The decision under the policy ``current`` just read (kept until it changes)."""
        key = (role, group)
        decided = self._decided.get(key)
        if decided is None:
            decided = self._decided[key] = self._decide(role, group)
        return decided

    def _decide(self, role: str, group: str | None) -> bool:
        if self.principal is None:
            return False
        if self.principal.is_admin():
            return True
        if role == "admin" and group is None:
            return False  # store-wide administration needs an admin grant on every group
        held = self.role_on(group) if group is not None else self.principal.highest()
        return held is not None and RANK[held] >= RANK[role]

    def visible(self, groups: list[str]) -> list[str]:
        """``groups`` the principal may read, the policy read once for all of them."""
        if self.current() is None:
            return list(groups)
        return [g for g in groups if self._known("viewer", g)]

    def readable_in(self, groups: list[str], version: int) -> bool:
        """Whether the principal may read all of ``groups`` under the policy in force at registry
        ``version``, which the caller read in its own snapshot: a check with no read of its own (a
        service's vector, whose one statement reads its rows and that version; ``SELF_CHECKED``)."""
        return not self.governed or self._at(version) is None or all(self._known("viewer", g) for g in groups)

    def hidden_lineage(self) -> set[str]:
        """The lineage nodes that would tell the principal about groups it may not see."""
        from ..registry.lineage import hidden

        if self.current() is None:
            return set()
        return hidden(self.store.db.get(), lambda group: self.may("viewer", group))

    def require(self, action: str, role: str, group: str | None) -> None:
        if self.may(role, group):
            return
        self.record(action, group, "denied")
        who = f"{self.name!r} (not in the access file)" if self.principal is None else repr(self.name)
        where = f" on feature group {group!r}" if group else ""
        needs = f"the {role} role there" if group else f"the {role} role on some group" if role != "admin" else \
            "an admin grant"
        raise AccessDenied(f"Access denied: {who} may not {action}{where}; it needs {needs}",
                           principal=self.name, action=action, group=group)

    def require_read(self, groups: list[str]) -> None:
        """The check offline reads meet, whichever function takes their snapshot."""
        for group in groups:
            self.require("read", "viewer", group)

    # -- the log ---------------------------------------------------------------------------------

    def record(self, action: str, group: str | None, outcome: str, details: dict[str, Any] | None = None) -> None:
        with self.store.db.write() as conn:
            audit.append(conn, now_us(), self.name, action, group, outcome, details)

    def log_in(self, conn: Any, action: str, group: str | None, details: dict[str, Any] | None = None,
               outcome: str = "ok") -> None:
        """An entry inside the caller's write transaction, committed with the write itself."""
        audit.append(conn, now_us(), self.name, action, group, outcome, details or {"records": 1})

    def logged(self, conn: Any, action: str, details: dict[str, Any], group: str | None = None) -> None:
        """Inside a write transaction of the checked call ``action`` running on this thread: its entry,
        committed with the write it describes (a call writing in several transactions logs each).
        Nothing for the store's own upkeep, or a call made by another checked call."""
        call = getattr(self.store.calls, "call", None)
        if call is None or call[0] != action:
            return
        self.log_in(conn, action, group or call[1], details)
        call[2] = True

    def count_put(self, conn: Any, group: str, at_us: int) -> None:
        """One put counted inside its own write transaction (see ``audit.fold``)."""
        audit.count_put(conn, at_us, self.name, group)


def subject(ctx: "StoreContext", where: str | None, bound: inspect.BoundArguments, action: str = "") -> str | None:
    """The group a call touches, from its arguments. A named pipeline that does not exist, or
    that writes or reads a group the principal may not see, raises the same NotFound."""
    if where is None:
        return None
    where = where.rstrip("?")
    if where.startswith("pipeline:"):
        name = bound.arguments.get(where.split(":", 1)[1])
        if name is None:
            return None
        from ..pipelines import grants, tables

        spec = tables.load(ctx.db.get(), name)["spec"]
        if grants.hidden(ctx.policy, spec):
            ctx.policy.record(action, spec["target"], "denied")
            raise tables.missing(name)
        return spec["target"]
    value = bound.arguments.get(where)
    return value if isinstance(value, str) else None


def guarded(name: str, fn: Callable[..., Any], context: Callable[[Any], "StoreContext"]) -> Callable[..., Any]:
    role, where = ACTIONS[name]
    signature = inspect.signature(fn)
    params = list(signature.parameters)
    # The common case, a group named by a plain parameter, is read without binding every argument.
    direct = where if where in params else None
    position = params.index(direct) - 1 if direct else -1
    read = name not in AUDITED

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        ctx = context(self)
        guard = ctx.policy
        # Unchecked: a store being opened, an open method, a read without a policy (nothing to check
        # or log: tested before the thread-local lookup, as it is the hot path), the store's own upkeep.
        if guard is None or role is None or (read and not guard.governed) or getattr(ctx.calls, "trusted", 0):
            return fn(self, *args, **kwargs)
        if getattr(ctx.calls, "n", 0):  # called by a checked method: no second check, but lists
            return cut(guard, name, fn(self, *args, **kwargs))  # still narrowed (a monitor sweep, say)
        if direct and (name not in AUDITED or name in LOGGED_IN_TRANSACTION):
            group = args[position] if len(args) > position else kwargs.get(direct)
            group = group if isinstance(group, str) else None
            guard.require(name, role, group)
            return _checked(self, ctx, name, group, fn, args, kwargs)
        if where is None and read:  # a store-wide read: no group to find, nothing to log
            if name in SELF_CHECKED:
                return _checked(self, ctx, name, None, fn, args, kwargs)
            guard.require(name, role, None)
            return cut(guard, name, _checked(self, ctx, name, None, fn, args, kwargs))
        bound = signature.bind(self, *args, **kwargs)
        group = subject(ctx, where, bound, name)
        needed = "admin" if where and where.endswith("?") and group is None and role in ("owner", "editor") else role
        guard.require(name, needed, group)
        call = ctx.calls.call = [name, group, False] if name in LOGGED_BY_WRITE else None
        try:
            result = _checked(self, ctx, name, group, fn, args, kwargs)
        finally:
            ctx.calls.call = None
        if name in AUDITED and name not in LOGGED_IN_TRANSACTION and not (call and call[2]):
            guard.record(name, group, "ok", counts(name, result, bound))
        return cut(guard, name, result)

    return wrapper


def _checked(handle: Any, ctx: "StoreContext", name: str, group: str | None, fn: Callable[..., Any],
             args: tuple, kwargs: dict[str, Any]) -> Any:
    """Run a call that passed its check; the calls it makes are not checked again, and a
    failed write is logged as such."""
    depth = ctx.calls
    depth.n = getattr(depth, "n", 0) + 1
    try:
        return fn(handle, *args, **kwargs)
    except FeatureStoreError as exc:
        if name in AUDITED:
            ctx.policy.record(name, group, f"failed: {type(exc).__name__}")
        raise
    finally:
        depth.n -= 1
        ctx.end_call()


def counts(name: str, result: Any, bound: inspect.BoundArguments | None = None) -> dict[str, Any]:
    """What the log keeps of a write: counts and ids, never values."""
    if name == "ingest":
        return result.audit_counts()
    if name in ("requeue", "release_quarantined"):
        ids = bound.arguments.get("ids") if bound else None  # any iterable: a list, a pandas Series
        return {"quarantine_ids": 0 if ids is None else len(list(ids))}
    if name in ("create_entity", "update_entity", "delete_entity"):
        return {"entity": bound.arguments.get("name") if bound else None}
    if name == "register_on_demand":
        feature = bound.arguments.get("feature") if bound else None
        return {"on_demand": getattr(feature, "name", None), "version": getattr(result, "version", None),
                "kind": getattr(result, "kind", None)}
    if name == "delete_on_demand_feature":
        return {"on_demand": bound.arguments.get("name") if bound else None}
    if name in ("create_feature_service", "update_feature_service", "delete_feature_service"):
        return {"service": bound.arguments.get("name") if bound else None, "version": getattr(result, "version", None)}
    if name in ("build_dataset", "rebuild_dataset"):
        return {"dataset": getattr(result, "id", None), "rows": getattr(result, "num_rows", None)}
    return {}


def cut(guard: Guard, name: str, result: Any) -> Any:
    """Lists and graphs with what the principal may not see taken out."""
    if name == "list_feature_groups":
        return [g for g in result if guard.may("viewer", g.name)]
    if name == "search":
        return [r for r in result if guard.may("viewer", r["group"])]
    if name in ("check_monitors", "storage"):  # alerts name their group; storage rows hold the definition
        return [r for r in result if guard.may("viewer", getattr(r["group"], "name", r["group"]))]
    if name in ("list_pipelines", "pipeline_runs", "pipeline_run"):
        from ..pipelines import grants

        return grants.cut(guard, name, result)
    if name == "stream_status":
        return [r for r in result if guard.may("viewer", r["group"])]
    if name == "usage":
        return {g: v for g, v in result.items() if guard.may("viewer", g)}
    if name == "datasets":
        return [d for d in result if all(guard.may("viewer", g) for g in d["groups"])]
    return result


def install(cls: type, context: Callable[[Any], "StoreContext"]) -> None:
    """Wrap every public method of ``cls`` (the facade) in its check, finding an instance's
    context with ``context``; a public method the table does not know is a programming error,
    caught here at import."""
    for name, fn in inspect.getmembers(cls, inspect.isfunction):
        if name.startswith("_"):
            continue
        if name not in ACTIONS:
            raise AssertionError(f"{cls.__name__}.{name} has no entry in store.access.guard.ACTIONS")
        setattr(cls, name, guarded(name, fn, context))
