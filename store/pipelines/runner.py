"""One run of a pipeline: take its lock, decide what to read, compute, and write the output
through the target group's normal write path (types, rules, both stores) in one transaction
with the new watermark, the run's record and its lineage.

What a run reads (each input feature group is a DuckDB view under its view name, with the
columns the store's SQL ``query`` shows; file inputs are views over the files):

- incremental: the rows written after the watermark (the store's write clock per group, so a
  late event with an old event time is read by the next run), up to the snapshot the run takes;
  files that are new or changed since the last run.
- full: every row.
- backfill interval [start, end): the rows with event times inside it.

With ``lookback`` (rolling aggregates), an incremental run or a backfill reads every row whose
event time is at least ``lookback`` before the window's start, up to the latest, so an aggregate
computed at the end of the window sees every row before it; the SQL chooses which of its rows
to output (usually those whose window-defining event falls in the window).

The window is the event-time span the run covers: the new rows' span for an incremental run,
the interval for a backfill, everything for a full run. SQL sees it as ``{{window_start}}`` and
``{{window_end}}`` (TIMESTAMPTZ literals, end exclusive), functions as ``ctx.window``.
"""
from __future__ import annotations

import glob
import importlib
import os
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

from ..core import writes
from ..registry import lineage
from .. import registry
from ..errors import AccessDenied, FeatureStoreError, ValidationError
from ..common.sqltext import q, ts_literal
from ..common.timeutil import now_us, us_to_datetime, us_to_iso
from . import grants, tables
from . import spec as specs

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

    from ..core.context import StoreContext
    from ..offline.snapshot import GroupSnapshot

FAR_PAST, FAR_FUTURE = -(2**62), 2**62


@dataclass
class Plan:
    """What one run reads: each input's view definition, the window, and the watermark a
    successful run leaves."""

    kind: str
    window: tuple[int, int] | None
    groups: dict[str, tuple["GroupSnapshot", str]] = field(default_factory=dict)  # view -> (snapshot, WHERE)
    files: dict[str, list[str]] = field(default_factory=dict)  # view -> files read
    empty_files: dict[str, str] = field(default_factory=dict)  # view -> a file giving the columns of an empty view
    watermark: dict[str, Any] = field(default_factory=dict)
    nothing_new: bool = False
    sample: int | None = None  # previews read at most this many of each group input's rows (the latest written)
    # view -> the rows the run would read, where a preview read fewer
    capped: dict[str, int] = field(default_factory=dict)


class RunLog:
    """Lines a run keeps with its record: what it read and wrote, and what a function logged."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        # What the run read and its window, kept for its record even when it then fails.
        self.rows_in: int | None = None
        self.window: tuple[int, int] | None = None

    def __call__(self, *parts: Any) -> None:
        self.lines.append(f"{us_to_iso(now_us())[:19]}Z " + " ".join(str(p) for p in parts))

    def text(self) -> str:
        return "\n".join(self.lines)[-20_000:]


class RunContext:
    """What a function pipeline receives: ``read(view)`` and ``sql(text)`` as pandas frames over
    the run's inputs, the ``window`` (start, end) as UTC datetimes, ``params`` and ``log``."""

    def __init__(self, con: "duckdb.DuckDBPyConnection", plan: Plan, params: dict[str, Any], log: RunLog) -> None:
        self._con = con
        self.window: tuple[datetime, datetime] | None = (
            (us_to_datetime(plan.window[0]), us_to_datetime(plan.window[1])) if plan.window else None)
        self.params = dict(params)
        self.log = log
        self._plan = plan
        self.inputs = sorted([*plan.groups, *plan.files])

    def read(self, name: str) -> "pd.DataFrame":
        if name not in self.inputs:
            raise ValidationError(f"ctx.read({name!r}): this pipeline's inputs are {', '.join(self.inputs)}")
        return self.sql(f"SELECT * FROM {q(name)}")

    def sql(self, text: str) -> "pd.DataFrame":
        from ..offline.snapshot import to_pandas

        return to_pandas(self._con.sql(render(text, self._plan.window, self.params)).to_arrow_table())


