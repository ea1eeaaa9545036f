"""A local-first feature store: SQLite online store, Parquet offline store, time travel, lineage.

    from store import FeatureStore, Feature
    fs = FeatureStore("./.featurestore")
"""
from .errors import (
    AccessDenied,
    Conflict,
    FeatureStoreError,
    IngestRejected,
    NotFound,
    StoreCorrupted,
    ValidationError,
)
from .featurestore import FeatureStore, default_path
from .schema import Feature, FeatureGroup

__all__ = [
    "AccessDenied",
    "Conflict",
    "Feature",
    "FeatureGroup",
    "FeatureStore",
    "FeatureStoreError",
    "IngestRejected",
    "NotFound",
    "StoreCorrupted",
    "ValidationError",
    "default_path",
]
