"""SQL: read-only DuckDB queries over the groups (each a view of its full offline history), with
results and a CSV download. A query stops after its timeout, or when the user presses Stop (or
runs something else); anything that writes, attaches, installs or reads other files is refused
by the store, and the refusal is shown in plain words."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as Pending

from typing import TYPE_CHECKING

import streamlit as st

from app.common import engine_errors, store

if TYPE_CHECKING:
    import pandas as pd

    from store import FeatureStore

SQL_KEY = "sql_text"
MAX_ROWS = 10_000
DEFAULT_TIMEOUT = 60


def run_stoppable(fs: "FeatureStore", sql: str, timeout: float) -> "pd.DataFrame":
    """``fs.query`` on a worker thread, so this script thread stays free to notice Stop or a new
    run (Streamlit raises them at the next element update) and cancel DuckDB on its way out."""
    cancel = threading.Event()
    status = st.empty()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sql") as pool:
        future = pool.submit(fs.query, sql, MAX_ROWS, timeout=timeout, cancel=cancel)
        try:
            while True:
                try:
                    return future.result(timeout=0.25)
                except Pending:
                    status.caption(f"Running for {time.monotonic() - started:.0f} s… press **Stop** at the top right "
                                   f"to interrupt it (it stops by itself after {timeout:g} s).")
        except BaseException:  # Stop, a rerun, or the query's own error: DuckDB must not run on
            cancel.set()
            raise
        finally:
            status.empty()


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
        with engine_errors():
            started = time.perf_counter()
            result = run_stoppable(fs, sql, timeout)
            st.session_state["sql_result"] = (sql, result, time.perf_counter() - started)
    last = st.session_state.get("sql_result")
    if last and last[0] == sql:
        _, result, seconds = last
        capped = " (the first rows only: add a LIMIT or aggregate)" if len(result) == MAX_ROWS else ""
        st.caption(f"{len(result):,} rows × {len(result.columns)} columns in {seconds:.2f}s{capped}")
        st.dataframe(result, hide_index=True)
        st.download_button("Download CSV", result.to_csv(index=False).encode(), "query.csv", "text/csv",
                           on_click="ignore", icon=":material/download:")
