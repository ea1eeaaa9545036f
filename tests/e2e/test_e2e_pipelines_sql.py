"""The walk's F4, F8, F9 and F18 in a real Chromium: the aggregate hint in the New pipeline form,
the form collapsed and blank after Create, a stopped query that says so, and the whole result of
a query past the display cap in the downloaded CSV."""
from __future__ import annotations

import pandas as pd
from e2e_support import (  # noqa: F401 - fixtures
    browser, choose, expect, new_pipeline_form, page, pytestmark, settle, shot, studio, studio_server,
)

from store import FeatureStore

AGGREGATE_SQL = ("SELECT customer_id, count(*) AS txn_count_7d, max(_event_time) AS event_time\n"
                 "FROM transactions GROUP BY customer_id")


def test_the_form_hints_for_aggregates_and_clears_after_create(page, studio_server):
    form = new_pipeline_form(page, "click_counts", "customer_spend", "transactions")
    sql = form.get_by_role("textbox", name="SQL (DuckDB)")
    sql.fill(AGGREGATE_SQL)
    sql.press("Tab")
    settle(page)
    choose(page, form.get_by_role("combobox", name="Mode"), "Incremental: rows written since the last run")
    hint = page.get_by_test_id("stAlertContentWarning").filter(has_text="The SQL aggregates")
    expect(hint).to_contain_text("(count(*), max(), GROUP BY)")
    expect(hint).to_contain_text("Look-back")
    hint.scroll_into_view_if_needed()
    shot(page, "pipes20_aggregate_hint")
    form.get_by_role("textbox", name="Look-back").fill("400d")
    form.get_by_role("textbox", name="Look-back").press("Tab")
    settle(page, "Each run also reads the rows up to 400d before its window")
    expect(hint).to_have_count(0)
    form.get_by_role("button", name="Preview").click()
    settle(page, "As the next incremental run would")
    shot(page, "pipes20_preview_window", full_page=True)
    form.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="click_counts")).to_be_visible(timeout=60_000)
    settle(page)
    expect(page.get_by_test_id("stExpanderDetails").first).not_to_be_visible()  # collapsed
    shot(page, "pipes20_after_create", full_page=True)
    page.get_by_text("New pipeline", exact=True).click()
    settle(page)
    form = page.get_by_test_id("stExpanderDetails").first
    expect(form.get_by_role("textbox", name="Name")).to_have_value("")
    expect(form.get_by_role("textbox", name="Name")).to_be_enabled()
    expect(form.get_by_role("textbox", name="SQL (DuckDB)")).not_to_have_value(AGGREGATE_SQL)
    expect(form.get_by_role("button", name="Create")).to_be_disabled()  # blank: nothing to create yet
    shot(page, "pipes20_form_reopened")
    with FeatureStore(studio_server.store) as fs:
        p = fs.pipeline("click_counts")
        assert p["mode"] == "incremental" and p["lookback_seconds"] == 400 * 86400


def test_a_stopped_query_says_so(page):
    page.goto("/sql")
    settle(page, "Views")
    editor = page.get_by_role("textbox", name="Query")
    editor.fill("SELECT count(*) FROM range(100000000) a, range(100000000) b")
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_text("Running for")).to_be_visible(timeout=30_000)
    page.wait_for_timeout(2500)
    page.get_by_role("button", name="Stop the query").click()
    settle(page, "nothing returned")
    expect(page.get_by_text("Running for")).to_have_count(0)
    assert "Stopped after" in page.get_by_text("nothing returned").inner_text()
    shot(page, "pipes20_sql_stopped")


def test_the_download_has_every_row_past_the_display_cap(page, tmp_path):
    page.goto("/sql")
    settle(page, "Views")
    page.get_by_role("textbox", name="Query").fill(
        "SELECT customer_id, count(*) AS n FROM transactions GROUP BY ALL "
        "UNION ALL SELECT i, 0 FROM range(1000000, 1020000) t(i)")
    page.get_by_role("button", name="Run").click()
    settle(page, "the download has every row")
    caption = page.get_by_text("the download has every row").inner_text()
    assert "10,000+ rows" in caption and "aggregate" not in caption
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    page.wait_for_timeout(1500)  # the grid draws on a canvas after it is attached
    shot(page, "pipes20_sql_capped")
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Download all rows (CSV)").click()
    path = tmp_path / "query.csv"
    download.value.save_as(path)
    lines = path.read_text().splitlines()
    assert lines[0] == '"customer_id","n"' and len(lines) - 1 > 20_000  # every row, not 10,000


def test_a_backfill_reports_its_total_and_a_retry_its_attempt(page, studio_server):
    page.goto("/pipelines")  # the first page load seeds the store
    settle(page, "No scheduler is running")
    with FeatureStore(studio_server.store) as fs:
        fs.create_pipeline("cast_fails", "customer_spend", inputs=["transactions"],
                           sql="SELECT CAST(currency AS INTEGER) AS customer_id FROM transactions")
        failed = fs.run_pipeline("cast_fails")
    page.goto("/pipelines?pipeline=customer_spend_daily")
    settle(page, "Run detail")
    page.get_by_role("button", name="Backfill").click()
    page.get_by_test_id("stPopoverBody").get_by_role("button", name="Backfill").click()  # the 7 days to yesterday
    settle(page, "Rows written (last backfill)")
    with FeatureStore(studio_server.store) as fs:
        runs = fs.pipeline_runs("customer_spend_daily").head(7)
    assert set(runs["kind"]) == {"backfill"} and runs["window_end"].max().date() == (
        pd.Timestamp.now(tz="UTC").floor("D").date())  # ends with yesterday's window, not today's empty one
    metric = page.get_by_test_id("stMetric").filter(has_text="Rows written (last backfill)")
    expect(metric.get_by_test_id("stMetricValue")).to_have_text(f"{int(runs['rows_out'].sum()):,}")
    shot(page, "pipes20_backfill_total", full_page=True)
    page.goto("/pipelines?pipeline=cast_fails")
    settle(page, "Run detail")
    expect(page.get_by_text("attempt 1")).to_be_visible()
    page.get_by_role("button", name="Retry failed").click()
    settle(page, "Run detail")
    with FeatureStore(studio_server.store) as fs:
        newest = fs.pipeline_runs("cast_fails").iloc[0]
    assert newest["attempt"] == 2 and newest["rows_in"] == failed["rows_in"] > 0
    expect(page.get_by_text("incremental run, retry, attempt 2")).to_be_visible()  # the newest run's detail
    shot(page, "pipes20_retry_newest", full_page=True)
