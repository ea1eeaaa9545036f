"""Validation rules as an editable table: one row per rule, the columns a rule can use (each check
reads the ones it needs), and back to the JSON-shaped rules the store takes."""
from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from store.model.rules import BATCH_CHECKS, ROW_CHECKS, SEVERITIES

COLUMNS = ["check", "feature", "min", "max", "values", "pattern or SQL", "severity", "name", "description"]
DEFAULT = "(default)"  # severity: reject_row for row rules, fail_batch for batch rules
CHECK_HELP = ("not_null, between (min/max), in and not_in (values), regex (pattern), length (min/max), unique, "
              "expression (SQL over the row's features); batch rules: row_count, null_fraction, mean (min/max)")


def _values_text(values: list[Any]) -> str:
    """Allowed values as 'USD, EUR'; as a JSON list when a value holds a comma or is not text."""
    if all(isinstance(v, str) and "," not in v and v == v.strip() for v in values):
        return ", ".join(values)
    return json.dumps(values)


def _text_values(text: str) -> list[Any]:
    text = text.strip()
    if text.startswith("["):
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"values {text!r} start like a JSON list but are not one ({exc.msg}); write "
                             "them as a, b, c or as a JSON list") from None
        return values if isinstance(values, list) else [values]
    return [v.strip() for v in text.split(",") if v.strip()]


def frame(rules: list[dict[str, Any]]) -> pd.DataFrame:
    rows = [{"check": r.get("check"), "feature": r.get("feature"), "min": r.get("min"), "max": r.get("max"),
             "values": _values_text(r["values"]) if r.get("values") else None,
             "pattern or SQL": r.get("pattern") or r.get("sql"), "severity": r.get("severity") or DEFAULT,
             "name": r.get("name"), "description": r.get("description")} for r in rules]
    out = pd.DataFrame(rows, columns=COLUMNS)
    return out.astype({"min": "Float64", "max": "Float64", **{c: "string" for c in COLUMNS if c not in ("min", "max")}})


def _blank(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value) or \
        (isinstance(value, str) and not value.strip())


def specs(edited: pd.DataFrame) -> list[dict[str, Any]]:
    """The edited rows as rule specs; empty rows are dropped, the store judges the rest. Raises
    ValueError naming the row for what the table itself cannot say (values that are not a list)."""
    out = []
    for i, row in enumerate(edited.to_dict("records"), start=1):
        if all(_blank(row.get(c)) for c in COLUMNS if c != "severity"):
            continue
        spec: dict[str, Any] = {}
        for key in ("check", "feature", "name", "description"):
            if not _blank(row.get(key)):
                spec[key] = str(row[key]).strip()
        for key in ("min", "max"):
            if not _blank(row.get(key)):
                number = float(row[key])
                spec[key] = int(number) if number.is_integer() else number
        if not _blank(row.get("values")):
            try:
                spec["values"] = _text_values(str(row["values"]))
            except ValueError as exc:
                raise ValueError(f"Rule {i}: {exc}") from None
        text = row.get("pattern or SQL")
        if not _blank(text):
            spec["sql" if spec.get("check") == "expression" else "pattern"] = str(text)
        if not _blank(row.get("severity")) and row["severity"] != DEFAULT:
            spec["severity"] = row["severity"]
        out.append(spec)
    return out


def editor(rules: list[dict[str, Any]], features: list[str], key: str) -> pd.DataFrame:
    """The rules table, with rows to add and delete."""
    return st.data_editor(
        frame(rules), key=key, num_rows="dynamic", hide_index=True, width="stretch",
        column_config={
            "check": st.column_config.SelectboxColumn("check", options=[*ROW_CHECKS, *BATCH_CHECKS], required=True,
                                                      help=CHECK_HELP),
            "feature": st.column_config.SelectboxColumn("feature", options=features,
                                                        help="Empty for expression and row_count"),
            "min": st.column_config.NumberColumn("min", help="Inclusive; a length or a share for length and "
                                                             "null_fraction"),
            "max": st.column_config.NumberColumn("max", help="Inclusive"),
            "values": st.column_config.TextColumn("values", help="For in / not_in: USD, EUR, GBP (or a JSON list)"),
            "pattern or SQL": st.column_config.TextColumn(
                "pattern or SQL", help="regex: a pattern, searched (anchor it with ^...$); expression: a "
                                       "condition such as refund_amount <= amount", width="medium"),
            "severity": st.column_config.SelectboxColumn(
                "severity", options=[DEFAULT, *SEVERITIES],
                help="reject_row: refuse the row (row rules' default); fail_batch: write nothing of the batch "
                     "(batch rules' default); warn: write and report"),
            "name": st.column_config.TextColumn("name", help="Generated as <feature>_<check> when empty"),
            "description": st.column_config.TextColumn("description", width="medium"),
        })
