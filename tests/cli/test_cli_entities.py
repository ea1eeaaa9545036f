"""The CLI of entities: create one, attach a group to it, list and show them, look one up across
its groups; bad input is one line and exit code 1."""
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
                  "ts": [days[i % 20].strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(1000)],
                  "total": [round(i * 0.75, 2) for i in range(1000)]}).to_csv(path, index=False)
    return str(path)


def test_create_attach_list_show_and_look_up(run, orders_csv):
    r = run("entities")
    assert r.exit_code == 0 and "No entities yet" in r.output
    r = run("create-entity", "customer", "--key", "customer_id:Integral", "--description", "A buyer",
            "--tag", "team=crm")
    assert r.exit_code == 0 and "Created entity customer keyed by customer_id (Integral)" in r.output
    assert run("create", "--from-file", orders_csv, "--name", "orders", "--id", "cust_id", "--event-time", "ts",
               "--ingest").exit_code == 0
    r = run("attach-entity", "orders", "customer")
    assert r.exit_code == 0 and "orders is about customer (cust_id -> customer_id)" in r.output
    r = run("entities")
    assert r.exit_code == 0 and r.output.startswith("customer\tkeys: customer_id (Integral)\tgroups: orders\tA buyer")
    shown = json.loads(run("entity", "customer").output)
    assert shown["groups"] == ["orders"] and shown["tags"] == {"team": "crm"}
    assert shown["keys"] == [{"name": "customer_id", "type": "Integral"}]
    found = json.loads(run("entity", "customer", "--lookup", "1011").output)
    (orders,) = found["groups"]
    assert orders["status"] == "found" and orders["identifier"] == {"cust_id": 1011}
    assert orders["features"] == {"total": 683.25}  # 1011's newest day (the 12th) holds rows 11..911: the last wins
    described = json.loads(run("describe", "orders").output)
    assert described["entity"] == "customer" and described["entity_keys"] == {"cust_id": "customer_id"}
    assert json.loads(run("entities", "--json").output)[0]["name"] == "customer"
    r = run("attach-entity", "orders", "--detach")
    assert r.exit_code == 0 and "declares no entity" in r.output


def test_refusals_are_one_line(run, orders_csv):
    run("create-entity", "customer", "--key", "customer_id:String")
    run("create", "--from-file", orders_csv, "--name", "orders", "--id", "cust_id", "--event-time", "ts")
    r = run("attach-entity", "orders", "customer")
    assert r.exit_code == 1 and "'cust_id' is Integral, but entity 'customer' key 'customer_id' is String" in r.output
    assert "Traceback" not in r.output
    r = run("entity", "nosuch")
    assert r.exit_code == 1 and "Entity 'nosuch' does not exist" in r.output
    r = run("create-entity", "bad name", "--key", "id")
    assert r.exit_code == 1 and "Entity name 'bad name' is invalid" in r.output
    r = run("create-entity", "x", "--key", "id:Number")
    assert r.exit_code == 1 and "type 'Number'" in r.output
    r = run("attach-entity", "orders")
    assert r.exit_code == 2 and "Give an ENTITY, or --detach" in r.output


def test_the_sample_store_declares_customers_and_merchants(run):
    assert run("demo").exit_code == 0
    listed = {e["name"]: e for e in json.loads(run("entities", "--json").output)}
    assert listed["customer"]["groups"] == ["customer_spend", "customers"]
    assert listed["merchant"]["groups"] == ["merchants"]
    customer = json.loads(run("entity", "customer", "--lookup", "100396").output)
    profile = next(g for g in customer["groups"] if g["group"] == "customers")
    assert profile["status"] == "found" and profile["features"]["country"] == "US"
    merchant = json.loads(run("entity", "merchant", "--lookup", "M0054").output)
    assert merchant["groups"][0]["features"]["name"] == "Urban Devices"
