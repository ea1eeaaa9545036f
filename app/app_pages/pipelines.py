"""Pipelines: every pipeline with its schedule, last and next run; one pipeline's runs (a table
and a timeline of the event-time windows it processed), run detail with log and error, run now,
retry, backfill, pause and resume; and a form to define or change one, previewed on a sample of
its inputs before it is saved."""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pandas as pd
import streamlit as st

from app.ui import charts
from app.ui.errors import engine_errors
from app.ui.formats import ago
from app.ui.nav import open_page
from app.ui.pickers import ANY_TIME
from app.ui.session import flash, show_flash, store
from store import FeatureStore
from store.upload import aggregates_in

KEY = "pipeline"  # the query parameter naming the pipeline shown
MODES = {"incremental": "Incremental: rows written since the last run", "full": "Full: every input row each run"}
WHEN = {"demand": "On demand", "schedule": "On a schedule (cron, UTC)", "on_change": "When an input gets writes"}
SHADES = {"succeeded": "#dcfce7", "failed": "#fee2e2", "running": "#dbeafe", "paused": "#fef3c7"}
# Counts the 7 days up to the window's end: right in Full mode, and incremental with a 7d look-back.
TEMPLATE = """SELECT customer_id,
       count(*) AS txn_count_7d,
       max(_event_time) AS event_time
FROM transactions
WHERE NOT is_deleted AND _event_time >= {{window_end}} - INTERVAL 7 DAY
GROUP BY customer_id"""
NEW_FORM = "new_pipeline"  # the New pipeline form's keys start with this (and a generation after each Create)
GENERATION = "_pipeline_form_generation"


def overview(fs: FeatureStore, items: list[dict[str, Any]]) -> str | None:
    """The table of pipelines; returns the one picked (by row or by ?pipeline=)."""
    frame = pd.DataFrame([{
        "pipeline": p["name"], "target": p["target"], "mode": p["mode"],
        "runs": p["schedule"] or ("on input change" if p["trigger"] else "on demand"),
        "state": "paused" if p["paused"] else "running" if p["running"] else p["last_status"] or "never run",
        "last run": ago(_us(p["last_run"])) if p["last_run"] else "never",
        "next run": _moment(p["next_run"]),
        "rows written (last)": p["last_rows_out"]} for p in items])
    wanted = st.query_params.get(KEY)
    names = [p["name"] for p in items]
    event = st.dataframe(_shaded(frame, "state"), hide_index=True, on_select="rerun", selection_mode="single-row",
                         key="pipelines_table",
                         column_config={"rows written (last)": st.column_config.NumberColumn(format="%d")})
    rows = event.selection.rows if event and event.selection else []
    if rows:
        chosen = names[rows[0]]
        if chosen != wanted:
            st.query_params[KEY] = chosen
        return chosen
    if wanted is not None and wanted not in names:
        st.error(f"Pipeline **{wanted}** does not exist.", icon=":material/search_off:")
        return None
    return wanted if wanted in names else (names[0] if names else None)


def _shaded(frame: pd.DataFrame, column: str) -> Any:
    """The status column coloured by outcome (the words stay, for screen readers)."""
    return frame.style.map(lambda v: f"background-color: {SHADES[v]}" if v in SHADES else "", subset=[column])


def _moment(iso: str | None) -> str:
    return "—" if iso is None else pd.Timestamp(iso).strftime("%b %d %H:%M UTC")


