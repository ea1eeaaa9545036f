"""What every page shares: the open store, the one error helper, navigation, pickers and formats."""
from __future__ import annotations

import datetime as dt
import logging
import math
import os
import re
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator

import streamlit as st

from store import FeatureStore, FeatureStoreError, IngestRejected, default_path
from store.featurestore import FLUSH_INTERVAL
from store.demo import seed_if_empty

if TYPE_CHECKING:
    import pandas as pd
    from streamlit.delta_generator import DeltaGenerator

    from store.ingest.prepare import IngestReport

# key: (script relative to app/studio.py, title, icon). A page's URL path is its file name
# (/group?group=customers), which links in the lineage drawing rely on.
PAGES = {
    "catalog": ("pages_/catalog.py", "Catalog", ":material/menu_book:"),
    "group": ("pages_/group.py", "Feature group", ":material/table_chart:"),
    "lineage": ("pages_/lineage.py", "Lineage", ":material/account_tree:"),
    "create": ("pages_/create.py", "Create", ":material/add_box:"),
    "ingest": ("pages_/ingest.py", "Ingest", ":material/upload_file:"),
    "dataset": ("pages_/dataset.py", "Dataset builder", ":material/join_inner:"),
    "datasets": ("pages_/datasets.py", "Datasets", ":material/dataset:"),
    "time_travel": ("pages_/time_travel.py", "Time travel", ":material/history:"),
    "sql": ("pages_/sql.py", "SQL", ":material/terminal:"),
    "pipelines": ("pages_/pipelines.py", "Pipelines", ":material/conversion_path:"),
    "monitoring": ("pages_/monitoring.py", "Monitoring", ":material/monitor_heart:"),
    "storage": ("pages_/storage.py", "Storage", ":material/hard_drive:"),
    "audit": ("pages_/audit.py", "Audit", ":material/policy:"),
}
SECTIONS = {"Discover": ["catalog", "group", "lineage"],
            "Build": ["create", "ingest", "pipelines", "dataset", "datasets"],
            "Query": ["time_travel", "sql"], "Operate": ["monitoring", "storage", "audit"]}
GROUP_KEY = "group"  # the query parameter naming the current feature group
_PICKER = "group_picker"  # the group selector's widget key
_REMEMBERED = "_group"  # the group last picked, for pages opened without ?group=
RECORD_KEY = "record"  # the query parameter (and widget key) naming a record of the group
WHO_KEY = "_who"  # the session's principal, once signed in
# Bounds for date/datetime inputs: Streamlit's default range is ten years either side of the
# value, and a pick outside it is silently replaced by the default.
ANY_TIME = {"min_value": dt.datetime(1970, 1, 1), "max_value": dt.datetime(2100, 1, 1)}


@st.cache_resource(show_spinner="Opening the feature store…", on_release=lambda fs: fs.close())
def _open(path: str) -> FeatureStore:
    """One FeatureStore per folder for the whole server: it is thread-safe, and every browser
    session runs on its own thread. Its background maintenance moves buffered puts to Parquet
    every ``$FEATURESTORE_FLUSH_INTERVAL`` seconds and compacts small files."""
    fs = FeatureStore(path, writer="studio", background=True,
                      flush_interval=float(os.environ.get("FEATURESTORE_FLUSH_INTERVAL", FLUSH_INTERVAL)))
    # Sample data goes into a store of one's own: never one others share, nor one under an access
    # policy (its users' store; the OS user the studio runs as may not even be one of them).
    if fs.shared_url is None and not fs.governed:
        seed_if_empty(fs)
    return fs


def base_store() -> FeatureStore:
    """The studio's open store, shared by every session (``store()`` is what pages use)."""
    return _open(default_path())


def store() -> FeatureStore:
    """The studio's store (``$FEATURESTORE_HOME`` or ``./.featurestore``, seeded when empty) as
    the signed-in principal sees it, when the store has an access file."""
    fs = _open(default_path())
    who = st.session_state.get(WHO_KEY)
    return fs.with_principal(who) if fs.governed and who else fs


def can(fs: FeatureStore, role: str, group: str | None = None) -> bool:
    """Whether the current principal holds ``role`` (on ``group``): pages hide what the engine
    would refuse anyway."""
    return fs._ctx.policy.may(role, group)


