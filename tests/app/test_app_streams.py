"""The Streams page: the empty state, each stream's counts and stored offsets (rate, lag and the
last error when the store reports them), a consumer started from the page into the sample's
transactions against a real broker, refused twice, and stopped; bad input named by its field;
and an editor refused a group it only reads."""
from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import pytest
from access_support import write_access
from studio_support import STUDIO, button, fs, ok, page, seeded_template, studio_store, texts  # noqa: F401
from streamlit.testing.v1 import AppTest

from store import FeatureStore

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def no_consumer_left():
    """Every consumer a test started from the page is stopped before its store is removed."""
    yield
    from app.ui import consumers

    for consumer in consumers.registry().values():
        consumer.stop.set()
        if consumer.thread is not None:
            consumer.thread.join(10)
    consumers.registry().clear()


def transaction(i: int) -> tuple[bytes, bytes]:
    """A card transaction as the ledger would publish it, keyed by its id."""
    at = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=i)
    tid = f"TS{i:07d}"
    return tid.encode(), json.dumps({
        "customer_id": 100000 + i % 50, "merchant_id": f"M{i % 20:04d}", "amount_usd": round(5 + i * 0.37, 2),
        "currency": "USD", "category": ["grocery", "travel", "fuel"][i % 3], "channel": "online",
        "event_time": at.strftime("%Y-%m-%dT%H:%M:%SZ")}).encode()


def produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for key, value in messages:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0


@pytest.fixture
def topic(kafka_server):
    name = f"ledger-{uuid.uuid4().hex[:8]}"
    kafka_server.create_topic(name, partitions=2)
    return name


def test_no_streams_yet(studio_store):
    at = ok(page("streams"))
    assert "No streams yet" in texts(at) and "featurestore stream run" in texts(at)
    assert "only while the studio runs" in texts(at)
    assert button(at, "Start consumer")


def test_a_stream_shows_its_counts_offsets_rate_lag_and_last_error(fs, kafka_server, topic, monkeypatch):
    produce(kafka_server.bootstrap, topic, [transaction(i) for i in range(300)])
    report = fs.consume("transactions", topic, kafka_server.bootstrap, name="ledger", key="transaction_id",
                        fields={"amount": "amount_usd"}, batch_size=120, max_messages=300, idle_timeout=2)
    assert report.messages == 300 and report.rows_written == 300
    at = ok(page("streams"))
    table = at.dataframe[0].value
    row = table.iloc[0]
    assert (row["stream"], row["group"], row["messages"], row["rows written"], row["quarantined"]) == \
        ("ledger", "transactions", 300, 300, 0)
    assert f"{topic}/0 @ " in row["stored offsets"] and f"{topic}/1 @ " in row["stored offsets"]
    assert row["rate (msg/s)"] > 0 and row["lag"] == 0 and "(lag 0)" in row["stored offsets"]  # all read
    original = FeatureStore.stream_status

    def with_more(self):  # a stream behind its partitions, and a batch refused
        out = original(self)
        for s in out:
            first, second = list(s["offsets"])
            s.update(rate=412.5, lag={first: 7, second: None},
                     last_error="Batch refused\n  rule max_amount: amount > 10000 in 3 rows")
        return out

    monkeypatch.setattr(FeatureStore, "stream_status", with_more)
    at = page("streams")
    row = at.dataframe[0].value.iloc[0]
    assert row["rate (msg/s)"] == 412.5 and row["lag"] == 7 and "(lag 7)" in row["stored offsets"]
    assert [e.value for e in at.error] == ["**ledger** (last batch just now): Batch refused rule max_amount: amount "
                                           "> 10000 in 3 rows"]


