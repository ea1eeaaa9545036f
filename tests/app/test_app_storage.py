"""Storage page, the layout and retention choices on Create, and storage on the Overview tab."""
from __future__ import annotations

from studio_support import button, fs, ok, page, seeded_template, studio_store, texts  # noqa: F401


def test_storage_lists_groups_largest_first_and_compacts_on_demand(fs):
    at = ok(page("storage"))
    table = at.dataframe(key="storage_groups").value
    assert table["total"].tolist() == sorted(table["total"], reverse=True)
    assert set(table["group"]) == {g.name for g in fs.list_feature_groups()}
    assert {m.label for m in at.metric} >= {"Online store", "Offline store", "Offline files"}
    fs.put_record("merchants", {"merchant_id": "M0909", "event_time": "2026-11-01T00:00:00Z"})
    fs.put_record("merchants", {"merchant_id": "M0908", "event_time": "2026-11-01T00:00:00Z"})
    fs.flush()
    fs.put_record("merchants", {"merchant_id": "M0907", "event_time": "2026-11-01T00:00:00Z"})
    fs.flush()
    files = fs.describe("merchants")["offline_files"]
    at.selectbox(key="storage_compact_group").set_value("merchants")
    ok(button(at, "Compact now").click().run())
    assert fs.describe("merchants")["offline_files"] < files
    assert at.toast[0].value.startswith("Compacted merchants")


def test_create_sets_the_layout_and_retention(fs):
    at = page("create")
    at.text_input(key="create_name").set_value("monthly")
    at.selectbox(key="create_partition_by").set_value("month")
    at.number_input(key="create_retention").set_value(90.0)
    ok(button(at, "Create feature group").click().run())
    group = fs.feature_group("monthly")
    assert group.partition_by == "month" and group.offline_retention_seconds == 90 * 86400


def test_overview_shows_storage_and_edits_retention(fs):
    at = ok(page("group", group="transactions"))
    shown = texts(at)
    assert "partitioned by day" in shown and "all history kept" in shown and "Oldest event kept" in shown
    assert at.get("plotly_chart")  # growth per day
    at.number_input[1].set_value(365.0)
    ok(button(at, "Save changes").click().run())
    assert fs.feature_group("transactions").offline_retention_seconds == 365 * 86400
