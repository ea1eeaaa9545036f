"""SQL: read-only DuckDB queries over the groups (each a view of its full offline history), with
results and a CSV download of the whole result. A query stops after its timeout, or when the
user presses Stop (or runs something else); anything that writes, attaches, installs or reads
other files is refused by the store, and the refusal is shown in plain words."""
from __future__ import annotations

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as Pending
from typing import TYPE_CHECKING, Any

import streamlit as st

from app.ui.errors import engine_errors
from app.ui.session import store

if TYPE_CHECKING:
    import pandas as pd

    from store import FeatureStore

SQL_KEY = "sql_text"
RUNNING_KEY = "sql_running"  # the query in progress: {"sql", "started", "stopped"}, until it returns
MAX_ROWS = 10_000
DEFAULT_TIMEOUT = 60


def run_stoppable(fs: "FeatureStore", sql: str, timeout: float) -> "pd.DataFrame":
    """``fs.query`` on a worker thread, so this script thread stays free to notice Stop or a new
    run (Streamlit raises them at the next element update) and cancel DuckDB on its way out.

    A stopped run can send nothing more to the page, so its caption would stay; what the next
    run needs to say "Stopped after N s" is kept in a dict in the session state, which the
    stopped run can still change (the session state itself refuses writes by then)."""
    cancel = threading.Event()
    running: dict[str, Any] = {"sql": sql, "started": time.time(), "stopped": None}
    st.session_state[RUNNING_KEY] = running
    status, stop = st.empty(), st.empty()
    started = time.monotonic()
    offered = False
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sql") as pool:
        future = pool.submit(fs.query, sql, MAX_ROWS, timeout=timeout, cancel=cancel)
        try:
            while True:
                try:
                    return future.result(timeout=0.25)
                except Pending:
                    status.caption(f"Running for {time.monotonic() - started:.0f} s… press **Stop the query** to "
                                   f"interrupt it (it stops by itself after {timeout:g} s).")
                    if not offered:  # a click reruns the page, which stops this run
                        stop.button("Stop the query", icon=":material/stop_circle:")
                        offered = True
        except Exception:  # the query's own error (a timeout included), shown by the caller
            cancel.set()
            raise
        except BaseException:  # Stop, or a rerun: DuckDB must not run on, and the next run says so
            cancel.set()
            running["stopped"] = time.time()
            raise
        finally:
            if running["stopped"] is None:
                st.session_state.pop(RUNNING_KEY, None)
                status.empty()
                stop.empty()


def show_stopped() -> None:
    """The run before this one was stopped while its query ran (a query that returns or fails
    removes its entry): say so, once. Stopped by this rerun, it may not have noted when yet:
    that is now."""
    running = st.session_state.pop(RUNNING_KEY, None)
    if running:
        seconds = (running["stopped"] or time.time()) - running["started"]
        st.caption(f":material/stop_circle: Stopped after {seconds:.0f} s; nothing returned.")


def full_csv(fs: "FeatureStore", sql: str, timeout: float) -> Any:
    """The whole result as CSV bytes, made when the user clicks the download (on Streamlit's
    thread for it), streamed from DuckDB by the store."""
    def make() -> bytes:
        out = io.BytesIO()
        fs.query_csv(sql, out, timeout=timeout)
        return out.getvalue()

    return make


fs = store()
st.title("SQL")
groups = [g for g in fs.list_feature_groups() if g.offline]
if not groups:
    st.info("There is nothing to query yet: each feature group with an offline store becomes a view here. Create a "
            "group and ingest data first.", icon=":material/info:")
    st.stop()

first = groups[0]
if SQL_KEY not in st.session_state:
    st.session_state[SQL_KEY] = (f"SELECT *\nFROM {first.name}\nWHERE NOT is_deleted\n"
                                 f"ORDER BY write_time DESC\nLIMIT 100")
editor, views = st.columns([3, 1], gap="large")
with views:
    st.caption("Views — every version of every record, plus `write_time`, `api_invocation_time`, `is_deleted`")
    for g in groups:
        with st.expander(g.name):
            st.markdown("\n".join(f"- `{f.name}` {f.type}" for f in g.features))
with editor:
    sql = st.text_area("Query", key=SQL_KEY, height=200, help="DuckDB SQL. Only SELECT, WITH and EXPLAIN run.")
    run_col, timeout_col = st.columns([3, 1], vertical_alignment="bottom")
    timeout = timeout_col.number_input("Timeout (seconds)", min_value=1, max_value=3600, value=DEFAULT_TIMEOUT,
                                       key="sql_timeout", help="The query is stopped after this long.")
    run = run_col.button("Run", type="primary", icon=":material/play_arrow:", shortcut="Ctrl+Enter")
    if run:
        st.session_state.pop(RUNNING_KEY, None)
        with engine_errors():
            started = time.perf_counter()
            result = run_stoppable(fs, sql, timeout)
            st.session_state["sql_result"] = (sql, result, time.perf_counter() - started)
    else:
        show_stopped()
    last = st.session_state.get("sql_result")
    if last and last[0] == sql:
        _, result, seconds = last
        capped = len(result) == MAX_ROWS
        shown = f" (the first {MAX_ROWS:,} are shown; the download has every row)" if capped else ""
        st.caption(f"{len(result):,}{'+' if capped else ''} rows × {len(result.columns)} columns in "
                   f"{seconds:.2f}s{shown}")
        st.dataframe(result, hide_index=True)
        if capped:
            st.download_button("Download all rows (CSV)", full_csv(fs, sql, timeout), "query.csv", "text/csv",
                               on_click="ignore", icon=":material/download:",
                               help="Runs the query again and saves its whole result")
        else:
            st.download_button("Download CSV", result.to_csv(index=False).encode(), "query.csv", "text/csv",
                               on_click="ignore", icon=":material/download:")
