"""Time travel on two clocks, history, and read-only SQL."""
from __future__ import annotations

import datetime as dt
import time

import pandas as pd
import pytest

from store import ValidationError
from tests.conftest import offline_files, t

pytestmark = pytest.mark.storage  # every test on `fs` runs on a local folder and on S3


def now() -> dt.datetime:
    time.sleep(0.002)
    moment = dt.datetime.now(dt.timezone.utc)
    time.sleep(0.002)
    return moment


def test_as_of_event_time_shows_the_world_as_it_was(fs, customers):
    fs.put_record(customers, {"customer_id": 1, "event_time": t(1), "age": 1})
    fs.put_record(customers, {"customer_id": 1, "event_time": t(5), "age": 5})
    fs.put_record(customers, {"customer_id": 2, "event_time": t(3), "age": 3})
    fs.delete_record(customers, 2, t(4))
    assert fs.as_of(customers, event_time=t(2)).to_dict("list")["age"] == [1]
    assert fs.as_of(customers, event_time=t(3))["age"].tolist() == [1, 3]
    assert fs.as_of(customers, event_time=t(4))["age"].tolist() == [1]
    assert fs.as_of(customers)["age"].tolist() == [5]
    assert fs.as_of(customers, event_time=t(6), record_ids=[1, "2"])["customer_id"].tolist() == [1]


def test_known_at_reproduces_what_the_store_knew(fs, customers):
    fs.put_record(customers, {"customer_id": 1, "event_time": t(1), "age": 1})
    w1 = now()
    fs.put_record(customers, {"customer_id": 1, "event_time": t(2), "age": 2})  # late backfill for day 2
    w2 = now()
    fs.delete_record(customers, 1, t(3))
    assert fs.as_of(customers, event_time=t(2), known_at=w1)["age"].tolist() == [1]
    assert fs.as_of(customers, event_time=t(2), known_at=w2)["age"].tolist() == [2]
    assert fs.as_of(customers, known_at=w2)["age"].tolist() == [2]
    assert fs.as_of(customers).empty
    assert fs.as_of(customers, known_at=w1.isoformat())["age"].tolist() == [1]


def test_reinsert_after_delete_reappears(fs, customers):
    fs.put_record(customers, {"customer_id": 1, "event_time": t(1), "age": 1})
    fs.delete_record(customers, 1, t(2))
    fs.put_record(customers, {"customer_id": 1, "event_time": t(2), "age": 2})  # same instant, later write
    assert fs.as_of(customers)["age"].tolist() == [2]
    assert fs.get_record(customers, 1)["age"] == 2


def test_history_lists_every_version_with_both_clocks(fs, customers):
    fs.put_record(customers, {"customer_id": 1, "event_time": t(3), "age": 3})
    fs.put_record(customers, {"customer_id": 1, "event_time": t(1), "age": 1})
    fs.delete_record(customers, 1, t(4))
    h = fs.history(customers, 1)
    assert h["event_time"].tolist() == [t(1), t(3), t(4)]
    assert h["is_deleted"].tolist() == [False, False, True]
    assert h["write_time"].iloc[0] > h["write_time"].iloc[1]  # the backfill was written later
    assert str(h["write_time"].dtype) == "datetime64[us, UTC]"


def test_bad_time_arguments(fs, customers):
    with pytest.raises(ValidationError, match="event_time"):
        fs.as_of(customers, event_time="yesterday-ish")
    with pytest.raises(ValidationError, match="not an integer"):
        fs.as_of(customers, record_ids=["x"])


def test_query_sees_each_group_as_a_view(fs, customers):
    fs.put_record(customers, {"customer_id": 1, "event_time": t(1), "age": 40})
    fs.put_record(customers, {"customer_id": 2, "event_time": t(1), "age": 20})
    df = fs.query("SELECT avg(age) AS a, count(*) AS n FROM customers WHERE NOT is_deleted")
    assert df.to_dict("records") == [{"a": 30.0, "n": 2}]
    assert len(fs.query("SELECT * FROM customers", limit=1)) == 1


@pytest.mark.parametrize("sql", [
    "CREATE TABLE x AS SELECT 1",
    "INSERT INTO customers VALUES (1)",
    "ATTACH '/tmp/x.db'",
    "INSTALL httpfs",
    "COPY (SELECT 1) TO '/tmp/out.csv'",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM '/etc/hostname'",
    "SET threads = 1",
    "SELECT 1; DROP VIEW customers",
])
def test_query_refuses_writes_and_outside_files(fs, customers, sql):
    with pytest.raises(ValidationError):
        fs.query(sql)


def test_a_query_stops_at_its_timeout_or_when_cancelled(fs, customers):
    import threading
    import time

    from store import Interrupted

    slow = "SELECT count(*) FROM range(100000000) a, range(100000000) b"
    started = time.monotonic()
    with pytest.raises(Interrupted, match="more than 0.5 s"):
        fs.query(slow, timeout=0.5)
    assert time.monotonic() - started < 5
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    with pytest.raises(Interrupted, match="stopped"):
        fs.query(slow, cancel=cancel)
    assert fs.query("SELECT 1 AS x", timeout=5)["x"].tolist() == [1]  # a fast query is untouched


def test_query_refusals_say_what_was_refused(fs, customers):
    with pytest.raises(ValidationError, match="an ATTACH statement would open another database"):
        fs.query("ATTACH 'x.db'")
    with pytest.raises(ValidationError) as err:
        fs.query("SELECT * FROM custmers")
    assert "The feature groups you can query: customers" in str(err.value) and "LINE" not in str(err.value)


def test_query_errors_are_readable(fs, customers):
    with pytest.raises(ValidationError, match="SQL"):
        fs.query("SELECT nope FROM customers")
    with pytest.raises(ValidationError, match="SQL"):
        fs.query("SELEC 1")


def test_as_of_on_many_rows_matches_pandas(fs, customers):
    import numpy as np

    rng = np.random.default_rng(1)
    n = 5000
    df = pd.DataFrame({"customer_id": rng.integers(0, 300, n),
                       "event_time": pd.to_datetime(rng.integers(1_704_067_200, 1_706_745_600, n), unit="s", utc=True),
                       "age": rng.integers(0, 100, n)})
    fs.ingest(customers, df)
    cut = pd.Timestamp("2024-01-15", tz="UTC")
    expected = (df[df.event_time <= cut].reset_index().sort_values(["customer_id", "event_time", "index"])
                .groupby("customer_id").tail(1).sort_values("customer_id"))
    got = fs.as_of(customers, event_time=cut)
    assert got["customer_id"].tolist() == expected["customer_id"].tolist()
    assert got["age"].tolist() == expected["age"].tolist()


def test_a_read_finds_files_compaction_moved_after_it_listed_them(fs, customers, monkeypatch):
    """Compaction moves replaced files to _trash/; a read that listed them first still reads them."""
    from store.offline import snapshot as query

    fs.put_record(customers, {"customer_id": 1, "event_time": t(1), "age": 1})
    fs.flush()
    real_snapshot = query.snapshot

    def listed_then_moved(conn, files, group, *args):
        snap = real_snapshot(conn, files, group, *args)
        files.discard(group.name, [p for paths in snap.files.values() for p in paths])
        return snap

    monkeypatch.setattr(query, "snapshot", listed_then_moved)
    assert fs.as_of(customers)["age"].tolist() == [1]
    assert offline_files(fs, customers, "_trash")
