"""The CLI: each command works on a temporary store, and errors are one line with exit code 1."""
from __future__ import annotations

import json
import os

import pandas as pd
import pytest
from click.testing import CliRunner
from cli_support import run  # noqa: F401

from store.cli import main


@pytest.fixture
def orders_csv(tmp_path):
    path = tmp_path / "orders.csv"
    pd.DataFrame({"order_id": ["o1", "o2", "o3"], "ts": ["2024-01-01T00:00:00Z"] * 3,
                  "amount": [1.5, 2.5, 3.5], "qty": [1, 2, 3]}).to_csv(path, index=False)
    return str(path)


def test_create_from_file_ingest_get_query_dataset(run, orders_csv, tmp_path):
    r = run("create", "--from-file", orders_csv, "--name", "orders", "--id", "order_id", "--event-time", "ts")
    assert r.exit_code == 0 and "Created orders" in r.output
    r = run("ingest", "orders", orders_csv)
    assert r.exit_code == 0 and "wrote 3 of 3 rows" in r.output
    r = run("get", "orders", "o2")
    assert json.loads(r.output)["amount"] == 2.5
    r = run("query", "SELECT sum(qty) AS q FROM orders", "--format", "json")
    assert json.loads(r.output) == [{"q": 6}]
    entity = tmp_path / "entity.csv"
    pd.DataFrame({"order_id": ["o1", "o9"], "event_time": ["2024-02-01T00:00:00Z"] * 2}).to_csv(entity, index=False)
    out = tmp_path / "train.parquet"
    r = run("dataset", str(entity), "-f", "orders:amount", "-o", str(out))
    assert r.exit_code == 0 and pd.read_parquet(out)["amount"].tolist()[0] == 1.5
    r = run("delete-record", "orders", "o1", "2024-01-02T00:00:00Z")
    assert r.exit_code == 0
    assert run("get", "orders", "o1").exit_code == 1
    assert "orders" in run("list").output
    assert run("compact").exit_code == 0
    assert "ingested_into" in run("lineage").output
    assert json.loads(run("describe", "orders").output)["online_records"] == 2


def test_create_from_yaml_spec(run, tmp_path):
    spec = tmp_path / "g.yaml"
    spec.write_text("name: users\nrecord_identifier: uid\nevent_time: ts\ndescription: People\n"
                    "tags: {team: growth}\nttl: 3600\nfeatures:\n  - {name: uid, type: Integral}\n"
                    "  - {name: ts, type: Fractional}\n  - {name: plan, type: String, description: Billing plan}\n")
    r = run("create", str(spec))
    assert r.exit_code == 0, r.output
    assert json.loads(run("describe", "users").output)["ttl_seconds"] == 3600


def test_errors_are_one_line_without_traceback(run, tmp_path, orders_csv):
    r = run("get", "missing", "1")
    assert r.exit_code == 1 and r.output.strip() == "Error: Feature group 'missing' does not exist"
    run("create", "--from-file", orders_csv, "--name", "orders", "--id", "order_id", "--event-time", "ts")
    bad = tmp_path / "bad.csv"
    bad.write_text("order_id,ts,amount,qty\no1,2024-01-01T00:00:00Z,abc,1\no2,2024-01-32,1.0,2\n")
    errors = tmp_path / "errors.csv"
    r = run("ingest", "orders", str(bad), "--errors", str(errors))
    assert r.exit_code == 1 and "Traceback" not in r.output and "Nothing was written" in r.output
    assert pd.read_csv(errors)["feature"].tolist() == ["amount", "ts"]
    r = run("ingest", "orders", str(bad), "--skip-bad")
    assert r.exit_code == 0 and "wrote 0 of 2 rows, rejected 2" in r.output
    r = run("query", "DROP VIEW orders")
    assert r.exit_code == 1 and "read-only" in r.output


def test_a_refused_ingest_advises_the_flag_not_the_api(run, tmp_path, orders_csv):
    run("create", "--from-file", orders_csv, "--name", "orders", "--id", "order_id", "--event-time", "ts")
    bad = tmp_path / "some_bad.csv"
    bad.write_text("order_id,ts,amount,qty\no1,2024-01-01T00:00:00Z,abc,1\no2,2024-01-01T00:00:00Z,1.0,2\n")
    r = run("ingest", "orders", str(bad))
    assert r.exit_code == 1 and "pass --skip-bad to write the valid rows" in r.output, r.output
    assert "on_error" not in r.output


def test_create_from_a_boolean_export_then_ingest_it(run, tmp_path):
    from datafiles import devices, write_csv

    path = write_csv(devices(200), tmp_path / "devices.csv")
    r = run("create", "--from-file", path, "--name", "devices", "--id", "device_id", "--event-time", "seen_at")
    assert r.exit_code == 0 and "active:Integral" in r.output, r.output
    r = run("ingest", "devices", path)
    assert r.exit_code == 0 and "wrote 200 of 200 rows" in r.output, r.output


