"""Entities: what rows are about. Every entity with its keys and groups; one entity (``?entity=``)
with its keys, description, tags, the groups about it, and a lookup of everything the online store
holds about one of them (``&key=``: the value, or a JSON array for several key columns, so a
lookup is a link); defining,
editing and deleting entities for those allowed to."""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from app.ui.errors import engine_errors
from app.ui.formats import ago, escape_markdown, facts, key_values, plural, when
from app.ui.nav import ENTITY_KEY, open_page, page_link
from app.ui.pickers import pairs_editor
from app.ui.session import flash, store

LOOKUP_KEY = "key"  # the query parameter holding the looked-up key: its value, or a JSON array of values
TYPES = ("Integral", "String", "Fractional")

fs = store()
entities = fs.list_entities()
names = [e.name for e in entities]
wanted = st.query_params.get(ENTITY_KEY)


def _keys_text(entity) -> str:
    return ", ".join(f"{k.name} ({k.type})" for k in entity.keys)


def _create_form() -> None:
    if not fs.allowed("create_entity"):
        st.caption(":material/lock: Defining entities needs an admin grant.")
        return
    with st.expander("Define an entity", icon=":material/add:", expanded=not entities):
        with st.form("entity_create", border=False):
            name_col, desc_col = st.columns([1, 2])
            name = name_col.text_input("Name", placeholder="e.g. customer", key="entity_new_name")
            description = desc_col.text_input("Description", placeholder="What one of them is", key="entity_new_desc")
            key_col, type_col, more_col = st.columns([1, 1, 2])
            key_name = key_col.text_input("Key column", placeholder="e.g. customer_id", key="entity_new_key")
            key_type = type_col.selectbox("Its type", TYPES, key="entity_new_key_type")
            more = more_col.text_input("More key columns (optional)", key="entity_new_more",
                                       placeholder="e.g. region:String, shop_no:Integral",
                                       help="For an entity that several columns identify together: name:type, "
                                            "separated by commas.")
            if st.form_submit_button("Define entity", type="primary", icon=":material/add:"):
                specs = [{"name": key_name.strip(), "type": key_type}] + [
                    {"name": n.strip(), "type": t.strip() or "String"}
                    for n, _, t in (part.partition(":") for part in more.split(",") if part.strip())]
                with engine_errors():
                    fs.create_entity(name.strip(), specs, description.strip())
                    flash(f"Defined entity {name.strip()}")
                    open_page("entities", **{ENTITY_KEY: name.strip()})


if not wanted:
    st.title("Entities")
    st.caption("An entity is what rows are about (a customer, a merchant): its key columns name one of them, and "
               "every feature group about it is keyed by them. The dataset builder joins such groups on the "
               "entity's key column, and a lookup shows everything the online store holds about one of them.")
    if not entities:
        st.info("No entities yet. Define one below, then declare it on a feature group (Create page, or a group's "
                "Overview).", icon=":material/info:")
    else:
        rows = [{"entity": e.name, "keys": _keys_text(e), "groups": ", ".join(e.groups) or "—",
                 "description": e.description, "tags": key_values(e.tags)} for e in entities]
        picked = st.dataframe(rows, hide_index=True, on_select="rerun", selection_mode="single-row",
                              key="entities_table", column_config={"description": st.column_config.TextColumn(width="large")})
        st.caption("Select a row to open the entity.")
        if picked.selection.rows:
            open_page("entities", **{ENTITY_KEY: rows[picked.selection.rows[0]]["entity"]})
    _create_form()
    st.stop()

if wanted not in names:
    st.title("Entities")
    st.error(f"Entity **{escape_markdown(wanted)}** does not exist.", icon=":material/search_off:")
    page_link("entities", "Every entity")
    st.stop()

entity = fs.entity(wanted)
head, back = st.columns([3, 1], vertical_alignment="bottom")
head.title(f"Entity {entity.name}")
with back:
    page_link("entities", "Every entity")
if entity.description:
    st.caption(escape_markdown(entity.description))
about, lookup = st.columns([2, 3], gap="large")
with about:
    st.markdown(facts({
        "Key columns": ", ".join(f"`{k.name}` ({k.type})" for k in entity.keys),
        "Tags": escape_markdown(key_values(entity.tags)) or "—",
        "Defined": f"{when(entity.created_at)} by {entity.created_by or 'unknown'}",
        "Last modified": when(entity.modified_at),
    }))
    st.subheader(f"Groups about {entity.name}")
    if not entity.groups:
        st.caption("No feature group declares this entity yet (or none you may see). Declare it on a group's "
                   "Overview tab, or when creating a group.")
    for name in entity.groups:
        group = fs.feature_group(name)
        held = ", ".join(f"{c} holds {k}" for c, k in group.entity_keys.items() if c != k)
        page_link("group", f"{name} ({plural(len(group.features), 'feature')})", group=name)
        if held:  # under the link: a link's label is one line, cut where the column ends
            st.caption(f"In {escape_markdown(name)}: {escape_markdown(held)}")


