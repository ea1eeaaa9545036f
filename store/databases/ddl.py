"""Column definitions of a group's features in the store database's types, for the tables that
hold one column per feature (the SQLite online store's, the offline store's staging buffer)."""
from __future__ import annotations

from typing import Iterable

from ..common.sqltext import q
from ..model.schema import Feature


def columns_ddl(features: Iterable[Feature], key: str | None = None) -> list[str]:
    """Column definitions of features in the store database's types (the key one the primary key)."""
    return [f"{q(f.name)} {f.sqlite_type}" + (" PRIMARY KEY" if f.name == key else "") for f in features]


def add_columns_sql(table_name: str, features: Iterable[Feature]) -> list[str]:
    return [f"ALTER TABLE {table_name} ADD COLUMN {column}" for column in columns_ddl(features)]
