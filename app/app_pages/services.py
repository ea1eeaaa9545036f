"""Feature services: the named, versioned feature lists models read. Every service with its groups,
owner and the models trained through it; defining one by picking features from the catalog; one
service (``?service=``) with its features, the entity keys it needs, a "try it" online lookup with
its latency and the same call as code, its version history, and a new version."""
from __future__ import annotations

import time
from typing import Any

import pandas as pd
import streamlit as st

from app.ui.errors import engine_errors
from app.ui.feature_picker import chosen_summary, forget, key_columns, keys_text, pick_features
from app.ui.formats import escape_markdown, facts, key_values, plural, when
from app.ui.nav import open_page, page_link
from app.ui.pickers import pairs_editor
from app.ui.session import flash, store
from store import NotFound
from store.snippets import online_features_curl, online_features_http, online_features_python

SERVICE_KEY = "service"  # the query parameter naming the service shown
TABS = ["Features", "Try it", "Versions", "New version"]
SHOW_TAB = "_service_tab"  # the tab to open on the next run (after saving a version: Versions)
STATUS = {"present": "present", "not_found": "not found", "outside_ttl": "expired (outside the group's TTL)"}

fs = store()
wanted = st.query_params.get(SERVICE_KEY)


def _used_by(graph: Any) -> dict[str, dict[str, list[str]]]:
    """Per service, the datasets built from it and the models trained on those (from lineage)."""
    names = {n["id"]: n["name"] for n in graph.nodes}
    after: dict[str, list[str]] = {}
    for e in graph.edges:
        after.setdefault(e["src"], []).append(e["dst"])
    out: dict[str, dict[str, list[str]]] = {}
    for node, following in after.items():
        if not node.startswith("feature_service:"):
            continue
        used = out.setdefault(names.get(node, node), {"datasets": [], "models": []})
        for dataset in (d for d in following if d.startswith("dataset:")):
            used["datasets"].append(names.get(dataset, dataset))
            used["models"] += [names.get(m, m) for m in after.get(dataset, []) if m.startswith("model:")]
    return {s: {k: list(dict.fromkeys(v)) for k, v in used.items()} for s, used in out.items()}


def _refs(chosen: list[tuple[str, str]]) -> list[str]:
    return [f"{g}:{f}" for g, f in chosen]


def _define_form() -> None:
    if not fs.allowed("create_feature_service"):
        st.caption(":material/lock: Defining feature services needs an admin grant.")
        return
    with st.expander("Define a feature service", icon=":material/add:", expanded=not services):
        name_col, owner_col = st.columns([1, 1])
        name = name_col.text_input("Name", key="service_new_name", placeholder="e.g. fraud_detection")
        owner = owner_col.text_input("Owner", key="service_new_owner", placeholder=f"default: {fs.principal or 'you'}")
        description = st.text_input("Description", key="service_new_desc", placeholder="What model reads it, and why")
        st.caption("Tags")
        tags = pairs_editor({}, key="service_new_tags")
        st.markdown("**Features**")
        chosen = pick_features(fs, "service_new")
        st.caption(chosen_summary(fs, chosen))
        if st.button("Define service", type="primary", icon=":material/add:", key="service_define"):
            if not chosen:
                st.error("Pick at least one feature (or a whole group) for the service to serve.",
                         icon=":material/error:")
                return
            with engine_errors():
                made = fs.create_feature_service(name.strip(), _refs(chosen), description.strip(), tags,
                                                 owner.strip() or None)
                forget("service_new")
                flash(f"Defined feature service {made.name} (version 1)")
                open_page("services", **{SERVICE_KEY: made.name})


services = fs.list_feature_services()
if not wanted:
    st.title("Feature services")
    st.caption("A feature service is the list of features one model reads, named and versioned: served online "
               "as one vector per entity row, and built into training sets with exactly the same columns.")
    if not services:
        st.info("No feature services yet. Define one below from the features in the catalog.", icon=":material/info:")
    else:
        used = _used_by(fs.lineage())
        rows = [{"service": s.name, "version": s.version, "groups": ", ".join(s.groups), "features": len(s.features),
                 "owner": s.owner, "models": ", ".join(used.get(s.name, {}).get("models", [])) or "—",
                 "description": s.description, "updated": when(s.modified_at)} for s in services]
        picked = st.dataframe(rows, hide_index=True, on_select="rerun", selection_mode="single-row",
                              key="services_table",
                              column_config={"description": st.column_config.TextColumn(width="large")})
        st.caption("Select a row to open the service, try it and see its versions. “models” are those trained on "
                   "a dataset built from the service.")
        if picked.selection.rows:
            open_page("services", **{SERVICE_KEY: rows[picked.selection.rows[0]]["service"]})
    _define_form()
    st.stop()

