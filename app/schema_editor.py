"""Editing feature-group definitions: the features table shared by the Create page and the Schema
tab, and which form field a store error is about."""
from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from store import FeatureStoreError
from store.schema import COLLECTION_TYPES, FEATURE_TYPES

COLUMNS = ["name", "type", "collection", "dimension", "description"]
NO_COLLECTION = "—"


def _frame(features: list[dict[str, Any]]) -> pd.DataFrame:
    rows = [{"name": f.get("name"), "type": f.get("type", "String"), "collection": f.get("collection") or NO_COLLECTION,
             "dimension": f.get("dimension"), "description": f.get("description", "")} for f in features]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.astype({"name": "string", "type": "string", "collection": "string", "dimension": "Int64",
                         "description": "string"})


def specs(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The edited rows as feature specs for the store; rows without a name are ignored."""
    out = []
    for row in frame.to_dict("records"):
        name = row.get("name")
        if not isinstance(name, str) or not name.strip():
            continue
        spec: dict[str, Any] = {"name": name.strip(), "type": row.get("type") or "String"}
        collection = row.get("collection")
        if isinstance(collection, str) and collection != NO_COLLECTION:
            spec["collection"] = collection
        if row.get("dimension") is not None and not pd.isna(row["dimension"]):
            spec["dimension"] = int(row["dimension"])
        if isinstance(row.get("description"), str) and row["description"]:
            spec["description"] = row["description"]
        out.append(spec)
    return out


def features_editor(features: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Edit feature definitions (rows can be added and removed); returns the specs."""
    edited = st.data_editor(
        _frame(features), key=key, num_rows="dynamic", hide_index=True, width="stretch",
        column_config={
            "name": st.column_config.TextColumn("name", required=True),
            "type": st.column_config.SelectboxColumn("type", options=list(FEATURE_TYPES), default="String", required=True),
            "collection": st.column_config.SelectboxColumn(
                "collection", options=[NO_COLLECTION, *COLLECTION_TYPES], default=NO_COLLECTION,
                help="List, Set or Vector of the type; Vector needs Fractional and a dimension"),
            "dimension": st.column_config.NumberColumn("dimension", min_value=1, max_value=8192, step=1,
                                                       help="Vectors only: the fixed length"),
            "description": st.column_config.TextColumn("description", width="large"),
        })
    return specs(edited)


def field_of(exc: FeatureStoreError) -> str:
    """Which Create form field an error from ``create_feature_group`` is about, judged by its
    message (the store names the field first); "form" when none fits."""
    msg = exc.message.lower()
    if "record identifier and event time" in msg:
        return "event_time"
    for prefix, field in (("record identifier", "record_identifier"), ("event time", "event_time"),
                          ("feature group name", "name"), ("description of", "description")):
        if msg.startswith(prefix):
            return field
    for needle, field in (("already exists", "name"), ("ttl", "ttl"), ("online or an offline", "stores"),
                          ("tags", "tags"), ("feature", "features")):
        if needle in msg:
            return field
    return "form"
