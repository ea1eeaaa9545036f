"""The audit log holds up (issue 19, D8 and D11): deleting its newest entries, or rewriting the
last one, no longer verifies as intact (the chain's head is kept with every append), `audit
--verify` prints the count and last hash for anchoring elsewhere, and the entries of ingests,
compactions and pipeline runs commit in the transaction of the write they describe."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from typing import Iterator

import pandas as pd
import pytest
from click.testing import CliRunner

from access_support import public_and_secret
from store import Feature, FeatureStore
from store.access import audit
from store.cli import main

pytestmark = pytest.mark.registry  # tests taking registry_location run on SQLite and PostgreSQL tables

ACCESS = ("users:\n- {name: vic, roles: [{role: viewer, groups: [public]}]}\n"
          "- {name: own, roles: [{role: owner, groups: [public]}]}\n- {name: root, roles: [{role: admin}]}\n")


def put(fs: FeatureStore, i: str) -> None:
    fs.put_record("public", {"id": i, "ts": "2026-01-01T00:00:00Z"})


def make_store(tmp_path, registry: str | None):
    return public_and_secret(tmp_path, ACCESS, registry)


@pytest.fixture
def store(tmp_path, registry_location):
    return make_store(tmp_path, registry_location)


def tamper(fs: FeatureStore, sql: str, *params) -> None:
    """What someone with write access to the store's database does (SQLite or PostgreSQL)."""
    with fs._ctx.db.write() as conn:
        conn.execute(sql, params)


def test_the_reports_repro_deleting_the_newest_entry_then_writing(tmp_path):
    path = make_store(tmp_path, None)
    with FeatureStore(path, principal="root") as root:
        with FeatureStore(path, principal="own") as own:
            put(own, "x")
        c = sqlite3.connect(f"{path}/featurestore.db")
        c.execute("DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)")
        c.commit()
        result = root.verify_audit()
        assert not result["ok"] and "the newest entries were deleted" in result["problem"]
        put(root, "y")
        result = root.verify_audit()
        newest = int(root.audit(limit=1)["id"].iloc[0])
        assert not result["ok"] and result["first_bad_id"] == newest
        assert f"entry {newest} does not follow the one before it" in result["problem"]
        c.close()


