"""Password sign-in in the studio: the form shows on a store whose access file does not name the OS
user the studio runs as, and a session outlives a reload of its tab (a signed, expiring cookie
the studio can revoke) but not a sign-out, a removal from the access file or a password change."""
from __future__ import annotations

import pytest
from access_support import USERS, write_access
from studio_support import STUDIO, ok, seeded_template, studio_store, texts  # noqa: F401
from streamlit.testing.v1 import AppTest

from store.access.policy import hash_password


def without_root(store: str) -> None:
    """The test access file without its passwordless ``root`` admin: the OS user is nobody here."""
    text = USERS.replace("  - name: root\n    roles: [{{role: admin}}]\n", "")
    assert "root" not in text
    with open(f"{store}/access.yaml", "w", encoding="utf-8") as fh:
        fh.write(text.format(vera=hash_password("vera-password"), ed=hash_password("ed-password")))


@pytest.fixture
def password_mode(monkeypatch):
    monkeypatch.setenv("FEATURESTORE_UI_AUTH", "password")
    from app import auth

    auth._failures.clear()


def test_the_sign_in_shows_when_the_os_user_is_not_in_the_access_file(studio_store, password_mode):
    without_root(studio_store)
    at = ok(AppTest.from_file(STUDIO, default_timeout=60).run())
    assert at.title[0].value == "Sign in"
    at.text_input[0].set_value("vera")
    at.text_input[1].set_value("vera-password")
    at = ok(at.button[0].click().run())
    assert "Signed in as **vera**" in texts(at)
