"""Signing in to the studio in a real Chromium: a viewer is not shown Create, Ingest or Audit and
cannot open a group it may not see; an editor ingests a file."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import pandas as pd
import pytest
from access_support import write_access
from e2e_support import browser, expect, launched, page, pytestmark, settle, shot  # noqa: F401

from store import FeatureStore
from store.demo import seed


@contextmanager
def secured(tmp_path_factory, **env: str) -> Iterator[str]:
    """The studio over a seeded store with the access file, in the sign-in mode ``env`` sets."""
    store = tmp_path_factory.mktemp("e2e-access") / "store"
    with FeatureStore(store) as fs:
        seed(fs)
    write_access(store)
    with launched(store, tmp_path_factory, **env) as server:
        yield server.url


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    with secured(tmp_path_factory, FEATURESTORE_UI_AUTH="password") as url:
        yield url


def sign_in(page, name: str, password: str, url: str = "/") -> None:
    """Sign in on ``url`` in a browser not signed in yet (the page asked for opens once signed in)."""
    page.goto(url)
    settle(page, "Sign in")
    page.get_by_role("textbox", name="User name").fill(name)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    settle(page, f"Signed in as {name}")


def test_a_viewer_cannot_ingest_or_open_hidden_groups_and_an_editor_ingests(page, browser, studio, tmp_path):
    sign_in(page, "vera", "vera-password")
    shot(page, "access_1_viewer_catalog")
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav).to_contain_text("Catalog")
    for hidden in ("Create", "Ingest", "Audit"):  # a viewer everywhere is not shown what it could not use
        expect(nav.get_by_role("link", name=hidden, exact=True)).to_have_count(0)
    page.goto("/group?group=customers")  # a deep link, in the same tab: still signed in
    settle(page, "your roles do not let you see it")
    shot(page, "access_3_viewer_hidden_group")

    editor = browser.new_context(viewport={"width": 1400, "height": 1200}, base_url=studio).new_page()
    sign_in(editor, "ed", "ed-password", "/ingest?group=merchants")
    path = tmp_path / "merchants_update.csv"
    pd.DataFrame({"merchant_id": ["M0001", "M0002"], "name": ["Corner Shop", "Café Ünïcode"],
                  "category": ["grocery", "food"], "country": ["GB", "FR"], "risk_score": [0.1, 0.2],
                  "event_time": ["2030-01-01T00:00:00Z", "2030-01-01T00:00:00Z"]}).to_csv(path, index=False)
    settle(editor, "Upload a file to preview it")
    editor.locator("input[type=file]").set_input_files(str(path))
    settle(editor, "Map columns to features")
    editor.get_by_role("button", name="Ingest", exact=True).click()
    settle(editor, "wrote 2 of 2 rows")
    shot(editor, "access_4_editor_ingested")
    editor.context.close()


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    """The studio (trusting 127.0.0.1), and a proxy on 127.0.0.1 in front that signed in vera."""
    from servers.header_proxy import header_proxy

    with secured(tmp_path_factory, FEATURESTORE_UI_AUTH="proxy", FEATURESTORE_UI_PROXY_ADDRESS="127.0.0.1") as url:
        with header_proxy(url, "vera") as front:
            yield url, front


def test_behind_a_proxy_the_user_header_names_the_principal(browser, proxied):
    studio, front = proxied
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=front)
    tab = context.new_page()
    tab.goto("/")
    settle(tab, "Signed in as vera")
    expect(tab.get_by_test_id("stDataFrame").first).to_contain_text("merchants")
    expect(tab.get_by_test_id("stDataFrame").first).not_to_contain_text("customers")
    context.close()
    bare = browser.new_context(base_url=studio).new_page()  # around the proxy: no header, no entry
    bare.goto("/")
    settle(bare, "sign in through the proxy")
    bare.context.close()
