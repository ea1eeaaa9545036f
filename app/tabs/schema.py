"""Schema tab: the features with types and roles, one feature's description and parameters
edited at a time, and new features added (features are never removed or retyped)."""
from __future__ import annotations

import streamlit as st

from app.common import engine_errors, flash, key_values, pairs_editor
from app.schema_editor import features_editor
from store import FeatureGroup, FeatureStore
from store.stats import type_label


def render(fs: FeatureStore, group: FeatureGroup) -> None:
    st.dataframe(
        [{"feature": f.name, "type": type_label(f) + (f"[{f.dimension}]" if f.dimension else ""),
          "role": "record identifier" if f.name == group.record_identifier
          else "event time" if f.name == group.event_time else "",
          "description": f.description, "parameters": key_values(f.parameters)} for f in group.features],
        hide_index=True, column_config={"description": st.column_config.TextColumn(width="large")})

    edit, add = st.columns(2, gap="large")
    with edit:
        st.subheader("Edit a feature")
        name = st.selectbox("Feature", group.feature_names, key=f"schema_feature_{group.name}")
        feature = group.feature(name)
        with st.form(f"feature_{group.name}_{name}", border=False):
            description = st.text_input("Description", feature.description, max_chars=255)
            st.caption("Parameters (e.g. unit = USD, source = crm)")
            params = pairs_editor(feature.parameters, key=f"params_{group.name}_{name}")
            if st.form_submit_button("Save feature", type="primary", icon=":material/save:"):
                with engine_errors():
                    fs.update_feature_metadata(group.name, name, description=description, parameters=params,
                                               remove_parameters=[k for k in feature.parameters if k not in params])
                    flash(f"Saved feature {name}")
                    st.rerun()
    with add:
        st.subheader("Add features")
        st.caption("Existing rows read new features as empty. Features cannot be removed or retyped later.")
        with st.form(f"add_features_{group.name}", border=False):
            specs = features_editor([], key=f"new_features_{group.name}")
            if st.form_submit_button("Add features", icon=":material/add:"):
                with engine_errors():
                    fs.add_features(group.name, specs)
                    flash(f"Added {', '.join(s['name'] for s in specs)} to {group.name}")
                    st.rerun()
