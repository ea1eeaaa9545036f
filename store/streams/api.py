"""The streams capability as the facade calls it: ``consume`` and ``status``."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

from . import tables
from .consumer import StreamReport, StreamSpec, consume as run

if TYPE_CHECKING:
    from ..core.context import StoreContext


def consume(ctx: "StoreContext", group: str, topics: str | Sequence[str], bootstrap_servers: str, *,
            max_messages: int | None = None, idle_timeout: float | None = None, stop: Callable[[], bool] | None = None,
            **spec: Any) -> StreamReport:
    topics = (topics,) if isinstance(topics, str) else tuple(topics)
    return run(ctx, StreamSpec(group, topics, bootstrap_servers, **spec), max_messages, idle_timeout, stop)


def status(ctx: "StoreContext") -> list[dict[str, Any]]:
    return tables.status(ctx.db.get())
