"""The studio in a real headless Chromium, driven as a user would. One Streamlit server on a free
port with a fresh store (the studio seeds it) serves every step; each step leaves a screenshot in
test-artifacts/e2e/."""
from __future__ import annotations

from e2e_support import browser, expect, page, pytestmark, settle, shot, studio, studio_server  # noqa: F401

def test_01_catalog_of_the_seeded_store(page):
    page.goto("/")
    settle(page, "Feature groups")
    expect(page.get_by_test_id("stMetricValue").first).to_have_text("4")  # the sample groups (tables are canvases)
    shot(page, "01_catalog")


def test_02_create_a_group_from_an_uploaded_csv(page, tmp_path):
    sample = tmp_path / "orders.csv"
    sample.write_text("order_id,customer_id,amount,channel,created_at\n"
                      "1,100001,9.5,web,2026-11-01T10:00:00Z\n2,100002,12.25,app,2026-11-01T11:00:00Z\n")
    page.goto("/create")
    settle(page, "Create a feature group")
    page.get_by_text("Sample file", exact=True).click()
    settle(page, "Upload a sample file")
    page.locator("input[type=file]").set_input_files(str(sample))
    settle(page, "First rows of orders.csv")
    page.get_by_role("textbox", name="Name").fill("orders")
    page.get_by_role("textbox", name="Name").press("Enter")
    settle(page)
    page.get_by_role("button", name="Create feature group").click()
    settle(page, "is ready")
    page.get_by_role("button", name="Ingest the sample file into orders").click()
    settle(page, "wrote 2 of 2 rows")
    shot(page, "02_create_from_csv")


def test_03_ingest_a_file_with_one_bad_row(page, tmp_path):
    data = tmp_path / "rescore.csv"
    data.write_text("merchant_id,event_time,risk_score\nM0001,2026-11-02T00:00:00Z,0.5\n"
                    "M0002,yesterday,0.25\nM0003,2026-11-02T01:00:00Z,0.75\n")
    page.goto("/ingest?group=merchants")
    settle(page, "Upload a file to preview it")
    page.locator("input[type=file]").set_input_files(str(data))
    settle(page, "Map columns to features")
    page.get_by_role("button", name="Validate").click()
    settle(page, "1 of 3 rows are invalid")
    expect(page.get_by_role("button", name="Download the rejected rows (CSV)")).to_be_visible()
    shot(page, "03a_ingest_validated")
    page.get_by_text("Write the valid rows, skip the invalid ones").click()
    settle(page)
    page.get_by_role("button", name="Ingest", exact=True).click()
    settle(page, "wrote 2 of 3 rows, rejected 1")
    shot(page, "03b_ingest_written")


def test_04_look_a_record_up(page):
    page.goto("/group?group=customers&tab=Online+lookup")
    settle(page, "Look up a record by customer_id")
    box = page.get_by_label("Look up a record by customer_id")
    box.fill("100396")
    box.press("Enter")
    settle(page, "Expires")
    expect(page.get_by_text("live", exact=True)).to_be_visible()
    shot(page, "04_online_lookup")


def test_05_time_travel(page):
    page.goto("/time_travel?group=customers")
    settle(page, "As of event time")
    page.get_by_role("button", name="Travel").click()
    settle(page, "Records then")
    page.get_by_role("tab", name="SQL").click()
    settle(page, "runnable on the SQL page")
    expect(page.get_by_text("QUALIFY row_number()").first).to_be_visible()
    shot(page, "05_time_travel")


def test_06_build_and_download_a_dataset(page, tmp_path):
    page.goto("/dataset")
    settle(page, "Entity table")
    page.get_by_text("Sample label file", exact=True).click()
    settle(page, "2. Features")
    groups = page.get_by_role("combobox", name="Feature groups")
    groups.click()
    page.get_by_role("option", name="customers", exact=True).click()
    groups.press("Escape")
    settle(page, "Features of")
    page.get_by_role("button", name="Build dataset").click()
    settle(page, "recorded in lineage")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    saved = tmp_path / "dataset.csv"
    download.value.save_as(saved)
    lines = saved.read_text().splitlines()
    assert len(lines) == 12_001 and lines[0].startswith('"transaction_id","customer_id","merchant_id"')
    shot(page, "06_dataset")


def test_07_lineage_graph_links_to_pages(page):
    page.goto("/lineage")
    settle(page, "click a node to open its page")
    expect(page.locator("svg g.node").first).to_be_visible()
    shot(page, "07a_lineage")
    page.locator("xpath=//*[local-name()='g'][*[local-name()='title']='feature_group:merchants']"
                 "//*[local-name()='a']").click()
    page.wait_for_url("**/group?group=merchants**", timeout=30_000)
    settle(page, "Configuration")
    expect(page.get_by_role("heading", name="merchants")).to_be_visible()
    shot(page, "07b_lineage_click_opens_group")
