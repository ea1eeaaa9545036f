"""A store whose tables are on PostgreSQL opens from its URL alone, on any machine:
``postgresql://user@host:port/db?schema=fs_...`` (the schema may be left out when the database
holds one store). The settings other machines need (where the offline files and online records
are) are kept in the store's own tables, so nothing has to be copied between machines.

Opening by URL gives the store a local folder under ``$XDG_CACHE_HOME/featurestore`` (default
``~/.cache/featurestore``), whose ``featurestore.yaml`` is rewritten from the store's tables each
time; that folder keeps only this machine's things (an ``access.yaml``, uploads being read).
"""
from __future__ import annotations

import json
import os
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import ValidationError
from .base import Connection, Database

TABLE = "shared_config"
SHARED_KEYS = ("offline", "s3", "online", "online_prefix")  # the settings of featurestore.yaml every machine shares
_SCHEMA = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def is_url(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def split_url(url: str) -> tuple[str, str | None]:
    """The server's URL (as psycopg takes it) and the ``schema`` query parameter, if any."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), None)
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    if schema is not None and not _SCHEMA.fullmatch(schema):
        raise ValidationError(f"schema={schema!r} in the store's URL is not a schema name (letters, digits and _)",
                              store=url)
    return urlunsplit(parts._replace(query=rest)), schema


def url_of(dsn: str, schema: str | None) -> str:
    """The URL other machines open the store by: the server without a password, and the schema."""
    parts = urlsplit(dsn)
    host = parts.netloc.rpartition("@")[2]
    user = parts.netloc.rpartition("@")[0].partition(":")[0]
    query = parse_qsl(parts.query, keep_blank_values=True) + ([("schema", schema)] if schema else [])
    return urlunsplit(parts._replace(netloc=f"{user}@{host}" if user else host, query=urlencode(query)))


def publish(database: Database, settings: dict) -> None:
    """Keep the store's shared settings in its tables, once: the first opener's (its creator's,
    or for a store made before this, the first machine to open it since) are every machine's."""
    conn = database.get()
    where, params = database.any_of("key", SHARED_KEYS)
    if database.columns(conn, TABLE) and conn.execute(f"SELECT 1 FROM {TABLE} WHERE {where} LIMIT 1",
                                                      params).fetchone():
        return
    with database.write() as conn:
        for key in SHARED_KEYS:
            if settings.get(key) is not None:
                put(conn, key, settings[key], replace=False)


def get(database: Database, key: str) -> Any:
    """A setting kept in the store's tables (None if it has none)."""
    conn = database.get()
    if not database.columns(conn, TABLE):
        return None
    row = conn.execute(f"SELECT value FROM {TABLE} WHERE key = ?", (key,)).fetchone()
    return None if row is None else json.loads(row[0])


def put(conn: Connection, key: str, value: Any, replace: bool = True) -> None:
    """Set (or with None, remove) a setting, inside the caller's write transaction."""
    conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    if value is None:
        conn.execute(f"DELETE FROM {TABLE} WHERE key = ?", (key,))
        return
    conn.execute(f"INSERT INTO {TABLE} VALUES (?, ?) ON CONFLICT (key) DO "
                 + ("UPDATE SET value = excluded.value" if replace else "NOTHING"), (key, json.dumps(value)))


def attach(url: str, offline: str | None = None) -> str:
    """The local folder for the store at ``url``, its featurestore.yaml written from the store's
    shared settings. ``offline`` names where this machine sees the offline files, when not at the
    path the store was made with (the store checks they are its own when it opens)."""
    from ..storage import config

    dsn, schema = split_url(url)
    try:
        import psycopg
    except ImportError:
        raise ValidationError("A store on PostgreSQL needs psycopg: pip install 'featurestore[postgres]'",
                              store=url) from None
    shown = url_of(dsn, schema)
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise ValidationError(f"Cannot reach the store's PostgreSQL at {shown}: {str(exc).strip()}",
                              store=shown) from None
    with conn:
        stores = [r[0] for r in conn.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = %s ORDER BY 1", (TABLE,))]
        if schema is None:
            if len(stores) != 1:
                found = f"it holds {len(stores)}: {', '.join(stores)}" if stores else "it holds none"
                raise ValidationError(
                    f"Name the store in {shown}: {found}. Add ?schema=<name> to the URL"
                    + ("" if stores else "; a store made with `featurestore init --registry URL` is listed once a "
                       "version that publishes its settings has opened it"), store=shown)
            schema = stores[0]
        elif schema not in stores:
            raise ValidationError(f"There is no feature store {schema!r} in {shown}"
                                  + (f" (it holds {', '.join(stores)})" if stores else "")
                                  + "; `featurestore init --registry URL` makes one", store=shown)
        quoted = '"' + schema.replace('"', '""') + '"'
        rows = conn.execute(f"SELECT key, value FROM {quoted}.{TABLE}").fetchall()
    settings: dict = {"registry": dsn, "registry_schema": schema}
    settings.update((key, json.loads(value)) for key, value in rows if key in SHARED_KEYS)
    if offline is not None:
        settings["offline"] = offline if offline.startswith("s3://") else os.path.abspath(offline)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(cache, "featurestore", schema)
    os.makedirs(folder, mode=0o700, exist_ok=True)  # its yaml holds the URL as given, password included
    config.write(folder, settings)
    return folder


def locate(location: str, offline: str | None, registry: str | None) -> tuple[str, str | None]:
    """The store's local folder, and the ``offline`` its opener still has to apply: a folder as
    given, or for a URL the folder made for it (``offline`` then goes into its config)."""
    if not is_url(location):
        return os.path.abspath(location), offline
    if registry is not None:
        raise ValidationError("The store's URL names its registry; leave out registry=", registry=registry)
    return attach(location, offline), None


def folder_for(location: str) -> str:
    """The local folder of the store at ``location``: a folder as given, or one made for a URL
    (so a command that starts several processes attaches once, before starting them)."""
    return attach(location) if is_url(location) else os.path.abspath(location)
