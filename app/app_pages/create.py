"""Create: define a feature group in a form, or start from a sample CSV/Parquet whose proposed
schema (types ingest accepts, sanitised names) is edited before creating, then ingest that same
file. The store's verdict is shown next to the field it concerns."""
from __future__ import annotations

from datetime import timedelta

import streamlit as st

from app.ui.errors import engine_errors, outcome, row_errors
from app.ui.files import saved_upload
from app.ui.nav import open_page
from app.ui.pickers import pairs_editor
from app.ui.schema_editor import features_editor, field_of, file_features_editor
from app.ui.session import flash, store
from store import upload
from store.model.layout import PARTITIONS

UNITS = {"minutes": 60, "hours": 3600, "days": 86400}
BLANK = [{"name": "id", "type": "Integral"}, {"name": "event_time", "type": "String"}]
CREATED, INGESTED = "created", "created_ingest"

fs = store()
st.title("Create a feature group")
if not fs.can("admin"):
    st.info("Creating feature groups needs an admin grant in the store's access file.", icon=":material/lock:")
    st.stop()
# Name and description first: they are always drawn, so what was typed survives a sample file that fails.
errors = {}
name_col, desc_col = st.columns([1, 2])
name = name_col.text_input("Name", key="create_name", placeholder="e.g. customers",
                           help="1–64 letters, digits, '_' or '-', starting and ending with a letter or digit.")
errors["name"] = name_col.empty()
description = desc_col.text_input("Description", key="create_description", placeholder="What one record describes")
errors["description"] = desc_col.empty()

start = st.segmented_control("Start from", ["Blank form", "Sample file"], default="Blank form", required=True,
                             key="create_start")
initial, ident_guess, time_guess, sample, key, columns = BLANK, "id", "event_time", None, "blank", None
if start == "Sample file":
    uploaded = st.file_uploader("Sample CSV or Parquet", type=["csv", "parquet"], key="create_sample",
                                help="Its columns and types become the features; rows are ingested only if you ask.")
    sample = saved_upload(uploaded, "create_sample")
    if sample is None:
        st.info("Upload a sample file to infer the features from its columns.", icon=":material/upload_file:")
        st.stop()
    proposal = None
    with engine_errors():
        proposal = upload.propose(sample)
        with st.expander(f"First rows of {uploaded.name} ({upload.file_format(sample)})"):
            st.dataframe(upload.peek(sample, 5), hide_index=True)
    if proposal is None:  # the file could not be read: there is nothing to create from
        st.stop()
    initial, ident_guess, time_guess = proposal.features, proposal.record_identifier, proposal.event_time
    columns = proposal.source_columns
    key = uploaded.file_id
    if proposal.columns:
        st.info("Some column names cannot be feature names (only letters, digits, '_' and '-' are allowed, and "
                "a few names such as year are reserved), so their features are renamed; ingesting this file maps "
                "them back: "
                + ", ".join(f"`{c}` → `{f}`" for c, f in proposal.columns.items()), icon=":material/edit:")

st.subheader("Features")
if columns is None:
    specs, mapping = features_editor(initial, key=f"create_features_{key}"), {}
else:
    specs, mapping = file_features_editor(initial, columns, key=f"create_features_{key}")
errors["features"] = st.empty()
names = [s["name"] for s in specs]
id_col, time_col = st.columns(2)
ident = id_col.selectbox("Record identifier", names, index=names.index(ident_guess) if ident_guess in names else 0,
                         key=f"create_identifier_{key}", help="The feature that identifies a record (any scalar type).")
more = id_col.multiselect("More key columns (optional)", [n for n in names if n != ident], key=f"create_more_keys_{key}",
                          placeholder="For a record keyed by several columns",
                          help="A record is then one value of each, in this order after the identifier: a terminal "
                               "of a merchant (merchant_id, terminal_id), an item of a user. Lookups and datasets "
                               "take every key column.")
errors["record_identifier"] = id_col.empty()
entity_names = [e.name for e in fs.list_entities()]
about = id_col.selectbox("About (entity)", ["(none)", *entity_names], key="create_entity",
                         help="What each record is about, e.g. customer: the dataset builder then joins this group on "
                              "the entity's key column, and the entity's page shows its features. The identifier must "
                              "match the entity's key type. Define entities on the Entities page.")
errors["entity"] = id_col.empty()
event_time = time_col.selectbox(
    "Event time", names, index=names.index(time_guess) if time_guess in names else None, key=f"create_event_time_{key}",
    placeholder="Pick the feature saying when each version took effect",
    help="When each version took effect: String (ISO-8601, or dates in the time format below) or Fractional "
         "(epoch seconds).")
chosen = next((s for s in specs if s["name"] == event_time), None)
if chosen and chosen["type"] == "Integral" and not chosen.get("collection"):
    chosen["type"] = "Fractional"  # whole epoch seconds: event times are String or Fractional
    time_col.caption(f"`{event_time}` holds whole numbers, read as epoch seconds: it becomes Fractional.")
errors["event_time"] = time_col.empty()
if columns is not None and proposal.notes:
    st.caption("  \n".join(f"`{f}`: {note}" for f, note in proposal.notes.items() if f != proposal.event_time))

