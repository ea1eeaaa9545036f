"""Offline query engines behind one interface (``base.Engine``), chosen by name with ``get``:
DuckDB in process (the default, ``duckdb_engine``) and Apache Spark (``spark``, the optional extra
``featurestore[spark]``) for work past one machine. ``plans`` holds the engine-neutral SQL of a
group's statistics, which every engine runs.

The room sits on floor 7: it imports ``offline``, ``online.sqlite_tables`` (quoting), ``model``,
``storage``, ``common`` and ``errors``, never ``core``, ``retrieval`` or the facade. An engine is
handed what it reads (snapshots, a sandbox cursor: ``base.ReadContext``, which the store's
context satisfies), never the store. ``base`` imports no implementation: ``ENGINES`` below maps
each name to its class, imported on first use, so an extra that is not installed costs nothing
until it is asked for.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError

if TYPE_CHECKING:
    from .base import Engine

# name -> "module:Class" (the module relative to this package)
ENGINES = {"duckdb": "duckdb_engine:DuckDBEngine", "spark": "spark:SparkEngine"}
EXTRAS = {"spark": "spark"}  # name -> the pip extra that installs what its module imports


def get(name: str = "duckdb", spark: Any = None) -> "Engine":
    """The engine called ``name``: "duckdb", or "spark" (on the SparkSession ``spark``, else a local one)."""
    target = ENGINES.get(name) if isinstance(name, str) else None
    if target is None:
        raise ValidationError(f"engine={name!r}: use {' or '.join(repr(n) for n in ENGINES)}")
    module, cls_name = target.split(":")
    try:
        cls = getattr(importlib.import_module(f"{__name__}.{module}"), cls_name)
    except ImportError as exc:
        extra = EXTRAS.get(name, name)
        raise ValidationError(f"engine={name!r} needs the {extra!r} extra: pip install 'featurestore[{extra}]' "
                              f"({exc})") from None
    if not cls.takes_session:
        if spark is not None:
            raise ValidationError("spark= is for engine='spark'")
        return cls()
    return cls(spark)
