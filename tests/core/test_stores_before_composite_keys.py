"""A store written before keys of several columns (the code at commit 4ec99e3) opens and works
unchanged, and a group keyed by one column is stored as it was: the same registry row, the same
online table, the same Redis keys."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from store import Feature, FeatureStore

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BEFORE = "4ec99e3"  # main before this change

WRITE = textwrap.dedent("""
    import sys
    from store import Feature, FeatureStore
    fs = FeatureStore(sys.argv[1], online=sys.argv[2] if len(sys.argv) > 2 else None)
    fs.create_feature_group("customers", "customer_id", "ts", [Feature("customer_id", "Integral"), Feature("ts"),
                            Feature("tier"), Feature("tags", "String", "List")], ttl=None)
    for i, tier in enumerate(["gold", "silver", "bronze"]):
        fs.put_record("customers", {"customer_id": i, "ts": "2024-01-01T00:00:00Z", "tier": tier, "tags": ["a"]})
    fs.put_record("customers", {"customer_id": 1, "ts": "2024-01-02T00:00:00Z", "tier": "gold"})
    fs.delete_record("customers", 2, "2024-01-03T00:00:00Z")
    fs.flush()
    fs.close()
""")


@pytest.fixture(scope="module")
def old_code(tmp_path_factory):
    """The store package as it was before this change, extracted from git (no worktree)."""
    folder = tmp_path_factory.mktemp("before")
    archive = subprocess.run(["git", "-C", ROOT, "archive", BEFORE, "store"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return str(folder)


def write_with(code: str, path: str, *online: str) -> None:
    env = {**os.environ, "PYTHONPATH": code}
    subprocess.run([sys.executable, "-c", WRITE, path, *online], check=True, env=env, cwd=code)


def schema(path: str) -> dict[str, tuple]:
    """The store database's tables and the customers group's registry row (its times aside)."""
    with sqlite3.connect(os.path.join(path, "featurestore.db")) as db:
        tables = {name: sql for name, sql in db.execute("SELECT name, sql FROM sqlite_master WHERE name LIKE 'online:%'")}
        row = db.execute("SELECT name, record_identifier, event_time, online, offline, partition_by FROM feature_groups"
                         ).fetchall()
    return {"tables": tables, "groups": row}


def test_an_old_store_opens_and_answers_as_before(old_code, tmp_path):
    path = str(tmp_path / "old")
    write_with(old_code, path)
    with FeatureStore(path) as fs:
        g = fs.feature_group("customers")
        assert g.identifiers == ("customer_id",) and g.record_identifier == "customer_id"
        assert fs.get_record("customers", 1) == {"customer_id": 1, "ts": "2024-01-02T00:00:00Z", "tier": "gold"}
        assert fs.get_record("customers", 2) is None
        assert [r["tier"] for r in fs.batch_get_records("customers", [0, "1"])] == ["gold", "gold"]
        assert fs.list_record_ids("customers") == [0, 1]
        assert fs.list_record_ids("customers", include_deleted=True) == [0, 1, 2]
        assert list(fs.history("customers", 1)["tier"]) == ["silver", "gold"]
        assert list(fs.as_of("customers", event_time="2024-01-01T12:00:00Z")["tier"]) == ["gold", "silver", "bronze"]
        fs.put_record("customers", {"customer_id": 3, "ts": "2024-01-04T00:00:00Z", "tier": "new"})
        fs.compact("customers")
        assert list(fs.as_of("customers")["customer_id"]) == [0, 1, 3]
        fs.create_feature_group("visits", ["customer_id", "page"], "ts", [
            Feature("customer_id", "Integral"), Feature("page"), Feature("ts")])
        fs.put_record("visits", {"customer_id": 1, "page": "home", "ts": "2024-01-01T00:00:00Z"})
        assert fs.list_record_ids("visits") == [(1, "home")]
    with FeatureStore(path) as fs:  # the old store, now with a group of each kind, opens again
        assert fs.feature_group("visits").identifiers == ("customer_id", "page")
        assert fs.get_record("customers", 3)["tier"] == "new"


def test_a_one_column_group_is_stored_as_before(old_code, tmp_path):
    before, after = str(tmp_path / "before"), str(tmp_path / "after")
    write_with(old_code, before)
    write_with(ROOT, after)
    assert schema(after) == schema(before)


def test_redis_keys_of_a_one_column_group_are_as_before(old_code, tmp_path, redis_server):
    import redis
    import yaml

    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    stored = {}
    for name, code in (("before", old_code), ("after", ROOT)):
        path = str(tmp_path / name)
        write_with(code, path, redis_server.url)
        with FeatureStore(path) as fs:
            assert fs.get_record("customers", 1)["tier"] == "gold"
        with open(os.path.join(path, "featurestore.yaml")) as fh:
            prefix = yaml.safe_load(fh)["online_prefix"]  # each store has its own
        found = {}
        for key in client.scan_iter(f"{prefix}*"):
            if client.type(key) == "hash":  # a record: all but its write time
                found[key.removeprefix(prefix)] = {k: v for k, v in client.hgetall(key).items() if k != "w"}
            else:
                found[key.removeprefix(prefix)] = client.zrange(key, 0, -1)
        stored[name] = found
    assert stored["after"] == stored["before"]
    assert stored["after"]["customers:r:1"]["v"] == '[1, "2024-01-02T00:00:00Z", "gold", null]'
    assert stored["after"]["customers:live"] == ["0", "1"]
