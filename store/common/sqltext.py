"""SQL text the store writes itself: quoted identifiers and literals, and DuckDB's errors in words.

Every floor that builds SQL (the stores, the engines, the capabilities) needs these, so they sit
on the ground floor rather than in whichever store wrote them first.
"""
from __future__ import annotations

import re
from typing import Sequence

from .timeutil import us_to_iso


def q(name: str) -> str:
    """Quote an SQL identifier (group and feature names may hold '-')."""
    return '"' + name.replace('"', '""') + '"'


def sql_list(paths: Sequence[str]) -> str:
    """A DuckDB list literal of strings (file paths for ``read_parquet``)."""
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def ts_literal(us: int) -> str:
    """A TIMESTAMPTZ literal with an explicit UTC offset, so DuckDB's TimeZone cannot shift it."""
    return f"TIMESTAMPTZ '{us_to_iso(int(us))}'"


def plain_sql_error(exc: Exception) -> str:
    """DuckDB's message without its class prefix and the echo of the query: 'Table with name x
    does not exist! Did you mean "y"?'."""
    text = str(exc)
    prefix = re.match(r"(\w+(?: \w+)*) Error: ", text)  # Parser, Catalog, Binder, Out of Range, ...
    if prefix:
        text = ("SQL syntax error: " if prefix.group(1) == "Parser" else "SQL error: ") + text[prefix.end():]
    text = text.split("\n\nLINE ")[0].split("\nLINE ")[0]
    return " ".join(line.strip() for line in text.splitlines() if line.strip())
