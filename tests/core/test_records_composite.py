"""Record keys of several columns (merchant_id, terminal_id) through every read and write that
takes a key, on every online backend and offline storage: the online rules of test_records hold
per key, and a key that shares one column with another is a different record."""
from __future__ import annotations

import time

import pandas as pd
import pytest

from store import Feature, ValidationError
from tests.conftest import t

# Every test on `fs` runs on a local folder and on S3, and on each online backend.
pytestmark = [pytest.mark.storage, pytest.mark.online]

TERMINALS = [Feature("merchant_id", "String"), Feature("terminal_id", "Integral"), Feature("ts", "String"),
             Feature("amount", "Fractional"), Feature("country", "String")]


@pytest.fixture
def terminals(fs):
    fs.create_feature_group("terminals", ["merchant_id", "terminal_id"], "ts", TERMINALS)
    return "terminals"


def put(fs, merchant, terminal, day, amount, **more):
    fs.put_record("terminals", {"merchant_id": merchant, "terminal_id": terminal, "ts": t(day), "amount": amount,
                                **more})


def test_the_group_keeps_its_key_columns_in_order(fs, terminals):
    g = fs.feature_group(terminals)
    assert g.identifiers == ("merchant_id", "terminal_id")
    with pytest.raises(ValidationError, match="several columns .*merchant_id, terminal_id"):
        g.record_identifier  # noqa: B018 - a composite group has no one identifier column
    fs.create_feature_group("one", ["sid"], "ts", [Feature("sid"), Feature("ts")])
    assert fs.feature_group("one").identifiers == ("sid",)  # a 1-element list is the name
    assert fs.feature_group("one").record_identifier == "sid"


def test_records_sharing_one_key_column_are_distinct(fs, terminals):
    put(fs, "m1", 7, 1, 10.0)
    put(fs, "m1", 8, 1, 20.0)
    put(fs, "m2", 7, 1, 30.0)
    assert fs.get_record(terminals, ("m1", 7))["amount"] == 10.0
    assert fs.get_record(terminals, ["m1", "8"])["amount"] == 20.0  # values coerced per column
    assert fs.get_record(terminals, {"terminal_id": 7, "merchant_id": "m2"})["amount"] == 30.0
    assert fs.get_record(terminals, ("m2", 8)) is None
    found = fs.batch_get_records(terminals, [("m2", 7), ("m9", 1), ("m1", 7), ("m1", 7)])
    assert [(r["merchant_id"], r["terminal_id"], r["amount"]) for r in found] == [("m2", 7, 30.0), ("m1", 7, 10.0)]
    assert fs.batch_get_records(terminals, [("m1", 8)], features=["amount"]) == [{"amount": 20.0}]


def test_newest_event_time_wins_per_key(fs, terminals):
    put(fs, "m1", 7, 5, 50.0)
    put(fs, "m1", 7, 3, 30.0)  # historic: offline only
    put(fs, "m1", 8, 2, 2.0)
    assert fs.get_record(terminals, ("m1", 7))["amount"] == 50.0
    assert list(fs.history(terminals, ("m1", 7))["amount"]) == [30.0, 50.0]
    assert list(fs.history(terminals, ("m1", 8))["amount"]) == [2.0]


def test_deletes_take_the_whole_key(fs, terminals):
    put(fs, "m1", 7, 1, 1.0)
    put(fs, "m1", 8, 1, 2.0)
    assert fs.delete_record(terminals, ("m1", 7), t(2)) == "deleted"
    assert fs.get_record(terminals, ("m1", 7)) is None
    assert fs.get_record(terminals, ("m1", 8))["amount"] == 2.0
    put(fs, "m1", 7, 1, 9.0)  # older than the tombstone: stays out
    assert fs.get_record(terminals, ("m1", 7)) is None
    assert fs.delete_record(terminals, ("m1", 8), t(3), hard=True) == "deleted"
    assert fs.online_record(terminals, ("m1", 8)) is None
    assert fs.list_record_ids(terminals, include_deleted=True) == [("m1", 7)]
    marker = fs.history(terminals, ("m1", 8)).iloc[-1]
    assert bool(marker["is_deleted"]) and marker["merchant_id"] == "m1" and marker["terminal_id"] == 8


