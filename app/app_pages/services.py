"""Feature services: the named, versioned feature lists models read. Every service with its groups,
owner and the models trained through it; defining one by picking features from the catalog and
on-demand features; one service (``?service=``) with its features, its on-demand features (what
they read and their SQL or Python), the entity keys and request values it needs, a "try it" online
lookup (values, statuses, freshness, latency, and the same call as code), its version history,
and a new version."""
from __future__ import annotations

import time
from typing import Any

import pandas as pd
import streamlit as st

from app.ui import on_demand as od_ui
from app.ui.errors import engine_errors
from app.ui.feature_picker import chosen_summary, forget, key_columns, keys_text, pick_features
from app.ui.formats import ago, escape_markdown, facts, key_values, plural, when
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


def _refs(chosen: list[tuple[str, str]], computed: list[str] = ()) -> list[str]:
    return [f"{g}:{f}" for g, f in chosen] + [f"on_demand:{n}" for n in computed]


def _pick_on_demand(key: str, start: list[str] = ()) -> list[str]:
    """The registered on-demand features chosen (by name), each offered with what it reads and gives."""
    offered = {f.name: f for f in fs.list_on_demand_features()}
    if not offered:
        st.caption("No on-demand feature is registered yet; register one on the On-demand features page.")
        return []
    picked = st.multiselect("On-demand features", list(offered), default=[n for n in start if n in offered], key=key,
                            format_func=lambda n: od_ui.summary(offered[n]), placeholder="None",
                            help="Computed when the service is read, from its inputs and request values; "
                                 "their inputs join the service's features.")
    needs = {field: kind for n in picked for field, kind in offered[n].request.items()}
    if needs:
        st.caption("Callers will also give the request values "
                   + ", ".join(f"`{f}` ({t})" for f, t in needs.items()) + ".")
    return picked


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
        st.markdown("**On-demand features**")
        computed = _pick_on_demand("service_new_on_demand")
        if st.button("Define service", type="primary", icon=":material/add:", key="service_define"):
            if not chosen and not computed:
                st.error("Pick at least one feature (or a whole group) for the service to serve.",
                         icon=":material/error:")
                return
            with engine_errors():
                made = fs.create_feature_service(name.strip(), _refs(chosen, computed), description.strip(), tags,
                                                 owner.strip() or None)
                forget("service_new")
                flash(f"Defined feature service {made.name} (version 1)")
                open_page("services", **{SERVICE_KEY: made.name})


services = fs.list_feature_services()
if not wanted:
    st.title("Feature services")
    st.caption("A feature service is the list of features one model reads, named and versioned: served online "
               "as one vector per entity row, and built into training sets with exactly the same columns. It may "
               "also compute on-demand features from request values.")
    page_link("on_demand", "On-demand features")
    if not services:
        st.info("No feature services yet. Define one below from the features in the catalog.", icon=":material/info:")
    else:
        used = _used_by(fs.lineage())
        rows = [{"service": s.name, "version": s.version, "groups": ", ".join(s.groups), "features": len(s.features),
                 "on-demand": ", ".join(f"{n}@{v}" for n, v in s.on_demand) or "—", "owner": s.owner, "models": ", ".join(used.get(s.name, {}).get("models", [])) or "—",
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


def computed_of(service_version: Any) -> list[Any]:
    """A version's on-demand features, each at the version it pinned."""
    return [fs.on_demand_feature(n, version=v) for n, v in service_version.on_demand]


computed = computed_of(service)
request_fields = {f: t for odf in computed for f, t in odf.request.items()}  # what a caller gives besides keys
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
    **({"Computes on demand": escape_markdown(", ".join(f"{f.name}@{f.version}" for f in computed)),
        "Request gives": keys_text(request_fields) or "nothing"} if computed else {}),
    "Models": escape_markdown(", ".join(used["models"])) or "none yet",
    "Datasets": escape_markdown(", ".join(used["datasets"])) or "none yet",
}))
actions = st.container(horizontal=True)
if actions.button("Build a training set", icon=":material/join_inner:", type="primary",
                  help="Open the dataset builder with this service's features chosen"):
    open_page("dataset", **{SERVICE_KEY: service.name})
if actions.button("Show in lineage", icon=":material/account_tree:"):
    open_page("lineage", node=f"feature_service:{service.name}")


