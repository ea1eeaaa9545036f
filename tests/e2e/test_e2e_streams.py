"""A Kafka consumer in a real Chromium: started from the Streams page into the sample's
transactions against a real broker (Tansu), its counts rising on the page as messages arrive
(the page redraws itself while a consumer runs), then stopped."""
from __future__ import annotations

import datetime as dt
import json
import re
import uuid

import pytest
from e2e_support import browser, expect, page, pytestmark, seed, settle, shot, studio, studio_server  # noqa: F401

from store import FeatureStore


@pytest.fixture(scope="module")
def seeded(studio_server, browser):
    seed(browser, studio_server)
    return studio_server


def produce(bootstrap: str, topic: str, start: int, count: int) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(start, start + count):
        at = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=i)
        producer.produce(topic, key=f"TS{i:07d}".encode(), value=json.dumps({
            "customer_id": 100000 + i % 50, "merchant_id": f"M{i % 20:04d}", "amount_usd": round(5 + i * 0.37, 2),
            "currency": "USD", "category": "grocery", "channel": "online",
            "event_time": at.strftime("%Y-%m-%dT%H:%M:%SZ")}).encode())
    assert producer.flush(30) == 0


def cell(tab, text: str):
    """The table cell showing exactly ``text``."""
    return tab.locator("td[role=gridcell]").filter(has_text=re.compile(f"^{re.escape(text)}$")).first


def test_start_watch_and_stop_a_consumer(page, seeded, kafka_server):
    topic = f"ledger-{uuid.uuid4().hex[:8]}"
    kafka_server.create_topic(topic, partitions=2)
    page.goto("/streams?group=transactions")
    settle(page, "No streams yet")
    page.get_by_role("textbox", name="Topics").fill(topic)
    page.get_by_role("textbox", name="Bootstrap servers").fill(kafka_server.bootstrap)
    page.get_by_role("textbox", name="Field mapping (optional)").fill("amount=amount_usd")
    page.get_by_role("textbox", name="Field mapping (optional)").press("Control+Enter")
    settle(page)
    box = page.get_by_role("combobox", name=re.compile("Key feature"))
    box.click()
    page.get_by_role("option", name="transaction_id", exact=True).click()
    settle(page)
    shot(page, "streams_form", full_page=True)
    page.get_by_role("button", name="Start consumer").click()
    settle(page, "running in this studio (since")

    produce(kafka_server.bootstrap, topic, 0, 150)
    expect(cell(page, "150")).to_be_attached(timeout=30_000)  # the page redraws itself while it runs
    shot(page, "streams_running", full_page=True)
    produce(kafka_server.bootstrap, topic, 150, 100)
    expect(cell(page, "250")).to_be_attached(timeout=30_000)
    with FeatureStore(seeded.store) as fs:
        assert fs.get_record("transactions", "TS0000249")["amount"] == round(5 + 249 * 0.37, 2)

    page.get_by_role("button", name="Stop").click()
    settle(page, "stopped (stream 'transactions': 250 messages")
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)
    shot(page, "streams_stopped", full_page=True)
