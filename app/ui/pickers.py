"""Inputs shared by pages: the feature-group picker that follows the URL's ``?group=``, the
key/value editor for tags and parameters, and date bounds wide enough for any event time."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import streamlit as st

from app.ui.formats import escape_markdown
from app.ui.nav import GROUP_KEY, RECORD_KEY, page_link
from store import FeatureStore

if TYPE_CHECKING:
    import pandas as pd
    from streamlit.delta_generator import DeltaGenerator

_PICKER = "group_picker"  # the group selector's widget key
_REMEMBERED = "_group"  # the group last picked, for pages opened without ?group=
# Bounds for date/datetime inputs: Streamlit's default range is ten years either side of the
# value, and a pick outside it is silently replaced by the default.
ANY_TIME = {"min_value": dt.datetime(1970, 1, 1), "max_value": dt.datetime(2100, 1, 1)}


def _picked(widget: str) -> None:
    """The group picker changed: the URL and the memory follow it; a record of the old group
    (``&record=``) is dropped."""
    st.query_params[GROUP_KEY] = st.session_state[widget]
    st.session_state[_REMEMBERED] = st.session_state[widget]
    if RECORD_KEY in st.session_state:  # bound to the URL: clearing the widget clears the parameter
        st.session_state[RECORD_KEY] = ""
    else:
        st.query_params.pop(RECORD_KEY, None)


def pick_group(fs: FeatureStore, label: str = "Feature group", offline_only: bool = False,
               where: "DeltaGenerator | None" = None, default: str | None = None) -> str | None:
    """A group selector shared by every page: the URL's ``?group=`` names the group (always
    written, so every URL is shareable), else the group last picked on any page, else
    ``default``, else the first. A URL naming a
    group that does not exist says so instead of showing another one. None (with a message)
    when there is nothing to show."""
    groups = fs.list_feature_groups()
    names = [g.name for g in groups if g.offline or not offline_only]
    wanted = st.query_params.get(GROUP_KEY)
    if wanted is not None and wanted not in names:
        missing_group(fs, wanted, [g.name for g in groups], offline_only)
        return None
    if not names:
        st.info("There are no feature groups with an offline store yet. Create one on the **Create** page, "
                "or run `featurestore demo` for sample data." if offline_only else
                "There are no feature groups yet. Create one on the **Create** page, then ingest data into it.",
                icon=":material/info:")
        page_link("create", "Create a feature group")
        return None
    if wanted is None:
        remembered = st.session_state.get(_REMEMBERED)
        wanted = remembered if remembered in names else default if default in names else names[0]
        st.query_params[GROUP_KEY] = wanted
    st.session_state[_REMEMBERED] = wanted
    st.session_state[_PICKER] = wanted  # the widget shows what the URL says
    return (where or st).selectbox(label, names, key=_PICKER, on_change=_picked, args=(_PICKER,))


def missing_group(fs: FeatureStore, name: str, names: list[str], offline_only: bool = False) -> None:
    """Say why a URL's group cannot be shown, and offer the way on."""
    if name in names and offline_only:
        st.info(f"Feature group **{name}** has no offline store, so it keeps no history for this page.",
                icon=":material/info:")
        page_link("group", f"Open {name}", group=name)
        return
    deleted = any(n["id"] == f"feature_group:{name}" and n["properties"].get("deleted")
                  for n in fs.lineage().nodes if n["kind"] == "feature_group")
    missing = "was deleted" if deleted else "does not exist" if not fs.governed else \
        "does not exist, or your roles do not let you see it"
    st.error(f"Feature group **{escape_markdown(name)}** {missing}.", icon=":material/search_off:")
    similar = [n for n in names if n.lower() == name.lower()]
    if similar:
        page_link("group", f"Did you mean {similar[0]}?", group=similar[0])
    page_link("catalog", "Browse the catalog")


def pairs_frame(mapping: dict[str, str]) -> "pd.DataFrame":
    """A key/value editor's starting rows."""
    import pandas as pd

    return pd.DataFrame({"key": list(mapping), "value": list(mapping.values())}, dtype="string")


def frame_pairs(frame: "pd.DataFrame") -> dict[str, str]:
    """The key/value editor's rows back as a dict. A key whose value was left empty maps to ""
    (an empty tag is still a tag); rows without a key are skipped (``pairs_editor`` says so).
    An empty cell is None or ``pd.NA``, which has no truth value, hence ``isna``."""
    import pandas as pd

    out = {}
    for key, value in zip(frame["key"], frame["value"]):
        if isinstance(key, str) and key.strip():
            out[key.strip()] = "" if pd.isna(value) else str(value)
    return out


def keyless_values(frame: "pd.DataFrame") -> list[str]:
    """Values typed in rows that have no key: ``frame_pairs`` cannot keep them."""
    import pandas as pd

    return [str(v) for k, v in zip(frame["key"], frame["value"])
            if not (isinstance(k, str) and k.strip()) and not pd.isna(v) and str(v).strip()]


def pairs_editor(mapping: dict[str, str], key: str, where: "DeltaGenerator | None" = None) -> dict[str, str]:
    """Edit a str->str mapping (tags, parameters) as a two-column table with addable rows; a
    caption under it says what a half-filled row becomes."""
    target = where or st
    edited = target.data_editor(pairs_frame(mapping), key=key, num_rows="dynamic", hide_index=True,
                                width="stretch", column_config={"key": st.column_config.TextColumn("key"),
                                                                "value": st.column_config.TextColumn("value")})
    pairs = frame_pairs(edited)
    notes = []
    empty = [k for k, v in pairs.items() if not v]
    if empty:
        notes.append(", ".join(f"`{k}`" for k in empty) + (" has" if len(empty) == 1 else " have")
                     + " no value: kept with an empty value.")
    keyless = keyless_values(edited)
    if keyless:
        notes.append(", ".join(f"`{v}`" for v in keyless) + (" has" if len(keyless) == 1 else " have")
                     + " no key: ignored; type a key to keep it.")
    if notes:
        target.caption(" ".join(notes))
    return pairs
