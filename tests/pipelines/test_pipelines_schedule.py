"""Pipelines under a scheduler and in trouble: cron fire times with one catch-up run after
downtime, on_change triggers, retries, one scheduler per store, SIGTERM; a run killed midway
(SIGKILL) writes nothing and moves nothing; concurrent runs of one pipeline never interleave."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from store import Conflict, FeatureStore
from store.pipelines.schedule import due, latest_fire, next_fire
from store.common.timeutil import iso_z_to_us, now_us

from conftest import scheduler_of
from test_pipelines import DAILY, DAILY_SQL, TX, transactions

pytestmark = pytest.mark.registry  # every test on `fs` runs with the store's tables in SQLite and in PostgreSQL

MINUTE = 60_000_000


@pytest.fixture
def shop(fs):
    fs.create_feature_group("tx", "tid", "ts", TX)
    fs.create_feature_group("daily", "cid", "ts", DAILY)
    fs.ingest("tx", transactions(500))
    return fs


def test_cron_fire_times_are_utc():
    at = iso_z_to_us("2026-12-01T22:59:59Z")
    assert next_fire("0 23 * * *", at) == iso_z_to_us("2026-12-01T23:00:00Z")
    assert next_fire("0 23 * * *", iso_z_to_us("2026-12-01T23:00:00Z")) == iso_z_to_us("2026-12-02T23:00:00Z")
    assert latest_fire("0 23 * * *", iso_z_to_us("2026-12-03T10:00:00Z")) == iso_z_to_us("2026-12-02T23:00:00Z")
    assert latest_fire("0 23 * * *", iso_z_to_us("2026-12-02T23:00:00Z")) == iso_z_to_us("2026-12-02T23:00:00Z")


def test_after_downtime_a_pipeline_catches_up_once_not_once_per_missed_time(shop):
    fs = shop
    fs.create_pipeline("every5", "daily", sql=DAILY_SQL, inputs=["tx"], lookback="1d", schedule="*/5 * * * *")
    created = iso_z_to_us(fs.pipeline("every5")["created"])
    clock = [created + 60 * MINUTE]  # an hour later: twelve fire times missed
    scheduler = scheduler_of(fs, clock=lambda: clock[0])
    runs = scheduler.run_due()
    assert [(r["trigger"], r["status"]) for r in runs] == [("catch_up", "succeeded")]
    assert scheduler.run_due() == []  # nothing more until the next fire time
    clock[0] = next_fire("*/5 * * * *", clock[0])
    fs.ingest("tx", transactions(10, 500))
    assert [(r["trigger"], r["rows_in"] > 0) for r in scheduler.run_due()] == [("schedule", True)]
    fs.pause_pipeline("every5")
    clock[0] += 30 * MINUTE
    assert scheduler.run_due() == []
    fs.resume_pipeline("every5")  # fire times missed while paused are not made up
    assert due(fs._ctx, now_us()) == []


def test_on_change_runs_when_an_input_gets_writes(shop):
    fs = shop
    fs.create_pipeline("eager", "daily", sql=DAILY_SQL, inputs=["tx"], lookback="1d", trigger="on_change")
    scheduler = scheduler_of(fs)
    assert [r["trigger"] for r in scheduler.run_due()] == ["on_change"]
    assert scheduler.run_due() == []
    fs.put_record("tx", {"tid": "NEW", "cid": 1, "amount": 5.0, "ts": "2026-10-05T00:00:00Z"})
    assert [(r["trigger"], r["rows_in"] > 0) for r in scheduler.run_due()] == [("on_change", True)]


def test_failed_scheduled_runs_are_retried_per_policy_then_left_for_the_next_fire_time(shop):
    fs = shop
    fs.create_pipeline("flaky", "daily", sql="SELECT nope FROM tx", inputs=["tx"], schedule="* * * * *",
                       retries=1, retry_delay="10m")
    clock = [next_fire("* * * * *", now_us())]  # within a minute of the run's own (wall-clock) times
    scheduler = scheduler_of(fs, clock=lambda: clock[0])
    assert [(r["trigger"], r["status"], r["attempt"]) for r in scheduler.run_due()] == [("schedule", "failed", 1)]
    assert scheduler.run_due() == []  # the retry delay has not passed, and fire times wait for the retry
    clock[0] += 11 * MINUTE
    assert [(r["trigger"], r["attempt"]) for r in scheduler.run_due()] == [("retry", 2)]
    clock[0] += 11 * MINUTE
    assert [(r["trigger"], r["attempt"]) for r in scheduler.run_due()] == [("catch_up", 1)]  # retries spent


def _function_module(folder, body: str) -> str:
    (folder / "slow_job.py").write_text(textwrap.dedent(body))
    return str(folder)


SLOW_JOB = """
    import os, time
    def compute(ctx):
        frame = ctx.sql("SELECT cid, count(*) AS n, sum(amount) AS total, max(ts) AS ts FROM tx GROUP BY cid")
        open(os.environ["STARTED_FLAG"], "w").close()
        time.sleep(float(os.environ.get("JOB_SECONDS", "30")))
        return frame
