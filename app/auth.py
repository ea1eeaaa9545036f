"""Who is using the studio, by the mode ``featurestore ui --auth`` chose ($FEATURESTORE_UI_AUTH):

- ``none``: no sign-in; the studio binds 127.0.0.1 and acts as the OS user (says so in the footer).
- ``password``: a sign-in form for the access file's users (scrypt hashes); failures are
  rate-limited per user name, sessions expire, and the sidebar signs out.
- ``oidc``: Streamlit's ``st.login`` with the provider in ``.streamlit/secrets.toml``; the
  principal is the identity's email.
- ``proxy``: the user named by a header ($FEATURESTORE_UI_PROXY_HEADER, default X-Forwarded-User),
  trusted only from the proxy's address ($FEATURESTORE_UI_PROXY_ADDRESS).

The principal's handle on the store (``FeatureStore.with_principal``) enforces the roles; pages
only hide what it would refuse.
"""
from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:
    from store import FeatureStore

MODES = ("none", "password", "oidc", "proxy")
MAX_FAILURES, LOCKOUT_SECONDS = 5, 60
SESSION_SECONDS = float(os.environ.get("FEATURESTORE_UI_SESSION_HOURS", "8")) * 3600
_SIGNED_IN = "_principal"


def mode() -> str:
    value = os.environ.get("FEATURESTORE_UI_AUTH", "none")
    return value if value in MODES else "none"


@st.cache_resource
def _failures() -> tuple[dict[str, list[float]], threading.Lock]:
    """Recent failed sign-ins per user name, shared by every session of this studio."""
    return {}, threading.Lock()


def principal(fs: "FeatureStore") -> str | None:
    """The signed-in principal's name, or None after drawing what it takes to sign in (the
    caller stops the page)."""
    how = mode()
    if how == "none":
        from store.access.guard import default_principal

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
    signed = st.session_state.get(_SIGNED_IN)
    if signed and time.time() - signed[1] < SESSION_SECONDS:
        return signed[0]
    if signed:
        st.session_state.pop(_SIGNED_IN)
        st.info("Your session expired; sign in again.", icon=":material/schedule:")
    st.title("Sign in")
    with st.form("sign_in"):
        name = st.text_input("User name")
        password = st.text_input("Password", type="password")
        go = st.form_submit_button("Sign in", type="primary")
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
        policy = fs._guard.current() if fs._guard is not None else None  # a published one as it stands now
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
        st.session_state[_SIGNED_IN] = (user.name, now)
        st.rerun()
    return None


def sign_out_button() -> None:
    if mode() == "password" and st.session_state.get(_SIGNED_IN):
        if st.sidebar.button("Sign out", icon=":material/logout:"):
            st.session_state.pop(_SIGNED_IN, None)
            st.rerun()
    elif mode() == "oidc" and st.user.is_logged_in:
        st.sidebar.button("Sign out", on_click=st.logout, icon=":material/logout:")


def footer(name: str) -> None:
    """Who the studio acts as, and how open it is."""
    if mode() == "none":
        st.sidebar.caption(f":material/lock_open: No sign-in: this studio listens on this machine only and acts "
                           f"as **{name}**.")
    else:
        st.sidebar.caption(f":material/person: Signed in as **{name}**")