@pytest.mark.parametrize("k", [1, 3])
def test_deleting_the_last_entries_shows(store, registry_location, k):
    with FeatureStore(store, principal="root", registry=registry_location) as root:
        for i in range(5):
            put(root, str(i))
        intact = root.verify_audit()
        assert intact["ok"] and intact["entries"] == len(root.audit())
        assert intact["last_hash"] == root._ctx.db.get().execute(
            "SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()[0]
        last = intact["last_id"]
        tamper(root, "DELETE FROM audit_log WHERE id > ?", last - k)
        result = root.verify_audit()
        assert not result["ok"] and result["entries"] == intact["entries"] - k
        assert result["first_bad_id"] == last
        assert (f"the log ends at entry {last - k} ({intact['entries'] - k:,} entries), but "
                f"{intact['entries']:,} were written") in result["problem"]


def test_rewriting_the_last_entry_or_the_head_shows(store, registry_location):
    with FeatureStore(store, principal="root", registry=registry_location) as root:
        put(root, "a")
        last = root.verify_audit()
        # the newest entry rewritten with a hash recomputed to fit: the chain alone would pass
        row = root._ctx.db.get().execute("SELECT prev_hash, at_us, action, group_name, outcome, details FROM audit_log "
                                        "WHERE id = ?", (last["last_id"],)).fetchone()
        forged = audit._digest(row[0], row[1], "vic", row[2], row[3], row[4], row[5])
        tamper(root, "UPDATE audit_log SET principal = 'vic', hash = ? WHERE id = ?", forged, last["last_id"])
        result = root.verify_audit()
        assert not result["ok"] and "the last one rewritten" in result["problem"]
        tamper(root, "UPDATE audit_head SET last_hash = ?", forged)  # the head made to agree as well: it
        agreed = root.verify_audit()  # verifies, but no longer ends with the hash anchored outside the store
        assert agreed["ok"] and agreed["last_hash"] != last["last_hash"]
        tamper(root, "UPDATE audit_head SET entries = entries - 1")
        assert not root.verify_audit()["ok"]
        tamper(root, "DELETE FROM audit_head")
        result = root.verify_audit()
        assert not result["ok"] and "head (table audit_head) was deleted" in result["problem"]


def test_audit_verify_prints_the_count_and_last_hash(store):
    runner = CliRunner()
    result = runner.invoke(main, ["--store", str(store), "--as", "root", "audit", "--verify"])
    assert result.exit_code == 0, result.output
    with FeatureStore(store, principal="root") as root:
        head = root.verify_audit()
        tamper(root, "DELETE FROM audit_log WHERE id = ?", head["last_id"])
    assert f"Entries: {head['entries']}  last hash: {head['last_hash']}" in result.output
    result = runner.invoke(main, ["--store", str(store), "--as", "root", "audit", "--verify"])
    assert result.exit_code == 1 and "the newest entries were deleted" in result.output


def test_a_store_made_before_heads_were_kept_takes_its_log_as_it_stands(tmp_path):
    store = make_store(tmp_path, None)
    db = sqlite3.connect(store / "featurestore.db")
    with db:
        db.execute("DROP TABLE audit_head")
        db.execute("PRAGMA user_version = 5")
    db.close()
    with FeatureStore(store, principal="root") as root:
        put(root, "z")
        result = root.verify_audit()
        assert result["ok"] and result["entries"] == len(root.audit())


# ----------------------------------------------------------------------------- D11

@contextmanager
def failing(action: str) -> Iterator[None]:
    """The audit entry of ``action`` fails inside, as a crash between the write and its entry would."""
    real = audit.append

    def append(conn, at_us, principal, act, *args, **kwargs):
        if act == action:
            raise RuntimeError(f"no {action} entry")
        return real(conn, at_us, principal, act, *args, **kwargs)

    audit.append = append
    try:
        yield
    finally:
        audit.append = real


def frame(ids) -> pd.DataFrame:
    return pd.DataFrame({"id": [str(i) for i in ids], "ts": ["2026-01-02T00:00:00Z"] * len(ids), "v": ["n"] * len(ids)})


def test_an_ingest_commits_with_its_entry_or_not_at_all(store, registry_location):
    with FeatureStore(store, principal="own", registry=registry_location) as own:
        with failing("ingest"), pytest.raises(RuntimeError, match="no ingest entry"):
            own.ingest("public", frame(range(5)))
        assert own.get_record("public", "0") is None and len(own.as_of("public")) == 0
    with FeatureStore(store, principal="root", registry=registry_location) as root:
        root.ingest("public", frame(range(3)))
        log = root.audit(action="ingest")
        assert log["details"].tolist() == [{"rows_written": 3, "rows_rejected": 0, "source": "DataFrame"}]
        assert root.verify_audit()["ok"]


def test_a_file_read_in_batches_commits_with_its_entry_or_not_at_all(store, registry_location, tmp_path,
                                                                     monkeypatch):
    from store.ingest import prepare as ing

    monkeypatch.setattr(ing, "BATCH_ROWS", 2)  # a file longer than a batch is streamed (store.core.batches)
    path = tmp_path / "rows.csv"
    frame(range(5)).to_csv(path, index=False)
    with FeatureStore(store, principal="own", registry=registry_location) as own:
        with failing("ingest"), pytest.raises(RuntimeError, match="no ingest entry"):
            own.ingest("public", path)
        assert own.get_record("public", "0") is None and len(own.as_of("public")) == 0
        own.ingest("public", path)
    with FeatureStore(store, principal="root", registry=registry_location) as root:
        log = root.audit(action="ingest")
        assert log["details"].tolist() == [{"rows_written": 5, "rows_rejected": 0, "source": "rows.csv"}]


def test_a_compaction_commits_with_its_entry_or_not_at_all(store, registry_location):
    with FeatureStore(store, principal="root", registry=registry_location) as root:
        for i in range(3):
            root.ingest("public", frame([i]))
        files = root._ctx.files.stats(root._ctx.db.get(), "public")["files"]
        assert files == 3
        with failing("compact"), pytest.raises(RuntimeError, match="no compact entry"):
            root.compact("public")
        assert root._ctx.files.stats(root._ctx.db.get(), "public")["files"] == 3 and len(root.as_of("public")) == 3
        assert root.audit(action="compact").empty


def test_a_compaction_logs_each_rewrite_with_it(store, registry_location):
    with FeatureStore(store, principal="root", registry=registry_location) as root:
        for i in range(3):
            root.ingest("public", frame([i]))
        root.compact("public")
        log = root.audit(action="compact")
        assert log["group"].tolist() == ["public"]
        assert log["details"].iloc[0] == {"group": "public", "files_before": 3, "files_after": 1, "rows": 3,
                                          "rows_dropped": 0}
        root.compact("public")  # nothing left to merge: logged after, as before
        assert root.audit(action="compact")["details"].iloc[0] == {}
        assert root.verify_audit()["ok"]


def test_a_pipeline_run_commits_with_its_entry_or_not_at_all(store, registry_location):
    with FeatureStore(store, principal="root", registry=registry_location) as root:
        root.ingest("secret", frame(range(4)))
        root.create_pipeline("copy", "public", sql="SELECT id, ts, v FROM secret", inputs=["secret"])
        with failing("run_pipeline"), pytest.raises(RuntimeError, match="no run_pipeline entry"):
            root.run_pipeline("copy")
        assert len(root.as_of("public")) == 0
    with FeatureStore(store, principal="root", registry=registry_location) as root:
        run = root.run_pipeline("copy")
        assert run["status"] == "succeeded" and len(root.as_of("public")) == 5  # with s1
        log = root.audit(action="run_pipeline")
        assert log["details"].iloc[0] == {"pipeline": "copy", "run": run["id"], "trigger": "manual",
                                          "status": "succeeded", "rows_out": 5}
        assert root.verify_audit()["ok"]


def test_the_reports_repro_a_writer_killed_before_its_entry_leaves_no_write(store):
    """SIGKILL while the ingest's entry is being written (the window widened by a sleep): on reopening,
    neither the rows nor the entry are there, and the log verifies."""
    script = textwrap.dedent(f"""
        import sys, time
        import pandas as pd
        from store import FeatureStore
        from store.access import audit
        real = audit.append
        def slow(conn, at_us, principal, action, *args, **kwargs):
            if action == "ingest":
                print("writing", flush=True)
                time.sleep(60)
            return real(conn, at_us, principal, action, *args, **kwargs)
        audit.append = slow
        fs = FeatureStore({str(store)!r}, principal="own")
        fs.ingest("public", pd.DataFrame({{"id": ["k"], "ts": ["2026-01-01T00:00:00Z"], "v": ["1"]}}))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with FeatureStore(store, principal="root") as root:
        assert root.get_record("public", "k") is None and len(root.as_of("public")) == 0
        assert root.audit(action="ingest").empty and root.verify_audit()["ok"]


def test_a_sweep_commits_with_its_entry_or_not_at_all(store, registry_location):
    import time

    with FeatureStore(store, principal="root", registry=registry_location) as root:
        root.create_feature_group("s", "sid", "ts", [Feature("sid"), Feature("ts", "Fractional")], ttl=10)
        root.put_record("s", {"sid": "a", "ts": time.time() - 100})
        with failing("sweep_expired"), pytest.raises(RuntimeError, match="no sweep_expired entry"):
            root.sweep_expired("s")
        assert root.online_record("s", "a") is not None  # still there: the sweep rolled back
        assert root.sweep_expired("s") == 1
        assert root.audit(action="sweep_expired")["details"].tolist() == [{"group": "s", "records": 1}]
