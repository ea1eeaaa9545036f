"""Feature services in a real Chromium: define a service from the catalog (a whole group and one
feature found by a search), try it online for one customer and merchant, build a training set from
it in the dataset builder (which records the service), and save a second version."""
from __future__ import annotations

import re

import pytest
from e2e_support import browser, expect, page, pytestmark, seed, settle, shot, studio, studio_server  # noqa: F401

from store import FeatureStore


@pytest.fixture(scope="module")
def seeded(studio_server, browser):
    seed(browser, studio_server)  # the first load seeds the store
    return studio_server


def test_define_try_and_train_from_a_service(page, seeded):
    with FeatureStore(seeded.store) as fs:
        customer = int(fs.as_of("customer_spend")["customer_id"].iloc[0])
        spend = fs.get_record("customer_spend", customer)
    page.goto("/services")
    settle(page, "Select a row to open the service")
    shot(page, "services_list", full_page=True)

    page.get_by_text("Define a feature service", exact=True).click()
    form = page.get_by_test_id("stExpanderDetails").first
    form.get_by_role("textbox", name="Name").fill("checkout_risk")
    form.get_by_role("textbox", name="Description").fill("Scores a checkout from spend velocity and merchant risk")
    search = form.get_by_role("textbox", name="Search the catalog")
    search.fill("velocity")  # in customer_spend's description only
    search.press("Enter")
    settle(page)
    expect(form.get_by_text("risk_score", exact=False)).to_have_count(0)
    form.get_by_text("All 4 features", exact=True).click()
    settle(page, "4 features from 1 group")
    search.fill("acquirer")  # merchants' risk score, by its description
    search.press("Enter")
    settle(page)
    form.locator("label").filter(has_text=re.compile(r"^risk_score")).click()
    settle(page, "5 features from 2 groups")
    shot(page, "services_define", full_page=True)
    form.get_by_role("button", name="Define service").click()
    settle(page, "Feature service checkout_risk")
    expect(page.get_by_text("`customer_id`", exact=False)).to_have_count(0)  # code is rendered, not shown raw
    shot(page, "services_detail", full_page=True)

    page.get_by_role("tab", name="Try it").click()
    settle(page, "Get online features")
    page.get_by_role("spinbutton", name="customer_id").fill(str(customer))
    page.get_by_role("textbox", name="merchant_id").fill("M0011")
    page.get_by_role("button", name="Get online features").click()
    settle(page, "5 of 5 features present")
    expect(page.get_by_text(re.compile(r"read in \d+\.\d+ ms"))).to_be_visible()
    cells = page.locator("td[role=gridcell]")
    expect(cells.filter(has_text=re.compile(f"^{re.escape(str(spend['spend_7d']))}$")).first).to_be_attached()
    expect(page.get_by_text("/FeatureServices/checkout_risk/OnlineFeatures", exact=False).first).to_be_attached()
    shot(page, "services_try", full_page=True)

    page.get_by_role("button", name="Build a training set").click()
    settle(page, "Dataset builder")
    assert "service=checkout_risk" in page.url
    expect(page.get_by_text("Building a training set from feature service checkout_risk")).to_be_visible()
    page.get_by_text("Sample label file", exact=True).click()
    settle(page, "A feature service")
    expect(page.get_by_text("Version 1, owned by", exact=False)).to_be_visible()
    page.get_by_role("textbox", name="Dataset name").fill("checkout_training_v1")
    page.get_by_role("textbox", name="Dataset name").press("Enter")
    settle(page)
    page.get_by_role("button", name="Build dataset").click()
    settle(page, "recorded in lineage")
    shot(page, "services_dataset", full_page=True)
    with FeatureStore(seeded.store) as fs:
        built = next(d for d in fs.datasets() if d["name"] == "checkout_training_v1")
        assert built["definition"]["service"] == {"name": "checkout_risk", "version": 1}

    page.goto("/lineage?node=feature_service%3Acheckout_risk")
    settle(page, "Feature service: checkout_risk")
    shot(page, "services_lineage", full_page=True)
    page.goto("/lineage")
    settle(page, "click a node to open its page")
    shot(page, "services_lineage_whole", full_page=True)

    page.goto("/services?service=checkout_risk&tab=New+version")
    settle(page, "Save as version 2")
    page.locator("label").filter(has_text=re.compile(r"^risk_score")).click()
    settle(page, "4 features from 1 group")
    page.get_by_role("button", name="Save as version 2").click()
    settle(page, "Features of version")
    assert "tab=Versions" in page.url
    shot(page, "services_versions", full_page=True)


def test_the_sample_fraud_service_computes_the_amount_against_the_30_day_mean(page, seeded):
    with FeatureStore(seeded.store) as fs:
        customer = int(fs.as_of("customer_spend")["customer_id"].iloc[0])
        mean = fs.get_record("customer_spend", customer)["avg_amount_30d"]
    page.goto("/services?service=fraud_detection")
    settle(page, "Feature service fraud_detection")
    expect(page.get_by_text("amount / NULLIF(avg_amount_30d, 0)", exact=False).first).to_be_attached()
    shot(page, "services_on_demand_features", full_page=True)

    page.get_by_role("tab", name="Try it").click()
    settle(page, "Get online features")
    page.get_by_role("spinbutton", name="customer_id").fill(str(customer))
    page.get_by_role("textbox", name="merchant_id").fill("M0011")
    page.get_by_role("spinbutton", name="amount").fill("450")
    page.get_by_role("button", name="Get online features").click()
    settle(page, "15 of 15 features present")
    cells = page.locator("td[role=gridcell]")
    ratio = str(450.0 / mean)
    expect(cells.filter(has_text=re.compile("^" + re.escape(ratio[:6]))).first).to_be_attached()
    expect(cells.filter(has_text="computed now").first).to_be_attached()
    expect(cells.filter(has_text=re.compile(r"^\d+ (h|min|d) ago$")).first).to_be_attached()
    expect(page.get_by_text("'amount': 450.0", exact=False).first).to_be_attached()  # the snippet has it
    shot(page, "services_try_on_demand", full_page=True)

    page.get_by_role("button", name="Build a training set").click()
    settle(page, "Dataset builder")
    page.get_by_text("Sample label file", exact=True).click()
    settle(page, "computes amount_vs_customer_avg@1 on demand")
    page.get_by_role("textbox", name="Dataset name").fill("fraud_training_v2")
    page.get_by_role("textbox", name="Dataset name").press("Enter")
    settle(page)
    page.get_by_role("button", name="Build dataset").click()
    settle(page, "recorded in lineage")
    shot(page, "services_dataset_on_demand", full_page=True)
    with FeatureStore(seeded.store) as fs:
        built = next(d for d in fs.datasets() if d["name"] == "fraud_training_v2")
        assert built["definition"]["service"]["on_demand"] == ["on_demand:amount_vs_customer_avg@1"]
        table = fs.dataset(built["id"]).to_pandas()
        known = table.dropna(subset=["avg_amount_30d"])
        assert ((known["amount_vs_avg_30d"] - known["amount"] / known["avg_amount_30d"]).abs() < 1e-9).all()

    page.goto("/on_demand")
    settle(page, "Select a row to see its definition")
    shot(page, "on_demand_list", full_page=True)
    page.goto("/on_demand?feature=amount_vs_customer_avg")
    settle(page, "On-demand feature amount_vs_customer_avg")
    shot(page, "on_demand_detail", full_page=True)
    page.goto("/lineage?node=on_demand%3Aamount_vs_customer_avg")
    settle(page, "On-demand feature: amount_vs_customer_avg")
    shot(page, "on_demand_lineage", full_page=True)
