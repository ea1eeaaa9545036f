"""Quality counts that reconcile (issue 20, F5): a messy file ingested once with on_error="reject"
(refused: nothing written) and once with "skip", then 4 quarantined rows ingested again (3
corrected). Invalid rows and valid rows held back with a refused batch are counted apart, so
rows checked = written + invalid + held back, the per-rule failures add up to the invalid rows,
and the Quality tab says so."""
from __future__ import annotations

import pandas as pd
import pytest
from studio_support import ok, page, seeded_template, studio_store, texts  # noqa: F401

from store import Feature, FeatureStore, IngestRejected

T = "2026-11-01T00:00:00Z"


def messy(rows: int = 203, bad: tuple[int, ...] = (3, 40, 77, 120, 160, 200)) -> pd.DataFrame:
    """A customer export in which a few ages are not numbers."""
    return pd.DataFrame({"customer_id": [str(i) for i in range(rows)], "event_time": [T] * rows,
                         "age": ["n/a" if i in bad else str(20 + i % 50) for i in range(rows)]})


def load_messy(fs: FeatureStore) -> None:
    fs.create_feature_group("messy_customers", "customer_id", "event_time",
                            [Feature("customer_id", "String"), Feature("event_time", "String"),
                             Feature("age", "Integral")])
    with pytest.raises(IngestRejected, match="6 of 203 rows are invalid"):
        fs.ingest("messy_customers", messy(), source="customers_messy.csv")
    assert fs.ingest("messy_customers", messy(), on_error="skip", source="customers_messy.csv").rows_written == 197
    kept = fs.quarantine("messy_customers")
    ids = kept["id"].tolist()[:4]
    report = fs.requeue("messy_customers", ids, corrected={i: {"age": "33"} for i in ids[:3]})
    assert (report.rows_written, report.rows_rejected) == (3, 1)


def test_refused_batches_count_invalid_rows_apart_from_valid_rows_held_back(tmp_path):
    with FeatureStore(tmp_path / "s") as fs:
        load_messy(fs)
        runs = fs.validation_runs("messy_customers").iloc[::-1]  # oldest first
        assert runs[["outcome", "rows_checked", "rows_written", "rows_rejected", "rows_held_back"]].values.tolist() == [
            ["refused", 203, 0, 6, 197], ["partial", 203, 197, 6, 0], ["partial", 4, 3, 1, 0]]
        totals = runs[["rows_checked", "rows_written", "rows_rejected", "rows_held_back"]].sum()
        assert totals.tolist() == [410, 200, 13, 197] and totals.iloc[0] == totals.iloc[1:].sum()
        type_failures = sum(r.get("type", {}).get("rejected", 0) for r in runs["per_rule"])
        assert type_failures == totals["rows_rejected"] == 13  # the per-rule table adds up to the invalid rows
        assert len(fs.quarantine("messy_customers")) == 3  # 6 kept by the skip, 4 taken back, 1 refused again


def test_the_quality_tab_reconciles(studio_store):
    with FeatureStore(studio_store) as fs:
        load_messy(fs)
    at = ok(page("group", group="messy_customers", tab="Quality"))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows checked"] == "410" and metrics["Rows written"] == "200"
    assert metrics["Invalid rows"] == "13" and metrics["Valid rows held back"] == "197"
    assert metrics["In quarantine"] == "3" and "Rows refused" not in metrics
    assert "410 rows checked = 200 written (0 with a warning) + 13 invalid + 197 valid rows held back" in texts(at)
    per_rule = at.dataframe[0].value
    assert per_rule[["rule", "rejected"]].values.tolist() == [["type", 13]]
