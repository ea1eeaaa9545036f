"""The CLI tests' shared fixture: ``run(*args)`` invokes ``featurestore --store <tmp>/store ARGS``
in-process (an unexpected exception fails the test rather than becoming an exit code)."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from store.cli import main


@pytest.fixture
def run(tmp_path):
    runner = CliRunner()
    store = str(tmp_path / "store")

    def invoke(*args: str):
        return runner.invoke(main, ["--store", store, *args], catch_exceptions=False)

    return invoke
