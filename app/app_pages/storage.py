"""Storage: what each group costs on disk, largest first (online and offline bytes, files,
rows, the oldest event kept, retention, growth over 30 days), and compaction on demand."""
from __future__ import annotations

import streamlit as st

from app.ui.errors import engine_errors
from app.ui.formats import duration, size, timestamp
from app.ui.nav import open_page
from app.ui.session import flash, store

fs = store()
st.title("Storage")
with engine_errors():
    usage = fs.storage()
if not usage:
    st.info("The store has no feature groups yet.", icon=":material/info:")
    st.stop()

total_online = sum(u["online_bytes"] or 0 for u in usage)
total_offline = sum(u["offline_bytes"] for u in usage)
cols = st.columns(4)
cols[0].metric("Online store", size(total_online))
cols[1].metric("Offline store", size(total_offline))
cols[2].metric("Offline files", f"{sum(u['offline_files'] for u in usage):,}")
cols[3].metric("New offline data, 30 days", size(sum(d["bytes"] for u in usage for d in u["growth_per_day"])))

MB = 1 << 20
rows = [{"group": u["group"].name, "total": ((u["online_bytes"] or 0) + u["offline_bytes"]) / MB,
         "online": (u["online_bytes"] or 0) / MB, "offline": u["offline_bytes"] / MB, "files": u["offline_files"],
         "rows": u["offline_rows"], "partitions": u["group"].partition_by,
         "retention": duration(u["group"].offline_retention_seconds) if u["group"].offline_retention_seconds else "all",
         "oldest event": timestamp(u["oldest_event_us"]),
         "new in 30 days": sum(d["bytes"] for d in u["growth_per_day"]) / MB} for u in usage]
online_in = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "redis": "Redis", "rediss": "Redis"}.get(
    fs.online_location.split(":", 1)[0], "the online store")
st.caption(f"Largest first. Select a row to open the group. Bytes are on disk: the online records and their indexes in "
           f"{online_in}, the Parquet files of the offline store.")
picked = st.dataframe(rows, hide_index=True, on_select="rerun", selection_mode="single-row", key="storage_groups",
                      column_config={
                          **{c: st.column_config.NumberColumn(c, format="%.2f MB") for c in ("total", "online", "offline",
                                                                                              "new in 30 days")},
                          "rows": st.column_config.NumberColumn(format="localized"),
                          "oldest event": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm", timezone="UTC")})
if picked.selection.rows:
    open_page("group", group=rows[picked.selection.rows[0]]["group"])

st.subheader("Compact")
st.caption("Background maintenance merges small files and applies retention as the studio runs; this does it now "
           "for one group. No answer inside the retained history changes.")
left, right = st.columns([2, 1], vertical_alignment="bottom")
group = left.selectbox("Feature group", [r["group"] for r in rows if r["files"]], key="storage_compact_group")
if group and right.button("Compact now", icon=":material/compress:", disabled=not fs.can("owner", group)):
    with engine_errors(), st.spinner(f"Compacting {group}…"):
        result = fs.compact(group)
        dropped = f", {result['rows_dropped']:,} rows past retention dropped" if result["rows_dropped"] else ""
        flash(f"Compacted {group}: {result['files_before']:,} files -> {result['files_after']:,}{dropped}")
        st.rerun()
