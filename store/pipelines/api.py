"""The pipeline methods of ``FeatureStore``: define, run, backfill, pause and inspect feature
pipelines. Each delegates to ``spec``, ``runner``, ``schedule`` and ``tables``; ``FeatureStore``
mixes them in."""
from __future__ import annotations

import time
import warnings
from typing import TYPE_CHECKING, Any

from .. import registry
from ..errors import Conflict, ValidationError
from ..common.timeutil import arg_to_us, duration_seconds, now_us, us_to_iso
from . import grants, runner, schedule, tables
from . import spec as specs

if TYPE_CHECKING:
    import pandas as pd

    from ..featurestore import FeatureStore

PREVIEW_ROWS = 100_000  # rows of each input a preview reads at most: a few seconds of DuckDB on a laptop
RUN_FRAME_COLUMNS = ["id", "pipeline", "kind", "trigger", "status", "attempt", "window_start", "window_end", "rows_in",
                     "rows_out", "rows_rejected", "started", "finished", "seconds", "error"]


class PipelineMethods:
    def create_pipeline(self: "FeatureStore", name: str, target: str, *, sql: str | None = None,
                        function: str | None = None, inputs: Any = (), mode: str = "incremental",
                        schedule: str | None = None, trigger: str | None = None, params: dict[str, Any] | None = None,
                        description: str = "", tags: dict[str, str] | None = None, lookback: Any = None,
                        retries: int = 2, retry_delay: Any = 60, paused: bool = False) -> dict[str, Any]:
        """Define a pipeline that computes ``target``'s rows from ``inputs`` (feature groups, or
        CSV/Parquet paths and globs) with DuckDB ``sql`` or a Python ``function``
        ('module:callable', given a RunContext). See ``store.pipelines.runner`` for what a run
        reads in each ``mode`` and ``lookback``; ``schedule`` is cron in UTC, ``trigger``
        "on_change" runs when an input got writes (both by ``featurestore scheduler``). Under an
        access policy every input needs the caller's read grant (file inputs: a folder the policy
        allows), and scheduled runs act as the caller, its owner (see ``grants``)."""
        spec = specs.build(name, target, sql=sql, function=function, inputs=inputs, mode=mode, schedule=schedule,
                           trigger=trigger, params=params, description=description, tags=tags, lookback=lookback,
                           retries=retries, retry_delay=retry_delay,
                           groups=grants.readable_groups(self, "create_pipeline", inputs))
        self.feature_group(target)
        grants.require_inputs(self, spec, "create_pipeline")
        specs.check_aggregates(spec, set(registry.names(self._ctx.db.get())))
        _warn_self_read(spec)
        with self._ctx.db.write() as conn:
            tables.insert(conn, name, spec.to_dict(), now_us(), paused, grants.owner_name(self))
        return self.pipeline(name)

    def update_pipeline(self: "FeatureStore", name: str, **changes: Any) -> dict[str, Any]:
        """Change fields of a pipeline's definition (the same keywords as ``create_pipeline``);
        its watermark stays, so an incremental pipeline goes on where it was. The caller becomes
        its owner, whom scheduled runs act as."""
        conn = self._ctx.db.get()
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
                               grants.readable_groups(self, "update_pipeline", changes.get("inputs", ())))
        guard = grants.acting(self)
        if guard is not None and spec.target != target:  # moving it needs the owner role where it now writes
            guard.require("update_pipeline", "owner", spec.target)
        self.feature_group(spec.target)
        grants.require_inputs(self, spec, "update_pipeline")
        specs.check_aggregates(spec, set(registry.names(self._ctx.db.get())))
        _warn_self_read(spec)
        with self._ctx.db.write() as conn:
            tables.update(conn, name, now_us(), spec=spec.to_dict(), owner=grants.owner_name(self))
        return self.pipeline(name)

    def pipeline(self: "FeatureStore", name: str) -> dict[str, Any]:
        """The definition, whether it is paused or running, its last run and its next scheduled run.
        When the last run ended a backfill, ``last_rows_out`` is the whole backfill's and
        ``last_backfill`` sums its runs."""
        conn = self._ctx.db.get()
        stored = tables.load(conn, name)
        return _describe(name, stored, tables.last_runs(conn, name).get(name, {}), tables.locked(conn).get(name))

    def list_pipelines(self: "FeatureStore") -> list[dict[str, Any]]:
        """Every pipeline, as ``pipeline()`` describes it, in name order (under a policy, those
        whose target and input groups the caller may see)."""
        conn = self._ctx.db.get()
        last, locks = tables.last_runs(conn), tables.locked(conn)
        return [_describe(n, tables.load(conn, n), last.get(n, {}), locks.get(n)) for n in tables.names(conn)]

    def delete_pipeline(self: "FeatureStore", name: str) -> None:
        """Remove the pipeline and its run history (the rows it wrote stay in its target)."""
        with self._ctx.db.write() as conn:
            if name in tables.locked(conn):
                raise Conflict(f"Pipeline {name!r} is running; delete it once the run has finished", pipeline=name)
            tables.delete(conn, name)

    def pause_pipeline(self: "FeatureStore", name: str) -> dict[str, Any]:
        """Stop the scheduler from starting it (it can still be run by hand)."""
        with self._ctx.db.write() as conn:
            tables.update(conn, name, now_us(), paused=True)
        return self.pipeline(name)

    def resume_pipeline(self: "FeatureStore", name: str) -> dict[str, Any]:
        """Let the scheduler start it again; fire times missed while paused are not made up."""
        with self._ctx.db.write() as conn:
            tables.update(conn, name, now_us(), paused=False, last_fire_us=now_us())
        return self.pipeline(name)

    def run_pipeline(self: "FeatureStore", name: str, *, full: bool = False, wait: float = 0,
                     trigger: str = "manual") -> dict[str, Any]:
        """Run the pipeline now (``full`` reads every input row, whatever its mode) and return
        the run: id, status (succeeded, skipped: nothing new, failed), window, rows_in,
        rows_out, rows_rejected, started, finished, error, log. A failure of the pipeline is
        returned, not raised; if it is already running, waits up to ``wait`` seconds, then
        raises Conflict."""
        deadline = time.monotonic() + wait
        while True:
            try:
                return run_view(runner.execute(self, name, "full" if full else None, trigger))
            except Conflict:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)

    def backfill(self: "FeatureStore", name: str, start: Any, end: Any, interval: Any = "1d") -> list[dict[str, Any]]:
        """Recompute the event-time range [start, end) in intervals, one run each, oldest first.
        Backfills never move the incremental watermark; re-running one rewrites the same rows
        (the later write wins)."""
        lo, hi = arg_to_us(start, "start"), arg_to_us(end, "end")
        step = int(duration_seconds(interval, "interval") * 1_000_000)
        if hi <= lo:
            raise ValidationError(f"end ({us_to_iso(hi)}) must be after start ({us_to_iso(lo)})")
        if step <= 0 or (hi - lo) // step > 10_000:
            raise ValidationError(f"interval={interval!r} cuts the range into more than 10,000 runs; use a longer one")
        conn = self._ctx.db.get()
        specs.check_backfill(specs.from_dict(tables.load(conn, name)["spec"], set(registry.names(conn))))
        runs = []
        for a in range(lo, hi, step):
            runs.append(run_view(runner.execute(self, name, "backfill", "backfill", (a, min(a + step, hi)))))
        return runs

    def pipeline_runs(self: "FeatureStore", name: str | None = None, limit: int = 50) -> "pd.DataFrame":
        """Runs, newest first (of one pipeline, or of all): status, window, rows, times, error."""
        import pandas as pd

        if name is not None:
            tables.load(self._ctx.db.get(), name)
        rows = tables.runs(self._ctx.db.get(), name, int(limit))
        frame = pd.DataFrame([run_view(r) for r in rows], columns=RUN_FRAME_COLUMNS)
        for c in ("window_start", "window_end", "started", "finished"):
            us = pd.array([r[f"{c}_us"] for r in rows], dtype="Int64")
            frame[c] = pd.to_datetime(us, unit="us", utc=True)
        return frame

    def pipeline_run(self: "FeatureStore", run_id: int) -> dict[str, Any]:
        """One run with its log and, for a failure, the error and traceback."""
        return run_view(tables.run(self._ctx.db.get(), int(run_id)))

    def preview_pipeline(self: "FeatureStore", name: str | None = None, rows: int = PREVIEW_ROWS,
                         **definition: Any) -> dict[str, Any]:
        """What the pipeline's next run would compute, written nowhere: it reads what that run
        would (its mode, watermark, look-back and window; a new pipeline's first run), at most
        ``rows`` rows of each input group (the latest written; ``capped`` says where fewer were
        read than the run would). Returns the output (first 200 rows), its row count, the window,
        and the problems a run would meet (output columns that do not fit the target, type
        errors and rule verdicts). Give a stored pipeline's ``name``, or a definition as
        ``create_pipeline`` takes it (with ``name``, a changed definition of that pipeline, from
        its watermark). Its target and inputs need the caller's read grant, as at create.
        Raises ValidationError for what ``create_pipeline`` would refuse (e.g. incremental
        aggregates without a look-back)."""
        from .preview import preview

        conn = self._ctx.db.get()
        watermark: dict[str, Any] = {}
        if name is not None and name in tables.names(conn):
            stored = tables.load(conn, name)
            guard = grants.acting(self)
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
        groups = grants.readable_groups(self, "preview_pipeline", definition.get("inputs", ()))
        spec = specs.build(name or "preview", groups=groups, **definition)
        grants.require_target(self, spec.target, "preview_pipeline")
        grants.require_inputs(self, spec, "preview_pipeline")
        specs.check_aggregates(spec, set(registry.names(conn)))
        return preview(self, spec, rows, watermark)

    def scheduler_status(self: "FeatureStore") -> dict[str, Any]:
        """Whether a scheduler runs on this store: {"running", "pid", "host", "since"}."""
        lock = tables.locked(self._ctx.db.get()).get(tables.SCHEDULER_LOCK)
        if lock is None or not tables.holder_alive(lock):
            return {"running": False, "pid": None, "host": None, "since": None}
        return {"running": True, "pid": lock["pid"], "host": lock["host"], "since": us_to_iso(lock["since_us"])}

    def run_scheduler(self: "FeatureStore", tick: float = 1.0, stop: Any = None) -> None:
        """Run due pipelines until ``stop`` (a threading.Event) is set: cron schedules (one
        catch-up run after downtime), on_change triggers and retries of failed scheduled runs.
        One scheduler per store: a second raises Conflict."""
        schedule.Scheduler(self, tick).run(stop)


def _warn_self_read(spec: specs.PipelineSpec) -> None:
    message = specs.self_read_warning(spec)
    if message:
        warnings.warn(message, UserWarning, stacklevel=3)


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
