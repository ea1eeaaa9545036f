"""Streams: every Kafka stream the store consumes (messages, rows written and quarantined, rate,
lag, last batch, last error, the stored offset of each partition), and a consumer started from
the studio: it runs ``fs.consume`` in a thread of the studio's process until Stop (the batch in
hand is finished first), so it runs only while the studio does; ``featurestore stream run`` is
the way to run one in production."""
from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pandas as pd
import streamlit as st

from app.ui.consumers import Consumer, lock, ours, parse_fields, registry, run
from app.ui.errors import engine_errors
from app.ui.formats import ago, escape_markdown, timestamp
from app.ui.session import flash, show_flash, store
from store import FeatureStore

TIME_UNITS = {None: "Text (ISO-8601)", "s": "Epoch seconds", "ms": "Epoch milliseconds",
              "us": "Epoch microseconds", "ns": "Epoch nanoseconds"}
FORM = "stream_form"  # the start form's widget keys start with this
EARLY_SECONDS = 1.0  # how long Start waits for a refusal (access, an unknown group, a bad setting)


def start_form(fs: FeatureStore) -> None:
    groups = fs.list_feature_groups()
    if not groups:
        st.info("The store has no feature groups yet: create one to consume into.", icon=":material/info:")
        return
    names = [g.name for g in groups]
    cols = st.columns(2)
    wanted = st.query_params.get("group")
    target = cols[0].selectbox("Target feature group", names, key=f"{FORM}_group",
                               index=names.index(wanted) if wanted in names else 0)
    group = groups[names.index(target)]
    name = cols[1].text_input("Stream name", key=f"{FORM}_name", placeholder=f"{target} (the group's name)",
                              help="The store keeps the stream's offsets under this name; a consumer started again "
                                   "under it goes on from them")
    cols = st.columns(2)
    topics = cols[0].text_input("Topics", key=f"{FORM}_topics", placeholder="transactions",
                                help="One or more Kafka topics, comma-separated")
    servers = cols[1].text_input("Bootstrap servers", key=f"{FORM}_servers", placeholder="localhost:9092",
                                 help="host:port[,host:port...]")
    cols = st.columns(4)
    key = cols[0].selectbox("Key feature (optional)", [None, *group.feature_names], key=f"{FORM}_key_{target}",
                            format_func=lambda f: "none" if f is None else f,
                            help="The feature filled from the message key (as text), e.g. the record identifier")
    unit = cols[1].selectbox("Event time in messages", list(TIME_UNITS), format_func=TIME_UNITS.get,
                             key=f"{FORM}_unit")
    batch = cols[2].number_input("Batch size", 1, 100_000, 10_000, key=f"{FORM}_batch",
                                 help="Messages per write at most")
    latency = cols[3].number_input("Max latency (s)", 0.1, 60.0, 1.0, step=0.5, key=f"{FORM}_latency",
                                   help="Seconds a batch waits to fill before it is written")
    mapping = st.text_area("Field mapping (optional)", key=f"{FORM}_fields", height=90,
                           placeholder="amount=amount_usd\nevent_time=ts",
                           help="One FEATURE=FIELD a line, for features whose message field has another name; "
                                "the rest are read from the field of their own name")
    if not st.button("Start consumer", type="primary", icon=":material/play_arrow:", key=f"{FORM}_start"):
        return
    problems = []
    topic_list = [t.strip() for t in topics.split(",") if t.strip()]
    if not topic_list:
        problems.append("Topics: name at least one Kafka topic (comma-separated).")
    if not servers.strip():
        problems.append("Bootstrap servers: give the brokers as host:port[,host:port...].")
    try:
        fields = parse_fields(mapping)
    except ValueError as exc:
        problems.append(str(exc))
        fields = {}
    unknown = [f for f in fields if f not in group.feature_names]
    if unknown:
        problems.append(f"Field mapping: {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not a feature "
                        f"of {target} (its features: {', '.join(group.feature_names)}).")
    if problems:
        for problem in problems:
            st.error(escape_markdown(problem), icon=":material/error:")
        return
    stream = name.strip() or target
    with lock():
        running = registry().get((fs.path, stream))
        if running is not None and running.running:
            st.error(f"A consumer of stream **{escape_markdown(stream)}** already runs in this studio: stop it "
                     "first, or give this one another stream name.", icon=":material/error:")
            return
        consumer = Consumer(stream, target, topic_list, servers.strip(), dt.datetime.now(dt.timezone.utc))
        options = {"name": name.strip(), "fields": fields, "key": key, "time_unit": unit, "batch_size": int(batch),
                   "max_latency": float(latency)}
        consumer.thread = threading.Thread(target=run, args=(fs, consumer, options), daemon=True,
                                           name=f"stream-{stream}")
        consumer.thread.start()
        consumer.thread.join(EARLY_SECONDS)  # a refusal (access, a bad setting) comes at once
        if consumer.running:
            registry()[(fs.path, stream)] = consumer
    if consumer.error is not None:
        st.error(f"The consumer did not start: {escape_markdown(consumer.error)}", icon=":material/error:")
        return
    flash(f"Started consumer {stream}: {', '.join(topic_list)} into {target}")
    st.rerun()


