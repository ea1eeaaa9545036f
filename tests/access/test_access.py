"""Access control in the engine: each role's allowed and refused calls, tag grants, what lists,
search, lineage and SQL show a principal (no route to a hidden group's rows), the audit log of
writes and refusals with its hash chain, password hashes, and the CLI's --as."""
from __future__ import annotations

import sqlite3

import pandas as pd
import pytest
from click.testing import CliRunner

from store import AccessDenied, Feature, FeatureStore, ValidationError
from store.access.policy import AccessFile, check_password, hash_password
from store.cli import main

pytestmark = pytest.mark.registry  # every test on `fs` runs with the store's tables in SQLite and in PostgreSQL

FEATURES = [Feature("id", "Integral"), Feature("ts", "String"), Feature("amount", "Fractional")]
ACCESS = """
users:
  - name: admin
    roles: [{role: admin}]
  - name: vera
    password_hash: {hash}
    roles: [{role: viewer, groups: ["sales*"]}, {role: viewer, tags: {pii: "false"}}]
  - name: ed
    roles: [{role: editor, groups: ["sales"]}]
  - name: olga
    roles: [{role: owner, groups: ["sales"]}]
"""


def rows(n: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"id": range(start, start + n), "ts": [f"2026-10-{1 + i % 28:02d}T00:00:00Z" for i in range(n)],
                         "amount": [float(i) for i in range(n)]})


@pytest.fixture
def secured(tmp_path):
    """A store with three groups (sales, hr with pii tags, public with pii=false) and an access file."""
    path = tmp_path / "store"
    with FeatureStore(path) as fs:
        fs.create_feature_group("sales", "id", "ts", FEATURES)
        fs.create_feature_group("hr", "id", "ts", FEATURES, tags={"pii": "true"})
        fs.create_feature_group("public", "id", "ts", FEATURES, tags={"pii": "false"})
        for g in ("sales", "hr", "public"):
            fs.ingest(g, rows(50))
    (path / "access.yaml").write_text(ACCESS.replace("{hash}", hash_password("vera-secret-1")))
    stores = {}

    def open_as(name: str) -> FeatureStore:
        stores[name] = FeatureStore(path, principal=name)
        return stores[name]

    yield open_as
    for fs in stores.values():
        fs.close()


def test_a_viewer_reads_what_it_may_and_is_refused_the_rest(secured):
    fs = secured("vera")
    assert {g.name for g in fs.list_feature_groups()} == {"sales", "public"}  # hr is tagged pii=true
    assert fs.get_record("sales", 3)["amount"] == 3.0 and len(fs.as_of("public")) == 50
    with pytest.raises(AccessDenied, match="'vera' may not get_record on feature group 'hr'"):
        fs.get_record("hr", 3)
    with pytest.raises(AccessDenied, match="'vera' may not put_record on feature group 'sales'; it needs the "
                                           "editor role there"):
        fs.put_record("sales", {"id": 1, "ts": "2026-11-01T00:00:00Z", "amount": 1.0})
    with pytest.raises(AccessDenied):
        fs.describe("hr")
    assert {r["group"] for r in fs.search("a")} <= {"sales", "public"}
    assert not any("hr" in n["id"] for n in fs.lineage().nodes)
    from store.retrieval import stats

    with pytest.raises(AccessDenied, match="'vera' may not .* on feature group 'hr'"):
        stats.summary(fs._ctx, "hr")
    with pytest.raises(AccessDenied, match="may not read on feature group 'hr'"):
        fs._ctx.snapshots(["hr"])  # where every offline read, by any module, takes its snapshot


def test_sql_by_a_viewer_cannot_reach_a_hidden_group_by_any_route(secured, tmp_path):
    fs = secured("vera")
    assert fs.query("SELECT count(*) AS n FROM sales")["n"].iloc[0] == 50
    hidden = f"{tmp_path}/store/offline/hr"
    for sql in ("SELECT * FROM hr",
                f"SELECT * FROM read_parquet('{hidden}/**/*.parquet')",
                f"SELECT * FROM glob('{hidden}/**')",
                f"SELECT * FROM read_parquet('{tmp_path}/store/offline/*/data/**/*.parquet')",
                f"ATTACH '{tmp_path}/store/featurestore.db' AS db (TYPE sqlite)",
                f"SELECT * FROM read_csv('{tmp_path}/store/access.yaml')"):
        with pytest.raises(ValidationError):
            fs.query(sql)
    admin = secured("admin")
    assert admin.query("SELECT count(*) AS n FROM hr")["n"].iloc[0] == 50


