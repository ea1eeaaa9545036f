"""The walk's dataset flow in a real Chromium: an ``entities.csv`` of ``user_id, label_time,
churned`` against a group keyed ``customer_id`` and one keyed by zero-padded text. No key is
preselected, keys written otherwise are warned about, a set whose keys matched nothing is a
warning that records nothing until confirmed; a rebuild is told apart; and the polish around it:
the catalog's features follow its filters, names in messages keep their underscores, the delete
box's accessible name has no stars, the group lineage keeps to its own neighbourhood, and time
travel starts inside the group's history."""
from __future__ import annotations

import pandas as pd
import pytest
from e2e_support import browser, seed, choose, expect, page, pytestmark, settle, shot, studio, studio_server  # noqa: F401

from store import Feature, FeatureStore

DAYS = ["2026-11-20T09:00:00Z", "2026-11-21T09:00:00Z", "2026-11-22T21:00:00Z"]


@pytest.fixture(scope="module")
def walk(studio_server, browser):
    """The studio's store seeded (by a first page load), plus the walk's two groups."""
    seed(browser, studio_server)  # the first load seeds the store
    with FeatureStore(studio_server.store) as fs:
        fs.create_feature_group("crm_customers", "customer_id", "event_time",
                                [Feature("customer_id", "Integral"), Feature("event_time", "String"),
                                 Feature("tier", "String")])
        fs.create_feature_group("bank_tx", "booking_no", "event_time",
                                [Feature("booking_no", "String"), Feature("event_time", "String"),
                                 Feature("amount", "Fractional")])
        fs.ingest("crm_customers", pd.DataFrame({"customer_id": [100001, 100002, 100003], "event_time": DAYS,
                                                 "tier": ["gold", "silver", "gold"]}))
        fs.ingest("bank_tx", pd.DataFrame({"booking_no": ["000001", "000002", "000003"], "event_time": DAYS,
                                           "amount": [1.5, 2.5, 3.5]}))
    return studio_server


def datasets(store: str) -> list[dict]:
    with FeatureStore(store) as fs:
        return fs.datasets()


def open_builder(page, tmp_path, group: str) -> None:
    entity = tmp_path / "entities.csv"
    entity.write_text("user_id,label_time,churned\n" +
                      "".join(f"{i},2026-12-01T00:00:00Z,{i % 2}\n" for i in range(1, 51)))
    page.goto("/dataset")
    settle(page, "Entity table")
    page.locator("input[type=file]").set_input_files(str(entity))
    settle(page, "2. Features")
    choose(page, page.get_by_role("combobox", name="Feature groups"), group)
    page.get_by_role("combobox", name="Feature groups").press("Escape")
    settle(page, "Columns of the dataset")


def test_01_keys_that_match_nothing_warn_and_record_nothing_until_confirmed(page, walk, tmp_path):
    before = len(datasets(walk.store))
    open_builder(page, tmp_path, "crm_customers")
    key = page.get_by_role("combobox", name="Entity column holding customer_id")
    expect(key).to_have_value("")  # nothing preselected: no column is named customer_id
    expect(page.get_by_text("No column is named customer_id")).to_be_visible()
    expect(page.get_by_role("button", name="Build dataset")).to_be_disabled()
    shot(page, "dataset_keys_01a_no_key_preselected", full_page=True)
    choose(page, key, "user_id")
    page.get_by_role("button", name="Build dataset").click()
    settle(page, "Not recorded")
    assert not page.get_by_test_id("stAlertContentSuccess").count()
    expect(page.get_by_test_id("stAlertContentWarning")).to_contain_text(
        "crm_customers gave features to none of the 50 entity rows")
    assert len(datasets(walk.store)) == before
    page.get_by_role("button", name="Record it anyway").scroll_into_view_if_needed()  # the page scrolls inside
    shot(page, "dataset_keys_01b_not_recorded")
    page.get_by_role("button", name="Record it anyway").click()
    settle(page, "recorded in lineage")
    assert not page.get_by_test_id("stAlertContentSuccess").count()
    expect(page.get_by_test_id("stAlertContentWarning").first).to_contain_text("although crm_customers gave features")
    assert len(datasets(walk.store)) == before + 1
    page.get_by_text("Rows with no feature at all").scroll_into_view_if_needed()
    shot(page, "dataset_keys_01c_recorded_anyway")


