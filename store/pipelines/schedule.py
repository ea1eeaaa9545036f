"""The scheduler: starts pipelines whose cron time has come, whose inputs got writes
(``on_change``), or whose scheduled run failed and has retries left.

Cron fire times come from croniter (UTC). After downtime a pipeline that missed fire times runs
once ("catch_up"), not once per missed time. Under an access policy each run acts as the
pipeline's owner (who created or last changed it), whose grants are checked again at every run: a
revoked one fails the run, recorded. One scheduler per store holds a lock row; a second one raises
Conflict. SIGTERM (or ``stop``) lets the run in progress finish and then stops, so no
run is left half-done; runs are all-or-nothing anyway.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

from .. import registry
from ..errors import Conflict, FeatureStoreError
from ..common.timeutil import now_us
from . import runner, tables

if TYPE_CHECKING:
    from ..core.context import StoreContext

log = logging.getLogger("featurestore.scheduler")


def next_fire(cron: str, after_us: int) -> int:
    """The first fire time of ``cron`` (UTC) strictly after ``after_us``."""
    from croniter import croniter

    start = datetime.fromtimestamp(after_us / 1e6, tz=timezone.utc)
    return int(croniter(cron, start).get_next(float) * 1_000_000)


def latest_fire(cron: str, upto_us: int) -> int:
    """The last fire time of ``cron`` at or before ``upto_us``."""
    from croniter import croniter

    start = datetime.fromtimestamp((upto_us + 1) / 1e6, tz=timezone.utc)
    return int(croniter(cron, start).get_prev(float) * 1_000_000)


def due(ctx: "StoreContext", now: int) -> list[tuple[str, str, int]]:
    """(pipeline, trigger, attempt) for each pipeline that should start now: "schedule" or
    "catch_up" (its cron time passed), "on_change" (an input got writes since the last run),
    "retry" (its last scheduled run failed and retries and the delay allow another attempt)."""
    from .spec import from_dict

    conn = ctx.db.get()
    groups = set(registry.names(conn))
    last, locks = tables.last_runs(conn), tables.locked(conn)
    out = []
    for name in tables.names(conn):
        if name in locks:
            continue
        stored = tables.load(conn, name)
        if stored["paused"]:
            continue
        try:
            spec = from_dict(stored["spec"], groups)
        except FeatureStoreError as exc:  # e.g. an input group deleted since: its run says so once
            if last.get(name, {}).get("status") != "failed":
                out.append((name, "schedule", 1))
            log.warning("pipeline %s cannot run: %s", name, exc)
            continue
        previous = last.get(name, {})
        if previous.get("status") == "failed" and previous.get("trigger") in ("schedule", "catch_up", "on_change",
                                                                               "retry"):
            if previous["attempt"] <= spec.retries:
                if now >= previous["finished_us"] + spec.retry_delay_seconds * 1_000_000:
                    out.append((name, "retry", previous["attempt"] + 1))
                continue
        if spec.schedule:
            fire = next_fire(spec.schedule, stored["last_fire_us"] or stored["created_us"])
            if fire <= now:
                missed = next_fire(spec.schedule, fire) <= now
                out.append((name, "catch_up" if missed else "schedule", 1))
                continue
        if spec.trigger == "on_change" and _inputs_changed(ctx, spec, stored["watermark"], groups):
            out.append((name, "on_change", 1))
    return out


def _inputs_changed(ctx: "StoreContext", spec: Any, watermark: dict[str, Any], groups: set[str]) -> bool:
    conn = ctx.db.get()
    for group in spec.group_inputs(groups).values():
        if (registry.state(conn, group)["last_write_us"] or 0) > (watermark.get(f"group:{group}") or 0):
            return True
    if spec.file_inputs(groups):
        plan = runner.Plan("incremental", None)
        try:
            runner.plan_files(spec, groups, "incremental", watermark, plan)
        except Exception:  # a glob matching nothing yet is not a change
            return False
        return bool(plan.files)
    return False


class Scheduler:
    """Runs due pipelines on ``ctx``'s store. ``as_principal(owner)`` gives the context a run acts
    in as the pipeline's owner: building another principal's policy is the access room's work,
    so whoever starts the scheduler (``FeatureStore.run_scheduler``) hands it in."""

    def __init__(self, ctx: "StoreContext", as_principal: Callable[[str], "StoreContext"], tick: float = 1.0,
                 clock: Callable[[], int] = now_us) -> None:
        self.ctx, self.as_principal, self.tick, self.clock = ctx, as_principal, tick, clock

    def run(self, stop: threading.Event | None = None) -> None:
        """Hold the store's scheduler lock and start due pipelines every ``tick`` seconds until
        ``stop`` is set."""
        stop = stop or threading.Event()
        with self.ctx.db.write() as conn:
            tables.take_lock(conn, tables.SCHEDULER_LOCK, self.clock())
        log.info("scheduler started on %s", self.ctx.path)
        try:
            while not stop.is_set():
                self.run_due(stop)
                with self.ctx.db.write() as conn:
                    tables.beat(conn, tables.SCHEDULER_LOCK, self.clock())
                stop.wait(self.tick)
        finally:
            with self.ctx.db.write() as conn:
                tables.release_lock(conn, tables.SCHEDULER_LOCK)
            log.info("scheduler stopped")

    def run_due(self, stop: threading.Event | None = None) -> list[dict[str, Any]]:
        """Start every pipeline due now, one after another; returns their runs."""
        runs = []
        now = self.clock()
        for name, trigger, attempt in due(self.ctx, now):
            if stop is not None and stop.is_set():
                break
            stored = tables.load(self.ctx.db.get(), name)
            schedule = stored["spec"].get("schedule")
            if trigger in ("schedule", "catch_up") and schedule:
                with self.ctx.db.write() as conn:  # the fire times up to now are spent, whatever the outcome
                    tables.update(conn, name, now_us(), last_fire_us=latest_fire(schedule, now))
            # As its owner, in a fresh context, so every run decides on the policy as it is now. The run
            # checks its own grants, and its write is the run's, logged once, by the run.
            actor = self.as_principal(stored["owner"]) if stored["owner"] is not None else self.ctx
            try:
                run = runner.execute(actor, name, None, trigger, attempt=attempt, scheduled=True,
                                     scheduler=self.ctx.policy.name)
            except Conflict:  # someone started it by hand meanwhile
                continue
            log.info("pipeline %s run %s (%s): %s", name, run["id"], trigger, run["status"])  # audited by the run
            runs.append(run)
        return runs