def test_editors_write_owners_change_admins_create(secured):
    ed, olga, admin = secured("ed"), secured("olga"), secured("admin")
    assert ed.ingest("sales", rows(5, 100)).rows_written == 5
    ed.put_record("sales", {"id": 999, "ts": "2026-11-01T00:00:00Z", "amount": 9.0})
    with pytest.raises(AccessDenied, match="needs the owner role"):
        ed.set_rules("sales", [{"feature": "amount", "check": "not_null"}])
    olga.set_rules("sales", [{"feature": "amount", "check": "not_null"}])
    olga.update_feature_group("sales", description="Sales")
    with pytest.raises(AccessDenied, match="may not create_feature_group on feature group 'new'; it needs the "
                                           "admin role there"):
        olga.create_feature_group("new", "id", "ts", FEATURES)
    with pytest.raises(AccessDenied, match="needs an admin grant"):
        olga.compact()  # store-wide maintenance is an admin's
    admin.create_feature_group("new", "id", "ts", FEATURES)
    with pytest.raises(AccessDenied):
        ed.audit()


def test_a_principal_missing_from_the_file_is_refused_everything(secured):
    fs = secured("mallory")
    with pytest.raises(AccessDenied, match="'mallory' \\(not in the access file\\)"):
        fs.get_record("public", 1)
    with pytest.raises(AccessDenied, match="needs the viewer role on some group"):
        fs.list_feature_groups()


def test_every_write_and_refusal_is_in_the_audit_log_and_tampering_shows(secured, tmp_path):
    ed, admin = secured("ed"), secured("admin")
    ed.ingest("sales", rows(7, 200))
    ed.put_record("sales", {"id": 1000, "ts": "2026-11-01T00:00:00Z", "amount": 1.0})
    ed.delete_record("sales", 1000, "2026-11-02T00:00:00Z")
    with pytest.raises(AccessDenied):
        ed.put_record("hr", {"id": 1, "ts": "2026-11-01T00:00:00Z", "amount": 1.0})
    log = admin.audit(principal="ed")
    assert log[["action", "group", "outcome"]].values.tolist() == [
        ["put_record", "hr", "denied"], ["delete_record", "sales", "ok"], ["put_record", "sales", "ok"],
        ["ingest", "sales", "ok"]]
    assert log["details"].iloc[-1] == {"rows_written": 7, "rows_rejected": 0, "source": "DataFrame"}
    assert "1.0" not in log["details"].astype(str).str.cat()  # counts, never values
    assert admin.verify_audit()["ok"]
    db = sqlite3.connect(tmp_path / "store" / "featurestore.db")
    with db:
        db.execute("UPDATE audit_log SET outcome = 'ok' WHERE outcome = 'denied'")
    result = admin.verify_audit()
    assert not result["ok"] and "changed after it was written" in result["problem"]
    with db:
        db.execute("UPDATE audit_log SET outcome = 'denied' WHERE action = 'put_record' AND group_name = 'hr'")
        db.execute("DELETE FROM audit_log WHERE action = 'delete_record'")
    assert "removed or reordered" in admin.verify_audit()["problem"]
    db.close()


def test_passwords_are_scrypt_hashes_checked_in_constant_time(secured, tmp_path):
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$16384$8$1$") and "correct" not in stored
    assert check_password("correct horse", stored) and not check_password("wrong horse", stored)
    file = AccessFile.load(str(tmp_path / "store" / "access.yaml"))
    assert file.sign_in("vera", "vera-secret-1").name == "vera"
    assert file.sign_in("vera", "nope") is None and file.sign_in("nobody", "vera-secret-1") is None
    assert file.sign_in("admin", "") is None  # an identity without a password cannot sign in with one
    bad = tmp_path / "bad.yaml"
    bad.write_text("users:\n  - name: x\n    password: hunter22\n    roles: [{role: viewer}]\n")
    with pytest.raises(ValidationError, match="not a password in clear"):
        AccessFile.load(str(bad))
    bad.write_text("users:\n  - name: x\n    roles: [{role: superuser}]\n")
    with pytest.raises(ValidationError, match="role must be one of viewer, editor, owner, admin"):
        AccessFile.load(str(bad))


