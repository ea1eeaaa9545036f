"""Encryption at rest. The database (registry, online store, buffer, quarantine, audit) is a
SQLCipher database (AES-256, through sqlcipher3). The offline store: every Parquet file written with Parquet modular
encryption (AES-GCM, encrypted footer, one 256-bit key for the store's files, no AAD prefix) by
pyarrow's ``create_encryption_properties``, in row groups of one page per column: the form an
outside DuckDB reads when given the key (``PRAGMA add_parquet_key`` + ``encryption_config``),
except for collection features, whose nested columns DuckDB 2.0.1 cannot decrypt. The engine
itself scans the files through pyarrow with the key, so every type reads.

A store is encrypted when its folder holds ``encryption.json``: which scheme, and an HMAC of a
fixed text under the key, so a wrong key is told apart from a missing one at once. The key
itself is never written by the store: it comes from ``FeatureStore(key=)``, ``$FEATURESTORE_KEY``
(base64) or the file ``$FEATURESTORE_KEY_FILE`` names.
"""
from __future__ import annotations

import base64
import glob
import hashlib
import hmac
import json
import os
import secrets
from contextlib import contextmanager
from typing import Any, Iterator

from ..errors import Conflict, ValidationError

MARKER = "encryption.json"
KEY_ENV, KEY_FILE_ENV = "FEATURESTORE_KEY", "FEATURESTORE_KEY_FILE"
_CHECK = b"featurestore: this key opens this store"
ROW_GROUP_ROWS = 16_384
# A key change (``access.rekey``) writes each file anew beside the old as ``<file>.rekey``, under
# ``rekey.lock``; what an opener does about one that was under way lives here, with the marker.
SUFFIX = ".rekey"
LOCK = "rekey.lock"
DB_FILE = "featurestore.db"
# What a run leaves beside the store's files: the copies, write_local's temporary files of them
# (".<name>.rekey.tmp"), SQLite's journal of the database copy, the marker's temporary file.
_LEFTOVER_ENDINGS = (SUFFIX, SUFFIX + ".tmp", SUFFIX + "-journal", SUFFIX + "-wal", SUFFIX + "-shm",
                     MARKER + ".tmp")


def new_key() -> bytes:
    return secrets.token_bytes(32)


def encode(key: bytes) -> str:
    return base64.b64encode(key).decode()


