"""Warnings pointed at the user's line, not the store's."""
from __future__ import annotations

import os
import sys
import warnings

_STORE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def warn_user(message: str) -> None:
    """A UserWarning attributed to the first caller outside the store package: the facade, its
    access wrapper and the store's own nested calls add frames of their own, more under a policy."""
    frame, level = sys._getframe(1), 2  # level 2: the caller of warn_user
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_STORE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)
