"""The CLI of feature services: define one, list and show it, read its online vector; an unknown
service is one line and exit code 1."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from cli_support import run  # noqa: F401



@pytest.fixture
def orders_csv(tmp_path):
    path = tmp_path / "orders.csv"
    days = pd.date_range("2026-11-01", periods=20, freq="D", tz="UTC")
    pd.DataFrame({"cust_id": [1000 + i % 50 for i in range(1000)],
                  "ts": [days[i // 50].strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(1000)],
                  "total": [round(i * 0.75, 2) for i in range(1000)],
                  "items": [i % 7 for i in range(1000)]}).to_csv(path, index=False)
    return str(path)


def test_define_list_show_and_look_up(run, orders_csv):
    r = run("services")
    assert r.exit_code == 0 and "No feature services yet" in r.output
    assert run("create", "--from-file", orders_csv, "--name", "orders", "--id", "cust_id", "--event-time", "ts",
               "--ingest").exit_code == 0
    r = run("create-service", "basket", "--feature", "orders:*", "--description", "Basket model")
    assert r.exit_code == 0, r.output
    assert "Created feature service basket v1 with 2 features from orders" in r.output
    r = run("services")
    assert r.exit_code == 0 and r.output.startswith("basket\tv1\t2 features\tgroups: orders\tBasket model")
    shown = json.loads(run("service", "basket").output)
    assert shown["features"] == ["orders:total", "orders:items"] and shown["version"] == 1
    assert json.loads(run("services", "--json").output)[0]["name"] == "basket"
    vector = json.loads(run("service", "basket", "--lookup", "cust_id=1011").output)
    # The newest version of 1011 is row 961 (day 20, 2026-11-20): total 720.75, items 2.
    assert vector == {"cust_id": 1011, "total": 720.75, "items": 2, "total__status": "present",
                      "items__status": "present", "total__event_time": "2026-11-20T00:00:00Z",
                      "items__event_time": "2026-11-20T00:00:00Z"}
    missing = json.loads(run("service", "basket", "--lookup", "cust_id=5").output)
    assert missing["total"] is None and missing["total__status"] == "not_found"
    assert missing["total__event_time"] is None
    r = run("service", "nosuch")
    assert r.exit_code == 1 and "Feature service 'nosuch' does not exist" in r.output
    r = run("service", "basket", "--lookup", "customer=1011")
    assert r.exit_code == 1 and "no key column 'cust_id'" in r.output


def test_history_lists_every_version_oldest_first(run, orders_csv, tmp_path):
    from store import FeatureStore

    assert run("create", "--from-file", orders_csv, "--name", "orders", "--id", "cust_id", "--event-time", "ts",
               "--ingest").exit_code == 0
    assert run("create-service", "basket", "--feature", "orders:total", "--description", "Basket model").exit_code == 0
    with FeatureStore(tmp_path / "store") as fs:
        fs.update_feature_service("basket", features=["orders:*"])
        fs.update_feature_service("basket", description="Basket model, all order features")
    r = run("service", "basket", "--history")
    assert r.exit_code == 0, r.output
    versions = json.loads(r.output)
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert [v["features"] for v in versions] == [["orders:total"], ["orders:total", "orders:items"],
                                                 ["orders:total", "orders:items"]]
    assert versions[0]["description"] == "Basket model" and versions[2]["description"].endswith("all order features")
    r = run("service", "basket", "--history", "--version", "1")
    assert r.exit_code == 2 and "without --version, --lookup and --request" in r.output
    r = run("service", "nosuch", "--history")
    assert r.exit_code == 1 and "Feature service 'nosuch' does not exist" in r.output
