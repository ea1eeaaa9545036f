"""Rules on a group keyed by several columns: ``unique`` without a feature holds the record key
(all its columns together) unique in a batch; every key column is required; drift and
suggestions leave the key columns out."""
from __future__ import annotations

import pandas as pd
import pytest

from store import Feature, ValidationError

pytestmark = pytest.mark.registry  # every test on `fs` runs with the store's tables in SQLite and in PostgreSQL

TERMINALS = [Feature("merchant_id", "String"), Feature("terminal_id", "Integral"), Feature("ts", "String"),
             Feature("amount", "Fractional")]


@pytest.fixture
def terminals(fs):
    fs.create_feature_group("terminals", ["merchant_id", "terminal_id"], "ts", TERMINALS)
    return "terminals"


def batch(keys: list[tuple], amounts: list[float] | None = None) -> pd.DataFrame:
    return pd.DataFrame({"merchant_id": [k[0] for k in keys], "terminal_id": [k[1] for k in keys],
                         "ts": ["2026-10-01T00:00:00Z"] * len(keys), "amount": amounts or [1.0] * len(keys)})


def test_unique_without_a_feature_holds_the_whole_key(fs, terminals):
    assert fs.set_rules(terminals, [{"check": "unique"}]) == [
        {"name": "key_unique", "check": "unique", "severity": "reject_row"}]
    report = fs.ingest(terminals, batch([("m1", 1), ("m1", 2), ("m2", 1), ("m1", 1)]), on_error="skip")
    assert report.rows_written == 3 and list(report.errors["row"]) == [3]
    assert list(report.errors["rule"]) == ["key_unique"]
    assert "the record key unique" in report.errors["reason"][0]


def test_unique_on_one_key_column_is_that_column_alone(fs, terminals):
    fs.set_rules(terminals, [{"check": "unique", "feature": "merchant_id", "severity": "warn"}])
    report = fs.ingest(terminals, batch([("m1", 1), ("m1", 2), ("m2", 1)]))
    assert report.rows_written == 3 and report.rows_warned == 1


def test_every_key_column_is_required(fs, terminals):
    frame = batch([("m1", 1), ("m1", 2), ("m2", 3)]).astype({"terminal_id": "Int64"})
    frame.loc[1, "terminal_id"] = pd.NA
    frame.loc[2, "merchant_id"] = None
    report = fs.validate(terminals, frame)
    assert sorted(report.errors["feature"]) == ["merchant_id", "terminal_id"]
    assert all("every record needs an identifier" in r for r in report.errors["reason"])
    with pytest.raises(ValidationError, match="needs its record identifier"):
        fs.ingest(terminals, frame.drop(columns=["terminal_id"]))


def test_suggestions_leave_the_key_columns_alone(fs, terminals):
    keys = [(f"m{i % 7}", i) for i in range(200)]
    fs.ingest(terminals, batch(keys, [float(i % 50) for i in range(200)]))
    suggested = {(r["feature"], r["check"]) for r in fs.suggest_rules(terminals)}
    assert ("amount", "between") in suggested
    assert not {c for f, c in suggested if f in ("merchant_id", "terminal_id") and c != "not_null"}
