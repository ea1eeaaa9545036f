"""Kafka topics into a group, exactly once, against a real broker (Tansu, from PyPI).

Each batch's rows and its new offsets commit in one store transaction: a consumer that stops,
is killed or loses a rebalance never loses or repeats a message; undecodable messages and rows
the group's checks refuse go to the quarantine with their topic/partition@offset."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest

from cli_support import run  # noqa: F401
from store import Feature, FeatureStore, ValidationError

pytestmark = pytest.mark.slow
BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def make_group(fs: FeatureStore, name: str = "tx") -> None:
    fs.create_feature_group(name, "id", "ts", [Feature("id", "Integral"), Feature("ts"),
                                               Feature("amount", "Fractional"), Feature("city")])


def produce(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes]]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i, (key, value) in enumerate(messages):
        producer.produce(topic, key=key, value=value)
        if i % 5000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0


def event(i: int, ids: int = 50) -> tuple[bytes, bytes]:
    """Message i: key i % ids, its amount i, a time i ms after BASE (later messages newer)."""
    return str(i % ids).encode(), json.dumps({"id": i % ids, "ts": BASE_MS + i, "amount": float(i),
                                              "city": random.choice(["Zürich", "São Paulo", "Kraków"])}).encode()


@pytest.fixture
def topic(kafka_server):
    name = f"tx-{uuid.uuid4().hex[:8]}"
    kafka_server.create_topic(name, partitions=3)
    return name


def offline_rows(fs: FeatureStore, group: str = "tx") -> list[tuple[int, float]]:
    return sorted(fs.query(f'SELECT id, amount FROM "{group}"').itertuples(index=False, name=None))


def test_every_message_lands_once_and_a_second_run_reads_nothing_new(tmp_path, kafka_server, topic):
    fs = FeatureStore(tmp_path / "s")
    make_group(fs)
    produce(kafka_server.bootstrap, topic, [event(i) for i in range(3000)])
    report = fs.consume("tx", topic, kafka_server.bootstrap, time_unit="ms", batch_size=700, idle_timeout=3)
    assert (report.messages, report.rows_written, report.rows_rejected) == (3000, 3000, 0)
    assert report.batches >= 5
    assert sorted(a for _, a in offline_rows(fs)) == [float(i) for i in range(3000)]
    for key in range(50):  # the newest per key online: the last message of that key
        newest = max(i for i in range(3000) if i % 50 == key)
        assert fs.get_record("tx", key)["amount"] == float(newest)
    assert fs.get_record("tx", 7)["ts"] == "2026-01-01T00:00:02.957000Z"
    again = fs.consume("tx", topic, kafka_server.bootstrap, time_unit="ms", idle_timeout=2)
    assert again.messages == 0 and len(offline_rows(fs)) == 3000
    produce(kafka_server.bootstrap, topic, [event(i) for i in range(3000, 3100)])
    more = fs.consume("tx", topic, kafka_server.bootstrap, time_unit="ms", idle_timeout=3)
    assert more.messages == 100 and len(offline_rows(fs)) == 3100
    [status] = fs.stream_status()
    assert status["stream"] == "tx" and status["messages"] == 3100 and status["rows_written"] == 3100
    assert sum(status["offsets"].values()) == 3100 and len(status["offsets"]) == 3
    assert set(status["lag"].values()) == {0} and status["rate"] > 0


def test_lag_is_what_the_partition_holds_past_the_stored_offset(tmp_path, kafka_server):
    kafka_server.create_topic(topic := f"lag-{uuid.uuid4().hex[:8]}", partitions=1)
    fs = FeatureStore(tmp_path / "s")
    make_group(fs)
    produce(kafka_server.bootstrap, topic, [event(i) for i in range(1000)])
    report = fs.consume("tx", topic, kafka_server.bootstrap, time_unit="ms", batch_size=100, max_messages=300)
    assert report.messages == 300
    [status] = fs.stream_status()
    assert status["offsets"] == {f"{topic}/0": 300} and status["lag"] == {f"{topic}/0": 700}


def test_bad_messages_go_to_the_quarantine_with_their_offsets_and_the_stream_goes_on(tmp_path, kafka_server):
    kafka_server.create_topic(topic := f"bad-{uuid.uuid4().hex[:8]}", partitions=1)
    fs = FeatureStore(tmp_path / "s")
    make_group(fs)
    messages = [event(0), (b"x", b"not json {"), (b"1", json.dumps({"id": 1, "ts": BASE_MS, "amount": "lots"}).encode()),
                (b"2", json.dumps([1, 2]).encode()), event(4)]
    produce(kafka_server.bootstrap, topic, messages)
    report = fs.consume("tx", topic, kafka_server.bootstrap, time_unit="ms", idle_timeout=3)
    assert (report.messages, report.rows_written, report.rows_rejected) == (5, 2, 3)
    kept = fs.quarantine("tx").sort_values("position")
    assert kept["position"].tolist() == [f"{topic}/0@1", f"{topic}/0@2", f"{topic}/0@3"]
    reasons = dict(zip(kept["position"], kept["reason"]))
    assert "not a JSON object" in reasons[f"{topic}/0@1"] and "not a JSON object" in reasons[f"{topic}/0@3"]
    assert "amount" in reasons[f"{topic}/0@2"]
    assert sorted(a for _, a in offline_rows(fs)) == [0.0, 4.0]


def test_a_record_identifier_from_the_message_key_and_fields_renamed(tmp_path, kafka_server):
    kafka_server.create_topic(topic := f"keyed-{uuid.uuid4().hex[:8]}", partitions=2)
    fs = FeatureStore(tmp_path / "s")
    fs.create_feature_group("users", "user", "seen", [Feature("user"), Feature("seen"), Feature("score", "Fractional")])
    produce(kafka_server.bootstrap, topic, [(f"u{i}".encode(), json.dumps({"at": BASE_MS / 1000 + i, "s": i / 2}).encode())
                                            for i in range(20)])
    fs.consume("users", topic, kafka_server.bootstrap, key="user", fields={"seen": "at", "score": "s"},
               time_unit="s", idle_timeout=3)
    assert fs.get_record("users", "u9") == {"user": "u9", "seen": "2026-01-01T00:00:09Z", "score": 4.5}


def test_the_command_line_runs_a_stream_and_shows_where_it_stands(run, tmp_path, kafka_server):
    kafka_server.create_topic(topic := f"cli-{uuid.uuid4().hex[:8]}", partitions=2)
    with FeatureStore(tmp_path / "store") as fs:
        make_group(fs)
    produce(kafka_server.bootstrap, topic, [event(i) for i in range(300)])
    handler = signal.getsignal(signal.SIGINT)
    done = run("stream", "run", "tx", "--topic", topic, "--bootstrap-servers", kafka_server.bootstrap,
               "--time-unit", "ms", "--name", "payments", "--idle-timeout", "2", "--config", "client.id=cli-test")
    assert done.exit_code == 0, done.output
    assert signal.getsignal(signal.SIGINT) is handler  # the caller's Ctrl-C handler is back
    assert "stream 'payments': 300 messages" in done.output and "300 rows written, 0 quarantined" in done.output
    shown = run("stream", "status")
    assert shown.output.startswith("payments\t-> tx\t300 messages, 300 rows written, 0 quarantined")
    assert f"{topic}/0=" in shown.output and f"{topic}/1=" in shown.output and "(lag 0)" in shown.output
    [status] = json.loads(run("stream", "status", "--json").output)
    assert sum(status["offsets"].values()) == 300 and status["spec"]["config"] == ["client.id"]  # names, not values
    bad = run("stream", "run", "tx", "--topic", topic, "--bootstrap-servers", "x:1", "--field", "amount")
    assert bad.exit_code == 2 and "give field as NAME=VALUE" in bad.output


def test_bad_settings_are_refused_naming_the_field(tmp_path):
    fs = FeatureStore(tmp_path / "s")
    make_group(fs)
    with pytest.raises(ValidationError, match="time_unit='minutes'"):
        fs.consume("tx", "t", "127.0.0.1:1", time_unit="minutes")
    with pytest.raises(ValidationError, match="batch_size"):
        fs.consume("tx", "t", "127.0.0.1:1", batch_size=0)


def stored(store) -> int:
    """How many messages the stream has stored offsets past (0 before its first batch)."""
    with FeatureStore(store) as fs:
        status = fs.stream_status()
    return sum(status[0]["offsets"].values()) if status else 0


CONSUMER = textwrap.dedent("""
    import sys
    from store import FeatureStore
    with FeatureStore(sys.argv[1]) as fs:
        fs.consume("tx", sys.argv[2], sys.argv[3], time_unit="ms", batch_size=2000, max_latency=0.2, idle_timeout=4,
                   config={"session.timeout.ms": 3000, "heartbeat.interval.ms": 500})