def test_list_record_ids_pages_over_whole_keys(fs, terminals):
    keys = [("m1", 1), ("m1", 2), ("m2", 1), ("m3", 5)]
    for merchant, terminal in keys:
        put(fs, merchant, terminal, 1, 1.0)
    listed = fs.list_record_ids(terminals)
    assert sorted(listed) == keys and all(isinstance(k, tuple) for k in listed)
    paged, after = [], None
    while True:
        page = fs.list_record_ids(terminals, after=after, limit=3)
        if not page:
            break
        paged += page
        after = page[-1]
    assert paged == listed


def test_ingest_keeps_the_newest_row_per_key(fs, terminals):
    frame = pd.DataFrame({"merchant_id": ["m1", "m1", "m1", "m2"], "terminal_id": [7, 7, 8, 7],
                          "ts": [t(1), t(2), t(1), t(1)], "amount": [1.0, 2.0, 3.0, 4.0]})
    report = fs.ingest(terminals, frame)
    assert report.rows_written == 4 and report.records_online == 3
    assert fs.get_record(terminals, ("m1", 7))["amount"] == 2.0
    assert fs.get_record(terminals, ("m1", 8))["amount"] == 3.0
    latest = fs.as_of(terminals)
    assert list(zip(latest["merchant_id"], latest["terminal_id"], latest["amount"])) == [
        ("m1", 7, 2.0), ("m1", 8, 3.0), ("m2", 7, 4.0)]
    fs.flush()
    fs.compact(terminals)
    assert fs.as_of(terminals).equals(latest)


def test_as_of_and_known_at_per_key(fs, terminals):
    put(fs, "m1", 7, 1, 1.0)
    put(fs, "m1", 8, 1, 2.0)
    time.sleep(0.01)
    cut = pd.Timestamp.now(tz="UTC")
    time.sleep(0.01)
    put(fs, "m1", 7, 3, 3.0)
    asked = fs.as_of(terminals, event_time=t(2), record_ids=[("m1", 7)])
    assert list(asked["amount"]) == [1.0]
    assert list(fs.as_of(terminals, record_ids=[{"merchant_id": "m1", "terminal_id": 7}])["amount"]) == [3.0]
    known = fs.as_of(terminals, known_at=cut)
    assert list(zip(known["terminal_id"], known["amount"])) == [(7, 1.0), (8, 2.0)]


def test_a_put_needs_every_key_column(fs, terminals):
    with pytest.raises(ValidationError, match="Record identifier 'terminal_id' is required"):
        fs.put_record(terminals, {"merchant_id": "m1", "ts": t(1)})
    report = fs.validate(terminals, pd.DataFrame({"merchant_id": ["m1", None], "terminal_id": [1, 2],
                                                  "ts": [t(1), t(1)]}))
    assert list(report.errors["feature"]) == ["merchant_id"]


@pytest.mark.parametrize("key,message", [
    ("m1", r"several columns \(merchant_id, terminal_id\); give a tuple in that order, e.g. \('a1', 7\)"),
    (("m1",), "has 2 columns .* got 1 values"),
    (("m1", "x"), "Record identifier terminal_id = 'x' is not an integer"),
    ({"merchant_id": "m1", "terminal": 7}, "has no column 'terminal'; its columns are merchant_id, terminal_id"),
    ({"merchant_id": "m1"}, "needs 'terminal_id'"),
])
def test_a_malformed_key_names_the_column_and_the_fix(fs, terminals, key, message):
    with pytest.raises(ValidationError, match=message):
        fs.get_record(terminals, key)


def test_ttl_sweep_writes_whole_key_markers(fs):
    fs.create_feature_group("visits", ["user_id", "item_id"], "ts", [
        Feature("user_id", "Integral"), Feature("item_id", "String"), Feature("ts", "Fractional"),
        Feature("views", "Integral")], ttl=10)
    now = time.time()
    fs.put_record("visits", {"user_id": 1, "item_id": "a", "ts": now - 100, "views": 1})
    fs.put_record("visits", {"user_id": 1, "item_id": "b", "ts": now, "views": 2})
    assert fs.sweep_expired("visits") == 1
    assert fs.online_record("visits", (1, "a")) is None
    assert fs.get_record("visits", (1, "b"))["views"] == 2
    marker = fs.history("visits", (1, "a")).iloc[-1]
    assert bool(marker["is_deleted"]) and marker["ts"] == pytest.approx(now - 90)
