"""Monitoring: drift figures against scipy on random data, freshness, volume, drift between
windows of a group, monitors and their alerts (Python API and CLI)."""
from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from install_support import need
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from store import Feature, ValidationError
from store.cli import main
from store.quality import drift as figures

pytestmark = pytest.mark.registry  # every test on `fs` runs with the store's tables in SQLite and in PostgreSQL

scipy_stats = need("scipy.stats", "The drift figures' reference checks")
scipy_distance = need("scipy.spatial.distance", "The drift figures' reference checks")


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(5, 400), m=st.integers(5, 400), shift=st.floats(-2, 2))
def test_numeric_figures_match_scipy(seed, n, m, shift):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0, 1, n), rng.normal(shift, 1.5, m)
    if rng.random() < 0.3:  # ties, as integer features have
        a, b = np.round(a), np.round(b)
    got = figures.numeric(a, b)
    assert got["ks"] == pytest.approx(scipy_stats.ks_2samp(a, b).statistic, abs=1e-12)
    assert got["wasserstein"] == pytest.approx(scipy_stats.wasserstein_distance(a, b), rel=1e-9, abs=1e-12)
    assert got["mean_change"] == pytest.approx(b.mean() - a.mean())
    edges = np.unique(np.quantile(a, np.linspace(0, 1, figures.BINS + 1)[1:-1]))  # deciles, [edge, next edge)
    bins = [np.bincount(np.searchsorted(edges, x, side="right"), minlength=len(edges) + 1) for x in (a, b)]
    assert got["psi"] == pytest.approx(figures.psi(*bins), rel=1e-9, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(p=st.lists(st.integers(0, 50), min_size=2, max_size=12), data=st.data())
def test_category_figures_match_scipy(p, data):
    q = data.draw(st.lists(st.integers(0, 50), min_size=len(p), max_size=len(p)))
    p, q = np.array(p, dtype=float), np.array(q, dtype=float)
    if p.sum() == 0 or q.sum() == 0:
        return
    assert figures.js_distance(p, q) == pytest.approx(scipy_distance.jensenshannon(p, q, base=2), abs=1e-9)
    table = np.vstack([p, q])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] >= 2:
        expected = scipy_stats.chi2_contingency(table, correction=False).pvalue
        assert figures.chi2_pvalue(p, q) == pytest.approx(expected, rel=1e-6, abs=1e-12)


def test_psi_of_the_same_sample_is_zero_and_grows_with_a_shift():
    rng = np.random.default_rng(1)
    a = rng.normal(0, 1, 50_000)
    assert figures.numeric(a, a)["psi"] == pytest.approx(0, abs=1e-12)
    small, large = figures.numeric(a, a + 0.1)["psi"], figures.numeric(a, a + 1.0)["psi"]
    assert 0 < small < 0.1 < 0.2 < large


@pytest.fixture
def shop(fs):
    """Two weeks of hourly orders; in the last day amounts triple and a new currency appears."""
    fs.create_feature_group("orders", "order_id", "ts", [Feature("order_id", "Integral"), Feature("ts", "String"),
                                                          Feature("amount", "Fractional"), Feature("currency", "String"),
                                                          Feature("note", "String")])
    rng = np.random.default_rng(3)
    # The last order is at least 30 minutes old whatever the clock reads: a 1-minute monitor is late,
    # a 2-hour one is not.
    start = pd.Timestamp.now(tz="UTC").floor("s") - pd.Timedelta(minutes=30) - pd.Timedelta(days=14)
    n = 14 * 24 * 20
    when = start + pd.to_timedelta(np.sort(rng.integers(0, 14 * 24 * 3600, n)), unit="s")
    last_day = when >= when.max() - pd.Timedelta(days=1)
    amount = rng.gamma(2, 20, n) * np.where(last_day, 3, 1)
    currency = np.where(last_day & (rng.random(n) < 0.3), "JPY", rng.choice(["USD", "EUR"], n))
    note = np.where(last_day & (rng.random(n) < 0.5), None, "ok")
    fs.ingest("orders", pd.DataFrame({"order_id": range(n), "ts": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                      "amount": amount, "currency": currency, "note": note}))
    return fs, when


