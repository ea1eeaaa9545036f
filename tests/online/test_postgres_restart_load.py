"""PostgreSQL restarted under concurrent load (issue 20): threads putting and reading records on
one store whose tables are on PostgreSQL keep working once the server is back, fail only while
it is down and then with the store's StorageUnavailable, and lose no acknowledged write. A
connection a restart left mid-pipeline (libpq then refuses every statement with "cannot exit
pipeline mode while busy", though the connection does not count as closed) is replaced."""
from __future__ import annotations

import threading
import time

import pytest

from store import Feature, FeatureStore, FeatureStoreError
from store.errors import StorageUnavailable

FEATURES = [Feature("id", "Integral"), Feature("ts", "Fractional"), Feature("n", "Integral")]
THREADS = 8


def leave_mid_pipeline(raw) -> None:
    """Put a psycopg connection in the state a restart can leave it in: in pipeline mode with a
    result nobody collected, so psycopg could not leave pipeline mode, and not closed."""
    raw.pgconn.enter_pipeline_mode()
    raw.pgconn.send_query_params(b"SELECT 1", None)
    assert not raw.closed and not raw.broken


@pytest.fixture(scope="module")
def restartable():
    """A PostgreSQL server of this module's own, as its tests restart it."""
    from servers.postgres import PostgresServer

    with PostgresServer() as pg:
        yield pg


def test_threads_writing_and_reading_across_a_restart_lose_no_acknowledged_write(tmp_path, restartable):
    with FeatureStore(tmp_path / "s", registry=restartable.url) as fs:
        fs.create_feature_group("g", "id", "ts", FEATURES)
        stop = threading.Event()
        calls: list[tuple[float, float, int, BaseException | None]] = []  # (start, end, thread, error)
        acked: dict[int, int] = {}

        def worker(k: int) -> None:
            i = 0
            while not stop.is_set():
                i += 1
                rid = k * 1_000_000 + i
                for put in (True, False):
                    start = time.monotonic()
                    try:
                        if put:
                            fs.put_record("g", {"id": rid, "ts": float(i), "n": i})
                            acked[rid] = i
                        elif rid in acked:
                            assert fs.get_record("g", rid)["n"] == i  # read back at once
                        error = None
                    except Exception as exc:  # noqa: BLE001 - every failure is judged below
                        error = exc
                    calls.append((start, time.monotonic(), k, error))

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
        for t in threads:
            t.start()
        try:
            time.sleep(1.0)
            down = time.monotonic()
            restartable.restart()
            restartable.restart()  # twice: connections made between the two are dropped too
            back = time.monotonic()
            time.sleep(3.0)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)

        failed = [(start, end, e) for start, end, _, e in calls if e is not None]
        for start, end, error in failed:
            assert isinstance(error, StorageUnavailable), repr(error)  # the store's own error, not psycopg's
            assert "PostgreSQL at postgresql://127.0.0.1" in str(error) and "Try again" in str(error)
            assert down <= end and start < back, f"a call failed {start - back:.2f} s after the server was back: {error!r}"
        after = [k for start, _, k, e in calls if start > back and e is None]
        assert set(after) == set(range(THREADS)), "every thread keeps working once the server is back"

        fs.flush()
        stored = fs.as_of("g")
        assert stored["id"].is_unique  # no write stored twice
        found = dict(zip(stored["id"], stored["n"]))
        assert all(found.get(rid) == n for rid, n in acked.items()), "an acknowledged write was lost"
        assert fs.query("SELECT count(*) AS n FROM g")["n"][0] == len(stored)


@pytest.mark.parametrize("where", ["registry", "online"])
def test_a_connection_left_mid_pipeline_is_replaced(tmp_path, postgres_server, where):
    """Each thread's connection (the registry's) or a pooled one (the online store's) left in
    the state a restart can leave it in: the next calls succeed on a new connection."""
    with FeatureStore(tmp_path / "s", **{where: postgres_server.url}) as fs:
        fs.create_feature_group("g", "id", "ts", FEATURES)
        errors: list[BaseException] = []

        def worker(k: int) -> None:
            try:
                fs.put_record("g", {"id": k, "ts": 1.0, "n": 1})
                if where == "registry":
                    leave_mid_pipeline(fs._ctx.db.get().raw)
                else:  # given back as a failed call gives it back
                    pg = fs._ctx.online.pool.getconn()
                    leave_mid_pipeline(pg)
                    fs._ctx.online.pool.putconn(pg)
                fs.put_record("g", {"id": k, "ts": 2.0, "n": 2})
                assert fs.get_record("g", k) == {"id": k, "ts": 2.0, "n": 2}
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        assert sorted(fs.as_of("g")["n"]) == [2] * THREADS


