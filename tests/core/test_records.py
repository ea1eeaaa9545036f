"""Online-store rules: newest wins, historic puts, full overwrite, ties, deletes, TTL, targets."""
from __future__ import annotations

import time

import pytest

from store import Feature, NotFound, ValidationError
from tests.conftest import t

# Every test on `fs` runs on a local folder and on S3, and on each online backend.
pytestmark = [pytest.mark.storage, pytest.mark.online]


def test_put_then_get_returns_typed_values(fs, customers):
    fs.put_record(customers, {"customer_id": "7", "event_time": t(1), "age": "30", "score": "1.5e2",
                              "name": "Ann", "tags": ["a", "b"]})
    record = fs.get_record(customers, 7)
    assert record == {"customer_id": 7, "event_time": t(1), "age": 30, "score": 150.0, "name": "Ann", "tags": ["a", "b"]}
    assert fs.get_record(customers, "7") == record


def test_newest_event_time_wins_and_historic_put_is_ignored_online(fs, customers):
    fs.put_record(customers, {"customer_id": 1, "event_time": t(5), "age": 50})
    fs.put_record(customers, {"customer_id": 1, "event_time": t(3), "age": 30})
    assert fs.get_record(customers, 1)["age"] == 50
    history = fs.history(customers, 1)
    assert list(history["age"]) == [30, 50]  # the historic put still reached the offline store


def test_put_is_a_full_overwrite(fs, customers):
    fs.put_record(customers, {"customer_id": 1, "event_time": t(1), "age": 50, "name": "Ann"})
    fs.put_record(customers, {"customer_id": 1, "event_time": t(2), "age": 51})
    assert fs.get_record(customers, 1) == {"customer_id": 1, "event_time": t(2), "age": 51}


def test_equal_event_time_later_write_wins(fs, customers):
    fs.put_record(customers, {"customer_id": 1, "event_time": t(1), "age": 1})
    fs.put_record(customers, {"customer_id": 1, "event_time": t(1), "age": 2})
    assert fs.get_record(customers, 1)["age"] == 2
    assert fs.as_of(customers)["age"].tolist() == [2]


def test_soft_delete_leaves_tombstone_that_blocks_older_puts(fs, customers):
    fs.put_record(customers, {"customer_id": 1, "event_time": t(1), "age": 1})
    fs.delete_record(customers, 1, t(3))
    assert fs.get_record(customers, 1) is None
    fs.put_record(customers, {"customer_id": 1, "event_time": t(2), "age": 2})
    assert fs.get_record(customers, 1) is None
    fs.put_record(customers, {"customer_id": 1, "event_time": t(4), "age": 4})
    assert fs.get_record(customers, 1)["age"] == 4
    markers = fs.history(customers, 1)
    deleted = markers[markers["is_deleted"]]
    assert len(deleted) == 1 and deleted["age"].isna().all() and deleted["event_time"].iloc[0] == t(3)


def test_hard_delete_forgets_so_older_put_becomes_current(fs, customers):
    fs.put_record(customers, {"customer_id": 1, "event_time": t(2), "age": 2})
    fs.delete_record(customers, 1, t(3), hard=True)
    assert fs.get_record(customers, 1) is None
    fs.put_record(customers, {"customer_id": 1, "event_time": t(1), "age": 1})
    assert fs.get_record(customers, 1)["age"] == 1


def test_stale_hard_delete_is_an_error_and_changes_nothing(fs, customers):
    fs.put_record(customers, {"customer_id": 1, "event_time": t(2), "age": 2})
    before = len(fs.history(customers, 1))
    for when in (t(1), t(2)):
        with pytest.raises(ValidationError, match="not newer"):
            fs.delete_record(customers, 1, when, hard=True)
    assert fs.get_record(customers, 1)["age"] == 2
    assert len(fs.history(customers, 1)) == before


def test_deleting_a_never_written_record_leaves_a_tombstone(fs, customers):
    fs.delete_record(customers, 9, t(5))
    fs.put_record(customers, {"customer_id": 9, "event_time": t(4), "age": 4})
    assert fs.get_record(customers, 9) is None
    assert fs.history(customers, 9)["is_deleted"].tolist() == [False, True]


def test_soft_delete_older_than_record_does_not_hide_it(fs, customers):
    fs.put_record(customers, {"customer_id": 1, "event_time": t(5), "age": 5})
    assert fs.delete_record(customers, 1, t(2)) == "newer_kept"  # and says so
    assert fs.get_record(customers, 1)["age"] == 5
    assert fs.as_of(customers)["age"].tolist() == [5]


