"""Editing feature-group definitions: the features table shared by the Create page and the Schema
tab, and which form field a store error is about."""
from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from store import FeatureStoreError
from store.model.schema import COLLECTION_TYPES, FEATURE_TYPES

COLUMNS = ["name", "type", "collection", "dimension", "description"]
NO_COLLECTION = "—"
SOURCE = "from column"  # the file column a feature was proposed for (Create from a sample file)


def _frame(features: list[dict[str, Any]], sources: list[str] | None) -> pd.DataFrame:
    rows = [{"name": f.get("name"), "type": f.get("type", "String"), "collection": f.get("collection") or NO_COLLECTION,
             "dimension": f.get("dimension"), "description": f.get("description", "")} for f in features]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame = frame.astype({"name": "string", "type": "string", "collection": "string", "dimension": "Int64",
                          "description": "string"})
    if sources is not None:
        frame.insert(0, SOURCE, pd.Series(sources, dtype="string"))
    return frame


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


def column_mapping(frame: pd.DataFrame, columns: list[str]) -> dict[str, str | None]:
    """Each file column onto the feature its row now names; columns whose row was removed or
    left nameless map to None (skipped on ingest)."""
    kept = {}
    for row in frame.to_dict("records"):
        source, name = row.get(SOURCE), row.get("name")
        if isinstance(source, str) and isinstance(name, str) and name.strip():
            kept[source] = name.strip()
    return {c: kept.get(c) for c in columns}


def _editor(features: list[dict[str, Any]], key: str, sources: list[str] | None) -> pd.DataFrame:
    return st.data_editor(
        _frame(features, sources), key=key, num_rows="dynamic", hide_index=True, width="stretch",
        disabled=[SOURCE] if sources is not None else False,
        column_config={
            SOURCE: st.column_config.TextColumn(SOURCE, help="The column of your file this feature is read from"),
            "name": st.column_config.TextColumn("name", required=True),
            "type": st.column_config.SelectboxColumn("type", options=list(FEATURE_TYPES), default="String", required=True),
            "collection": st.column_config.SelectboxColumn(
                "collection", options=[NO_COLLECTION, *COLLECTION_TYPES], default=NO_COLLECTION,
                help="List, Set or Vector of the type; Vector needs Fractional and a dimension"),
            "dimension": st.column_config.NumberColumn("dimension", min_value=1, max_value=8192, step=1,
                                                       help="Vectors only: the fixed length"),
            "description": st.column_config.TextColumn("description", width="large"),
        })


def features_editor(features: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Edit feature definitions (rows can be added and removed); returns the specs."""
    return specs(_editor(features, key, None))


def file_features_editor(features: list[dict[str, Any]], columns: list[str], key: str
                         ) -> tuple[list[dict[str, Any]], dict[str, str | None]]:
    """``features_editor`` for features proposed from a file's ``columns`` (one each, in order),
    showing which column each comes from; returns the specs and the column -> feature mapping
    that ingests the file into them, whatever the user renamed or removed."""
    edited = _editor(features, key, columns)
    return specs(edited), column_mapping(edited, columns)


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
