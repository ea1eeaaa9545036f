"""A group keyed by (merchant_id, terminal_id) in a real Chromium: the lookup has one input per key
column, the URL carries the key as a JSON array, and the link opened in a new tab shows the same
record; the History tab keeps the key."""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import pandas as pd
import pytest
from e2e_support import browser, seed, expect, page, pytestmark, settle, shot, studio, studio_server  # noqa: F401

from store import Feature, FeatureStore


@pytest.fixture(scope="module")
def terminals(studio_server, browser):
    seed(browser, studio_server)  # the first load seeds the store
    with FeatureStore(studio_server.store) as fs:
        fs.create_feature_group("terminals", ["merchant_id", "terminal_id"], "ts", [
            Feature("merchant_id", "String"), Feature("terminal_id", "Integral"), Feature("ts", "String"),
            Feature("declines_7d", "Integral")])
        fs.ingest("terminals", pd.DataFrame({"merchant_id": ["M0001", "M0001", "M0002"], "terminal_id": [7, 8, 7],
                                             "ts": ["2026-11-20T09:00:00Z", "2026-11-21T09:00:00Z",
                                                    "2026-11-22T09:00:00Z"], "declines_7d": [2, 5, 9]}))
    return studio_server


def test_lookup_by_a_key_of_two_columns_is_a_shareable_link(page, terminals):
    page.goto("/group?group=terminals&tab=Online+lookup")
    settle(page, "Look up a record by its key")
    page.get_by_label("merchant_id").fill("M0001")
    page.get_by_label("merchant_id").press("Enter")
    settle(page)
    page.get_by_label("terminal_id").fill("8")
    page.get_by_label("terminal_id").press("Enter")
    settle(page, "live")
    expect(page.get_by_text("Event time").first).to_be_visible()
    key = parse_qs(urlparse(page.url).query)["record"][0]
    assert json.loads(key) == ["M0001", "8"]
    page.wait_for_timeout(1500)  # the record's table draws on a canvas after the run settles
    shot(page, "composite-key-lookup", full_page=True)
    shared = page.context.new_page()
    shared.goto(page.url)
    settle(shared, "live")
    expect(shared.get_by_label("terminal_id")).to_have_value("8")
    shared.goto(shared.url.replace("tab=Online+lookup", "tab=History"))
    settle(shared, "1 version")
    expect(shared.get_by_label("merchant_id")).to_have_value("M0001")
    shot(shared, "composite-key-history", full_page=True)
    shared.close()
