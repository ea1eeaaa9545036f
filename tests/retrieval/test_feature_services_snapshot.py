"""A feature service's online vector is one consistent snapshot of every group it reads, on every
online backend (the store's own database, Redis, a PostgreSQL online database of its own), read in
one batch for all entity rows (spec: semantics.md, "Feature services").

The store: three groups about bank accounts (``balances``, ``limits``, ``scores``), each keyed by
``account_id``, each holding a ``revision``. A writer moves every account to the next revision in
``balances``, then ``limits``, then ``scores``, each write committed before the next begins, so at
every moment balances >= limits >= scores >= balances - 1. A vector read group after group at
different moments could show ``scores`` ahead of ``balances``; a snapshot never does."""
from __future__ import annotations

import re
import threading
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest

from store import Feature, FeatureStore

pytestmark = [pytest.mark.online]

GROUPS = ("balances", "limits", "scores")
ACCOUNTS = list(range(100, 140))
T0 = pd.Timestamp("2026-11-01T00:00:00Z")


def define(fs) -> None:
    for name in GROUPS:
        fs.create_feature_group(name, "account_id", "ts", [
            Feature("account_id", "Integral"), Feature("ts"), Feature("revision", "Integral"),
            Feature("branch")])
    fs.create_feature_service("risk", list(GROUPS), description="Account risk")