def test_delete_says_what_happened_online(fs, customers):
    fs.put_record(customers, {"customer_id": 1, "event_time": t(5), "age": 5})
    assert fs.delete_record(customers, 1, t(6)) == "deleted"
    assert fs.delete_record(customers, 1, t(7)) == "not_live"  # already a tombstone
    assert fs.delete_record(customers, 1, t(3)) == "newer_kept"  # the tombstone at day 7 stays
    assert fs.delete_record(customers, 2, t(1), hard=True) == "not_live"
    fs.put_record(customers, {"customer_id": 3, "event_time": t(5), "age": 5})
    assert fs.delete_record(customers, 3, t(6), hard=True) == "deleted"
    assert fs.delete_record(customers, 3, t(6), target_stores=["OfflineStore"]) == "offline_only"


def test_delete_errors_show_times_as_written_or_as_iso(fs, customers):
    import datetime as dt

    fs.put_record(customers, {"customer_id": 1, "event_time": t(5), "age": 5})
    with pytest.raises(ValidationError) as err:
        fs.delete_record(customers, 1, dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc), hard=True)
    assert "at event time 2024-01-02T00:00:00Z is not newer" in str(err.value) and "datetime(" not in str(err.value)


def test_ttl_expires_records_and_record_ttl_beats_group_default(fs):
    fs.create_feature_group("sessions", "sid", "ts", [Feature("sid", "String"), Feature("ts", "Fractional"),
                                                        Feature("clicks", "Integral")], ttl=3600)
    now = time.time()
    fs.put_record("sessions", {"sid": "old", "ts": now - 7200, "clicks": 1})
    fs.put_record("sessions", {"sid": "new", "ts": now, "clicks": 2})
    fs.put_record("sessions", {"sid": "long", "ts": now - 7200, "clicks": 3}, ttl=86400)
    assert fs.get_record("sessions", "old") is None
    assert fs.get_record("sessions", "new")["clicks"] == 2
    assert fs.get_record("sessions", "long")["clicks"] == 3
    assert [r["sid"] for r in fs.batch_get_records("sessions", ["old", "new", "long"])] == ["new", "long"]
    info = fs.online_record("sessions", "new")
    assert info["expires_us"] == pytest.approx((now + 3600) * 1e6, abs=2)
    # An expired record counts as gone: an older put becomes current again.
    fs.put_record("sessions", {"sid": "old", "ts": now - 60, "clicks": 9})
    assert fs.get_record("sessions", "old")["clicks"] == 9


def test_sweep_removes_expired_records_and_writes_markers(fs):
    fs.create_feature_group("s", "sid", "ts", [Feature("sid", "String"), Feature("ts", "Fractional"),
                                                 Feature("v", "Integral")], ttl=10)
    now = time.time()
    fs.put_record("s", {"sid": "a", "ts": now - 100, "v": 1})
    fs.put_record("s", {"sid": "b", "ts": now, "v": 2})
    assert fs.sweep_expired("s") == 1
    assert fs.online_record("s", "a") is None
    marker = fs.history("s", "a").iloc[-1]
    assert bool(marker["is_deleted"]) and marker["ts"] == pytest.approx(now - 90)


def test_new_group_ttl_applies_to_later_writes_only(fs):
    fs.create_feature_group("s", "sid", "ts", [Feature("sid", "String"), Feature("ts", "Fractional")])
    now = time.time()
    fs.put_record("s", {"sid": "a", "ts": now - 100})
    fs.update_feature_group("s", ttl=10)
    fs.put_record("s", {"sid": "b", "ts": now - 100})
    assert fs.get_record("s", "a") is not None
    assert fs.get_record("s", "b") is None


def test_target_stores_limit_the_write(fs, customers):
    fs.put_record(customers, {"customer_id": 1, "event_time": t(1), "age": 1}, target_stores=["OnlineStore"])
    fs.put_record(customers, {"customer_id": 2, "event_time": t(1), "age": 2}, target_stores=["OfflineStore"])
    assert fs.get_record(customers, 1)["age"] == 1 and fs.get_record(customers, 2) is None
    assert fs.as_of(customers)["customer_id"].tolist() == [2]
    with pytest.raises(ValidationError, match="not a store"):
        fs.put_record(customers, {"customer_id": 3, "event_time": t(1)}, target_stores=["Elsewhere"])


