"""The bodies of the facade's pipeline methods: define, run, backfill, pause and inspect feature
pipelines, each f(ctx, ...) over ``spec``, ``runner``, ``schedule``, ``grants`` and ``tables``.
Their documentation is on ``FeatureStore``, where users read it."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

from .. import registry
from ..common.timeutil import arg_to_us, duration_seconds, now_us, us_to_iso
from ..common.warn import warn_user
from ..errors import Conflict, ValidationError
from . import grants, runner, schedule, tables
from . import spec as specs

if TYPE_CHECKING:
    import pandas as pd

    from ..core.context import StoreContext

PREVIEW_ROWS = 100_000  # rows of each input a preview reads at most: a few seconds of DuckDB on a laptop
RUN_FRAME_COLUMNS = ["id", "pipeline", "kind", "trigger", "status", "attempt", "window_start", "window_end", "rows_in",
                     "rows_out", "rows_rejected", "started", "finished", "seconds", "error"]


def create_pipeline(ctx: StoreContext, name: str, target: str, *, sql: str | None = None,
                    function: str | None = None, inputs: Any = (), mode: str = "incremental",
                    schedule: str | None = None, trigger: str | None = None, params: dict[str, Any] | None = None,
                    description: str = "", tags: dict[str, str] | None = None, lookback: Any = None,
                    retries: int = 2, retry_delay: Any = 60, paused: bool = False) -> dict[str, Any]:
    spec = specs.build(name, target, sql=sql, function=function, inputs=inputs, mode=mode, schedule=schedule,
                       trigger=trigger, params=params, description=description, tags=tags, lookback=lookback,
                       retries=retries, retry_delay=retry_delay,
                       groups=grants.readable_groups(ctx, "create_pipeline", inputs))
    ctx.group(target)
    grants.require_inputs(ctx, spec, "create_pipeline")
    specs.check_aggregates(spec, set(registry.names(ctx.db.get())))
    _warn_self_read(spec)
    with ctx.db.write() as conn:
        tables.insert(conn, name, spec.to_dict(), now_us(), paused, grants.owner_name(ctx))
    return pipeline(ctx, name)


def update_pipeline(ctx: StoreContext, name: str, **changes: Any) -> dict[str, Any]:
    conn = ctx.db.get()
    current = tables.load(conn, name)["spec"]
    target = current["target"]
    if "lookback" in changes:
        current.pop("lookback_seconds", None)
    if "retry_delay" in changes:
        current.pop("retry_delay_seconds", None)
    if "sql" in changes and changes["sql"] is not None:
        current["function"] = None
    if "function" in changes and changes["function"] is not None:
        current["sql"] = None
    if "name" in changes and changes["name"] != name:
        raise ValidationError("A pipeline cannot be renamed; create a new one and delete this one")
    spec = specs.from_dict({**current, **changes, "name": name},
                           grants.readable_groups(ctx, "update_pipeline", changes.get("inputs", ())))
    guard = grants.acting(ctx)
    if guard is not None and spec.target != target:  # moving it needs the owner role where it now writes
        guard.require("update_pipeline", "owner", spec.target)
    ctx.group(spec.target)
    grants.require_inputs(ctx, spec, "update_pipeline")
    specs.check_aggregates(spec, set(registry.names(ctx.db.get())))
    _warn_self_read(spec)
    with ctx.db.write() as conn:
        tables.update(conn, name, now_us(), spec=spec.to_dict(), owner=grants.owner_name(ctx))
    return pipeline(ctx, name)


def pipeline(ctx: StoreContext, name: str) -> dict[str, Any]:
    conn = ctx.db.get()
    stored = tables.load(conn, name)
    return _describe(name, stored, tables.last_runs(conn, name).get(name, {}), tables.locked(conn).get(name))


def list_pipelines(ctx: StoreContext) -> list[dict[str, Any]]:
    conn = ctx.db.get()
    last, locks = tables.last_runs(conn), tables.locked(conn)
    return [_describe(n, tables.load(conn, n), last.get(n, {}), locks.get(n)) for n in tables.names(conn)]


def delete_pipeline(ctx: StoreContext, name: str) -> None:
    with ctx.db.write() as conn:
        if name in tables.locked(conn):
            raise Conflict(f"Pipeline {name!r} is running; delete it once the run has finished", pipeline=name)
        tables.delete(conn, name)


def pause_pipeline(ctx: StoreContext, name: str) -> dict[str, Any]:
    with ctx.db.write() as conn:
        tables.update(conn, name, now_us(), paused=True)
    return pipeline(ctx, name)


def resume_pipeline(ctx: StoreContext, name: str) -> dict[str, Any]:
    with ctx.db.write() as conn:
        tables.update(conn, name, now_us(), paused=False, last_fire_us=now_us())
    return pipeline(ctx, name)


def run_pipeline(ctx: StoreContext, name: str, *, full: bool = False, wait: float = 0,
                 trigger: str = "manual") -> dict[str, Any]:
    deadline = time.monotonic() + wait
    while True:
        try:
            return run_view(runner.execute(ctx, name, "full" if full else None, trigger))
        except Conflict:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def backfill(ctx: StoreContext, name: str, start: Any, end: Any, interval: Any = "1d") -> list[dict[str, Any]]:
    lo, hi = arg_to_us(start, "start"), arg_to_us(end, "end")
    step = int(duration_seconds(interval, "interval") * 1_000_000)
    if hi <= lo:
        raise ValidationError(f"end ({us_to_iso(hi)}) must be after start ({us_to_iso(lo)})")
    if step <= 0 or (hi - lo) // step > 10_000:
        raise ValidationError(f"interval={interval!r} cuts the range into more than 10,000 runs; use a longer one")
    conn = ctx.db.get()
    specs.check_backfill(specs.from_dict(tables.load(conn, name)["spec"], set(registry.names(conn))))
    runs = []
    for a in range(lo, hi, step):
        runs.append(run_view(runner.execute(ctx, name, "backfill", "backfill", (a, min(a + step, hi)))))
    return runs


def pipeline_runs(ctx: StoreContext, name: str | None = None, limit: int = 50) -> "pd.DataFrame":
    import pandas as pd

    if name is not None:
        tables.load(ctx.db.get(), name)
    rows = tables.runs(ctx.db.get(), name, int(limit))
    frame = pd.DataFrame([run_view(r) for r in rows], columns=RUN_FRAME_COLUMNS)
    for c in ("window_start", "window_end", "started", "finished"):
        us = pd.array([r[f"{c}_us"] for r in rows], dtype="Int64")
        frame[c] = pd.to_datetime(us, unit="us", utc=True)
    return frame


def pipeline_run(ctx: StoreContext, run_id: int) -> dict[str, Any]:
    return run_view(tables.run(ctx.db.get(), int(run_id)))


def preview_pipeline(ctx: StoreContext, name: str | None = None, rows: int = PREVIEW_ROWS,
                     **definition: Any) -> dict[str, Any]:
    from .preview import preview

    conn = ctx.db.get()
    watermark: dict[str, Any] = {}
    if name is not None and name in tables.names(conn):
        stored = tables.load(conn, name)
        guard = grants.acting(ctx)
        if guard is not None and grants.hidden(guard, stored["spec"]):
            guard.record("preview_pipeline", stored["spec"]["target"], "denied")
            raise tables.missing(name)
        watermark = stored["watermark"]
        if not definition:
            definition = {k: v for k, v in stored["spec"].items() if k != "name"}
    elif name is not None and not definition:
        raise tables.missing(name)
    definition = dict(definition)
    for stored_key, key in (("lookback_seconds", "lookback"), ("retry_delay_seconds", "retry_delay")):
        if stored_key in definition:
            definition[key] = definition.pop(stored_key)
    groups = grants.readable_groups(ctx, "preview_pipeline", definition.get("inputs", ()))
    spec = specs.build(name or "preview", groups=groups, **definition)
    grants.require_target(ctx, spec.target, "preview_pipeline")
    grants.require_inputs(ctx, spec, "preview_pipeline")
    specs.check_aggregates(spec, set(registry.names(conn)))
    return preview(ctx, spec, rows, watermark)


def scheduler_status(ctx: StoreContext) -> dict[str, Any]:
    lock = tables.locked(ctx.db.get()).get(tables.SCHEDULER_LOCK)
    if lock is None or not tables.holder_alive(lock):
        return {"running": False, "pid": None, "host": None, "since": None}
    return {"running": True, "pid": lock["pid"], "host": lock["host"], "since": us_to_iso(lock["since_us"])}


def run_scheduler(ctx: StoreContext, as_principal: Callable[[str], StoreContext], tick: float = 1.0,
                  stop: Any = None) -> None:
    """``as_principal(name)``: the context a run acts in as the pipeline's owner (see ``schedule``)."""
    schedule.Scheduler(ctx, as_principal, tick).run(stop)