if wanted not in {s.name for s in services}:
    st.title("Feature services")
    st.error(f"Feature service **{escape_markdown(wanted)}** does not exist (or reads a group you may not see).",
             icon=":material/search_off:")
    page_link("services", "Every feature service")
    st.stop()

service = fs.feature_service(wanted)
groups = [fs.feature_group(g) for g in service.groups]
keys = key_columns(groups)
head, back = st.columns([3, 1], vertical_alignment="bottom")
head.title(f"Feature service {service.name}")
with back:
    page_link("services", "Every feature service")
if service.description:
    st.caption(escape_markdown(service.description))
used = _used_by(fs.lineage(f"feature_service:{service.name}", 2)).get(service.name, {"datasets": [], "models": []})
st.markdown(facts({
    "Version": f"{service.version} (updated {when(service.modified_at)} by {service.created_by or 'unknown'})",
    "Owner": escape_markdown(service.owner) or "—",
    "Tags": escape_markdown(key_values(service.tags)) or "—",
    "Reads": f"{plural(len(service.features), 'feature')} from {escape_markdown(', '.join(service.groups))}",
    "Entity rows give": keys_text(keys),
    "Models": escape_markdown(", ".join(used["models"])) or "none yet",
    "Datasets": escape_markdown(", ".join(used["datasets"])) or "none yet",
}))
actions = st.container(horizontal=True)
if actions.button("Build a training set", icon=":material/join_inner:", type="primary",
                  help="Open the dataset builder with this service's features chosen"):
    open_page("dataset", **{SERVICE_KEY: service.name})
if actions.button("Show in lineage", icon=":material/account_tree:"):
    open_page("lineage", node=f"feature_service:{service.name}")


def feature_table(service_version: Any) -> pd.DataFrame:
    """The features a version reads, as the page lists them (one row each): where a new kind of
    feature (computed on demand from request values) joins the list."""
    rows = []
    for group_name, feature in service_version.features:
        try:
            f = fs.feature_group(group_name).feature(feature)
            kind, description = f.type, f.description
        except NotFound:  # a later change dropped it: listed as the version recorded it
            kind, description = "—", "(no longer in the group)"
        rows.append({"group": group_name, "feature": feature, "type": kind, "description": description})
    return pd.DataFrame(rows)


def render_features() -> None:
    st.dataframe(feature_table(service), hide_index=True,
                 column_config={"description": st.column_config.TextColumn(width="large")})
    for g in groups:
        about = f" about {escape_markdown(g.entity)}" if g.entity else ""
        st.caption(f"{escape_markdown(g.name)}{about}: keyed by {keys_text(key_columns([g]))}"
                   + (f"; online values expire after {g.ttl_seconds / 86400:g} days" if g.ttl_seconds else ""))


def _key_input(column: str, kind: str, where: Any) -> Any:
    widget = f"service_try_{service.name}_{column}"
    if kind == "Integral":
        return where.number_input(column, value=None, step=1, format="%d", key=widget, placeholder="Integral key")
    if kind == "Fractional":
        return where.number_input(column, value=None, key=widget, placeholder="Fractional key")
    text = where.text_input(column, key=widget, placeholder="String key")
    return text.strip() or None


def _shown(value: Any) -> str | None:
    """A vector's value as text; None for no value (null, or NaN in a float column)."""
    return None if value is None or (isinstance(value, float) and value != value) else str(value)


def vector_table(vector: pd.DataFrame) -> pd.DataFrame:
    """A one-row vector as (feature, column, value, status): feature columns follow the service's
    features in order; each has a ``<column>__status`` twin."""
    columns = [c for c in vector.columns if c not in keys and not c.endswith("__status")]
    refs = [f"{g}:{f}" for g, f in service.features]
    named = refs if len(refs) == len(columns) else columns
    row = vector.iloc[0]
    return pd.DataFrame([{"feature": ref, "column": c, "value": _shown(row[c]),
                          "status": STATUS.get(row.get(f"{c}__status"), row.get(f"{c}__status"))}
                         for ref, c in zip(named, columns)])


