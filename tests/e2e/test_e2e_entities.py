"""Entities in a real Chromium: from the catalog's entity link to the customer's page, its groups,
and a lookup of one customer across them ("everything we know about customer 100396"), with a
shareable URL; then the group link goes to that record's online lookup."""
from __future__ import annotations

import re

import pytest
from e2e_support import browser, seed, expect, page, pytestmark, settle, shot, studio, studio_server  # noqa: F401

from store import FeatureStore


@pytest.fixture(scope="module")
def seeded(studio_server, browser):
    seed(browser, studio_server)  # the first load seeds the store
    return studio_server


def test_entity_view_with_a_lookup(page, seeded):
    with FeatureStore(seeded.store) as fs:
        expected = fs.get_record("customers", 100396)
    page.goto("/")
    settle(page, "Feature groups")
    shot(page, "entities_catalog", full_page=True)
    page.get_by_role("link", name="customer (2 groups)").click()
    settle(page, "Entity customer")
    expect(page.get_by_text("Groups about customer")).to_be_visible()
    expect(page.get_by_role("link", name="customers (8 features)")).to_be_visible()
    expect(page.get_by_role("link", name="customer_spend (6 features)")).to_be_visible()
    page.get_by_role("textbox", name="customer_id").fill("100396")
    page.get_by_role("button", name="Look up").click()
    settle(page, "Everything we know about customer 100396")
    expect(page.get_by_text("found in", exact=False)).to_contain_text("found in 2 of 2 groups")
    cells = page.locator("td[role=gridcell]")  # the grid draws on a canvas; its cells are in an accessible table
    expect(cells.filter(has_text=re.compile(f"^{expected['country']}$")).first).to_be_attached()
    expect(cells.filter(has_text=re.compile(f"^{expected['risk_segment']}$")).first).to_be_attached()
    assert "key=100396" in page.url and "entity=customer" in page.url
    shot(page, "entities_lookup", full_page=True)
    page.goto(page.url)  # the link alone brings the answer back
    settle(page, "Everything we know about customer")
    page.get_by_role("link", name="customers", exact=True).click()
    settle(page, "Online lookup")
    assert "record=100396" in page.url and "group=customers" in page.url
    shot(page, "entities_group_from_lookup")
    page.get_by_role("tab", name="Overview").click()
    settle(page, "Configuration")
    page.get_by_role("link", name="Entity customer: everything about one of them").click()  # and back
    expect(page.get_by_role("heading", name="Entity customer")).to_be_visible(timeout=30_000)
    settle(page)
    shot(page, "entities_back_from_group")
