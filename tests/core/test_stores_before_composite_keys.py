"""A store written before keys of several columns opens and works unchanged, and a group keyed by
one column is stored exactly as the previous release stored it: the same registry row, the same
online table, the same Redis keys and values. The release's own store is the fixture in
``upgrade_support``; what it wrote for the group below was recorded from that release's code
(commit 4ec99e3) by running ``write`` with it, and is kept here as constants."""
from __future__ import annotations

import os
import sqlite3

import pytest
from upgrade_support import legacy_store

from store import Feature, FeatureStore

# What the previous release stored for ``write``'s group: its online table, registry row and Redis entries.
RELEASE_TABLES = {
    "online:customers": 'CREATE TABLE "online:customers" (_event_us INTEGER NOT NULL, _write_us INTEGER NOT NULL, '
                        '_expires_us INTEGER, _deleted INTEGER NOT NULL DEFAULT 0, "customer_id" INTEGER PRIMARY KEY, '
                        '"ts" TEXT, "tier" TEXT, "tags" TEXT)',
    "online:customers:expiry": 'CREATE INDEX "online:customers:expiry" ON "online:customers" (_expires_us) '
                               'WHERE _expires_us IS NOT NULL',
}
RELEASE_ROW = [("customers", "customer_id", "ts", 1, 1, "day")]
RELEASE_REDIS = {
    "customers:all": ["0", "1", "2"],
    "customers:live": ["0", "1"],
    "customers:r:0": {"d": "0", "e": "1704067200000000", "v": '[0, "2024-01-01T00:00:00Z", "gold", "[\\"a\\"]"]'},
    "customers:r:1": {"d": "0", "e": "1704153600000000", "v": '[1, "2024-01-02T00:00:00Z", "gold", null]'},
    "customers:r:2": {"d": "1", "e": "1704240000000000", "v": '[2, "2024-01-03T00:00:00Z", null, null]'},
}


def write(path: str, online: str | None = None) -> None:
    """The history the constants above were recorded from."""
    fs = FeatureStore(path, online=online)
    fs.create_feature_group("customers", "customer_id", "ts", [Feature("customer_id", "Integral"), Feature("ts"),
                            Feature("tier"), Feature("tags", "String", "List")], ttl=None)
    for i, tier in enumerate(["gold", "silver", "bronze"]):
        fs.put_record("customers", {"customer_id": i, "ts": "2024-01-01T00:00:00Z", "tier": tier, "tags": ["a"]})
    fs.put_record("customers", {"customer_id": 1, "ts": "2024-01-02T00:00:00Z", "tier": "gold"})
    fs.delete_record("customers", 2, "2024-01-03T00:00:00Z")
    fs.flush()
    fs.close()


def test_an_old_store_opens_answers_as_before_and_takes_a_composite_group(tmp_path):
    path = legacy_store(tmp_path)
    with FeatureStore(path) as fs:
        g = fs.feature_group("tx")
        assert g.identifiers == ("tx_id",) and g.record_identifier == "tx_id"
        assert fs.get_record("tx", 7)["channel"] == "app" and fs.get_record("tx", 8) is None
        assert [r["tx_id"] for r in fs.batch_get_records("tx", [1, "250"])] == [1, 250]
        assert fs.list_record_ids("tx", limit=3) == [0, 1, 2]
        assert 8 in fs.list_record_ids("tx", include_deleted=True, limit=400)
        fs.create_feature_group("visits", ["customer_id", "page"], "ts", [
            Feature("customer_id", "Integral"), Feature("page"), Feature("ts")])
        fs.put_record("visits", {"customer_id": 1, "page": "home", "ts": "2024-01-01T00:00:00Z"})
        assert fs.list_record_ids("visits") == [(1, "home")]
        fs.compact("tx")
    with FeatureStore(path) as fs:  # the old store, now with a group of each kind, opens again
        assert fs.feature_group("visits").identifiers == ("customer_id", "page")
        assert len(fs.as_of("tx")) == 399


def test_a_one_column_group_is_stored_as_before(tmp_path):
    path = str(tmp_path / "s")
    write(path)
    with sqlite3.connect(os.path.join(path, "featurestore.db")) as db:
        tables = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE name LIKE 'online:%'").fetchall())
        row = db.execute("SELECT name, record_identifier, event_time, online, offline, partition_by FROM feature_groups"
                         ).fetchall()
    assert tables == RELEASE_TABLES and row == RELEASE_ROW


@pytest.mark.slow
def test_redis_keys_of_a_one_column_group_are_as_before(tmp_path, redis_server):
    import redis
    import yaml

    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    path = str(tmp_path / "s")
    write(path, redis_server.url)
    with open(os.path.join(path, "featurestore.yaml")) as fh:
        prefix = yaml.safe_load(fh)["online_prefix"]  # each store has its own
    found = {}
    for key in client.scan_iter(f"{prefix}*"):
        if client.type(key) == "hash":  # a record: all but its write time
            found[key.removeprefix(prefix)] = {k: v for k, v in client.hgetall(key).items() if k != "w"}
        else:
            found[key.removeprefix(prefix)] = client.zrange(key, 0, -1)
    assert found == RELEASE_REDIS
