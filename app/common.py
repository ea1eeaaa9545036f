"""What every page shares: the open store, the one error helper, navigation, pickers and formats."""
from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator

import streamlit as st

from store import FeatureStore, FeatureStoreError, default_path
from store.demo import seed_if_empty

if TYPE_CHECKING:
    import pandas as pd
    from streamlit.delta_generator import DeltaGenerator

# key: (script relative to app/studio.py, title, icon). A page's URL path is its file name
# (/group?group=customers), which links in the lineage drawing rely on.
PAGES = {
    "catalog": ("pages_/catalog.py", "Catalog", ":material/menu_book:"),
    "group": ("pages_/group.py", "Feature group", ":material/table_chart:"),
    "lineage": ("pages_/lineage.py", "Lineage", ":material/account_tree:"),
    "create": ("pages_/create.py", "Create", ":material/add_box:"),
    "ingest": ("pages_/ingest.py", "Ingest", ":material/upload_file:"),
    "dataset": ("pages_/dataset.py", "Dataset builder", ":material/join_inner:"),
    "time_travel": ("pages_/time_travel.py", "Time travel", ":material/history:"),
    "sql": ("pages_/sql.py", "SQL", ":material/terminal:"),
}
SECTIONS = {"Discover": ["catalog", "group", "lineage"], "Build": ["create", "ingest", "dataset"],
            "Query": ["time_travel", "sql"]}
GROUP_KEY = "group"  # the query parameter (and widget key) naming the current feature group


@st.cache_resource(show_spinner="Opening the feature store…")
def _open(path: str) -> FeatureStore:
    """One FeatureStore per folder for the whole server: it is thread-safe, and every browser
    session runs on its own thread."""
    fs = FeatureStore(path, writer="studio")
    seed_if_empty(fs)
    return fs


def store() -> FeatureStore:
    """The studio's store: ``$FEATURESTORE_HOME`` or ``./.featurestore``, seeded when empty."""
    return _open(default_path())


@contextmanager
def engine_errors(where: "DeltaGenerator | Callable[[FeatureStoreError], DeltaGenerator] | None" = None
                  ) -> Iterator[None]:
    """Show any store error as its message (and, for a rejected ingest, its bad rows) instead of a
    traceback; the rest of the ``with`` block is skipped. ``where`` is a container, or a function
    choosing one from the error (to show it next to the field at fault)."""
    try:
        yield
    except FeatureStoreError as exc:
        target = (where(exc) if callable(where) else where) or st
        target.error(exc.message, icon=":material/error:")
        report = getattr(exc, "report", None)
        if report is not None and report.errors is not None and len(report.errors):
            row_errors(report.errors, target)


def row_errors(errors: "pd.DataFrame", where: "DeltaGenerator | None" = None, key: str = "errors") -> None:
    """Rejected rows (row, feature, value, reason) as a table with a CSV download."""
    target = where or st
    target.dataframe(errors, hide_index=True, height=min(400, 38 + 35 * len(errors)),
                     column_config={"row": st.column_config.NumberColumn(
                         "row (from 0)", help="Data row, counting from 0 and not counting the header", format="%d")})
    target.download_button("Download the rejected rows (CSV)", errors.to_csv(index=False).encode(), "rejected_rows.csv",
                           "text/csv", key=f"{key}_download", on_click="ignore", icon=":material/download:")


def flash(message: str) -> None:
    """Queue a confirmation to show after the rerun or page switch that usually follows an action."""
    st.session_state["_flash"] = message


def show_flash() -> None:
    message = st.session_state.pop("_flash", None)
    if message:
        st.toast(message, icon=":material/check_circle:")


def navigation() -> dict[str, list[Any]]:
    return {section: [st.Page(PAGES[k][0], title=PAGES[k][1], icon=PAGES[k][2], default=k == "catalog")
                      for k in keys] for section, keys in SECTIONS.items()}


def open_page(key: str, **query: str) -> None:
    """Switch to a page, e.g. ``open_page("group", group="customers")``. The query parameters are
    always passed (even empty): Streamlit's default clears them, which a widget bound to one forbids."""
    st.switch_page(PAGES[key][0], query_params=query)


def page_link(key: str, label: str | None = None, **query: str) -> None:
    st.page_link(PAGES[key][0], label=label or PAGES[key][1], icon=PAGES[key][2], query_params=query or None)


def pick_group(fs: FeatureStore, label: str = "Feature group", offline_only: bool = False,
               where: "DeltaGenerator | None" = None) -> str | None:
    """A group selector shared by every page through the ``group`` query parameter, so the
    chosen group follows the user around; None (with a hint) when there is none to pick."""
    names = [g.name for g in fs.list_feature_groups() if g.offline or not offline_only]
    if not names:
        st.info("There are no feature groups with an offline store yet. Create one on the **Create** page, "
                    "or run `featurestore demo` for sample data." if offline_only else
                    "There are no feature groups yet. Create one on the **Create** page, then ingest data into it.",
                    icon=":material/info:")
        page_link("create", "Create a feature group")
        return None
    return (where or st).selectbox(label, names, key=GROUP_KEY, bind="query-params")


# ------------------------------------------------------------------------------------ formats

def when(us: int | None) -> str:
    """Microseconds since the epoch as 'YYYY-MM-DD HH:MM:SS UTC'."""
    if us is None:
        return "—"
    return dt.datetime.fromtimestamp(us / 1e6, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(us: int | None, now_us: int | None = None) -> str:
    """How long ago, in the largest whole unit ('5 min ago')."""
    if us is None:
        return "never"
    now = now_us if now_us is not None else dt.datetime.now(dt.timezone.utc).timestamp() * 1e6
    seconds = max(0, (now - us) / 1e6)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


def timestamp(us: int | None) -> dt.datetime | None:
    """A UTC datetime for tables (Streamlit formats it)."""
    return None if us is None else dt.datetime.fromtimestamp(us / 1e6, dt.timezone.utc)


def size(n: int | None) -> str:
    if n is None:
        return "—"
    value = float(n)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} GB"


def duration(seconds: float | None) -> str:
    """A TTL in the largest whole unit ('30 days'), or 'none'."""
    if seconds is None:
        return "none"
    for unit, length in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= length and seconds % length == 0:
            n = int(seconds // length)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds:g} seconds"


def key_values(mapping: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in mapping.items())


def facts(mapping: dict[str, object]) -> str:
    """Label/value pairs as Markdown lines, for a compact read-only summary."""
    return "  \n".join(f"**{label}** &nbsp; {value}" for label, value in mapping.items())


def pairs_frame(mapping: dict[str, str]) -> "pd.DataFrame":
    """A key/value editor's starting rows."""
    import pandas as pd

    return pd.DataFrame({"key": list(mapping), "value": list(mapping.values())}, dtype="string")


def frame_pairs(frame: "pd.DataFrame") -> dict[str, str]:
    """The key/value editor's rows back as a dict; blank keys are rows the user left empty."""
    out = {}
    for key, value in zip(frame["key"], frame["value"]):
        if isinstance(key, str) and key.strip():
            out[key.strip()] = "" if value is None or value != value else str(value)
    return out


def pairs_editor(mapping: dict[str, str], key: str, where: "DeltaGenerator | None" = None) -> dict[str, str]:
    """Edit a str->str mapping (tags, parameters) as a two-column table with addable rows."""
    edited = (where or st).data_editor(pairs_frame(mapping), key=key, num_rows="dynamic", hide_index=True,
                                       width="stretch", column_config={"key": st.column_config.TextColumn("key"),
                                                                       "value": st.column_config.TextColumn("value")})
    return frame_pairs(edited)
