"""The studio and the audit log (issue 20): failed sign-ins and lockouts are refusals the log
keeps (F15), a viewer is not offered what its role cannot do (F14: Save monitor disabled, Delete
dataset shown to admins only, while it may still build and record a dataset), and the Audit page
shows the log of a store that has no access file."""
from __future__ import annotations

import pandas as pd
from studio_support import button, ok, page, seeded_template, studio_store, texts  # noqa: F401
from test_app_access import secured, sign_in  # noqa: F401 (secured: the signed-in studio's fixture)

from store import FeatureStore


def test_failed_sign_ins_and_lockouts_are_in_the_audit_log(secured):
    sign_in("root", "anything")  # an admin with no password cannot sign in with one
    for _ in range(5):
        at = sign_in("vera", "wrong")
        assert at.error[0].value == "Wrong user name or password."
    at = sign_in("vera", "vera-password")  # refused: still locked
    assert "Too many failed sign-ins for 'vera'" in at.error[0].value
    ok(sign_in("ed", "ed-password"))  # a sign-in that works is not a refusal
    with FeatureStore(secured, principal="root") as root:
        log = root.audit(action="sign_in").iloc[::-1]
        assert root.verify_audit()["ok"]
    assert log[["principal", "outcome"]].values.tolist() == [
        ["root", "denied"], *[["vera", "denied"]] * 4, ["vera", "locked"], ["vera", "locked"]]
    assert [d["failures"] for d in log["details"]] == [1, 1, 2, 3, 4, 5, 5]
    studio = log["details"].iloc[0]["via"]  # who recorded the claim: the studio's own principal
    assert studio and all(d["via"] == studio for d in log["details"])


def test_a_viewer_is_not_offered_save_monitor_or_delete_dataset(secured):
    entities = pd.DataFrame({"merchant_id": ["M0001", "M0002"],
                             "event_time": pd.to_datetime(["2030-01-01", "2030-01-02"], utc=True)})
    with FeatureStore(secured, principal="vera") as vera:  # a viewer may record a training set of what it reads
        built = vera.build_dataset(entities, ["merchants:risk_score"], name="vera_set")
    at = ok(sign_in("vera", "vera-password"))
    at.query_params["group"] = "merchants"
    at.switch_page("app_pages/monitoring.py").run()
    save = button(at, "Save monitor")
    assert save.disabled and "needs the owner role on merchants" in save.help
    at.query_params["dataset"] = built.id
    ok(at.switch_page("app_pages/datasets.py").run())
    labels = [b.label for b in at.button]
    assert "Rebuild on today's data" in labels and "Delete dataset" not in labels
    assert "Delete this dataset" not in [e.label for e in at.expander]
    at = ok(sign_in("olga", "ed-password"))  # the owner of merchants may save its monitor
    at.query_params["group"] = "merchants"
    at.switch_page("app_pages/monitoring.py").run()
    assert not button(at, "Save monitor").disabled


def test_an_admin_is_offered_delete_dataset(secured, monkeypatch):
    with FeatureStore(secured, principal="root") as root:
        built = root.build_dataset(pd.DataFrame({"merchant_id": ["M0001"], "event_time": ["2030-01-01T00:00:00Z"]}),
                                   ["merchants:risk_score"], name="root_set")
    monkeypatch.setenv("FEATURESTORE_UI_AUTH", "none")
    monkeypatch.setenv("FEATURESTORE_PRINCIPAL", "root")
    at = ok(page("datasets", dataset=built.id))
    ok(button(at, "Delete dataset").click().run())
    with FeatureStore(secured, principal="root") as root:
        assert built.id not in [d["id"] for d in root.datasets()]
        assert root.audit(action="delete_dataset")["outcome"].tolist() == ["ok"]


def test_the_audit_page_shows_the_log_of_a_store_without_an_access_file(studio_store, monkeypatch):
    monkeypatch.setenv("FEATURESTORE_PRINCIPAL", "ana")
    with FeatureStore(studio_store) as fs:
        fs.set_monitor("merchants", expected_interval=3600)
        fs.put_record("merchants", {"merchant_id": "M0001", "event_time": "2030-01-01T00:00:00Z"})
    at = ok(page("audit"))
    assert "The audit log is for admins." not in texts(at)
    table = at.dataframe[0].value
    newest = table[["principal", "action", "group", "outcome"]].values.tolist()[:2]
    assert newest == [["ana", "put_record", "merchants", "ok"], ["ana", "set_monitor", "merchants", "ok"]]
    ok(button(at, "Verify the chain").click().run())
    assert at.success[0].value.startswith("The log is intact")
