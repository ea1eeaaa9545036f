"""The audit log in a real Chromium (issue 20): failed sign-ins and a lockout show on the Audit
page (F15); a viewer finds Save monitor disabled and no Delete dataset (F14); and a studio over a
store without an access file shows its log too."""
from __future__ import annotations

import pandas as pd
import pytest
from access_support import write_access
from e2e_support import browser, expect, launched, page, pytestmark, settle, shot  # noqa: F401
from test_e2e_access import sign_in

from store import FeatureStore
from store.access.policy import hash_password
from store.demo import seed

ADMIN = "  - name: ana\n    password_hash: {}\n    roles: [{{role: admin}}]\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The seeded store with the access file, an admin ana who signs in with a password, and a
    dataset vera recorded."""
    path = tmp_path_factory.mktemp("e2e-audit") / "store"
    with FeatureStore(path) as fs:
        seed(fs)
    write_access(path)
    with open(path / "access.yaml", "a", encoding="utf-8") as fh:
        fh.write(ADMIN.format(hash_password("ana-password")))
    with FeatureStore(path, principal="vera") as vera:
        vera.build_dataset(pd.DataFrame({"merchant_id": ["M0001"], "event_time": ["2030-01-01T00:00:00Z"]}),
                           ["merchants:risk_score"], name="vera_set")
    return path


@pytest.fixture(scope="module")
def studio(store, tmp_path_factory):
    with launched(store, tmp_path_factory, FEATURESTORE_UI_AUTH="password") as server:
        yield server.url


def refused(page, name: str, password: str, says: str) -> None:
    page.get_by_role("textbox", name="User name").fill(name)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    settle(page, says)


def test_failed_sign_ins_and_a_lockout_are_on_the_audit_page(page, browser, studio):
    page.goto("/")
    settle(page, "Sign in")
    for _ in range(5):
        refused(page, "olga", "wrong", "Wrong user name or password")
    refused(page, "olga", "ed-password", "Too many failed sign-ins for 'olga'")
    shot(page, "audit_1_locked")
    sign_in(page, "ana", "ana-password", "/audit")
    settle(page, "Audit log")
    page.get_by_role("combobox", name="Who").click()
    page.get_by_role("option", name="olga", exact=True).click()
    settle(page, "6 entries shown, 6 of them refusals")
    shot(page, "audit_2_sign_ins_logged")


def test_a_viewer_is_not_offered_save_monitor_or_delete_dataset(page, studio):
    sign_in(page, "vera", "vera-password", "/monitoring?group=merchants")
    settle(page, "Drift")
    settings = page.get_by_test_id("stExpander").filter(has_text="merchants has no monitor: set one up")
    settings.locator("summary").click()
    save = settings.get_by_role("button", name="Save monitor")
    expect(save).to_be_visible()
    expect(save).to_be_disabled()
    save.scroll_into_view_if_needed()
    shot(page, "audit_3_viewer_monitor")
    page.goto("/datasets?dataset=vera_set")  # a pasted link in the same tab keeps the session (F6)
    settle(page, "Rebuild on today's data")
    expect(page.get_by_text("Delete this dataset")).to_have_count(0)
    shot(page, "audit_4_viewer_dataset")


@pytest.fixture(scope="module")
def open_studio(tmp_path_factory):
    path = tmp_path_factory.mktemp("e2e-audit-open") / "store"
    with FeatureStore(path, principal="carl") as fs:
        fs.create_feature_group("tx", "tid", "ts", [{"name": "tid", "type": "String"}, {"name": "ts", "type": "String"}])
        fs.put_record("tx", {"tid": "a", "ts": "2030-01-01T00:00:00Z"})
    with launched(path, tmp_path_factory) as server:
        yield server.url


def test_the_audit_page_shows_the_log_of_a_store_without_an_access_file(browser, open_studio):
    tab = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=open_studio).new_page()
    tab.goto("/audit")
    settle(tab, "2 entries shown, 0 of them refusals")
    tab.get_by_role("button", name="Verify the chain").click()
    settle(tab, "The log is intact: 2 entries")
    shot(tab, "audit_5_open_store")
    tab.context.close()
