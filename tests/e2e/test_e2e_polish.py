"""Studio polish of issue 20 in a real Chromium: a key typed without a value on Create, Overview
and Schema (F2), Add features clearing its editor (F19), a refused ingest (F11), the last ingest
after a reload (F27), statistics in full (F25) and browser Back (F7)."""
from __future__ import annotations

import pandas as pd
from e2e_support import browser, expect, page, pytestmark, settle, shot, studio, studio_server  # noqa: F401

from store import Feature, FeatureStore

SKIP_CHOICE = "Write the valid rows, skip the invalid ones"


def no_crash(page) -> None:
    body = page.locator("body").inner_text()
    assert "Something went wrong" not in body and "Traceback" not in body and "boolean value of NA" not in body


def type_new_row(page, key: str, rows: int, text: str) -> None:
    """Type ``text`` into the first cell of a new row of the data editor ``key`` (which shows
    ``rows`` rows): a click on the empty row below the last adds one."""
    grid = page.locator(f".st-key-{key}").get_by_test_id("stDataFrame")
    grid.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 60, box["y"] + 35 + rows * 35 + 17)  # the header, the rows, half the empty row
    page.wait_for_timeout(500)
    page.keyboard.type(text, delay=30)
    page.keyboard.press("Enter")
    page.wait_for_timeout(500)


def test_01_create_takes_a_tag_key_without_a_value(page, studio_server):
    page.goto("/create")
    settle(page, "Create a feature group")
    page.get_by_role("textbox", name="Name").fill("tagged")
    page.get_by_role("textbox", name="Name").press("Enter")
    settle(page)
    type_new_row(page, "create_tags", 0, "draft")
    settle(page, "has no value: kept with an empty value")
    no_crash(page)
    shot(page, "polish_01_create_key_without_value", full_page=True)
    page.get_by_role("button", name="Create feature group").click()
    settle(page, "is ready")
    with FeatureStore(studio_server.store) as fs:
        assert fs.feature_group("tagged").tags == {"draft": ""}


def test_02_overview_saves_a_tag_without_a_value(page, studio_server):
    with FeatureStore(studio_server.store) as fs:
        tags = fs.feature_group("customers").tags
    page.goto("/group?group=customers")
    settle(page, "Description, tags and TTL")
    page.get_by_role("textbox", name="Description").fill("Profiles, reviewed")
    type_new_row(page, "tags_customers", len(tags), "reviewed")
    page.get_by_role("button", name="Save changes").click()
    settle(page, "Saved changes to customers")
    no_crash(page)
    expect(page.get_by_role("button", name="Save changes")).to_be_visible()  # the form is still there
    expect(page.get_by_text("Delete this feature group")).to_be_visible()
    shot(page, "polish_02_overview_saved", full_page=True)
    with FeatureStore(studio_server.store) as fs:
        group = fs.feature_group("customers")
        assert group.tags == {**tags, "reviewed": ""} and group.description == "Profiles, reviewed"


def test_03_schema_saves_a_parameter_without_a_value_and_add_features_clears(page, studio_server):
    with FeatureStore(studio_server.store) as fs:
        first = fs.feature_group("customers").features[0]
    page.goto("/group?group=customers&tab=Schema")
    settle(page, "Edit a feature")
    type_new_row(page, f"params_customers_{first.name}", len(first.parameters), "pii")
    page.get_by_role("button", name="Save feature").click()
    settle(page, f"Saved feature {first.name}")
    no_crash(page)
    expect(page.get_by_role("button", name="Add features")).to_be_visible()
    with FeatureStore(studio_server.store) as fs:
        assert fs.feature_group("customers").feature(first.name).parameters["pii"] == ""

    type_new_row(page, "new_features_customers", 0, "risk_flag")
    page.get_by_role("button", name="Add features").click()
    settle(page, "Added risk_flag to customers")
    editor = page.locator("[class*='st-key-new_features_customers']").get_by_test_id("stDataFrame")
    expect(editor).not_to_contain_text("risk_flag")  # the editor is empty again
    shot(page, "polish_03_schema_after_add", full_page=True)
    page.get_by_role("button", name="Add features").click()
    settle(page)
    assert "already has a feature" not in page.locator("body").inner_text()
    with FeatureStore(studio_server.store) as fs:
        assert fs.feature_group("customers").feature("risk_flag").type == "String"


