"""The one place that turns store errors into the AWS error format boto3 parses.

Body ``{"__type": code, "message": ..., "Message": ...}``, header ``x-amzn-ErrorType``, and the
status each service uses: the runtime's model gives each error its own status; the control
plane (JSON 1.1) answers 400 for every client error. Access errors are 403 on both.
"""
from __future__ import annotations

import logging

from starlette.responses import JSONResponse

from ..errors import (AccessDenied, Conflict, FeatureStoreError, NotFound, StorageFull, StorageUnavailable,
                      ValidationError)
from .vendor import RUNTIME

log = logging.getLogger("store.server")

# engine error -> (runtime code, status), (control-plane code, status); most specific first
_CODES: list[tuple[type[FeatureStoreError], tuple[str, int], tuple[str, int]]] = [
    (AccessDenied, ("AccessForbidden", 403), ("AccessDeniedException", 403)),
    (NotFound, ("ResourceNotFound", 404), ("ResourceNotFound", 400)),
    (Conflict, ("ConflictException", 409), ("ResourceInUse", 400)),
    (ValidationError, ("ValidationError", 400), ("ValidationException", 400)),
    (StorageFull, ("ServiceUnavailable", 503), ("ServiceUnavailable", 503)),  # AWS has no 507; clients retry 503
    (StorageUnavailable, ("ServiceUnavailable", 503), ("ServiceUnavailable", 503)),
]
_INTERNAL = ("InternalFailure", 500)
MAX_MESSAGE = 1024  # the models' FailureReason limit; Message allows 2048


class WireError(FeatureStoreError):
    """An error whose AWS code has no engine counterpart (ResourceLimitExceeded, an unknown operation)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.status = code, status


def code_of(exc: BaseException, service: str) -> tuple[str, int]:
    """The wire error code and HTTP status for ``exc`` on ``service``; unexpected errors are logged."""
    if isinstance(exc, WireError):
        return exc.code, exc.status
    for cls, runtime, control in _CODES:
        if isinstance(exc, cls):
            return runtime if service == RUNTIME else control
    if not isinstance(exc, FeatureStoreError):
        log.error("Unexpected error", exc_info=exc)
    return _INTERNAL


def message_of(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, FeatureStoreError) else "The server failed to process the request; see its log"
    return text[:MAX_MESSAGE]


def error_response(exc: BaseException, service: str, headers: dict[str, str], media_type: str) -> JSONResponse:
    code, status = code_of(exc, service)
    message = message_of(exc)
    return JSONResponse({"__type": code, "message": message, "Message": message}, status_code=status,
                        headers={**headers, "x-amzn-ErrorType": code}, media_type=media_type)
