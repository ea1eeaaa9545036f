"""Catalog: every group with its size, freshness and entity, every feature, the entities, and a
search over all of them; selecting a row opens the group (or the entity)."""
from __future__ import annotations

from collections import Counter
from urllib.parse import urlencode

import streamlit as st

from app.ui.errors import engine_errors
from app.ui.formats import ago, escape_markdown, key_values, plural, timestamp
from app.ui.nav import ENTITY_KEY, open_page, page_link
from app.ui.session import store

fs = store()
st.title("Catalog")
groups = fs.list_feature_groups()
if not groups:
    st.info("The store has no feature groups yet. Create one from a form or a sample file, then ingest data.",
            icon=":material/info:")
    page_link("create", "Create a feature group")
    st.stop()

infos = {g.name: fs.describe(g.name, storage=False) for g in groups}
total_features = sum(len(g.features) for g in groups)
cols = st.columns(4)
cols[0].metric("Feature groups", len(groups))
cols[1].metric("Features", total_features)
cols[2].metric("Online records", f"{sum(i['online_records'] or 0 for i in infos.values()):,}")
cols[3].metric("Offline rows", f"{sum(i['offline_rows'] for i in infos.values()):,}")
entities = fs.list_entities()
if entities:
    row = st.container(horizontal=True, vertical_alignment="center")
    row.caption("Entities:", width="content")
    for e in entities:
        with row:
            page_link("entities", f"{e.name} ({plural(len(e.groups), 'group')})", **{ENTITY_KEY: e.name})

text = st.text_input("Search", placeholder="Search names, descriptions, tags and parameters — e.g. risk, USD, pii=true",
                     key="catalog_search", icon=":material/search:",
                     help="Words match anywhere, as typed (% and _ too); key=value matches a tag or parameter.")
hits = None  # with a search, what it found: both tables below follow it, as they follow the tags
if text.strip():
    with engine_errors():
        hits = fs.search(text.strip())
        if not hits:
            st.info(f"Nothing matches “{escape_markdown(text.strip())}”. Clear the search to browse every group "
                    "and feature.")
        else:
            st.caption(f"{plural(len(hits), 'match', 'matches')} — select one to open its group (or entity); the "
                       "tables below show only what matched")
            picked = st.dataframe(
                [{"group": h["group"] or "—", "feature": h["feature"] or "—",
                  "type": "entity " + h["entity"] if h["kind"] == "entity" else h.get("type", "group"),
                  "matched in": h["matched"], "description": h["description"]} for h in hits],
                hide_index=True, on_select="rerun", selection_mode="single-row", key="catalog_hits")
            if picked.selection.rows:
                hit = hits[picked.selection.rows[0]]
                if hit["kind"] == "entity":
                    open_page("entities", **{ENTITY_KEY: hit["entity"]})
                open_page("group", group=hit["group"], **({"tab": "Schema"} if hit["feature"] else {}))
        # A matched entity brings its groups along, whole.
        groups_of = {e.name: e.groups for e in entities}
        hits = [*hits, *({"kind": "feature_group", "group": g, "feature": None} for h in hits if h["kind"] == "entity"
                         for g in groups_of.get(h["entity"], ()))]

st.subheader("Feature groups")
tag_counts = Counter(f"{k}={v}" for g in groups for k, v in g.tags.items())
facets = st.pills("Tags", sorted(tag_counts), selection_mode="multi", key="catalog_tags",
                  format_func=lambda t: f"{t} ({tag_counts[t]})",
                  help="Show only the groups carrying every selected tag")
shown = [g for g in groups if all(t in {f"{k}={v}" for k, v in g.tags.items()} for t in facets)]
if entities:
    about = st.pills("Entities", [e.name for e in entities], selection_mode="multi", key="catalog_entities",
                     help="Show only the groups about the selected entities")
    if about:
        shown = [g for g in shown if g.entity in about]
if hits is not None:
    shown = [g for g in shown if any(h["group"] == g.name for h in hits)]
# A group that matched itself shows all its features; one found through a feature shows those.
whole_groups = None if hits is None else {h["group"] for h in hits if not h["feature"]}
found_features = None if hits is None else {(h["group"], h["feature"]) for h in hits if h["feature"]}
filters = (("search", hits is not None), ("tags", bool(facets)), ("entities", bool(entities and about)))
if any(on for _, on in filters):
    st.caption(f"Showing {plural(len(shown), 'group')} of {len(groups)}: those matching the " +
               " and the ".join(w for w, on in filters if on) + ".")
st.caption("Select a row to open the group. Freshness is the latest event time and the last write; "
           "“used by” lists the datasets built from the group and the models trained on them.")
usage = fs.usage()
rows = []
for g in shown:
    info = infos[g.name]
    used = usage.get(g.name, {"datasets": [], "models": []})
    rows.append({
        "group": g.name, "entity": f"entities?{urlencode({ENTITY_KEY: g.entity})}" if g.entity else None,
        "description": g.description, "features": len(g.features),
        "online records": info["online_records"], "offline rows": info["offline_rows"],
        "last event": timestamp(info["last_event_us"]), "last write": ago(info["last_write_us"]),
        "used by": ", ".join([*(f"model {m}" for m in used["models"]), *(f"dataset {d}" for d in used["datasets"])]),
        "stores": " + ".join(s for s, on in (("online", g.online), ("offline", g.offline)) if on),
        "tags": key_values(g.tags),
    })
picked = st.dataframe(rows, hide_index=True, on_select="rerun", selection_mode="single-row", key="catalog_groups",
                      column_config={
                          "description": st.column_config.TextColumn(width="medium"),
                          "entity": st.column_config.LinkColumn(display_text=r"entity=(.*)$",
                                                                help="What the group's rows are about: opens the entity"),
                          "online records": st.column_config.NumberColumn(format="localized"),
                          "offline rows": st.column_config.NumberColumn(format="localized"),
                          "last event": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm", timezone="UTC"),
                          "used by": st.column_config.TextColumn(width="medium"),
                      })
if picked.selection.rows:
    open_page("group", group=rows[picked.selection.rows[0]]["group"])

st.subheader("Features")
features = [{"group": g.name, "feature": f.name, "type": f"{f.collection}<{f.type}>" if f.collection else f.type,
             "role": "identifier" if f.name in g.identifiers else "event time" if f.name == g.event_time else "",
             "description": f.description, "parameters": key_values(f.parameters)}
            for g in shown for f in g.features
            if whole_groups is None or g.name in whole_groups or (g.name, f.name) in found_features]
if facets or hits is not None:
    st.caption(f"Showing {plural(len(features), 'feature')} of {total_features}: those of the groups above that "
               "match the filters (all of a group's features when the group itself matched the search).")
picked = st.dataframe(features, hide_index=True, on_select="rerun", selection_mode="single-row", key="catalog_features",
                      column_config={"description": st.column_config.TextColumn(width="large")})
if picked.selection.rows:
    open_page("group", group=features[picked.selection.rows[0]]["group"], tab="Schema")
