"""On-demand features: values computed when a feature service is read (and when a training set is
built from it), from group features and request values, by one definition. Every registered one
with what it reads and gives; one (``?feature=``) with its SQL or Python source, its version
history and the services that compute it; registering a SQL one from the catalog. Python ones are
registered from code (the example shows how)."""
from __future__ import annotations

from typing import Any

import streamlit as st

from app.ui import on_demand as od_ui
from app.ui.errors import engine_errors
from app.ui.formats import escape_markdown, facts, plural, when
from app.ui.nav import open_page, page_link
from app.ui.session import flash, store
from store import Feature, OnDemandFeature

FEATURE_KEY = "feature"  # the query parameter naming the on-demand feature shown
TYPES = ["Fractional", "Integral", "String"]
MAX_FIELDS = 6

fs = store()
wanted = st.query_params.get(FEATURE_KEY)
features = fs.list_on_demand_features()


def _catalog() -> dict[str, str]:
    """Every feature an on-demand feature may read ('group:feature' -> type): the online groups'
    features other than their keys, event times and collections."""
    offered = {}
    for g in fs.list_feature_groups():
        if not g.online:
            continue
        offered |= {f"{g.name}:{f.name}": f.type for f in g.features
                    if f.name not in {*g.identifiers, g.event_time} and not f.collection}
    return offered


def _rows(label: str, key: str, start: int, minimum: int) -> int:
    return int(st.number_input(label, min_value=minimum, max_value=MAX_FIELDS, value=start, step=1, key=key))


def _register_form() -> None:
    with st.expander("Register a SQL on-demand feature", icon=":material/add:", expanded=not features):
        if not fs.can("owner"):
            st.caption(":material/lock: Registering needs the owner role on every group the feature reads (its "
                       "code runs where the store serves); the store refuses it otherwise.")
        name_col, desc_col = st.columns([1, 2])
        name = name_col.text_input("Name", key="od_new_name", placeholder="e.g. amount_vs_avg")
        description = desc_col.text_input("Description", key="od_new_desc", placeholder="What it tells a model")
        catalog = _catalog()
        inputs = st.multiselect("Inputs (group features)", list(catalog), key="od_new_inputs",
                                format_func=lambda ref: f"{ref} ({catalog[ref]})", placeholder="Pick from the catalog",
                                help="Read from the online store for each entity row; an expression names one by "
                                     "its feature name (group__feature where two groups share the name)")
        st.markdown("**Request fields** · values only the request has, e.g. a transaction's amount")
        request: dict[str, str] = {}
        for i in range(_rows("Request fields", "od_new_request_n", 1, 0)):
            left, right = st.columns([2, 1])
            field = left.text_input(f"Request field {i + 1}", key=f"od_new_request_{i}", placeholder="e.g. amount")
            kind = right.selectbox(f"Type of request field {i + 1}", TYPES, key=f"od_new_request_type_{i}")
            if field.strip():
                request[field.strip()] = kind
        st.markdown("**Outputs** · one DuckDB SQL expression each, over the inputs and request fields")
        outputs, sql = [], {}
        for i in range(_rows("Outputs", "od_new_output_n", 1, 1)):
            left, middle, right = st.columns([1, 1, 3])
            out = left.text_input(f"Output {i + 1}", key=f"od_new_output_{i}", placeholder="e.g. amount_vs_avg_30d")
            kind = middle.selectbox(f"Type of output {i + 1}", TYPES, key=f"od_new_output_type_{i}")
            expression = right.text_input(f"Expression of output {i + 1}", key=f"od_new_sql_{i}",
                                          placeholder="e.g. amount / NULLIF(avg_amount_30d, 0)")
            if out.strip():
                outputs.append(Feature(out.strip(), kind))
                sql[out.strip()] = expression
        if st.button("Register on-demand feature", type="primary", icon=":material/add:", key="od_register"):
            with engine_errors():
                made = fs.register_on_demand(OnDemandFeature(name.strip(), inputs=inputs, request=request,
                                                              outputs=outputs, sql=sql, description=description.strip()))
                flash(f"Registered on-demand feature {made.name} (version {made.version})")
                open_page("on_demand", **{FEATURE_KEY: made.name})


