"""Feature groups: definitions, validation, metadata, search, schema evolution, deletion."""
from __future__ import annotations


import pandas as pd
import pytest

from store import Conflict, Feature, FeatureStore, NotFound, ValidationError
from tests.conftest import CUSTOMER_FEATURES, offline_files, read_as_is, t

# Every test on `fs` runs on a local folder and on S3, and on each online backend.
pytestmark = [pytest.mark.storage, pytest.mark.online]


def test_create_and_describe(fs, customers):
    g = fs.feature_group(customers)
    assert g.record_identifier == "customer_id" and g.event_time == "event_time"
    assert [f.name for f in g.features] == [f.name for f in CUSTOMER_FEATURES]
    assert g.tags == {"team": "risk"} and g.online and g.offline and g.status == "Created"
    info = fs.describe(customers)
    assert info["online_records"] == 0 and info["offline_rows"] == 0
    storage = fs._ctx.files.storage
    assert info["offline_uri"] == storage.url(storage.join(storage.base, "customers", "data"))
    assert info["offline_uri"].startswith("file://" if storage.local else "s3://featurestore-tests/")


@pytest.mark.parametrize("kwargs,message", [
    ({"name": "bad name"}, "name 'bad name' is invalid"),
    ({"name": "-x"}, "invalid"),
    ({"name": "x" * 65}, "invalid"),
    ({"record_identifier": "nope"}, "Record identifier 'nope' is not a feature"),
    ({"event_time": "age"}, "must be String"),
    ({"features": [Feature("customer_id", "Integral"), Feature("customer_id", "String")]}, "twice"),
    ({"online": False, "offline": False}, "online or an offline store"),
    ({"tags": {str(i): "v" for i in range(51)}}, "at most 50"),
])
def test_bad_definitions_are_rejected(fs, kwargs, message):
    args = {"name": "g", "record_identifier": "customer_id", "event_time": "event_time", "features": CUSTOMER_FEATURES}
    args.update(kwargs)
    with pytest.raises(ValidationError, match=message):
        fs.create_feature_group(**args)
    assert fs.list_feature_groups() == []


@pytest.mark.parametrize("feature,message", [
    (lambda: Feature("write_time", "String"), "reserved"),
    (lambda: Feature("x", "Decimal"), "type 'Decimal'"),
    (lambda: Feature("x", "String", collection="Vector", dimension=3), "Fractional"),
    (lambda: Feature("x", "Fractional", collection="Vector"), "dimension"),
    (lambda: Feature("x", "Fractional", collection="Tuple"), "collection type"),
])
def test_bad_features_are_rejected(feature, message):
    with pytest.raises(ValidationError, match=message):
        feature()


def test_duplicate_group_is_a_conflict(fs, customers):
    with pytest.raises(Conflict, match="already exists"):
        fs.create_feature_group(customers, "customer_id", "event_time", CUSTOMER_FEATURES)


def test_schema_inferred_from_dataframe(fs):
    df = pd.DataFrame({"id": [1, 2], "ts": pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True),
                       "amount": [1.5, 2.0], "city": ["a", "b"], "items": [[1, 2], [3]]})
    g = fs.create_feature_group("orders", "id", "ts", dataframe=df)
    assert [(f.name, f.type, f.collection) for f in g.features] == [
        ("id", "Integral", None), ("ts", "String", None), ("amount", "Fractional", None),
        ("city", "String", None), ("items", "Integral", "List")]
    fs.ingest("orders", df)
    assert fs.get_record("orders", 2) == {"id": 2, "ts": "2024-01-02T00:00:00Z", "amount": 2.0, "city": "b", "items": [3]}


def test_added_feature_reads_null_in_old_rows(fs, customers):
    fs.put_record(customers, {"customer_id": 1, "event_time": t(1), "age": 1})
    fs.flush()
    fs.add_features(customers, [Feature("segment", "String", description="Marketing segment")])
    fs.put_record(customers, {"customer_id": 2, "event_time": t(2), "segment": "vip"})
    latest = fs.as_of(customers)
    assert latest["segment"].isna().tolist() == [True, False] and latest["segment"][1] == "vip"
    assert fs.get_record(customers, 2)["segment"] == "vip"
    assert fs.feature_group(customers).feature("segment").description == "Marketing segment"
    with pytest.raises(ValidationError, match="already has a feature 'age'"):
        fs.add_features(customers, [Feature("age", "String")])


def test_feature_metadata_update_and_search(fs, customers):
    fs.update_feature_metadata(customers, "score", description="Risk score from the bureau",
                               parameters={"unit": "points", "source": "bureau"})
    f = fs.update_feature_metadata(customers, "score", remove_parameters=["source"])
    assert f.description == "Risk score from the bureau" and f.parameters == {"unit": "points"}
    hits = fs.search("bureau")
    assert [(h["kind"], h["group"], h["feature"]) for h in hits] == [("feature", "customers", "score")]
    assert [h["group"] for h in fs.search("RISK") if h["kind"] == "feature_group"] == ["customers"]  # tag value
    assert fs.search("points")[0]["feature"] == "score"
    with pytest.raises(NotFound):
        fs.update_feature_metadata(customers, "nope", description="x")


def test_update_tags_and_description(fs, customers):
    g = fs.update_feature_group(customers, description="New", tags={"a": "b"})
    assert g.description == "New" and g.tags == {"a": "b"}


