"""Studio entry point (``featurestore ui`` or ``streamlit run app/studio.py``).

The full studio is its own piece of work; this shell opens the default store, seeds it with the
sample data on first use, and lists what is there.
"""
from __future__ import annotations

import os
import sys

import streamlit as st

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from store import FeatureStore, FeatureStoreError  # noqa: E402
from store.demo import seed_if_empty  # noqa: E402


@st.cache_resource
def open_store(path: str) -> FeatureStore:
    fs = FeatureStore(path, writer="studio")
    seed_if_empty(fs)
    return fs


st.set_page_config(page_title="Feature Store Studio", layout="wide")
st.title("Feature Store Studio")
try:
    fs = open_store(os.environ.get("FEATURESTORE_HOME") or os.path.join(os.getcwd(), ".featurestore"))
    st.caption(f"Store: `{fs.path}`")
    rows = []
    for g in fs.list_feature_groups():
        info = fs.describe(g.name)
        rows.append({"group": g.name, "description": g.description, "features": len(g.features),
                     "online records": info["online_records"], "offline rows": info["offline_rows"],
                     "tags": ", ".join(f"{k}={v}" for k, v in g.tags.items())})
    st.dataframe(rows, use_container_width=True, hide_index=True)
except FeatureStoreError as exc:
    st.error(str(exc))
