"""Every flow a new user takes, in a real Chromium, with files the suite writes as other tools do:
a month of transactions through Ingest, a boolean export through Create, deep links, the
sidebar after one, deletes, datasets with Integral keys, search, rejected rows, a long query
stopped, time travel across writes, drift and the quarantine, a pipeline defined, previewed, run
and found in the lineage — and no request to any host but the studio's own."""
from __future__ import annotations

import os
import time

import pandas as pd
from datafiles import devices, odd_headers, transactions, write_csv
from e2e_support import (  # noqa: F401 - fixtures
    browser, choose, expect, new_pipeline_form, outside_requests, page, pytestmark, settle, shot, studio,
    studio_server,
)

from store import Feature, FeatureStore

PAGES = ["", "group?group=customers", "group?group=customers&tab=Schema", "group?group=customers&tab=Data",
         "group?group=customers&tab=Statistics", "group?group=customers&tab=Lineage",
         "group?group=customers&tab=Online+lookup&record=100396", "group?group=customers&tab=History&record=100578",
         "lineage", "create", "ingest?group=merchants", "dataset", "datasets", "time_travel?group=merchants", "sql",
         "storage", "monitoring", "group?group=transactions&tab=Quality", "pipelines", "audit", "streams"]


def sidebar(page, name: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=name, exact=True).click()


def upload(page, path: str) -> None:
    page.locator("input[type=file]").set_input_files(path)


def no_traceback(page) -> None:
    body = page.locator("body").inner_text()
    assert "Traceback" not in body and "NoSessionContext" not in body and "Something went wrong" not in body


def test_01_a_month_of_transactions_through_the_ingest_page(page, studio_server, tmp_path):
    path = write_csv(transactions(5000, days=30), tmp_path / "transactions_september.csv")
    page.goto("/ingest?group=transactions")
    settle(page, "Upload a file to preview it")
    upload(page, path)
    settle(page, "Map columns to features")
    page.get_by_role("button", name="Ingest", exact=True).click()
    settle(page, "wrote 5,000 of 5,000 rows")
    expect(page.get_by_test_id("stProgress")).to_contain_text("Done")  # the bar ran to the end
    expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text("wrote 5,000 of 5,000 rows")
    no_traceback(page)
    shot(page, "flow_01_ingest_a_month")
    with FeatureStore(studio_server.store) as fs:
        assert fs.describe("transactions")["offline_rows"] == 11_996 + 5000  # 4 sample rows are quarantined


def test_02_a_boolean_export_through_create_then_ingest(page, tmp_path):
    path = write_csv(devices(200), tmp_path / "devices.csv")
    page.goto("/create")
    settle(page, "Create a feature group")
    page.get_by_text("Sample file", exact=True).click()
    settle(page, "Upload a sample file")
    upload(page, path)
    settle(page, "First rows of devices.csv")
    assert not page.get_by_test_id("stAlertContentError").count()  # nothing is wrong before the user acts
    expect(page.get_by_role("combobox", name="Event time")).to_have_value("seen_at")
    page.get_by_role("textbox", name="Name").fill("devices")
    page.get_by_role("textbox", name="Name").press("Enter")
    settle(page)
    page.get_by_role("button", name="Create feature group").click()
    settle(page, "is ready")
    page.get_by_role("button", name="Ingest the sample file into devices").click()
    settle(page, "wrote 200 of 200 rows")
    expect(page.get_by_test_id("stAlertContentSuccess").last).to_contain_text("wrote 200 of 200 rows")
    shot(page, "flow_02_create_from_booleans")


def test_03_deep_links_name_the_group_or_say_it_is_missing(page, studio_server):
    with FeatureStore(studio_server.store) as fs:
        fs.create_feature_group("gone", "id", "ts", [Feature("id", "Integral"), Feature("ts", "String")])
        fs.delete_feature_group("gone")
    for url, message in (("/group?group=nope", "does not exist"), ("/group?group=gone", "was deleted"),
                         ("/time_travel?group=Customers", "does not exist")):
        page.goto(url)
        settle(page, message)
        assert not page.get_by_role("heading", name="customer_spend").count()  # not another group instead
    expect(page.get_by_role("link", name="Did you mean customers?")).to_be_visible()
    shot(page, "flow_03_missing_group")


def test_04_the_sidebar_keeps_the_group_chosen_by_a_deep_link(page):
    page.goto("/group?group=merchants")
    settle(page, "Configuration")
    for name, text in (("Ingest", "Upload a file"), ("Time travel", "As of event time"), ("Feature group", "Configuration")):
        sidebar(page, name)
        settle(page, text)
        assert "group=merchants" in page.url, page.url
        expect(page.get_by_role("combobox", name="Feature group")).to_have_value("merchants")
    shot(page, "flow_04_sidebar_keeps_group")


