"""``featurestore pipeline ...`` and ``featurestore scheduler``: the command line of pipelines.

``pipeline run NAME`` is the unit cron, Airflow or Dagster call: exit code 1 when the run
failed, ``--json`` for the run record.
"""
from __future__ import annotations

import warnings
from typing import Any

import click

from .kit import FriendlyGroup, echo_json, open_store, read_spec


@click.group("pipeline", cls=FriendlyGroup)
def pipeline() -> None:
    """Define, run, backfill and inspect feature pipelines."""


@pipeline.command("create")
@click.argument("spec_path", metavar="SPEC", type=click.Path(exists=True, dir_okay=False))
@click.option("--update", is_flag=True, help="Change pipelines that already exist instead of refusing.")
@click.pass_context
def create(ctx: click.Context, spec_path: str, update: bool) -> None:
    """Create the pipeline(s) a YAML/JSON file defines (one mapping, or a list of them), with the
    keywords of FeatureStore.create_pipeline: name, target, sql or function, inputs, mode,
    schedule, trigger, params, lookback, retries, retry_delay, description, tags."""
    fs = open_store(ctx)
    data = read_spec(spec_path)
    with warnings.catch_warnings(record=True) as told:
        warnings.simplefilter("always", UserWarning)
        try:
            _create_each(fs, spec_path, data, update)
        finally:  # e.g. a pipeline that reads its own target: said in words, not as a Python warning
            for warning in told:
                click.echo(f"Warning: {warning.message}", err=True)


def _create_each(fs: Any, spec_path: str, data: Any, update: bool) -> None:
    for item in data if isinstance(data, list) else [data]:
        if not isinstance(item, dict) or "name" not in item:
            raise click.UsageError(f"{spec_path}: each pipeline is a mapping with at least name and target")
        item = dict(item)
        name = item.pop("name")
        exists = name in {p["name"] for p in fs.list_pipelines()}
        if exists and update:
            fs.update_pipeline(name, **item)
            click.echo(f"Updated pipeline {name}")
        else:
            p = fs.create_pipeline(name, **item)
            when = p["schedule"] and f"on schedule {p['schedule']} (UTC)" or p["trigger"] or "on demand"
            click.echo(f"Created pipeline {name}: {p['mode']} into {p['target']}, runs {when}")


@pipeline.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """Every pipeline with its schedule, last run and next run."""
    items = open_store(ctx).list_pipelines()
    if as_json:
        echo_json(items)
        return
    if not items:
        click.echo("No pipelines yet; `featurestore pipeline create SPEC` defines one")
    for p in items:
        when = p["schedule"] or p["trigger"] or "on demand"
        state = "paused" if p["paused"] else "running" if p["running"] else p["last_status"] or "never run"
        click.echo(f"{p['name']}\t-> {p['target']}\t{p['mode']}\t{when}\t{state}\tlast {p['last_run'] or '-'}"
                   f"\tnext {p['next_run'] or '-'}")


@pipeline.command("show")
@click.argument("name")
@click.pass_context
def show(ctx: click.Context, name: str) -> None:
    """The pipeline's definition and state, as JSON."""
    echo_json(open_store(ctx).pipeline(name))


@pipeline.command("run")
@click.argument("name")
@click.option("--full", is_flag=True, help="Read every input row, not only those written since the last run.")
@click.option("--wait", type=float, default=0, help="Seconds to wait if the pipeline is already running.")
@click.option("--json", "as_json", is_flag=True, help="Print the run record as JSON.")
@click.pass_context
def run(ctx: click.Context, name: str, full: bool, wait: float, as_json: bool) -> None:
    """Run NAME now. Exit code 1 if the run failed (the error is printed)."""
    record = open_store(ctx).run_pipeline(name, full=full, wait=wait, trigger="cli")
    _report([record], as_json)
    if record["status"] == "failed":
        ctx.exit(1)


@pipeline.command("backfill")
@click.argument("name")
@click.option("--start", required=True, help="First event time to recompute (ISO-8601).")
@click.option("--end", required=True, help="Event time to stop before (ISO-8601).")
@click.option("--interval", default="1d", show_default=True, help="Length of each run: 1h, 1d, 7d...")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def backfill(ctx: click.Context, name: str, start: str, end: str, interval: str, as_json: bool) -> None:
    """Recompute [START, END) in intervals, one run each. Exit code 1 if any run failed."""
    records = open_store(ctx).backfill(name, start, end, interval)
    _report(records, as_json)
    if any(r["status"] == "failed" for r in records):
        ctx.exit(1)


@pipeline.command("runs")
@click.argument("name")
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def runs(ctx: click.Context, name: str, limit: int, as_json: bool) -> None:
    """NAME's runs, newest first."""
    frame = open_store(ctx).pipeline_runs(name, limit)
    if as_json:
        echo_json(frame.astype(object).where(frame.notna(), None).to_dict("records"))
    else:
        click.echo(frame.drop(columns=["pipeline"]).to_string(index=False) if len(frame) else "No runs yet")


@pipeline.command("pause")
@click.argument("name")
@click.pass_context
def pause(ctx: click.Context, name: str) -> None:
    """Keep the scheduler from starting NAME."""
    open_store(ctx).pause_pipeline(name)
    click.echo(f"Paused {name}")


@pipeline.command("resume")
@click.argument("name")
@click.pass_context
def resume(ctx: click.Context, name: str) -> None:
    """Let the scheduler start NAME again."""
    p = open_store(ctx).resume_pipeline(name)
    click.echo(f"Resumed {name}" + (f"; next run {p['next_run']}" if p["next_run"] else ""))


@pipeline.command("delete")
@click.argument("name")
@click.pass_context
def delete(ctx: click.Context, name: str) -> None:
    """Delete NAME and its run history (its output stays in the target group)."""
    open_store(ctx).delete_pipeline(name)
    click.echo(f"Deleted pipeline {name}")


@click.command("scheduler")
@click.option("--tick", type=click.FloatRange(min=0.05), default=1.0, show_default=True,
              help="Seconds between looks for due pipelines.")
@click.pass_context
def scheduler(ctx: click.Context, tick: float) -> None:
    """Run due pipelines until stopped: cron schedules (UTC; one catch-up run after downtime),
    on_change triggers and retries. One per store; SIGTERM or Ctrl-C lets the run in progress
    finish, then stops."""
    import logging
    import signal
    import threading

    fs = open_store(ctx)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    click.echo(f"Scheduler on {fs.path}: looking for due pipelines every {tick:g} s (stop with Ctrl-C)")
    fs.run_scheduler(tick, stop)


def _report(records: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        echo_json(records if len(records) > 1 else records[0])
        return
    for r in records:
        window = f" window [{r['window_start']}, {r['window_end']})" if r["window_start"] else ""
        line = (f"run {r['id']} {r['status']}: read {r['rows_in']:,} rows, wrote {r['rows_out']:,}"
                f", refused {r['rows_rejected']:,}{window} in {r['seconds']} s")
        click.echo(line if r["status"] != "skipped" else f"run {r['id']} skipped: nothing new since the last run")
        if r["error"]:
            click.echo(f"  error: {r['error']}", err=True)
