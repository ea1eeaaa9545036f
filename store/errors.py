"""The one error hierarchy of the store.

    FeatureStoreError            500  base: catch this to catch everything the store raises
    ├── ValidationError          400  bad input; names the group, feature and value at fault
    │   └── IngestRejected       400  a bulk ingest refused whole; carries the per-row report
    ├── NotFound                 404  unknown feature group, feature, dataset or model
    ├── Conflict                 409  the name is taken or the stored state forbids the change
    ├── AccessDenied             403  a key or policy forbids the call (HTTP server)
    ├── Interrupted              408  a query ran past its timeout or was cancelled
    ├── StorageFull              507  the disk (or quota) holding the store is full; nothing was written
    ├── StorageUnavailable       503  a server holding the store's data (S3, PostgreSQL) did not answer
    └── StoreCorrupted           500  the files on disk disagree with the registry

Each carries an HTTP status so the server and the studio map errors in one place.
"""
from __future__ import annotations

import errno
from typing import Any


class FeatureStoreError(Exception):
    """Base of every error the store raises on purpose."""

    status = 500

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    def __str__(self) -> str:
        return self.message


class ValidationError(FeatureStoreError, ValueError):
    """Input that breaks a rule; the message says which field and how to fix it."""

    status = 400


class IngestRejected(ValidationError):
    """A bulk ingest with bad rows and ``on_error="reject"``: nothing was written. ``reason`` is
    the message without advice; ``skippable`` says writing only the valid rows would write
    something, which the message advises in the API's words (``on_error='skip'``), so other
    interfaces (the studio's radio button, the CLI's flag) can name their own control."""

    def __init__(self, reason: str, report: Any, skippable: bool = False) -> None:
        super().__init__(f"{reason} Fix them, or pass on_error='skip' to write the valid rows." if skippable
                         else reason, report=report)
        self.report = report
        self.reason = reason
        self.skippable = skippable


class NotFound(FeatureStoreError, LookupError):
    status = 404


class Conflict(FeatureStoreError):
    status = 409


class AccessDenied(FeatureStoreError):
    status = 403


class Interrupted(FeatureStoreError):
    status = 408


class StoreCorrupted(FeatureStoreError):
    status = 500


class StorageUnavailable(FeatureStoreError, OSError):
    """A server holding the store's data is out of reach: the object store of the offline files
    (down, no such bucket, credentials refused) or the PostgreSQL server of its tables or online
    records. An OSError too, so cleanup code that expected pyarrow's still catches it."""

    status = 503


class StorageFull(FeatureStoreError):
    """The disk or quota holding the store ran out during a write, which was rolled back."""

    status = 507


_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def is_storage_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk or quota is full: an OSError (ENOSPC, EDQUOT, also inside
    pyarrow's IO errors), SQLite's SQLITE_FULL or PostgreSQL's disk_full (53100)."""
    if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
        return True
    if getattr(exc, "sqlstate", None) == "53100":
        return True
    text = str(exc)
    return "database or disk is full" in text or "No space left on device" in text or "Disk quota exceeded" in text


def storage_full(exc: BaseException, what: str = "this write") -> StorageFull:
    """The StorageFull error for ``exc``, saying what was kept."""
    return StorageFull(f"The disk holding the store is full ({_reason(exc)}): nothing of {what} was stored. Free "
                       f"some space (or move the store to a larger disk) and try again.")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