@contextmanager
def engine_errors(where: "DeltaGenerator | Callable[[FeatureStoreError], DeltaGenerator] | None" = None,
                  skip_choice: str | None = None) -> Iterator[None]:
    """Show any store error as its message (and, for a rejected ingest, its bad rows) instead of a
    traceback; the rest of the ``with`` block is skipped. ``where`` is a container, or a function
    choosing one from the error (to show it next to the field at fault). ``skip_choice`` is the
    page's control for writing only the valid rows: a refused ingest names it instead of the
    API's ``on_error='skip'``."""
    try:
        yield
    except FeatureStoreError as exc:
        target = (where(exc) if callable(where) else where) or st
        message = escape_markdown(exc.message)
        if skip_choice and isinstance(exc, IngestRejected) and exc.skippable:
            message = f"{escape_markdown(exc.reason)} Fix them, or choose **{skip_choice}** to write the valid rows."
        target.error(message, icon=":material/error:")
        report = getattr(exc, "report", None)
        if report is not None and report.errors is not None and len(report.errors):
            row_errors(report, target)


@contextmanager
def unexpected_errors() -> Iterator[None]:
    """A bug shows as one plain message (the traceback goes to the server log), not a traceback."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the last line of defence; Streamlit's own stop/rerun are BaseException
        logging.getLogger("app").exception("Studio page failed")
        st.error(f"Something went wrong on this page ({type(exc).__name__}: {escape_markdown(str(exc))}). The "
                 "details are in the studio's log.", icon=":material/bug_report:")


def row_errors(report: "IngestReport", where: "DeltaGenerator | None" = None, key: str = "errors") -> None:
    """Rejected values (line or row, feature, value, reason) as a table, and the rejected rows as
    they were read plus an ``error`` column as a CSV download, ready to fix and ingest again."""
    target = where or st
    errors = report.errors
    shown = errors.drop(columns="row") if "line" in errors.columns else errors
    target.dataframe(shown, hide_index=True, height=min(400, 38 + 35 * len(shown)), column_config={
        "line": st.column_config.NumberColumn("line", help="Line in the file; the header is line 1", format="%d"),
        "row": st.column_config.NumberColumn("row (from 0)", help="Data row, counting from 0", format="%d")})
    if report.rejected is not None:
        target.download_button("Download the rejected rows (CSV)", report.rejected_csv,
                               "rejected_rows.csv", "text/csv", key=f"{key}_download", on_click="ignore",
                               icon=":material/download:",
                               help="The rows as they were in your file, with an error column saying what to fix")


def rule_warnings(report: "IngestReport", where: "DeltaGenerator | None" = None) -> None:
    """What rules of severity warn said: rows written anyway, and batch rules that warned."""
    target = where or st
    for warning in report.batch_warnings:
        target.warning(f"Rule {warning['rule']} warns about the batch: {escape_markdown(str(warning['reason']))}",
                       icon=":material/warning:")
    if report.rows_warned:
        verb = "is" if report.rows_warned == 1 else "are"
        target.warning(f"{plural(report.rows_warned, 'row')} {verb} written with a warning from the group's rules:",
                       icon=":material/warning:")
        shown = report.warnings.drop(columns="row") if "line" in report.warnings.columns else report.warnings
        target.dataframe(shown, hide_index=True, height=min(300, 38 + 35 * len(shown)))


def outcome(report: "IngestReport", where: "DeltaGenerator | None" = None) -> None:
    """What an ingest did, in the colour it deserves: nothing written is an error, some rows
    rejected a warning, everything written a success."""
    target = where or st
    if report.rows_total and not report.rows_written:
        target.error(f"Nothing was written: {report.summary()}", icon=":material/error:")
    elif report.rows_rejected:
        target.warning(report.summary(), icon=":material/warning:")
    elif not report.rows_total:
        target.warning(f"The file has no data rows: {report.summary()}", icon=":material/warning:")
    else:
        target.success(report.summary(), icon=":material/check_circle:")


def flash(message: str, warning: bool = False) -> None:
    """Queue a message for after the rerun or page switch that usually follows an action: a toast
    for a confirmation, a box that stays for a warning the user must read."""
    st.session_state["_flash"] = (message, warning)


def show_flash() -> None:
    queued = st.session_state.pop("_flash", None)
    if queued:
        message, warning = queued
        if warning:
            st.warning(message, icon=":material/warning:")
        else:
            st.toast(message, icon=":material/check_circle:")


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


def navigation() -> dict[str, list[Any]]:
    return {section: [st.Page(PAGES[k][0], title=PAGES[k][1], icon=PAGES[k][2], default=k == "catalog")
                      for k in keys] for section, keys in SECTIONS.items()}


def open_page(key: str, **query: str) -> None:
    """Switch to a page, e.g. ``open_page("group", group="customers")``. The query parameters are
    always passed (even empty): Streamlit's default clears them, which a widget bound to one forbids."""
    st.switch_page(PAGES[key][0], query_params=query)


