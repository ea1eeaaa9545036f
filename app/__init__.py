"""The Streamlit studio: a thin client of the ``store`` package's public API."""
