"""Password sessions in a real Chromium: a reload or a pasted deep link in the same browser stays
signed in; after a sign-out a reload asks again; a tampered cookie is refused."""
from __future__ import annotations

import pytest
from e2e_support import browser, expect, page, pytestmark, settle, shot  # noqa: F401
from test_e2e_access import secured, sign_in


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    with secured(tmp_path_factory, FEATURESTORE_UI_AUTH="password") as url:
        yield url


def session_cookie(page) -> dict:
    """The studio's session cookie, once the page's script has set it (just after the sign-in shows)."""
    for _ in range(50):
        found = [c for c in page.context.cookies() if c["name"].startswith("featurestore_session_")]
        if found:
            [cookie] = found
            return cookie
        page.wait_for_timeout(100)
    raise AssertionError("the studio set no session cookie")


def signed_in_as(page, name: str) -> None:
    settle(page, f"Signed in as {name}")
    expect(page.get_by_role("button", name="Sign in")).to_have_count(0)


def test_a_reload_keeps_the_session_and_a_sign_out_ends_it(page, studio):
    sign_in(page, "vera", "vera-password")
    shot(page, "signin_0_signed_in")
    cookie = session_cookie(page)
    assert cookie["sameSite"] == "Strict" and cookie["expires"] == -1  # a session cookie, this site only
    page.reload()
    signed_in_as(page, "vera")
    shot(page, "signin_1_after_reload")
    page.goto("/group?group=merchants&tab=Schema")  # a pasted deep link, same tab
    signed_in_as(page, "vera")
    expect(page.get_by_role("tab", name="Schema", selected=True)).to_be_visible()
    shot(page, "signin_2_deep_link")

    page.get_by_role("button", name="Sign out").click()
    settle(page, "Sign in")
    shot(page, "signin_3_signed_out")
    page.reload()
    settle(page, "Sign in")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert "Signed in as" not in page.content()
    shot(page, "signin_4_signed_out_after_reload")
    page.context.add_cookies([{**cookie, "sameSite": "Strict"}])  # the old cookie, put back: revoked
    page.reload()
    settle(page, "Sign in")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def test_a_tampered_cookie_is_refused(page, studio):
    sign_in(page, "ed", "ed-password")
    cookie = session_cookie(page)
    payload, mac = cookie["value"].rsplit(".", 1)
    import base64

    body = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode().split("\n")
    forged = base64.urlsafe_b64encode("\n".join(["vera", *body[1:]]).encode()).decode().rstrip("=")
    page.context.add_cookies([{**cookie, "value": f"{forged}.{mac}"}])
    page.reload()
    settle(page, "Sign in")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
