"""Quality tab: what the group's rules did to its writes (validation runs per day, failures per
rule, the latest runs) and the quarantine of refused rows: filtered, downloaded, corrected in
place and ingested again, or dropped."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd
import streamlit as st

from app.ui import charts
from app.ui.errors import engine_errors, outcome, row_errors
from app.ui.formats import duration
from app.ui.nav import page_link
from app.ui.session import flash
from store import FeatureGroup, FeatureStore
from store.model.rules import describe

DAYS = 30
# The quarantine table's own columns, named with spaces so that no feature name can clash.
REQUEUE = "ingest again"
META = {"rules": "refused by", "reason": "why", "source": "came from", "position": "where in it",
        "quarantined": "quarantined at", "id": "entry no"}
REQUEUE_WIDTH, FIELD_WIDTH = 110, 130  # pixels: every field alike, so a long value cannot hide the rest


def render(fs: FeatureStore, group: FeatureGroup) -> None:
    since = datetime.now(timezone.utc) - timedelta(days=DAYS)
    with engine_errors():
        runs = fs.validation_runs(group.name, since=since, limit=100_000)
        kept = fs.quarantine(group.name)
        rules = {r["name"]: r for r in fs.rules(group.name)}
    if not rules:
        st.info("This group has no validation rules: writes are checked against the feature types only. Add rules "
                "on the **Schema** tab.", icon=":material/rule:")
    page_link("monitoring", "Freshness and drift on the Monitoring page", group=group.name)
    checked, written, invalid, held, warned = (int(runs[c].sum()) for c in (
        "rows_checked", "rows_written", "rows_rejected", "rows_held_back", "rows_warned"))
    cols = st.columns(6)
    cols[0].metric(f"Writes checked, {DAYS} days", f"{len(runs):,}", help="Each ingest is one; single puts count "
                                                                           "per minute and writer")
    cols[1].metric("Rows checked", f"{checked:,}")
    cols[2].metric("Rows written", f"{written:,}", help=f"{warned:,} of them with a warning")
    cols[3].metric("Invalid rows", f"{invalid:,}", help="A value of the wrong type, or a row a row rule refused: "
                                                        "the failures per rule below count these rows")
    cols[4].metric("Valid rows held back", f"{held:,}", help="Valid rows not written because their batch was refused "
                                                             "(on error: write nothing, or a batch rule failed)")
    cols[5].metric("In quarantine", f"{len(kept):,}", help="Invalid rows of writes that went ahead, kept until they "
                                                           "are ingested again, dropped or expire; a refused batch is "
                                                           "not kept (its sender still has it)")
    if checked:
        st.caption(f"{checked:,} rows checked = {written:,} written ({warned:,} with a warning) + {invalid:,} invalid "
                   f"+ {held:,} valid rows held back with a refused batch.")
    if len(runs):
        st.plotly_chart(charts.validation_runs(runs), key=f"quality_runs_{group.name}")
        _per_rule(runs, rules)
        with st.expander("Latest validation runs"):
            st.dataframe(runs.drop(columns=["id", "per_rule"]).head(500), hide_index=True, column_config={
                "started": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss", timezone="UTC"),
                "seconds": st.column_config.NumberColumn(format="%.3f")})
    else:
        st.caption(f"No writes in the last {DAYS} days.")
    st.divider()
    quarantine(fs, group, kept)


def _per_rule(runs: pd.DataFrame, rules: dict[str, dict[str, Any]]) -> None:
    """Rows each rule refused or warned about, and batches it failed, over the runs shown."""
    totals: dict[str, dict[str, int]] = {}
    for per_rule in runs["per_rule"]:
        for rule, counts in per_rule.items():
            entry = totals.setdefault(rule, {"rejected": 0, "warned": 0, "failed_batch": 0})
            for key in entry:
                entry[key] += int(counts.get(key, 0))
    if not totals:
        st.caption("No rule refused or warned about a row.")
        return
    rows = [{"rule": rule, "checks": _describe(rules.get(rule), rule), "severity": rules.get(rule, {}).get("severity",
                                                                                                            "—"),
             **counts} for rule, counts in sorted(totals.items(), key=lambda kv: -kv[1]["rejected"] - kv[1]["warned"])]
    st.caption(f"Failures per rule, last {DAYS} days (`type`: a value that is not of its feature's type)")
    st.dataframe(rows, hide_index=True, column_config={
        "rejected": st.column_config.NumberColumn("rows refused", format="localized"),
        "warned": st.column_config.NumberColumn("rows warned", format="localized"),
        "failed_batch": st.column_config.NumberColumn("batches failed", format="localized")})


def _describe(rule: dict[str, Any] | None, name: str) -> str:
    if name == "type":
        return "values of the feature's type"
    return "(a rule since removed)" if rule is None else describe(rule)


def _records(kept: pd.DataFrame) -> pd.DataFrame:
    """The quarantine as a table: the row as it was received (one column per field, the part a
    user corrects), then why and where from."""
    fields = pd.DataFrame(list(kept["record"]), index=kept.index)
    fields = fields.astype(object).where(fields.notna(), None)
    text = fields.map(lambda v: v if v is None or isinstance(v, str) else str(v))  # edited as text, typed on ingest
    table = pd.concat([text.astype("string"), kept[list(META)].rename(columns=META)], axis=1)
    table.insert(0, REQUEUE, False)
    return table


def quarantine(fs: FeatureStore, group: FeatureGroup, kept: pd.DataFrame) -> None:
    st.subheader("Quarantine")
    st.caption(f"Rows the rules refused, kept for {duration(fs.quarantine_retention(group.name))} with why and where "
               "they came from. Correct values in the table, tick the rows, and ingest them again; rows refused "
               "again stay here with the new verdict.")
    if kept.empty:
        st.success("The quarantine is empty.", icon=":material/check_circle:")
        return
    left, middle, right = st.columns([2, 2, 3])
    rule_names = sorted({r for rules in kept["rules"] for r in rules.split(",") if r})
    picked_rules = left.multiselect("Refused by", rule_names, key=f"quarantine_rules_{group.name}")
    picked_sources = middle.multiselect("Source", sorted(kept["source"].dropna().unique()),
                                        key=f"quarantine_sources_{group.name}")
    needle = right.text_input("Contains", key=f"quarantine_text_{group.name}", placeholder="a value or a reason")
    shown = kept
    if picked_rules:
        shown = shown[shown["rules"].map(lambda r: bool(set(r.split(",")) & set(picked_rules)))]
    if picked_sources:
        shown = shown[shown["source"].isin(picked_sources)]
    if needle:
        text = shown["reason"] + " " + shown["record"].map(lambda r: " ".join(map(str, r.values())))
        shown = shown[text.str.contains(needle, case=False, regex=False)]
    table = _records(shown)
    fields = [c for c in table.columns if c not in (REQUEUE, *META.values())]
    # Keyed by the rows shown: an editor keeps its edits by position, so other rows need a fresh one.
    edited = st.data_editor(table, hide_index=True, key=f"quarantine_{group.name}_{hash(tuple(shown['id']))}",
                            disabled=list(META.values()), height=min(420, 38 + 35 * len(table)), column_config={
                                REQUEUE: st.column_config.CheckboxColumn(REQUEUE, help="Tick to ingest again",
                                                                         width=REQUEUE_WIDTH, pinned=True),
                                **{f: st.column_config.TextColumn(f, width=FIELD_WIDTH) for f in fields},
                                META["quarantined"]: st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm",
                                                                                     timezone="UTC"),
                                META["reason"]: st.column_config.TextColumn(width="medium")})
    st.caption(f"{len(shown):,} of {len(kept):,} rows shown.")
    ticked = edited[edited[REQUEUE]]
    actions = st.container(horizontal=True)
    actions.download_button("Download shown rows (CSV)", lambda: table.drop(columns=REQUEUE).to_csv(index=False),
                            f"{group.name}_quarantine.csv", "text/csv", on_click="ignore", icon=":material/download:",
                            key=f"quarantine_download_{group.name}")
    editor = fs.can("editor", group.name)
    if actions.button(f"Ingest {len(ticked):,} ticked rows again", type="primary", disabled=ticked.empty or not editor,
                      icon=":material/replay:", key=f"quarantine_requeue_{group.name}"):
        with engine_errors():
            report = fs.requeue(group.name, ticked[META["id"]].tolist(), corrected=_corrections(table, ticked))
            st.session_state[f"requeued_{group.name}"] = report
            st.rerun()
    if actions.button(f"Drop {len(ticked):,} ticked rows", disabled=ticked.empty or not editor, icon=":material/delete:",
                      key=f"quarantine_drop_{group.name}"):
        with engine_errors():
            dropped = fs.release_quarantined(group.name, ticked[META["id"]].tolist())
            flash(f"Dropped {dropped:,} rows from the quarantine of {group.name}")
            st.rerun()
    report = st.session_state.pop(f"requeued_{group.name}", None)
    if report is not None:
        outcome(report)
        if report.rows_rejected:
            row_errors(report, key=f"requeue_{group.name}")
    _retention(fs, group)


def _cell(value: Any) -> str | None:
    return None if value is None or pd.isna(value) or value == "" else str(value)


def _corrections(table: pd.DataFrame, ticked: pd.DataFrame) -> dict[int, dict[str, Any]]:
    """The fields the user changed in each ticked row (an emptied cell becomes a null)."""
    fields = [c for c in table.columns if c not in (REQUEUE, *META.values())]
    before = table.set_index(META["id"])[fields]
    out: dict[int, dict[str, Any]] = {}
    for entry, row in ticked.set_index(META["id"])[fields].iterrows():
        changed = {f: _cell(row[f]) for f in fields if _cell(row[f]) != _cell(before.at[entry, f])}
        if changed:
            out[int(entry)] = changed
    return out


def _retention(fs: FeatureStore, group: FeatureGroup) -> None:
    with st.popover("Quarantine retention", icon=":material/schedule:"):
        days = st.number_input("Keep refused rows for (days)", min_value=1.0,
                               value=fs.quarantine_retention(group.name) / 86400, key=f"quarantine_days_{group.name}")
        if st.button("Save", key=f"quarantine_days_save_{group.name}", disabled=not fs.can("owner", group.name)):
            with engine_errors():
                fs.set_quarantine_retention(group.name, days)
                flash(f"Quarantined rows of {group.name} are now kept {days:g} days")
                st.rerun()
