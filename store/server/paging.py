"""Opaque, stateless NextTokens, so any worker process can serve the next page."""
from __future__ import annotations

import base64
import json
from typing import Any, Sequence, TypeVar

from ..errors import ValidationError

T = TypeVar("T")


def encode(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def decode(token: str | None) -> dict[str, Any]:
    """The state a token carries ({} for no token). Raises ValidationError for a token we did not issue."""
    if not token:
        return {}
    try:
        state = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        state = None
    if not isinstance(state, dict):
        raise ValidationError("NextToken is not valid: pass the NextToken of the previous response unchanged")
    return state


def page(items: Sequence[T], token: str | None, limit: int) -> tuple[list[T], str | None]:
    """One page of ``items`` and the token for the next (None on the last page)."""
    start = decode(token).get("offset", 0)
    if not isinstance(start, int) or start < 0:
        raise ValidationError("NextToken is not valid: pass the NextToken of the previous response unchanged")
    end = start + limit
    return list(items[start:end]), encode({"offset": end}) if end < len(items) else None
