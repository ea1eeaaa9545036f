"""Roles over HTTP: keys in the access file act as their own principals in the engine, so a
viewer key reads and is refused writes, an editor key writes one group only, and each write and
refusal is in the audit log under the key's id."""
from __future__ import annotations

import pytest
from install_support import need

boto3 = need("boto3", "The HTTP API tests (they drive the server with boto3)")
from botocore.exceptions import ClientError  # noqa: E402

from store import FeatureStore  # noqa: E402
from store.server.process import LocalServer  # noqa: E402

ACCESS = """
users:
  - name: root
    roles: [{role: admin}]
keys:
  - access_key_id: AKIDVIEWER000001
    secret_access_key: viewer-secret-1
    roles: [{role: viewer, groups: ["*"]}]
  - access_key_id: AKIDEDITOR000001
    secret_access_key: editor-secret-1
    roles: [{role: editor, groups: ["orders"]}, {role: viewer, groups: ["*"]}]
  - access_key_id: AKIDOWNER0000001
    secret_access_key: owner-secret-1
    roles: [{role: owner, groups: ["orders"]}]
  - access_key_id: AKIDADMIN0000001
    secret_access_key: admin-secret-1
    roles: [{role: admin}]
"""
DEFINITIONS = [{"FeatureName": "id", "FeatureType": "Integral"}, {"FeatureName": "ts", "FeatureType": "String"}]


def record(i: int) -> list[dict[str, str]]:
    return [{"FeatureName": "id", "ValueAsString": str(i)}, {"FeatureName": "ts", "ValueAsString": "2026-11-01T00:00:00Z"}]


def test_keys_act_with_their_roles_and_are_audited(tmp_path):
    store = tmp_path / "store"
    with FeatureStore(store) as fs:
        from store import Feature

        for name in ("orders", "payroll"):
            fs.create_feature_group(name, "id", "ts", [Feature("id", "Integral"), Feature("ts", "String")])
    (tmp_path / "access.yaml").write_text(ACCESS)
    with LocalServer(store, keys_path=tmp_path / "access.yaml") as srv:
        def runtime(key: str, secret: str):
            return srv.client("sagemaker-featurestore-runtime", aws_access_key_id=key, aws_secret_access_key=secret)

        viewer, editor = runtime("AKIDVIEWER000001", "viewer-secret-1"), runtime("AKIDEDITOR000001", "editor-secret-1")
        editor.put_record(FeatureGroupName="orders", Record=record(1))
        assert viewer.get_record(FeatureGroupName="orders", RecordIdentifierValueAsString="1")["Record"]
        for client, group in ((viewer, "orders"), (editor, "payroll")):
            with pytest.raises(ClientError) as exc:
                client.put_record(FeatureGroupName=group, Record=record(2))
            assert exc.value.response["Error"]["Code"] == "AccessForbidden"  # the runtime service's name for it
            assert f"may not put_record on feature group '{group}'; it needs the editor role" in str(exc.value)
        def control(key: str, secret: str):
            return srv.client("sagemaker", aws_access_key_id=key, aws_secret_access_key=secret)

        owner, admin = control("AKIDOWNER0000001", "owner-secret-1"), control("AKIDADMIN0000001", "admin-secret-1")
        owner.update_feature_group(FeatureGroupName="orders", FeatureAdditions=[{"FeatureName": "note",
                                                                                 "FeatureType": "String"}])
        definition = dict(RecordIdentifierFeatureName="id", EventTimeFeatureName="ts", FeatureDefinitions=DEFINITIONS,
                          OnlineStoreConfig={"EnableOnlineStore": True})
        with pytest.raises(ClientError, match="needs the admin role"):
            owner.create_feature_group(FeatureGroupName="refunds", **definition)
        admin.create_feature_group(FeatureGroupName="refunds", **definition)
    with FeatureStore(store, principal="root", access=str(tmp_path / "access.yaml")) as fs:
        log = fs.audit(action="put_record")
        assert log[["principal", "group", "outcome"]].values.tolist() == [
            ["AKIDEDITOR000001", "payroll", "denied"], ["AKIDVIEWER000001", "orders", "denied"],
            ["AKIDEDITOR000001", "orders", "ok"]]
        assert fs.get_record("payroll", 2) is None and fs.verify_audit()["ok"]
