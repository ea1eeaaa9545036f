"""Package hygiene: the engine never imports Streamlit, the public surface is deliberate, the CLI is quick."""
from __future__ import annotations

import subprocess
import sys
import time

import store


def test_engine_imports_no_streamlit():
    code = (
        "import sys, store, store.featurestore, store.cli, store.retrieval.dataset, store.offline.snapshot, store.ingest.prepare, store.registry.lineage\n"
        "from store import FeatureStore\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('streamlit', 'plotly')]\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_public_names_are_exactly_the_intended_ones():
    assert sorted(store.__all__) == sorted([
        "AccessDenied", "Conflict", "Feature", "FeatureGroup", "FeatureStore", "FeatureStoreError",
        "IngestRejected", "Interrupted", "NotFound", "OnDemandFeature", "StorageFull", "StoreCorrupted",
        "ValidationError", "default_path", "on_demand"])
    for name in store.__all__:
        assert getattr(store, name) is not None


def test_error_hierarchy_has_http_statuses():
    assert issubclass(store.IngestRejected, store.ValidationError)
    assert {c.status for c in (store.ValidationError, store.NotFound, store.Conflict, store.AccessDenied)} == {400, 404, 409, 403}
    assert all(issubclass(c, store.FeatureStoreError) for c in (store.ValidationError, store.NotFound, store.Conflict))


def test_cli_help_is_fast_and_imports_nothing_heavy():
    code = "import sys, store.cli; print(','.join(m for m in ('pandas','pyarrow','duckdb') if m in sys.modules))"
    heavy = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert heavy == ""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "store.cli", "--help"], check=True, capture_output=True)
    assert time.perf_counter() - started < 2.0  # generous: CI machines vary; bench/ measures it properly
