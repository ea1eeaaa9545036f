"""A bank's export through the studio, in a real Chromium (issue 20, F1, F12, F17, F24, F28): a
';'-delimited Windows-1252 file with decimal commas, a 'Betrag (€)' header and day-first dates
'11.10.2026 01:21' is proposed on Create with its event time and format, ingests 500 of 500,
and the next upload of the same export needs no choice; an ambiguous file asks; rejected rows
come back in the file's own dialect; a PNG named .csv is called what it is."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
from day_first_files import ambiguous_frame, bank_frame, write_bank
from e2e_support import browser, expect, page, pytestmark, settle, shot, studio, studio_server  # noqa: F401

from store import FeatureStore

DAY_FIRST = "%d.%m.%Y %H:%M"


def upload(page, path: str) -> None:
    page.locator("input[type=file]").set_input_files(path)


def no_traceback(page) -> None:
    body = page.locator("body").inner_text()
    assert "Traceback" not in body and "Something went wrong" not in body


def start_create(page, path: str) -> None:
    page.goto("/create")
    settle(page, "Create a feature group")
    page.get_by_text("Sample file", exact=True).click()
    settle(page, "Upload a sample file")
    upload(page, path)
    settle(page, f"First rows of {os.path.basename(path)}")


def name_group(page, name: str) -> None:
    page.get_by_role("textbox", name="Name").fill(name)
    page.get_by_role("textbox", name="Name").press("Enter")
    settle(page)


def test_01_create_proposes_the_day_first_event_time_and_ingests_the_export(page, studio_server, tmp_path):
    frame = bank_frame()
    path = write_bank(tmp_path / "bank_export.csv", frame)
    start_create(page, path)
    assert not page.get_by_test_id("stAlertContentError").count()
    expect(page.get_by_role("combobox", name="Event time")).to_have_value("Buchungsdatum")
    expect(page.get_by_role("textbox", name="Time format")).to_have_value(DAY_FIRST)
    first = frame["when"].iloc[0]
    settle(page, "values read")
    # the preview shows how the dates are read (a data grid's cells are drawn on a canvas: attached, not visible)
    expect(page.locator("td", has_text=f"{first:%Y-%m-%dT%H:%M:%S}Z").first).to_be_attached()
    expect(page.get_by_text("How Buchungsdatum is read (500 of 500 values read)")).to_be_visible()
    name_group(page, "bank_tx")
    shot(page, "day_first_01_create_proposed", full_page=True)
    page.get_by_role("button", name="Create feature group").click()
    settle(page, "is ready")
    page.get_by_role("button", name="Ingest the sample file into bank_tx").click()
    settle(page, "wrote 500 of 500 rows")
    expect(page.get_by_test_id("stAlertContentSuccess").last).to_contain_text("wrote 500 of 500 rows")
    no_traceback(page)
    shot(page, "day_first_01_create_ingested", full_page=True)
    with FeatureStore(studio_server.store) as fs:
        g = fs.feature_group("bank_tx")
        assert g.extra["ingest"]["time_format"] == DAY_FIRST
        record = fs.get_record("bank_tx", "000001")
        assert record["Buchungsdatum"] == f"{first:%Y-%m-%dT%H:%M:%S}Z"
        assert record["Betrag"] == frame["Betrag (€)"].iloc[0]


def test_02_the_next_upload_of_the_same_export_needs_no_choice(page, studio_server, tmp_path):
    frame = bank_frame(500, seed=12)
    path = write_bank(tmp_path / "bank_export_november.csv", frame)
    page.goto("/ingest?group=bank_tx")
    settle(page, "Upload a file")
    upload(page, path)
    settle(page, "Map columns to features")
    expect(page.get_by_role("textbox", name="Time format of")).to_have_value(DAY_FIRST)
    settle(page, "the format kept with the group")
    # F24: the caption gives the upload chip's decimal megabytes/kilobytes
    kb = f"{os.path.getsize(path) / 1000:,.1f} KB"
    expect(page.get_by_text(kb, exact=False).first).to_be_visible()
    page.get_by_role("button", name="Ingest", exact=True).click()
    settle(page, "wrote 500 of 500 rows")
    expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text("wrote 500 of 500 rows")
    no_traceback(page)
    shot(page, "day_first_02_ingest_again", full_page=True)


def test_03_rejected_rows_download_in_the_files_own_dialect(page, tmp_path):
    path = write_bank(tmp_path / "bank_export_bad.csv", bank_frame(40, seed=13))
    raw = open(path, "rb").read().split(b"\n")
    raw[2] = raw[2].replace(raw[2].split(b";")[1], b"gestern")
    original = raw[2].decode("cp1252").split(";")
    open(path, "wb").write(b"\n".join(raw))
    page.goto("/ingest?group=bank_tx")
    settle(page, "Upload a file")
    upload(page, path)
    settle(page, "Map columns to features")
    page.get_by_text("Write the valid rows, skip the invalid ones").click()
    settle(page)
    page.get_by_role("button", name="Ingest", exact=True).click()
    settle(page, "wrote 39 of 40 rows, rejected 1")
    expect(page.get_by_text("does not match the time format %d.%m.%Y %H:%M").first).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the rejected rows (CSV)").last.click()
    text = open(download.value.path(), "rb").read().decode("cp1252")
    header, row = text.splitlines()[:2]
    assert header == "line;Buchungs-Nr;Buchungsdatum;Empfänger;Verwendungszweck;Betrag (€);Saldo;error"
    assert row.split(";")[1:7] == original  # '-1.379,15' as written, accents in Windows-1252
    shot(page, "day_first_03_rejected_rows", full_page=True)


def test_04_an_ambiguous_file_asks_day_first_or_month_first(page, studio_server, tmp_path):
    frame = ambiguous_frame()
    path = write_bank(tmp_path / "bank_ambiguous.csv", frame, "%d/%m/%Y %H:%M")
    start_create(page, path)
    name_group(page, "bank_amb")
    settle(page, "day-first or month-first?")
    expect(page.get_by_role("button", name="Create feature group")).to_be_disabled()  # no silent guess
    shot(page, "day_first_04_ambiguous_asks", full_page=True)
    page.get_by_text("%d/%m/%Y %H:%M  (31 December 2025 is 31/12/2025 14:05)").click()
    settle(page)
    expect(page.get_by_role("textbox", name="Time format")).to_have_value("%d/%m/%Y %H:%M")
    expect(page.get_by_role("button", name="Create feature group")).to_be_enabled()
    page.get_by_role("button", name="Create feature group").click()
    settle(page, "is ready")
    page.get_by_role("button", name="Ingest the sample file into bank_amb").click()
    settle(page, f"wrote {len(frame)} of {len(frame)} rows")
    shot(page, "day_first_04_ambiguous_chosen", full_page=True)
    with FeatureStore(studio_server.store) as fs:
        first = fs.get_record("bank_amb", "000001")["Buchungsdatum"]
    assert first == f"{frame['when'].iloc[0]:%Y-%m-%dT%H:%M:%S}Z"


def test_05_a_wrong_format_or_a_non_date_column_cannot_be_created(page, tmp_path):
    path = write_bank(tmp_path / "bank_export_us.csv", bank_frame(60), "%m/%d/%Y %I:%M %p")
    start_create(page, path)
    name_group(page, "bank_us")
    expect(page.get_by_role("textbox", name="Time format")).to_have_value("%m/%d/%Y %I:%M %p")
    box = page.get_by_role("textbox", name="Time format")
    box.fill(DAY_FIRST)
    box.press("Enter")
    settle(page, "60 of 60 values do not match the time format")
    expect(page.get_by_role("button", name="Create feature group")).to_be_disabled()
    shot(page, "day_first_05_wrong_format_refused", full_page=True)


def test_06_near_numeric_columns_and_binary_files_say_what_they_are(page, tmp_path):
    rng = np.random.default_rng(1)
    score = rng.integers(300, 850, 203).astype(str).astype(object)
    score[[10, 50]] = ["n/a", "seven hundred"]
    messy = tmp_path / "customers_messy.csv"
    pd.DataFrame({"customer_id": range(203), "credit_score": score,
                  "updated_at": ["2026-01-01T00:00:00Z"] * 203}).to_csv(messy, index=False)
    start_create(page, str(messy))
    expect(page.get_by_text("credit_score: Integral; 2 values don't fit (n/a, seven hundred)", exact=False)
           ).to_be_visible()
    shot(page, "day_first_06_near_numeric_note", full_page=True)
    png = tmp_path / "not_really.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    upload(page, str(png))
    settle(page, "is not a text/CSV file")
    body = page.locator("body").inner_text()
    assert "Expected 1 columns" not in body and "\x00" not in body
    shot(page, "day_first_06_png_refused", full_page=True)
