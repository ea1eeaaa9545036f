"""Audit (admins): who wrote, changed or was refused what, when, with counts and outcome; filters,
a CSV export, and a check that no entry was altered since it was written."""
from __future__ import annotations

import datetime as dt

import streamlit as st

from app.ui.errors import engine_errors
from app.ui.formats import escape_markdown, plural
from app.ui.session import store

fs = store()
st.title("Audit log")
if not fs.allowed("audit"):
    st.info("The audit log is for admins.", icon=":material/lock:")
    st.stop()

with engine_errors():
    everything = fs.audit(limit=100_000)
    cols = st.columns(4)
    principal = cols[0].selectbox("Who", sorted(everything["principal"].unique()), index=None, placeholder="anyone")
    group = cols[1].selectbox("Feature group", sorted(everything["group"].dropna().unique()), index=None,
                              placeholder="any group")
    action = cols[2].selectbox("Action", sorted(everything["action"].unique()), index=None, placeholder="any action")
    since = cols[3].date_input("Since", value=None, help="UTC day")
    shown = fs.audit(since=dt.datetime.combine(since, dt.time(), dt.timezone.utc) if since else None,
                     principal=principal, group=group, action=action, limit=100_000)
    refused = int(shown["outcome"].isin(["denied", "locked"]).sum())  # a lockout is a refusal too
    st.caption(f"{plural(len(shown), 'entry')} shown, {refused:,} of them refusals; newest first.")
    st.dataframe(shown.assign(details=shown["details"].astype(str)), hide_index=True, key="audit_table",
                 column_config={"at": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
                                "details": st.column_config.TextColumn(width="large")})
    left, right = st.columns([1, 3])
    left.download_button("Download (CSV)", shown.to_csv(index=False), "audit.csv", "text/csv",
                         icon=":material/download:", on_click="ignore")
    if right.button("Verify the chain", icon=":material/verified:",
                    help="Each entry's hash covers the one before it: an edited, removed or reordered entry shows"):
        result = fs.verify_audit()
        if result["ok"]:
            st.success(f"The log is intact: {plural(result['entries'], 'entry')}, each chained to the one before. Its "
                       f"last hash, to keep outside the store: `{result['last_hash']}`", icon=":material/verified:")
        else:
            st.error(f"The log was altered: {escape_markdown(result['problem'])}.", icon=":material/gpp_bad:")