def test_a_call_while_the_server_is_down_says_so(tmp_path, restartable):
    """Between stop and start, a call fails at once with StorageUnavailable (a FeatureStoreError,
    HTTP 503), and the first call after the start succeeds."""
    with FeatureStore(tmp_path / "s", registry=restartable.url) as fs:
        fs.create_feature_group("g", "id", "ts", FEATURES)
        fs.put_record("g", {"id": 1, "ts": 1.0, "n": 1})
        restartable._pg_ctl("stop", "-m", "fast")
        try:
            for call in (lambda: fs.put_record("g", {"id": 2, "ts": 1.0, "n": 2}), lambda: fs.get_record("g", 1)):
                with pytest.raises(StorageUnavailable, match="The store's PostgreSQL at .* did not answer") as caught:
                    call()
                assert isinstance(caught.value, FeatureStoreError) and caught.value.status == 503
        finally:
            restartable._pg_ctl("start")
        assert fs.get_record("g", 1)["n"] == 1
        fs.put_record("g", {"id": 2, "ts": 1.0, "n": 2})
        assert sorted(fs.as_of("g")["id"]) == [1, 2]


def test_boto3_clients_on_two_servers_across_a_restart(tmp_path, restartable):
    """The issue's setup: 8 boto3 clients (retries off, so every failure shows) on two `serve`
    processes sharing a store on PostgreSQL. A call fails only while the server is down, and
    then as 503 ServiceUnavailable (which SDKs retry), never as an internal error; once the
    server is back every call succeeds, and every acknowledged put is read back."""
    from botocore.config import Config
    from botocore.exceptions import ClientError

    from store.server.process import LocalServer

    def record(rid: str, n: int) -> list[dict]:
        return [{"FeatureName": "id", "ValueAsString": rid}, {"FeatureName": "ts", "ValueAsString": "1.0"},
                {"FeatureName": "n", "ValueAsString": str(n)}]

    with FeatureStore(tmp_path / "s", registry=restartable.url) as fs:
        fs.create_feature_group("g", "id", "ts", [Feature("id", "String"), Feature("ts", "Fractional"),
                                                  Feature("n", "Integral")])
    no_retries = Config(retries={"max_attempts": 1, "mode": "standard"})
    with LocalServer(tmp_path / "s") as one, LocalServer(tmp_path / "s") as two:
        stop = threading.Event()
        calls: list[tuple[float, float, int, BaseException | None]] = []
        acked: dict[str, int] = {}

        def client(k: int) -> None:
            runtime = (one if k % 2 else two).client("sagemaker-featurestore-runtime", config=no_retries)
            i = 0
            while not stop.is_set():
                i += 1
                rid = f"c{k}-{i}"
                for put in (True, False):
                    start = time.monotonic()
                    try:
                        if put:
                            runtime.put_record(FeatureGroupName="g", Record=record(rid, i))
                            acked[rid] = i
                        elif rid in acked:
                            got = runtime.get_record(FeatureGroupName="g", RecordIdentifierValueAsString=rid)
                            assert got["Record"] == record(rid, i)
                        error = None
                    except Exception as exc:  # noqa: BLE001 - every failure is judged below
                        error = exc
                    calls.append((start, time.monotonic(), k, error))

        threads = [threading.Thread(target=client, args=(k,)) for k in range(THREADS)]
        for t in threads:
            t.start()
        try:
            time.sleep(1.5)
            down = time.monotonic()
            restartable.restart()
            back = time.monotonic()
            time.sleep(3.0)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
        for start, end, _, error in calls:
            if error is not None:
                assert isinstance(error, ClientError), repr(error)
                assert error.response["Error"]["Code"] == "ServiceUnavailable", error.response["Error"]
                assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 503
                assert down <= end and start < back, f"failed {start - back:.2f} s after the server was back"
        assert {k for start, _, k, e in calls if start > back and e is None} == set(range(THREADS))
        runtime = one.client("sagemaker-featurestore-runtime")
        for rid, n in acked.items():
            assert runtime.get_record(FeatureGroupName="g", RecordIdentifierValueAsString=rid)["Record"] == record(rid, n)
