"""A local-first feature store: SQLite online store, Parquet offline store, time travel, lineage.

    from store import FeatureStore, Feature
    fs = FeatureStore("./.featurestore")

Heavy modules (pandas, pyarrow, duckdb) load on first use, so the CLI starts fast.
"""
from typing import TYPE_CHECKING, Any

from .errors import (
    AccessDenied,
    Conflict,
    FeatureStoreError,
    IngestRejected,
    Interrupted,
    NotFound,
    StorageFull,
    StoreCorrupted,
    ValidationError,
)

if TYPE_CHECKING:
    from .featurestore import FeatureStore, default_path
    from .model.on_demand import OnDemandFeature, on_demand
    from .model.schema import Feature, FeatureGroup

_LAZY = {
    "FeatureStore": "featurestore",
    "default_path": "featurestore",
    "Feature": "model.schema",
    "FeatureGroup": "model.schema",
    "OnDemandFeature": "model.on_demand",
    "on_demand": "model.on_demand",
}

__all__ = [
    "AccessDenied",
    "Conflict",
    "Feature",
    "FeatureGroup",
    "FeatureStore",
    "FeatureStoreError",
    "IngestRejected",
    "Interrupted",
    "NotFound",
    "OnDemandFeature",
    "StorageFull",
    "StoreCorrupted",
    "ValidationError",
    "default_path",
    "on_demand",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'store' has no attribute {name!r}")