def test_04_a_refused_ingest_then_the_last_ingest_after_a_reload(page, tmp_path):
    now = pd.Timestamp.now(tz="UTC").floor("s")
    bad = tmp_path / "bad.csv"
    bad.write_text(f"merchant_id,event_time,risk_score\nM0001,{now:%Y-%m-%dT%H:%M:%SZ},0.5\nM0003,yesterday,0.75\n")
    page.goto("/ingest?group=merchants")
    settle(page, "Upload a file to preview it")
    page.locator("input[type=file]").set_input_files(str(bad))
    settle(page, "Map columns to features")
    page.get_by_role("button", name="Ingest", exact=True).click()
    settle(page, "Nothing was written to 'merchants'")
    error = page.get_by_test_id("stAlertContentError").first
    expect(error).to_contain_text(SKIP_CHOICE)
    expect(error).not_to_contain_text("on_error")
    expect(page.get_by_test_id("stProgress")).to_have_count(0)  # no bar stuck at "Validating…"
    expect(page.get_by_text("Last ingest into merchants from bad.csv: refused")).to_be_visible()
    shot(page, "polish_04a_ingest_refused", full_page=True)

    page.get_by_test_id("stRadioGroup").get_by_text(SKIP_CHOICE).click()
    settle(page)
    page.get_by_role("button", name="Ingest", exact=True).click()
    settle(page, "wrote 1 of 2 rows")
    page.reload()  # a new session: nothing of the old one's state
    settle(page, "Upload a file to preview it")
    expect(page.get_by_text("Last ingest into merchants from bad.csv: 1 of 2 rows written, 1 refused")).to_be_visible()
    no_crash(page)
    shot(page, "polish_04b_ingest_after_reload", full_page=True)


def test_05_statistics_show_amounts_in_full_and_epoch_times_as_dates(page, studio_server):
    with FeatureStore(studio_server.store) as fs:
        fs.create_feature_group("bank_tx", "id", "booked", [Feature("id", "Integral"), Feature("booked", "Fractional"),
                                                            Feature("saldo", "Fractional"),
                                                            Feature("ts_ms", "Integral")])
        booked = [1794000000.0, 1794086400.0, 1794172800.0]
        fs.ingest("bank_tx", pd.DataFrame({"id": [1, 2, 3], "booked": booked, "saldo": [24912.37, -352.18, 11100.5],
                                           "ts_ms": [int(b * 1000) for b in booked]}))
    page.goto("/group?group=bank_tx&tab=Statistics")
    settle(page, "Numeric features")
    table = page.get_by_test_id("stDataFrame").first
    box = table.bounding_box()
    page.mouse.click(box["x"] + 20, box["y"] + 35 + 17)  # focus the grid: it then keeps an accessible copy of its cells
    page.wait_for_timeout(500)
    # The grid's accessible copy: glide-cell-<column>-<row>; columns feature, type, count, nulls,
    # null %, distinct, min (6), max (7), mean (8); rows id, booked (1), saldo (2), ts_ms (3).
    for (column, row), text in {(6, 2): "-352.18", (7, 2): "24,912.37", (8, 2): "11,886.9",
                                (6, 1): "2026-11-06 21:20:00 UTC", (7, 3): "2026-11-08 21:20:00 UTC"}.items():
        expect(table.get_by_test_id(f"glide-cell-{column}-{row}")).to_have_text(text)
    no_crash(page)
    shot(page, "polish_05_statistics", full_page=True)


def view(page) -> tuple[str, str | None, str | None]:
    """(URL path and query, the open tab, the record typed) as the user sees them."""
    tab = page.get_by_role("tab", selected=True)
    record = page.get_by_role("textbox", name="Show every version of a record by customer_id")
    return (page.url.split("/", 3)[3], tab.inner_text() if tab.count() else None,
            record.input_value() if record.count() else None)


def test_06_back_returns_to_each_previous_view_one_per_press(page):
    page.goto("/group?group=customers&tab=History&record=100578")
    settle(page, "Show every version of a record")
    start = view(page)
    assert start == ("group?group=customers&tab=History&record=100578", "History", "100578")
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Ingest", exact=True).click()
    settle(page, "Upload a file")
    page.go_back()
    settle(page, "Show every version of a record")
    assert view(page) == start  # the tab and the record, not the group's Overview

    page.goto("/group?group=customers")
    settle(page, "Configuration")
    steps = [view(page)]
    for tab in ("Statistics", "History"):
        page.get_by_role("tab", name=tab).click()
        settle(page)
        steps.append(view(page))
    box = page.get_by_role("textbox", name="Show every version of a record by customer_id")
    box.fill("100578")
    box.press("Enter")
    settle(page, "versions")
    steps.append(view(page))
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Time travel", exact=True).click()
    settle(page, "As of event time")
    assert [s[1] for s in steps] == ["Overview", "Statistics", "History", "History"]
    for expected in reversed(steps):  # each press goes back exactly one view
        page.go_back()
        settle(page)
        page.wait_for_timeout(500)
        assert view(page)[1:] == expected[1:] and "group=customers" in view(page)[0], (view(page), expected)
    shot(page, "polish_06_back_to_overview")
    page.go_forward()
    settle(page)
    assert view(page)[1] == "Statistics"
