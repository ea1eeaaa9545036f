"""Kafka topics into a feature group, exactly once (``FeatureStore.consume``, ``featurestore stream``).

Each batch of messages becomes one ingest (the checks, rules and quarantine of every write path),
and the batch's new offsets are stored in the same write transaction as its rows
(``tables.advance``): after a crash the rows and the offsets are both there or both not, and a
restarted consumer seeks to the stored offsets, so nothing is lost or written twice. The consumer
group's own offsets in Kafka are committed after, for tools that show lag; the store's are the
ones read back. A batch whose partition another consumer moved meanwhile (a rebalance) rolls
back and the consumer reads on from the stored place.

Messages are JSON objects, decoded a batch at a time by Arrow. A message that is no JSON
object, and a row the group's checks refuse, goes to the group's quarantine with its
``topic/partition@offset``; the stream goes on. Memory stays bounded whatever the backlog: one
batch (``batch_size`` messages) in hand, and librdkafka's prefetch queue capped.
"""
from __future__ import annotations

import io
import json
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from ..common.timeutil import now_us
from ..core import writes
from ..errors import Conflict, IngestRejected, ValidationError
from ..quality import tables as quality_tables
from . import tables

if TYPE_CHECKING:
    import pyarrow as pa

    from ..core.context import StoreContext

TIME_UNITS = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}
MAX_BATCH = 100_000  # one ingest, one transaction: kept well under the ingest's own batch size
JOIN_SECONDS = 30  # the longest a consumer group join may take before ``idle_timeout`` counts


@dataclass(frozen=True)
class StreamSpec:
    """What a consumer reads and how its messages map to the group's features.

    ``fields``: feature -> message field, for the features whose field has another name (the
    rest are read from the field of their own name); ``key``: the feature filled from the
    message key (text), e.g. the record identifier; ``time_unit``: s / ms / us / ns for an event
    time given as an epoch number (text is read as ISO-8601, as every write path reads it)."""

    group: str
    topics: tuple[str, ...]
    bootstrap_servers: str
    name: str = ""  # the stream's name (its stored offsets): default, the group's
    consumer_group: str = ""  # Kafka's group.id: default featurestore-<name>
    fields: dict[str, str] = field(default_factory=dict)
    key: str | None = None
    time_unit: str | None = None
    batch_size: int = 10_000
    max_latency: float = 1.0
    config: dict[str, Any] = field(default_factory=dict)  # more librdkafka settings (security, ...)

    def checked(self) -> "StreamSpec":
        topics = (self.topics,) if isinstance(self.topics, str) else tuple(self.topics)
        if not topics or not all(isinstance(t, str) and t for t in topics):
            raise ValidationError("topics must name at least one Kafka topic", field="topics")
        if not isinstance(self.bootstrap_servers, str) or not self.bootstrap_servers:
            raise ValidationError("bootstrap_servers must be 'host:port[,host:port...]'", field="bootstrap_servers")
        if self.time_unit is not None and self.time_unit not in TIME_UNITS:
            raise ValidationError(f"time_unit={self.time_unit!r}: use one of {', '.join(TIME_UNITS)}", field="time_unit")
        if not isinstance(self.batch_size, int) or not 1 <= self.batch_size <= MAX_BATCH:
            raise ValidationError(f"batch_size must be 1 to {MAX_BATCH:,} messages", field="batch_size")
        if not 0 < float(self.max_latency) <= 60:
            raise ValidationError("max_latency must be more than 0 and at most 60 seconds", field="max_latency")
        name = self.name or self.group
        return StreamSpec(self.group, topics, self.bootstrap_servers, name, self.consumer_group or f"featurestore-{name}",
                          dict(self.fields), self.key, self.time_unit, self.batch_size, float(self.max_latency),
                          dict(self.config))


@dataclass
class StreamReport:
    """What one ``consume`` call did."""

    stream: str
    messages: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    batches: int = 0
    conflicts: int = 0  # batches dropped because another consumer had moved their partition
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"stream {self.stream!r}: {self.messages:,} messages in {self.batches:,} batches, {self.rows_written:,} "
                f"rows written, {self.rows_rejected:,} quarantined, in {self.seconds:.1f}s")