def _python_help() -> None:
    with st.expander("Python on-demand features are registered from code", icon=":material/code:"):
        st.caption("A Python function runs where the store serves, so it is registered from code (a notebook or a "
                   "deployment script), never typed into the studio. The store keeps its source and runs that text in "
                   "every process; `mode=\"python\"` takes and returns dicts of lists, cheaper for one row.")
        st.code(od_ui.python_example(fs.path), language="python")


if not wanted:
    st.title("On-demand features")
    st.caption("An on-demand feature is computed when it is asked for, from group features and values only the "
               "request has (like a transaction's amount), by one definition: a feature service serves it online "
               "and computes it into the training sets built from it, so the two cannot drift apart.")
    if not features:
        st.info("No on-demand features yet. Register a SQL one below, or a Python one from code.",
                icon=":material/info:")
    else:
        services = fs.list_feature_services()
        rows = [{"name": f.name, "version": f.version, "kind": "SQL" if f.kind == "sql" else f"Python ({f.mode})",
                 "inputs": ", ".join(f.inputs) or "—", "request": od_ui.request_text(f) or "—",
                 "outputs": od_ui.outputs_text(f), "owner": f.owner or "—",
                 "services": ", ".join(s.name for s in services if f.name in dict(s.on_demand)) or "—",
                 "updated": when(f.created_at)} for f in features]
        picked = st.dataframe(rows, hide_index=True, on_select="rerun", selection_mode="single-row",
                              key="on_demand_table", column_config={"outputs": st.column_config.TextColumn(width="large")})
        st.caption("Select a row to see its definition and versions. A service pins the version current when the "
                   "service version was saved.")
        if picked.selection.rows:
            open_page("on_demand", **{FEATURE_KEY: rows[picked.selection.rows[0]]["name"]})
    _register_form()
    _python_help()
    st.stop()

if wanted not in {f.name for f in features}:
    st.title("On-demand features")
    st.error(f"On-demand feature **{escape_markdown(wanted)}** does not exist (or reads a group you may not see).",
             icon=":material/search_off:")
    page_link("on_demand", "Every on-demand feature")
    st.stop()

feature = fs.on_demand_feature(wanted)
head, back = st.columns([3, 1], vertical_alignment="bottom")
head.title(f"On-demand feature {feature.name}")
with back:
    page_link("on_demand", "Every on-demand feature")
if feature.description:
    st.caption(escape_markdown(feature.description))
users = [s for s in fs.list_feature_services() if feature.name in dict(s.on_demand)]
st.markdown(facts({
    "Version": f"{feature.version} (registered {when(feature.created_at)} by {feature.created_by or 'unknown'})",
    "Kind": "SQL (DuckDB expressions)" if feature.kind == "sql" else f"Python function, {feature.mode} mode",
    "Owner": escape_markdown(feature.owner) or "—",
    "Inputs": escape_markdown(", ".join(feature.inputs)) or "none",
    "Request": escape_markdown(od_ui.request_text(feature)) or "none",
    "Outputs": escape_markdown(od_ui.outputs_text(feature)),
    "Served by": escape_markdown(", ".join(f"{s.name} (pins v{dict(s.on_demand)[feature.name]})" for s in users))
    or "no feature service yet",
}))
for s in users:
    if st.button(f"Open service {s.name}", icon=":material/hub:", key=f"od_open_{s.name}"):
        open_page("services", service=s.name)


def _version_rows(versions: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for v in versions:
        rows.append({"version": v.version, "kind": v.kind, "inputs": ", ".join(v.inputs) or "—",
                     "request": od_ui.request_text(v) or "—", "outputs": od_ui.outputs_text(v),
                     "by": v.created_by or "unknown", "when": when(v.created_at)})
    return list(reversed(rows))


code, language = od_ui.definition_code(feature)
st.subheader("Definition")
st.code(code, language=language, wrap_lines=True)
st.subheader("Versions")
versions = [fs.on_demand_feature(feature.name, version=n) for n in range(1, feature.version + 1)]
st.dataframe(_version_rows(versions), hide_index=True, key="od_versions",
             column_config={"outputs": st.column_config.TextColumn(width="large")})
if len(versions) > 1:
    picked = st.selectbox("Definition of version", [v.version for v in reversed(versions)], key="od_version")
    code, language = od_ui.definition_code(versions[picked - 1])
    st.code(code, language=language, wrap_lines=True)
st.caption(f"{plural(len(versions), 'version')}. Registering a changed definition under the same name adds one; "
           "services keep the version they pinned until a new service version picks up the latest.")
