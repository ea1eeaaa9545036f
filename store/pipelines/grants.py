"""Who may define, preview and run a pipeline under an access policy.

Every input a pipeline reads needs the acting principal's read grant: at create, update and
preview the caller's, at every run the runner's (a scheduled run acts as the pipeline's owner,
the principal who created or last changed it, checked again each run). File inputs are read only
from the folders the policy allows (``pipeline_input_folders``). A pipeline whose target or any
input group a principal may not see is absent for that principal, like a group it may not see.
An open store (no policy) checks nothing.
"""
from __future__ import annotations

import glob
import os
from typing import TYPE_CHECKING, Any, Iterable, Protocol, cast

from .. import registry
from ..core.context import Policy
from ..errors import AccessDenied, NotFound
from . import tables

if TYPE_CHECKING:
    from ..core.context import StoreContext
    from .runner import Plan
    from .spec import PipelineSpec

ALLOW_HINT = ("an admin allows a folder with `pipeline_input_folders: [/path/to/folder]` at the top level of the "
              "access file")


class PolicyInForce(Policy, Protocol):
    """What the grants ask of the policy beyond the core's ``Policy``: the access file in force
    (its ``input_folders``) and the store it guards. ``store.access.guard.Guard`` is one; the
    pipelines do not import it."""

    store: "StoreContext"

    def current(self) -> Any: ...


def acting(ctx: "StoreContext") -> PolicyInForce | None:
    """The guard of the principal a call acts as, or None when no policy is in force."""
    guard = cast(PolicyInForce, ctx.policy)
    return guard if guard is not None and guard.current() is not None else None


def owner_name(ctx: "StoreContext") -> str:
    """Whom a pipeline created or changed in ``ctx`` belongs to (the OS user on an open store)."""
    return ctx.policy.name


def group_names(spec: dict[str, Any]) -> list[str]:
    """The groups a stored definition writes and reads (file inputs are kept as absolute paths)."""
    return [spec["target"], *(src for src in spec.get("inputs", {}).values() if not os.path.isabs(src))]


def hidden(guard: Policy, spec: dict[str, Any]) -> bool:
    """Whether the pipeline writes or reads a group the guard's principal may not see."""
    return not all(guard.may("viewer", g) for g in group_names(spec))


def readable_groups(ctx: "StoreContext", action: str, inputs: Any) -> set[str]:
    """The groups a new definition may name as inputs: those the caller may read (a hidden one
    then reads as a missing file, as a group that does not exist would). Naming a hidden group
    leaves a refusal in the audit log."""
    groups = set(registry.names(ctx.db.get()))
    guard = acting(ctx)
    if guard is None:
        return groups
    named = inputs.values() if isinstance(inputs, dict) else [inputs] if isinstance(inputs, str) else inputs
    for src in {str(s) for s in named or ()} & groups:
        if not guard.may("viewer", src):
            guard.record(action, src, "denied")
    return {g for g in groups if guard.may("viewer", g)}


def require_target(ctx: "StoreContext", target: str, action: str) -> None:
    """The target of a preview exists and the caller may see it; a hidden one is reported as
    missing, in the same words."""
    guard = acting(ctx)
    if guard is not None and not guard.may("viewer", target):
        guard.record(action, target, "denied")
        raise registry.missing(target)
    ctx.group(target)


def require_inputs(ctx: "StoreContext", spec: "PipelineSpec", action: str) -> None:
    """Every input group readable by the acting principal, every file input under an allowed folder;
    a function pipeline only an admin's (it runs Python code in whichever process runs it: the
    scheduler, the studio, a server, so it would act as that process, past every grant)."""
    guard = acting(ctx)
    if guard is None:
        return
    if spec.function is not None and not guard.may("admin", None):
        guard.record(action, spec.target, "denied")
        raise AccessDenied(f"Access denied: {guard.name!r} may not {action} with function={spec.function!r}: a "
                           "function pipeline runs Python code in whichever process runs it, so under an access "
                           "policy only an admin may define or run one; write it as sql= instead",
                           principal=guard.name, action=action, group=spec.target)
    groups = spec.group_inputs(set(registry.names(ctx.db.get())))
    for group in groups.values():
        guard.require(action, "viewer", group)
    for view, pattern in spec.file_inputs(set(groups.values())).items():
        require_file(guard, action, view, pattern, _static_part(pattern))


def require_files(ctx: "StoreContext", plan: "Plan", action: str) -> None:
    """Every file a run is about to read, symlinks resolved, lies under an allowed folder."""
    guard = acting(ctx)
    if guard is None:
        return
    for view, paths in [*plan.files.items(), *((v, [p]) for v, p in plan.empty_files.items())]:
        for path in paths:
            require_file(guard, action, view, path, path)


def require_file(guard: PolicyInForce, action: str, view: str, shown: str, path: str) -> None:
    allowed = guard.current().input_folders
    if not allowed:
        guard.record(action, None, "denied", {"input": view})
        raise AccessDenied(f"Input {view!r} ({shown}) is a file, and this store's access policy allows pipelines "
                           f"no input files; {ALLOW_HINT}", principal=guard.name, action=action)
    if not _under(os.path.realpath(path), allowed):
        guard.record(action, None, "denied", {"input": view})
        raise AccessDenied(f"Input {view!r} ({shown}) is outside the folders this store's access policy allows "
                           f"pipeline input files from ({', '.join(allowed)}); move the file into one of them, or "
                           f"{ALLOW_HINT}", principal=guard.name, action=action)


def _under(path: str, folders: Iterable[str]) -> bool:
    return any(path == f or path.startswith(f.rstrip(os.sep) + os.sep) for f in folders)


def _static_part(pattern: str) -> str:
    """The part of a path or glob before its first wildcard: the folder it can match files in."""
    if not glob.has_magic(pattern):
        return pattern
    parts = pattern.split(os.sep)
    fixed = parts[:next(i for i, p in enumerate(parts) if glob.has_magic(p))]
    return os.sep.join(fixed) or os.sep


def cut(guard: PolicyInForce, action: str, result: Any) -> Any:
    """``list_pipelines``, ``pipeline_runs`` and ``pipeline_run`` without the pipelines hidden
    from the principal; a hidden pipeline's run is missing, in the words of a run that never was."""
    if action == "list_pipelines":
        return [p for p in result if not hidden(guard, p)]
    if action == "pipeline_run":
        if _hidden_name(guard, result["pipeline"]):
            guard.record(action, None, "denied", {"run": result["id"]})
            raise tables.missing_run(result["id"])
        return result
    shown = {name for name in set(result["pipeline"]) if not _hidden_name(guard, name)}
    return result[result["pipeline"].isin(shown)].reset_index(drop=True)


def _hidden_name(guard: PolicyInForce, name: str) -> bool:
    try:
        return hidden(guard, tables.load(guard.store.db.get(), name)["spec"])
    except NotFound:  # deleted since the runs were read
        return True
