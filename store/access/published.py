"""The access policy of a store several machines share, kept in the store's own tables so every
server, studio and script enforces the same one (an ``access.yaml`` per folder would leave a
machine without the file open to all). ``featurestore access publish FILE`` sets it.

Once a policy is published it is the store's: an access file given to or found by an opener must
match it, or the opener is refused (publish the new file instead). A process that opened the
store under a published policy follows it: a new version or a withdrawal applies to its next
call. A process that opened the store before any policy was published stays open until it
restarts.
"""
from __future__ import annotations

import hashlib
import os
import threading
from typing import TYPE_CHECKING, Any

from .. import registry
from ..databases import shared
from ..errors import ValidationError
from ..common.timeutil import now_us
from . import audit
from .local import KEY as LOCAL_KEY
from .local import LocalPolicy
from .policy import AccessFile

if TYPE_CHECKING:
    from ..databases import Database
    from ..core.context import StoreContext
    from .guard import Guard

KEY = "access"


def policy(database: "Database", local: str | None) -> "LivePolicy | LocalPolicy | None":
    """The policy an opener enforces: the published one, followed as it changes (a ``local``
    access file must match it), else the local file, followed as it changes, else none."""
    text = shared.get(database, KEY) if database.shared_id is not None else None
    if text is None:
        return LocalPolicy(database, local) if local else None
    if local is not None:
        with open(local, encoding="utf-8") as fh:
            if fh.read() != text:
                raise ValidationError(f"This store's access policy is published in its tables, and {local} differs "
                                      "from it; publish the file (`featurestore access publish FILE`) or remove it",
                                      access=local)
    return LivePolicy(database, text)


def guard(ctx: "StoreContext", local: str | None, principal: Any) -> "Guard":
    """The opener's guard under the policy in force (see ``policy``); without one, a guard that
    allows everything and keeps the audit log in the opener's name."""
    from .guard import Guard, default_principal

    found = policy(ctx.db, local)
    return Guard(found.file if found else None, principal or default_principal(), ctx, live=found)


class LivePolicy:
    """The published policy as of the registry version last seen, shared by every handle on one
    open store: publishing bumps the version (PostgreSQL announces it to every process), and
    the first check that sees the new version reads the policy again, once."""

    def __init__(self, database: "Database", text: str) -> None:
        self.database = database
        self.text: str | None = text
        self.file: AccessFile | None = AccessFile.parse(text, None)
        self.version: int | None = None
        self._lock = threading.Lock()

    def at(self, version: int) -> AccessFile | None:
        if version != self.version:
            with self._lock:
                if version != self.version:
                    text = shared.get(self.database, KEY)
                    if text != self.text:
                        self.text, self.file = text, None if text is None else AccessFile.parse(text, None)
                    self.version = version
        return self.file


def publish(ctx: "StoreContext", path: str | None) -> None:
    """Make the access file at ``path`` the store's policy on every machine (None: withdraw it).
    Needs an admin of the policy in force (the guard's check), and a new policy that keeps the
    caller an admin."""
    if ctx.db.shared_id is None:
        raise ValidationError(f"A store kept in one folder reads its access file there ({ctx.path}/access.yaml); "
                              "publishing is for stores whose tables are on a server")
    caller = ctx.policy.name  # under a policy, an admin (the guard checked the call); else whoever opened the store
    text = None
    if path is not None:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        new = AccessFile.parse(text, path)
        if new.principal(caller) is None or not new.principal(caller).is_admin():
            raise ValidationError(f"{path} does not make {caller!r} an admin of the whole store, so publishing it "
                                  "would lock you out; add the grant ({role: admin}) or publish as an admin it names",
                                  access=path)
    with ctx.db.write() as conn:
        shared.put(conn, KEY, text)
        shared.put(conn, LOCAL_KEY, None)  # a folder's file no longer governs: this does, or nothing
        registry.bump_version(conn)  # every process's next check reads the policy again
        details = {"sha256": hashlib.sha256(text.encode()).hexdigest(), "principals": len(new.principals),
                   "path": path} if text is not None else {}
        audit.append(conn, now_us(), caller, "access_file", None,
                     "published" if text is not None else "withdrawn", details)


def in_folder(folder: str) -> AccessFile | None:
    """The policy published in the tables of the store at ``folder``, without opening the store
    (for commands that check before they start a server or studio)."""
    from ..databases import open_database
    from ..storage.config import CONFIG_FILE

    if not os.path.exists(os.path.join(folder, CONFIG_FILE)):
        return None  # a store in one folder: no tables elsewhere
    database = open_database(folder, None, None)
    try:
        text = shared.get(database, KEY) if database.shared_id is not None else None
    finally:
        database.close()
    return None if text is None else AccessFile.parse(text, None)