def render_try() -> None:
    st.caption(f"Read the service's vector for one entity row from the online store, as a model would at "
               f"serving time. Give {keys_text(keys)}.")
    with st.form(f"service_try_{service.name}", border=False):
        cols = st.columns(max(1, len(keys)))
        given = {c: _key_input(c, t, cols[i]) for i, (c, t) in enumerate(keys.items())}
        asked = st.form_submit_button("Get online features", type="primary", icon=":material/bolt:")
    result_key = f"service_tried_{service.name}_{service.version}"
    if asked:
        st.session_state.pop(result_key, None)
        missing = [c for c, v in given.items() if v is None]
        if missing:
            st.error(f"Give a value for each key column: {escape_markdown(', '.join(missing))}.",
                     icon=":material/error:")
        else:
            row = {c: int(v) if keys[c] == "Integral" else v for c, v in given.items()}
            with engine_errors():
                started = time.perf_counter()
                vector = fs.get_online_features(service.name, entity_rows=[row])
                st.session_state[result_key] = (row, vector, (time.perf_counter() - started) * 1000)
    tried = st.session_state.get(result_key)
    if tried is None:
        return
    row, vector, ms = tried
    table = vector_table(vector)
    found = int((table["status"] == "present").sum())
    st.markdown(f"**{found} of {plural(len(table), 'feature')} present** for "
                f"{escape_markdown(', '.join(f'{c} {v}' for c, v in row.items()))} · read in **{ms:.1f} ms**")
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption("Status: present (a live record; its value may still be empty), not found (no live record for the "
               "key) or expired (the record is older than the group's TTL).")
    python, http, curl = st.tabs(["Python", "HTTP (SigV4)", "curl"])
    python.code(online_features_python(service.name, [row], store_path=fs.path), language="python", wrap_lines=True)
    http.caption("Against `featurestore serve` on this store:")
    http.code(online_features_http(service.name, [row]), language="python")
    curl.code(online_features_curl(service.name, [row]), language="bash")


def render_versions() -> None:
    versions = [fs.feature_service(service.name, version=n) for n in range(1, service.version + 1)]
    rows, before = [], set()
    for v in versions:
        now = set(v.features)
        changes = [*(f"+{g}:{f}" for g, f in v.features if (g, f) not in before),
                   *(f"−{g}:{f}" for g, f in sorted(before - now))] if v.version > 1 else []
        rows.append({"version": v.version, "features": len(v.features),
                     "changes": ", ".join(changes) or ("first version" if v.version == 1 else "description or tags"),
                     "by": v.created_by or "unknown", "when": when(v.modified_at), "description": v.description})
        before = now
    st.dataframe(list(reversed(rows)), hide_index=True,
                 column_config={"changes": st.column_config.TextColumn(width="large")})
    picked = st.selectbox("Features of version", [v.version for v in reversed(versions)],
                          key=f"service_version_{service.name}")
    st.dataframe(feature_table(versions[picked - 1]), hide_index=True)
    st.caption(f"Build a training set from an earlier version with `service:{service.name}@{picked}`.")


def render_new_version() -> None:
    if not fs.allowed("update_feature_service"):
        st.caption(":material/lock: Saving a new version needs an admin grant.")
        return
    st.caption(f"Saving records version {service.version + 1}; version {service.version} and earlier stay as they "
               "were, so datasets built from them can be rebuilt.")
    picker = f"service_edit_{service.name}_{service.version}"
    description = st.text_area("Description", service.description, height=80, key=f"{picker}_desc")
    st.caption("Tags")
    tags = pairs_editor(service.tags, key=f"{picker}_tags")
    chosen = pick_features(fs, picker, service.features)
    st.caption(chosen_summary(fs, chosen))
    if st.button(f"Save as version {service.version + 1}", type="primary", icon=":material/save:",
                 key="service_save_version"):
        with engine_errors():
            saved = fs.update_feature_service(service.name, _refs(chosen), description.strip(), tags)
            forget(picker)
            flash(f"Saved feature service {saved.name} version {saved.version}")
            st.session_state[SHOW_TAB] = "Versions"  # the tabs are drawn already: the rerun opens it
            st.rerun()


if SHOW_TAB in st.session_state:
    st.session_state["tab"] = st.session_state.pop(SHOW_TAB)
for tab, render in zip(st.tabs(TABS, key="tab", bind="query-params"),
                       (render_features, render_try, render_versions, render_new_version)):
    if tab.open:
        with tab:
            render()
