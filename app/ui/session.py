"""The store a session sees: one open ``FeatureStore`` for the whole server, a handle per signed-in
principal, and messages queued across the rerun an action causes."""
from __future__ import annotations

import os

import streamlit as st

from store import FeatureStore, default_path
from store.demo import seed_if_empty

WHO_KEY = "_who"  # the session's principal, once signed in


@st.cache_resource(show_spinner="Opening the feature store…", on_release=lambda fs: fs.close())
def _open(path: str) -> FeatureStore:
    """One FeatureStore per folder for the whole server: it is thread-safe, and every browser
    session runs on its own thread. Its background maintenance moves buffered puts to Parquet
    every ``$FEATURESTORE_FLUSH_INTERVAL`` seconds and compacts small files."""
    interval = os.environ.get("FEATURESTORE_FLUSH_INTERVAL")  # else the store's own default
    fs = FeatureStore(path, writer="studio", background=True,
                      **({"flush_interval": float(interval)} if interval else {}))
    # Sample data goes into a store of one's own: never one others share, nor one under an access
    # policy (its users' store; the OS user the studio runs as may not even be one of them).
    if fs.shared_url is None and not fs.governed:
        seed_if_empty(fs)
    return fs


def base_store() -> FeatureStore:
    """The studio's open store, shared by every session (``store()`` is what pages use)."""
    return _open(default_path())


def store() -> FeatureStore:
    """The studio's store (``$FEATURESTORE_HOME`` or ``./.featurestore``, seeded when empty) as
    the signed-in principal sees it, when the store has an access file."""
    fs = _open(default_path())
    who = st.session_state.get(WHO_KEY)
    return fs.with_principal(who) if fs.governed and who else fs


def flash(message: str, warning: bool = False) -> None:
    """Queue a message for after the rerun or page switch that usually follows an action: a toast
    for a confirmation, a box that stays for a warning the user must read."""
    st.session_state["_flash"] = (message, warning)


def show_flash() -> None:
    queued = st.session_state.pop("_flash", None)
    if queued:
        message, warning = queued
        if warning:
            st.warning(message, icon=":material/warning:")
        else:
            st.toast(message, icon=":material/check_circle:")
