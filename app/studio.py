"""Studio entry point (``featurestore ui`` or ``streamlit run app/studio.py``).

Opens the default store (``$FEATURESTORE_HOME`` or ``./.featurestore``), seeds an empty one with
the sample data so a newcomer sees real groups, history and lineage, and routes to the pages in
``app/pages_/`` (one module per page, layout only).
"""
from __future__ import annotations

import os
import sys

import streamlit as st

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # `streamlit run` puts app/ on the path, not the repository
    sys.path.insert(0, ROOT)

from app import auth, common  # noqa: E402

# A local icon: a Material icon name would make the browser fetch it from a public font host.
st.set_page_config(page_title="Feature Store Studio", page_icon=os.path.join(ROOT, "app", "static", "icon.png"),
                   layout="wide")
with common.engine_errors(), common.unexpected_errors():
    who = auth.principal(common.base_store())
    # Navigation is resolved even before sign-in, so a deep link opens its page once signed in.
    page = st.navigation(common.navigation(), position="sidebar" if who else "hidden", expanded=True)
    if who is None:  # the sign-in form is on the page
        st.stop()
    st.session_state[common.WHO_KEY] = who
    fs = common.store()
    where = [f"Store `{fs.shared_url or fs.path}`"]  # (the URL every machine opens a shared one by) and parts elsewhere
    if not fs.offline_location.startswith(fs.path):
        where.append(f"Offline files `{fs.offline_location}`")
    if fs.online_location != fs.registry_location:
        where.append(f"Online store `{fs.online_location}`")
    st.sidebar.caption("  \n".join(where))
    auth.footer(who)
    auth.sign_out_button()
    common.one_history_entry_per_view()
    common.show_flash()
    page.run()
