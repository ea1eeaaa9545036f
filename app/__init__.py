"""The Streamlit studio: a thin client of the ``store`` package's public API. ``studio.py`` is the
entry point, ``app_pages/`` the pages, ``ui/`` what they share, ``data.py`` the cached reads."""