def test_02_keys_without_the_identifiers_zero_padding_are_padded_by_choice(page, walk, tmp_path):
    open_builder(page, tmp_path, "bank_tx")
    choose(page, page.get_by_role("combobox", name="Entity column holding booking_no"), "user_id")
    expect(page.get_by_test_id("stAlertContentWarning")).to_contain_text(
        "'user_id' holds keys like '1', but 'bank_tx' identifiers are zero-padded to 6 digits")
    expect(page.get_by_role("button", name="Build dataset")).to_be_disabled()
    shot(page, "dataset_keys_02a_zero_padded", full_page=True)
    page.get_by_text("Convert user_id this way for the join").click()
    settle(page)
    page.get_by_role("button", name="Build dataset").click()
    settle(page, "recorded in lineage")
    expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text("50 rows × 5 columns")
    metric = page.get_by_test_id("stMetric").filter(has_text="Rows without bank_tx").get_by_test_id("stMetricValue")
    expect(metric).to_have_text("47")  # bookings 1 to 3 exist
    metric.scroll_into_view_if_needed()
    shot(page, "dataset_keys_02b_padded_build")


def test_03_a_rebuild_is_told_apart_and_keeps_its_source(page, walk):
    demo = next(d for d in datasets(walk.store) if d["name"] == "fraud_training_v1")
    page.goto(f"/datasets?dataset={demo['id']}")
    settle(page, "Rebuild on today's data")
    page.get_by_role("button", name="Rebuild on today's data").click()
    settle(page, "A rebuild of fraud_training_v1")
    expect(page.get_by_test_id("stCaptionContainer").filter(has_text="A rebuild of")).to_contain_text(
        f"from {demo['entity_source']}")
    rebuilt = datasets(walk.store)[0]
    assert rebuilt["name"].startswith("fraud_training_v1 (rebuilt ") and rebuilt["entity_source"] == demo["entity_source"]
    shot(page, "dataset_keys_03_rebuilt", full_page=True)


def test_04_catalog_features_follow_the_search_and_tags(page, walk):
    page.goto("/")
    settle(page, "Feature groups")
    search = page.get_by_role("textbox", name="Search")
    search.fill("risk")
    search.press("Enter")
    settle(page, "matches")
    page.get_by_role("button", name="pii=true (1)", exact=True).click()
    settle(page)
    page.get_by_role("button", name="team=risk (2)", exact=True).click()
    settle(page, "Showing 1 group of 6: those matching the search and the tags")
    expect(page.get_by_text("Showing 8 features of 34")).to_be_visible()  # customers' own, not every group's
    page.get_by_text("Showing 8 features of 34").scroll_into_view_if_needed()
    shot(page, "dataset_keys_04_catalog_filters")
    search.fill("pii=true")
    search.press("Enter")
    settle(page, "1 match —")


def test_05_names_keep_their_underscores_and_the_delete_box_has_no_stars(page, walk):
    page.goto("/create")
    settle(page, "Create a feature group")
    page.get_by_role("textbox", name="Name").fill("_x")
    page.get_by_role("textbox", name="Name").press("Enter")
    settle(page)
    page.get_by_role("button", name="Create feature group").click()
    settle(page, "is invalid")
    error = page.get_by_test_id("stAlertContentError")
    expect(error).to_contain_text("name '_x' is invalid: use 1-64 letters, digits, '_' or '-'")
    assert not error.locator("em").count()  # no italic span ate the underscores
    shot(page, "dataset_keys_05a_underscores")
    page.goto("/group?group=bank_tx")
    settle(page, "Delete this feature group")
    page.get_by_text("Delete this feature group").click()
    expect(page.get_by_role("textbox", name="Type bank_tx to confirm", exact=True)).to_be_visible()
    shot(page, "dataset_keys_05b_delete_label")


def test_06_group_lineage_keeps_to_its_neighbourhood(page, walk):
    with FeatureStore(walk.store, writer="studio") as fs:  # the studio's writer node wrote the sample groups too
        fs.put_record("crm_customers", {"customer_id": 7, "event_time": DAYS[0], "tier": "gold"})
    page.goto("/group?group=crm_customers&tab=Lineage")
    settle(page, "click a node to open its page")
    drawing = page.get_by_test_id("stGraphVizChart")
    expect(drawing).to_contain_text("crm_customers")
    assert "customers.csv" not in drawing.inner_text() and "transactions" not in drawing.inner_text()
    shot(page, "dataset_keys_06_group_lineage", full_page=True)


def test_07_time_travel_starts_inside_the_history(page, walk):
    page.goto("/time_travel?group=bank_tx")
    settle(page, "As of event time")
    page.get_by_role("button", name="Travel").click()
    settle(page, "Records then")
    then = page.get_by_test_id("stMetric").filter(has_text="Records then").get_by_test_id("stMetricValue")
    expect(then).to_have_text("2")  # the middle of its three days: two bookings were made by then
    shot(page, "dataset_keys_07_time_travel", full_page=True)