def test_a_handle_per_principal_shares_one_open_store(secured):
    admin = secured("admin")
    vera = admin.with_principal("vera")
    assert {g.name for g in vera.list_feature_groups()} == {"sales", "public"}
    assert len(admin.list_feature_groups()) == 3
    with pytest.raises(AccessDenied):
        vera.get_record("hr", 1)


def test_the_cli_acts_as_the_principal_it_is_given(secured, tmp_path):
    store = str(tmp_path / "store")
    runner = CliRunner()
    result = runner.invoke(main, ["--store", store, "--as", "vera", "get", "hr", "1"])
    assert result.exit_code == 1 and "'vera' may not get_record on feature group 'hr'" in result.output
    result = runner.invoke(main, ["--store", store, "--as", "vera", "list"])
    assert result.exit_code == 0 and "hr" not in result.output and "sales" in result.output
    result = runner.invoke(main, ["--store", store, "--as", "admin", "audit", "--verify"])
    assert result.exit_code == 0 and "intact" in result.output
    result = runner.invoke(main, ["--store", store, "--as", "admin", "audit", "--json"])
    assert result.exit_code == 0 and '"denied"' in result.output
    result = runner.invoke(main, ["access", "hash-password"], input="a-long-password\na-long-password\n")
    assert result.exit_code == 0 and result.output.strip().splitlines()[-1].startswith("scrypt$")


def test_pipeline_runs_are_audited_whoever_starts_them(secured):
    from conftest import scheduler_of

    admin = secured("admin")
    admin.create_feature_group("daily", "id", "ts", FEATURES)
    admin.create_pipeline("copy", "daily", sql="SELECT id, ts, amount FROM sales", inputs=["sales"],
                          trigger="on_change")
    secured("ed").with_principal("admin").run_pipeline("copy")
    admin.ingest("sales", rows(3, 500))
    scheduler_of(admin).run_due()
    runs = admin.audit(action="run_pipeline")
    assert runs["outcome"].tolist() == ["ok", "ok"] and set(runs["group"]) == {"daily"}
    assert runs["details"].iloc[0]["trigger"] == "on_change"


def test_a_change_of_the_access_file_is_in_the_log(secured, tmp_path):
    admin = secured("admin")
    first = admin.audit(action="access_file")
    assert first["outcome"].tolist() == ["first seen"] and first["details"].iloc[0]["principals"] == 4
    path = tmp_path / "store" / "access.yaml"
    path.write_text(path.read_text() + "  - name: newcomer\n    roles: [{role: viewer}]\n")
    secured("admin")  # the next store opened notices the edit
    assert admin.audit(action="access_file")["outcome"].tolist() == ["changed", "first seen"]
    assert admin.verify_audit()["ok"]


def test_the_cli_allows_and_refuses_by_role(secured, tmp_path):
    store = str(tmp_path / "store")
    rows(3, 700).to_csv(tmp_path / "more.csv", index=False)
    rules = tmp_path / "rules.json"
    rules.write_text('[{"feature": "amount", "check": "not_null"}]')
    runner = CliRunner()

    def run(who: str, *args: str):
        return runner.invoke(main, ["--store", store, "--as", who, *args])

    assert run("ed", "ingest", "sales", str(tmp_path / "more.csv")).exit_code == 0
    refused = run("ed", "rules", "sales", "--set", str(rules))
    assert refused.exit_code == 1 and "'ed' may not set_rules on feature group 'sales'" in refused.output
    assert run("olga", "rules", "sales", "--set", str(rules)).exit_code == 0
    spec = tmp_path / "g.json"
    spec.write_text('{"name": "g2", "record_identifier": "id", "event_time": "ts", '
                    '"features": [{"name": "id", "type": "Integral"}, {"name": "ts", "type": "String"}]}')
    refused = run("olga", "create", str(spec))
    assert refused.exit_code == 1 and "may not create_feature_group" in refused.output
    assert run("admin", "create", str(spec)).exit_code == 0


def test_store_wide_sweeps_cover_only_what_the_principal_may_see(secured):
    admin = secured("admin")
    for group in ("sales", "hr", "public"):
        admin.set_monitor(group, expected_interval=1, drift={"psi": 0.2})  # every group is late
    seen = {a["group"] for a in secured("vera").check_monitors()}
    assert seen == {"sales", "public"}  # hr's alert stays hidden, and hr is never read
    assert {a["group"] for a in admin.check_monitors()} == {"sales", "hr", "public"}
