"""Floor 4, the database under a store's tables (see ``base.Database``): a SQLite file in the
store folder (the default), or a schema in a PostgreSQL database (``registry: postgresql://...`` in
``featurestore.yaml``) so servers and studios on several machines share one store; and the column
DDL of one-column-per-feature tables (``ddl``).

May import: ``store.model``, ``store.storage``, ``store.common``, ``store.errors``.
"""
from __future__ import annotations

import os
import uuid

from ..errors import ValidationError
from . import shared
from .base import Connection, Database, errors
from .sqlite_db import Connections

__all__ = ["Connection", "Database", "errors", "open_database", "run_script"]

DB_FILE = "featurestore.db"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_database(store_path: str, registry: str | None, key: bytes | None) -> Database:
    """The store's database. ``registry`` given for a store without one in its config is recorded
    there once the server answers (with a schema of its own, so stores can share a database);
    given for a store whose config says otherwise, refused."""
    from ..storage import config

    settings = config.read(store_path)
    record = False
    if registry is not None and registry != "sqlite":
        if settings.get("registry") and settings["registry"] != registry:
            raise ValidationError(f"This store's registry is {settings['registry']} (its {config.CONFIG_FILE}), "
                                  f"not {registry}; open it without registry=", registry=registry)
        if not settings.get("registry"):
            if not registry.startswith(POSTGRES_SCHEMES):
                raise ValidationError(f"registry={registry!r}: use sqlite (the default) or "
                                      "postgresql://user@host:port/db", registry=registry)
            if shared.split_url(registry)[1] is not None:
                raise ValidationError("registry= makes a new store on that server; to open the store a URL with "
                                      "?schema= names, pass the URL as the store (--store URL, FeatureStore(URL))",
                                      registry=registry)
            if os.path.exists(os.path.join(store_path, DB_FILE)):
                raise ValidationError(f"This store already keeps its registry in {DB_FILE}; a registry on "
                                      "PostgreSQL is chosen when a store is created (featurestore init --registry)",
                                      registry=registry)
            schema = f"fs_{uuid.uuid4().hex[:12]}"
            settings, record = {**settings, "registry": registry, "registry_schema": schema}, True
    url = settings.get("registry") or "sqlite"
    if url == "sqlite":
        return Connections(os.path.join(store_path, DB_FILE), key)
    if key is not None:
        raise ValidationError("An encrypted store keeps its registry in SQLite (SQLCipher); a registry on "
                              "PostgreSQL is protected by the server's own encryption at rest and TLS",
                              registry=url)
    from .postgres_db import PostgresDatabase

    database = PostgresDatabase(url, settings["registry_schema"])  # raises, recording nothing, if unreachable
    if record:
        config.write(store_path, settings)
    return database


def run_script(conn: Connection, script: str) -> None:
    """Run ';'-separated DDL inside the caller's transaction (``executescript`` would commit it)."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)
