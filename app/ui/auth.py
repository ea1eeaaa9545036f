"""Who is using the studio, by the mode ``featurestore ui --auth`` chose ($FEATURESTORE_UI_AUTH):

- ``none``: no sign-in; the studio binds 127.0.0.1 and acts as the OS user (says so in the footer).
- ``password``: a sign-in form for the access file's users (scrypt hashes); failures are
  rate-limited per user name, and the sidebar signs out. A session is a token this studio signs
  (HMAC with a secret that never leaves its process) kept in the tab's state and in a browser
  cookie, so a reload or a pasted link stays signed in; it expires, and a sign-out, the user's
  removal from the access file or a new password refuses it.
- ``oidc``: Streamlit's ``st.login`` with the provider in ``.streamlit/secrets.toml``; the
  principal is the identity's email.
- ``proxy``: the user named by a header ($FEATURESTORE_UI_PROXY_HEADER, default X-Forwarded-User),
  trusted only from the proxy's address ($FEATURESTORE_UI_PROXY_ADDRESS).

The principal's handle on the store (``FeatureStore.with_principal``) enforces the roles; pages
only hide what it would refuse.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:
    from store import FeatureStore
    from store.upload import AccessFile, Principal

MODES = ("none", "password", "oidc", "proxy")
MAX_FAILURES, LOCKOUT_SECONDS = 5, 60
SESSION_SECONDS = float(os.environ.get("FEATURESTORE_UI_SESSION_HOURS", "8")) * 3600
_SIGNED_IN = "_session"  # the tab's session token


def mode() -> str:
    value = os.environ.get("FEATURESTORE_UI_AUTH", "none")
    return value if value in MODES else "none"


@st.cache_resource
def _failures() -> tuple[dict[str, list[float]], threading.Lock]:
    """Recent failed sign-ins per user name, shared by every session of this studio."""
    return {}, threading.Lock()


class Sessions:
    """Signed session tokens: ``name, expiry, nonce`` and an HMAC-SHA256 of them with a secret made
    at start-up and kept in memory only (a restart signs everyone out; nothing on disk to steal),
    keyed with the user's password hash too, so a new password ends the sessions the old one
    opened. A sign-out revokes its token's nonce until the token would have expired."""

    def __init__(self, seconds: float = SESSION_SECONDS) -> None:
        self.seconds = seconds
        self._secret = secrets.token_bytes(32)
        # Cookies ignore the port: each studio on a host has a cookie name of its own.
        self.cookie = "featurestore_session_" + hmac.new(self._secret, b"cookie", hashlib.sha256).hexdigest()[:12]
        self._revoked: dict[str, float] = {}  # nonce -> the token's expiry
        self._lock = threading.Lock()

    def issue(self, user: "Principal", now: float) -> str:
        body = f"{user.name}\n{int(now + self.seconds)}\n{secrets.token_hex(16)}"
        payload = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
        return f"{payload}.{self._mac(payload, user)}"

    def check(self, token: str, policy: "AccessFile | None", now: float) -> tuple[str | None, bool]:
        """(the user's name, False) for a token this studio signed for a password user of the
        policy in force, unexpired and not revoked; else (None, whether it merely expired)."""
        parsed = self._parse(token)
        if parsed is None or policy is None:
            return None, False
        name, expiry, nonce, payload, mac = parsed
        user = policy.principal(name)
        if user is None or user.kind != "user" or not hmac.compare_digest(mac, self._mac(payload, user)):
            return None, False
        if expiry <= now:
            return None, True
        with self._lock:
            if nonce in self._revoked:
                return None, False
        return name, False

    def revoke(self, token: str, now: float) -> None:
        parsed = self._parse(token)
        if parsed is None:
            return
        with self._lock:
            self._revoked = {n: e for n, e in self._revoked.items() if e > now}  # expired ones refuse themselves
            self._revoked[parsed[2]] = parsed[1]

    def _mac(self, payload: str, user: "Principal") -> str:
        return hmac.new(self._secret, f"{payload}\n{user.password_hash}".encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def _parse(token: str) -> tuple[str, float, str, str, str] | None:
        try:
            payload, mac = token.rsplit(".", 1)
            name, expiry, nonce = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode().split("\n")
            return name, float(expiry), nonce, payload, mac
        except (ValueError, UnicodeDecodeError):
            return None


@st.cache_resource
def _sessions() -> Sessions:
    """This studio's sessions, shared by every browser session it serves."""
    return Sessions()


def principal(fs: "FeatureStore") -> str | None:
    """The signed-in principal's name, or None after drawing what it takes to sign in (the
    caller stops the page)."""
    how = mode()
    if how == "none":
        from store.upload import default_principal

        return default_principal()
    if how == "oidc":
        if not st.user.is_logged_in:
            st.title("Sign in")
            st.button("Sign in with your identity provider", on_click=st.login, type="primary")
            return None
        return str(st.user.get("email") or st.user.get("name"))
    if how == "proxy":
        return _proxied()
    return _password(fs)


def _proxied() -> str | None:
    header = os.environ.get("FEATURESTORE_UI_PROXY_HEADER", "X-Forwarded-User")
    trusted = os.environ.get("FEATURESTORE_UI_PROXY_ADDRESS", "127.0.0.1")
    name = st.context.headers.get(header)
    if not _same_address(st.context.ip_address, trusted) or not name:
        st.error(f"This studio trusts the {header} header from {trusted} only; sign in through the proxy.",
                 icon=":material/lock:")
        return None
    return name


def _same_address(seen: str | None, trusted: str) -> bool:
    """Whether the peer is the trusted proxy; a dual-stack server sees 127.0.0.1 as ::ffff:127.0.0.1."""
    import ipaddress

    if seen is None:  # no peer address: Streamlit's own test client
        return True
    try:
        address = ipaddress.ip_address(seen)
        address = getattr(address, "ipv4_mapped", None) or address
        return address == ipaddress.ip_address(trusted)
    except ValueError:
        return seen == trusted


def _password(fs: "FeatureStore") -> str | None:
    sessions = _sessions()
    policy = fs.policy()  # a published one as it stands now
    cookie = st.context.cookies.get(sessions.cookie)
    token = st.session_state.get(_SIGNED_IN) or cookie  # the tab's own, else the browser's (a reload)
    if token:
        name, expired = sessions.check(token, policy, time.time())
        if name is not None:
            st.session_state[_SIGNED_IN] = token
            return name
        st.session_state.pop(_SIGNED_IN, None)
        if expired:
            st.info("Your session expired; sign in again.", icon=":material/schedule:")
    st.title("Sign in")
    with st.form("sign_in"):
        name = st.text_input("User name")
        password = st.text_input("Password", type="password")
        go = st.form_submit_button("Sign in", type="primary")
    if cookie:  # signed out, expired or revoked: the browser forgets it too
        _set_cookie(sessions.cookie, "")
    if go:
        failures, lock = _failures()
        now = time.time()
        with lock:
            recent = [t for t in failures.get(name, []) if now - t < LOCKOUT_SECONDS]
            failures[name] = recent
        if len(recent) >= MAX_FAILURES:
            fs.record_sign_in(name, "locked", {"failures": len(recent), "locked_seconds": LOCKOUT_SECONDS})
            st.error(f"Too many failed sign-ins for {name!r}; wait a minute and try again.", icon=":material/lock:")
            return None
        user = policy.sign_in(name, password) if policy is not None else None
        if user is None:
            tried = len(recent) + 1  # this failure included
            with lock:
                failures.setdefault(name, []).append(now)
            # a refusal like any other: the audit log keeps it, in the name tried (the last one allowed locks)
            locks = tried >= MAX_FAILURES
            fs.record_sign_in(name, "locked" if locks else "denied",
                              {"failures": tried, **({"locked_seconds": LOCKOUT_SECONDS} if locks else {})})
            st.error("Wrong user name or password.", icon=":material/error:")
            return None
        st.session_state[_SIGNED_IN] = sessions.issue(user, now)
        st.rerun()
    return None


def _set_cookie(name: str, value: str) -> None:
    """Set (or, with no value, delete) a cookie in the browser: Streamlit reads cookies
    (``st.context.cookies``) but has no call to set one, so a line of script does. A session
    cookie, sent back to this host only, never from another site's page."""
    attributes = "; Path=/; SameSite=Strict" + ("" if value else "; Max-Age=0")
    script = (f"document.cookie = {json.dumps(f'{name}={value}{attributes}')} + "
              "(location.protocol === 'https:' ? '; Secure' : '');")
    st.html(f"<script>{script}</script>", unsafe_allow_javascript=True)


def sign_out_button() -> None:
    token = st.session_state.get(_SIGNED_IN)
    if mode() == "password" and token:
        sessions = _sessions()
        if st.sidebar.button("Sign out", icon=":material/logout:"):
            sessions.revoke(token, time.time())
            st.session_state.pop(_SIGNED_IN, None)
            st.rerun()
        if st.context.cookies.get(sessions.cookie) != token:  # a fresh sign-in: keep it across reloads
            with st.sidebar:
                _set_cookie(sessions.cookie, token)
    elif mode() == "oidc" and st.user.is_logged_in:
        st.sidebar.button("Sign out", on_click=st.logout, icon=":material/logout:")


def footer(name: str) -> None:
    """Who the studio acts as, and how open it is."""
    if mode() == "none":
        st.sidebar.caption(f":material/lock_open: No sign-in: this studio listens on this machine only and acts "
                           f"as **{name}**.")
    else:
        st.sidebar.caption(f":material/person: Signed in as **{name}**")