def test_05_a_soft_delete_older_than_the_live_version_says_it_changed_nothing_online(page):
    page.goto("/group?group=customers&tab=Online+lookup&record=100396")
    settle(page, "Expires")
    page.get_by_text("Delete this record").click()
    year = page.get_by_role("spinbutton", name="year, Delete as of event time (UTC)")
    expect(year).to_be_visible()
    page.wait_for_timeout(500)  # the expander's opening animation
    year.click()
    page.keyboard.type("2026")
    page.keyboard.type("01")
    page.keyboard.type("01")
    page.keyboard.press("Escape")  # closes the calendar; leaving the field commits the date
    page.get_by_text("A soft delete leaves a tombstone").click()
    settle(page)
    page.get_by_role("button", name="Delete record").click()
    settle(page, "was not deleted online")
    expect(page.get_by_text("live", exact=True)).to_be_visible()
    shot(page, "flow_05_stale_delete_warns")


def test_06_a_dataset_with_integral_keys_and_epoch_times_found_again_on_datasets(page, tmp_path):
    entity = tmp_path / "my_labels.csv"
    entity.write_text("customer_id,label_time,label\n100001,1790000000,1\n100002,1790000000,0\n999999,1790000000,0\n")
    page.goto("/dataset")
    settle(page, "Entity table")
    upload(page, str(entity))
    settle(page, "2. Features")
    groups = page.get_by_role("combobox", name="Feature groups")
    groups.click()
    page.get_by_role("option", name="customers", exact=True).click()
    groups.press("Escape")
    settle(page, "Columns of the dataset")
    expect(page.get_by_role("combobox", name="Entity event-time column")).to_have_value("label_time")
    page.get_by_role("textbox", name="Dataset name").fill("labels_v1")
    page.get_by_role("textbox", name="Dataset name").press("Enter")
    settle(page)
    page.get_by_role("button", name="Build dataset").click()
    settle(page, "recorded in lineage")
    expect(page.get_by_text("Rows without customers")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    lines = open(download.value.path()).read().splitlines()
    assert lines[1].startswith("100001,") and lines[3].startswith("999999,")  # keys stay numbers, unquoted
    shot(page, "flow_06a_dataset")
    sidebar(page, "Datasets")
    settle(page, "Select a dataset")
    page.goto(page.url.split("?")[0] + "?dataset=labels_v1")
    settle(page, "3 rows × 10 columns")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download Parquet").click()
    again = pd.read_parquet(download.value.path())
    assert again["customer_id"].tolist() == [100001, 100002, 999999] and str(again["customer_id"].dtype) == "int64"
    shot(page, "flow_06b_datasets")


def test_07_search_is_literal_and_rejected_rows_download_as_rows(page, tmp_path):
    page.goto("/")
    settle(page, "Feature groups")
    search = page.get_by_role("textbox", name="Search")
    search.fill("%")
    search.press("Enter")
    settle(page, "Nothing matches")
    search.fill("pii=true")
    search.press("Enter")
    settle(page, "1 match —")
    shot(page, "flow_07a_search")
    bad = tmp_path / "rescore.csv"
    bad.write_text("merchant_id,event_time,risk_score\nM0001,2026-11-02T00:00:00Z,0.5\nM0002,yesterday,0.25\n"
                   "M0003,2026-11-02T01:00:00Z,high\n")
    page.goto("/ingest?group=merchants")
    settle(page, "Upload a file")
    upload(page, str(bad))
    settle(page, "Map columns to features")
    page.get_by_text("Write the valid rows, skip the invalid ones").click()
    settle(page)
    page.get_by_role("button", name="Ingest", exact=True).click()
    settle(page, "wrote 1 of 3 rows, rejected 2")
    expect(page.get_by_test_id("stAlertContentWarning")).to_contain_text("wrote 1 of 3 rows")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the rejected rows (CSV)").last.click()
    rows = pd.read_csv(download.value.path())
    assert rows.columns.tolist() == ["line", "merchant_id", "event_time", "risk_score", "error"]
    assert rows["line"].tolist() == [3, 4] and rows["risk_score"].tolist() == ["0.25", "high"]
    shot(page, "flow_07b_rejected_rows")


def test_08_messages_name_what_the_user_typed(page, tmp_path):
    page.goto("/create")
    settle(page, "Create a feature group")
    page.get_by_role("textbox", name="Name").fill("bad name!")
    page.get_by_role("textbox", name="Name").press("Enter")
    settle(page)
    page.get_by_role("button", name="Create feature group").click()
    settle(page, "'bad name!' is invalid")
    broken = tmp_path / "broken.csv"
    broken.write_text('a,b\n"unterminated,1\n')
    page.get_by_text("Sample file", exact=True).click()
    settle(page, "Upload a sample file")
    upload(page, str(broken))
    settle(page, "Cannot read 'broken.csv'")
    assert not page.get_by_role("button", name="Create feature group").count()  # nothing to create from
    odd = write_csv(odd_headers(), tmp_path / "commandes.csv", encoding="cp1252", sep=";")
    upload(page, odd)
    settle(page, "are renamed")
    expect(page.get_by_text("Windows-1252, semicolon-separated")).to_be_visible()
    shot(page, "flow_08_messages")


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_09_a_long_query_is_stopped_and_nothing_leaves_the_machine(page, studio_server, studio):
    page.goto("/sql")
    settle(page, "Views")
    editor = page.get_by_role("textbox", name="Query")
    editor.fill("SELECT count(*) FROM range(100000000) a, range(100000000) b")
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_text("Running for")).to_be_visible(timeout=30_000)
    page.wait_for_timeout(1500)
    page.get_by_role("button", name="Stop", exact=True).click()  # the toolbar's (the page has "Stop the query")
    settle(page)
    time.sleep(1)
    before = _cpu_seconds(studio_server.pid)
    time.sleep(2)
    assert _cpu_seconds(studio_server.pid) - before < 0.8  # DuckDB was interrupted, not left running
    editor.fill("SELECT 42 AS answer")
    page.get_by_role("button", name="Run").click()
    settle(page, "1 rows × 1 columns")
    shot(page, "flow_09_query_stopped")
    assert outside_requests(page, studio) == []


