"""Rules imported from a Great Expectations suite and a SageMaker Model Monitor constraints.json."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from store import Feature, FeatureStore, ValidationError
from store.cli import main

pytestmark = pytest.mark.registry  # every test on `fs` runs with the store's tables in SQLite and in PostgreSQL

SUITE = {  # as Great Expectations 0.18 writes one (expectation_type; GX 1.x writes "type")
    "expectation_suite_name": "transactions.warning",
    "expectations": [
        {"expectation_type": "expect_column_values_to_not_be_null", "kwargs": {"column": "amount"}},
        {"expectation_type": "expect_column_values_to_be_between",
         "kwargs": {"column": "amount", "min_value": 0, "max_value": 50000}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "currency", "value_set": ["USD", "EUR"]}},
        {"expectation_type": "expect_column_values_to_match_regex",
         "kwargs": {"column": "merchant", "regex": "^M[0-9]{4}$", "mostly": 0.95}},
        {"expectation_type": "expect_column_value_lengths_to_equal", "kwargs": {"column": "currency", "value": 3}},
        {"expectation_type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
        {"expectation_type": "expect_column_mean_to_be_between",
         "kwargs": {"column": "amount", "min_value": 1, "max_value": 900}},
        {"expectation_type": "expect_column_values_to_be_between",
         "kwargs": {"column": "amount", "min_value": 0, "strict_min": True}},
        {"expectation_type": "expect_column_kl_divergence_to_be_less_than", "kwargs": {"column": "amount"}},
    ],
    "meta": {"great_expectations_version": "0.18.12"},
}
CONSTRAINTS = {  # as SageMaker Model Monitor's suggest_baseline writes constraints.json
    "version": 0.0,
    "features": [
        {"name": "amount", "inferred_type": "Fractional", "completeness": 1.0,
         "num_constraints": {"is_non_negative": True}},
        {"name": "currency", "inferred_type": "String", "completeness": 0.98,
         "string_constraints": {"domains": ["USD", "EUR", "GBP"]}},
    ],
    "monitoring_config": {"evaluate_constraints": "Enabled", "emit_metrics": "Enabled"},
}


@pytest.fixture
def fs(tmp_path):
    with FeatureStore(tmp_path / "store") as store:
        store.create_feature_group("tx", "id", "ts", [Feature("id", "Integral"), Feature("ts", "String"),
                                                      Feature("amount", "Fractional"), Feature("currency", "String"),
                                                      Feature("merchant", "String")])
        yield store


def test_a_great_expectations_suite_maps_what_it_can_and_says_what_not(fs):
    result = fs.import_rules("tx", SUITE)
    assert [(r["check"], r.get("feature"), r["severity"]) for r in result["rules"]] == [
        ("not_null", "amount", "reject_row"), ("between", "amount", "reject_row"), ("in", "currency", "reject_row"),
        ("regex", "merchant", "warn"), ("length", "currency", "reject_row"), ("row_count", None, "fail_batch"),
        ("mean", "amount", "fail_batch")]
    assert result["rules"][4]["min"] == result["rules"][4]["max"] == 3
    assert [s.split(":")[0] for s in result["skipped"]] == [
        "expectation 8 (expect_column_values_to_be_between, amount)",
        "expectation 9 (expect_column_kl_divergence_to_be_less_than, amount)"]
    report = fs.validate("tx", pd.DataFrame({"id": [1, 2], "ts": ["2026-01-01T00:00:00Z"] * 2, "amount": [-1.0, 5.0],
                                             "currency": ["USD", "EUR"], "merchant": ["nope", "M0001"]}))
    assert report.errors["rule"].tolist() == ["amount_between"] and report.warnings["rule"].tolist() == ["merchant_regex"]


def test_a_sagemaker_constraints_file_and_the_cli(fs, tmp_path):
    path = tmp_path / "constraints.json"
    path.write_text(json.dumps(CONSTRAINTS))
    fs.set_rules("tx", [{"feature": "merchant", "check": "not_null"}])
    r = CliRunner().invoke(main, ["rules", "tx", "--import", str(path), "--store", fs.path])
    assert r.exit_code == 0, r.output
    assert [(x["check"], x.get("feature")) for x in json.loads(r.stdout)] == [
        ("not_null", "merchant"), ("not_null", "amount"), ("between", "amount"), ("null_fraction", "currency"),
        ("in", "currency")]
    fs.close()
    with FeatureStore(fs.path) as again:
        assert again.rules("tx")[3]["max"] == pytest.approx(0.02) and again.rules("tx")[3]["severity"] == "warn"


def test_a_file_of_another_kind_or_a_bad_rule_stores_nothing(fs):
    with pytest.raises(ValidationError, match="Cannot tell the file's kind"):
        fs.import_rules("tx", {"something": []})
    with pytest.raises(ValidationError, match="is not JSON"):
        fs.import_rules("tx", "{not json")
    bad = {"expectations": [{"expectation_type": "expect_column_values_to_not_be_null", "kwargs": {"column": "nope"}}]}
    with pytest.raises(Exception, match="nope"):
        fs.import_rules("tx", bad)
    assert fs.rules("tx") == []