# ----------------------------------------------------------------------------- one run

def execute(ctx: "StoreContext", name: str, kind: str | None = None, trigger: str = "manual",
            interval: tuple[int, int] | None = None, attempt: int | None = None, scheduled: bool = False,
            scheduler: str | None = None) -> dict[str, Any]:
    """Run the pipeline once, as ``ctx``'s principal (for a ``scheduled`` run, the pipeline's
    owner's context, with the ``scheduler``'s name in its audit entry), and return its run
    record. The pipeline's own failure, a refused grant included, is recorded and returned
    (status "failed"), not raised; a run already in progress raises Conflict. ``attempt``
    defaults to 1, or for a "retry" of a failed run to its attempt + 1."""
    with ctx.db.write() as conn:
        started = now_us()  # under the store's lock: after any run that held the pipeline before this one finished
        stored = tables.load(conn, name)  # under the lock too: a run queued behind another sees its watermark
        kind = kind or stored["spec"]["mode"]
        if attempt is None:
            previous = tables.last_runs(conn, name).get(name, {})
            retried = trigger == "retry" and previous.get("status") == "failed"
            attempt = previous["attempt"] + 1 if retried else 1
        tables.take_lock(conn, name, started)
        run_id = tables.start_run(conn, name, kind, trigger, attempt, started, interval)
        tables.lock_run(conn, name, run_id)
    log = RunLog()

    def audited(conn: Any, status: str, rows_out: int = 0) -> None:
        """The run's audit entry as its starter's, in the transaction that ends the run (with its
        rows, when it wrote some)."""
        ctx.policy.log_in(conn, "backfill" if trigger == "backfill" else "run_pipeline", stored["spec"]["target"],
                          {"pipeline": name, "run": run_id, "trigger": trigger, "status": status,
                           "rows_out": rows_out, **({"scheduler": scheduler} if scheduler else {})},
                          "failed: run" if status == "failed" else "ok")

    try:  # a definition that no longer holds (an input group deleted since) fails the run, recorded
        spec = specs.from_dict(stored["spec"], set(registry.names(ctx.db.get())))
        guard = grants.acting(ctx)
        if guard is not None:  # checked again at every run: a grant revoked since stops it here
            if scheduled and stored["owner"] is None:
                raise AccessDenied(f"Pipeline {name!r} has no recorded owner (it was defined before pipelines kept "
                                   "one), so its scheduled runs have no one to act as; an owner of its target saves "
                                   "it again (update_pipeline, or Save in the studio) and scheduled runs act as them",
                                   action="run_pipeline", group=spec.target)
            guard.require("run_pipeline", "editor", spec.target)
            grants.require_inputs(ctx, spec, "run_pipeline")
        plan = plan_run(ctx, spec, kind, stored["watermark"], interval)
        grants.require_files(ctx, plan, "run_pipeline")
        if plan.nothing_new:
            with ctx.db.write() as conn:
                tables.finish_run(conn, run_id, "skipped", now_us(), log="no input rows written since the last run")
                audited(conn, "skipped")
        else:
            _run(ctx, spec, plan, run_id, log, audited)
    except BaseException as exc:  # recorded, then re-raised only if the process is being stopped
        with ctx.db.write() as conn:
            tables.finish_run(conn, run_id, "failed", now_us(), error=_message(exc), rows_in=log.rows_in,
                              window_start_us=log.window[0] if log.window else None,
                              window_end_us=log.window[1] if log.window else None,
                              traceback="".join(traceback.format_exception(exc))[-20_000:], log=log.text())
            audited(conn, "failed")
        if not isinstance(exc, Exception):
            raise
    finally:
        with ctx.db.write() as conn:
            tables.release_lock(conn, name)
    return tables.run(ctx.db.get(), run_id)