def test_10_time_travel_across_the_demo_corrections(page):
    page.goto("/time_travel?group=merchants")
    settle(page, "As of event time")
    page.get_by_test_id("stSelectbox").filter(has_text="Known at").click()
    page.get_by_role("option").filter(has_text="— 90 rows").click()
    page.get_by_role("button", name="Travel").click()
    settle(page, "Records then")
    page.get_by_role("tab", name="Changes since then").click()
    settle(page, "the changed ones highlighted")
    changed = int(page.get_by_test_id("stMetric").filter(has_text="Changed since").get_by_test_id("stMetricValue")
                  .inner_text().replace(",", ""))
    assert changed > 0  # the late corrections, invisible to what the store knew after the first load
    shot(page, "flow_10_time_travel_known_at")


def test_10b_known_at_a_moment_years_before_the_store(page):
    """A pick more than ten years back (outside Streamlit's default range for a date input, which
    silently swapped it for the default) is kept: the store knew nothing then."""
    page.goto("/time_travel?group=merchants")
    settle(page, "As of event time")
    page.get_by_test_id("stSelectbox").filter(has_text="Known at").click()
    page.get_by_role("option").filter(has_text="a moment I pick").click()
    page.get_by_role("spinbutton", name="year, Known at (UTC), for a moment you pick").click()
    page.keyboard.type("2005")
    page.keyboard.press("Tab")
    page.get_by_role("button", name="Travel").click()
    settle(page, "Records then")
    then = page.get_by_test_id("stMetric").filter(has_text="Records then").get_by_test_id("stMetricValue")
    expect(then).to_have_text("0")
    expect(page.get_by_test_id("stDateTimeInput").filter(has_text="for a moment you pick")).to_contain_text("2005")


def test_11_every_page_renders_without_errors_or_outside_requests(page, studio):
    for url in PAGES:
        page.goto("/" + url)
        settle(page)
        page.wait_for_timeout(500)
        no_traceback(page)
        assert not page.get_by_test_id("stException").count(), url
        shot(page, "page_" + (url.replace("?", "_").replace("&", "_").replace("=", "-").replace("+", "_") or "catalog"))
    assert outside_requests(page, studio) == []