def write(fs, group: str, revision: int, accounts: list[int] = ACCOUNTS) -> None:
    ts = (T0 + pd.Timedelta(seconds=revision)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    fs.ingest(group, pd.DataFrame({"account_id": accounts, "ts": ts, "revision": revision,
                                   "branch": [f"b{a % 7}" for a in accounts]}))


def revisions(vector: pd.DataFrame) -> list[tuple[int, int, int]]:
    return [tuple(int(r[f"{g}__revision"]) for g in GROUPS) for _, r in vector.iterrows()]


def slowed(many):
    def slow(self, ids, now):  # a slow link: a vector read group after group would span the writer's steps
        time.sleep(0.02)
        return many(self, ids, now)
    return slow


def test_the_vector_never_mixes_moments_while_a_writer_moves_three_groups(fs, monkeypatch):
    from store.online import base, sqlite

    monkeypatch.setattr(base.Reader, "many", slowed(base.Reader.many))
    monkeypatch.setattr(sqlite.DatabaseReader, "many", slowed(sqlite.DatabaseReader.many))
    define(fs)
    for group in GROUPS:
        write(fs, group, 1)
    rows = [{"account_id": a} for a in ACCOUNTS]
    done, failures = threading.Event(), []

    def writer() -> None:
        try:
            for revision in range(2, 40):
                for group in GROUPS:
                    write(fs, group, revision)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            failures.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    seen = []
    try:
        while not done.is_set():
            vector = fs.get_online_features("risk", rows)
            assert (vector[[f"{g}__revision__status" for g in GROUPS]] == "present").all().all()
            got = revisions(vector)
            assert len(set(got)) == 1, f"the groups' records moved during one read: {sorted(set(got))}"
            balances, limits, scores = got[0]
            assert balances >= limits >= scores >= balances - 1, got[0]
            seen.append(got[0])
    finally:
        thread.join()
    assert not failures, failures
    assert len({s[0] for s in seen}) >= 5, f"the reads should see the writer at work: {seen}"
    assert revisions(fs.get_online_features("risk", rows))[0] == (39, 39, 39)


def test_rows_stored_under_an_earlier_definition_read_into_the_current_one(fs, monkeypatch):
    """The snapshot read translates Redis records written under an earlier definition version, and
    reconciles a PostgreSQL table behind its group's definition (its change still in the outbox)."""
    define(fs)
    for group in GROUPS:
        write(fs, group, 3, ACCOUNTS[:5])
    fs.update_feature_service("risk", features=["balances", "scores"])  # the service lets limits change
    ctx = fs._ctx
    monkeypatch.setattr(ctx.online, "after_commit", lambda: None)
    fs.change_features("limits", rename={"revision": "limit_revision"}, drop=["branch"])
    pending = getattr(ctx.online, "_local", None)
    if pending is not None:
        pending.pending = []  # the process that recorded the change is gone: the tables lag behind
    monkeypatch.undo()
    fs.update_feature_service("risk", features=["balances", "limits", "scores"])
    vector = fs.get_online_features("risk", [{"account_id": a} for a in [*ACCOUNTS[:5], 999]])
    assert vector["limit_revision"].tolist()[:5] == [3] * 5 and pd.isna(vector["limit_revision"].tolist()[5])
    assert vector["limit_revision__status"].tolist() == ["present"] * 5 + ["not_found"]
    assert vector["balances__revision"].tolist()[:5] == [3] * 5
    assert fs.get_record("limits", ACCOUNTS[0])["limit_revision"] == 3


def test_expired_records_read_in_the_snapshot_are_outside_ttl(fs, online_kind):
    fs.create_feature_group("cards", "account_id", "ts", [Feature("account_id", "Integral"), Feature("ts"),
                                                           Feature("declines", "Integral")], ttl=3600)
    define(fs)
    now = pd.Timestamp.now(tz="UTC")
    fs.ingest("cards", pd.DataFrame({"account_id": [100, 101], "declines": [4, 9],
                                     "ts": [(now - pd.Timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ")
                                            for h in (2, 0)]}))
    write(fs, "balances", 5, [100, 101])
    fs.create_feature_service("cards_risk", ["cards:declines", "balances:revision"])
    vector = fs.get_online_features("cards_risk", [{"account_id": 100}, {"account_id": 101}, {"account_id": 102}])
    expired = "not_found" if online_kind == "redis" else "outside_ttl"  # Redis drops the record itself
    assert vector["declines__status"].tolist() == [expired, "present", "not_found"]
    assert vector["declines"].tolist()[1] == 9 and pd.isna(vector["declines"].tolist()[0])
    assert vector["revision__status"].tolist() == ["present", "present", "not_found"]


# -- how each backend makes the snapshot -----------------------------------------------------------

def _commands(client) -> dict[str, int]:
    return {name: stats["calls"] for name, stats in client.info("commandstats").items()}


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    moved = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    moved.pop("cmdstat_info", None)
    return moved


def test_redis_reads_every_group_with_one_script_call(tmp_path, redis_server):
    import redis

    fs = FeatureStore(tmp_path / "store", online=redis_server.url)
    define(fs)
    for group in GROUPS:
        write(fs, group, 7)
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    rows = [{"account_id": a} for a in range(1, 3001)]  # 3,000 entity rows: still one call
    client.script_flush()  # as after a server restart: the first call runs EVAL, which loads the script
    before = _commands(client)
    vector = fs.get_online_features("risk", rows)
    reads = {"cmdstat_hmget": len(GROUPS) * len(rows)}  # the script's own, counted by Redis too
    assert _delta(before, _commands(client)) == {"cmdstat_evalsha": 1, "cmdstat_eval": 1, **reads}  # NOSCRIPT, EVAL
    assert (vector["balances__revision__status"] == "present").sum() == len(ACCOUNTS)
    for _ in range(3):
        before = _commands(client)
        again = fs.get_online_features("risk", rows)
        assert _delta(before, _commands(client)) == {"cmdstat_evalsha": 1, **reads}
        pd.testing.assert_frame_equal(again, vector)
    fs.close()
    client.close()


def test_postgresql_reads_every_group_in_one_repeatable_read_transaction(tmp_path, postgres_server):
    """Checked in the server's own statement log: a database of the test's own logs every statement."""
    import psycopg

    database = f"snap_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server.url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {database}")
        admin.execute(f"ALTER DATABASE {database} SET log_statement = 'all'")
    url = postgres_server.url.rsplit("/", 1)[0] + f"/{database}"
    fs = FeatureStore(tmp_path / "store", online=url)
    define(fs)
    for group in GROUPS:
        write(fs, group, 7)
    rows = [{"account_id": a} for a in range(1, 3001)]
    log = Path(postgres_server.folder) / "log"
    for _ in range(2):  # the second call reads prepared statements
        start = log.stat().st_size
        vector = fs.get_online_features("risk", rows)
        with log.open(encoding="utf-8", errors="replace") as f:
            f.seek(start)
            logged = [m.groups() for m in re.finditer(r"\[(\d+)\] LOG:  (?:statement|execute [^:]*): (.*)", f.read())]
        assert len({pid for pid, _ in logged}) == 1, logged  # one connection
        statements = [text.split(" FROM ")[0] if text.startswith("SELECT") else text for _, text in logged]
        assert statements[:2] == ["BEGIN", "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"], logged
        assert statements[-1] == "COMMIT" and len(statements) == 2 + len(GROUPS) + 1, logged
        tables = sorted(re.search(r'"online:(\w+):', text).group(1) for _, text in logged[2:-1])
        assert tables == sorted(GROUPS)
        assert (vector["scores__revision__status"] == "present").sum() == len(ACCOUNTS)
    fs.close()