def in_this_studio(fs: FeatureStore, consumers: list[Consumer]) -> None:
    """The consumers this studio runs: since when, Stop; how one ended, and why one died."""
    for c in consumers:
        since = c.since.strftime("%Y-%m-%d %H:%M:%S UTC")
        with st.container(border=True):
            cols = st.columns([5, 1])
            what = (f"**{escape_markdown(c.stream)}**: {escape_markdown(', '.join(c.topics))} from "
                    f"`{c.bootstrap_servers}` into **{escape_markdown(c.group)}**")
            if c.running and c.stop.is_set():
                cols[0].markdown(f":material/hourglass_top: {what}, stopping after the batch in hand")
            elif c.running:
                cols[0].markdown(f":material/sync: {what}, running in this studio (since {since})")
                if fs.can("editor", c.group) and cols[1].button("Stop", icon=":material/stop_circle:",
                                                                 key=f"stream_stop_{c.stream}"):
                    c.stop.set()
                    c.thread.join(5.0)  # the batch in hand is written first
                    flash(f"Stopped consumer {c.stream}" if not c.running else
                          f"Stopping consumer {c.stream} after the batch in hand")
                    st.rerun()
            elif c.error is not None:
                cols[0].markdown(f":material/error: {what}, started {since}")
                st.error(f"The consumer stopped: {escape_markdown(c.error)}", icon=":material/error:")
            else:
                cols[0].markdown(f":material/stop_circle: {what}: stopped ({escape_markdown(c.summary or '')})")
            if not c.running and cols[1].button("Dismiss", icon=":material/close:", key=f"stream_dismiss_{c.stream}"):
                registry().pop((fs.path, c.stream), None)
                st.rerun()


def _offsets(s: dict[str, Any]) -> str:
    lag = s.get("lag") or {}
    return ", ".join(f"{p} @ {o:,}" + (f" (lag {lag[p]:,})" if lag.get(p) is not None else "")
                     for p, o in s["offsets"].items()) or "—"


def one_line(error: str) -> str:
    """An error as one line: a traceback's last line (the exception), else its lines joined."""
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    text = lines[-1] if lines and lines[0].startswith("Traceback") else " ".join(lines)
    return text if len(text) <= 500 else text[:499] + "…"


def status_table(streams: list[dict[str, Any]], here: set[str]) -> None:
    has_rate = any(s.get("rate") is not None for s in streams)
    has_lag = any(s.get("lag") for s in streams)
    rows = []
    for s in streams:
        row = {"stream": s["stream"], "group": s["group"], "in this studio": "running" if s["stream"] in here else "",
               "messages": s["messages"], "rows written": s["rows_written"], "quarantined": s["rows_rejected"]}
        if has_rate:
            row["rate (msg/s)"] = s.get("rate")
        if has_lag:
            known = [v for v in (s.get("lag") or {}).values() if v is not None]
            row["lag"] = sum(known) if known else None
        row.update({"last batch": timestamp(s["updated_us"]), "stored offsets": _offsets(s),
                    "last error": one_line(s["last_error"] or "")})
        rows.append(row)
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="streams_table", column_config={
        **{c: st.column_config.NumberColumn(format="localized") for c in ("messages", "rows written", "quarantined",
                                                                          "lag")},
        "rate (msg/s)": st.column_config.NumberColumn(format="%.1f"),
        "last batch": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
        "stored offsets": st.column_config.TextColumn(width="large",
                                                      help="topic/partition @ the next offset a restarted consumer "
                                                           "reads"),
        "last error": st.column_config.TextColumn(width="medium")})
    for s in streams:
        if s["last_error"]:
            st.error(f"**{escape_markdown(s['stream'])}** (last batch {ago(s['updated_us'])}): "
                     f"{escape_markdown(one_line(s['last_error']))}", icon=":material/error:")


def live(fs: FeatureStore) -> None:
    """What changes while a consumer runs: redrawn every 2 seconds while this studio runs one."""
    consumers = ours(fs)
    if consumers:
        st.subheader("Consumers in this studio")
        in_this_studio(fs, consumers)
    with engine_errors():
        streams = fs.stream_status()
        st.subheader("Every stream of this store")
        if not streams:
            st.info("No streams yet: start a consumer below, or run `featurestore stream run GROUP --topic T "
                    "--bootstrap-servers HOST:PORT`.", icon=":material/info:")
            return
        status_table(streams, {c.stream for c in consumers if c.running})


fs = store()
show_flash()
st.title("Streams")
st.caption(":material/info: A consumer started here runs in the studio's process, only while the studio runs. "
           "In production run `featurestore stream run GROUP --topic T --bootstrap-servers HOST:PORT` as a "
           "service: it goes on from the offsets the store keeps, so nothing is read twice.")
running = any(c.running for c in ours(fs))
st.fragment(live, run_every=2.0 if running else None)(fs)
if fs.can("editor"):
    with st.expander("Start a consumer", icon=":material/play_circle:", expanded=not running):
        start_form(fs)
else:
    st.caption(":material/lock: Starting a consumer needs the editor role on its feature group.")