def test_rejected_rows_and_delete_outcomes(run, tmp_path, orders_csv):
    run("create", "--from-file", orders_csv, "--name", "orders", "--id", "order_id", "--event-time", "ts")
    bad = tmp_path / "bad.csv"
    bad.write_text("order_id,ts,amount,qty\no9,2024-01-01T00:00:00Z,abc,1\no8,2024-01-02T00:00:00Z,2.5,1\n")
    rejected = tmp_path / "rejected.csv"
    r = run("ingest", "orders", str(bad), "--skip-bad", "--rejected", str(rejected))
    assert r.exit_code == 0 and pd.read_csv(rejected).to_dict("records") == [
        {"line": 2, "order_id": "o9", "ts": "2024-01-01T00:00:00Z", "amount": "abc", "qty": 1,
         "error": "amount is not a number"}]
    r = run("delete-record", "orders", "o8", "2023-01-01T00:00:00Z")
    assert r.exit_code == 0 and "stays live online" in r.output
    r = run("query", "SELECT count(*) FROM range(100000000) a, range(100000000) b", "--timeout", "0.3")
    assert r.exit_code == 1 and "more than 0.3 s" in r.output


def test_every_command_has_help_and_takes_store_after_its_name(tmp_path, orders_csv, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    store = str(tmp_path / "after")
    commands = sorted(main.commands)
    for name in commands:
        r = runner.invoke(main, [name, "--help"])
        assert r.exit_code == 0 and "--store PATH" in r.output and len(r.output.splitlines()) > 3, name
    spec = tmp_path / "g.json"
    spec.write_text(json.dumps({"name": "g", "record_identifier": "id", "event_time": "ts",
                                "features": [{"name": "id", "type": "Integral"}, {"name": "ts", "type": "String"}]}))
    entity = tmp_path / "e.csv"
    entity.write_text("id,ts\n1,2024-01-02T00:00:00Z\n")
    calls = {  # one real call of each, --store after the command's name
        "init": [], "demo": [], "list": [], "describe": ["customers"], "create": [str(spec)],
        "ingest": ["orders", orders_csv], "get": ["g", "1"], "put": ["g", '{"id": 1, "ts": "2024-01-01T00:00:00Z"}'],
        "delete-record": ["g", "2", "2024-01-01T00:00:00Z"], "query": ["SELECT count(*) AS n FROM g"],
        "dataset": [str(entity), "-f", "g", "-o", str(tmp_path / "d.csv")], "compact": [], "sweep": [],
        "lineage": ["--node", "feature_group:g"], "du": ["g", "--json"], "rules": ["g"], "quarantine": ["g"],
        "runs": ["g"], "set-monitor": ["g", "--expected-interval", "1e9"], "monitor": ["g"],  # the demo alerts (exit 1)
        "pipeline": ["list"], "audit": ["--verify"], "access": ["--help"],
        "change": ["transactions", "--rename", "channel=sales_channel"], "history": ["transactions"],  # no service reads it
        "create-entity": ["account", "--key", "id:Integral"], "attach-entity": ["g", "account"], "entities": [],
        "entity": ["account", "--lookup", "1"],  # the demo defined customer and merchant
        "create-service": ["svc", "--feature", "customers"], "services": [], "service": ["svc"],
        "on-demand": ["list"], "stream": ["status"],
    }
    order = ["init", "demo", "list", "describe", "create", "put", "get", "delete-record", "query", "dataset",
             "compact", "sweep", "lineage", "du", "rules", "quarantine", "runs", "set-monitor", "monitor", "pipeline", "audit", "access",
             "change", "history", "create-entity", "attach-entity", "entities", "entity", "create-service",
             "services", "service", "on-demand", "stream"]
    assert set(calls) | {"ui", "serve", "scheduler", "encrypt", "rekey"} == set(commands)  # encryption: test_access_crypto  # these run until stopped: tested elsewhere
    for name in order:
        r = runner.invoke(main, [name, *calls[name], "--store", store], catch_exceptions=False)
        assert r.exit_code == 0, (name, r.output)
    runner.invoke(main, ["--store", store, "create", "--from-file", orders_csv, "--name", "orders", "--id", "order_id",
                         "--event-time", "ts"])
    assert runner.invoke(main, ["ingest", *calls["ingest"], "--store", store]).exit_code == 0
    assert json.loads(runner.invoke(main, ["du", "orders", "--json", "--store", store]).output)[0]["offline_rows"] == 3
    assert not os.path.exists(tmp_path / ".featurestore")  # the default store was never opened


def test_compact_repartitions_a_group(run, orders_csv):
    run("create", "--from-file", orders_csv, "--name", "orders", "--id", "order_id", "--event-time", "ts")
    run("ingest", "orders", orders_csv)
    r = run("compact", "orders", "--repartition", "month")
    assert r.exit_code == 0 and "1 files -> 1 files, 3 rows" in r.output
    assert json.loads(run("describe", "orders").output)["partition_by"] == "month"


def test_rules_quarantine_and_runs_from_the_cli(run, tmp_path):
    spec = tmp_path / "g.json"
    spec.write_text(json.dumps({"name": "g", "record_identifier": "id", "event_time": "ts",
                                "features": [{"name": "id", "type": "Integral"}, {"name": "ts", "type": "String"},
                                             {"name": "v", "type": "Integral"}]}))
    run("create", str(spec))
    rules = tmp_path / "rules.yaml"
    rules.write_text("- {feature: v, check: between, min: 0}\n")
    r = run("rules", "g", "--set", str(rules))
    assert r.exit_code == 0 and json.loads(r.output)[0]["name"] == "v_between"
    data = tmp_path / "d.csv"
    data.write_text("id,ts,v\n1,2024-01-01T00:00:00Z,5\n2,2024-01-01T00:00:00Z,-5\n")
    r = run("ingest", "g", str(data), "--skip-bad")
    assert "rejected 1" in r.output
    r = run("quarantine", "g")
    assert r.exit_code == 0 and "v_between" in r.output and "line 3" in r.output
    entry = run("quarantine", "g", "--out", str(tmp_path / "q.csv"))
    assert entry.exit_code == 0 and pd.read_csv(tmp_path / "q.csv")["rules"].tolist() == ["v_between"]
    r = run("runs", "g", "--json")
    assert json.loads(r.output)[0]["rows_rejected"] == 1
    qid = str(pd.read_csv(tmp_path / "q.csv")["id"][0])
    rules.write_text("[]\n")
    run("rules", "g", "--set", str(rules))
    r = run("quarantine", "g", "--requeue", qid)
    assert r.exit_code == 0 and "wrote 1 of 1 rows" in r.output


def test_ui_starts_streamlit_on_the_installed_studio_from_the_repository(tmp_path, monkeypatch):
    # `featurestore ui` becomes Streamlit (os.execve); the studio it names must exist, and Streamlit
    # must start beside it so .streamlit/config.toml applies. (The move of cli.py into store/cli/
    # once left it one folder short: "The studio is not installed here".)
    started = {}

    def execve(path, argv, env):
        started.update(argv=argv, env=env, cwd=os.getcwd())
        raise SystemExit(0)

    monkeypatch.setattr(os, "execve", execve)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["--store", str(tmp_path / "s"), "ui", "--port", "8999"])
    assert result.exit_code == 0, result.output
    studio = started["argv"][started["argv"].index("run") + 1]
    assert os.path.isfile(studio) and studio.endswith(os.path.join("app", "studio.py"))
    assert os.path.isfile(os.path.join(started["cwd"], ".streamlit", "config.toml"))
    assert started["env"]["FEATURESTORE_HOME"] == str(tmp_path / "s")


