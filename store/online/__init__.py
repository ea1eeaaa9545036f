"""Floor 6, online store backends behind one interface (``base.OnlineBackend``, which imports no
backend): the store's own database (the default: ``sqlite`` and its SQL in ``sqlite_tables``; see
``store.databases``), Redis or PostgreSQL (both through the ``outbox``), chosen by ``online:`` in
``featurestore.yaml``; ``open_online`` below picks one by the URL's scheme.

May import: floors 1-5 (``registry``, ``databases``, ``model``, ``storage``, ``common``, ``errors``);
not ``store.offline``, which sits beside it.
"""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from ..errors import ValidationError
from .base import OnlineBackend

if TYPE_CHECKING:
    from ..databases import Database

__all__ = ["OnlineBackend", "open_online"]


def open_online(store_path: str, conns: "Database", online: str | None = None) -> OnlineBackend:
    """The store's online backend. ``online`` given for a store without one in its config is
    recorded there once the server answers (with a prefix of its own, so stores can share a Redis
    or PostgreSQL database); given for a store whose config says otherwise, refused. The
    registry's own PostgreSQL URL means the default: online rows in the registry's schema,
    written in its transactions."""
    from ..storage import config

    settings = config.read(store_path)
    record = False
    if online is not None and online not in ("sqlite", settings.get("registry")):
        if settings.get("online") and settings["online"] != online:
            raise ValidationError(f"This store's online store is {settings['online']} (its {config.CONFIG_FILE}), "
                                  f"not {online}; open it without online=", online=online)
        if not settings.get("online"):
            if not online.startswith(("redis://", "rediss://", "unix://", "postgresql://", "postgres://")):
                raise ValidationError(f"online={online!r}: use sqlite (the default), redis://host:port/db or "
                                      "postgresql://user@host:port/db", online=online)
            settings, record = {**settings, "online": online, "online_prefix": f"fs:{uuid.uuid4().hex[:8]}:"}, True
    backend = _open(settings, conns)  # raises, recording nothing, for a server that does not answer
    if record:
        config.write(store_path, settings)
    return backend


def _open(settings: dict, conns: "Database") -> OnlineBackend:
    url = settings.get("online") or "sqlite"
    if url == "sqlite":
        from .sqlite import DatabaseOnline

        return DatabaseOnline(conns)
    prefix = settings.get("online_prefix") or "fs:"
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresOnline

        return PostgresOnline(url, prefix, conns)
    from .redis import RedisOnline

    return RedisOnline(url, prefix, conns)
