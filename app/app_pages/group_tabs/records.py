"""Record-level tabs: the latest records page by page, one record's online state (with delete and
the same lookup as client code), and one record's full history on a timeline. The record looked
up is in the URL (``&record=42``; a key of several columns as a JSON array in key order,
``&record=["m1",7]``, with one input per column), so a lookup or a history can be shared as a link."""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any

import pandas as pd
import streamlit as st

from app import data
from app.ui import charts
from app.ui.errors import engine_errors
from app.ui.formats import when
from app.ui.nav import RECORD_KEY, page_link
from app.ui.pickers import ANY_TIME
from app.ui.session import flash
from store import FeatureGroup, FeatureStore
from store.snippets import get_record_boto3, get_record_curl

UTC_TIME = st.column_config.DatetimeColumn(format="YYYY-MM-DD[T]HH:mm:ss.SSSSSS[Z]", timezone="UTC")


def render_data(fs: FeatureStore, group: FeatureGroup) -> None:
    size_col, page_col, _ = st.columns([1, 1, 4])
    size = size_col.selectbox("Rows per page", [25, 50, 100, 250], index=1, key=f"data_size_{group.name}")
    number = page_col.number_input("Page", min_value=1, value=1, step=1, key=f"data_page_{group.name}")
    with engine_errors():
        page = data.latest_page(fs, group.name, size, (number - 1) * size)
        if page.total == 0:
            st.info("No live records yet. Ingest a file to fill this group.", icon=":material/info:")
            page_link("ingest", "Ingest data", group=group.name)
            return
        pages = math.ceil(page.total / size)
        if number > pages:
            st.warning(f"Page {number} is past the end: there are {pages:,} pages of {size} records.")
            return
        source = "the online store" if group.online else "the offline store's latest view"
        st.caption(f"Records {(number - 1) * size + 1:,}–{min(number * size, page.total):,} of {page.total:,}, "
                   f"ordered by {', '.join(group.identifiers)}: the latest live version of each, from {source}.")
        st.dataframe(page.rows, hide_index=True)


def _record_input(group: FeatureGroup, label: str) -> Any:
    """The record asked for: its identifier's text, or for a key of several columns the list of
    their texts in key order (the store types them), once every column is filled; else empty."""
    if not group.composite:
        return st.text_input(f"{label} by {group.identifiers[0]}", key=RECORD_KEY, bind="query-params",
                             placeholder="an identifier, e.g. 42", icon=":material/search:").strip()
    st.caption(f"{label} by its key: {', '.join(group.identifiers)}")
    shared = _url_key(group)  # a shared link fills the inputs
    values = []
    for col, name, given in zip(st.columns(len(group.identifiers)), group.identifiers, shared):
        widget = f"{RECORD_KEY}_{group.name}_{name}"
        if widget not in st.session_state:
            st.session_state[widget] = given
        values.append(col.text_input(name, key=widget, placeholder=f"{name}, e.g. 42",
                                     icon=":material/search:").strip())
    if not all(values):
        st.query_params.pop(RECORD_KEY, None)
        return []
    st.query_params[RECORD_KEY] = json.dumps(values, separators=(",", ":"))
    return values


def _url_key(group: FeatureGroup) -> list[str]:
    """The key columns' texts from the URL's ``record`` (a JSON array in key order), or blanks."""
    try:
        given = json.loads(st.query_params.get(RECORD_KEY, ""))
    except ValueError:
        given = None
    if not isinstance(given, list) or len(given) != len(group.identifiers):
        return [""] * len(group.identifiers)
    return ["" if v is None else str(v) for v in given]


def _shown(group: FeatureGroup, record_id: Any) -> str:
    """'customer_id = 42', or '(merchant_id, terminal_id) = (m1, 7)' for a key of several columns."""
    if not group.composite:
        return f"{group.identifiers[0]} = {record_id}"
    return f"({', '.join(group.identifiers)}) = ({', '.join(record_id)})"


def _wire(record_id: Any) -> str:
    """The key as the HTTP API takes it: the text, or a JSON array of a composite key's values."""
    return json.dumps(record_id, separators=(",", ":")) if isinstance(record_id, list) else record_id


