"""The studio's engine additions (store/stats.py, store/explore.py) against brute-force pandas
answers computed from the store's own reads."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from store import Feature, ValidationError
from store.retrieval import browse as explore, stats
from store.model.schema import FEATURE_TYPES

FEATURES = [Feature("id", "Integral"), Feature("event_time", "String"), Feature("amount", "Fractional"),
            Feature("qty", "Integral"), Feature("colour", "String"), Feature("labels", "String", collection="List")]


def t(day: int, hour: int = 0) -> str:
    return f"2024-01-{day:02d}T{hour:02d}:00:00Z"


@pytest.fixture
def group(fs):
    fs.create_feature_group("orders", "id", "event_time", FEATURES)
    rows = [
        {"id": 1, "event_time": t(1), "amount": 10.0, "qty": 1, "colour": "red", "labels": ["a", "b"]},
        {"id": 1, "event_time": t(3), "amount": 30.0, "qty": 3, "colour": "blue", "labels": ["a"]},
        {"id": 2, "event_time": t(2), "amount": None, "qty": 2, "colour": "red", "labels": None},
        {"id": 3, "event_time": t(2, 5), "amount": 5.5, "qty": 2, "colour": None, "labels": []},
        {"id": 4, "event_time": t(5), "amount": 99.0, "qty": 9, "colour": "green", "labels": ["c"]},
    ]
    fs.ingest("orders", pd.DataFrame(rows))
    fs.delete_record("orders", 3, t(4))
    fs.put_record("orders", {"id": 2, "event_time": t(6), "amount": 7.0, "qty": 1, "colour": "red"})
    return "orders"


def _history(fs, group):
    return fs.query(f"SELECT * FROM {group} WHERE NOT is_deleted")


@pytest.mark.parametrize("scope", [stats.HISTORY, stats.LATEST])
def test_summary_matches_pandas(fs, group, scope):
    rows = _history(fs, group) if scope == stats.HISTORY else fs.as_of(group)
    summary = stats.summary(fs._ctx, group, scope).set_index("feature")
    assert list(summary.index) == [f.name for f in FEATURES]
    for name in ("amount", "qty"):
        col = rows[name].astype("float64")
        got = summary.loc[name]
        assert got["count"] == col.count() and got["nulls"] == col.isna().sum()
        assert got["distinct"] == col.nunique()
        assert math.isclose(got["mean"], col.mean()) and math.isclose(got["median"], col.median())
        assert float(got["min"]) == col.min() and float(got["max"]) == col.max()
    colour = summary.loc["colour"]
    assert colour["count"] == rows["colour"].count() and colour["distinct"] == rows["colour"].nunique()
    assert colour["top_values"].split(", ")[0] == rows["colour"].value_counts().index[0]
    assert summary.loc["labels", "type"] == "List<String>" and pd.isna(summary.loc["labels", "mean"])
    assert pd.isna(summary.loc["id", "top_values"])  # identifiers are not ranked


def test_summary_rejects_an_unknown_scope(fs, group):
    with pytest.raises(ValidationError, match="scope"):
        stats.summary(fs._ctx, group, "everything")


def test_numeric_histogram_counts_every_value(fs, group):
    d = stats.distribution(fs._ctx, group, "amount", bins=4)
    history = _history(fs, group)["amount"]
    assert d.kind == "histogram" and d.values == history.count() and d.nulls == history.isna().sum()
    assert d.table["count"].sum() == d.values and len(d.table) == 4
    assert d.table["start"].iloc[0] == history.min() and math.isclose(d.table["end"].iloc[-1], history.max())


def test_small_integer_ranges_get_one_bar_per_value(fs, group):
    d = stats.distribution(fs._ctx, group, "qty")
    assert list(d.table["start"]) == list(range(1, 10)) and d.table["count"].sum() == d.values


def test_top_values_and_collection_elements(fs, group):
    colour = stats.distribution(fs._ctx, group, "colour", top=1)
    assert colour.kind == "top" and list(colour.table["value"]) == ["red"]
    assert colour.other == colour.values - colour.table["count"].iloc[0]
    labels = stats.distribution(fs._ctx, group, "labels")  # elements of the lists, not the lists
    assert dict(zip(labels.table["value"], labels.table["count"])) == {"a": 2, "b": 1, "c": 1}


def test_over_time_counts_rows_and_delete_markers_per_bucket(fs, group):
    series = stats.over_time(fs._ctx, group, "amount")
    assert series.interval == "6 hours"  # 5 days at most 120 buckets
    table = series.table
    assert table["rows"].sum() == len(_history(fs, group)) and table["deletes"].sum() == 1
    day3 = table[table["bucket"] == pd.Timestamp(t(3))].iloc[0]
    assert day3["mean"] == day3["p05"] == day3["p95"] == day3["max"] == 30.0
    strings = stats.over_time(fs._ctx, group, "colour").table
    assert {"non_null", "distinct"} <= set(strings.columns)
    assert stats.over_time(fs._ctx, group, max_buckets=10).interval == "day"


def test_latest_page_pages_through_records(fs, group):
    first = explore.latest_page(fs._ctx, group, limit=2, offset=0)
    second = explore.latest_page(fs._ctx, group, limit=2, offset=2)
    assert first.total == len(fs.as_of(group)) == 3
    assert list(first.rows["id"]) + list(second.rows["id"]) == [1, 2, 4]


def test_latest_page_of_an_offline_only_group(fs):
    fs.create_feature_group("archive", "id", "event_time", FEATURES[:3], online=False)
    fs.ingest("archive", pd.DataFrame({"id": [2, 1, 2], "event_time": [t(1), t(1), t(2)], "amount": [1.0, 2.0, 3.0]}))
    page = explore.latest_page(fs._ctx, "archive", limit=10)
    assert page.total == 2 and page.rows.to_dict("list") == {"id": [1, 2], "event_time": [t(1), t(2)],
                                                              "amount": [2.0, 3.0]}


def test_time_travel_diff_against_a_brute_force_comparison(fs, group):
    travel = explore.time_travel(fs._ctx, group, event_time=t(3, 12))
    then, now = fs.as_of(group, event_time=t(3, 12)).set_index("id"), fs.as_of(group).set_index("id")
    assert travel.total == len(then) and list(travel.records["id"]) == list(then.index)
    expected = {"added": len(now.index.difference(then.index)), "deleted": len(then.index.difference(now.index))}
    assert {k: travel.counts[k] for k in expected} == expected == {"added": 1, "deleted": 1}
    changed = travel.diff.set_index("id")
    assert changed.loc[2, "change"] == "changed" and pd.isna(changed.loc[2, "amount (as of)"])
    assert changed.loc[2, "amount (now)"] == 7.0 and "amount" in changed.loc[2, "changed"]
    assert travel.counts["unchanged"] == 1  # id 1: its t(3) version is still the latest
    assert len(fs.query(travel.sql)) == travel.total  # the SQL shown runs on the SQL page as it is
    assert fs.query(travel.diff_sql)["change"].value_counts().to_dict() == {
        k: v for k, v in travel.counts.items() if v}


def test_time_travel_known_at_hides_later_writes(fs, group):
    before = fs.describe(group)["last_write_us"]
    fs.put_record(group, {"id": 9, "event_time": t(1), "amount": 1.0})
    late = explore.time_travel(fs._ctx, group, event_time=t(10), known_at=before / 1e6)
    assert 9 not in set(late.records["id"]) and late.counts["added"] == 1
    assert "write_time <=" in late.sql


def test_every_feature_type_has_statistics(fs):
    features = [Feature("id", "String"), Feature("event_time", "Fractional")] + [
        Feature(f"f_{kind.lower()}", kind) for kind in FEATURE_TYPES]
    fs.create_feature_group("typed", "id", "event_time", features)
    fs.ingest("typed", pd.DataFrame({"id": ["a", "b"], "event_time": [1.0, 2.0], "f_integral": [1, None],
                                     "f_fractional": [0.5, 1.5], "f_string": ["x", "x"]}))
    summary = stats.summary(fs._ctx, "typed").set_index("feature")
    assert summary.loc["f_integral", "nulls"] == 1 and summary.loc["f_string", "top_values"] == "x"
    assert stats.over_time(fs._ctx, "typed").table["rows"].sum() == 2