def _us(iso: str | None) -> int | None:
    return None if iso is None else int(pd.Timestamp(iso).value // 1000)


def definition_form(fs: FeatureStore, current: dict[str, Any] | None, key: str) -> None:
    """Fields of a pipeline, a preview, and Save (create or update)."""
    groups = [g.name for g in fs.list_feature_groups() if g.offline]
    targets = [g.name for g in fs.list_feature_groups()]
    current = current or {}
    new = not current
    cols = st.columns(2)
    name = cols[0].text_input("Name", value=current.get("name", ""), disabled=not new, key=f"{key}_name",
                              placeholder="customer_spend_daily")
    target = cols[1].selectbox("Target feature group", targets, key=f"{key}_target",
                               index=targets.index(current["target"]) if current.get("target") in targets else None,
                               placeholder="the group the rows go to")
    stored_inputs = current.get("inputs", {})
    cols = st.columns(2)
    inputs = cols[0].multiselect("Input feature groups", groups, key=f"{key}_inputs",
                                 default=[v for v in stored_inputs.values() if v in groups],
                                 help="Each is a view under its own name, with the columns the SQL page shows "
                                      "(features, _event_time, write_time, is_deleted)")
    files = cols[1].text_input("Input files (optional)", key=f"{key}_files",
                               value=", ".join(f"{k}={v}" for k, v in stored_inputs.items() if v not in groups),
                               help="view=path or glob of CSV/Parquet files, comma-separated, e.g. "
                                    "raw=/data/exports/*.csv")
    sql = st.text_area("SQL (DuckDB)", value=current.get("sql") or TEMPLATE, height=260, key=f"{key}_sql",
                       help="{{window_start}} and {{window_end}} are the run's event-time window; "
                            "{{name}} is a parameter")
    cols = st.columns(3)
    # A new pipeline starts in Full, which is right for any SQL; incremental is a choice made knowingly.
    mode = cols[0].selectbox("Mode", list(MODES), format_func=MODES.get, key=f"{key}_mode",
                             index=list(MODES).index(current.get("mode", "full")))
    when_default = "schedule" if current.get("schedule") else "on_change" if current.get("trigger") else "demand"
    when = cols[1].selectbox("Runs", list(WHEN), format_func=WHEN.get, index=list(WHEN).index(when_default),
                             key=f"{key}_when")
    schedule = cols[2].text_input("Cron (UTC)", value=current.get("schedule") or "0 23 * * *",
                                  disabled=when != "schedule", key=f"{key}_cron", help="minute hour day month weekday")
    cols = st.columns(4)
    lookback = cols[0].text_input("Look-back", key=f"{key}_lookback",
                                  value=_duration(current.get("lookback_seconds")),
                                  help="For rolling aggregates: also read rows this far before the window, "
                                       "e.g. 30d (empty: only the window's rows)")
    params = cols[1].text_input("Parameters (JSON)", value=json.dumps(current.get("params") or {}),
                                key=f"{key}_params", help='e.g. {"days": 30}; used in SQL as {{days}}')
    retries = cols[2].number_input("Retries", 0, 10, int(current.get("retries", 2)), key=f"{key}_retries",
                                   help="Scheduled runs that fail are tried again this many times")
    delay = cols[3].number_input("Retry delay (s)", 0, 86_400, int(current.get("retry_delay_seconds", 60)),
                                 key=f"{key}_delay")
    description = st.text_input("Description", value=current.get("description", ""), key=f"{key}_description")
    aggregate_hint(sql, mode, lookback.strip())
    if target and target in inputs:
        st.warning(f"This pipeline reads its own target **{target}**: each run also reads what earlier runs wrote "
                   "there, so its output feeds its next input. Check that this is meant"
                   + (" (a pipeline like this cannot run when an input gets writes: its own runs would start it "
                      "again and again)." if when == "on_change" else "."), icon=":material/sync_problem:")
    try:
        parsed = json.loads(params or "{}")
    except json.JSONDecodeError as exc:
        st.error(f"Parameters are not JSON ({exc.msg}); write them like {{\"days\": 30}}", icon=":material/error:")
        return
    pairs = [part.split("=", 1) for part in files.split(",") if part.strip()]
    if any(len(p) != 2 for p in pairs):
        st.error("Write each input file as view=path, e.g. raw=/data/exports/*.csv", icon=":material/error:")
        return
    definition = {"target": target, "sql": sql, "inputs": {**{g: g for g in inputs},
                                                          **{k.strip(): v.strip() for k, v in pairs}},
                  "mode": mode, "schedule": schedule if when == "schedule" else None,
                  "trigger": "on_change" if when == "on_change" else None, "params": parsed,
                  "lookback": lookback.strip() or None, "retries": int(retries), "retry_delay": int(delay),
                  "description": description}
    cols = st.columns([1, 1, 4])
    preview = cols[0].button("Preview", icon=":material/visibility:", key=f"{key}_preview",
                             disabled=not target, help="Run the SQL on what the next run would read (at most "
                                                       "100,000 rows of each input); nothing is written")
    save = cols[1].button("Create" if new else "Save", type="primary", icon=":material/save:", key=f"{key}_save",
                          disabled=not (target and (name or not new)))
    if preview:
        with engine_errors(), st.spinner("Running the SQL on what the next run would read…"):
            shown = fs.preview_pipeline(None if new else current["name"], **definition)
            show_preview(shown)
    if save:
        with engine_errors():
            if new:
                fs.create_pipeline(name.strip(), **definition)
                for field in [k for k in st.session_state if str(k).startswith(f"{key}_")]:
                    del st.session_state[field]
                # Widgets under new keys: the browser would otherwise send the old values back, and the
                # expander (keyed by the generation too) starts collapsed.
                st.session_state[GENERATION] = st.session_state.get(GENERATION, 0) + 1
                flash(f"Created pipeline {name.strip()}")
                open_page("pipelines", pipeline=name.strip())
            else:
                fs.update_pipeline(current["name"], **definition)
                flash(f"Saved pipeline {current['name']}")
                st.rerun()


def aggregate_hint(sql: str, mode: str, lookback: str) -> None:
    """Next to Mode and Look-back: what an aggregating SQL needs to stay right in incremental mode."""
    found = aggregates_in(sql or "") if mode == "incremental" else None
    if found is None:
        return
    if lookback:
        st.caption(f":material/info: The SQL aggregates ({found}). Each run also reads the rows up to {lookback} "
                   "before its window, so an aggregate covers at most that span: make it as long as the "
                   "aggregate needs.")
    else:
        st.warning(f"The SQL aggregates ({found}), and an incremental run reads only the rows written since the "
                   "last run: each count, sum or max would cover those rows alone and overwrite the complete "
                   "one. Set a **Look-back** as long as the aggregate spans (e.g. 30d), or use **Full** mode.",
                   icon=":material/functions:")


def show_preview(out: dict[str, Any]) -> None:
    read = ", ".join(f"{v}: {n:,} rows" for v, n in out["rows_in"].items())
    if out["output"] is None:
        st.error(out["problems"][0], icon=":material/error:")
        return
    if out["nothing_new"]:
        st.info("Nothing was written to the inputs since the last run: the next run would be skipped.",
                icon=":material/info:")
        return
    start, end = ((w[:19].replace("T", " ") for w in out["window"]) if out["window"] else ("", ""))
    window = f" in the window [{start}, {end}) UTC" if out["window"] and out["kind"] == "incremental" else ""
    st.caption(f"As the next {out['kind']} run would: read {read}{window}; the SQL gave {out['rows_out']:,} rows "
               f"(first {len(out['output'])} shown).")
    if out["capped"]:
        capped = ", ".join(f"{n:,} rows of {v}" for v, n in out["capped"].items())
        st.warning(f"The run would read {capped}; the preview read only the latest {max(out['rows_in'].values()):,} "
                   "of each, so counts and sums here are smaller than the run's.", icon=":material/content_cut:")
    if out["problems"]:
        st.warning("A run would refuse some of them:\n\n" + "\n".join(f"- {p}" for p in out["problems"][:10]),
                   icon=":material/warning:")
    else:
        st.success("Every row fits the target's features, types and rules.", icon=":material/check_circle:")
    st.dataframe(out["output"], hide_index=True, height=min(320, 38 + 35 * len(out["output"])))


def _duration(seconds: float | None) -> str:
    if not seconds:
        return ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def detail(fs: FeatureStore, name: str) -> None:
    p = fs.pipeline(name)
    st.subheader(name)
    if p["description"]:
        st.caption(p["description"])
    shape = f"{p['mode']}" + (f", look-back {_duration(p['lookback_seconds'])}" if p["lookback_seconds"] else "")
    st.markdown(f"**{', '.join(p['inputs'].values())}** → {'SQL' if p['sql'] else p['function']} ({shape}) → "
                f"**{p['target']}**")
    cols = st.columns(4)
    cols[0].metric("Last run", ago(_us(p["last_run"])) if p["last_run"] else "never")
    cols[1].metric("Status", "paused" if p["paused"] else "running" if p["running"] else p["last_status"] or "—")
    cols[2].metric("Next run", "paused" if p["paused"] else _moment(p["next_run"])[:-4] if p["next_run"] else
                   "on input change" if p["trigger"] else "on demand",
                   help=f"UTC; cron {p['schedule']}" if p["schedule"] else None)
    backfill = p["last_backfill"]
    if backfill:  # its last interval alone (often an empty today) would misstate what it wrote
        cols[3].metric("Rows written (last backfill)", f"{backfill['rows_out']:,}",
                       help=f"{backfill['runs']:,} runs over [{backfill['start'][:10]}, {backfill['end'][:10]})"
                            + (f", {backfill['failed']} failed" if backfill["failed"] else ""))
    else:
        cols[3].metric("Rows written (last run)",
                       f"{p['last_rows_out']:,}" if p["last_rows_out"] is not None else "—")
    actions(fs, p)
    runs = fs.pipeline_runs(name, limit=200)
    tab_runs, tab_def = st.tabs(["Runs", "Definition"])
    with tab_runs:
        show_runs(fs, runs)
    with tab_def:
        if fs.can("owner", p["target"]):
            definition_form(fs, p, key=f"edit_{name}")
        else:
            st.caption(f":material/lock: Changing this pipeline needs the owner role on {p['target']}.")
            st.code(p["sql"] or p["function"], language="sql" if p["sql"] else None)


def actions(fs: FeatureStore, p: dict[str, Any]) -> None:
    name = p["name"]
    if not fs.can("editor", p["target"]):
        st.caption(f":material/lock: Running this pipeline needs the editor role on {p['target']}.")
        return
    owner = fs.can("owner", p["target"])
    cols = st.columns([1, 1, 1, 1, 2])
    if cols[0].button("Run now", type="primary", icon=":material/play_arrow:", key=f"run_{name}",
                      disabled=p["running"], help="Run it once now, in this session"):
        with engine_errors(), st.spinner(f"Running {name}…"):
            run = fs.run_pipeline(name)
            _flash_run(run)
            st.rerun()
    if p["last_status"] == "failed" and cols[1].button("Retry failed", icon=":material/replay:", key=f"retry_{name}"):
        with engine_errors(), st.spinner(f"Running {name} again…"):
            _flash_run(fs.run_pipeline(name, trigger="retry"))
            st.rerun()
    with cols[2].popover("Backfill", icon=":material/history:"):
        backfill_form(fs, name)
    if not owner:
        return  # pausing, resuming and deleting need the owner role on the target
    if p["paused"]:
        if cols[3].button("Resume", icon=":material/play_circle:", key=f"resume_{name}"):
            fs.resume_pipeline(name)
            flash(f"Resumed {name}")
            st.rerun()
    elif cols[3].button("Pause", icon=":material/pause_circle:", key=f"pause_{name}",
                        help="The scheduler will not start it; Run now still works"):
        fs.pause_pipeline(name)
        flash(f"Paused {name}")
        st.rerun()
    with cols[4].popover("Delete", icon=":material/delete:"):
        st.write(f"Delete **{name}** and its run history? The rows it wrote stay in {p['target']}.")
        if st.button("Delete pipeline", type="primary", key=f"delete_{name}"):
            with engine_errors():
                fs.delete_pipeline(name)
                flash(f"Deleted pipeline {name}")
                st.query_params.pop(KEY, None)
                st.rerun()


def _flash_run(run: dict[str, Any]) -> None:
    if run["status"] == "failed":
        flash(f"Run {run['id']} failed: {run['error']}", warning=True)
    elif run["status"] == "skipped":
        flash(f"Run {run['id']}: nothing new since the last run")
    else:
        flash(f"Run {run['id']} read {run['rows_in']:,} rows and wrote {run['rows_out']:,}"
              + (f", refused {run['rows_rejected']:,}" if run["rows_rejected"] else ""))


def backfill_form(fs: FeatureStore, name: str) -> None:
    yesterday = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    with st.form(f"backfill_{name}", border=False):
        st.write("Recompute an event-time range, one run per interval. The incremental watermark stays.")
        # The 7 whole days before today: today's window is still filling.
        picked = st.date_input("Range (UTC days, both included)", (yesterday - dt.timedelta(days=6), yesterday),
                               key=f"bf_range_{name}", min_value=ANY_TIME["min_value"].date(),
                               max_value=ANY_TIME["max_value"].date())
        interval = st.selectbox("Interval", ["1h", "6h", "1d", "7d", "30d"], index=2, key=f"bf_interval_{name}")
        go = st.form_submit_button("Backfill", type="primary", icon=":material/history:")
    if go:
        if not isinstance(picked, tuple) or len(picked) != 2:
            st.error("Pick the first and the last day of the range", icon=":material/error:")
            return
        start, end = picked
        with engine_errors(), st.spinner("Backfilling…"):
            runs = fs.backfill(name, dt.datetime.combine(start, dt.time(), dt.timezone.utc),
                               dt.datetime.combine(end, dt.time(), dt.timezone.utc) + dt.timedelta(days=1), interval)
            failed = [r for r in runs if r["status"] == "failed"]
            empty = sum(r["status"] == "succeeded" and not r["rows_out"] for r in runs)
            flash(f"Backfill: {len(runs)} runs, {sum(r['rows_out'] for r in runs):,} rows written"
                  + (f" ({empty} of the intervals wrote none)" if empty else "")
                  + (f", {len(failed)} failed (first: {failed[0]['error']})" if failed else ""), warning=bool(failed))
            st.rerun()


def show_runs(fs: FeatureStore, runs: pd.DataFrame) -> None:
    if runs.empty:
        st.info("No runs yet: Run now, backfill a range, or start `featurestore scheduler`.", icon=":material/info:")
        return
    if runs["window_start"].notna().any():
        st.plotly_chart(charts.pipeline_windows(runs), key="pipeline_windows")
    st.dataframe(_shaded(runs.drop(columns=["pipeline"]), "status"), hide_index=True, key="pipeline_runs",
                 column_config={
        **{c: st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss")
           for c in ("window_start", "window_end", "started", "finished")},
        "error": st.column_config.TextColumn(width="large"),
        "seconds": st.column_config.NumberColumn(format="%.2f")})
    ids = runs["id"].tolist()
    # The newest run, shown again after every new run (a key of its own, so an older pick does not stick).
    chosen = st.selectbox("Run detail", ids, index=0, key=f"pipeline_run_detail_{ids[0]}",
                          format_func=lambda i: f"run {i}: " + runs.set_index("id").loc[i, "status"])
    run = fs.pipeline_run(chosen)
    window = f", window [{run['window_start']}, {run['window_end']})" if run["window_start"] else ""
    st.caption(f"{run['kind']} run, {run['trigger']}, attempt {run['attempt']}, started {run['started']}{window}")
    if run["error"]:
        st.error(run["error"], icon=":material/error:")
    st.code(run["log"] or "(no log)", language=None)
    if run["traceback"]:
        with st.expander("Traceback"):
            st.code(run["traceback"], language="python")


fs = store()
show_flash()
st.title("Pipelines")
status = fs.scheduler_status()
if status["running"]:
    st.caption(f":material/schedule: The scheduler is running (process {status['pid']} on {status['host']}, "
               f"since {status['since'][:19].replace('T', ' ')} UTC).")
else:
    st.caption(":material/schedule: No scheduler is running on this store: scheduled and on-change pipelines "
               "start once `featurestore scheduler` runs. Run now works without it.")
items = fs.list_pipelines()
if fs.can("owner"):
    generation = st.session_state.get(GENERATION, 0)
    form_key = NEW_FORM if not generation else f"{NEW_FORM}{generation}"
    with st.expander("New pipeline", icon=":material/add:", expanded=not items, key=f"{form_key}_expander"):
        definition_form(fs, None, key=form_key)
if items:
    chosen = overview(fs, items)
    if chosen:
        detail(fs, chosen)
