"""A local access file is followed live and never silently dropped (issue 19, D7 and D9): a key or
grant taken out of the file is refused by a running server or store at its next check (within
CHECK_SECONDS), a file that stops parsing refuses everything, a store that had a policy refuses to
open without its file, and only an admin's `featurestore access remove` (audited) lets it open
without one."""
from __future__ import annotations

import os
import time

import pytest
from access_support import public_and_secret
from install_support import need
from click.testing import CliRunner

from store import AccessDenied, Feature, FeatureStore, NotFound
from store.access.local import CHECK_SECONDS
from store.cli import main
from studio_support import seeded_template, studio_store, texts  # noqa: F401

pytestmark = pytest.mark.registry  # tests taking registry_location run on SQLite and PostgreSQL tables

ACCESS = ("users:\n- {name: vic, roles: [{role: viewer, groups: [public]}]}\n"
          "- {name: own, roles: [{role: owner, groups: [public]}]}\n- {name: root, roles: [{role: admin}]}\n")
ROW = {"id": "x", "ts": "2026-01-01T00:00:00Z", "v": "1"}


@pytest.fixture
def store(tmp_path, registry_location):
    """The report's setup: groups public and secret, vic a viewer and own an owner of public, root an admin."""
    return public_and_secret(tmp_path, ACCESS, registry_location)


def settled() -> None:
    """Long enough for every process's next check to look at the file again."""
    time.sleep(CHECK_SECONDS + 0.1)