def write_key_file(path: str, key: bytes) -> None:
    """The key in base64, readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(encode(key) + "\n")


def is_encrypted(store_path: str) -> bool:
    return os.path.exists(os.path.join(store_path, MARKER))


def mark(store_path: str, key: bytes, state: str = "done") -> None:
    """Record, in one rename, that the store is encrypted (and how to recognise its key; never
    the key), and whether a switch to that key is under way (``state`` "switching")."""
    path = os.path.join(store_path, MARKER)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({"version": 1, "parquet": "AES_GCM_V1, encrypted footer, one key", "sqlite": "sqlcipher",
                   "key_check": _check(key), "state": state}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_key(store_path: str, key: Any = None) -> bytes | None:
    """The store's key, checked; None for a store that is not encrypted. Raises ValidationError
    saying how to give the key, that the one given is not this store's, or that a key was given
    (by ``key``, $FEATURESTORE_KEY or $FEATURESTORE_KEY_FILE alike) for a store that is not
    encrypted: most likely an ``encrypt`` that did not finish, which must not pass for done.
    First puts an interrupted ``encrypt``/``rekey`` right (see ``recover``)."""
    recover(store_path)
    if not is_encrypted(store_path):
        source = "key=" if key is not None else next((f"${name}" for name in (KEY_ENV, KEY_FILE_ENV)
                                                     if os.environ.get(name)), None)
        if source is not None:
            unset = "leave out key=" if key is not None else f"unset {source}"
            raise ValidationError(f"The store at {store_path} is not encrypted, but a key was given ({source}). If "
                                  "`featurestore encrypt` was stopped before it finished, the store is still plain "
                                  "and its data intact: run `featurestore encrypt --key-file NEW.key` again (the "
                                  f"key file of the stopped run was never used; delete it). Otherwise {unset} to open "
                                  "the plain store, or make an encrypted one with `featurestore init --encrypt`",
                                  field="key")
        return None
    raw = _given(key)
    if raw is None:
        raise ValidationError(f"The store at {store_path} is encrypted: give its key with ${KEY_ENV} (base64) or "
                              f"${KEY_FILE_ENV} (a file holding it), or FeatureStore(path, key=...)")
    with open(os.path.join(store_path, MARKER), encoding="utf-8") as fh:
        expected = json.load(fh)["key_check"]
    if not hmac.compare_digest(_check(raw), expected):
        raise ValidationError(f"The key given does not open the store at {store_path}")
    return raw


@contextmanager
def without_key_environment() -> Iterator[None]:
    """$FEATURESTORE_KEY and $FEATURESTORE_KEY_FILE hidden for the block: for opening a plain
    store to encrypt it, which a key in the environment would otherwise refuse."""
    saved = {name: os.environ.pop(name) for name in (KEY_ENV, KEY_FILE_ENV) if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def _given(key: Any) -> bytes | None:
    if key is None:
        if os.environ.get(KEY_ENV):
            key = os.environ[KEY_ENV]
        elif os.environ.get(KEY_FILE_ENV):
            with open(os.environ[KEY_FILE_ENV], encoding="utf-8") as fh:
                key = fh.read().strip()
        else:
            return None
    if isinstance(key, str):
        try:
            key = base64.b64decode(key.strip(), validate=True)
        except ValueError:
            raise ValidationError("The store key must be base64 text (as `featurestore init --encrypt` writes it)"
                                  ) from None
    if not isinstance(key, bytes) or len(key) != 32:
        raise ValidationError("The store key must be 32 bytes (256 bits), in base64 as text")
    return key


def _check(key: bytes) -> str:
    return hmac.new(key, _CHECK, hashlib.sha256).hexdigest()


class ParquetKey:
    """What readers and writers of one store's Parquet files need of its key."""

    def __init__(self, key: bytes, store_path: str) -> None:
        import pyarrow.parquet.encryption as pe

        # Row groups of one page per column (16,384 rows, pages unbounded in bytes): the form an outside
        # DuckDB reads with the key (measured on DuckDB 2.0.1: it fails on column chunks of several
        # pages, and on nested columns whatever their size).
        self.write_options = {"encryption_properties": pe.create_encryption_properties(key),
                              "row_group_size": ROW_GROUP_ROWS, "data_page_size": 1 << 30}
        self.read_options = {"decryption_properties": pe.create_decryption_properties(key)}

    def __repr__(self) -> str:
        return "ParquetKey(...)"


def recover(store_path: str) -> None:
    """What an opener does first: finish a switch that was under way, or remove the leftovers of
    a run that died before its switch. Raises Conflict while a run is working on the store (its
    files are half written: opening now would read, or write, what the run is about to replace)."""
    if not (os.path.exists(os.path.join(store_path, LOCK)) or switching(store_path)):
        return  # the common case, one stat (and no marker read for a plain store)
    with locked(store_path) as held:
        if not held:
            raise Conflict(f"A key change (featurestore encrypt or rekey) of the store at {store_path} is running; "
                           "open the store when it has finished")
        if switching(store_path):  # the new files were whole before the marker flipped: put them in place
            finish(store_path)
        remove_leftovers(store_path)


def finish(store_path: str) -> None:
    """Put a switch that was under way in place (idempotent)."""
    for staged in glob.glob(os.path.join(glob.escape(store_path), "**", "*" + SUFFIX), recursive=True):
        target = staged[: -len(SUFFIX)]
        if target.endswith(DB_FILE):
            for extra in ("-wal", "-shm"):
                if os.path.exists(target + extra):
                    os.remove(target + extra)
        os.replace(staged, target)
    marker = os.path.join(store_path, MARKER)
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
    marker = os.path.join(store_path, MARKER)
    if not os.path.exists(marker):
        return False
    with open(marker, encoding="utf-8") as fh:
        return json.load(fh).get("state") == "switching"


def remove_leftovers(store_path: str) -> None:
    """Remove what a run that died before its switch left (call holding the lock, not switching)."""
    for folder, _dirs, names in os.walk(store_path):  # os.walk: the temporary files' names start with a dot
        for name in names:
            if name.endswith(_LEFTOVER_ENDINGS):
                os.remove(os.path.join(folder, name))


@contextmanager
def locked(store_path: str) -> Iterator[bool]:
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
            with locked(store_path) as held:
                yield held
            return
        try:
            yield True
        finally:
            os.remove(path)  # before the lock is released: a waiter then finds the name gone
    finally:
        if fd >= 0:
            os.close(fd)
