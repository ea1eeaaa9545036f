"""Kafka consumers the studio runs (the Streams page): each ``fs.consume`` in a daemon thread of
the studio's process with an event to stop it, kept in a registry every session sees, keyed by
(store folder, stream name); and the page's FEATURE=FIELD mapping parser."""
from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from store import FeatureStore, FeatureStoreError


@dataclass
class Consumer:
    """A consumer this studio process runs: its thread, its stop event, and how it ended."""

    stream: str
    group: str
    topics: list[str]
    bootstrap_servers: str
    since: dt.datetime
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    error: str | None = None  # why the thread died
    summary: str | None = None  # what it did, once it ended

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


def _stop_all(registry: dict[tuple[str, str], Consumer]) -> None:
    for consumer in registry.values():
        consumer.stop.set()


@st.cache_resource(on_release=_stop_all)
def registry() -> dict[tuple[str, str], Consumer]:
    """The consumers this studio runs, by (store folder, stream name): every session sees them."""
    return {}


@st.cache_resource
def lock() -> threading.Lock:
    """One start at a time, so two sessions cannot both start the same stream name."""
    return threading.Lock()


def run(fs: FeatureStore, consumer: Consumer, options: dict[str, Any]) -> None:
    """The thread's body: consume until Stop; how it ended goes on ``consumer``."""
    try:
        report = fs.consume(consumer.group, consumer.topics, consumer.bootstrap_servers, stop=consumer.stop.is_set,
                            **options)
        consumer.summary = report.summary()
    except FeatureStoreError as exc:
        consumer.error = exc.message
    except Exception as exc:  # noqa: BLE001 - a thread's end: shown on the page as one line, never a traceback
        logging.getLogger("app").exception("Stream consumer %s failed", consumer.stream)
        consumer.error = f"{type(exc).__name__}: {exc}"


def parse_fields(text: str) -> dict[str, str]:
    """FEATURE=FIELD lines as a mapping; a bad line raises ValueError naming it."""
    out = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        feature, sep, source = line.partition("=")
        if not sep or not feature.strip() or not source.strip():
            raise ValueError(f"Field mapping, line {number} ({line.strip()!r}): write FEATURE=FIELD, e.g. "
                             "amount=amount_usd")
        out[feature.strip()] = source.strip()
    return out


def ours(fs: FeatureStore) -> list[Consumer]:
    """The consumers this studio runs on ``fs``'s store, by stream name."""
    return [c for (path, _), c in sorted(registry().items()) if path == fs.path]
