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