def _linked_key(count: int) -> list[str]:
    """The key the URL names, one text per key column ("" where it names none)."""
    text = st.query_params.get(LOOKUP_KEY, "")
    if count == 1:
        return [text]
    try:
        values = json.loads(text) if text else []
    except ValueError:
        values = []
    values = [str(v) for v in values] if isinstance(values, list) and len(values) == count else []
    return values or [""] * count


def lookup_box() -> None:
    """One input per key column; the answer per group, with freshness."""
    st.subheader(f"Look up one {entity.name}")
    single = len(entity.keys) == 1
    if not entity.groups:
        st.caption("Nothing to look up yet: no group about it holds features (that you may see).")
        return
    linked = _linked_key(len(entity.keys))
    with st.form(f"lookup_{entity.name}", border=False):
        values = {}
        for k, start in zip(entity.keys, linked):
            values[k.name] = st.text_input(k.name, value=start, key=f"lookup_{entity.name}_{k.name}",
                                           placeholder=f"{k.type} value", help=f"The {entity.name}'s {k.name}")
        asked = st.form_submit_button("Look up", type="primary", icon=":material/search:")
    if asked:
        given = list(values.values())
        st.query_params[LOOKUP_KEY] = given[0] if single else json.dumps(given)
    if asked or any(linked):
        if any(not v.strip() for v in values.values()):
            st.info(f"Give a value for each key column: {', '.join(entity.key_names)}.", icon=":material/info:")
        else:
            with engine_errors():
                answer = fs.entity_record(entity.name, {n: v.strip() for n, v in values.items()})
                shown = ", ".join(f"{v}" if single else f"{n} {v}" for n, v in answer["key"].items())
                found = [g for g in answer["groups"] if g["status"] == "found"]
                st.markdown(f"**Everything we know about {escape_markdown(entity.name)} {escape_markdown(shown)}**: "
                            f"found in {len(found)} of {plural(len(answer['groups']), 'group')}.")
                for g in answer["groups"]:
                    with st.container(border=True):
                        title, status = st.columns([3, 2], vertical_alignment="center")
                        with title:
                            page_link("group", g["group"], group=g["group"], tab="Online lookup",
                                      record=str(next(iter(g["identifier"].values()))))
                        if g["status"] == "found":
                            status.markdown(f":green-badge[fresh {ago(g['event_us'])}]" if g["age_seconds"] < 86400
                                            else f":orange-badge[{ago(g['event_us'])}]",
                                            help=f"Event time {g['event_time']}")
                            st.caption(f"Event time {when(g['event_us'])}")
                            st.dataframe(pd.DataFrame({"feature": list(g["features"]),
                                                       "value": [str(v) for v in g["features"].values()]}),
                                         hide_index=True, width="stretch")
                        elif g["status"] == "not found":
                            status.markdown(":gray-badge[not found]")
                            st.caption("No live record (never written, deleted or expired).")
                        else:
                            status.markdown(":gray-badge[no online store]")
                            st.caption("This group keeps history only; read it on the group's Data tab.")


with lookup:
    lookup_box()

if fs.allowed("update_entity"):
    with st.expander("Edit or delete this entity", icon=":material/edit:"):
        with st.form(f"edit_entity_{entity.name}", border=False):
            description = st.text_area("Description", entity.description, height=80)
            st.caption("Tags")
            tags = pairs_editor(entity.tags, key=f"entity_tags_{entity.name}")
            if st.form_submit_button("Save changes", type="primary", icon=":material/save:"):
                with engine_errors():
                    fs.update_entity(entity.name, description=description, tags=tags)
                    flash(f"Saved changes to entity {entity.name}")
                    st.rerun()
        st.caption("Its key columns cannot change; define a new entity instead. An entity can be deleted once no "
                   "group declares it.")
        if st.button("Delete entity", icon=":material/delete:", disabled=bool(entity.groups)):
            with engine_errors():
                fs.delete_entity(entity.name)
                flash(f"Deleted entity {entity.name}")
                open_page("entities", **{ENTITY_KEY: ""})
