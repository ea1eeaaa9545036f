"""Dataset builder: join chosen features, or a feature service's (``?service=`` preselects one),
onto an entity/label table point-in-time correctly, see which column each feature becomes and how
many rows got values, look at the result, download it. The build is recorded in lineage with its
full definition (and service) and listed on the Datasets page."""
from __future__ import annotations

import os
import re
import warnings
from datetime import datetime, timezone
from typing import Any

import pandas as pd
import streamlit as st

from app.ui.errors import engine_errors
from app.ui.files import saved_upload
from app.ui.formats import escape_markdown, plural
from app.ui.nav import open_page, page_link
from app.ui.pickers import ANY_TIME
from app.ui.session import store
from store import ValidationError
from store.demo import DATA_DIR, samples_dir
from store.model.entity import entity_columns
from store.upload import guess_time_column, read_table, to_pandas

SOURCES = ["Upload a file", "Sample label file"]
PICKS = ["Feature groups", "A feature service"]
UNCOVERED = "dataset_uncovered"  # (coverage, build request) of a build refused for keys that matched nothing
NAMING = ("Each feature column is named after its feature; a name that two groups (or a group and the entity "
          "table) share becomes `<group>__<feature>` for both.")

fs = store()
st.title("Dataset builder")
groups = [g for g in fs.list_feature_groups() if g.offline]
if not groups:
    st.info("Training sets are joined from feature groups' offline stores; there are none yet. Create a group and "
            "ingest data first.", icon=":material/info:")
    st.stop()

linked = st.query_params.get("service")  # the Feature services page's "Build a training set"
if linked:
    st.info(f"Building a training set from feature service **{escape_markdown(linked)}**: give an entity table with "
            "the keys its entity rows need, an event time and the label; step 2 has the service chosen.",
            icon=":material/hub:")
st.subheader("1. Entity table")
st.caption("One row per training example: the keys to join on, an event time (no feature newer than it is used), "
           "and usually the label.")
source = st.segmented_control("Entity table", SOURCES, default=SOURCES[0], required=True, key="entity_source",
                              label_visibility="collapsed")
if source == SOURCES[0]:
    uploaded = st.file_uploader("Entity CSV or Parquet", type=["csv", "parquet"], key="entity_file")
    entity = saved_upload(uploaded, "entity_file")
else:
    # The files as the store was seeded with them (timeline moved to now), else the repository's.
    folder = next((d for d in (samples_dir(fs), DATA_DIR) if os.path.isdir(d)), None)
    samples = sorted(f for f in os.listdir(folder) if f.endswith((".csv", ".parquet"))) if folder else []
    choice = st.selectbox("Sample file", samples, index=samples.index("labels.csv") if "labels.csv" in samples else 0,
                          key="entity_sample") if samples else None
    entity = os.path.join(folder, choice) if choice else None
if entity is None:
    st.info("Upload an entity table, or pick a sample label file.", icon=":material/upload_file:")
    st.stop()

