"""Create: define a feature group in a form, or start from a sample CSV/Parquet whose inferred
schema is edited before creating. The store's verdict is shown next to the field it concerns."""
from __future__ import annotations

from datetime import timedelta

import streamlit as st

from app.common import engine_errors, flash, open_page, pairs_editor, row_errors, store
from app.files import saved_upload
from app.schema_editor import features_editor, field_of
from store import upload
from store.schema import NAME_RE

UNITS = {"minutes": 60, "hours": 3600, "days": 86400}
NAME_RULE = (NAME_RE.pattern, "Use 1–64 letters, digits, '_' or '-', starting and ending with a letter or digit.")
BLANK = [{"name": "id", "type": "Integral"}, {"name": "event_time", "type": "String"}]


fs = store()
st.title("Create a feature group")
start = st.segmented_control("Start from", ["Blank form", "Sample file"], default="Blank form", required=True,
                             key="create_start")
initial, ident_guess, time_guess, sample, key = BLANK, "id", "event_time", None, "blank"
if start == "Sample file":
    uploaded = st.file_uploader("Sample CSV or Parquet", type=["csv", "parquet"], key="create_sample",
                                help="Its columns and types become the features; rows are ingested only if you ask.")
    sample = saved_upload(uploaded, "create_sample")
    if sample is None:
        st.info("Upload a sample file to infer the features from its columns.", icon=":material/upload_file:")
        st.stop()
    with engine_errors():
        proposal = upload.propose(sample)
        initial, ident_guess, time_guess = proposal.features, proposal.record_identifier, proposal.event_time
        key = uploaded.file_id
        with st.expander(f"First rows of {uploaded.name}"):
            st.dataframe(upload.peek(sample, 5), hide_index=True)

errors = {}
name_col, desc_col = st.columns([1, 2])
name = name_col.text_input("Name", key="create_name", placeholder="e.g. customers", validate=NAME_RULE)
errors["name"] = name_col.empty()
description = desc_col.text_input("Description", key="create_description", placeholder="What one record describes")
errors["description"] = desc_col.empty()

st.subheader("Features")
specs = features_editor(initial, key=f"create_features_{key}")
errors["features"] = st.empty()
names = [s["name"] for s in specs]
id_col, time_col = st.columns(2)
ident = id_col.selectbox("Record identifier", names, index=names.index(ident_guess) if ident_guess in names else 0,
                         key=f"create_identifier_{key}", help="The feature that identifies a record (any scalar type).")
errors["record_identifier"] = id_col.empty()
event_time = time_col.selectbox(
    "Event time", names, index=names.index(time_guess) if time_guess in names else None, key=f"create_event_time_{key}",
    help="When each version took effect: String (ISO-8601 ending in Z) or Fractional (epoch seconds).")
errors["event_time"] = time_col.empty()

stores_col, ttl_col, tags_col = st.columns([1, 1, 2])
online = stores_col.checkbox("Online store", value=True, key="create_online", help="Latest record per identifier, "
                             "for low-latency reads.")
offline = stores_col.checkbox("Offline store", value=True, key="create_offline", help="Full history in Parquet, "
                              "for time travel, statistics and training sets.")
errors["stores"] = stores_col.empty()
ttl_amount = ttl_col.number_input("Default TTL (0 = none)", min_value=0.0, value=0.0, key="create_ttl",
                                  disabled=not online, help="Online records expire this long after their event time.")
ttl_unit = ttl_col.selectbox("TTL unit", list(UNITS), index=2, key="create_ttl_unit", disabled=not online)
errors["ttl"] = ttl_col.empty()
with tags_col:
    st.caption("Tags")
    tags = pairs_editor({}, key="create_tags")
errors["tags"] = tags_col.empty()

errors["form"] = st.empty()
if st.button("Create feature group", type="primary", icon=":material/add_box:"):
    with engine_errors(lambda exc: errors.get(field_of(exc), errors["form"])):
        fs.create_feature_group(name, ident, event_time, specs, description=description, tags=tags, online=online,
                                offline=offline, ttl=timedelta(seconds=ttl_amount * UNITS[ttl_unit]) if ttl_amount else None)
        st.session_state["created"] = (name, sample)
        flash(f"Created feature group {name}")
        st.rerun()

created = st.session_state.get("created")
if created:
    group, file = created
    st.success(f"Feature group **{group}** is ready.", icon=":material/check_circle:")
    report = st.session_state.get("created_ingest")
    if report is not None and report.group == group:
        st.success(report.summary(), icon=":material/check_circle:")
        if report.rows_rejected:
            row_errors(report.errors, key="create_ingest")
    actions = st.container(horizontal=True)
    if file and actions.button(f"Ingest the sample file into {group}", icon=":material/upload:"):
        with engine_errors():
            st.session_state["created_ingest"] = upload.ingest_file(fs, group, file, {}, on_error="skip")
            st.session_state["created"] = (group, None)  # once: a second ingest would duplicate every row
            st.rerun()
    if actions.button("Open the group", icon=":material/table_chart:"):
        open_page("group", group=group)
    if actions.button("Ingest another file", icon=":material/upload_file:"):
        open_page("ingest", group=group)
