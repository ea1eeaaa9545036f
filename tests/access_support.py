"""The access file the studio's access tests sign in with: an admin, a viewer of two groups, an
editor of merchants (viewer elsewhere) and an owner of merchants."""
from __future__ import annotations

import os

from store.access.policy import hash_password

USERS = """
users:
  - name: root
    roles: [{{role: admin}}]
  - name: vera
    password_hash: {vera}
    roles: [{{role: viewer, groups: [merchants, transactions]}}]
  - name: ed
    password_hash: {ed}
    roles: [{{role: editor, groups: [merchants]}}, {{role: viewer, groups: ["*"]}}]
  - name: olga
    password_hash: {ed}
    roles: [{{role: owner, groups: [merchants]}}]
"""


def write_access(store: str | os.PathLike) -> None:
    """``access.yaml`` in the store folder; vera's password is vera-password, ed's and olga's ed-password."""
    with open(os.path.join(store, "access.yaml"), "w", encoding="utf-8") as fh:
        fh.write(USERS.format(vera=hash_password("vera-password"), ed=hash_password("ed-password")))


def public_and_secret(tmp_path, access: str, registry: str | None) -> "os.PathLike":
    """The security reports' setup: groups public and secret under ``access``, root an admin, and
    one put to secret (the value no one else may see)."""
    from store import Feature, FeatureStore

    path = tmp_path / "S"
    path.mkdir()
    (path / "access.yaml").write_text(access)
    with FeatureStore(path, principal="root", registry=registry) as root:
        for g in ("public", "secret"):
            root.create_feature_group(g, "id", "ts", [Feature("id"), Feature("ts"), Feature("v")])
        root.put_record("secret", {"id": "s1", "ts": "2026-01-01T00:00:00Z", "v": "TOP-SECRET"})
    return path