def feature_table(service_version: Any, version_computed: list[Any]) -> pd.DataFrame:
    """The features a version serves, as the page lists them (one row each): the group features,
    then each on-demand feature's outputs (its group column names it ``on_demand:NAME@VERSION``)."""
    rows = []
    for group_name, feature in service_version.features:
        try:
            f = fs.feature_group(group_name).feature(feature)
            kind, description = f.type, f.description
        except NotFound:  # a later change dropped it: listed as the version recorded it
            kind, description = "—", "(no longer in the group)"
        rows.append({"group": group_name, "feature": feature, "type": kind, "description": description})
    for odf in version_computed:
        rows += [{"group": f"on_demand:{odf.name}@{odf.version}", "feature": out.name, "type": out.type,
                  "description": out.description or f"computed on demand ({'SQL' if odf.kind == 'sql' else 'Python'}) "
                                                    f"from {', '.join([*odf.inputs, *odf.request])}"}
                 for out in odf.outputs]
    return pd.DataFrame(rows)


def render_features() -> None:
    table = feature_table(service, computed)
    st.dataframe(table, hide_index=True, width="stretch", height=35 * (len(table) + 1) + 3,  # on-demand last: no scroll
                 column_config={"group": st.column_config.TextColumn(width=250),
                                "description": st.column_config.TextColumn(width="large")})
    for g in groups:
        about = f" about {escape_markdown(g.entity)}" if g.entity else ""
        st.caption(f"{escape_markdown(g.name)}{about}: keyed by {keys_text(key_columns([g]))}"
                   + (f"; online values expire after {g.ttl_seconds / 86400:g} days" if g.ttl_seconds else ""))
    if computed:
        st.markdown("**On-demand features**")
        st.caption("Computed when the service is read, from the group features they list and values the request "
                   "gives; a training set built from the service computes them with the same definition.")
        od_ui.show(computed, key=f"service_on_demand_{service.name}")


def _typed_input(label: str, kind: str, widget: str, where: Any, what: str) -> Any:
    if kind == "Integral":
        value = where.number_input(label, value=None, step=1, format="%d", key=widget, placeholder=f"Integral {what}")
        return None if value is None else int(value)
    if kind == "Fractional":
        return where.number_input(label, value=None, key=widget, placeholder=f"Fractional {what}")
    text = where.text_input(label, key=widget, placeholder=f"String {what}")
    return text.strip() or None


def _shown(value: Any) -> str | None:
    """A vector's value as text; None for no value (null, or NaN in a float column)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    return str(round(value, 8)) if isinstance(value, float) else str(value)  # a ratio's 17 digits say nothing more


def vector_table(result: dict[str, Any]) -> pd.DataFrame:
    """One entity row of ``get_online_features(..., as_dict=True)`` as (feature, column, value,
    status, event time, age): feature columns in the service's order, the on-demand outputs last."""
    columns = result["features"]
    refs = [f"{g}:{f}" for g, f in service.features]
    refs += [f"on_demand:{odf.name}.{out.name}" for odf in computed for out in odf.outputs]
    named = refs if len(refs) == len(columns) else columns
    rows = []
    for ref, c in zip(named, columns):
        at = result["event_times"].get(c, [None])[0]
        status = result["statuses"][c][0]
        computed_now = ref.startswith("on_demand:")
        rows.append({"feature": ref, "column": c, "value": _shown(result["values"][c][0]),
                     "status": STATUS.get(status, status),
                     "event time": "computed now" if computed_now else when(at) if at is not None else "—",
                     "age": "—" if at is None else ago(at)})
    return pd.DataFrame(rows)


