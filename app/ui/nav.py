"""The studio's pages and the ways between them: the page list (cut to what the principal may
use), links and switches that keep the URL's parameters, and one browser history entry per view."""
from __future__ import annotations

from typing import Any, Callable

import streamlit as st

from store import FeatureStore

# key: (script relative to app/studio.py, title, icon). A page's URL path is its file name
# (/group?group=customers), which links in the lineage drawing rely on.
PAGES = {
    "catalog": ("app_pages/catalog.py", "Catalog", ":material/menu_book:"),
    "entities": ("app_pages/entities.py", "Entities", ":material/person_pin:"),
    "group": ("app_pages/group.py", "Feature group", ":material/table_chart:"),
    "lineage": ("app_pages/lineage.py", "Lineage", ":material/account_tree:"),
    "create": ("app_pages/create.py", "Create", ":material/add_box:"),
    "ingest": ("app_pages/ingest.py", "Ingest", ":material/upload_file:"),
    "services": ("app_pages/services.py", "Feature services", ":material/hub:"),
    "on_demand": ("app_pages/on_demand.py", "On-demand features", ":material/function:"),
    "dataset": ("app_pages/dataset.py", "Dataset builder", ":material/join_inner:"),
    "datasets": ("app_pages/datasets.py", "Datasets", ":material/dataset:"),
    "time_travel": ("app_pages/time_travel.py", "Time travel", ":material/history:"),
    "sql": ("app_pages/sql.py", "SQL", ":material/terminal:"),
    "pipelines": ("app_pages/pipelines.py", "Pipelines", ":material/conversion_path:"),
    "streams": ("app_pages/streams.py", "Streams", ":material/stream:"),
    "monitoring": ("app_pages/monitoring.py", "Monitoring", ":material/monitor_heart:"),
    "storage": ("app_pages/storage.py", "Storage", ":material/hard_drive:"),
    "audit": ("app_pages/audit.py", "Audit", ":material/policy:"),
}
SECTIONS = {"Discover": ["catalog", "entities", "group", "lineage"],
            "Build": ["create", "ingest", "pipelines", "services", "on_demand", "dataset", "datasets"],
            "Query": ["time_travel", "sql"], "Operate": ["streams", "monitoring", "storage", "audit"]}
# Pages a principal is not shown unless it may use them (the pages check again, as does the engine).
NEEDS: dict[str, Callable[[FeatureStore], bool]] = {
    "audit": lambda fs: fs.allowed("audit"),
    "create": lambda fs: fs.allowed("create_feature_group"),
    "ingest": lambda fs: fs.can("editor"),
}
GROUP_KEY = "group"  # the query parameter naming the current feature group
RECORD_KEY = "record"  # the query parameter (and widget key) naming a record of the group
ENTITY_KEY = "entity"  # the query parameter naming the entity shown on the Entities page


# Streamlit 1.67 writes the URL in several steps per view: a page switch pushes the old path with its
# widget-bound parameters dropped, then the new path, then each st.query_params write; a tab or a
# record typed (widgets bound to the URL) replaces the entry instead. So Back skipped views or
# stopped on half-written URLs. This makes one history entry per user action: the first URL change
# after a click or key press adds an entry, every other change (the rest of that action's
# writes, the URL a Back/Forward run settles on) rewrites the current one.
_ONE_ENTRY_PER_ACTION = """<script>
(() => {
  if (window.__studioHistory) return;
  window.__studioHistory = true;
  const history = window.history;
  const push = history.pushState.bind(history), replace = history.replaceState.bind(history);
  let acted = false;  // a click or key press since the current entry was made
  window.addEventListener("pointerdown", () => { acted = true; }, true);
  window.addEventListener("keydown", () => { acted = true; }, true);
  window.addEventListener("popstate", () => { acted = false; }, true);
  const write = (state, title, url) => {
    if (acted && url !== undefined && new URL(url, location.href).href !== location.href) {
      acted = false;
      return push(state, title, url);
    }
    return replace(state, title, url);
  };
  history.pushState = write;
  history.replaceState = write;
})();
</script>"""


def one_history_entry_per_view() -> None:
    """Browser Back returns to the previous view (page, group, tab and record), one per press."""
    st.sidebar.html(_ONE_ENTRY_PER_ACTION, unsafe_allow_javascript=True)


def navigation(fs: FeatureStore | None) -> dict[str, list[Any]]:
    """The pages by section, without those ``fs``'s principal could not use (None: every page,
    before sign-in, so a deep link still resolves): Audit needs an admin, Create the right to
    create groups, Ingest the editor role somewhere."""
    shown = {key for key in PAGES if fs is None or key not in NEEDS or NEEDS[key](fs)}
    sections = {section: [k for k in keys if k in shown] for section, keys in SECTIONS.items()}
    return {section: [st.Page(PAGES[k][0], title=PAGES[k][1], icon=PAGES[k][2], default=k == "catalog")
                      for k in keys] for section, keys in sections.items() if keys}


def open_page(key: str, **query: str) -> None:
    """Switch to a page, e.g. ``open_page("group", group="customers")``. The query parameters are
    always passed (even empty): Streamlit's default clears them, which a widget bound to one forbids."""
    st.switch_page(PAGES[key][0], query_params=query)


def page_link(key: str, label: str | None = None, **query: str) -> None:
    st.page_link(PAGES[key][0], label=label or PAGES[key][1], icon=PAGES[key][2], query_params=query or None)
