"""The studio under an access file: password sign-in (wrong passwords refused and rate-limited),
a viewer sees only its groups and no write actions, an editor ingests, sign-out; and the open
mode says whom it acts as."""
from __future__ import annotations

import pytest
from access_support import write_access
from studio_support import STUDIO, button, ok, page, seeded_template, studio_store, texts  # noqa: F401
from streamlit.testing.v1 import AppTest


@pytest.fixture
def secured(studio_store, monkeypatch):
    write_access(studio_store)
    monkeypatch.setenv("FEATURESTORE_UI_AUTH", "password")
    from app.ui import auth

    auth._failures.clear()
    return studio_store


def sign_in(name: str, password: str, **query: str) -> AppTest:
    at = AppTest.from_file(STUDIO, default_timeout=60)
    at.query_params.update(query)
    at.run()
    assert at.title[0].value == "Sign in"
    at.text_input[0].set_value(name)
    at.text_input[1].set_value(password)
    return at.button[0].click().run()


def test_a_viewer_signs_in_and_sees_only_what_it_may_read(secured):
    at = ok(sign_in("vera", "vera-password"))
    assert "Signed in as **vera**" in texts(at)
    at.switch_page("app_pages/catalog.py").run()
    assert set(at.dataframe[0].value["group"]) == {"merchants", "transactions"}
    for name in ("ingest", "create", "audit"):  # a viewer everywhere is not shown the pages it could not use
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(f"app_pages/{name}.py")
    at.query_params["group"] = "customers"
    at.switch_page("app_pages/group.py").run()
    assert at.error[0].value == "Feature group **customers** does not exist, or your roles do not let you see it."
    at.query_params["group"] = "transactions"
    for name in ("monitoring", "pipelines", "lineage", "datasets", "storage", "sql", "on_demand", "services"):
        ok(at.switch_page(f"app_pages/{name}.py").run())  # every page works within the viewer's groups
        if name == "on_demand":  # the sample's one reads customer_spend, which vera may not see
            assert "No on-demand features yet" in texts(at) and "needs the owner role on every group" in texts(at)
    assert "Defining feature services needs an admin grant" in texts(at)


def test_an_editor_may_ingest_its_group(secured):
    at = ok(sign_in("ed", "ed-password"))
    at.query_params["group"] = "merchants"
    at.switch_page("app_pages/ingest.py").run()
    assert at.get("file_uploader") and "but not write to it" not in texts(at)
    at.query_params["group"] = "transactions"  # a group it only reads
    at.switch_page("app_pages/ingest.py").run()
    assert "You may read **transactions** but not write to it" in texts(at) and not at.get("file_uploader")
    with pytest.raises(ValueError, match="Could not find a navigation page"):  # no admin grant
        at.switch_page("app_pages/create.py")


def test_wrong_passwords_are_refused_then_rate_limited_and_sign_out_works(secured):
    at = sign_in("vera", "wrong")
    assert at.error[0].value == "Wrong user name or password."
    for _ in range(4):
        at = sign_in("vera", "wrong")
    at = sign_in("vera", "vera-password")  # the right one, but only after the lockout
    assert "Too many failed sign-ins for 'vera'" in at.error[0].value
    at = ok(sign_in("ed", "ed-password"))
    at = button(at, "Sign out").click().run()
    assert at.title[0].value == "Sign in"


def test_without_sign_in_the_studio_says_whom_it_acts_as(studio_store):
    at = ok(page("catalog"))
    assert "No sign-in: this studio listens on this machine only" in texts(at)


def test_the_audit_page_lists_writes_and_refusals_for_admins_only(secured, monkeypatch):
    from store import AccessDenied, FeatureStore

    with FeatureStore(secured, principal="vera") as vera:
        with pytest.raises(AccessDenied):
            vera.put_record("merchants", {"merchant_id": "M0001", "event_time": "2030-01-01T00:00:00Z"})
    at = sign_in("vera", "vera-password")
    with pytest.raises(ValueError, match="Could not find a navigation page"):  # not offered to a non-admin
        at.switch_page("app_pages/audit.py")
    monkeypatch.setenv("FEATURESTORE_UI_AUTH", "none")
    monkeypatch.setenv("FEATURESTORE_PRINCIPAL", "root")
    at = ok(page("audit"))
    table = at.dataframe[0].value
    assert table[["principal", "action", "group", "outcome"]].values.tolist()[0] == ["vera", "put_record", "merchants",
                                                                                    "denied"]
    ok(button(at, "Verify the chain").click().run())
    assert at.success[0].value.startswith("The log is intact")


def test_only_an_owner_sees_how_to_change_or_delete_a_group(secured):
    for name, owner in (("ed", False), ("olga", True)):
        at = ok(sign_in(name, "ed-password"))
        at.query_params["group"] = "merchants"
        at.switch_page("app_pages/group.py").run()
        assert ("Delete feature group" in [b.label for b in at.button]) is owner
        assert ("Changing or deleting this group needs the owner role on it" in texts(at)) is not owner


def test_actions_a_role_lacks_are_not_offered(secured):
    at = ok(sign_in("ed", "ed-password"))  # a viewer of customer_spend, the sample pipeline's target
    at.switch_page("app_pages/pipelines.py").run()
    assert "Running this pipeline needs the editor role on customer_spend" in texts(at)
    assert not [b for b in at.button if b.label in ("Run now", "Pause", "Delete pipeline")]
    assert not [e for e in at.expander if e.label == "New pipeline"]
    at.query_params.update({"group": "merchants", "tab": "Schema"})
    at.switch_page("app_pages/group.py").run()
    assert "Editing features and rules needs the owner role on this group" in texts(at)
    assert "Save rules" not in [b.label for b in at.button]


@pytest.mark.parametrize("seen,trusted,same", [("127.0.0.1", "127.0.0.1", True), ("::ffff:127.0.0.1", "127.0.0.1", True),
                                               ("::1", "127.0.0.1", False), ("10.0.0.7", "127.0.0.1", False),
                                               ("::ffff:10.0.0.7", "10.0.0.7", True), ("::1", "::1", True)])
def test_the_trusted_proxy_is_recognised_on_a_dual_stack_server(seen, trusted, same):
    from app.ui.auth import _same_address

    assert _same_address(seen, trusted) is same
