"""Where a feature service's online vector gets its one consistent snapshot of every group.

Where the online rows live in the store's own database (the default SQLite file, or the
registry's PostgreSQL schema), the caller reads the definitions and the rows inside one read
transaction of that database (``shared``). Otherwise the backend's ``many_groups`` makes the
snapshot: Redis answers every group in one script call, which it runs atomically; a PostgreSQL
online database of its own, one read-only REPEATABLE READ transaction on one connection.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..core.context import StoreContext


def shared(ctx: "StoreContext") -> bool:
    """Whether the online rows live in the store's own database (one read transaction covers them)."""
    from ..online.sqlite import DatabaseOnline

    return isinstance(ctx.online, DatabaseOnline) and ctx.online.conns is ctx.db