def test_change_and_history_from_the_cli(run, orders_csv):
    run("create", "--from-file", orders_csv, "--name", "orders", "--id", "order_id", "--event-time", "ts")
    run("ingest", "orders", orders_csv)
    features = json.loads(run("describe", "orders").output)["features"]
    other = next(f["name"] for f in features if f["name"] not in ("order_id", "ts"))
    r = run("change", "orders", "--rename", f"{other}={other}_v2")
    assert r.exit_code == 0 and "is now at definition version 2" in r.output and f"{other}_v2" in r.output
    r = run("change", "orders", "--rename", "nonsense")
    assert r.exit_code != 0 and "--rename takes NAME=VALUE" in r.output
    r = run("change", "orders", "--drop", "order_id")
    assert r.exit_code == 1 and "record identifier" in r.output
    lines = run("history", "orders").output.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["v1", "v2"] and lines[1].endswith(f"renamed {other} -> {other}_v2")
    assert json.loads(run("describe", "orders", "--version", "1").output)["version"] == 1


def test_a_group_keyed_by_several_columns(run, tmp_path):
    visits = tmp_path / "visits.csv"
    pd.DataFrame({"user_id": [1, 1, 2], "item_id": ["a", "b", "a"], "ts": ["2024-01-01T00:00:00Z"] * 3,
                  "views": [3, 4, 5]}).to_csv(visits, index=False)
    r = run("create", "--from-file", str(visits), "--name", "visits", "--id", "user_id,item_id", "--event-time", "ts",
            "--ingest")
    assert r.exit_code == 0 and "wrote 3 of 3 rows" in r.output
    assert json.loads(run("describe", "visits").output)["record_identifier"] == ["user_id", "item_id"]
    assert json.loads(run("get", "visits", '[1,"b"]').output)["views"] == 4
    assert json.loads(run("get", "visits", '["2","a"]').output)["views"] == 5
    r = run("get", "visits", "1")
    assert r.exit_code == 2 and "keyed by user_id, item_id: give RECORD_ID as a JSON array" in r.output
    assert "soft-deleted" in run("delete-record", "visits", '[1,"a"]', "2024-01-02T00:00:00Z").output
    assert run("get", "visits", '[1,"a"]').exit_code == 1
    spec = tmp_path / "terminals.json"
    spec.write_text(json.dumps({"name": "terminals", "record_identifier": ["merchant_id", "terminal_id"],
                                "event_time": "ts", "features": [{"name": "merchant_id"}, {"name": "terminal_id",
                                "type": "Integral"}, {"name": "ts"}]}))
    assert run("create", str(spec)).exit_code == 0
    assert json.loads(run("describe", "terminals").output)["record_identifier"] == ["merchant_id", "terminal_id"]
