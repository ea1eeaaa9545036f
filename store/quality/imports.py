"""Rules from the files other tools write: a Great Expectations expectation suite (JSON) and a
SageMaker Model Monitor ``constraints.json``. Each gives the rules it could map and, for the rest,
why not, so nothing is silently dropped.

Great Expectations (``expectation_type`` or GX 1.x ``type``, with ``kwargs``):
    expect_column_values_to_not_be_null      -> not_null
    expect_column_values_to_be_between       -> between (min_value / max_value)
    expect_column_values_to_be_in_set        -> in (value_set)
    expect_column_values_to_not_be_in_set    -> not_in (value_set)
    expect_column_values_to_match_regex      -> regex (regex)
    expect_column_value_lengths_to_be_between / _to_equal -> length
    expect_column_values_to_be_unique        -> unique
    expect_table_row_count_to_be_between / _to_equal      -> row_count
    expect_column_mean_to_be_between         -> mean
An expectation with ``mostly`` below 1 tolerates some failures, which a row rule cannot: it
becomes a rule of severity warn. Strict bounds (``strict_min``/``strict_max``) are not mapped.

SageMaker Model Monitor (``features[]``):
    completeness 1.0                          -> not_null; below 1 -> null_fraction max 1 - completeness
    num_constraints.is_non_negative true      -> between min 0
    string_constraints.domains                -> in (the domain)
"""
from __future__ import annotations

import json
import os
from typing import Any

from ..errors import ValidationError

_GX = {
    "expect_column_values_to_not_be_null": "not_null",
    "expect_column_values_to_be_between": "between",
    "expect_column_values_to_be_in_set": "in",
    "expect_column_values_to_not_be_in_set": "not_in",
    "expect_column_values_to_match_regex": "regex",
    "expect_column_value_lengths_to_be_between": "length",
    "expect_column_value_lengths_to_equal": "length",
    "expect_column_values_to_be_unique": "unique",
    "expect_table_row_count_to_be_between": "row_count",
    "expect_table_row_count_to_equal": "row_count",
    "expect_column_mean_to_be_between": "mean",
}


def load(source: Any) -> dict[str, Any]:
    """A parsed document: a dict as it is, a path or JSON text read."""
    if isinstance(source, dict):
        return source
    if isinstance(source, (str, os.PathLike)) and os.path.exists(source):
        with open(source, encoding="utf-8") as fh:
            text = fh.read()
    elif isinstance(source, (str, bytes)):
        text = source.decode() if isinstance(source, bytes) else source
    else:
        raise ValidationError("Rules to import must be a dict, JSON text or the path of a JSON file")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"The rules file is not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict):
        raise ValidationError("The rules file must hold a JSON object (a suite or constraints document)")
    return doc


def detect(doc: dict[str, Any]) -> str:
    if "expectations" in doc:
        return "great_expectations"
    if "features" in doc and isinstance(doc["features"], list):
        return "sagemaker"
    raise ValidationError("Cannot tell the file's kind: a Great Expectations suite has 'expectations', a SageMaker "
                          "constraints.json has 'features'")


def convert(source: Any, kind: str = "auto") -> tuple[list[dict[str, Any]], list[str]]:
    """(rules, what was not imported and why) from a suite or constraints document."""
    doc = load(source)
    kind = detect(doc) if kind == "auto" else kind
    if kind == "great_expectations":
        return _from_gx(doc)
    if kind == "sagemaker":
        return _from_sagemaker(doc)
    raise ValidationError(f"kind={kind!r}: use auto, great_expectations or sagemaker")


def _from_gx(doc: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    rules, skipped = [], []
    for i, exp in enumerate(doc.get("expectations") or [], start=1):
        name = exp.get("expectation_type") or exp.get("type") or "?"
        kwargs = exp.get("kwargs") or {}
        check = _GX.get(name)
        where = f"expectation {i} ({name}{', ' + kwargs['column'] if kwargs.get('column') else ''})"
        if check is None:
            skipped.append(f"{where}: no matching rule")
            continue
        if kwargs.get("strict_min") or kwargs.get("strict_max"):
            skipped.append(f"{where}: strict bounds are not supported (bounds are inclusive)")
            continue
        rule: dict[str, Any] = {"check": check}
        if check != "row_count":
            rule["feature"] = kwargs.get("column")
        if check in ("between", "length", "row_count", "mean"):
            if "value" in kwargs:  # the _to_equal forms
                rule["min"] = rule["max"] = kwargs["value"]
            else:
                rule.update({k: kwargs[g] for k, g in (("min", "min_value"), ("max", "max_value"))
                             if kwargs.get(g) is not None})
        elif check in ("in", "not_in"):
            rule["values"] = list(kwargs.get("value_set") or [])
        elif check == "regex":
            rule["pattern"] = kwargs.get("regex")
        mostly = kwargs.get("mostly")
        if mostly is not None and mostly < 1:
            rule["severity"] = "warn"
            rule["description"] = f"imported with mostly={mostly}: reported, not refused"
        rules.append(rule)
    return rules, skipped


def _from_sagemaker(doc: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    rules, skipped = [], []
    for feature in doc["features"]:
        name = feature.get("name")
        completeness = feature.get("completeness")
        if completeness is not None:
            if completeness >= 1:
                rules.append({"feature": name, "check": "not_null"})
            else:
                rules.append({"feature": name, "check": "null_fraction", "max": round(1 - completeness, 6),
                              "severity": "warn"})
        numbers = feature.get("num_constraints") or {}
        if numbers.get("is_non_negative"):
            rules.append({"feature": name, "check": "between", "min": 0})
        domain = (feature.get("string_constraints") or {}).get("domains")
        if domain:
            rules.append({"feature": name, "check": "in", "values": list(domain)})
        for key in set(feature) - {"name", "inferred_type", "completeness", "num_constraints", "string_constraints"}:
            skipped.append(f"feature {name}: {key} has no matching rule")
    for key in set(doc) - {"version", "features", "monitoring_config"}:
        skipped.append(f"{key}: no matching rule")
    return rules, skipped