# A file's dates ('11.10.2026 01:21') are read in a format the user sees and may edit; where day-first
# and month-first both read the file, the user chooses. The format is kept with the group.
time_format, time_problem = None, None
column = next((c for c, f in mapping.items() if f == event_time), None) if columns is not None else None
if column is not None and chosen and chosen["type"] == "String":
    formats = proposal.time_formats.get(proposal.columns.get(column, column), [])
    detected = formats[0] if len(formats) == 1 else None
    if len(formats) > 1:
        detected = time_col.radio(
            f"`{column}`: day-first or month-first? No day in the file is above 12, so both read it.", formats,
            index=None, key=f"create_time_pick_{key}_{column}",
            format_func=lambda f: f"{f}  (31 December 2025 is {upload.format_example(f)})")
    time_format = time_col.text_input(
        "Time format", value=detected or "", key=f"create_time_format_{key}_{column}_{detected}",
        placeholder="ISO-8601, e.g. 2024-05-01T12:00:00Z",
        help="How the file writes its dates, in strftime codes: %d day, %m month, %Y year, %H:%M hours:minutes "
             "(%I:%M %p for 2:05 PM). Kept with the group, so later uploads of the same export are read the same "
             "way.").strip() or None
    if len(formats) > 1 and time_format is None:
        time_problem = "Choose day-first or month-first for the event time: the file's dates read both ways."
        time_col.info(time_problem, icon=":material/help:")
    else:
        time_problem = "The time format is not valid."  # until the check below reads it
        with engine_errors(lambda exc: time_col):
            check = upload.event_time_check(sample, column, time_format)
            time_problem = check.problem
            if check.problem:
                time_col.error(check.problem, icon=":material/event_busy:")
            elif check.note:
                time_col.warning(check.note, icon=":material/warning:")
            if check.preview is not None and check.preview.num_rows:
                time_col.caption(f"How `{column}` is read ({check.total - check.bad:,} of {check.total:,} values read):")
                time_col.dataframe(check.preview, hide_index=True)

stores_col, ttl_col, layout_col, tags_col = st.columns([1, 1, 1, 2])
online = stores_col.checkbox("Online store", value=True, key="create_online", help="Latest record per identifier, "
                             "for low-latency reads.")
offline = stores_col.checkbox("Offline store", value=True, key="create_offline", help="Full history in Parquet, "
                              "for time travel, statistics and training sets.")
errors["stores"] = stores_col.empty()
ttl_amount = ttl_col.number_input("Default TTL (0 = none)", min_value=0.0, value=0.0, key="create_ttl",
                                  disabled=not online, help="Online records expire this long after their event time.")
ttl_unit = ttl_col.selectbox("TTL unit", list(UNITS), index=2, key="create_ttl_unit", disabled=not online)
errors["ttl"] = ttl_col.empty()
partition_by = layout_col.selectbox(
    "Offline partitions", list(PARTITIONS), key="create_partition_by", disabled=not offline,
    format_func=lambda p: {"day": "by day", "hour": "by hour (SageMaker's layout)", "month": "by month",
                           "none": "none"}[p],
    help="The event-time folders of the offline Parquet files. By day suits most groups; by month suits sparse ones.")
retention_days = layout_col.number_input("Offline retention, days (0 = all)", min_value=0.0, value=0.0,
                                         key="create_retention", disabled=not offline,
                                         help="History older than this is dropped by compaction, except each "
                                              "record's latest version.")
with tags_col:
    st.caption("Tags")
    tags = pairs_editor({}, key="create_tags")
errors["tags"] = tags_col.empty()

errors["form"] = st.empty()
if event_time is None:
    st.caption("Pick the event time to create the group.")
elif time_problem:
    st.caption("The event time must read before the group can be created: a group that cannot take its own "
               "sample file is no use.")
if st.button("Create feature group", type="primary", icon=":material/add_box:",
             disabled=event_time is None or bool(time_problem)):
    with engine_errors(lambda exc: errors["entity"] if "entity" in exc.context else
                       errors.get(field_of(exc), errors["form"])):
        fs.create_feature_group(name, [ident, *more] if more else ident, event_time, specs, description=description, tags=tags, online=online,
                                offline=offline, ttl=timedelta(seconds=ttl_amount * UNITS[ttl_unit]) if ttl_amount else None,
                                partition_by=partition_by, offline_retention=retention_days or None,
                                time_format=time_format, entity=None if about == "(none)" else about)
        st.session_state[CREATED] = {"group": name, "file": sample, "mapping": mapping}
        st.session_state.pop(INGESTED, None)
        flash(f"Created feature group {name}")
        st.rerun()

created = st.session_state.get(CREATED)
if created:
    group, file = created["group"], created["file"]
    st.success(f"Feature group **{group}** is ready.", icon=":material/check_circle:")
    report = st.session_state.get(INGESTED)
    if report is not None and report.group == group:
        outcome(report)
        if report.rows_rejected:
            row_errors(report, key="create_ingest")
    actions = st.container(horizontal=True)
    # Offered until the file's rows are in: a second ingest of written rows would duplicate them.
    if file and (report is None or not report.rows_written):
        if actions.button(f"Ingest the sample file into {group}", icon=":material/upload:"):
            with engine_errors():
                st.session_state[INGESTED] = upload.ingest_file(fs, group, file, created["mapping"], on_error="skip")
                st.rerun()
    if actions.button("Open the group", icon=":material/table_chart:"):
        open_page("group", group=group)
    if actions.button("Ingest another file", icon=":material/upload_file:"):
        open_page("ingest", group=group)
    if report is not None and not report.rows_written:
        if actions.button(f"Delete {group} and start over", icon=":material/delete:"):
            with engine_errors():
                fs.delete_feature_group(group, purge_offline=True)
                st.session_state.pop(CREATED, None)
                st.session_state.pop(INGESTED, None)
                flash(f"Deleted feature group {group}")
                st.rerun()
