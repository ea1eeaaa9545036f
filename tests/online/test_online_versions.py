"""Definition changes on every online backend: rows stored before a drop, rename or widening read
under the new definition, writes after it land in it, and a write recorded under the old version
but applied after the change (an outbox entry in flight) lands whole."""
from __future__ import annotations

import pandas as pd
import pytest

from store import Feature

pytestmark = pytest.mark.online

FEATURES = [Feature("id", "String"), Feature("ts", "String"), Feature("qty", "Integral"),
            Feature("price", "Fractional"), Feature("note", "String"), Feature("tags", "String", collection="List")]


def test_rows_read_under_each_new_version(fs):
    fs.create_feature_group("orders", "id", "ts", FEATURES)
    prices = [2.0, 0.1, 1e16, 1e15, 123.456]
    fs.ingest("orders", pd.DataFrame({"id": [f"o{i}" for i in range(5)], "ts": "2026-03-01T00:00:00Z",
                                      "qty": [1, 2, 3, 4, 5], "price": prices, "note": "n", "tags": [["a"]] * 5}))
    fs.change_features("orders", rename={"qty": "quantity"}, retype={"price": "String"}, drop=["note"])
    expected = {f"o{i}": {"id": f"o{i}", "ts": "2026-03-01T00:00:00Z", "quantity": i + 1, "price": repr(p),
                          "tags": ["a"]} for i, p in enumerate(prices)}
    assert {i: fs.get_record("orders", i) for i in expected} == expected
    assert fs.batch_get_records("orders", list(expected)) == list(expected.values())
    assert fs.get_record("orders", "o1", features=["price"]) == {"price": "0.1"}

    fs.change_features("orders", retype={"quantity": "Fractional"})
    fs.add_features("orders", [Feature("note", "String")])  # a new feature: the dropped one's values stay gone
    fs.put_record("orders", {"id": "o9", "ts": "2026-03-02T00:00:00Z", "quantity": 2.5, "price": "007", "note": "new"})
    assert fs.get_record("orders", "o0") == {**expected["o0"], "quantity": 1.0}
    assert isinstance(fs.get_record("orders", "o0")["quantity"], float)
    assert fs.get_record("orders", "o9") == {"id": "o9", "ts": "2026-03-02T00:00:00Z", "quantity": 2.5,
                                             "price": "007", "note": "new"}
    assert sorted(fs.list_record_ids("orders")) == ["o0", "o1", "o2", "o3", "o4", "o9"]
    # Offline reads agree with online ones.
    latest = fs.as_of("orders").set_index("id")
    assert latest.loc["o2", "price"] == repr(1e16) and latest.loc["o0", "quantity"] == 1.0
    assert pd.isna(latest.loc["o0", "note"]) and latest.loc["o9", "note"] == "new"


def test_integers_widened_to_fractional_then_to_text_read_as_the_floats_they_became(fs):
    """Integral, then Fractional, then String: a value is the float it became before it was text,
    online and offline alike (10**12 reads '1000000000000.0', as a Fractional 1e12 written later)."""
    fs.create_feature_group("orders", "id", "ts", FEATURES)
    fs.put_record("orders", {"id": "o1", "ts": "2026-03-01T00:00:00Z", "qty": 10**12, "price": 1.0})
    fs.put_record("orders", {"id": "o3", "ts": "2026-03-01T00:00:00Z", "qty": 7, "price": 1.0})
    fs.change_features("orders", retype={"qty": "Fractional"})
    fs.put_record("orders", {"id": "o2", "ts": "2026-03-01T00:00:00Z", "qty": 1e12, "price": 1.0})
    fs.change_features("orders", retype={"qty": "String", "price": "String"})
    online = {i: fs.get_record("orders", i)["qty"] for i in ("o1", "o2", "o3")}
    offline = fs.as_of("orders").set_index("id")["qty"].to_dict()
    assert online == offline == {"o1": "1000000000000.0", "o2": "1000000000000.0", "o3": "7.0"}


def test_a_write_recorded_before_a_change_and_applied_after_it_lands_whole(fs, monkeypatch):
    """As if the process died between committing a put and applying it to an outside backend: the
    entry waits in the outbox while another caller changes the definition, and is applied (by
    recovery) to the table or records of the new version."""
    fs.create_feature_group("orders", "id", "ts", FEATURES)
    fs.put_record("orders", {"id": "o1", "ts": "2026-03-01T00:00:00Z", "qty": 1, "price": 1.0, "note": "a"})
    ctx = fs._ctx
    monkeypatch.setattr(ctx.online, "after_commit", lambda: None)
    fs.put_record("orders", {"id": "o2", "ts": "2026-03-01T00:00:00Z", "qty": 2, "price": 2.0, "note": "b"})
    pending = getattr(ctx.online, "_local", None)
    if pending is not None:
        pending.pending = []  # the process that recorded it is gone
    monkeypatch.undo()
    fs.change_features("orders", rename={"qty": "quantity"}, retype={"price": "String"}, drop=["note"])
    ctx.online.recover(ctx.db)
    assert fs.get_record("orders", "o2") == {"id": "o2", "ts": "2026-03-01T00:00:00Z", "quantity": 2, "price": "2.0"}
    assert fs.get_record("orders", "o1") == {"id": "o1", "ts": "2026-03-01T00:00:00Z", "quantity": 1, "price": "1.0"}


def test_a_group_keyed_by_two_columns_changes_as_one_keyed_by_one(fs):
    fs.create_feature_group("lines", ["order_id", "line"], "ts",
                            [Feature("order_id", "String"), Feature("line", "Integral"), Feature("ts", "String"),
                             Feature("price", "Fractional"), Feature("qty", "Integral"), Feature("note", "String")])
    fs.ingest("lines", pd.DataFrame({"order_id": ["o1", "o1", "o2"], "line": [1, 2, 1],
                                     "ts": "2026-03-01T00:00:00Z", "price": [2.0, 1e16, 0.1], "qty": [1, 2, 3],
                                     "note": ["a", "b", "c"]}))
    fs.put_record("lines", {"order_id": "o2", "line": 2, "ts": "2026-03-01T00:00:00Z", "price": 5.0, "qty": 9})
    fs.change_features("lines", rename={"qty": "quantity"}, retype={"price": "String"}, drop=["note"])
    assert fs.get_record("lines", ("o1", 2)) == {"order_id": "o1", "line": 2, "ts": "2026-03-01T00:00:00Z",
                                                 "price": "1e+16", "quantity": 2}
    assert [r["price"] for r in fs.batch_get_records("lines", [("o1", 1), ("o2", 1), ("o2", 2)])] == ["2.0", "0.1", "5.0"]
    latest = fs.as_of("lines").set_index(["order_id", "line"])
    assert latest.loc[("o2", 2), "price"] == "5.0" and latest.loc[("o1", 1), "quantity"] == 1
    with pytest.raises(Exception, match="record identifier"):
        fs.change_features("lines", rename={"line": "line_no"})
