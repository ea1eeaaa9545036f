"""Shared fixtures for the studio tests: the sample store seeded once per session and copied for
each test (seeding takes seconds, copying a fraction of one), and AppTest runs of one page."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest
from streamlit.testing.v1 import AppTest

from store import FeatureStore
from store.demo import seed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STUDIO = os.path.join(ROOT, "app", "studio.py")


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("template") / "store")
    with FeatureStore(path) as fs:
        seed(fs)
    return path


@pytest.fixture
def studio_store(seeded_template: str, tmp_path, monkeypatch: pytest.MonkeyPatch):
    """A private copy of the seeded store that the studio opens (via $FEATURESTORE_HOME).

    Parquet files are hard links (``cp -al``; the store never changes one in place, it writes new
    files and renames), the SQLite files real copies. The copy is removed afterwards rather than
    left for pytest, whose deferred clean-up of thousands of partition folders is slow. Uploads
    the studio saves land in the test's own temporary folder."""
    path = str(tmp_path / "store")
    subprocess.run(["cp", "-al", seeded_template, path], check=True)
    for name in os.listdir(path):
        if name.startswith("featurestore.db"):
            os.remove(os.path.join(path, name))
            shutil.copy2(os.path.join(seeded_template, name), os.path.join(path, name))
    monkeypatch.setenv("FEATURESTORE_HOME", path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    yield path
    from app.ui import session

    session._open.clear()
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def fs(studio_store: str):
    """A second client of the studio's store, for setting up and checking what the studio did."""
    with FeatureStore(studio_store) as store:
        yield store


def page(name: str, **query: str) -> AppTest:
    """Run ``app/app_pages/<name>.py`` through the studio's entry script, with URL query parameters."""
    at = AppTest.from_file(STUDIO, default_timeout=60)
    at.query_params.update(query)
    at.switch_page(f"app_pages/{name}.py")
    return at.run()


def button(at: AppTest, label: str):
    """The button with this label (AppTest keys buttons by position otherwise)."""
    return next(b for b in at.button if b.label == label)


def ok(at: AppTest) -> AppTest:
    """Assert the run raised nothing and showed no error; return it for chaining."""
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def texts(at: AppTest) -> str:
    """Everything the page wrote as text (markdown, captions, alerts), for loose assertions."""
    parts = [e.value for kind in ("markdown", "caption", "info", "warning", "success", "error", "title", "subheader")
             for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def edits(added=(), edited=None, deleted=()) -> dict:
    """A data editor's edit state, as the browser would send it."""
    return {"edited_rows": edited or {}, "added_rows": list(added), "deleted_rows": list(deleted)}
