"""Validation rules: parsing, verdicts on every write path (bulk and single, the same), quarantine,
requeue, validation runs, suggestions."""
from __future__ import annotations

import datetime as dt
import os
import re

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store import Feature, FeatureStore, IngestRejected, NotFound, ValidationError
from store.model import record as record_typing
from store.model.rules import parse

pytestmark = pytest.mark.registry  # every test on `fs` runs with the store's tables in SQLite and in PostgreSQL

T = "2024-01-01T00:00:00Z"
FEATURES = [Feature("id", "Integral"), Feature("ts", "String"), Feature("amount", "Fractional"),
            Feature("qty", "Integral"), Feature("currency", "String"), Feature("refund", "Fractional"),
            Feature("tags", "String", collection="List"), Feature("scores", "Integral", collection="List")]


@pytest.fixture
def tx(fs):
    fs.create_feature_group("tx", "id", "ts", FEATURES)
    return "tx"


def frame(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame({"id": range(1, n + 1), "ts": [T] * n, **columns})


@pytest.mark.parametrize("spec,message", [
    ({"check": "nope", "feature": "amount"}, "check 'nope' is not one of"),
    ({"check": "not_null"}, "needs a feature"),
    ({"check": "not_null", "feature": "missing"}, "has no feature 'missing'"),
    ({"check": "between", "feature": "amount"}, "needs min, max or both"),
    ({"check": "between", "feature": "amount", "min": 5, "max": 1}, "min 5 is above max 1"),
    ({"check": "between", "feature": "currency", "min": 1}, "applies to numbers"),
    ({"check": "in", "feature": "qty", "values": ["x"]}, "value 'x' is not an integer"),
    ({"check": "regex", "feature": "currency", "pattern": "(?=a)"}, "RE2 syntax"),
    ({"check": "expression", "sql": "sum(amount) > 0"}, "aggregates rows"),
    ({"check": "expression", "sql": "nope > 1"}, "not a row-level boolean"),
    ({"check": "row_count", "min": 1, "severity": "reject_row"}, "cannot reject one row"),
    ({"check": "unique", "feature": "tags"}, "unique does not apply"),
    ({"check": "not_null", "feature": "amount", "severity": "loud"}, "severity 'loud'"),
    ({"check": "not_null", "feature": "amount", "color": 1}, r"unknown keys \['color'\]"),
])
def test_bad_rules_are_refused_naming_the_rule(fs, tx, spec, message):
    with pytest.raises((ValidationError, NotFound), match=message):
        fs.set_rules(tx, [{"name": "r1", **spec}])
    assert fs.rules(tx) == []


def test_rules_get_names_and_severities(fs, tx):
    stored = fs.set_rules(tx, [{"feature": "amount", "check": "not_null"}, {"feature": "amount", "check": "not_null"},
                               {"check": "row_count", "min": 1}, {"check": "between", "feature": "qty", "min": 0.5}])
    assert [(r["name"], r["severity"]) for r in stored] == [
        ("amount_not_null", "reject_row"), ("amount_not_null_2", "reject_row"), ("row_count", "fail_batch"),
        ("qty_between", "reject_row")]
    assert stored[3]["min"] == 0.5
    assert fs.rules(tx) == stored


def test_ingest_refuses_rows_by_rule_warns_and_quarantines(fs, tx):
    fs.set_rules(tx, [{"feature": "amount", "check": "between", "min": 0},
                      {"feature": "currency", "check": "in", "values": ["USD", "EUR"]},
                      {"feature": "currency", "check": "regex", "pattern": "^[A-Z]+$", "severity": "warn"},
                      {"check": "expression", "sql": "refund <= amount", "name": "refund_le_amount"},
                      {"feature": "tags", "check": "in", "values": ["a", "b"]},
                      {"feature": "scores", "check": "length", "max": 2}])
    report = fs.ingest(tx, frame(amount=[1.0, -1.0, 5.0, 5.0, 5.0, 5.0], currency=["USD", "USD", "GBP", "EUR", "usd", "EUR"],
                                 refund=[None, None, 9.0, None, None, None], tags=[["a"], None, None, ["c"], None, None],
                                 scores=[None, None, None, None, None, [1, 2, 3]]), on_error="skip")
    assert (report.rows_written, report.rows_rejected, report.rows_warned) == (1, 5, 1)
    assert report.errors[["row", "rule"]].values.tolist() == [
        [1, "amount_between"], [2, "currency_in"], [2, "refund_le_amount"], [3, "tags_in"], [4, "currency_in"],
        [5, "scores_length"]]
    assert report.warnings[["row", "rule"]].values.tolist() == [[4, "currency_regex"]]
    quarantined = fs.quarantine(tx)
    assert len(quarantined) == 5 and set(quarantined["position"]) == {"row 1", "row 2", "row 3", "row 4", "row 5"}
    row2 = quarantined.set_index("position").loc["row 2"]
    assert row2["rules"] == "currency_in,refund_le_amount" and row2["record"]["refund"] == 9.0
    assert fs.get_record(tx, 1) is not None and fs.get_record(tx, 2) is None


def test_batch_rules_fail_or_warn_the_whole_batch(fs, tx):
    fs.set_rules(tx, [{"check": "row_count", "min": 3},
                      {"check": "null_fraction", "feature": "refund", "max": 0.5, "severity": "warn"},
                      {"check": "mean", "feature": "amount", "max": 100}])
    with pytest.raises(IngestRejected, match="rule row_count fails the batch"):
        fs.ingest(tx, frame(amount=[1.0, 2.0]))
    with pytest.raises(IngestRejected, match="rule amount_mean fails the batch.*it is 500"):
        fs.ingest(tx, frame(amount=[500.0] * 3), on_error="skip")  # whatever on_error says
    assert fs.describe(tx)["offline_rows"] == 0
    report = fs.ingest(tx, frame(amount=[1.0, 2.0, 3.0], refund=[None, None, 1.0]))
    assert report.rows_written == 3 and [w["rule"] for w in report.batch_warnings] == ["refund_null_fraction"]
    runs = fs.validation_runs(tx)
    assert runs["outcome"].tolist() == ["written", "refused", "refused"]
    fs.set_rules(tx, [{"check": "row_count", "min": 1}, {"feature": "amount", "check": "between", "min": 0}])
    report = fs.ingest(tx, frame(amount=[-1.0, -2.0]), on_error="skip")  # row_count counts the rows received
    assert report.rows_written == 0 and not report.batch_failures and len(fs.quarantine(tx)) == 2


def test_a_fail_batch_row_rule_refuses_the_batch(fs, tx):
    fs.set_rules(tx, [{"feature": "qty", "check": "not_null", "severity": "fail_batch"}])
    with pytest.raises(IngestRejected, match="qty_not_null"):
        fs.ingest(tx, frame(amount=[1.0, 2.0], qty=[1, None]), on_error="skip")
    assert fs.quarantine(tx).empty  # the caller has the rows back; nothing was partly written


def test_puts_apply_the_same_row_rules_and_quarantine_what_they_refuse(fs, tx):
    fs.set_rules(tx, [{"feature": "amount", "check": "between", "min": 0},
                      {"feature": "currency", "check": "length", "min": 3, "max": 3, "severity": "warn"},
                      {"check": "row_count", "min": 10}])  # batch rules do not judge single puts
    with pytest.raises(ValidationError) as err:
        fs.put_record(tx, {"id": 1, "ts": T, "amount": -2.5}, source="crm-sync")
    assert "amount = -2.5 breaks rule amount_between" in str(err.value) and err.value.context["rule"] == "amount_between"
    fs.put_record(tx, {"id": 2, "ts": T, "amount": 2.5, "currency": "EURO"})  # warned, written
    with pytest.raises(ValidationError, match="is not a number"):
        fs.put_record(tx, {"id": 3, "ts": T, "amount": "lots"})
    q = fs.quarantine(tx)
    assert q[["source", "rules", "position"]].values.tolist() == [["python-sdk", "type", "put"],
                                                                 ["crm-sync", "amount_between", "put"]]
    assert q["record"].iloc[1] == {"id": 1, "ts": T, "amount": -2.5}
    runs = fs.validation_runs(tx)
    puts = runs[runs["kind"] == "puts"]
    assert puts["rows_checked"].sum() == 3 and puts["rows_written"].sum() == 1 and puts["rows_rejected"].sum() == 2
    assert puts["rows_warned"].sum() == 1


def test_requeue_writes_fixed_rows_and_release_drops(fs, tx):
    fs.set_rules(tx, [{"feature": "amount", "check": "between", "min": 0}])
    fs.ingest(tx, frame(amount=[-1.0, -2.0, 3.0], tags=[["x"], None, None]), on_error="skip")
    ids = fs.quarantine(tx)["id"].tolist()
    with pytest.raises(IngestRejected):
        fs.requeue(tx, ids, on_error="reject")  # still refused: back in quarantine as they were
    assert len(fs.quarantine(tx)) == 2
    fs.set_rules(tx, [{"feature": "amount", "check": "between", "min": -5}])
    ids = fs.quarantine(tx)["id"].tolist()
    report = fs.requeue(tx, ids)
    assert report.rows_written == 2 and fs.quarantine(tx).empty and fs.get_record(tx, 1)["tags"] == ["x"]
    fs.set_rules(tx, [{"feature": "amount", "check": "between", "min": 0}])
    fs.put_record(tx, {"id": 1, "ts": T, "amount": 1.0})
    with pytest.raises(ValidationError):
        fs.put_record(tx, {"id": 9, "ts": T, "amount": -9.0})
    assert fs.release_quarantined(tx, fs.quarantine(tx)["id"]) == 1 and fs.quarantine(tx).empty
    with pytest.raises(NotFound, match=r"no entries \[12345\]"):
        fs.requeue(tx, [12345])


def test_quarantine_retention(fs, tx, monkeypatch):
    fs.set_rules(tx, [{"feature": "amount", "check": "not_null"}])
    fs.ingest(tx, frame(amount=[None, 1.0]), on_error="skip")
    fs.set_quarantine_retention(tx, dt.timedelta(days=1))
    fs.compact(tx)
    assert len(fs.quarantine(tx)) == 1
    import time

    later = time.time_ns() + 2 * 86400 * 10**9
    monkeypatch.setattr(time, "time_ns", lambda: later)
    fs.compact(tx)
    assert fs.quarantine(tx).empty


def test_rules_survive_a_reopen_and_apply_in_other_processes(tmp_path):
    with FeatureStore(tmp_path / "s") as a, FeatureStore(tmp_path / "s") as b:
        a.create_feature_group("g", "id", "ts", [Feature("id", "Integral"), Feature("ts", "String"),
                                                 Feature("v", "Integral")])
        b.put_record("g", {"id": 1, "ts": T, "v": -1})  # b has compiled no rules yet
        a.set_rules("g", [{"feature": "v", "check": "between", "min": 0}])
        with pytest.raises(ValidationError, match="v_between"):
            b.put_record("g", {"id": 2, "ts": T, "v": -1})


def test_suggestions_come_from_the_latest_records(fs, tx):
    n = 60
    fs.ingest(tx, frame(amount=[float(i) for i in range(n)], qty=list(range(n)), currency=["USD", "EUR"] * (n // 2),
                        refund=[None] * n))
    suggested = fs.suggest_rules(tx)
    assert {"feature": "amount", "check": "between", "min": 0.0, "max": 59.0} in suggested
    assert {"feature": "currency", "check": "in", "values": ["EUR", "USD"]} in suggested
    assert {"feature": "amount", "check": "not_null"} in suggested
    assert not [r for r in suggested if r["feature"] == "refund"]
    fs.set_rules(tx, suggested)  # suggestions are valid rules as they come
    preview = fs.quality_check(tx, frame(amount=[100.0], currency=["GBP"]), suggested)
    assert set(preview.errors["rule"]) == {"amount_between", "currency_in", "qty_not_null"}


# ----------------------------------------------------------------------------- bulk vs single


STRINGS = st.one_of(st.none(), st.text(max_size=6), st.sampled_from(["USD", "usd", "a\n", "é", "Ω1", "ab12", "x y"]))
rows = st.fixed_dictionaries({
    "amount": st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from([0.0, -0.0, 2.5])),
    "qty": st.one_of(st.none(), st.integers(-2**40, 2**40), st.integers(-3, 3)),
    "currency": STRINGS,
    "refund": st.one_of(st.none(), st.floats(-10, 10, allow_nan=False)),
    "tags": st.one_of(st.none(), st.lists(st.sampled_from(["a", "b", "é", "USD", "x\n"]), max_size=3)),
    "scores": st.one_of(st.none(), st.lists(st.integers(-5, 5), max_size=4)),
})
rule_specs = st.one_of(
    st.builds(lambda f: {"check": "not_null", "feature": f}, st.sampled_from(["amount", "qty", "currency", "tags"])),
    st.builds(lambda f, lo, hi: {"check": "between", "feature": f, "min": min(lo, hi), "max": max(lo, hi)},
              st.sampled_from(["amount", "qty", "refund", "scores"]), st.floats(-100, 100), st.floats(-100, 100)),
    st.builds(lambda f, vals, neg: {"check": "not_in" if neg else "in", "feature": f, "values": vals},
              st.just("currency"), st.lists(st.sampled_from(["USD", "usd", "é", "", "a\n"]), min_size=1), st.booleans()),
    st.builds(lambda vals: {"check": "in", "feature": "qty", "values": vals}, st.lists(st.integers(-3, 3), min_size=1)),
    st.builds(lambda vals: {"check": "not_in", "feature": "amount", "values": vals},
              st.lists(st.sampled_from([0.0, 2.5, -1.0]), min_size=1)),
    st.builds(lambda f, p: {"check": "regex", "feature": f, "pattern": p}, st.sampled_from(["currency", "tags"]),
              st.sampled_from([r"^[A-Z]{3}$", r"\d", r"^\w+$", r"(?i)usd", r"a$", r"^.$", r"\s", r"é"])),
    st.builds(lambda f, lo, hi: {"check": "length", "feature": f, "min": lo, "max": hi},
              st.sampled_from(["currency", "tags", "scores"]), st.integers(0, 2), st.integers(2, 4)),
    st.builds(lambda sql: {"check": "expression", "sql": sql},
              st.sampled_from(["refund <= amount", "qty > 0 OR currency = 'USD'", "len(tags) < 2", "amount * 2 > qty"])),
)


@settings(max_examples=150 * int(os.environ.get("PROPERTY_SCALE", "1")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(specs=st.lists(rule_specs, min_size=1, max_size=6), data=st.lists(rows, min_size=1, max_size=12))
def test_bulk_and_single_record_verdicts_are_the_same(fs, specs, data):
    if "tx" not in {g.name for g in fs.list_feature_groups()}:
        fs.create_feature_group("tx", "id", "ts", FEATURES)
    g = fs.feature_group("tx")
    fs.set_rules("tx", [{**s, "severity": "warn" if i % 2 else "reject_row"} for i, s in enumerate(specs)])
    rules = parse(g, fs.rules("tx"))
    batch = pd.DataFrame([{"id": i, "ts": T, **r} for i, r in enumerate(data)])
    report = fs.validate("tx", batch)
    bulk: dict[int, set[str]] = {i: set() for i in range(len(data))}
    for frame_ in (report.errors, report.warnings):
        for row, rule in frame_[["row", "rule"]].itertuples(index=False):
            assert rule != "type", f"row {row} of {data} has a type error"
            bulk[row].add(rule)
    checker = fs._ctx.group("tx")[1]["checker"]
    for i, r in enumerate(data):
        values, _ = record_typing.typed(g, {f.name: f for f in g.features}, {"id": i, "ts": T, **r})
        single = {rule.name for rule in checker.failures(values)}
        assert single == bulk[i], f"row {r} under {[x.to_dict() for x in rules]}: bulk {bulk[i]}, single {single}"


def test_a_pattern_over_a_large_batch_of_few_distinct_values_gives_every_row_its_verdict(fs):
    """Past 50,000 rows of few distinct values the pattern runs once per value: the verdicts must
    be the row-by-row ones, nulls passing."""
    import pyarrow as pa

    from store.model.rules import _element_fails

    words = ["USD", "usd", "É", None, "EUR", "GB"]
    values = pa.array([words[i % len(words)] for i in range(60_000)])
    fs.create_feature_group("tx", "id", "ts", FEATURES)
    [rule] = parse(fs.feature_group("tx"), [{"check": "regex", "feature": "currency", "pattern": r"^[A-Z]{3}$"}])
    fails = _element_fails(rule, values)
    expected = [w is not None and re.fullmatch(r"[A-Z]{3}", w) is None for w in values.to_pylist()]
    assert fails.fill_null(False).to_pylist() == expected
    assert sum(expected) == 30_000