def test_freshness_volume_and_drift_between_windows(shop):
    fs, when = shop
    assert fs.freshness("orders")["status"] == "unknown"
    fs.set_monitor("orders", expected_interval=timedelta(hours=2))
    assert fs.freshness("orders")["status"] == "ok"
    daily = fs.volume("orders", by="day")
    assert daily["rows"].sum() == len(when) and len(daily) in (14, 15)
    assert fs.volume("orders", by="hour", clock="write_time")["rows"].sum() == len(when)
    end = when.max() + pd.Timedelta(seconds=1)
    cut = end - pd.Timedelta(days=1)
    table = fs.drift("orders", (cut - pd.Timedelta(days=7), cut), (cut, end)).set_index("feature")
    assert table.loc["amount", "psi"] > 0.5 and table.loc["amount", "status"] == "alert"
    assert table.loc["currency", "new_categories"] == ["JPY"] and table.loc["currency", "chi2_pvalue"] < 1e-6
    assert table.loc["note", "null_rate_change"] == pytest.approx(0.5, abs=0.1)
    calm = fs.drift("orders", (cut - pd.Timedelta(days=7), cut - pd.Timedelta(days=4)),
                    (cut - pd.Timedelta(days=3), cut)).set_index("feature")
    assert calm.loc["amount", "status"] == "ok" and calm.loc["amount", "psi"] < 0.1
    with pytest.raises(ValidationError, match="ends .* before it starts"):
        fs.drift("orders", (end, cut), (cut, end))


def test_monitors_raise_alerts_and_the_cli_exits_1(shop, tmp_path):
    fs, _ = shop
    fs.set_monitor("orders", expected_interval=timedelta(minutes=1), drift={"psi": 0.2}, null_rate_change=0.1)
    alerts = fs.check_monitors()
    kinds = {(a["kind"], a["feature"], a["status"]) for a in alerts}
    assert ("freshness", None, "alert") in kinds  # the last order is over a minute old
    assert ("drift", "amount", "alert") in kinds and ("null_rate", "note", "alert") in kinds
    with pytest.raises(ValidationError, match="psi must be a positive number"):
        fs.set_monitor("orders", drift={"psi": -1})
    runner = CliRunner()
    r = runner.invoke(main, ["--store", fs.path, "monitor", "--json"])
    assert r.exit_code == 1 and {a["feature"] for a in json.loads(r.output)} >= {"amount", "note"}
    r = runner.invoke(main, ["--store", fs.path, "set-monitor", "orders", "--expected-interval", "1e9", "--psi", "50",
                             "--null-rate-change", "1"])
    assert r.exit_code == 0 and json.loads(r.output)["drift"] == {"psi": 50.0}
    r = runner.invoke(main, ["--store", fs.path, "monitor", "orders"])
    assert r.exit_code == 0, r.output


def test_drift_of_ten_features_over_two_large_windows_is_fast(fs):
    import time

    rng = np.random.default_rng(5)
    n = 200_000
    cols = {f"x{i}": rng.normal(i, 1, n) for i in range(10)}
    fs.create_feature_group("wide", "id", "ts", [Feature("id", "Integral"), Feature("ts", "Fractional"),
                                                  *(Feature(c, "Fractional") for c in cols)])
    fs.ingest("wide", pd.DataFrame({"id": range(n), "ts": 1.7e9 + np.arange(n) * 10.0, **cols}))
    started = time.perf_counter()
    table = fs.drift("wide", (1.7e9, 1.7e9 + n * 5.0), (1.7e9 + n * 5.0, 1.7e9 + n * 10.0))
    assert len(table) == 10 and time.perf_counter() - started < 5  # the bench measures 500k-row windows
