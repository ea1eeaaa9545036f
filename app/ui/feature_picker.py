"""Picking a feature service's features from the catalog: a search over group and feature names
and descriptions, the matches grouped by group with the keys its entity rows must give, a box per
feature and one for a whole group. The choice lives in the session (not in the boxes), so features
hidden by a search stay chosen."""
from __future__ import annotations

from typing import Sequence

import streamlit as st

from app.ui.formats import escape_markdown, plural
from store import FeatureGroup, FeatureStore
from store.model.entity import entity_columns


def key_columns(groups: Sequence[FeatureGroup]) -> dict[str, str]:
    """The entity-row columns ``groups`` are keyed by, in order of first use, with their type (the
    first group keyed by a column types it, as the service's vector does)."""
    keys: dict[str, str] = {}
    for g in groups:
        for column, feature in zip(entity_columns(g), g.id_features):
            keys.setdefault(column, feature.type)
    return keys


def keys_text(keys: dict[str, str]) -> str:
    return ", ".join(f"`{c}` ({t})" for c, t in keys.items())


def _servable(group: FeatureGroup) -> list:
    """A group's features a service may list: not its key, nor its event time (entity rows give those)."""
    return [f for f in group.features if f.name not in {*group.identifiers, group.event_time}]


def _matches(text: str, *fields: str) -> bool:
    return not text or any(text in (f or "").lower() for f in fields)


def _toggle_feature(chosen_key: str, ref: tuple[str, str], widget: str) -> None:
    chosen = st.session_state[chosen_key]
    if st.session_state[widget] and ref not in chosen:
        chosen.append(ref)
    elif not st.session_state[widget] and ref in chosen:
        chosen.remove(ref)


def _toggle_group(chosen_key: str, group: str, features: list[str], widget: str) -> None:
    chosen = [r for r in st.session_state[chosen_key] if r[0] != group]
    if st.session_state[widget]:
        chosen += [(group, f) for f in features]
    st.session_state[chosen_key] = chosen


def pick_features(fs: FeatureStore, key: str, start: Sequence[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """The (group, feature) pairs chosen, starting from ``start``; ``key`` names this picker's state
    (``forget(key)`` starts it afresh)."""
    chosen_key = f"{key}_chosen"
    if chosen_key not in st.session_state:
        st.session_state[chosen_key] = [tuple(r) for r in start]
    groups = fs.list_feature_groups()
    servable = [g for g in groups if g.online]
    text = st.text_input("Search the catalog", key=f"{key}_search", icon=":material/search:",
                         placeholder="Filter by group or feature name or description, e.g. spend, risk, USD").strip().lower()
    shown_any = False
    for g in servable:
        offered = _servable(g)
        whole = _matches(text, g.name, g.description)
        shown = offered if whole else [f for f in offered if _matches(text, f.name, f.description)]
        if not shown:
            continue
        shown_any = True
        chosen = st.session_state[chosen_key]
        with st.container(border=True):
            head, all_box = st.columns([4, 1], vertical_alignment="center")
            about = f"about **{escape_markdown(g.entity)}**, " if g.entity else ""
            head.markdown(f"**{escape_markdown(g.name)}** · {about}entity rows give {keys_text(key_columns([g]))}")
            if g.description:
                head.caption(escape_markdown(g.description))
            widget = f"{key}_all_{g.name}"
            st.session_state[widget] = all((g.name, f.name) in chosen for f in offered)
            all_box.checkbox(f"All {plural(len(offered), 'feature')}", key=widget, on_change=_toggle_group,
                             args=(chosen_key, g.name, [f.name for f in offered], widget))
            cols = st.columns(2)
            for i, f in enumerate(shown):
                widget = f"{key}_feature_{g.name}_{f.name}"
                st.session_state[widget] = (g.name, f.name) in chosen
                described = f" — {escape_markdown(f.description)}" if f.description else ""
                cols[i % 2].checkbox(f"**{escape_markdown(f.name)}** :gray[{f.type}{described}]", key=widget,
                                     on_change=_toggle_feature, args=(chosen_key, (g.name, f.name), widget))
    if not shown_any:
        st.info(f"No servable group or feature matches “{escape_markdown(text)}”." if text else
                "No feature group has an online store, so there is nothing a service could serve.",
                icon=":material/search_off:")
    offline_only = [g.name for g in groups if not g.online]
    if offline_only:
        st.caption(f"Not offered (no online store to serve from): {escape_markdown(', '.join(offline_only))}.")
    return list(st.session_state[chosen_key])


def forget(key: str) -> None:
    """Start the picker ``key`` afresh on its next run."""
    st.session_state.pop(f"{key}_chosen", None)


def chosen_summary(fs: FeatureStore, chosen: Sequence[tuple[str, str]]) -> str:
    """'13 features from 3 groups; entity rows give customer_id (Integral), ...'."""
    if not chosen:
        return "No feature chosen yet."
    names = list(dict.fromkeys(g for g, _ in chosen))
    groups = [fs.feature_group(n) for n in names]
    return (f"{plural(len(chosen), 'feature')} from {plural(len(names), 'group')} "
            f"({escape_markdown(', '.join(names))}); entity rows will give {keys_text(key_columns(groups))}.")
