"""Schema tab: the features with types and roles, one feature's description and parameters
edited at a time, new features added, features dropped, renamed or widened (each change a new
definition version, history kept readable), and the group's validation rules: edited as a table,
suggested from the data, previewed on the latest rows before they are saved."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from app.ui import rules_editor
from app.ui.errors import engine_errors
from app.ui.formats import key_values
from app.ui.pickers import pairs_editor
from app.ui.schema_editor import features_editor
from app.ui.session import flash
from store import FeatureGroup, FeatureStore
from store.retrieval.stats import type_label
from store.upload import IngestReport, rules_from_document


def render(fs: FeatureStore, group: FeatureGroup) -> None:
    st.dataframe(
        [{"feature": f.name, "type": type_label(f) + (f"[{f.dimension}]" if f.dimension else ""),
          "role": ("record identifier" if not group.composite
                   else f"record key {group.identifiers.index(f.name) + 1} of {len(group.identifiers)}")
          if f.name in group.identifiers
          else "event time" if f.name == group.event_time else "",
          "description": f.description, "parameters": key_values(f.parameters)} for f in group.features],
        hide_index=True, column_config={"description": st.column_config.TextColumn(width="large")})

    if not fs.can("owner", group.name):
        st.caption(":material/lock: Editing features and rules needs the owner role on this group.")
        st.caption("Rules: " + (", ".join(r["name"] for r in fs.rules(group.name)) or "none"))
        return
    edit, add = st.columns(2, gap="large")
    with edit:
        st.subheader("Edit a feature")
        name = st.selectbox("Feature", group.feature_names, key=f"schema_feature_{group.name}")
        feature = group.feature(name)
        with st.form(f"feature_{group.name}_{name}", border=False):
            description = st.text_input("Description", feature.description, max_chars=255)
            st.caption("Parameters (e.g. unit = USD, source = crm)")
            params = pairs_editor(feature.parameters, key=f"params_{group.name}_{name}")
            if st.form_submit_button("Save feature", type="primary", icon=":material/save:"):
                with engine_errors():
                    fs.update_feature_metadata(group.name, name, description=description, parameters=params,
                                               remove_parameters=[k for k in feature.parameters if k not in params])
                    flash(f"Saved feature {name}")
                    st.rerun()
    with add:
        st.subheader("Add features")
        st.caption("Existing rows read new features as empty.")
        # A data editor keeps its rows under its key: a new key after an add starts an empty one.
        added = st.session_state.get(f"features_added_{group.name}", 0)
        with st.form(f"add_features_{group.name}", border=False):
            specs = features_editor([], key=f"new_features_{group.name}" + (f"_{added}" if added else ""))
            if st.form_submit_button("Add features", icon=":material/add:"):
                with engine_errors():
                    fs.add_features(group.name, specs)
                    st.session_state[f"features_added_{group.name}"] = added + 1
                    flash(f"Added {', '.join(s['name'] for s in specs)} to {group.name}")
                    st.rerun()
    change_features(fs, group)
    st.divider()
    rules(fs, group)


WIDER = {"Integral": ["Fractional", "String"], "Fractional": ["String"], "String": []}


def change_features(fs: FeatureStore, group: FeatureGroup) -> None:
    """Drop, rename or widen features: one new definition version per change."""
    keys = {*group.identifiers, group.event_time}
    others = [f for f in group.features if f.name not in keys]
    with st.expander("Drop, rename or widen features", icon=":material/edit_note:"):
        st.caption(f"Each change is a new definition version (now v{group.version}; see the Overview tab). History "
                   "stays readable: current reads leave a dropped feature out, answer a renamed one under its new "
                   "name and convert a widened one; reads known at an earlier time use the definition of that time. "
                   "The identifier and event time cannot change.")
        drop_col, rename_col, widen_col = st.columns(3, gap="large")
        with drop_col, st.form(f"drop_{group.name}", border=False):
            dropped = st.multiselect("Drop", [f.name for f in others], key=f"drop_pick_{group.name}")
            if st.form_submit_button("Drop features", icon=":material/delete:", disabled=not others):
                with engine_errors():
                    changed = fs.change_features(group.name, drop=dropped)
                    flash(f"Dropped {', '.join(dropped)} from {group.name}: now definition v{changed.version}")
                    st.rerun()
        with rename_col, st.form(f"rename_{group.name}", border=False):
            old = st.selectbox("Rename", [f.name for f in others], key=f"rename_pick_{group.name}")
            new = st.text_input("New name", key=f"rename_to_{group.name}")
            if st.form_submit_button("Rename feature", icon=":material/edit:", disabled=not others):
                with engine_errors():
                    changed = fs.change_features(group.name, rename={old: new.strip()})
                    flash(f"Renamed {old} to {new.strip()}: now definition v{changed.version}")
                    st.rerun()
        widenable = [f for f in others if not f.is_collection and WIDER[f.type]]
        with widen_col:  # no form: the types offered follow the feature picked
            name = st.selectbox("Widen", [f"{f.name} ({f.type})" for f in widenable], key=f"widen_pick_{group.name}")
            feature = name.rsplit(" (", 1)[0] if name else None
            kind = st.selectbox("To type", WIDER[group.feature(feature).type] if feature else [],
                                key=f"widen_to_{group.name}",
                                help="Integral can become Fractional or String, Fractional String; never narrower")
            if st.button("Widen feature", icon=":material/swap_vert:", disabled=not widenable or kind is None):
                with engine_errors():
                    changed = fs.change_features(group.name, retype={feature: kind})
                    flash(f"{feature} is now {kind}: definition v{changed.version}")
                    st.rerun()


def _state(group: FeatureGroup) -> tuple[str, str, str]:
    return f"rules_draft_{group.name}", f"rules_version_{group.name}", f"rules_preview_{group.name}"


def _reset(group: FeatureGroup, draft: list[dict] | None) -> None:
    """Show ``draft`` (None: the saved rules) in a fresh editor: a data editor keeps its own edits
    under its key, so new content needs a new key."""
    draft_key, version_key, _ = _state(group)
    if draft is None:
        st.session_state.pop(draft_key, None)
    else:
        st.session_state[draft_key] = draft
    st.session_state[version_key] = st.session_state.get(version_key, 0) + 1


def rules(fs: FeatureStore, group: FeatureGroup) -> None:
    st.subheader("Validation rules")
    st.caption("Every write applies them: ingest from files and DataFrames, single puts, the HTTP API, the CLI and "
               "the Ingest page. Refused rows go to the quarantine (see the Quality tab). A row rule ignores empty "
               "values except not_null; on lists, between, in, not_in and regex check each element and length "
               "counts the elements.")
    draft_key, version_key, preview_key = _state(group)
    saved = fs.rules(group.name)
    edited = rules_editor.editor(st.session_state.get(draft_key, saved), group.feature_names,
                                 key=f"rules_{group.name}_{st.session_state.get(version_key, 0)}")
    try:
        specs, problem = rules_editor.specs(edited), None
    except ValueError as exc:
        specs, problem = None, str(exc)
    if problem:
        st.error(problem, icon=":material/error:")
    changed = specs != rules_editor.specs(rules_editor.frame(saved))

    left, right = st.columns([3, 1], vertical_alignment="bottom")
    actions = left.container(horizontal=True)
    rows = right.number_input("Preview on the latest rows", min_value=100, max_value=1_000_000, value=10_000,
                              step=1_000, key=f"rules_preview_rows_{group.name}")
    if actions.button("Save rules", type="primary", disabled=not changed or specs is None, icon=":material/save:"):
        with engine_errors():
            stored = fs.set_rules(group.name, specs)
            _reset(group, None)
            flash(f"Saved {len(stored)} rules on {group.name}; every write checks them from now on")
            st.rerun()
    if actions.button("Preview", disabled=specs is None, icon=":material/preview:",
                      help="What these rules would refuse in the rows written last; nothing is written"):
        with engine_errors(), st.spinner("Checking the latest rows…"):
            st.session_state[preview_key] = (specs, fs.preview_rules(group.name, specs, int(rows)))
    if actions.button("Add suggested rules", icon=":material/auto_awesome:",
                      help="Ranges, allowed values, lengths and not-null from a profile of the latest records"):
        with engine_errors():
            suggested = fs.suggest_rules(group.name)
            have = {(r.get("check"), r.get("feature")) for r in specs or []}
            new = [r for r in suggested if (r["check"], r.get("feature")) not in have]
            if new:
                _reset(group, [*(specs or []), *new])
                flash(f"Added {len(new)} suggested rules below the others: preview them, then save")
            else:
                flash("No new suggestions: the rules already cover what the data shows, or the group has too few "
                      "records to suggest from", warning=True)
            st.rerun()
    with actions.popover("Import", icon=":material/file_open:"):
        uploaded = st.file_uploader("A Great Expectations suite or a SageMaker constraints.json", type=["json"],
                                    key=f"rules_import_{group.name}_{st.session_state.get(version_key, 0)}")
        if uploaded is not None:
            with engine_errors():
                imported, skipped = rules_from_document(uploaded.getvalue())
                _reset(group, [*(specs or []), *imported])
                flash(f"Imported {len(imported)} rules below the others: preview them, then save"
                      + (f". Not imported: {'; '.join(skipped)}" if skipped else ""), warning=bool(skipped))
                st.rerun()
    if changed and actions.button("Discard changes", icon=":material/undo:"):
        _reset(group, None)
        st.rerun()

    previewed = st.session_state.get(preview_key)
    if previewed and previewed[0] == specs:
        _preview(previewed[1])


def _preview(report: IngestReport) -> None:
    """What the previewed rules would do to the latest rows."""
    if report.batch_failures:
        for failure in report.batch_failures:
            st.error(f"Rule {failure['rule']} would fail a batch like these rows: {failure['reason']}",
                     icon=":material/block:")
    shown = f"the latest {report.rows_total:,} rows"
    if report.rows_rejected:
        st.warning(f"Of {shown}, these rules would refuse {report.rows_rejected:,}"
                   + (f" and warn about {report.rows_warned:,}" if report.rows_warned else "") + ".",
                   icon=":material/warning:")
    elif report.rows_warned:
        st.warning(f"Of {shown}, these rules would refuse none and warn about {report.rows_warned:,}.",
                   icon=":material/warning:")
    elif not report.batch_failures:
        st.success(f"These rules pass all of {shown}.", icon=":material/check_circle:")
    for warning in report.batch_warnings:
        st.info(f"Rule {warning['rule']} would warn: {warning['reason']}", icon=":material/info:")
    counts = [{"rule": rule, **c} for rule, c in report.rule_counts.items() if any(c.values())]
    if counts:
        st.dataframe(counts, hide_index=True, column_config={
            "rejected": st.column_config.NumberColumn("rows refused", format="localized"),
            "warned": st.column_config.NumberColumn("rows warned", format="localized"),
            "failed_batch": st.column_config.CheckboxColumn("fails the batch")})
    verdicts = [f for f in (report.errors, report.warnings) if f is not None and len(f)]
    if verdicts:
        st.caption("First values at fault")
        st.dataframe(pd.concat(verdicts).drop(columns="row").head(200), hide_index=True)