""")


def test_consumers_killed_at_random_and_two_competing_lose_and_repeat_nothing(tmp_path, kafka_server, topic):
    """While a producer writes 200,000 messages over 3 partitions, the consumer is SIGKILLed 5
    times at random moments and restarted, then two consumers of one consumer group compete for
    the rest: every message is in the offline store exactly once, the newest per key online."""
    store = tmp_path / "s"
    with FeatureStore(store) as fs:
        make_group(fs)
    total, keys, early = 200_000, 500, 160_000
    producer = threading.Thread(target=lambda: [
        (produce(kafka_server.bootstrap, topic, [event(i, ids=keys) for i in range(start, start + 10_000)]),
         time.sleep(1.0)) for start in range(0, early, 10_000)])
    producer.start()
    script = tmp_path / "consumer.py"
    script.write_text(CONSUMER)
    rng = random.Random(5)
    args = [sys.executable, str(script), str(store), topic, kafka_server.bootstrap]
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    progress = [0]
    for _ in range(5):
        proc = subprocess.Popen(args, env=env)
        deadline = time.monotonic() + 30
        while stored(store) == progress[-1] and time.monotonic() < deadline:  # the group join, then a batch
            time.sleep(0.05)
        time.sleep(rng.uniform(0, 0.5))  # killed at a random moment of the stream
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        progress.append(stored(store))
    producer.join()
    assert 0 < progress[1] <= progress[-1] <= early, progress  # the first kill mid-stream
    assert len(set(progress)) >= 4, progress  # most kills after some batches
    both = [subprocess.Popen(args, env=env) for _ in range(2)]
    produce(kafka_server.bootstrap, topic, [event(i, ids=keys) for i in range(early, total)])  # for the two
    for proc in both:
        assert proc.wait(timeout=240) == 0
    with FeatureStore(store) as fs:
        rows = offline_rows(fs)
        assert len(rows) == total and sorted(a for _, a in rows) == [float(i) for i in range(total)]
        for key in rng.sample(range(keys), 25):
            newest = max(range(key, total, keys))
            assert fs.get_record("tx", key)["amount"] == float(newest)
        [status] = fs.stream_status()
        assert sum(status["offsets"].values()) == total
