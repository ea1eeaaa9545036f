"""Studio entry point (``featurestore ui`` or ``streamlit run app/studio.py``).

Opens the default store (``$FEATURESTORE_HOME`` or ``./.featurestore``), seeds an empty one with
the sample data so a newcomer sees real groups, history and lineage, and routes to the pages in
``app/app_pages/`` (one module per page, layout only; what they share is in ``app/ui/``).
"""
from __future__ import annotations

import os
import sys

import streamlit as st

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # `streamlit run` puts app/ on the path, not the repository
    sys.path.insert(0, ROOT)

from app.ui import auth, errors, nav, session  # noqa: E402

# A local icon: a Material icon name would make the browser fetch it from a public font host.
st.set_page_config(page_title="Feature Store Studio", page_icon=os.path.join(ROOT, "app", "static", "icon.png"),
                   layout="wide")
with errors.engine_errors(), errors.unexpected_errors():
    who = auth.principal(session.base_store())
    if who is not None:
        st.session_state[session.WHO_KEY] = who
    fs = session.store() if who is not None else None
    # Before sign-in every page is listed (hidden), so a deep link opens its page once signed in;
    # after it, only the pages the principal may use.
    page = st.navigation(nav.navigation(fs), position="sidebar" if who else "hidden", expanded=True)
    if fs is None:  # the sign-in form is on the page
        st.stop()
    where = [f"Store `{fs.shared_url or fs.path}`"]  # (the URL every machine opens a shared one by) and parts elsewhere
    if not fs.offline_location.startswith(fs.path):
        where.append(f"Offline files `{fs.offline_location}`")
    if fs.online_location != fs.registry_location:
        where.append(f"Online store `{fs.online_location}`")
    st.sidebar.caption("  \n".join(where))
    auth.footer(who)
    auth.sign_out_button()
    nav.one_history_entry_per_view()
    session.show_flash()
    page.run()
