"""Overview tab: the group's configuration and live figures, its editable description, tags and
TTL, and deleting it (after typing its name)."""
from __future__ import annotations

from datetime import timedelta

import streamlit as st

from app.ui import charts
from app.ui.errors import engine_errors
from app.ui.formats import ago, duration, facts, size, when
from app.ui.nav import ENTITY_KEY, open_page, page_link
from app.ui.pickers import pairs_editor
from app.ui.session import flash
from store import FeatureGroup, FeatureStore

UNITS = {"minutes": 60, "hours": 3600, "days": 86400}


def _ttl_parts(seconds: float | None) -> tuple[float, str]:
    """A TTL as (amount, unit) in the largest unit that divides it."""
    if not seconds:
        return 0.0, "days"
    for unit in ("days", "hours", "minutes"):
        if seconds % UNITS[unit] == 0:
            return seconds / UNITS[unit], unit
    return seconds / 60, "minutes"


def storage(info: dict) -> None:
    """What the group costs on disk, and how fast it grows."""
    st.subheader("Storage")
    st.markdown(facts({
        "Online store": size(info["online_bytes"]) if info["online_bytes"] is not None else "—",
        "Offline store": f"{size(info['offline_bytes'])} in {info['offline_files']:,} files, {info['offline_rows']:,} rows",
        "Oldest event kept": when(info["oldest_event_us"]),
        "History kept from": when(info["retained_from_us"]) if info["retained_from_us"] else "the beginning",
    }))
    growth = info["growth_per_day"]
    if growth:
        st.plotly_chart(charts.growth(growth), key=f"growth_{info['group'].name}")
    else:
        st.caption("No new offline data in the last 30 days.")


def entity_text(group: FeatureGroup) -> str:
    """What the rows are about, and which column holds which of the entity's keys."""
    if not group.entity:
        return "none declared"
    held = ", ".join(f"`{c}` holds `{k}`" for c, k in group.entity_keys.items() if c != k)
    return f"{group.entity}" + (f" ({held})" if held else "")


def entity_form(fs: FeatureStore, group: FeatureGroup) -> None:
    """Declare (or change, or drop) the entity the group's rows are about."""
    st.subheader("Entity")
    names = [e.name for e in fs.list_entities()]
    if not names:
        st.caption("No entities are defined yet: define one on the Entities page, then declare it here.")
        page_link("entities", "Entities")
        return
    none = "(none)"
    options = [none, *names]
    with st.form(f"entity_{group.name}", border=False):
        chosen = st.selectbox("What this group's rows are about", options,
                              index=options.index(group.entity) if group.entity in options else 0,
                              key=f"entity_pick_{group.name}",
                              help="Its key columns must match the group's identifier in number and type; a "
                                   "one-key entity takes the identifier whatever its name.")
        if st.form_submit_button("Save entity", icon=":material/person_pin:"):
            with engine_errors():
                fs.update_feature_group(group.name, entity=None if chosen == none else chosen)
                flash(f"{group.name} is about {chosen}" if chosen != none else f"{group.name} declares no entity")
                st.rerun()


def history(fs: FeatureStore, group: FeatureGroup) -> None:
    """Every definition version with who changed it, when, and what."""
    st.subheader("Definition history")
    versions = fs.definition_history(group.name)
    st.dataframe([{"version": v["version"], "changed": when(v["changed_us"]), "by": v["changed_by"],
                   "changes": v["summary"]} for v in reversed(versions)],
                 hide_index=True, column_config={"changes": st.column_config.TextColumn(width="large")})
    if len(versions) > 1:
        picked = st.selectbox("Features of version", [v["version"] for v in reversed(versions)],
                              key=f"version_features_{group.name}")
        st.caption(", ".join(next(v["features"] for v in versions if v["version"] == picked)))