with engine_errors():
    head = read_table(entity, rows=1000)
    st.dataframe(to_pandas(head.slice(0, 5)), hide_index=True)
    columns = head.column_names

    st.subheader("2. Features")
    services = fs.list_feature_services()
    by_service = bool(services) and st.segmented_control(
        "Features from", PICKS, key="dataset_pick", required=True,
        default=PICKS[1] if linked in {s.name for s in services} else PICKS[0],
        help="A feature service's features give the training set the columns its online vector has") == PICKS[1]
    service = None
    if by_service:
        names = [s.name for s in services]
        picked_service = st.selectbox("Feature service", names, key="dataset_service",
                                      index=names.index(linked) if linked in names else 0)
        service = next(s for s in services if s.name == picked_service)
        st.caption(f"Version {service.version}, owned by {escape_markdown(service.owner or 'nobody')}: "
                   f"{plural(len(service.features), 'feature')} from {escape_markdown(', '.join(service.groups))}. "
                   "The dataset records the service and its version.")
        if service.on_demand:
            needs = {f: t for n, v in service.on_demand for f, t in fs.on_demand_feature(n, version=v).request.items()}
            st.caption(f"It computes {escape_markdown(', '.join(f'{n}@{v}' for n, v in service.on_demand))} on "
                       "demand" + (f": the entity table gives the request values as columns "
                                   f"{', '.join(f'`{f}` ({t})' for f, t in needs.items())}." if needs else "."))
        chosen = service.groups
    else:
        chosen = st.multiselect("Feature groups", [g.name for g in groups], key="dataset_groups",
                                placeholder="Pick the groups to join")
    features: list[str] = []
    keys: dict[str, Any] = {}  # group -> entity column (a list in key order for a key of several columns)
    pad_keys: dict[str, int] = {}  # groups whose keys the user chose to join zero-padded
    unkeyed: list[str] = []  # groups whose key column is not picked, or cannot key them as it is
    taken: list[str] = []  # entity columns picked as keys (not the event time)
    for g in (g for g in groups if g.name in chosen):
        with st.container(border=True):
            pick, *key_cols = st.columns([3, *[1] * len(g.identifiers)])
            if service is not None:
                pick.markdown(f"**{escape_markdown(g.name)}**: " + escape_markdown(
                    ", ".join(f for group, f in service.features if group == g.name)))
            else:
                offered = [f for f in g.feature_names if f not in g.identifiers]
                picked = pick.multiselect(f"Features of {g.name}", offered, default=offered,
                                          key=f"dataset_features_{g.name}")
                features += [g.name] if picked == offered else [f"{g.name}:{f}" for f in picked]
            held: list[str] = []
            for key_col, ident, named in zip(key_cols, g.identifiers, entity_columns(g)):
                # Only a column named like the entity's key (a group with an entity), else like the
                # identifier, is a safe guess: any other is the user's choice.
                widget = f"dataset_key_{g.name}" if not g.composite else f"dataset_key_{g.name}_{ident}"
                whose = "" if not g.entity else f" ({g.entity}'s key" + \
                    (f", {ident} in {g.name})" if named != ident else ")")
                key = key_col.selectbox(f"Entity column holding {named}{whose}", columns,
                                        index=columns.index(named) if named in columns else None,
                                        placeholder="Pick the key column", key=widget)
                if key is None:
                    st.caption(f"No column is named {escape_markdown(named)}"
                               + (f", {'a' if g.composite else 'the'} key of entity {escape_markdown(g.entity)}"
                                  if g.entity else "")
                               + f": pick the one holding {escape_markdown(g.name)}'s "
                               + ("identifiers." if not g.composite else f"{escape_markdown(ident)} values."))
                    continue
                taken.append(key)
                check = fs.browser().check_key(head, key, g.name, ident)
                if check.refused:
                    st.error(escape_markdown(check.refused), icon=":material/block:")
                    continue
                if check.problem:
                    st.warning(escape_markdown(check.problem), icon=":material/warning:")
                    if check.conversion:
                        st.dataframe(pd.DataFrame(check.conversion).astype(str), hide_index=True)
                        if not st.checkbox(f"Convert {key} this way for the join", key=f"{widget}_convert"
                                           if g.composite else f"dataset_convert_{g.name}"):
                            continue
                        if check.pad_to:
                            pad_keys[g.name] = check.pad_to
                held.append(key)
            if len(held) < len(g.identifiers):
                unkeyed.append(g.name)
                continue
            keys[g.name] = held if g.composite else held[0]

    if service is not None:
        features = [f"{g}:{f}" for g, f in service.features]  # the columns, for the preview below

    st.subheader("3. Options")
    left, right = st.columns(2)
    guessed = guess_time_column(head, exclude=tuple(taken))
    event_col = left.selectbox("Entity event-time column", columns, key="dataset_event_time",
                               index=columns.index(guessed) if guessed in columns else None,
                               placeholder="The column saying when each example happened",
                               help="Timestamps, ISO-8601 text or epoch seconds.")
    name = right.text_input("Dataset name", key="dataset_name", placeholder="e.g. fraud_training_v2 (optional)")
    prefix = right.toggle("Prefix every feature column with its group", key="dataset_prefix",
                          disabled=service is not None,
                          help="Always `<group>__<feature>`, instead of only when names clash. A feature service's "
                               "columns are named as its online vector names them.") and service is None
    with st.expander("Point-in-time options"):
        guard = st.checkbox("Write-time guard", key="dataset_guard",
                            help="Also ignore versions written after each row's event time (blocks backfill leakage).")
        ttl = st.checkbox("Use each group's TTL as a look-back limit", key="dataset_ttl", disabled=service is not None,
                          help="A feature service always applies its groups' TTLs, as its online vector does.")
        deleted = st.checkbox("Include deleted records", key="dataset_deleted")
        use_known = st.checkbox("Only what the store knew at…", key="dataset_use_known")
        known_at = st.datetime_input("Known at (UTC)", value=datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0),
                                     step=60, key="dataset_known_at", disabled=not use_known, **ANY_TIME)

    if features:
        with st.expander("Columns of the dataset", expanded=True):
            st.caption(NAMING)
            named = pd.DataFrame(fs.browser().feature_columns(columns, features, prefix))
            if service is not None and service.on_demand:  # computed after the join, named as their outputs
                named = pd.concat([named, pd.DataFrame(
                    [{"group": f"on_demand:{n}@{v}", "feature": out.name, "column": out.name}
                     for n, v in service.on_demand for out in fs.on_demand_feature(n, version=v).outputs])],
                    ignore_index=True)
            st.dataframe(named, hide_index=True)
    if event_col is None:
        st.caption("Pick the entity event-time column to build a dataset.")
    if unkeyed:
        st.caption(f"Pick a key column each group can join on to build a dataset: {escape_markdown(', '.join(unkeyed))}.")
    if st.button("Build dataset", type="primary", icon=":material/join_inner:",
                 disabled=not features or event_col is None or bool(unkeyed)):
        request = {"entity_df": entity, "features": f"service:{service.name}" if service else features,
                   "event_time_column": event_col, "keys": keys,
                   "known_at": known_at.replace(tzinfo=timezone.utc) if use_known else None,
                   "include_deleted": deleted, "ttl_lookback": ttl, "write_time_guard": guard,
                   "name": name.strip() or None, "prefix_features": prefix, "pad_keys": pad_keys}
        st.session_state.pop(UNCOVERED, None)
        st.session_state.pop("dataset", None)
        with st.spinner("Joining features point-in-time…"):
            try:  # a set whose keys matched nothing is not recorded unless the user says so
                st.session_state["dataset"] = fs.build_dataset(**request, require_coverage=True)
            except ValidationError as exc:
                if "coverage" not in exc.context:
                    raise
                st.session_state[UNCOVERED] = (exc.context["coverage"], request)
    if not features:
        st.caption("Pick at least one feature group (or a feature service) to build a dataset.")

