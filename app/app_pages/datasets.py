"""Datasets: every training set built, with its definition, coverage and the models trained on
it; each can be downloaded again exactly as it was built (rebuilt from the store's history as
the store knew it then), rebuilt on today's data, or deleted."""
from __future__ import annotations

import re

import streamlit as st

from app import data
from app.ui.errors import engine_errors
from app.ui.formats import escape_markdown, plural
from app.ui.nav import open_page, page_link
from app.ui.session import flash, store

DATASET_KEY = "dataset"  # the query parameter naming the dataset shown

fs = store()
st.title("Datasets")
datasets = fs.datasets()
if not datasets:
    st.info("No datasets yet. Build one on the Dataset builder page: it will be listed here to download or rebuild "
            "later.", icon=":material/info:")
    page_link("dataset", "Build a dataset")
    st.stop()

names = {d["id"]: d["name"] for d in datasets}
rows = [{"name": d["name"], "id": d["id"], "built (UTC)": d["built_at"], "by": d["built_by"], "rows": d["rows"],
         "columns": d["columns"], "groups": ", ".join(d["groups"]),
         "rows without features": (d["coverage"] or {}).get("rows_without_any_feature"),
         "models": ", ".join(d["models"]), "entity table": d["entity_source"],
         "rebuild of": names.get(d["rebuild_of"], d["rebuild_of"]) if d["rebuild_of"] else ""} for d in datasets]
ids = [d["id"] for d in datasets]
wanted = st.query_params.get(DATASET_KEY)
picked = st.dataframe(rows, hide_index=True, on_select="rerun", selection_mode="single-row", key="datasets_table",
                      column_config={"rows": st.column_config.NumberColumn(format="localized")})
if picked.selection.rows:
    wanted = ids[picked.selection.rows[0]]
    st.query_params[DATASET_KEY] = wanted
if wanted is None:
    st.caption("Select a dataset to see its definition, download it or rebuild it.")
    st.stop()
chosen = next((d for d in datasets if d["id"] == wanted or d["name"] == wanted), None)
if chosen is None:
    st.error(f"There is no dataset **{escape_markdown(wanted)}**: it was deleted, or the link has a typo.",
             icon=":material/search_off:")
    st.stop()

st.subheader(escape_markdown(chosen["name"]))
d = chosen["definition"]
rebuilt_from = (f" A rebuild of {escape_markdown(names.get(chosen['rebuild_of'], chosen['rebuild_of']))} on the "
                "data the store had then." if chosen["rebuild_of"] else "")
st.caption(f"Built {chosen['built_at']} by {escape_markdown(chosen['built_by'])} from "
           f"{escape_markdown(str(chosen['entity_source']))}: {plural(chosen['rows'], 'row')} × "
           f"{plural(chosen['columns'], 'column')}.{rebuilt_from} "
           + (f"Models trained on it: {', '.join(chosen['models'])}." if chosen["models"] else "No model uses it yet."))
coverage = chosen["coverage"]
if coverage:
    cols = st.columns(1 + len(coverage["groups"]))
    cols[0].metric("Rows with no feature at all", f"{coverage['rows_without_any_feature']:,}")
    for col, (group_name, figures) in zip(cols[1:], coverage["groups"].items()):
        col.metric(f"Rows without {group_name}", f"{figures['rows_without']:,}")

if not chosen["rebuildable"]:
    st.warning("This dataset's entity table was not kept (it was built before datasets kept one), so it can be "
               "neither downloaded again nor rebuilt. Its definition is below.", icon=":material/warning:")
else:
    actions = st.container(horizontal=True)
    stem = re.sub(r"[^\w.-]+", "-", chosen["name"])
    for fmt, label, mime in (("csv", "CSV", "text/csv"), ("parquet", "Parquet", "application/octet-stream")):
        actions.download_button(f"Download {label}", lambda fmt=fmt: fs.dataset(chosen["id"]).to_bytes(fmt),
                                f"{stem}.{fmt}", mime, key=f"saved_{fmt}", on_click="ignore", icon=":material/download:",
                                help="Rebuilt exactly as it was built, from the history the store knew then")
    if actions.button("Rebuild on today's data", icon=":material/refresh:",
                      help="The same definition joined with today's feature values, recorded as a new dataset"):
        with engine_errors(), st.spinner("Joining features point-in-time…"):
            rebuilt = fs.rebuild_dataset(chosen["id"])
            flash(f"Rebuilt {escape_markdown(chosen['name'])} as {escape_markdown(rebuilt.name)} ({rebuilt.id}, "
                  f"{plural(rebuilt.num_rows, 'row')})")
            st.query_params[DATASET_KEY] = rebuilt.id
            st.rerun()
    if actions.button("Show in lineage", icon=":material/account_tree:"):
        open_page("lineage", node=f"dataset:{chosen['id']}")
    with st.expander("Preview (the first 100 rows)"):
        with engine_errors():
            st.dataframe(data.dataset_head(fs, chosen["id"]), hide_index=True)

with st.expander("Definition"):
    st.json(d, expanded=1)
if fs.allowed("delete_dataset"):  # an admin's: others' training sets are not a viewer's to forget
    with st.expander("Delete this dataset", icon=":material/delete:"):
        st.caption("Deleting forgets its saved entity table, so it can no longer be downloaded or rebuilt; lineage "
                   "keeps it, marked deleted, and models keep their link.")
        if st.button("Delete dataset", icon=":material/delete:"):
            with engine_errors():
                fs.delete_dataset(chosen["id"])
                flash(f"Deleted dataset {escape_markdown(chosen['name'])}")
                st.query_params.pop(DATASET_KEY, None)
                st.rerun()
