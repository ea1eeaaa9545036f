"""Ingest: upload a CSV or Parquet file, preview it, map its columns onto the group's features,
validate it against the types and the group's rules (bad rows listed, downloadable as they were
with the reason; warnings and batch rules beside them), then write it with a progress bar. The file is recorded in lineage as the data source."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from app.ui.errors import engine_errors, outcome, row_errors, rule_warnings
from app.ui.files import saved_upload
from app.ui.formats import ago, size, when
from app.ui.nav import page_link
from app.ui.pickers import pick_group
from app.ui.session import store
from store import upload

if TYPE_CHECKING:
    from streamlit.delta_generator import DeltaGenerator

    from store import FeatureStore

SKIP = "(skip this column)"
ON_ERROR = {"reject": "Write nothing if any row is invalid", "skip": "Write the valid rows, skip the invalid ones"}


def last_ingest(fs: "FeatureStore", group: str, where: "DeltaGenerator") -> None:
    """The group's last ingest, from the store's validation runs (and who, from the audit log when
    the principal may read it): an ingest still shows after a reload or from another session."""
    with engine_errors(where):
        runs = fs.validation_runs(group)
        runs = runs[runs["kind"] == "ingest"]
        if runs.empty:
            where.caption(f"Nothing was ingested into **{group}** yet.")
            return
        run = runs.iloc[0]
        started_us = int(run["started"].timestamp() * 1e6)
        by = ""
        if fs.governed and fs.can("admin"):
            entries = fs.audit(since=run["started"], group=group, action="ingest", limit=1)
            by = f" by **{entries['principal'].iloc[0]}**" if len(entries) else ""
        done = (f"refused, none of its {run['rows_checked']:,} rows written" if run["outcome"] == "refused" else
                f"{run['rows_written']:,} of {run['rows_checked']:,} rows written"
                + (f", {run['rows_rejected']:,} refused" if run["rows_rejected"] else ""))
        source = f" from `{run['source']}`" if run["source"] else ""
        where.caption(f"Last ingest into **{group}**{source}: {done}, {when(started_us)} ({ago(started_us)}){by}. "
                      "Every ingest is listed on the group's Quality tab.")


fs = store()
st.title("Ingest")
group_name = pick_group(fs)
if group_name is None:
    st.stop()
group = fs.feature_group(group_name)
st.caption("Features: " + ", ".join(f"`{f.name}` {f.type}" for f in group.features)
           + f". Every row needs {', '.join(f'`{k}`' for k in group.identifiers)} and `{group.event_time}`.")
last = st.empty()
last_ingest(fs, group_name, last)

if not fs.can("editor", group_name):
    st.info(f"You may read **{group_name}** but not write to it: ingesting needs the editor role on it.",
            icon=":material/lock:")
    st.stop()

uploaded = st.file_uploader("CSV or Parquet file", type=["csv", "parquet"], key="ingest_file",
                            help="CSV values are read as text and typed by the group's schema, so '007' stays '007'. "
                                 "The encoding (UTF-8, Windows-1252, Latin-1) and delimiter are detected.")
path = saved_upload(uploaded, "ingest_file")
if path is None:
    st.info("Upload a file to preview it, map its columns and validate it before writing.",
            icon=":material/upload_file:")
    st.stop()

with engine_errors(skip_choice=ON_ERROR["skip"]):
    preview = upload.peek(path, 100)
    st.caption(f"{uploaded.name} — {upload.file_format(path)}, {size(os.path.getsize(path))}; "
               f"the first {len(preview)} rows:")
    st.dataframe(preview, hide_index=True, height=min(220, 38 + 35 * max(len(preview), 1)))

    st.subheader("Map columns to features")
    features = group.feature_names
    defaults = upload.default_mapping(group, list(preview.columns))
    mapping_frame = pd.DataFrame({"column": list(preview.columns),
                                  "feature": [defaults[c] or SKIP for c in preview.columns]})
    edited = st.data_editor(mapping_frame, hide_index=True, disabled=["column"], key=f"mapping_{uploaded.file_id}",
                            column_config={"feature": st.column_config.SelectboxColumn(
                                "feature", options=[SKIP, *features], required=True)})
    mapping = {c: (None if f == SKIP else f) for c, f in zip(edited["column"], edited["feature"])}
    missing = [f for f in (*group.identifiers, group.event_time) if f not in mapping.values()]
    if missing:
        st.warning(f"No column is mapped to {' and '.join(f'`{m}`' for m in missing)}; every row needs it.",
                   icon=":material/warning:")
    unfilled = [f for f in features if f not in mapping.values() and f not in missing]
    if unfilled:
        st.info("Each row replaces its whole record, so these features will be empty in the rows written: "
                + ", ".join(f"`{f}`" for f in unfilled), icon=":material/info:")

    kept_format = upload.time_format_of(group)
    time_format = st.text_input(
        f"Time format of `{group.event_time}`", value=kept_format or "", key=f"ingest_time_format_{group_name}",
        placeholder="ISO-8601, e.g. 2024-05-01T12:00:00Z",
        help="How the file writes its event times, in strftime codes (%d.%m.%Y %H:%M is 31.12.2025 14:05). "
             "The format kept with the group is filled in; ISO-8601 is always read.").strip() or None
    if time_format:
        st.caption(f"Event times are read as `{time_format}` (31 December 2025 14:05 is "
                   f"`{upload.format_example(time_format)}`)"
                   + (", the format kept with the group." if time_format == kept_format else "."))
    on_error = st.radio("If some rows are invalid", list(ON_ERROR), format_func=ON_ERROR.get, key="ingest_on_error",
                        horizontal=True)
    check = (group_name, uploaded.file_id, tuple(sorted(mapping.items(), key=lambda kv: kv[0])), time_format)
    actions = st.container(horizontal=True)
    if actions.button("Validate", icon=":material/rule:"):
        with st.spinner("Validating every row…"):
            st.session_state["validation"] = (check, upload.validate_file(fs, group_name, path, mapping, time_format))
    write = actions.button("Ingest", type="primary", icon=":material/upload:")

    validated = st.session_state.get("validation")
    if validated and validated[0] == check and not write:
        report = validated[1]
        for failure in report.batch_failures:
            st.error(f"Rule {failure['rule']} fails this file as a whole, so nothing of it would be written: "
                     f"{failure['reason']}", icon=":material/block:")
        if report.ok:
            st.success(f"All {report.rows_total:,} rows are valid and ready to ingest.", icon=":material/check_circle:")
        elif report.rows_rejected:
            st.error(f"{report.rows_rejected:,} of {report.rows_total:,} rows are invalid (wrong types or refused by "
                     f"the group's rules); {report.rows_written:,} are valid.", icon=":material/error:")
            row_errors(report, key="validation")
        rule_warnings(report)

    if write:
        st.session_state.pop("ingested", None)
        bar = st.progress(0.0, text="Validating…")

        def progress(done: int, total: int) -> None:
            bar.progress(done / total if total else 1.0, text=f"Written {done:,} of {total:,} rows")

        try:
            st.session_state["ingested"] = (check, upload.ingest_file(fs, group_name, path, mapping, on_error,
                                                                      progress, source=uploaded.name,
                                                                      time_format=time_format))
        except Exception:
            bar.empty()  # the error says what happened; a bar left at "Validating…" would say it is still going
            last_ingest(fs, group_name, last)  # a refusal is an ingest too
            raise
        bar.progress(1.0, text="Done")
        last_ingest(fs, group_name, last)

    ingested = st.session_state.get("ingested")
    if ingested and ingested[0] == check:
        report = ingested[1]
        outcome(report)
        cols = st.columns(5)
        cols[0].metric("Rows written", f"{report.rows_written:,}")
        cols[1].metric("Rows rejected", f"{report.rows_rejected:,}")
        cols[2].metric("Online records updated", f"{report.records_online:,}")
        cols[3].metric("Parquet files", f"{report.files_written:,}")
        cols[4].metric("Seconds", f"{report.seconds:.2f}")
        if report.rows_rejected:
            row_errors(report, key="ingested")
            page_link("group", "The refused rows are in the quarantine", group=group_name, tab="Quality")
        rule_warnings(report)
        if report.rows_written:
            st.caption("Ingesting the same file again appends its rows again: the history keeps both writes.")
        page_link("group", f"Open {group_name}", group=group_name)
