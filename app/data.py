"""Cached reads for the heavy views. Each is keyed by the group's data version (``FeatureStore.
data_version``: one registry row, which any put, delete, ingest, flush or definition change moves),
so it is computed once per change of the data, and by the principal asking (whose access is checked
before the cache is consulted), so one user's answer never reaches another."""
from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from store.retrieval import browse as explore
from store.retrieval import stats

if TYPE_CHECKING:
    import pandas as pd

    from store import FeatureStore


def version(fs: "FeatureStore", group: str) -> tuple[tuple, str]:
    """(data version, principal): changes whenever the group's rows or the group itself change;
    ``data_version`` refuses a principal who may not read the group before any cache is read."""
    return fs.data_version(group), fs.principal


@st.cache_data(show_spinner="Computing statistics…", max_entries=64)
def _summary(_fs: "FeatureStore", path: str, group: str, key: tuple, scope: str) -> "pd.DataFrame":
    return _fs.statistics(group, scope)


@st.cache_data(show_spinner="Computing the distribution…", max_entries=256)
def _distribution(_fs: "FeatureStore", path: str, group: str, key: tuple, feature: str,
                  scope: str) -> stats.Distribution:
    return _fs.browser().distribution(group, feature, scope)


@st.cache_data(show_spinner="Counting rows over time…", max_entries=256)
def _over_time(_fs: "FeatureStore", path: str, group: str, key: tuple, feature: str | None) -> stats.TimeSeries:
    return _fs.browser().over_time(group, feature)


@st.cache_data(show_spinner="Reading records…", max_entries=256)
def _latest_page(_fs: "FeatureStore", path: str, group: str, key: tuple, limit: int, offset: int) -> explore.Page:
    return _fs.browser().latest_page(group, limit, offset)


def summary(fs: "FeatureStore", group: str, scope: str) -> "pd.DataFrame":
    return _summary(fs, fs.path, group, version(fs, group), scope)


def distribution(fs: "FeatureStore", group: str, feature: str, scope: str) -> stats.Distribution:
    return _distribution(fs, fs.path, group, version(fs, group), feature, scope)


def over_time(fs: "FeatureStore", group: str, feature: str | None) -> stats.TimeSeries:
    return _over_time(fs, fs.path, group, version(fs, group), feature)


def latest_page(fs: "FeatureStore", group: str, limit: int, offset: int) -> explore.Page:
    """Uncached for online groups: their page is a quick SQLite read, and TTL expiry changes it
    without any write."""
    if fs.feature_group(group).online:
        return fs.browser().latest_page(group, limit, offset)
    return _latest_page(fs, fs.path, group, version(fs, group), limit, offset)


@st.cache_data(show_spinner="Rebuilding the dataset…", max_entries=16)
def _dataset_head(_fs: "FeatureStore", path: str, dataset_id: str, rows: int, principal: str | None) -> "pd.DataFrame":
    from store.upload import to_pandas

    return to_pandas(_fs.dataset(dataset_id).table.slice(0, rows))


def dataset_head(fs: "FeatureStore", dataset_id: str, rows: int = 100) -> "pd.DataFrame":
    """The first rows of a recorded dataset, rebuilt as it was built; a rebuild of the same id
    never changes, so it is cached for good (per principal)."""
    return _dataset_head(fs, fs.path, dataset_id, rows, fs.principal)