uncovered = st.session_state.get(UNCOVERED)
if uncovered is not None:
    coverage, request = uncovered
    st.subheader("4. Result")
    lost = [group for group, figures in coverage["groups"].items() if not figures["rows_with_values"]]
    st.warning(f"Not recorded: {escape_markdown(', '.join(lost))} gave features to none of the "
               f"{plural(coverage['rows'], 'entity row')} ({plural(coverage['rows_without_any_feature'], 'row')} got "
               "no feature at all). The key column most likely does not hold these groups' identifiers, or holds "
               "them written differently: check the keys above. Record it only if that is what you expect.",
               icon=":material/warning:")
    if st.button("Record it anyway", icon=":material/save:"):
        with engine_errors(), st.spinner("Joining features point-in-time…"), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the user has just read and dismissed it
            st.session_state["dataset"] = fs.build_dataset(**request)
            st.session_state.pop(UNCOVERED, None)
            st.rerun()

built = st.session_state.get("dataset")
if built is not None:
    st.subheader("4. Result")
    coverage = built.coverage
    lost = [group for group, figures in coverage["groups"].items() if not figures["rows_with_values"]]
    summary = (f"Dataset **{escape_markdown(built.name)}** ({built.id}): {plural(built.num_rows, 'row')} × "
               f"{plural(len(built.columns), 'column')}, recorded in lineage with its definition")
    if lost:
        st.warning(f"{summary}, although {escape_markdown(', '.join(lost))} gave features to none of its rows.",
                   icon=":material/warning:")
    else:
        st.success(f"{summary}.", icon=":material/check_circle:")
    cols = st.columns(1 + len(coverage["groups"]))
    cols[0].metric("Rows with no feature at all", f"{coverage['rows_without_any_feature']:,}",
                   help="Entity rows for which no group had a live version at or before the row's event time")
    for col, (group_name, figures) in zip(cols[1:], coverage["groups"].items()):
        col.metric(f"Rows without {group_name}", f"{figures['rows_without']:,}",
                   help=f"{figures['rows_with_values']:,} of {coverage['rows']:,} rows got {group_name}'s features")
    st.dataframe(to_pandas(built.table.slice(0, 200)), hide_index=True)
    st.caption(f"The first {min(200, built.num_rows):,} rows.")
    actions = st.container(horizontal=True)
    stem = re.sub(r"[^\w.-]+", "-", built.name)  # default names hold a timestamp's colons
    for fmt, label, mime in (("csv", "CSV", "text/csv"), ("parquet", "Parquet", "application/octet-stream")):
        actions.download_button(f"Download {label}", lambda fmt=fmt: built.to_bytes(fmt), f"{stem}.{fmt}", mime,
                                key=f"download_{fmt}", on_click="ignore", icon=":material/download:")
    if actions.button("Show in lineage", icon=":material/account_tree:"):
        open_page("lineage", node=f"dataset:{built.id}")
    page_link("datasets", "Every dataset built, to download or rebuild later", dataset=built.id)
    with st.expander("Definition"):
        st.json(built.definition, expanded=1)