def render_try() -> None:
    needs = f"Give {keys_text(keys)}" + (f" and the request values {keys_text(request_fields)}" if request_fields else "")
    st.caption(f"Read the service's vector for one entity row from the online store, as a model would at "
               f"serving time{', computing its on-demand features' if computed else ''}. {needs}.")
    with st.form(f"service_try_{service.name}", border=False):
        cols = st.columns(max(1, len(keys)))
        given = {c: _typed_input(c, t, f"service_try_{service.name}_{c}", cols[i], "key")
                 for i, (c, t) in enumerate(keys.items())}
        asked_values: dict[str, Any] = {}
        if request_fields:
            st.caption("Request values (what only the request knows, e.g. the transaction's amount)")
            cols = st.columns(max(1, len(request_fields)))
            asked_values = {f: _typed_input(f, t, f"service_try_{service.name}_request_{f}", cols[i], "request value")
                            for i, (f, t) in enumerate(request_fields.items())}
        asked = st.form_submit_button("Get online features", type="primary", icon=":material/bolt:")
    result_key = f"service_tried_{service.name}_{service.version}"
    if asked:
        st.session_state.pop(result_key, None)
        missing = [c for c, v in given.items() if v is None]
        unasked = [f for f, v in asked_values.items() if v is None]
        if missing:
            st.error(f"Give a value for each key column: {escape_markdown(', '.join(missing))}.",
                     icon=":material/error:")
        elif unasked:
            st.error(f"Give a value for each request field: {escape_markdown(', '.join(unasked))}.",
                     icon=":material/error:")
        else:
            with engine_errors():
                started = time.perf_counter()
                result = fs.get_online_features(service.name, entity_rows=[given], request=asked_values or None,
                                                as_dict=True)
                ms = (time.perf_counter() - started) * 1000
                st.session_state[result_key] = (given, asked_values, result, ms)
    tried = st.session_state.get(result_key)
    if tried is None:
        return
    row, request, result, ms = tried
    table = vector_table(result)
    found = int((table["status"] == "present").sum())
    given_text = ", ".join(f"{c} {v}" for c, v in {**row, **request}.items())
    st.markdown(f"**{found} of {plural(len(table), 'feature')} present** for {escape_markdown(given_text)} · "
                f"read in **{ms:.2f} ms**")
    st.dataframe(table, hide_index=True, width="stretch", height=35 * (len(table) + 1) + 3,  # every row, no scroll
                 column_config={"feature": st.column_config.TextColumn(width=360)})
    st.caption("Status: present (a live record; its value may still be empty), not found (no live record for the "
               "key) or expired (the record is older than the group's TTL); an on-demand output takes the worst "
               "status of its inputs. Event time: when the value took effect in its group; age: how long ago.")
    python, http, curl = st.tabs(["Python", "HTTP (SigV4)", "curl"])
    python.code(online_features_python(service.name, [row], request=request or None, store_path=fs.path),
                language="python", wrap_lines=True)
    http.caption("Against `featurestore serve` on this store:")
    http.code(online_features_http(service.name, [row], request=request or None), language="python")
    curl.code(online_features_curl(service.name, [row], request=request or None), language="bash")


def render_versions() -> None:
    versions = [fs.feature_service(service.name, version=n) for n in range(1, service.version + 1)]
    rows, before, before_od = [], set(), {}
    for v in versions:
        now, now_od = set(v.features), dict(v.on_demand)
        changes = [*(f"+{g}:{f}" for g, f in v.features if (g, f) not in before),
                   *(f"−{g}:{f}" for g, f in sorted(before - now)),
                   *(f"+on_demand:{n}@{n_v}" for n, n_v in v.on_demand if before_od.get(n) != n_v),
                   *(f"−on_demand:{n}@{o_v}" for n, o_v in before_od.items() if n not in now_od)] \
            if v.version > 1 else []
        rows.append({"version": v.version, "features": len(v.features),
                     "on-demand": ", ".join(f"{n}@{n_v}" for n, n_v in v.on_demand) or "—",
                     "changes": ", ".join(changes) or ("first version" if v.version == 1 else "description or tags"),
                     "by": v.created_by or "unknown", "when": when(v.modified_at), "description": v.description})
        before, before_od = now, now_od
    st.dataframe(list(reversed(rows)), hide_index=True,
                 column_config={"changes": st.column_config.TextColumn(width="large")})
    picked = st.selectbox("Features of version", [v.version for v in reversed(versions)],
                          key=f"service_version_{service.name}")
    version_computed = computed_of(versions[picked - 1])
    st.dataframe(feature_table(versions[picked - 1], version_computed), hide_index=True)
    od_ui.show(version_computed, key=f"service_version_on_demand_{service.name}_{picked}")
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
    picked = _pick_on_demand(f"{picker}_on_demand", [n for n, _ in service.on_demand])
    if st.button(f"Save as version {service.version + 1}", type="primary", icon=":material/save:",
                 key="service_save_version"):
        with engine_errors():
            saved = fs.update_feature_service(service.name, _refs(chosen, picked), description.strip(), tags)
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
