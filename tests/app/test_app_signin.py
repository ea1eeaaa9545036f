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
    from app.ui import auth

    auth._failures.clear()


def test_the_sign_in_shows_when_the_os_user_is_not_in_the_access_file(studio_store, password_mode):
    without_root(studio_store)
    at = ok(AppTest.from_file(STUDIO, default_timeout=60).run())
    assert at.title[0].value == "Sign in"
    at.text_input[0].set_value("vera")
    at.text_input[1].set_value("vera-password")
    at = ok(at.button[0].click().run())
    assert "Signed in as **vera**" in texts(at)


class Policy:
    """An access file's stand-in: its users by name."""

    def __init__(self, *users) -> None:
        self.users = {u.name: u for u in users}

    def principal(self, name: str):
        return self.users.get(name)


def user(name: str, password_hash: str = "scrypt$hash-1", kind: str = "user"):
    from store.access.policy import Grant, Principal

    return Principal(name, kind, (Grant("viewer"),), password_hash)


def test_a_session_token_is_refused_once_forged_expired_revoked_or_its_user_gone():
    from app.ui.auth import Sessions

    sessions, vera = Sessions(seconds=60), user("vera")
    policy, now = Policy(vera, user("ana")), 1_000_000.0
    token = sessions.issue(vera, now)
    assert sessions.check(token, policy, now + 59) == ("vera", False)
    payload, mac = token.rsplit(".", 1)
    ana = __import__("base64").urlsafe_b64encode(f"ana\n{int(now) + 60}\nx".encode()).decode().rstrip("=")
    for forged in (f"{ana}.{mac}", f"{payload}.{'0' * len(mac)}", f"{payload}x.{mac}", "", "a.b", "no-dot"):
        assert sessions.check(forged, policy, now) == (None, False), forged
    assert Sessions(seconds=60).check(token, policy, now) == (None, False)  # another studio (or a restart)
    assert sessions.check(token, policy, now + 60) == (None, True)  # expired
    assert sessions.check(token, Policy(user("ana")), now) == (None, False)  # vera removed from the file
    assert sessions.check(token, Policy(user("vera", "scrypt$hash-2")), now) == (None, False)  # a new password
    assert sessions.check(token, Policy(user("vera", None, kind="identity")), now) == (None, False)
    assert sessions.check(token, None, now) == (None, False)  # no policy in force
    sessions.revoke(token, now)
    assert sessions.check(token, policy, now) == (None, False)
    assert sessions.check(sessions.issue(vera, now), policy, now) == ("vera", False)  # a new sign-in


def test_a_session_survives_a_new_run_without_its_tab_state_through_its_cookie(studio_store, password_mode,
                                                                              monkeypatch):
    """What a reload does: a new session (no tab state) whose request carries the cookie."""
    write_access(studio_store)
    at = AppTest.from_file(STUDIO, default_timeout=60).run()
    at.text_input[0].set_value("vera")
    at.text_input[1].set_value("vera-password")
    at = ok(at.button[0].click().run())
    from app.ui import auth

    token = at.session_state[auth._SIGNED_IN]
    cookie = auth._sessions().cookie
    assert any(cookie in h.proto.body and token in h.proto.body for h in at.get("html"))  # the browser keeps it
    monkeypatch.setattr(type(__import__("streamlit").context), "cookies", property(lambda _: {cookie: token}))
    again = ok(AppTest.from_file(STUDIO, default_timeout=60).run())
    assert "Signed in as **vera**" in texts(again)
    next(b for b in at.button if b.label == "Sign out").click().run()
    again = AppTest.from_file(STUDIO, default_timeout=60).run()
    assert again.title[0].value == "Sign in"  # the cookie the browser may still send is refused