def test_delete_group_keeps_offline_files_unless_purged(fs, customers):
    fs.put_record(customers, {"customer_id": 1, "event_time": t(1), "age": 1})  # staged, not yet Parquet
    fs.delete_feature_group(customers)
    with pytest.raises(NotFound):
        fs.get_record(customers, 1)
    kept = read_as_is(fs, customers, "data").to_table().to_pandas()
    assert kept["age"].tolist() == [1]  # buffered rows were flushed before the delete
    # A new group of the same name starts empty; the old files are moved aside, not lost.
    fs.create_feature_group(customers, "customer_id", "event_time", CUSTOMER_FEATURES)
    assert fs.as_of(customers).empty
    assert not offline_files(fs, customers) and len(offline_files(fs, "_retired")) == 1
    fs.put_record(customers, {"customer_id": 2, "event_time": t(1)})
    fs.delete_feature_group(customers, purge_offline=True)
    assert not offline_files(fs, customers, suffix="")


def test_registry_is_shared_between_instances(tmp_path):
    a, b = FeatureStore(tmp_path / "s"), FeatureStore(tmp_path / "s")
    a.create_feature_group("g", "customer_id", "event_time", CUSTOMER_FEATURES)
    b.put_record("g", {"customer_id": 1, "event_time": t(1)})
    a.add_features("g", [Feature("extra", "Integral")])
    b.put_record("g", {"customer_id": 2, "event_time": t(1), "extra": 5})
    assert a.get_record("g", 2)["extra"] == 5
    a.close(), b.close()


def test_offline_only_and_online_only_groups(fs):
    fs.create_feature_group("off", "customer_id", "event_time", CUSTOMER_FEATURES, online=False)
    fs.put_record("off", {"customer_id": 1, "event_time": t(1)})
    with pytest.raises(ValidationError, match="no online store"):
        fs.get_record("off", 1)
    assert len(fs.as_of("off")) == 1
    fs.create_feature_group("on", "customer_id", "event_time", CUSTOMER_FEATURES, offline=False)
    fs.put_record("on", {"customer_id": 1, "event_time": t(1)})
    assert fs.get_record("on", 1) is not None
    with pytest.raises(ValidationError, match="no offline store"):
        fs.as_of("on")


def test_tag_edits_and_extra_merge_in_one_transaction(fs, customers):
    g = fs.update_feature_group(customers, add_tags={"a": "1", "b": "2"}, remove_tags=["team"], extra={"RoleArn": "r"})
    assert g.tags == {"a": "1", "b": "2"} and g.extra == {"RoleArn": "r"}
    g = fs.update_feature_group(customers, extra={"Throughput": "x"})
    assert g.extra == {"RoleArn": "r", "Throughput": "x"}
    with pytest.raises(ValidationError, match="at most 50"):
        fs.update_feature_group(customers, add_tags={str(i): "v" for i in range(60)})


def test_feature_count_is_capped_by_sqlite_columns(fs):
    from store.model.schema import MAX_FEATURES

    many = [Feature("id", "Integral"), Feature("ts", "Fractional")] + [Feature(f"f{i}", "Fractional") for i in range(MAX_FEATURES - 2)]
    if fs.registry_location.startswith("postgresql"):  # every group has a staging table there
        cap = fs._ctx.db.max_features
        with pytest.raises(ValidationError, match=f"registry is on postgresql holds at most {cap} features"):
            fs.create_feature_group("wide", "id", "ts", many, online=False)
        fs.create_feature_group("narrow", "id", "ts", many[:cap])
        fs.put_record("narrow", {"id": 1, "ts": 1.0, f"f{cap - 3}": 2.0})
        assert fs.get_record("narrow", 1)[f"f{cap - 3}"] == 2.0
        with pytest.raises(ValidationError, match=f"at most {cap}"):
            fs.add_features("narrow", [Feature("one_more", "Integral")])
        return
    if fs.online_location.startswith("postgresql"):  # this backend's own, lower cap, said as such
        from store.online.postgres import MAX_FEATURES as PG_MAX

        with pytest.raises(ValidationError, match=f"PostgreSQL holds at most {PG_MAX}"):
            fs.create_feature_group("wide", "id", "ts", many)
        fs.create_feature_group("wide", "id", "ts", many, online=False)  # offline only: no cap but SQLite's
        fs.create_feature_group("narrow", "id", "ts", many[:PG_MAX])
        with pytest.raises(ValidationError, match=f"at most {PG_MAX}"):
            fs.add_features("narrow", [Feature("one_more", "Integral")])
        return
    fs.create_feature_group("wide", "id", "ts", many)
    fs.put_record("wide", {"id": 1, "ts": 1.0, f"f{MAX_FEATURES - 3}": 2.0})
    assert fs.get_record("wide", 1)[f"f{MAX_FEATURES - 3}"] == 2.0
    with pytest.raises(ValidationError, match="at most"):
        fs.add_features("wide", [Feature("one_more", "Integral")])


def test_search_takes_text_literally_and_finds_tags_as_shown(fs, customers):
    fs.create_feature_group("promo_rates", "id", "ts", [Feature("id", "Integral"), Feature("ts", "String"),
                                                         Feature("rate", "Fractional", description="50% off")],
                            tags={"pii": "false", "team": "growth"})
    assert [h["feature"] for h in fs.search("%")] == ["rate"]  # only what holds a '%'
    assert [(h["group"], h["feature"]) for h in fs.search("_")] == [
        ("promo_rates", None), ("customers", "customer_id"), ("customers", "event_time")]
    assert fs.search("r%e") == []
    assert [h["group"] for h in fs.search("team=risk")] == ["customers"]
    assert [h["group"] for h in fs.search("pii=f")] == ["promo_rates"]  # a value prefix
    assert fs.search("pii=true") == [] and fs.search("team=") != []
    assert fs.search("TEAM=GROWTH")[0]["matched"] == "tags"