def _message(exc: BaseException) -> str:
    if isinstance(exc, FeatureStoreError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _run(ctx: "StoreContext", spec: specs.PipelineSpec, plan: Plan, run_id: int, log: RunLog,
         audited: Callable[[Any, str, int], None]) -> None:
    from ..ingest.prepare import LoadedInput

    with SqlSandbox(ctx, plan) as con:
        rows_in = register_inputs(con, plan)
        log.rows_in, log.window = sum(rows_in.values()), plan.window
        log("read", ", ".join(f"{v}: {n:,} rows" for v, n in rows_in.items()),
            f"window {_window_text(plan.window)}" if plan.window else "")
        table = compute(con, spec, plan, log)
    check_output(ctx, spec, table)
    log(f"computed {table.num_rows:,} rows for {spec.target}")
    total_in = sum(rows_in.values())

    def commit(conn: Any, report: Any) -> None:
        now = now_us()
        if plan.kind != "backfill":
            tables.update(conn, spec.name, now, watermark=plan.watermark)
        log(f"wrote {report.rows_written:,} rows, refused {report.rows_rejected:,}")
        tables.finish_run(conn, run_id, "succeeded", now, rows_in=total_in, rows_out=report.rows_written,
                          rows_rejected=report.rows_rejected, window_start_us=plan.window[0] if plan.window else None,
                          window_end_us=plan.window[1] if plan.window else None, log=log.text())
        record_lineage(conn, spec, run_id, rows_in, report.rows_written, now)
        audited(conn, "succeeded", report.rows_written)

    source = f"pipeline {spec.name} run {run_id}"
    writes.ingest(ctx, spec.target, LoadedInput(table, source, "pipeline"), on_error="skip", source=source,
                  _on_commit=commit)


def _window_text(window: tuple[int, int] | None) -> str:
    return f"[{us_to_iso(window[0])}, {us_to_iso(window[1])})" if window else "-"


class SqlSandbox:
    """A locked-down DuckDB database that reads the folders of the pipeline's input groups and
    its input files themselves, nothing else (not other groups, not a file's neighbours): the
    store's own SQL sandbox for those groups when the inputs are all groups (a cursor on it costs
    microseconds; opening a database ~15 ms)."""

    def __init__(self, ctx: "StoreContext", plan: Plan) -> None:
        self.ctx = ctx
        self.groups = sorted({snap.group.name for snap, _ in plan.groups.values()})
        self.files = sorted({p for paths in plan.files.values() for p in paths} | set(plan.empty_files.values()))

    def __enter__(self) -> "duckdb.DuckDBPyConnection":
        from ..common import duck

        if self.files:
            folders = self.ctx.files.sql_folders(self.groups) or [os.path.join(self.ctx.path, ".none")]
            self.con = duck.sandbox(folders, self.files)
        else:
            self.con = self.ctx.sandbox_cursor(self.groups)
        return self.con

    def __exit__(self, *exc: Any) -> None:
        self.con.close()


# ----------------------------------------------------------------------------- planning

def plan_run(ctx: "StoreContext", spec: specs.PipelineSpec, kind: str, watermark: dict[str, Any],
             interval: tuple[int, int] | None, sample: int | None = None) -> Plan:
    """Decide what the run reads, in one read transaction of the store so every input is seen
    as of one instant. ``sample`` (previews) plans the same run but reads at most ``sample``
    rows of each input group (the latest written)."""
    from ..offline import snapshot as query

    conn = ctx.db.get()
    group_inputs = spec.group_inputs(set(registry.names(conn)))
    ctx.policy.require_read(list(group_inputs.values()))  # the check every offline read meets at its snapshots
    lookback = int((spec.lookback_seconds or 0) * 1_000_000)
    plan = Plan(kind, interval, sample=sample)
    new_ranges: list[tuple[int, int]] = []
    has_new = False
    with ctx.db.read() as conn:
        heads = {}
        for view, group in group_inputs.items():
            g, _ = ctx.group(group)
            if not g.offline:
                raise ValidationError(f"Input {group!r} has no offline store, so a pipeline cannot read its history")
            head = registry.state(conn, group)["last_write_us"] or 0
            heads[view] = (g, head)
            plan.watermark[f"group:{group}"] = head
        if kind == "incremental":
            for view, (g, head) in heads.items():
                after = watermark.get(f"group:{g.name}")
                if after is not None and after >= head:
                    continue
                snap = query.snapshot(conn, ctx.files, g, after_write_us=after)
                where = f"write_time <= {ts_literal(head)}" + (
                    f" AND write_time > {ts_literal(after)}" if after is not None else "")
                has_new = True
                if lookback:  # the window decides what the run reads (else it is measured as the rows are read)
                    span = _event_span(snap, where)
                    if span is not None:
                        new_ranges.append(span)
                plan.groups[view] = (snap, where)
            if new_ranges:
                plan.window = (min(r[0] for r in new_ranges), max(r[1] for r in new_ranges) + 1)
            if lookback and plan.window:
                plan.groups = {}  # read every row of the widened window instead of the new rows alone
                for view, (g, head) in heads.items():
                    plan.groups[view] = _range(conn, ctx, query, g, head, plan.window[0] - lookback, None)
            else:  # inputs without new rows are read as empty views of their columns
                for view, (g, head) in heads.items():
                    if view not in plan.groups:
                        plan.groups[view] = (query.snapshot(conn, ctx.files, g, after_write_us=head),
                                             f"write_time > {ts_literal(head)}")
        elif kind == "backfill" and interval is not None:
            for view, (g, head) in heads.items():
                plan.groups[view] = _range(conn, ctx, query, g, head, interval[0] - lookback,
                                           None if lookback else interval[1])
        else:  # full
            for view, (g, head) in heads.items():
                plan.groups[view] = (query.snapshot(conn, ctx.files, g), f"write_time <= {ts_literal(head)}")
    plan_files(spec, set(group_inputs.values()), kind, watermark, plan)
    if kind == "incremental" and not has_new and not plan.files:
        plan.nothing_new = True
    return plan


def _range(conn: Any, ctx: "StoreContext", query: Any, g: Any, head: int, lo: int, hi: int | None) -> tuple[Any, str]:
    """The rows written up to ``head`` with event times in [lo, hi) (hi None: no upper bound)."""
    snap = query.snapshot(conn, ctx.files, g, max_event_us=hi - 1 if hi is not None else None, min_event_us=lo)
    where = f"write_time <= {ts_literal(head)} AND _event_time >= {ts_literal(lo)}"
    return snap, where + (f" AND _event_time < {ts_literal(hi)}" if hi is not None else "")


def _event_span(snap: "GroupSnapshot", where: str) -> tuple[int, int] | None:
    """The first and last event time (microseconds) of the snapshot's rows matching ``where``."""
    from ..common import duck
    from ..offline import snapshot as query

    with duck.cursor() as con:
        view = query.register(con, snap, "__span")
        [(lo, hi)] = con.execute(f"SELECT epoch_us(min(_event_time)), epoch_us(max(_event_time)) FROM {view} "
                                 f"WHERE {where}").fetchall()
    return None if lo is None else (int(lo), int(hi))


def plan_files(spec: specs.PipelineSpec, groups: set[str], kind: str, watermark: dict[str, Any], plan: Plan) -> None:
    for view, pattern in spec.file_inputs(groups).items():
        paths = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        paths = [p for p in paths if os.path.isfile(p)]
        if not paths:
            raise ValidationError(f"Input {view!r} ({pattern}) matches no file; check the path or glob")
        signatures = {p: _signature(p) for p in paths}
        for p, sig in signatures.items():
            plan.watermark[f"file:{p}"] = sig
        chosen = paths if kind != "incremental" else [p for p in paths if watermark.get(f"file:{p}") != signatures[p]]
        if chosen:
            plan.files[view] = chosen
        else:
            plan.empty_files[view] = paths[-1]


def _signature(path: str) -> str:
    st = os.stat(path)
    return f"{st.st_size}:{st.st_mtime_ns}"


# ----------------------------------------------------------------------------- reading and computing

def register_inputs(con: "duckdb.DuckDBPyConnection", plan: Plan) -> dict[str, int]:
    """Create each input's view; returns the rows each holds. An incremental or full run
    without a window yet takes the event-time span of the group rows it reads as its window."""
    from ..offline import snapshot as query

    counts = {}
    spans = []
    for view, (snap, where) in plan.groups.items():
        raw = query.register(con, snap, f"__all_{view}")
        latest = ""
        if plan.sample:  # the window is the whole run's, whatever the cap leaves out
            [(whole, lo, hi)] = con.execute(f"SELECT count(*), epoch_us(min(_event_time)), epoch_us(max(_event_time)) "
                                            f"FROM {raw} WHERE {where}").fetchall()
            if lo is not None:
                spans.append((int(lo), int(hi)))
            if whole > plan.sample:
                plan.capped[view] = int(whole)
                latest = f" ORDER BY write_time DESC, _seq DESC LIMIT {int(plan.sample)}"
        con.execute(f"CREATE OR REPLACE TEMP VIEW {q(view)} AS SELECT * FROM {raw} WHERE {where}{latest}").fetchall()
    for view, paths in plan.files.items():
        con.execute(f"CREATE OR REPLACE TEMP VIEW {q(view)} AS SELECT * FROM {_reader(paths)}").fetchall()
    for view, path in plan.empty_files.items():
        con.execute(f"CREATE OR REPLACE TEMP VIEW {q(view)} AS SELECT * FROM {_reader([path])} LIMIT 0").fetchall()
    for view in plan.groups:
        [(n, lo, hi)] = con.execute(f"SELECT count(*), epoch_us(min(_event_time)), epoch_us(max(_event_time)) "
                                    f"FROM {q(view)}").fetchall()
        counts[view] = int(n)
        if lo is not None and not plan.sample:
            spans.append((int(lo), int(hi)))
    for view in [*plan.files, *plan.empty_files]:
        counts[view] = int(con.execute(f"SELECT count(*) FROM {q(view)}").fetchall()[0][0])
    if plan.window is None and spans and plan.kind in ("incremental", "full"):
        plan.window = (min(s[0] for s in spans), max(s[1] for s in spans) + 1)
    return counts


def _reader(paths: list[str]) -> str:
    from ..common.sqltext import sql_list

    if all(p.lower().endswith((".parquet", ".pq")) for p in paths):
        return f"read_parquet({sql_list(paths)}, union_by_name = true)"
    return f"read_csv({sql_list(paths)}, union_by_name = true, header = true)"


def render(sql: str, window: tuple[int, int] | None, params: dict[str, Any]) -> str:
    """The SQL with {{window_start}}, {{window_end}} and {{param}} filled in: instants as
    TIMESTAMPTZ literals, numbers as written, text as quoted SQL strings."""
    from ..common.sqltext import ts_literal

    lo, hi = window if window else (FAR_PAST // 1000, FAR_FUTURE // 1000)

    def value(name: str) -> str:
        if name == "window_start":
            return ts_literal(lo)
        if name == "window_end":
            return ts_literal(hi)
        if name not in params:
            raise ValidationError(f"The SQL uses {{{{{name}}}}}, which is not a parameter of this pipeline")
        v = params[name]
        if isinstance(v, bool):
            return "TRUE" if v else "FALSE"
        if isinstance(v, (int, float)):
            return repr(v)
        return "'" + str(v).replace("'", "''") + "'"

    return specs.PLACEHOLDER.sub(lambda m: value(m.group(1)), sql)


def compute(con: "duckdb.DuckDBPyConnection", spec: specs.PipelineSpec, plan: Plan, log: RunLog) -> "pa.Table":
    """The pipeline's output rows as Arrow."""
    import duckdb
    import pandas as pd
    import pyarrow as pa

    if spec.sql is not None:
        try:
            rel = con.sql(render(spec.sql, plan.window, spec.params))
        except duckdb.Error as exc:
            from ..common.sqltext import plain_sql_error

            raise ValidationError(f"The pipeline's SQL failed: {plain_sql_error(exc)}") from None
        if rel is None:
            raise ValidationError("The pipeline's SQL returned no rows; write a SELECT")
        return rel.to_arrow_table()
    result = load_function(spec.function)(RunContext(con, plan, spec.params, log))
    if isinstance(result, pd.DataFrame):
        from ..ingest.prepare import dataframe_to_arrow

        return dataframe_to_arrow(result)
    if isinstance(result, pa.Table):
        return result
    raise ValidationError(f"{spec.function} returned a {type(result).__name__}; return a pandas DataFrame or an "
                          "Arrow table with the target group's features as columns")


def load_function(path: str) -> Callable[[RunContext], Any]:
    module, _, attr = path.partition(":")
    try:
        obj: Any = importlib.import_module(module)
    except ImportError as exc:
        raise ValidationError(f"Cannot import {module!r} for function {path!r}: {exc}") from None
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise ValidationError(f"{module!r} has no {attr!r}; check function {path!r}")
    if not callable(obj):
        raise ValidationError(f"{path!r} is not callable")
    return obj


def check_output(ctx: "StoreContext", spec: specs.PipelineSpec, table: "pa.Table") -> None:
    """The output's columns against the target's features: the identifier and event time must
    be there, and no column may be unknown (a typo would otherwise drop a feature silently)."""
    g, _ = ctx.group(spec.target)
    names = set(table.column_names)
    features = {f.name for f in g.features}
    missing = [c for c in (*g.identifiers, g.event_time) if c not in names]
    if missing:
        raise ValidationError(f"The output has no {missing[0]!r} column, which {spec.target!r} needs as its "
                              f"{'record identifier' if missing[0] in g.identifiers else 'event time'}; "
                              f"select it (… AS {missing[0]})")
    extra = sorted(names - features)
    if extra:
        raise ValidationError(f"The output's column {extra[0]!r} is not a feature of {spec.target!r}"
                              f"{g.former(extra[0])}; rename it "
                              f"to one of {', '.join(sorted(features))}, or leave it out")


def record_lineage(conn: Any, spec: specs.PipelineSpec, run_id: int, rows_in: dict[str, int], rows_out: int,
                   now: int) -> None:
    """input group or file -> pipeline -> target group, each edge with the latest run and its rows."""
    node = f"pipeline:{spec.name}"
    lineage.upsert_node(conn, node, "pipeline", spec.name, now,
                        {"mode": spec.mode, "schedule": spec.schedule, "trigger": spec.trigger,
                         "kind": "sql" if spec.sql else "function", "last_run_id": run_id})
    groups = set(registry.names(conn))
    for view, src in spec.inputs.items():
        if src in groups:
            src_node = f"feature_group:{src}"
        else:
            src_node = f"source:file:{src}"
            lineage.upsert_node(conn, src_node, "source", os.path.basename(src), now, {"file": src})
        lineage.add_edge(conn, src_node, node, "read_by", now, {"run_id": run_id, "rows": rows_in.get(view, 0)})
    lineage.add_edge(conn, node, f"feature_group:{spec.target}", "ingested_into", now,
                     {"run_id": run_id, "rows": rows_out, "last_ingest_us": now, "source": f"pipeline {spec.name}"})