"""


def _run_in_child(store: str, name: str, env: dict[str, str]) -> subprocess.Popen:
    code = f"from store import FeatureStore; print(FeatureStore({store!r}).run_pipeline({name!r})['status'])"
    return subprocess.Popen([sys.executable, "-c", code], env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.slow
def test_a_run_killed_midway_writes_nothing_and_the_next_run_reads_the_same_rows(shop, tmp_path, monkeypatch):
    fs = shop
    folder = _function_module(tmp_path, SLOW_JOB)
    fs.create_pipeline("slow", "daily", function="slow_job:compute", inputs=["tx"])
    flag = tmp_path / "started"
    child = _run_in_child(fs.path, "slow", {"PYTHONPATH": folder, "STARTED_FLAG": str(flag)})
    _wait_for(flag)
    assert fs.pipeline("slow")["running"]
    with pytest.raises(Conflict, match="already running"):
        fs.run_pipeline("slow")
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    assert fs.as_of("daily").empty and fs.pipeline("slow")["watermark"] == {}
    monkeypatch.syspath_prepend(folder)
    monkeypatch.setenv("STARTED_FLAG", str(tmp_path / "again"))
    monkeypatch.setenv("JOB_SECONDS", "0")
    run = fs.run_pipeline("slow")
    assert run["status"] == "succeeded" and run["rows_in"] == 500
    killed = fs.pipeline_runs("slow").iloc[-1]
    assert killed["status"] == "failed" and "stopped before the run finished" in killed["error"]


@pytest.mark.slow
def test_concurrent_runs_of_one_pipeline_queue_and_never_interleave(shop, tmp_path, monkeypatch):
    fs = shop
    folder = _function_module(tmp_path, SLOW_JOB)
    fs.create_pipeline("slow", "daily", function="slow_job:compute", inputs=["tx"])
    flag = tmp_path / "started"
    child = _run_in_child(fs.path, "slow", {"PYTHONPATH": folder, "STARTED_FLAG": str(flag), "JOB_SECONDS": "2"})
    _wait_for(flag)
    fs.put_record("tx", {"tid": "NEW", "cid": 1, "amount": 5.0, "ts": "2026-10-05T00:00:00Z"})
    monkeypatch.syspath_prepend(folder)
    monkeypatch.setenv("STARTED_FLAG", str(tmp_path / "second"))
    monkeypatch.setenv("JOB_SECONDS", "0")
    waited = fs.run_pipeline("slow", wait=30)
    assert child.wait(30) == 0 and child.stdout.read().strip() == "succeeded"
    runs = fs.pipeline_runs("slow").sort_values("id")
    first, second = runs.iloc[0], runs.iloc[1]
    assert second["started"] >= first["finished"]  # the second began only once the first had committed
    assert (first["rows_in"], waited["rows_in"]) == (500, 1)


@pytest.mark.slow
def test_the_scheduler_process_fires_a_cron_pipeline_refuses_a_twin_and_stops_cleanly(shop, tmp_path):
    fs = shop
    fs.create_pipeline("often", "daily", sql=DAILY_SQL, inputs=["tx"], lookback="1d", schedule="* * * * * */2")
    cmd = [sys.executable, "-m", "store.cli", "--store", fs.path, "scheduler", "--tick", "0.2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while fs.pipeline_runs("often").empty:
            assert time.monotonic() < deadline and proc.poll() is None, "the scheduler ran nothing"
            time.sleep(0.2)
        twin = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert twin.returncode == 1 and "the scheduler is already running" in twin.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    runs = fs.pipeline_runs("often")
    assert set(runs["trigger"]) <= {"schedule", "catch_up"} and "running" not in set(runs["status"])
    assert runs["status"].iloc[-1] == "succeeded"
    stop = threading.Event()
    stop.set()
    fs.run_scheduler(stop=stop)  # the lock was released: a new scheduler starts (and stops at once)


def test_an_empty_incremental_run_costs_little(shop):
    fs = shop
    fs.create_pipeline("quick", "daily", sql=DAILY_SQL, inputs=["tx"], lookback="1d")
    fs.run_pipeline("quick")
    started = time.perf_counter()
    run = fs.run_pipeline("quick")
    assert run["status"] == "skipped" and time.perf_counter() - started < 1  # bench/ measures it exactly


def test_a_new_store_opens_an_older_one_and_adds_the_pipeline_tables(tmp_path):
    import sqlite3

    path = tmp_path / "old"
    FeatureStore(path).close()
    with sqlite3.connect(path / "featurestore.db") as conn:
        conn.execute("DROP TABLE pipelines")
        conn.execute("PRAGMA user_version = 3")
    fs = FeatureStore(path)
    assert fs.list_pipelines() == []
    fs.close()
