"""Encrypting an existing store, and changing an encrypted store's key, without a moment where a
crash leaves it half in one state and half in the other.

Everything is first written anew beside the old (``<file>.rekey``: each Parquet file and a
SQLCipher export of the database) under the new key; then ``encryption.json`` says "switching"
with the new key's check, in one rename; then the new files replace the old ones, and the marker
says "done". A store found "switching" is switched forward by whoever opens it next (the new
files are whole before the marker flips), and leftovers of a run that died before the flip are
removed by the next run. Stop studios, servers and schedulers on the store first.
"""
from __future__ import annotations

import glob
import json
import os
from typing import Any

from ..errors import ValidationError
from . import crypto

SUFFIX = ".rekey"
DB_FILE = "featurestore.db"


def rekey(store_path: str, new_key: bytes, old_key: bytes | None) -> dict[str, Any]:
    """Rewrite the store under ``new_key`` (``old_key`` None: the store is plain now). Returns
    what was rewritten."""
    import pyarrow.parquet as pq
    import pyarrow.parquet.encryption as pe

    from ..storage.files import write_local

    from ..storage import config

    _remove_leftovers(store_path)
    db = os.path.join(store_path, DB_FILE)
    if not os.path.exists(db):
        raise ValidationError(f"No store at {store_path}")
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
    if switching(store_path):
        raise ValidationError("A key change of this store is under way; open the store once to finish it")
    for stale in glob.glob(os.path.join(glob.escape(store_path), "**", "*" + SUFFIX), recursive=True):
        os.remove(stale)


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
