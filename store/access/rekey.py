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
schedulers on the store first. The opener's side (``recover``, ``finish``, the lock) lives with
the marker in ``storage.encryption``, since every store open runs it.
"""
from __future__ import annotations

import glob
import os
from typing import Any

from ..errors import Conflict, ValidationError
from ..storage import encryption as crypto
from ..storage.encryption import DB_FILE, SUFFIX, finish, locked, remove_leftovers, switching


def rekey(store_path: str, new_key: bytes, old_key: bytes | None) -> dict[str, Any]:
    """Rewrite the store under ``new_key`` (``old_key`` None: the store is plain now), holding
    the store's rekey lock. Returns what was rewritten."""
    db = os.path.join(store_path, DB_FILE)
    if not os.path.exists(db):
        raise ValidationError(f"No store at {store_path}")
    with locked(store_path) as held:
        if not held:
            raise Conflict(f"A key change (featurestore encrypt or rekey) of the store at {store_path} is running; "
                           "let it finish first")
        try:
            return _rekey(store_path, new_key, old_key)
        except BaseException:
            if not switching(store_path):  # failed before the switch: the store is as it was, less the copies
                remove_leftovers(store_path)
            raise


def _rekey(store_path: str, new_key: bytes, old_key: bytes | None) -> dict[str, Any]:
    import pyarrow.parquet as pq
    import pyarrow.parquet.encryption as pe

    from ..storage import config
    from ..storage.files import write_local

    db = os.path.join(store_path, DB_FILE)
    if switching(store_path):
        raise ValidationError("A key change of this store is under way; open the store once to finish it")
    remove_leftovers(store_path)
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


def _parquet_files(store_path: str) -> list[str]:
    found = []
    for folder in ("offline", "datasets"):
        found += glob.glob(os.path.join(glob.escape(store_path), folder, "**", "*.parquet"), recursive=True)
    return sorted(found)


def _export_database(db: str, old_key: bytes | None, new_key: bytes) -> None:
    """A SQLCipher copy of the database under the new key (sqlcipher_export copies schema and rows)."""
    from ..databases.sqlite_db import cipher_connection

    conn = cipher_connection(db)
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