def test_12_a_drifted_day_found_and_a_quarantined_row_corrected(page, studio_server):
    from app.app_pages.group_tabs.quality import FIELD_WIDTH, REQUEUE_WIDTH

    page.goto("/monitoring?group=transactions")
    settle(page, "Drift by window")
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
    caption = page.get_by_test_id("stCaptionContainer").filter(has_text="against the")
    expect(caption).to_contain_text("amount, window ending")  # the worst square of the latest window
    shot(page, "flow_12a_monitoring")
    first = page.get_by_test_id("stPlotlyChart").nth(1).locator("path.point").first
    first.scroll_into_view_if_needed()
    first.click(force=True)
    settle(page)
    expect(caption).not_to_contain_text("Click a square above")  # a square was chosen
    shot(page, "flow_12b_drift_clicked")

    page.goto("/group?group=transactions&tab=Quality")
    settle(page, "Quarantine")
    grid = page.get_by_test_id("stDataFrame").last
    grid.scroll_into_view_if_needed()
    page.wait_for_timeout(1000)  # charts above finish their layout
    box = grid.bounding_box()
    row = box["y"] + 35 + 17  # the header, then half of the first row
    with FeatureStore(studio_server.store) as fs:
        entry = fs.quarantine("transactions").iloc[0]
        amount_at = list(entry["record"]).index("amount")
    page.mouse.dblclick(box["x"] + REQUEUE_WIDTH + amount_at * FIELD_WIDTH + FIELD_WIDTH / 2, row)
    page.wait_for_timeout(500)  # the cell's editor opens
    page.keyboard.press("Control+A")
    page.keyboard.type("123.45", delay=50)
    page.wait_for_timeout(500)  # the editor takes the typed value before Enter commits it
    shot(page, "flow_12c_editing")
    page.keyboard.press("Enter")
    # The grid's accessible copy shows what the editor holds: wait for the edit before the tick.
    expect(grid.get_by_test_id(f"glide-cell-{1 + amount_at}-0")).to_have_text("123.45")
    settle(page)
    page.mouse.click(box["x"] + REQUEUE_WIDTH / 2, row)
    settle(page, "Ingest 1 ticked rows again")
    expect(grid.get_by_test_id(f"glide-cell-{1 + amount_at}-0")).to_have_text("123.45")
    page.get_by_role("button", name="Ingest 1 ticked rows again").click()
    settle(page, "wrote 1 of 1 rows")
    no_traceback(page)
    shot(page, "flow_12d_requeued")
    with FeatureStore(studio_server.store) as fs:
        assert fs.get_record("transactions", entry["record"]["transaction_id"])["amount"] == 123.45
        assert entry["id"] not in set(fs.quarantine("transactions")["id"])


def test_13_a_pipeline_defined_previewed_run_and_seen_in_the_lineage(page, studio_server):
    form = new_pipeline_form(page, "big_spenders", "customer_spend", "transactions")
    sql = form.get_by_role("textbox", name="SQL (DuckDB)")
    sql.fill("SELECT customer_id, count(*) AS txn_count_7d, sum(amount) AS spend_7d, max(_event_time) AS event_time\n"
             "FROM transactions WHERE amount > {{min_amount}} GROUP BY customer_id")
    sql.press("Tab")
    form.get_by_role("textbox", name="Parameters (JSON)").fill('{"min_amount": 1000}')
    form.get_by_role("textbox", name="Parameters (JSON)").press("Tab")
    settle(page)
    form.get_by_role("button", name="Preview").click()
    settle(page, "Every row fits the target's features, types and rules.")
    shot(page, "flow_13a_pipeline_preview")
    form.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="big_spenders")).to_be_visible(timeout=60_000)  # its detail, under the list
    settle(page)
    page.get_by_role("button", name="Run now").click()
    settle(page, "Run detail")
    expect(page.get_by_test_id("stMetric").filter(has_text="Status")).to_contain_text("succeeded")
    no_traceback(page)
    shot(page, "flow_13b_pipeline_ran", full_page=True)
    with FeatureStore(studio_server.store) as fs:
        run = fs.pipeline_runs("big_spenders").iloc[0]
        assert run["status"] == "succeeded" and run["rows_out"] > 0
    page.goto("/lineage")
    settle(page)
    expect(page.locator("svg").filter(has_text="big_spenders").first).to_be_visible()
    shot(page, "flow_13c_lineage")


def test_14_a_name_typed_before_a_broken_sample_survives_it(page, tmp_path):
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b'a,b\n"unterminated,1\n')
    good = write_csv(devices(20), tmp_path / "devices.csv")
    page.goto("/create")
    settle(page, "Create a feature group")
    page.get_by_role("textbox", name="Name").fill("typed_first")
    page.get_by_role("textbox", name="Name").press("Enter")
    settle(page)
    page.get_by_text("Sample file", exact=True).click()
    settle(page, "Upload a sample file")
    upload(page, str(broken))
    settle(page, "Cannot read")
    upload(page, good)
    settle(page, "First rows of devices.csv")
    expect(page.get_by_role("textbox", name="Name")).to_have_value("typed_first")
