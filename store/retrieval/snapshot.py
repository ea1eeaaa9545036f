"""A feature service's online reads: every group's records for many entity rows as one consistent
snapshot, on every online backend (``OnlineBackend.many_groups``).

Where the online rows live in the store's own database (the default SQLite file, or the
registry's PostgreSQL schema), the caller reads the definitions and the rows inside one read
transaction (``transaction``). Redis answers every group in one script call, which Redis runs
atomically; a PostgreSQL online database of its own, in one read-only REPEATABLE READ transaction
on one connection. Either way one batch read covers all entity rows.
"""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, Sequence

from ..core import lookups
from ..model.schema import FeatureGroup

if TYPE_CHECKING:
    from ..core.context import StoreContext


def transaction(ctx: "StoreContext") -> AbstractContextManager:
    """One read transaction of the store's database where the online rows live in it (the
    definitions and every group's rows read inside it are one snapshot); else nothing: the
    backend's ``many_groups`` makes its own snapshot."""
    from ..online.sqlite import DatabaseOnline

    shared = isinstance(ctx.online, DatabaseOnline) and ctx.online.conns is ctx.db
    return ctx.db.read() if shared else nullcontext()


def read_groups(ctx: "StoreContext", reads: Sequence[tuple[FeatureGroup, dict, Sequence[Any]]],
                now: int) -> dict[str, tuple[dict[Any, dict[str, Any]], set[Any]]]:
    """For (group, its prepared dict, identifiers: None for a row that names no record) of each
    group: by group name, (live records by identifier, identifiers whose record is there but past
    its TTL at ``now``), all groups read in one snapshot (see the module docstring)."""
    looks = [(lookups.compiled(ctx, group, prep), list(dict.fromkeys(i for i in ids if i is not None)))
             for group, prep, ids in reads]
    asked = [(look.reader, wanted) for look, wanted in looks if wanted]
    answers = iter(ctx.online.many_groups(asked, now) if asked else ())
    out = {}
    for look, wanted in looks:
        live, expired = next(answers) if wanted else ({}, set())
        out[look.group.name] = (dict(zip(live, look.decode(live.values()))), expired)
    return out