def render_lookup(fs: FeatureStore, group: FeatureGroup) -> None:
    if not group.online:
        st.info("This group has no online store. Read its records on the History tab or the Time travel page.",
                icon=":material/info:")
        return
    record_id = _record_input(group, "Look up a record")
    if not record_id:
        st.caption("Enter an identifier to see its latest record as the online store serves it, with its expiry.")
        return
    with engine_errors():
        found = fs.online_record(group.name, record_id)
        if found is None:
            st.warning(f"No record with {_shown(group, record_id)} in the online store: it was "
                       "never written, or was hard-deleted or swept after expiring.", icon=":material/search_off:")
        else:
            status = "live" if found["live"] else "deleted (tombstone)" if found["deleted"] else "expired"
            state = {"Status": status, "Event time": when(found["event_us"]), "Written": when(found["write_us"]),
                     "Expires": when(found["expires_us"]) if found["expires_us"] else "never"}
            for col, (label, value) in zip(st.columns(4, border=True), state.items()):
                col.caption(label)
                col.markdown(f"**{value}**")
            if found["live"]:
                st.dataframe([{"feature": k, "value": v if v is None else str(v)} for k, v in found["record"].items()],
                             hide_index=True)
            _delete_form(fs, group, record_id)
        with st.expander("The same lookup from code", icon=":material/code:"):
            st.caption("Against `featurestore serve` on this store (SageMaker's GetRecord, as a service would call it):")
            st.code(get_record_boto3(group.name, _wire(record_id)), language="python")
            st.code(get_record_curl(group.name, _wire(record_id)), language="bash")


def _delete_form(fs: FeatureStore, group: FeatureGroup, record_id: Any) -> None:
    if not fs.can("editor", group.name):
        return  # deleting a record needs the editor role
    with st.expander("Delete this record", icon=":material/delete:"):
        st.caption("A soft delete leaves a tombstone that blocks older writes; a hard delete forgets the record, so "
                   "an older write can become current again. Both append a delete marker to the offline store.")
        at = st.datetime_input("Delete as of event time (UTC)", value=datetime.now(timezone.utc).replace(tzinfo=None),
                               key=f"delete_at_{group.name}", step=60, **ANY_TIME)
        hard = st.toggle("Hard delete", key=f"hard_{group.name}")
        sure = st.checkbox("I understand a hard delete forgets this record", key=f"hard_sure_{group.name}") if hard else True
        if st.button("Delete record", type="primary", disabled=not sure, icon=":material/delete:"):
            with engine_errors():
                when_us = int(at.replace(tzinfo=timezone.utc).timestamp() * 1e6)
                result = fs.delete_record(group.name, record_id, at.replace(tzinfo=timezone.utc), hard=hard)
                rid = _shown(group, record_id)
                if result == "newer_kept":
                    stored = fs.online_record(group.name, record_id)
                    newer = when(stored["event_us"]) if stored else "a later time"
                    flash(f"{rid} was not deleted online: its stored version (event time {newer}) is newer than the "
                          f"delete's event time {when(when_us)}, so it stays. Only a delete marker was added to the "
                          "offline history; delete as of a later time to remove it.", warning=True)
                elif result == "deleted":
                    flash(f"{'Hard' if hard else 'Soft'}-deleted {rid}")
                else:
                    flash(f"{rid} had no live record online; the delete marker is in the history"
                          + ("" if hard else ", and a tombstone now blocks older writes"))
                st.rerun()


def render_history(fs: FeatureStore, group: FeatureGroup) -> None:
    if not group.offline:
        st.info("This group has no offline store, so it keeps no history; the Online lookup tab shows the latest "
                "record.", icon=":material/info:")
        return
    record_id = _record_input(group, "Show every version of a record")
    if not record_id:
        st.caption("Enter an identifier to see each version with its event time and write time; deletes are marked.")
        return
    with engine_errors():
        versions = fs.history(group.name, record_id)
        if versions.empty:
            st.warning(f"No versions of {_shown(group, record_id)} in the offline store.",
                       icon=":material/search_off:")
            return
        deleted = versions["is_deleted"].fillna(False).astype(bool)
        st.caption(f"{len(versions)} version{'s' if len(versions) != 1 else ''}, {int(deleted.sum())} delete "
                   f"marker{'s' if deleted.sum() != 1 else ''} — oldest first by event time.")
        st.plotly_chart(charts.history(versions, group.event_time), key=f"history_chart_{group.name}")
        # The delete flag and both clocks first: they are what a history is read by.
        first = [group.event_time, "write_time"]
        shown = versions[first + [c for c in versions.columns if c not in first and c != "is_deleted"]]
        shown.insert(0, "kind", pd.Series(["delete" if d else "version" for d in deleted], index=versions.index))
        st.dataframe(shown, hide_index=True, column_config={
            "kind": st.column_config.TextColumn("kind", help="A version, or a delete marker"),
            "write_time": UTC_TIME, "api_invocation_time": UTC_TIME})
