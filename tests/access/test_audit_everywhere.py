"""The audit log on every store (issue 20): a store that never had an access file logs who changed
what (definitions, rules, monitors, pipelines, ingests, deletes, compaction, puts counted per
principal and group in the put's own transaction), in the name of ``--as``/``principal=``,
$FEATURESTORE_PRINCIPAL or the OS user, and its log verifies with ``fs.verify_audit()`` and
``featurestore audit --verify`` without any admin check; refused sign-ins are logged too."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from store import Feature, FeatureStore, ValidationError
from store.access import audit
from store.cli import main

pytestmark = pytest.mark.registry  # tests taking registry_location run on SQLite and PostgreSQL tables

TX = [Feature("tid", "String"), Feature("cid", "Integral"), Feature("amount", "Fractional"), Feature("ts", "String")]
DAILY = [Feature("cid", "Integral"), Feature("total", "Fractional"), Feature("ts", "String")]
T = "2026-11-01T00:00:00Z"


def rows(fs: FeatureStore) -> list[tuple]:
    """(principal, action, group, outcome) of each entry, oldest first."""
    frame = fs.audit().iloc[::-1]
    return list(frame[["principal", "action", "group", "outcome"]].itertuples(index=False, name=None))


def test_every_kind_of_write_is_logged_on_a_store_without_an_access_file(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURESTORE_PRINCIPAL", "ana")
    fs = FeatureStore(tmp_path / "s")
    fs.create_feature_group("tx", "tid", "ts", TX)
    fs.update_feature_group("tx", description="payments")
    fs.add_features("tx", [Feature("note", "String")])
    fs.set_rules("tx", [{"feature": "amount", "check": "between", "min": 0}])
    fs.set_monitor("tx", expected_interval=3600)
    fs.ingest("tx", pd.DataFrame({"tid": ["a", "b"], "cid": [1, 2], "amount": [1.0, -1.0], "ts": [T, T]}),
              on_error="skip")
    fs.delete_record("tx", "a", "2026-11-02T00:00:00Z")
    fs.compact("tx")
    fs.create_feature_group("daily", "cid", "ts", DAILY)
    fs.create_pipeline("spend", "daily", inputs=["tx"], mode="full",
                       sql="SELECT cid, sum(amount) AS total, max(ts) AS ts FROM tx GROUP BY cid")
    fs.update_pipeline("spend", description="spend per customer")
    fs.pause_pipeline("spend")
    fs.resume_pipeline("spend")
    assert fs.run_pipeline("spend")["status"] == "succeeded"
    fs.delete_pipeline("spend")
    fs.delete_feature_group("daily")
    logged = rows(fs)
    assert logged == [
        ("ana", "create_feature_group", "tx", "ok"), ("ana", "update_feature_group", "tx", "ok"),
        ("ana", "add_features", "tx", "ok"), ("ana", "set_rules", "tx", "ok"), ("ana", "set_monitor", "tx", "ok"),
        ("ana", "ingest", "tx", "ok"), ("ana", "delete_record", "tx", "ok"), ("ana", "compact", "tx", "ok"),
        ("ana", "create_feature_group", "daily", "ok"), ("ana", "create_pipeline", "daily", "ok"),
        ("ana", "update_pipeline", "daily", "ok"), ("ana", "pause_pipeline", "daily", "ok"),
        ("ana", "resume_pipeline", "daily", "ok"), ("ana", "run_pipeline", "daily", "ok"),
        ("ana", "delete_pipeline", "daily", "ok"), ("ana", "delete_feature_group", "daily", "ok")]
    ingest = fs.audit(action="ingest")["details"].iloc[0]
    assert (ingest["rows_written"], ingest["rows_rejected"]) == (1, 1)  # counts, never values
    assert fs.verify_audit()["ok"] and fs.verify_audit()["entries"] == len(logged)
    fs.close()


def test_puts_are_counted_per_principal_and_group_in_their_own_transaction(tmp_path, registry_location):
    path = tmp_path / "s"
    with FeatureStore(path, principal="ana", registry=registry_location) as ana:
        ana.create_feature_group("tx", "tid", "ts", TX)
        for i in range(5):
            ana.put_record("tx", {"tid": f"a{i}", "cid": i, "amount": 1.0, "ts": T})
        bob = ana.with_principal("bob")
        bob.put_record("tx", {"tid": "b", "cid": 9, "amount": 2.0, "ts": T})
        ana.put_record("tx", {"tid": "a9", "cid": 9, "amount": 3.0, "ts": T})
        counted = ana.audit(action="put_record")
        assert sorted(zip(counted["principal"], [d["records"] for d in counted["details"]])) == [("ana", 6), ("bob", 1)]
        assert counted["group"].tolist() == ["tx", "tx"] and ana.verify_audit()["ok"]
        # A put whose count cannot be written is not written either: one transaction.
        failing = ana.with_principal("x" * 10)
        original = audit.count_put

        def broken(*args):
            raise ValidationError("the count failed")

        audit.count_put = broken
        try:
            with pytest.raises(ValidationError, match="the count failed"):
                failing.put_record("tx", {"tid": "lost", "cid": 1, "amount": 1.0, "ts": T})
        finally:
            audit.count_put = original
        assert ana.get_record("tx", "lost") is None
    # Counts left by a process that stopped before folding them are kept and folded by the next reader.
    with FeatureStore(path, principal="ana", registry=registry_location) as ana:
        ana.put_record("tx", {"tid": "c", "cid": 1, "amount": 1.0, "ts": T})
        with ana._ctx.db.read() as conn:
            assert conn.execute("SELECT principal, group_name, records FROM audit_put_counts").fetchall() == [
                ("ana", "tx", 1)]
        newest = ana.audit(limit=1)
        assert (newest["action"].iloc[0], newest["details"].iloc[0]["records"]) == ("put_record", 1)


def test_verify_works_on_a_store_that_never_had_an_access_file(tmp_path):
    path = tmp_path / "s"
    source = tmp_path / "tx.csv"
    source.write_text(f"tid,ts\na,{T}\n")
    runner = CliRunner()
    made = runner.invoke(main, ["--store", str(path), "--as", "carl", "create", "--name", "tx", "--from-file",
                                str(source), "--id", "tid", "--event-time", "ts", "--no-ingest"])
    assert made.exit_code == 0, made.output
    result = runner.invoke(main, ["--store", str(path), "audit", "--verify"])
    assert result.exit_code == 0, result.output
    assert "The audit log is intact: 1 entries" in result.output
    listed = runner.invoke(main, ["--store", str(path), "audit", "--json"])
    assert [(e["principal"], e["action"]) for e in json.loads(listed.output)] == [("carl", "create_feature_group")]
    with FeatureStore(path) as fs:
        with fs._ctx.db.write() as conn:
            conn.execute("UPDATE audit_log SET principal = 'mallory'")
    result = runner.invoke(main, ["--store", str(path), "audit", "--verify"])
    assert result.exit_code == 1 and "entry 1 was changed after it was written" in result.output


def test_refused_sign_ins_are_logged_in_the_name_tried(tmp_path):
    with FeatureStore(tmp_path / "s") as fs:
        fs.record_sign_in("vera", "denied", {"failures": 1})
        fs.record_sign_in("vera", "locked", {"failures": 5})
        with pytest.raises(ValidationError, match="one of denied, locked, not 'ok'"):
            fs.record_sign_in("vera", "ok")
        assert rows(fs) == [("vera", "sign_in", None, "denied"), ("vera", "sign_in", None, "locked")]
        assert fs.verify_audit()["ok"]


def test_allowed_answers_what_the_principal_may_call(tmp_path):
    path = tmp_path / "s"
    path.mkdir()
    with FeatureStore(path) as open_store:
        open_store.create_feature_group("tx", "tid", "ts", TX)
        assert open_store.allowed("delete_dataset") and open_store.allowed("set_monitor", "tx")
        with pytest.raises(ValidationError, match="'drop_everything' is not a FeatureStore method"):
            open_store.allowed("drop_everything")
    (path / "access.yaml").write_text("users:\n- {name: vera, roles: [{role: viewer, groups: [tx]}]}\n"
                                      "- {name: olga, roles: [{role: owner, groups: [tx]}]}\n"
                                      "- {name: root, roles: [{role: admin}]}\n")
    with FeatureStore(path, principal="vera") as vera:
        assert vera.allowed("build_dataset") and vera.allowed("get_record", "tx")
        assert not vera.allowed("set_monitor", "tx") and not vera.allowed("delete_dataset")
        olga = vera.with_principal("olga")
        assert olga.allowed("set_monitor", "tx") and not olga.allowed("delete_dataset")
        assert not olga.allowed("compact") and olga.allowed("compact", "tx")  # every group's upkeep is an admin's
        assert vera.with_principal("root").allowed("delete_dataset")


def test_definition_changes_are_logged_with_their_version_and_diff(tmp_path, registry_location, monkeypatch):
    monkeypatch.setenv("FEATURESTORE_PRINCIPAL", "ana")
    fs = FeatureStore(tmp_path / "s", registry=registry_location)
    fs.create_feature_group("tx", "tid", "ts", TX)
    fs.add_features("tx", [Feature("note", "String")])
    fs.change_features("tx", rename={"amount": "amount_eur"}, retype={"cid": "String"})
    fs.update_feature_group("tx", ttl=3600)
    with pytest.raises(ValidationError):
        fs.change_features("tx", retype={"cid": "Integral"})  # a narrowing: refused, and logged as refused
    entries = fs.audit(action="change_features")
    assert list(entries["outcome"]) == ["failed: ValidationError", "ok"]
    details = entries["details"].iloc[1]
    details = json.loads(details) if isinstance(details, str) else details
    assert details["version"] == 3 and {"change": "rename", "feature": "amount", "to": "amount_eur"} in details["changes"]
    history = fs.definition_history("tx")
    assert [(v["version"], v["changed_by"], v["summary"]) for v in history] == [
        (1, "ana", "created"), (2, "ana", "added note (String)"),
        (3, "ana", "cid Integral -> String; renamed amount -> amount_eur"), (4, "ana", "ttl: none -> 3600 s")]
    assert list(fs.audit()["action"])[:4] == ["change_features", "update_feature_group", "change_features",
                                              "add_features"]
    assert fs.verify_audit()["ok"]
    fs.close()
