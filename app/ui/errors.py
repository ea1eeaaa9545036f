"""Store errors and ingest reports as messages: one helper turns any ``FeatureStoreError`` into
its message next to the field at fault, another keeps a bug from showing a traceback."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator

import streamlit as st

from app.ui.formats import escape_markdown, plural
from store import FeatureStoreError, IngestRejected

if TYPE_CHECKING:
    from streamlit.delta_generator import DeltaGenerator

    from store.upload import IngestReport


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
