"""``featurestore stream run | status``: Kafka topics into a group exactly once, and where each
stream stands (``FeatureStore.consume``, ``FeatureStore.stream_status``)."""
from __future__ import annotations

import click

from .kit import FriendlyGroup, echo_json, open_store


@click.group("stream", cls=FriendlyGroup)
def stream() -> None:
    """Streams: Kafka topics consumed into feature groups, each message exactly once."""


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for value in values:
        name, sep, given = value.partition("=")
        if not sep or not name or not given:
            raise click.BadParameter(f"{value!r}: give {what} as NAME=VALUE", param_hint=f"--{what}")
        out[name] = given
    return out


@stream.command("run")
@click.argument("group")
@click.option("--topic", "topics", multiple=True, required=True, help="A topic to read (repeat for several).")
@click.option("--bootstrap-servers", required=True, metavar="HOST:PORT[,...]", help="The Kafka brokers.")
@click.option("--name", default="", help="The stream's name, whose offsets the store keeps (default: the group's).")
@click.option("--consumer-group", default="", help="Kafka's group.id (default: featurestore-NAME).")
@click.option("--field", "fields", multiple=True, metavar="FEATURE=FIELD",
              help="Read FEATURE from message field FIELD (default: the field of its own name).")
@click.option("--key", default=None, metavar="FEATURE", help="Fill FEATURE from the message key (text).")
@click.option("--time-unit", type=click.Choice(["s", "ms", "us", "ns"]), default=None,
              help="The unit of an event time given as an epoch number (text is read as ISO-8601).")
@click.option("--batch-size", type=int, default=10_000, show_default=True, help="Messages per write at most.")
@click.option("--max-latency", type=float, default=1.0, show_default=True,
              help="Seconds a batch waits to fill before it is written.")
@click.option("--config", "config", multiple=True, metavar="SETTING=VALUE",
              help="A librdkafka setting (security.protocol=SASL_SSL, ...); repeat for several.")
@click.option("--idle-timeout", type=float, default=None, help="Stop after this many seconds with no message.")
@click.option("--max-messages", type=int, default=None, help="Stop after this many messages.")
@click.pass_context
def run(ctx: click.Context, group: str, topics: tuple[str, ...], bootstrap_servers: str, name: str,
        consumer_group: str, fields: tuple[str, ...], key: str | None, time_unit: str | None, batch_size: int,
        max_latency: float, config: tuple[str, ...], idle_timeout: float | None, max_messages: int | None) -> None:
    """Consume TOPICs into GROUP until stopped (SIGTERM or Ctrl-C ends the batch in hand, then
    stops); a restart goes on from the offsets the store kept, so nothing is read twice."""
    import signal
    import threading

    fs = open_store(ctx)
    stop = threading.Event()
    before = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    click.echo(f"Consuming {', '.join(topics)} from {bootstrap_servers} into {group!r} (stop with Ctrl-C)")
    try:
        report = fs.consume(group, topics, bootstrap_servers, name=name, consumer_group=consumer_group,
                            fields=_pairs(fields, "field"), key=key, time_unit=time_unit, batch_size=batch_size,
                            max_latency=max_latency, config=_pairs(config, "config"), idle_timeout=idle_timeout,
                            max_messages=max_messages, stop=stop.is_set)
    finally:  # the handlers the process had (a caller running the command in process keeps its own)
        for sig, handler in before.items():
            signal.signal(sig, handler)
    click.echo(report.summary())


@stream.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Every stream: messages, rows written and quarantined, its last run's rate, last error,
    and per partition the stored offset (where a restarted consumer goes on from) and the lag
    behind the partition's end as the consumer last saw it."""
    from ..common.timeutil import us_to_iso

    found = open_store(ctx).stream_status()
    if as_json:
        echo_json(found)
        return
    if not found:
        click.echo("No streams yet: start one with featurestore stream run GROUP --topic T --bootstrap-servers H:P")
    for s in found:
        offsets = ", ".join(f"{p}={o:,} (lag {'?' if s['lag'][p] is None else format(s['lag'][p], ',')})"
                            for p, o in s["offsets"].items()) or "-"
        rate = "-" if s["rate"] is None else f"{s['rate']:,.0f}/s"
        error = f"\tlast error: {s['last_error']}" if s["last_error"] else ""
        click.echo(f"{s['stream']}\t-> {s['group']}\t{s['messages']:,} messages, {s['rows_written']:,} rows written, "
                   f"{s['rows_rejected']:,} quarantined\trate {rate}\tlast batch {us_to_iso(s['updated_us'])}\t"
                   f"offsets: {offsets}{error}")