def page_link(key: str, label: str | None = None, **query: str) -> None:
    st.page_link(PAGES[key][0], label=label or PAGES[key][1], icon=PAGES[key][2], query_params=query or None)


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
    missing = "was deleted" if deleted else "does not exist" if not fs._ctx.policy.governed else \
        "does not exist, or your roles do not let you see it"
    st.error(f"Feature group **{escape_markdown(name)}** {missing}.", icon=":material/search_off:")
    similar = [n for n in names if n.lower() == name.lower()]
    if similar:
        page_link("group", f"Did you mean {similar[0]}?", group=similar[0])
    page_link("catalog", "Browse the catalog")


# ------------------------------------------------------------------------------------ formats

# What Streamlit's Markdown would read as markup in a message: emphasis, code, maths, strike,
# tables, and a link's closing bracket. An underscore only starts or ends emphasis at a word's
# edge ('_x', "'_'"), so one inside a name (event_time) is left as it is.
_MARKUP = re.compile(r"([\\`*$~|\]])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_LINE_START = re.compile(r"^(\s*)([#>+-])", re.MULTILINE)


def escape_markdown(text: str) -> str:
    """``text`` (a message, a name, a value from a file) shown as written inside Markdown: every
    store error and every name in a message goes through this, so '_x' is not an italic x."""
    escaped = _MARKUP.sub(lambda m: "\\" + m.group(0), text)
    return _LINE_START.sub(r"\1\\\2", escaped)


def plural(n: int, word: str, words: str | None = None) -> str:
    """'1 match', '2 matches', '1,000 rows': a count with its noun agreeing (``words`` for an
    irregular plural; 'es' after s, x, ch and sh, else 's')."""
    if n == 1:
        return f"1 {word}"
    many = words or (word + "es" if word.endswith(("s", "x", "ch", "sh")) else
                     word[:-1] + "ies" if word.endswith("y") and word[-2:-1] not in "aeiou" else word + "s")
    return f"{n:,} {many}"


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


def number(value: float | int | str | None) -> str:
    """A statistic in full: thousands separators, whole numbers exact, up to 2 decimals (trailing
    zeros dropped), and 3 significant digits below 1 so a rate never shows as 0.00; "" for none."""
    import pandas as pd

    if value is None or (isinstance(value, str) and not value) or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, str):  # DuckDB's exact text of a min or max
        value = int(value) if value.lstrip("-").isdigit() else float(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "" if math.isnan(value) else str(value)
        if value.is_integer() and abs(value) < 2 ** 53:
            value = int(value)
    if isinstance(value, int):
        return f"{value:,}"
    decimals = 2 if abs(value) >= 1 else max(2, 2 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}".rstrip("0").rstrip(".")


# A numeric feature read as a time: a name that says so and values in one unit's range of epoch
# times (2001-09-09 to 2103). Amounts never have such names; counts never such values.
TIME_NAME = re.compile(r"time|epoch|date|(^|_)(ts|at)(_|$)", re.IGNORECASE)
EPOCH_UNITS = ((1e9, 4.2e9, 1e6), (1e12, 4.2e12, 1e3), (1e15, 4.2e15, 1.0))  # (low, high, microseconds per unit)


def epoch_unit(name: str, low: float | None, high: float | None, event_time: bool = False) -> float | None:
    """Microseconds per unit when a numeric feature holds epoch times (the group's event time is
    epoch seconds by definition), else None."""
    if event_time:
        return 1e6
    if low is None or high is None or not TIME_NAME.search(name):
        return None
    return next((us for lo, hi, us in EPOCH_UNITS if lo <= low and high <= hi), None)


def span(seconds: float) -> str:
    """A length of time in its largest unit, one decimal ('3.5 days')."""
    for unit, length in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if abs(seconds) >= length:
            return f"{seconds / length:,.1f} {unit}"
    return f"{seconds:,.1f} seconds"


def size(n: int | None) -> str:
    """Bytes in decimal units (1 MB = 1,000,000 bytes), as Streamlit's upload chip shows them,
    so one file has one size on a page."""
    if n is None:
        return "—"
    value = float(n)
    for unit in ("B", "KB", "MB"):
        if value < 1000:
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1000
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
