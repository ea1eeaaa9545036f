"""An access file on this machine (the store folder's ``access.yaml``, or one given to the opener),
followed as it changes, and the store's record that it is under one.

Edits apply at each process's next check, as a published policy's do: a check compares the
file's stat (device, inode, size, mtime, ctime) with the one read last (at most every
CHECK_SECONDS: a stat costs as much as a tenth of a GetRecord), and reads it again when they
differ, or while its mtime is too recent for a stat to tell two writes apart (a timestamp ticks
every few milliseconds). A change is audited once, by the first process to see it. A file
that no longer parses, or is gone, refuses every call until it is fixed: never the store opened.

A store opened under its folder's access file records so in its tables (the path and hash, in
``shared_config``, in the same database as the audit log), so an opener that later finds the file
gone is refused rather than let in with no policy. ``featurestore access remove`` (an admin,
while the file still reads) moves the file aside and clears the record, audited.
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from ..databases import shared
from ..errors import AccessDenied, ValidationError
from ..common.timeutil import now_us
from . import audit
from .policy import AccessFile

if TYPE_CHECKING:
    from ..databases import Database
    from ..core.context import StoreContext

KEY = "local_access"  # {"path", "sha256"} of the folder's access file the store is under
CHECK_SECONDS = 0.5  # how stale the policy a check applies may be
RACY_NS = 2_000_000_000  # a file changed this recently is read at every stat, not trusted by it


def _stat(path: str) -> tuple[int, ...] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


class LocalPolicy:
    """The access file at ``path`` as of the last check, shared by every handle on one open store."""

    def __init__(self, database: "Database", path: str) -> None:
        self.database = database
        self.path = os.path.abspath(path)
        self.folder: str | None = None  # the store's, once opened: its own file is recorded in its tables
        self._lock = threading.Lock()
        self._seen = _stat(self.path)
        self._read_ns = time.time_ns()
        self._next_check = time.monotonic() + CHECK_SECONDS
        try:
            with open(self.path, "rb") as fh:
                raw = fh.read()
        except OSError as exc:  # at open, a file that does not read is the opener's error
            raise ValidationError(f"Cannot read the access file {self.path}: {type(exc).__name__}") from None
        self.file = AccessFile.parse(raw.decode("utf-8", errors="replace"), self.path)
        self.digest = hashlib.sha256(raw).hexdigest()
        self.noted: str | None = None  # the state last written to the audit log by this process
        self.problem: str | None = None  # why every call is refused now, if it is

    def at(self, version: int | None = None) -> AccessFile:
        """The policy now (``version``, the registry's, is not needed: the file says when it
        changed). Raises AccessDenied while the file is gone or does not parse."""
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + CHECK_SECONDS
            seen = _stat(self.path)
            if seen != self._seen or self.problem is not None or (
                    seen is not None and seen[3] >= self._read_ns - RACY_NS):
                with self._lock:
                    self._reread(seen)
            self._note()  # nothing when nothing is new; retried here if it had to wait for a transaction
        if self.problem is not None:
            raise AccessDenied(self.problem, access=self.path)
        return self.file

    def _reread(self, seen: tuple[int, ...] | None) -> None:
        self._seen, self._read_ns = seen, time.time_ns()
        try:
            with open(self.path, "rb") as fh:
                raw = fh.read()
        except FileNotFoundError:
            self.problem = (f"The access file {self.path} is missing, so every call is refused until it is back "
                            "(to run without a policy, an admin runs `featurestore access remove` while the file "
                            "still reads, then the store is reopened)")
            return
        except OSError as exc:
            self.problem = f"The access file {self.path} cannot be read ({type(exc).__name__}); every call is refused"
            return
        digest = hashlib.sha256(raw).hexdigest()
        if digest == self.digest and self.problem is None:
            return
        try:
            self.file = AccessFile.parse(raw.decode("utf-8"), self.path)
        except (ValidationError, UnicodeDecodeError) as exc:
            reason = exc.message if isinstance(exc, ValidationError) else "it is not UTF-8 text"
            self.problem = (f"The access file {self.path} no longer reads as a policy ({reason}); every call is "
                            "refused until it is fixed")
            return
        self.digest, self.problem = digest, None

    def _note(self) -> None:
        """The audit entry for a change this process saw (once per store: the first process to
        see it writes it), unless this thread is inside a transaction (then at a later check)."""
        state = "missing" if self.problem is not None and self._seen is None else self.digest
        if state == self.noted or (self.problem is not None and state != "missing"):
            return
        if self.database.get().in_transaction:
            return
        if state == "missing":
            note_missing(self.database, self.path, "store")
        else:
            note(self.database, self)
        self.noted = state


def _last(conn: Any) -> tuple[str, str] | None:
    """(outcome, details) of the newest access_file entry."""
    return conn.execute("SELECT outcome, details FROM audit_log WHERE action = 'access_file' ORDER BY id DESC "
                        "LIMIT 1").fetchone()


def note(database: "Database", policy: LocalPolicy) -> None:
    """An audit entry when the file differs from the one the log saw last, and when it is the
    store folder's own, the store's record of it; one write transaction, only when something is new."""
    record = {"path": policy.path, "sha256": policy.digest}
    ours = policy.folder is not None and (
        os.path.dirname(os.path.realpath(policy.path)) == os.path.realpath(policy.folder))

    def stale(conn: Any) -> tuple[bool, tuple[str, str] | None]:
        last = _last(conn)
        return (last is None or policy.digest not in last[1]), last

    logged, last = stale(database.get())
    if not logged and not (ours and shared.get(database, KEY) != record):
        return
    with database.write() as conn:
        logged, last = stale(conn)  # another process may have noted it meanwhile
        if logged:
            outcome = ("first seen" if last is None or last[0] == "removed" else "restored" if last[0] == "missing"
                       else "changed")
            audit.append(conn, now_us(), "store", "access_file", None, outcome,
                         {"sha256": policy.digest, "principals": len(policy.file.principals), "path": policy.path})
        if ours:
            shared.put(conn, KEY, record)


def note_missing(database: "Database", path: str, principal: str) -> None:
    """One audit entry for a policy file found gone (not one per refused call)."""
    last = _last(database.get())
    if last is not None and last[0] in ("missing", "removed"):
        return
    with database.write() as conn:
        last = _last(conn)
        if last is None or last[0] not in ("missing", "removed"):
            audit.append(conn, now_us(), principal, "access_file", None, "missing", {"path": path})


def at_open(ctx: "StoreContext") -> None:
    """What opening checks once the tables exist: a local policy is noted (and recorded, when it
    is the folder's); a store opened without one that was under its folder's file is refused."""
    from .published import LivePolicy

    guard = ctx.policy
    if guard.live is not None:
        if not isinstance(guard.live, LivePolicy):
            guard.live.folder = ctx.path
            note(ctx.db, guard.live)
            guard.live.noted = guard.live.digest
        return
    record = shared.get(ctx.db, KEY)
    if record is None:
        return
    who = guard.name
    note_missing(ctx.db, record["path"], who)
    shared_store = " (a store several machines open keeps its policy in its tables: `featurestore access " \
        "publish`)" if ctx.db.shared_id is not None else ""
    raise AccessDenied(f"This store is under the access policy {record['path']}, which is missing; put it back "
                       "(it is then followed again) rather than open the store without a policy. To run without "
                       f"one, an admin runs `featurestore access remove` while the file still reads{shared_store}",
                       access=record["path"], principal=who)


def remove(ctx: "StoreContext") -> dict[str, str]:
    """Take the local access policy in force away (an admin's call, checked by the guard): the
    file is moved aside to ``<file>.removed`` and the store's record of it cleared, with an audit
    entry, so the store opens without a policy from now on."""
    from .published import LivePolicy

    guard = ctx.policy
    if guard.live is None:
        raise ValidationError("This store has no access policy in force; there is nothing to remove")
    if isinstance(guard.live, LivePolicy):
        raise ValidationError("This store's access policy is published in its tables; withdraw it with "
                              "`featurestore access publish --withdraw`")
    policy = guard.live
    policy.at()  # it must still read: what is removed is what was enforced
    aside = policy.path + ".removed"
    os.replace(policy.path, aside)
    try:
        with ctx.db.write() as conn:
            shared.put(conn, KEY, None)
            audit.append(conn, now_us(), guard.name, "access_file", None, "removed",
                         {"path": policy.path, "sha256": policy.digest, "kept_as": aside})
    except BaseException:
        os.replace(aside, policy.path)
        raise
    policy.noted = "missing"  # this process's next check refuses (the file is gone) without noting it
    return {"path": policy.path, "kept_as": aside}