def test_start_a_consumer_refuse_a_second_and_stop_it(fs, kafka_server, topic):
    at = ok(page("streams"))
    at.selectbox(key="stream_form_group").set_value("transactions").run()
    at.text_input(key="stream_form_topics").set_value(topic)
    at.text_input(key="stream_form_servers").set_value(kafka_server.bootstrap)
    at.selectbox(key="stream_form_key_transactions").set_value("transaction_id")
    at.text_area(key="stream_form_fields").set_value("amount=amount_usd")
    at.number_input(key="stream_form_latency").set_value(0.2)
    ok(button(at, "Start consumer").click().run())
    assert "running in this studio (since" in texts(at)
    produce(kafka_server.bootstrap, topic, [transaction(i) for i in range(200)])
    deadline = time.monotonic() + 30
    while not fs.stream_status() or fs.stream_status()[0]["messages"] < 200:
        assert time.monotonic() < deadline, fs.stream_status()
        time.sleep(0.2)
    assert fs.get_record("transactions", "TS0000199")["amount"] == round(5 + 199 * 0.37, 2)
    ok(at.run())
    row = at.dataframe[0].value.iloc[0]
    assert (row["stream"], row["messages"], row["in this studio"]) == ("transactions", 200, "running")
    at = button(at, "Start consumer").click().run()  # the same stream name again
    assert at.error[0].value.startswith("A consumer of stream **transactions** already runs in this studio")
    ok(button(at, "Stop").click().run())
    assert "stopped (stream 'transactions': 200 messages" in texts(at)
    assert at.dataframe[0].value.iloc[0]["in this studio"] == ""


def test_bad_input_is_named_and_nothing_starts(fs):
    at = ok(page("streams", group="merchants"))  # the group in the URL is the one picked
    assert at.selectbox(key="stream_form_group").value == "merchants"
    at.text_input(key="stream_form_servers").set_value("localhost:9092")
    at.text_area(key="stream_form_fields").set_value("amount=amount_usd\nchannel")
    at = button(at, "Start consumer").click().run()
    errors = [e.value for e in at.error]
    assert errors[0] == "Topics: name at least one Kafka topic (comma-separated)."
    assert errors[1].startswith("Field mapping, line 2 ('channel'): write FEATURE=FIELD")
    at.text_input(key="stream_form_topics").set_value("ledger")
    at.text_area(key="stream_form_fields").set_value("amt=amount_usd")
    at = button(at, "Start consumer").click().run()
    assert [e.value for e in at.error] == ["Field mapping: amt is not a feature of merchants (its features: "
                                           + ", ".join(fs.feature_group("merchants").feature_names) + ")."]
    from app.ui import consumers

    assert consumers.registry() == {}


def signed_in(store: str, monkeypatch: pytest.MonkeyPatch, name: str, password: str) -> AppTest:
    """The Streams page as ``name`` sees it under the access tests' policy."""
    write_access(store)
    monkeypatch.setenv("FEATURESTORE_UI_AUTH", "password")
    from app.ui import auth

    auth._failures.clear()
    at = AppTest.from_file(STUDIO, default_timeout=60)
    at.run()
    at.text_input[0].set_value(name)
    at.text_input[1].set_value(password)
    at = at.button[0].click().run()
    return ok(at.switch_page("app_pages/streams.py").run())


def test_a_viewer_sees_the_streams_of_its_groups_and_no_start_form(fs, kafka_server, topic, monkeypatch):
    produce(kafka_server.bootstrap, topic, [transaction(i) for i in range(200)])
    fs.consume("transactions", topic, kafka_server.bootstrap, name="ledger", key="transaction_id",
               fields={"amount": "amount_usd"}, max_messages=200, idle_timeout=2)
    at = signed_in(fs.path, monkeypatch, "vera", "vera-password")
    assert at.dataframe[0].value["messages"].tolist() == [200]
    assert "Starting a consumer needs the editor role" in texts(at) and not [b for b in at.button
                                                                             if b.label == "Start consumer"]


def test_an_editor_is_refused_a_group_it_only_reads(studio_store, monkeypatch):
    at = signed_in(studio_store, monkeypatch, "ed", "ed-password")
    at.selectbox(key="stream_form_group").set_value("transactions").run()
    at.text_input(key="stream_form_topics").set_value("ledger")
    at.text_input(key="stream_form_servers").set_value("127.0.0.1:9")
    at = button(at, "Start consumer").click().run()
    [error] = [e.value for e in at.error]
    assert error.startswith("The consumer did not start:") and "transactions" in error and "editor" in error, error
    from app.ui import consumers

    assert consumers.registry() == {}