def _warn_self_read(spec: specs.PipelineSpec) -> None:
    message = specs.self_read_warning(spec)
    if message:
        warn_user(message)


def run_view(run: dict[str, Any]) -> dict[str, Any]:
    """A run record as the API shows it: instants as ISO-8601 UTC."""
    out = {k: run[k] for k in ("id", "pipeline", "kind", "trigger", "status", "attempt", "rows_in", "rows_out",
                               "rows_rejected", "error", "traceback", "log")}
    for key, us in (("window_start", run["window_start_us"]), ("window_end", run["window_end_us"]),
                    ("started", run["started_us"]), ("finished", run["finished_us"])):
        out[key] = us_to_iso(us) if us is not None else None
    out["seconds"] = round((run["finished_us"] - run["started_us"]) / 1e6, 3) if run["finished_us"] else None
    return out


def _backfill_view(backfill: dict[str, Any] | None) -> dict[str, Any] | None:
    if backfill is None:
        return None
    return {**{k: v for k, v in backfill.items() if not k.endswith("_us")},
            "start": us_to_iso(backfill["start_us"]) if backfill["start_us"] is not None else None,
            "end": us_to_iso(backfill["end_us"]) if backfill["end_us"] is not None else None}


def _describe(name: str, stored: dict[str, Any], last: dict[str, Any], lock: dict[str, Any] | None) -> dict[str, Any]:
    spec = stored["spec"]
    out = {**spec, "owner": stored["owner"], "paused": stored["paused"], "running": lock is not None,
           "created": us_to_iso(stored["created_us"]), "updated": us_to_iso(stored["updated_us"]),
           "last_status": last.get("status"), "last_run_id": last.get("id"),
           "last_run": us_to_iso(last["started_us"]) if last.get("started_us") else None,
           "last_success": us_to_iso(last["last_success_us"]) if last.get("last_success_us") else None,
           "last_rows_out": last["backfill"]["rows_out"] if last.get("backfill") else last.get("rows_out"),
           "last_backfill": _backfill_view(last.get("backfill")),
           "next_run": None, "watermark": {k: (us_to_iso(v) if isinstance(v, int) and v else v)
                                           for k, v in stored["watermark"].items()}}
    if spec.get("schedule") and not stored["paused"]:
        after = stored["last_fire_us"] or stored["created_us"]
        out["next_run"] = us_to_iso(schedule.next_fire(spec["schedule"], after))
    return out