def test_projection_and_batch_get_order(fs, customers):
    for i in (1, 2, 3):
        fs.put_record(customers, {"customer_id": i, "event_time": t(1), "age": i * 10, "name": f"n{i}"})
    assert fs.get_record(customers, 2, features=["age"]) == {"age": 20}
    got = fs.batch_get_records(customers, [3, 99, 1], features=["customer_id", "age"])
    assert got == [{"customer_id": 3, "age": 30}, {"customer_id": 1, "age": 10}]
    with pytest.raises(NotFound, match="no feature 'nope'"):
        fs.get_record(customers, 1, features=["nope"])


@pytest.mark.parametrize("feature,value,message", [
    ("age", "1.0", "not an integer"),
    ("age", 1.5, "not a whole number"),
    ("age", "abc", "not an integer"),
    ("score", "abc", "not a number"),
    ("score", float("nan"), "finite"),
    ("score", float("inf"), "finite"),
    ("tags", "not-json", "JSON list"),
    ("event_time", "2024-01-01T00:00:00", "ISO-8601"),
    ("event_time", "2024-01-01T00:00:00+01:00", "ISO-8601"),
    ("event_time", "2024-01-01 00:00:00Z", "ISO-8601"),
    ("event_time", None, "required"),
    ("unknown", 1, "not in feature group"),
])
def test_bad_values_are_rejected_naming_the_feature_and_value(fs, customers, feature, value, message):
    record = {"customer_id": 1, "event_time": t(1), feature: value}
    with pytest.raises(ValidationError, match=message) as err:
        fs.put_record(customers, record)
    assert feature in str(err.value)
    assert fs.get_record(customers, 1) is None


def test_record_identifier_is_required_and_typed(fs, customers):
    with pytest.raises(ValidationError, match="required"):
        fs.put_record(customers, {"event_time": t(1)})
    with pytest.raises(ValidationError, match="not an integer"):
        fs.get_record(customers, "abc")


def test_event_time_accepts_datetimes_and_epoch(fs, customers):
    import datetime as dt

    import pandas as pd

    fs.put_record(customers, {"customer_id": 1, "event_time": dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc)})
    fs.put_record(customers, {"customer_id": 2, "event_time": pd.Timestamp("2024-01-03", tz="UTC")})
    fs.put_record(customers, {"customer_id": 3, "event_time": 1704326400})
    assert [fs.get_record(customers, i)["event_time"] for i in (1, 2, 3)] == [t(2), t(3), t(4)]


def test_collections_set_and_vector_rules(fs):
    fs.create_feature_group("emb", "id", "ts", [
        Feature("id", "Integral"), Feature("ts", "Fractional"),
        Feature("v", "Fractional", collection="Vector", dimension=3), Feature("s", "String", collection="Set")])
    fs.put_record("emb", {"id": 1, "ts": 1, "v": [1, 2, 3], "s": ["x", "y"]})
    assert fs.get_record("emb", 1) == {"id": 1, "ts": 1.0, "v": [1.0, 2.0, 3.0], "s": ["x", "y"]}
    with pytest.raises(ValidationError, match="dimension"):
        fs.put_record("emb", {"id": 2, "ts": 1, "v": [1, 2]})
    with pytest.raises(ValidationError, match="repeats"):
        fs.put_record("emb", {"id": 2, "ts": 1, "s": ["x", "x"]})


def test_hard_delete_of_a_tombstone_is_allowed_at_any_time(fs, customers):
    fs.put_record(customers, {"customer_id": 1, "event_time": t(2), "age": 2})
    fs.delete_record(customers, 1, t(5))
    fs.delete_record(customers, 1, t(3), hard=True)  # purges the tombstone
    fs.put_record(customers, {"customer_id": 1, "event_time": t(1), "age": 1})
    assert fs.get_record(customers, 1)["age"] == 1


def test_list_record_ids_pages_in_identifier_order(fs, customers):
    for i in (5, 1, 3, 9, 7):
        fs.put_record(customers, {"customer_id": i, "event_time": t(1)})
    fs.delete_record(customers, 3, t(2))
    assert fs.list_record_ids(customers, limit=2) == [1, 5]
    assert fs.list_record_ids(customers, after=5) == [7, 9]
    assert fs.list_record_ids(customers, include_deleted=True) == [1, 3, 5, 7, 9]


def test_unknown_projection_fails_even_when_the_record_is_missing(fs, customers):
    with pytest.raises(NotFound, match="no feature 'nope'"):
        fs.get_record(customers, 404, features=["nope"])
    with pytest.raises(NotFound):
        fs.batch_get_records(customers, [404], features=["nope"])


def test_online_record_needs_an_online_store(fs):
    fs.create_feature_group("off", "id", "ts", [Feature("id", "Integral"), Feature("ts", "Fractional")], online=False)
    with pytest.raises(ValidationError, match="no online store"):
        fs.online_record("off", 1)