def consume(ctx: "StoreContext", spec: StreamSpec, max_messages: int | None = None, idle_timeout: float | None = None,
            stop: Callable[[], bool] | None = None) -> StreamReport:
    """Consume until ``max_messages`` were handled, ``idle_timeout`` seconds passed with none,
    or ``stop()`` says so (None of them: until interrupted)."""
    try:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
    except ImportError:
        raise ValidationError("Streaming needs the Kafka client: pip install 'featurestore[kafka]'") from None
    spec = spec.checked()
    group, _ = ctx.group(spec.group)  # NotFound before anything connects
    shown = {**asdict(spec), "config": sorted(spec.config)}  # the settings' names only: they may hold secrets
    with ctx.db.write() as conn:
        tables.started(conn, spec.name, spec.group, shown, now_us())
    consumer = Consumer({"bootstrap.servers": spec.bootstrap_servers, "group.id": spec.consumer_group,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "queued.max.messages.kbytes": 65536,  # the prefetch bound: memory stays bounded
                         "session.timeout.ms": 10_000,  # a killed consumer's partitions move on within 10 s
                         **spec.config})
    position: dict[tables.Partition, int | None] = {}  # what this consumer last stored, per assigned partition

    def seek_stored(partitions: list[Any]) -> list[Any]:
        stored = tables.offsets(ctx.db.get(), spec.name)
        for p in partitions:
            p.offset = stored.get((p.topic, p.partition), OFFSET_BEGINNING)
            position[(p.topic, p.partition)] = stored.get((p.topic, p.partition))
        return partitions

    def on_assign(c: Any, partitions: list[Any]) -> None:
        c.assign(seek_stored(partitions))
        waiting[0] = time.monotonic()  # idle from when partitions arrived, not from the group join

    def on_revoke(c: Any, partitions: list[Any]) -> None:
        for p in partitions:
            position.pop((p.topic, p.partition), None)

    report, started = StreamReport(spec.name), time.monotonic()
    waiting = [time.monotonic() + JOIN_SECONDS]  # since when nothing came (a group join first takes a while)
    consumer.subscribe(list(spec.topics), on_assign=on_assign, on_revoke=on_revoke)
    try:
        while not (stop and stop()):
            want = spec.batch_size if max_messages is None else min(spec.batch_size, max_messages - report.messages)
            if want <= 0:
                break
            got = consumer.consume(num_messages=want, timeout=spec.max_latency)
            messages = []
            for m in got:
                if m.error() is None:
                    messages.append(m)
                elif m.error().fatal():
                    raise KafkaException(m.error())
            # Only partitions still ours (one revoked meanwhile is another consumer's now), from the
            # offset stored last (a message below it is in the store already).
            messages = [m for m in messages if (m.topic(), m.partition()) in position and
                        m.offset() >= (position[(m.topic(), m.partition())] or 0)]
            if not messages:
                if idle_timeout is not None and time.monotonic() - waiting[0] >= idle_timeout:
                    break
                continue
            waiting[0] = time.monotonic()
            highs = {}
            for tp in {(m.topic(), m.partition()) for m in messages}:  # from the last fetch: no round trip
                high = consumer.get_watermark_offsets(TopicPartition(*tp), cached=True)[1]
                highs[tp] = high if high >= 0 else None
            try:
                _write(ctx, spec, group, messages, position, report, highs)
            except Conflict:
                report.conflicts += 1
                for p in seek_stored(consumer.assignment()):  # read on from the stored place
                    consumer.seek(p)
                continue
            report.batches += 1
            consumer.commit(asynchronous=True)  # Kafka's view of the lag; the store's offsets are the ones used
    finally:
        report.seconds = time.monotonic() - started
        consumer.close()
    return report