def render(fs: FeatureStore, group: FeatureGroup) -> None:
    info = fs.describe(group.name)
    cols = st.columns(5)
    cols[0].metric("Online records", "off" if info["online_records"] is None else f"{info['online_records']:,}")
    cols[1].metric("Offline rows", f"{info['offline_rows']:,}" if group.offline else "off")
    cols[2].metric("Offline files", f"{info['offline_files']:,}", help=size(info["offline_bytes"]))
    cols[3].metric("Last event", ago(info["last_event_us"]), help=when(info["last_event_us"]))
    cols[4].metric("Last write", ago(info["last_write_us"]), help=when(info["last_write_us"]))

    config, edit = st.columns(2, gap="large")
    with st.container():  # full width, below both columns: the diffs need the room
        history(fs, group)
    with config:
        st.subheader("Configuration")
        st.markdown(facts({
            ("Record identifier" if not group.composite else "Record key"):
                ", ".join(f"`{f.name}` ({f.type})" for f in group.id_features),
            "Event time": f"`{group.event_time}` ({group.time_feature.type})",
            "Entity": entity_text(group),
            "Online store": "on" if group.online else "off",
            "Default TTL": duration(group.ttl_seconds) if group.online else "n/a",
            "Offline store": "on" if group.offline else "off",
            "Status": group.status,
            "Definition": f"version {group.version}",
            "Created": f"{when(group.created_at)} by {group.created_by or 'unknown'}",
            "Last modified": when(group.modified_at),
            "Offline location": f"`{info['offline_uri']}`" if group.offline else "—",
            "Offline layout": f"partitioned by {group.partition_by}" if group.partition_by != "none" else "one folder",
            "Offline retention": (duration(group.offline_retention_seconds) if group.offline_retention_seconds
                                  else "all history kept") if group.offline else "n/a",
        }))
        if group.entity:
            page_link("entities", f"Entity {group.entity}: everything about one of them",
                      **{ENTITY_KEY: group.entity})
        if group.offline:
            storage(info)
    owner = fs.can("owner", group.name)
    with edit:
        if not owner:
            st.caption(":material/lock: Changing or deleting this group needs the owner role on it.")
            return
        st.subheader("Description, tags and TTL")
        with st.form(f"edit_{group.name}", border=False):
            description = st.text_area("Description", group.description, height=100)
            st.caption("Tags")
            tags = pairs_editor(group.tags, key=f"tags_{group.name}")
            amount, unit = _ttl_parts(group.ttl_seconds)
            left, right = st.columns([2, 1])
            ttl_amount = left.number_input("Default TTL of online records (0 = none)", min_value=0.0, value=amount,
                                           disabled=not group.online,
                                           help="Applies to records written from now on; expired records vanish "
                                                "from online reads.")
            ttl_unit = right.selectbox("Unit", list(UNITS), index=list(UNITS).index(unit), disabled=not group.online)
            days = (group.offline_retention_seconds or 0) / 86400
            retention = st.number_input("Offline retention in days (0 = keep all history)", min_value=0.0, value=days,
                                        disabled=not group.offline,
                                        help="Compaction drops history older than this, except each record's latest "
                                             "version; questions about earlier times are then refused.")
            if st.form_submit_button("Save changes", type="primary", icon=":material/save:"):
                ttl = timedelta(seconds=ttl_amount * UNITS[ttl_unit]) if ttl_amount else None
                changes = {"ttl": ttl} if group.online else {}
                if group.offline:
                    changes["offline_retention"] = retention or None
                with engine_errors():
                    fs.update_feature_group(group.name, description=description, tags=tags, **changes)
                    flash(f"Saved changes to {group.name}")
                    st.rerun()
        entity_form(fs, group)

    with st.expander("Delete this feature group", icon=":material/delete:"):
        st.write("Deleting removes the group's registry entry and its online records. Its offline Parquet files "
                 "stay on disk unless you also purge them; lineage keeps the group, marked deleted.")
        purge = st.checkbox("Also delete the offline Parquet files (this cannot be undone)", key=f"purge_{group.name}")
        # A plain label: it is the box's accessible name too, where Markdown stars would be read out.
        typed = st.text_input(f"Type {group.name} to confirm", key=f"confirm_delete_{group.name}")
        if st.button("Delete feature group", type="primary", disabled=typed != group.name, icon=":material/delete:"):
            with engine_errors():
                fs.delete_feature_group(group.name, purge_offline=purge)
                flash(f"Deleted feature group {group.name}" + (" and its offline files" if purge else ""))
                open_page("catalog")
