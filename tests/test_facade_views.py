"""What a front end asks of the facade to hide what would be refused and to key its caches:
``principal``, ``can``, ``policy`` and ``data_version``."""
from __future__ import annotations

import pandas as pd
import pytest

from store import AccessDenied, Feature, FeatureStore, NotFound, ValidationError

ACCESS = """
users:
  - {name: vic, roles: [{role: viewer, groups: [customers]}]}
  - {name: ed, roles: [{role: editor, groups: [customers]}]}
  - {name: root, roles: [{role: admin}]}
"""


@pytest.fixture
def governed(tmp_path):
    path = tmp_path / "governed"
    path.mkdir()
    (path / "access.yaml").write_text(ACCESS)
    with FeatureStore(path, principal="root") as root:
        root.create_feature_group("customers", "customer_id", "event_time",
                                  [Feature("customer_id"), Feature("event_time")])
        root.create_feature_group("other", "id", "ts", [Feature("id"), Feature("ts")])
        yield root


def test_without_an_access_file_everything_is_allowed_and_the_policy_is_none(fs, monkeypatch):
    assert fs.policy() is None
    assert all(fs.can(role) for role in ("viewer", "editor", "owner", "admin"))
    assert fs.can("admin", "anything")
    assert fs.with_principal("someone").principal == "someone"


def test_the_principal_defaults_to_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURESTORE_PRINCIPAL", "ana")
    with FeatureStore(tmp_path / "store") as fs:
        assert fs.principal == "ana"


def test_a_viewer_and_an_admin_under_an_access_file(governed):
    vic, ed = governed.with_principal("vic"), governed.with_principal("ed")
    assert (governed.principal, vic.principal) == ("root", "vic")
    assert vic.can("viewer", "customers") and not vic.can("editor", "customers")
    assert not vic.can("viewer", "other")
    assert vic.can("viewer") and not vic.can("editor") and not vic.can("admin")
    assert ed.can("editor") and not ed.can("owner") and not ed.can("admin")
    assert governed.can("admin") and governed.can("owner", "other")
    assert not governed.with_principal("mallory").can("viewer")  # not in the file
    file = governed.policy()  # the opener's handle reads the file its sign-in checks against
    assert file is not None and file.principal("vic") is not None and file.principal("mallory") is None


def test_a_principals_handle_may_not_read_the_access_file(governed):
    # It holds password hashes and API key secrets: a viewer (or an admin's with_principal handle,
    # what the server and studio give a caller) is refused, and the refusal is audited.
    for name in ("vic", "root", "mallory"):
        with pytest.raises(AccessDenied, match="may not read the access file"):
            governed.with_principal(name).policy()
    refused = governed.audit(action="policy")
    assert set(refused["principal"]) == {"vic", "root", "mallory"} and set(refused["outcome"]) == {"denied"}


def test_can_names_the_roles_it_knows(fs):
    with pytest.raises(ValidationError, match="viewer, editor, owner, admin"):
        fs.can("reader")


def test_data_version_follows_the_checks_of_reads(governed):
    vic = governed.with_principal("vic")
    assert vic.data_version("customers") == governed.data_version("customers")
    with pytest.raises(AccessDenied):
        vic.data_version("other")
    with pytest.raises((NotFound, AccessDenied)):
        governed.data_version("nosuch")


def test_data_version_changes_with_the_data_and_the_definition_only(fs):
    fs.create_feature_group("customers", "customer_id", "event_time",
                            [Feature("customer_id"), Feature("event_time"), Feature("age", "Integral")])
    seen = [fs.data_version("customers")]

    def changed() -> None:
        now = fs.data_version("customers")
        assert now != seen[-1] and now not in seen
        seen.append(now)

    assert fs.data_version("customers") == seen[-1]  # nothing happened
    fs.put_record("customers", {"customer_id": "c1", "event_time": "2026-01-01T00:00:00Z", "age": 30})
    changed()
    fs.ingest("customers", pd.DataFrame({"customer_id": ["c2", "c3"], "event_time": "2026-01-02T00:00:00Z",
                                         "age": [40, 50]}))
    changed()
    fs.flush("customers")
    changed()
    fs.add_features("customers", [Feature("city")])
    changed()
    fs.get_record("customers", "c1")
    fs.describe("customers")
    assert fs.data_version("customers") == seen[-1]  # reads change nothing
    fs.delete_record("customers", "c1", "2026-02-01T00:00:00Z")
    changed()

