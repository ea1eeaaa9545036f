"""Data quality in the studio: the rule editor on the Schema tab, the Quality tab (runs, failures
per rule, the quarantine corrected and ingested again), the Monitoring page and rule verdicts on
the Ingest page."""
from __future__ import annotations

import json

import pandas as pd
from studio_support import button, edits, fs, ok, page, seeded_template, studio_store, texts  # noqa: F401

from store.retrieval.browse import latest_writes


def test_rule_editor_previews_then_saves(fs):
    at = ok(page("group", group="merchants", tab="Schema"))
    assert button(at, "Save rules").disabled  # nothing changed yet
    at.session_state["rules_merchants_0"] = edits(edited={"2": {"max": 0.2}})  # risk_score between 0 and 0.2
    ok(at.run())
    ok(button(at, "Preview").click().run())
    scores = latest_writes(fs._ctx, "merchants").column("risk_score").to_pandas()
    assert f"these rules would refuse {int((scores > 0.2).sum()):,}" in texts(at)
    assert at.dataframe[-2].value.to_dict("records") == [
        {"rule": "risk_score_between", "rejected": int((scores > 0.2).sum()), "warned": 0, "failed_batch": 0}]
    ok(button(at, "Save rules").click().run())
    assert fs.rules("merchants")[2]["max"] == 0.2 and at.toast[0].value.startswith("Saved 3 rules")


def test_rule_editor_names_a_bad_rule_and_adds_suggestions(fs):
    at = page("group", group="merchants", tab="Schema")
    at.session_state["rules_merchants_0"] = edits(added=[{"check": "in", "feature": "category", "values": "[food"}])
    at.run()
    assert "Rule 4: values '[food' start like a JSON list" in at.error[0].value and button(at, "Save rules").disabled
    at.session_state["rules_merchants_0"] = edits(added=[{"check": "between", "feature": "name", "min": 1}])
    button(at.run(), "Save rules").click().run()
    assert "between applies to numbers; 'name' is String" in at.error[0].value and len(fs.rules("merchants")) == 3
    at = page("group", group="merchants", tab="Schema")
    ok(button(at, "Add suggested rules").click().run())
    assert "suggested rules below the others" in at.toast[0].value
    ok(button(at, "Save rules").click().run())
    checks = {(r["check"], r.get("feature")) for r in fs.rules("merchants")}
    assert ("in", "category") in checks and ("regex", "merchant_id") in checks  # suggestions joined the 3 rules


def test_quality_tab_shows_runs_and_requeues_corrected_rows(fs):
    at = ok(page("group", group="transactions", tab="Quality"))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["In quarantine"] == "4" and metrics["Invalid rows"] == "4"
    per_rule = at.dataframe[0].value
    assert per_rule[["rule", "rejected"]].values.tolist() == [["amount_between", 4]]
    kept = fs.quarantine("transactions")
    key = f"quarantine_transactions_{hash(tuple(kept['id']))}"
    first, second = kept["record"].iloc[0]["transaction_id"], kept["record"].iloc[1]["transaction_id"]
    at.session_state[key] = edits(edited={"0": {"ingest again": True, "amount": "123.45"}, "1": {"ingest again": True}})
    ok(at.run())
    ok(button(at, "Ingest 2 ticked rows again").click().run())
    assert "wrote 1 of 2 rows, rejected 1" in texts(at)  # the uncorrected one is refused again
    assert fs.get_record("transactions", first)["amount"] == 123.45 and fs.get_record("transactions", second) is None
    left = fs.quarantine("transactions")
    assert len(left) == 3 and second in {r["transaction_id"] for r in left["record"]}
    at.session_state[f"quarantine_transactions_{hash(tuple(left['id']))}"] = edits(edited={"0": {"ingest again": True}})
    ok(at.run())
    ok(button(at, "Drop 1 ticked rows").click().run())
    assert len(fs.quarantine("transactions")) == 2


def test_quarantine_filters_and_download(fs):
    at = page("group", group="transactions", tab="Quality")
    at.text_input(key="quarantine_text_transactions").set_value("no such value").run()
    assert "0 of 4 rows shown." in texts(at)
    at.text_input(key="quarantine_text_transactions").set_value("").run()
    at.multiselect(key="quarantine_rules_transactions").set_value(["amount_between"]).run()
    assert "4 of 4 rows shown." in texts(at) and at.get("download_button")


def test_monitoring_page_shows_alerts_freshness_and_drift(fs):
    at = ok(page("monitoring"))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Groups monitored"] == "3 of 4" and int(metrics["Alerts"]) >= 2
    alerts = at.dataframe[0].value
    assert ("transactions", "amount") in set(zip(alerts["group"], alerts["feature"]))
    fresh = at.dataframe(key="monitoring_fresh").value
    assert dict(zip(fresh["group"], fresh["status"])) == {"customer_spend": "ok", "customers": "ok",
                                                          "merchants": "no expectation", "transactions": "ok"}
    assert len(at.get("plotly_chart")) == 3  # volume, the drift squares, the two distributions
    assert "window ending" in texts(at) and "alert" in texts(at)


def test_monitoring_sets_up_a_monitor(fs):
    at = page("monitoring", group="merchants")
    assert "merchants has no monitor: set one up" in [e.label for e in at.expander]
    at.number_input[0].set_value(48.0)
    ok(button(at, "Save monitor").click().run())
    assert fs.monitor("merchants")["expected_interval"] == 48 * 3600
    assert fs.freshness("merchants")["status"] in ("ok", "late")


def test_ingest_page_shows_rule_verdicts_before_writing(fs):
    rows = pd.DataFrame({"transaction_id": ["X1", "X2", "X3"], "customer_id": [100001] * 3,
                         "merchant_id": ["M0001", "M0002", "oops"], "amount": [10.0, 20.0, 30.0],
                         "currency": ["USD", "XXX", "EUR"], "category": ["grocery"] * 3, "channel": ["online"] * 3,
                         "event_time": ["2026-11-01T00:00:00Z"] * 3})
    at = page("ingest", group="transactions")
    at.file_uploader(key="ingest_file").upload("t.csv", rows.to_csv(index=False).encode(), "text/csv").run()
    button(at, "Validate").click().run()
    assert "2 of 3 rows are invalid" in at.error[0].value
    errors = at.dataframe[-1].value
    assert errors[["line", "feature", "rule"]].values.tolist() == [[3, "currency", "currency_in"],
                                                                   [4, "merchant_id", "merchant_id_regex"]]


def test_rule_editor_imports_a_suite_for_review(fs):
    suite = {"expectations": [
        {"expectation_type": "expect_column_values_to_be_in_set",
         "kwargs": {"column": "category", "value_set": ["grocery", "travel"]}},
        {"expectation_type": "expect_column_kl_divergence_to_be_less_than", "kwargs": {"column": "risk_score"}}]}
    at = page("group", group="merchants", tab="Schema")
    at.file_uploader(key="rules_import_merchants_0").upload("suite.json", json.dumps(suite).encode(),
                                                             "application/json").run()
    assert "Imported 1 rules" in at.warning[0].value and "kl_divergence" in at.warning[0].value
    assert len(fs.rules("merchants")) == 3  # imported into the editor, not saved yet
    ok(button(at, "Save rules").click().run())
    assert fs.rules("merchants")[3]["values"] == ["grocery", "travel"]