def _write(ctx: "StoreContext", spec: StreamSpec, group: Any, messages: list[Any],
           position: dict[tables.Partition, int | None], report: StreamReport,
           highs: dict[tables.Partition, int | None]) -> None:
    """One batch: its rows and its new offsets in one transaction (``writes.ingest``'s)."""
    moves: dict[tables.Partition, tuple[int | None, int]] = {}
    for m in messages:
        tp = (m.topic(), m.partition())
        moves[tp] = (position[tp], max(moves.get(tp, (None, 0))[1], m.offset() + 1))
    where = [f"{m.topic()}/{m.partition()}@{m.offset()}" for m in messages]
    table, rows, undecodable = _decode(spec, group, messages, where)
    source = f"kafka:{','.join(spec.topics)}"
    counts: dict[str, int] = {}

    def on_commit(conn: Any, ingest_report: Any) -> None:
        now = now_us()
        if undecodable:
            quality_tables.quarantine(conn, spec.group, now, source, undecodable)
        tables.advance(conn, spec.name, moves, now, highs)
        written, rejected = ingest_report.rows_written, ingest_report.rows_rejected + len(undecodable)
        tables.counted(conn, spec.name, len(messages), written, rejected, now)
        ctx.policy.logged(conn, "consume", {"stream": spec.name, "messages": len(messages), "records": written,
                                            "rejected": rejected})
        counts.update(written=written, rejected=rejected)

    try:
        writes.ingest(ctx, spec.group, table, on_error="skip", source=source, _on_commit=on_commit, _positions=rows)
    except IngestRejected as exc:  # a batch rule refused the batch: its messages are kept, the stream goes on
        with ctx.db.write() as conn:
            now = now_us()
            kept = [(w, "batch", str(exc).splitlines()[0], r) for w, r in zip(rows, table.to_pylist())]
            quality_tables.quarantine(conn, spec.group, now, source, kept + undecodable)
            tables.advance(conn, spec.name, moves, now, highs)
            tables.counted(conn, spec.name, len(messages), 0, len(kept) + len(undecodable), now, str(exc))
        counts.update(written=0, rejected=len(messages))
    for tp, (_, new) in moves.items():
        position[tp] = new
    report.messages += len(messages)
    report.rows_written += counts["written"]
    report.rows_rejected += counts["rejected"]


def _decode(spec: StreamSpec, group: Any, messages: list[Any], where: list[str]
            ) -> tuple["pa.Table", list[str], list[tuple[str, str, str, dict[str, Any]]]]:
    """The batch as a table of the group's features (Arrow reads the JSON), where each of its
    rows came from, and the messages that are no JSON object, as quarantine rows."""
    import pyarrow as pa
    import pyarrow.json as pj

    values = [m.value() or b"" for m in messages]
    keep = list(range(len(messages)))
    undecodable: list[tuple[str, str, str, dict[str, Any]]] = []
    try:
        table = pj.read_json(io.BytesIO(b"\n".join(values)), read_options=pj.ReadOptions(block_size=1 << 26))
        if table.num_rows != len(values):
            raise ValueError("a message spans lines")
    except (pa.ArrowInvalid, ValueError):  # the error path: find the messages that are not JSON objects
        keep = []
        for i, value in enumerate(values):
            try:
                if not isinstance(json.loads(value), dict) or b"\n" in value.strip():
                    raise ValueError("not a JSON object on one line")
                keep.append(i)
            except ValueError as exc:
                text = value.decode("utf-8", "replace")
                undecodable.append((where[i], "decode", f"not a JSON object: {str(exc).splitlines()[0]}",
                                    {"value": text[:2000]}))
        table = _columns([json.loads(values[i]) for i in keep])
    columns: dict[str, Any] = {}
    for feature in group.feature_names:
        source = spec.fields.get(feature, feature)
        if feature == spec.key:
            columns[feature] = pa.array([None if messages[i].key() is None else
                                         messages[i].key().decode("utf-8", "replace") for i in keep], pa.string())
        elif source in table.column_names:
            columns[feature] = table.column(source)
    if spec.time_unit is not None and group.event_time in columns:
        columns[group.event_time] = _epoch(columns[group.event_time], spec.time_unit)
    table = pa.table(columns) if columns else pa.table({group.event_time: pa.nulls(len(keep), pa.string())})
    return table, [where[i] for i in keep], undecodable


def _columns(objects: list[dict[str, Any]]) -> "pa.Table":
    """JSON objects as columns, for a batch Arrow could not read at once: a field whose values
    differ in type (1.5 in one message, "lots" in the next) is read as text, which the ingest
    checks against the feature's type row by row, as it checks a file's text."""
    import pyarrow as pa

    names = list(dict.fromkeys(name for o in objects for name in o))
    columns = {}
    for name in names:
        values = [o.get(name) for o in objects]
        try:
            columns[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            columns[name] = pa.array([v if v is None or isinstance(v, str) else json.dumps(v) for v in values],
                                     pa.string())
    return pa.table(columns) if columns else pa.table({"_": pa.nulls(len(objects))}).drop(["_"])


def _epoch(values: Any, unit: str) -> Any:
    """Epoch numbers in ``unit`` as UTC timestamps (text is left to the ingest's own reading)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
        return values
    scale = TIME_UNITS[unit]
    micros = pc.divide(pc.cast(values, pa.float64()), 1000) if scale is None else pc.multiply(values, scale)
    if pa.types.is_floating(micros.type):
        micros = pc.floor(micros)  # whole microseconds, as the store keeps them
    return pc.cast(pc.cast(micros, pa.int64()), pa.timestamp("us", tz="UTC"))
