"""Benchmark step for the online store backends (section 10): get_record, batch_get_records(100)
and put_record on the SQLite, Redis and PostgreSQL backends, and with the whole store's tables on
PostgreSQL (``pg_registry``: online rows in the registry's schema), each against a bare call doing
the same lookup on the same data, call by call in turn: sqlite3 (SELECT; IN (...)), redis-py (one
HMGET; a pipeline of 100 HMGETs), psycopg (a prepared SELECT; = ANY(...))."""
from __future__ import annotations

import os
import random
import shutil
import sys
import time
from types import ModuleType
from typing import Any, Callable

from .common import BATCH, REPO_ROOT, Size, input_path, work_dir


def online_backends(size: Size, base: ModuleType) -> dict:
    import pandas as pd

    from store import FeatureStore

    sys.path.insert(0, os.path.join(REPO_ROOT, "tests"))
    from servers.postgres import PostgresServer
    from servers.redis import RedisServer

    frame = pd.read_parquet(input_path(base.SIZE_NAME, base.DRIVERS))
    ids = sorted(frame["driver_id"].unique().tolist())
    rng = random.Random(7)
    gets = [rng.choice(ids) for _ in range(size.get_ids)]
    batches = [rng.sample(ids, BATCH) for _ in range(size.batches)]
    puts = base._put_inputs(size)[:5000]
    root = os.path.join(work_dir(base.SIZE_NAME), "online-backends")
    out: dict[str, dict] = {}
    with RedisServer() as server, PostgresServer() as pg_server:
        for backend, url, registry in (("sqlite", None, None), ("redis", server.url, None),
                                       ("postgresql", pg_server.url, None), ("pg_registry", None, pg_server.url)):
            shutil.rmtree(root, ignore_errors=True)
            with FeatureStore(root, online=url, registry=registry) as fs:
                rid, feats = base.GROUPS[base.DRIVERS]
                fs.create_feature_group(base.DRIVERS, rid, "event_time", feats())
                fs.ingest(base.DRIVERS, frame)
                g = fs.feature_group(base.DRIVERS)
                bare_get, bare_batch = _bare(fs, g, url or registry)
                engine_ns, raw_ns = _turn_about(gets, lambda r: fs.get_record(base.DRIVERS, r), bare_get)
                batch_engine, batch_raw = _turn_about(batches, lambda rs: fs.batch_get_records(base.DRIVERS, rs),
                                                      bare_batch)
                started = time.perf_counter()
                for rec in puts:
                    fs.put_record(base.DRIVERS, rec)
                put_s = time.perf_counter() - started
            out[backend] = {"get": base.latency_summary(engine_ns), "get_raw": base.latency_summary(raw_ns),
                            "batch": base.latency_summary(batch_engine), "batch_raw": base.latency_summary(batch_raw),
                            "puts_per_s": round(len(puts) / put_s)}
    shutil.rmtree(root, ignore_errors=True)
    return {"records": len(ids), "gets": len(gets), "batches": len(batches), "puts": len(puts), **out}


def _turn_about(inputs: list, engine: Callable[[Any], Any], bare: Callable[[Any], Any]) -> tuple[list[int], list[int]]:
    """Nanoseconds of the engine's call and the bare one, input by input in turn."""
    engine_ns, bare_ns = [], []
    for value in inputs:
        t0 = time.perf_counter_ns()
        engine(value)
        t1 = time.perf_counter_ns()
        bare(value)
        engine_ns.append(t1 - t0)
        bare_ns.append(time.perf_counter_ns() - t1)
    return engine_ns, bare_ns


def _bare(fs, group, url):
    """The same lookups by hand: SQLite on its own connection, redis-py on the backend's keys, or
    psycopg on one connection to the backend's table."""
    if url is None:
        import sqlite3

        conn = sqlite3.connect(os.path.join(fs.path, "featurestore.db"))
        table, rid = f'"online:{group.name}"', f'"{group.record_identifier}"'
        one = f"SELECT * FROM {table} WHERE {rid} = ?"
        many = f"SELECT * FROM {table} WHERE {rid} IN ({', '.join('?' * BATCH)})"
        return (lambda r: conn.execute(one, (r,)).fetchone()), (lambda rs: conn.execute(many, rs).fetchall())
    if url.startswith("postgresql"):
        import psycopg

        pg = psycopg.connect(url, autocommit=True)
        rid = f'"{group.record_identifier}"'
        if fs.online_location == fs.registry_location:  # the registry's own online table
            table = f'"{fs._ctx.db.schema}"."online:{group.name}"'
        else:
            table = fs._ctx.online._table(group)
        one = f"SELECT * FROM {table} WHERE {rid} = %s"
        many = f"SELECT * FROM {table} WHERE {rid} = ANY(%s)"
        return ((lambda r: pg.execute(one, (r,), prepare=True).fetchone()),
                (lambda rs: pg.execute(many, (rs,), prepare=True).fetchall()))
    import redis

    client = redis.Redis.from_url(url, decode_responses=True)
    prefix = f"{fs._ctx.online.prefix}{group.name}:r:"

    def get(r):
        return client.hmget(prefix + str(r), "x", "d", "v")

    def batch(rs):
        pipe = client.pipeline(transaction=False)
        for r in rs:
            pipe.hmget(prefix + str(r), "x", "d", "v")
        return pipe.execute()

    return get, batch
