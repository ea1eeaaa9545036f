"""Shared fixtures: a fresh store in tmp_path and a typical feature group."""
from __future__ import annotations

import pytest

from store import Feature, FeatureStore

CUSTOMER_FEATURES = [
    Feature("customer_id", "Integral"),
    Feature("event_time", "String"),
    Feature("age", "Integral"),
    Feature("score", "Fractional"),
    Feature("name", "String"),
    Feature("tags", "String", collection="List"),
]


@pytest.fixture
def fs(tmp_path):
    store = FeatureStore(tmp_path / "store")
    yield store
    store.close()


@pytest.fixture
def customers(fs):
    fs.create_feature_group("customers", "customer_id", "event_time", CUSTOMER_FEATURES,
                            description="Customer profiles", tags={"team": "risk"})
    return "customers"


def t(day: int, hour: int = 0) -> str:
    """An ISO event time on day ``day`` of January 2024."""
    return f"2024-01-{day:02d}T{hour:02d}:00:00Z"


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    """The HTTP server in a child process on a free port, with a store of its own, per test module."""
    from store.server.process import LocalServer

    with LocalServer(tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]) / "store") as srv:
        yield srv


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell a failed test (the browser
    tests then leave a screenshot of the page as it failed)."""
    outcome = yield
    setattr(item, f"rep_{call.when}", outcome.get_result())