def edit(path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    settled()


def test_a_grant_taken_out_of_the_file_is_refused_by_an_open_store(store):
    with FeatureStore(store, principal="own") as own, FeatureStore(store, principal="root") as root:
        vic = root.with_principal("vic")  # a handle per principal (the studio's and the server's) follows too
        own.put_record("public", ROW)
        assert vic.get_record("public", "x")["v"] == "1"
        edit(store / "access.yaml", "{name: own, roles: [{role: owner, groups: [public]}]}",
             "{name: own, roles: [{role: viewer, groups: [public]}]}")
        with pytest.raises(AccessDenied, match="'own' may not put_record on feature group 'public'"):
            own.put_record("public", ROW)  # no reopening
        edit(store / "access.yaml", "- {name: vic, roles: [{role: viewer, groups: [public]}]}\n", "")
        with pytest.raises(AccessDenied, match="'vic' \\(not in the access file\\)"):
            vic.get_record("public", "x")
        edit(store / "access.yaml", "groups: [public]}]}", "groups: [public, secret]}]}")  # a grant added
        assert own.get_record("secret", "s1")["v"] == "TOP-SECRET"
        changes = root.audit(action="access_file")
    # each change noted once, by the first process to see it, with the file's new hash
    assert changes["outcome"].tolist() == ["changed", "changed", "changed", "first seen"]
    assert len({d["sha256"] for d in changes["details"]}) == 4


def test_a_service_vector_follows_the_file_on_its_one_statement_read(store):
    """A service's one-row vector checks the policy against the registry version its own statement
    reads (no read of its own): a grant taken out still refuses at once, as a missing service."""
    with FeatureStore(store, principal="root") as root:
        root.put_record("public", ROW)
        root.create_feature_service("open", ["public"])
        vic = root.with_principal("vic")
        for _ in range(3):  # the second call on serves from the cached plan's one statement
            assert vic.get_online_features("open", [{"id": "x"}], as_dict=True)["values"]["v"] == ["1"]
        edit(store / "access.yaml", "- {name: vic, roles: [{role: viewer, groups: [public]}]}\n", "")
        with pytest.raises(AccessDenied, match="'vic' \\(not in the access file\\)"):
            vic.get_online_features("open", [{"id": "x"}], as_dict=True)
        edit(store / "access.yaml", "- {name: own, roles: [{role: owner, groups: [public]}]}",
             "- {name: own, roles: [{role: owner, groups: [public]}]}\n- {name: vic, roles: [{role: viewer, "
             "groups: [secret]}]}")
        with pytest.raises(NotFound, match="open"):
            vic.get_online_features("open", [{"id": "x"}], as_dict=True)
        refused = root.audit(action="get_online_features")
        assert set(refused["principal"]) == {"vic"} and set(refused["outcome"]) == {"denied"}


def test_a_file_that_stops_parsing_refuses_everything_until_fixed(store):
    good = (store / "access.yaml").read_text()
    with FeatureStore(store, principal="root") as root:
        (store / "access.yaml").write_text("users: [oops")
        settled()
        for call in (lambda: root.get_record("public", "x"), root.list_feature_groups, root.verify_audit):
            with pytest.raises(AccessDenied, match="access file .*access.yaml no longer reads as a policy "
                                                   "\\(Cannot read .*\\); every call is refused until it is fixed"):
                call()
        (store / "access.yaml").write_text("users: []\n")  # parses as YAML, but grants nothing to anyone
        settled()
        with pytest.raises(AccessDenied, match="needs a non-empty list"):
            root.list_feature_groups()
        (store / "access.yaml").write_text(good)
        settled()
        assert {g.name for g in root.list_feature_groups()} == {"public", "secret"}


def test_removing_the_file_refuses_openers_and_leaves_a_trace(store):
    # the report's repro: the file moved away, a write attempted, the file put back
    os.rename(store / "access.yaml", store / "a.bak")
    with pytest.raises(AccessDenied, match=f"access policy {store}/access.yaml, which is missing.*"
                                           "`featurestore access remove`"):
        FeatureStore(store, principal="mallory")
    result = CliRunner().invoke(main, ["--store", str(store), "--as", "mallory", "put", "secret",
                                       '{"id": "evil", "ts": "2026-01-01T00:00:00Z"}'])
    assert result.exit_code == 1 and "featurestore access remove" in result.output
    os.rename(store / "a.bak", store / "access.yaml")
    with FeatureStore(store, principal="root") as root:
        assert root.get_record("secret", "evil") is None
        log = root.audit(action="access_file")
        assert log["outcome"].tolist() == ["restored", "missing", "first seen"]
        assert log["principal"].iloc[1] == "mallory" and root.verify_audit()["ok"]


def test_a_running_store_refuses_once_its_file_is_gone(store):
    with FeatureStore(store, principal="root") as root:
        root.get_record("public", "x")
        os.rename(store / "access.yaml", store / "a.bak")
        settled()
        with pytest.raises(AccessDenied, match="access.yaml is missing, so every call is refused"):
            root.put_record("public", ROW)
        os.rename(store / "a.bak", store / "access.yaml")
        settled()
        root.put_record("public", ROW)
        assert root.audit(action="access_file")["outcome"].tolist()[:2] == ["restored", "missing"]


def test_only_an_admin_removes_the_policy_and_the_store_then_opens_open(store):
    runner = CliRunner()
    refused = runner.invoke(main, ["--store", str(store), "--as", "own", "access", "remove"])
    assert refused.exit_code == 1 and "'own' may not remove_access_policy" in refused.output
    done = runner.invoke(main, ["--store", str(store), "--as", "root", "access", "remove"])
    assert done.exit_code == 0, done.output
    assert "Removed the access policy" in done.output and "access.yaml.removed" in done.output
    assert not (store / "access.yaml").exists() and (store / "access.yaml.removed").read_text() == ACCESS
    with FeatureStore(store, principal="mallory") as fs:  # an admin said so: open now
        fs.put_record("public", ROW)
        log = fs.audit(action="access_file")
        assert log["outcome"].tolist() == ["removed", "first seen"] and log["principal"].iloc[0] == "root"
        assert fs.verify_audit()["ok"]


def test_a_server_stops_accepting_a_key_taken_out_of_its_file(tmp_path):
    need("boto3", "The HTTP tests (they drive the server with boto3)")
    from botocore.exceptions import ClientError
    from test_access_http import ACCESS as KEYS, record

    from store.server.process import LocalServer

    store, keys = tmp_path / "store", tmp_path / "access.yaml"
    with FeatureStore(store) as fs:
        fs.create_feature_group("orders", "id", "ts", [Feature("id", "Integral"), Feature("ts", "String")])
        fs.put_record("orders", {"id": 1, "ts": "2026-11-01T00:00:00Z"})
    keys.write_text(KEYS)
    with LocalServer(store, keys_path=keys) as srv:
        def runtime(key: str, secret: str):
            return srv.client("sagemaker-featurestore-runtime", aws_access_key_id=key, aws_secret_access_key=secret)

        viewer, editor = runtime("AKIDVIEWER000001", "viewer-secret-1"), runtime("AKIDEDITOR000001", "editor-secret-1")
        assert viewer.get_record(FeatureGroupName="orders", RecordIdentifierValueAsString="1")["Record"]
        editor.put_record(FeatureGroupName="orders", Record=record(2))
        edit(keys, "  - access_key_id: AKIDVIEWER000001\n    secret_access_key: viewer-secret-1\n"
                   "    roles: [{role: viewer, groups: [\"*\"]}]\n", "")  # the key revoked
        edit(keys, '{role: editor, groups: ["orders"]}, ', "")  # a grant taken away
        with pytest.raises(ClientError) as exc:
            viewer.get_record(FeatureGroupName="orders", RecordIdentifierValueAsString="1")
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        with pytest.raises(ClientError, match="needs the editor role") as exc:
            editor.put_record(FeatureGroupName="orders", Record=record(3))
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        keys.write_text("keys: [")  # unparsable: refused, never open
        settled()
        with pytest.raises(ClientError, match="no longer reads as a policy") as exc:
            editor.get_record(FeatureGroupName="orders", RecordIdentifierValueAsString="1")
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_the_studio_signs_in_with_the_file_as_it_is_now(studio_store, monkeypatch):
    from access_support import write_access
    from test_app_access import sign_in

    from app.ui import auth

    write_access(studio_store)
    monkeypatch.setenv("FEATURESTORE_UI_AUTH", "password")
    auth._failures.clear()
    assert "Signed in as **vera**" in texts(sign_in("vera", "vera-password"))
    path = os.path.join(studio_store, "access.yaml")
    with open(path) as fh:
        text = fh.read()
    with open(path, "w") as fh:  # vera taken out while the studio runs
        fh.write(text[:text.index("  - name: vera")] + text[text.index("  - name: ed"):])
    settled()
    assert sign_in("vera", "vera-password").error[0].value == "Wrong user name or password."
