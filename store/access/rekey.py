"""Encrypting an existing store, and changing an encrypted store's key, without a moment where a
crash leaves it half in one state and half in the other.

Everything is first written anew beside the old (``<file>.rekey``: each Parquet file and a
SQLCipher export of the database) under the new key; then ``encryption.json`` says "switching"
with the new key's check, in one rename; then the new files replace the old ones, and the marker
says "done". A store found "switching" is switched forward by whoever opens it next (the new
files are whole before the marker flips), and leftovers of a run that died before the flip (the
``.rekey`` copies, their temporary files) are removed by whoever opens it next. A run holds an
exclusive lock on ``rekey.lock`` in the store folder while it works (the file stays behind if
the process dies, the lock does not), so an opener tells a running key change (it refuses to
open until that has finished) from a dead one (it cleans up). Stop studios, servers and
schedulers on the store first.
"""
from __future__ import annotations

import glob
import json
import os
from contextlib import contextmanager
from typing import Any, Iterator

from ..errors import Conflict, ValidationError
from ..storage import encryption as crypto

SUFFIX = ".rekey"
DB_FILE = "featurestore.db"
LOCK = "rekey.lock"
# What a run leaves beside the store's files: the copies, write_local's temporary files of them
# (".<name>.rekey.tmp"), SQLite's journal of the database copy, the marker's temporary file.
_LEFTOVER_ENDINGS = (SUFFIX, SUFFIX + ".tmp", SUFFIX + "-journal", SUFFIX + "-wal", SUFFIX + "-shm",
                     crypto.MARKER + ".tmp")


def rekey(store_path: str, new_key: bytes, old_key: bytes | None) -> dict[str, Any]:
    """Rewrite the store under ``new_key`` (``old_key`` None: the store is plain now), holding
    the store's rekey lock. Returns what was rewritten."""
    db = os.path.join(store_path, DB_FILE)
    if not os.path.exists(db):
        raise ValidationError(f"No store at {store_path}")
    with _locked(store_path) as held:
        if not held:
            raise Conflict(f"A key change (featurestore encrypt or rekey) of the store at {store_path} is running; "
                           "let it finish first")
        try:
            return _rekey(store_path, new_key, old_key)
        except BaseException:
            if not switching(store_path):  # failed before the switch: the store is as it was, less the copies
                _remove_leftovers(store_path)
            raise


def recover(store_path: str) -> None:
    """What an opener does first: finish a switch that was under way, or remove the leftovers of
    a run that died before its switch. Raises Conflict while a run is working on the store (its
    files are half written: opening now would read, or write, what the run is about to replace)."""
    if not (os.path.exists(os.path.join(store_path, LOCK)) or switching(store_path)):
        return  # the common case, one stat (and no marker read for a plain store)
    with _locked(store_path) as held:
        if not held:
            raise Conflict(f"A key change (featurestore encrypt or rekey) of the store at {store_path} is running; "
                           "open the store when it has finished")
        if switching(store_path):  # the new files were whole before the marker flipped: put them in place
            finish(store_path)
        _remove_leftovers(store_path)


def _rekey(store_path: str, new_key: bytes, old_key: bytes | None) -> dict[str, Any]:
    import pyarrow.parquet as pq
    import pyarrow.parquet.encryption as pe

    from ..storage import config
    from ..storage.files import write_local

    db = os.path.join(store_path, DB_FILE)
    if switching(store_path):
        raise ValidationError("A key change of this store is under way; open the store once to finish it")
    _remove_leftovers(store_path)
    elsewhere = config.read(store_path).get("offline")
    if elsewhere:
        raise ValidationError(f"This store's offline files are at {elsewhere}, which encrypt and rekey do not rewrite; "
                              "use the object store's own encryption (e.g. S3 SSE) for them")
    read = {"decryption_properties": pe.create_decryption_properties(old_key)} if old_key else {}
    write = crypto.ParquetKey(new_key, store_path).write_options
    files = _parquet_files(store_path)
    for path in files:
        write_local(pq.read_table(path, **read), path + SUFFIX, **write)
    _export_database(db, old_key, new_key)
    crypto.mark(store_path, new_key, "switching")
    finish(store_path)
    return {"parquet_files": len(files), "database": DB_FILE}


def finish(store_path: str) -> None:
    """Put a switch that was under way in place (idempotent)."""
    for staged in glob.glob(os.path.join(glob.escape(store_path), "**", "*" + SUFFIX), recursive=True):
        target = staged[: -len(SUFFIX)]
        if target.endswith(DB_FILE):
            for extra in ("-wal", "-shm"):
                if os.path.exists(target + extra):
                    os.remove(target + extra)
        os.replace(staged, target)
    marker = os.path.join(store_path, crypto.MARKER)
    with open(marker, encoding="utf-8") as fh:
        data = json.load(fh)
    data["state"] = "done"
    tmp = marker + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, marker)


def switching(store_path: str) -> bool:
    marker = os.path.join(store_path, crypto.MARKER)
    if not os.path.exists(marker):
        return False
    with open(marker, encoding="utf-8") as fh:
        return json.load(fh).get("state") == "switching"


def _parquet_files(store_path: str) -> list[str]:
    found = []
    for folder in ("offline", "datasets"):
        found += glob.glob(os.path.join(glob.escape(store_path), folder, "**", "*.parquet"), recursive=True)
    return sorted(found)


def _remove_leftovers(store_path: str) -> None:
    """Remove what a run that died before its switch left (call holding the lock, not switching)."""
    for folder, _dirs, names in os.walk(store_path):  # os.walk: the temporary files' names start with a dot
        for name in names:
            if name.endswith(_LEFTOVER_ENDINGS):
                os.remove(os.path.join(folder, name))


@contextmanager
def _locked(store_path: str) -> Iterator[bool]:
    """Hold the store's rekey lock (yields True), or yield False when another process holds it.
    The lock file is removed on leaving, so its presence alone says a run was working (or died)."""
    import fcntl

    path = os.path.join(store_path, LOCK)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if not same:  # the holder removed it after we opened it: a lock on a name no one looks at
            os.close(fd)
            fd = -1
            with _locked(store_path) as held:
                yield held
            return
        try:
            yield True
        finally:
            os.remove(path)  # before the lock is released: a waiter then finds the name gone
    finally:
        if fd >= 0:
            os.close(fd)


def _export_database(db: str, old_key: bytes | None, new_key: bytes) -> None:
    """A SQLCipher copy of the database under the new key (sqlcipher_export copies schema and rows)."""
    from ..databases.sqlite_db import _cipher

    conn = _cipher(db)
    try:
        if old_key is not None:
            conn.execute(f"PRAGMA key = \"x'{old_key.hex()}'\"")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        target = db + SUFFIX
        conn.execute(f"ATTACH DATABASE '{target}' AS target KEY \"x'{new_key.hex()}'\"")
        conn.execute("SELECT sqlcipher_export('target')").fetchall()
        conn.execute(f"PRAGMA target.user_version = {int(version)}")
        conn.execute("DETACH DATABASE target")
    finally:
        conn.close()
