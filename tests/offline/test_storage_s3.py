"""A store whose offline files are on S3 (a real SeaweedFS server on 127.0.0.1): how its location
is chosen and kept, the errors a wrong one gives, crash recovery, the CLI and the studio.

The engine suite itself (create, ingest, puts, deletes, time travel, datasets, compaction,
retention) runs on S3 too: see the modules marked ``storage``."""
from __future__ import annotations

import os
import uuid

import pandas as pd
import pyarrow as pa
import pytest
from click.testing import CliRunner

from store import Feature, FeatureStore, ValidationError
from store.cli import main
from store.errors import StorageUnavailable
from tests.conftest import S3_BUCKET, offline_files, t

FEATURES = [Feature("id", "Integral"), Feature("ts", "String"), Feature("x", "Fractional")]


@pytest.fixture
def s3(s3_server, monkeypatch):
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    return s3_server


def location() -> str:
    return f"s3://{S3_BUCKET}/{uuid.uuid4().hex[:12]}"


def test_the_location_is_kept_in_the_store_config_and_read_by_every_opener(s3, tmp_path):
    where = location()
    with FeatureStore(tmp_path / "s", offline=where) as fs:
        fs.create_feature_group("g", "id", "ts", FEATURES)
        fs.ingest("g", pd.DataFrame({"id": range(100), "ts": [t(1 + i % 3) for i in range(100)], "x": [i / 2 for i in range(100)]}))
        assert fs.offline_location == where
    assert open(tmp_path / "s" / "featurestore.yaml").read().startswith(f"offline: {where}")
    assert not any(f.endswith(".parquet") for _, _, fs_ in os.walk(tmp_path / "s") for f in fs_)  # none on disk
    with FeatureStore(tmp_path / "s") as fs:  # no offline= needed: the config says where
        assert len(fs.as_of("g")) == 100 and len(offline_files(fs, "g", "data")) == 3
        assert fs.query("SELECT sum(x) AS s FROM g")["s"][0] == sum(i / 2 for i in range(100))


def test_a_store_keeps_its_location(s3, tmp_path):
    with FeatureStore(tmp_path / "s", offline=location()):
        pass
    with pytest.raises(ValidationError, match="offline files are at s3://.*not s3://"):
        FeatureStore(tmp_path / "s", offline=location())
    with FeatureStore(tmp_path / "local") as fs:  # a store with files on disk cannot be pointed elsewhere
        fs.create_feature_group("g", "id", "ts", FEATURES)
        fs.ingest("g", pd.DataFrame({"id": [1], "ts": [t(1)], "x": [1.0]}))
    with pytest.raises(ValidationError, match="already keeps offline files in .*start a new store folder"):
        FeatureStore(tmp_path / "local", offline=location())


def test_a_missing_bucket_or_unreachable_server_is_named(s3, tmp_path, monkeypatch):
    with pytest.raises(ValidationError, match="The bucket 'no-such-bucket' does not exist at http://127.0.0.1.*aws s3 mb"):
        FeatureStore(tmp_path / "a", offline="s3://no-such-bucket/x")
    assert not (tmp_path / "a" / "featurestore.yaml").exists()  # a location that does not answer is not kept
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(StorageUnavailable, match=r"\(s3://.* at http://127.0.0.1:9\) does not answer while opening"):
        FeatureStore(tmp_path / "b", offline=location())
    with pytest.raises(ValidationError, match="use a folder or s3://bucket/prefix"):
        FeatureStore(tmp_path / "c", offline="gs://bucket/x")


def test_files_a_killed_writer_left_on_s3_are_cleared_by_the_next_writer(s3, tmp_path):
    import pyarrow.parquet as pq

    with FeatureStore(tmp_path / "s", offline=location()) as fs:
        fs.create_feature_group("g", "id", "ts", FEATURES)
        fs.ingest("g", pd.DataFrame({"id": [1], "ts": [t(1)], "x": [1.0]}))
        storage = fs._ctx.files.storage
        # What a writer killed between its upload and its commit leaves: its marker and an unlisted file.
        fs._ctx.files.mark_inflight("g")
        stray = storage.join(fs._ctx.files.data_dir("g"), "year=2024", "month=01", "day=01", "part-dead-00000.parquet")
        pq.write_table(pa.table({"id": [9]}), stray, filesystem=storage.fs)
        assert fs._ctx.files.interrupted() == ["g"] and len(offline_files(fs, "g", "data")) == 2
    with FeatureStore(tmp_path / "s") as fs:  # opening recovers
        assert fs._ctx.files.interrupted() == [] and len(offline_files(fs, "g", "data")) == 1
        assert fs.as_of("g")["id"].tolist() == [1]


def test_cli_init_puts_a_new_store_on_s3(s3, tmp_path):
    where = location()
    runner = CliRunner()
    store = str(tmp_path / "s")
    result = runner.invoke(main, ["--store", store, "init", "--offline", where])
    assert result.exit_code == 0, result.output
    assert f"offline files at {where}" in result.output
    result = runner.invoke(main, ["--store", store, "demo"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["--store", store, "query", "SELECT count(*) AS n FROM transactions"])
    assert result.exit_code == 0 and "11996" in result.output.replace(",", ""), result.output
    with FeatureStore(store) as fs:
        assert offline_files(fs, "transactions", "data") and fs.offline_location == where


@pytest.mark.slow
def test_the_studio_works_on_an_s3_store(s3, tmp_path, monkeypatch):
    """The sample store seeded onto S3, then the pages a user opens first."""
    from app.ui import session
    from store.demo import seed
    from tests.studio_support import button, ok, page, texts

    store, where = str(tmp_path / "s"), location()
    with FeatureStore(store, offline=where) as fs:
        seed(fs)
        expected = fs.query("SELECT count(*) AS n FROM transactions")["n"][0]
    monkeypatch.setenv("FEATURESTORE_HOME", store)
    try:
        at = ok(page("group", group="transactions"))
        assert f"{where}/transactions/data" in texts(at) and where in " ".join(c.value for c in at.sidebar.caption)
        at = ok(page("sql"))
        at.text_area(key="sql_text").set_value("SELECT count(*) AS n FROM transactions")
        ok(button(at, "Run").click().run())
        assert at.dataframe[0].value["n"].tolist() == [expected] and expected > 10_000
        at = ok(page("time_travel", group="customers"))
        ok(button(at, "Travel").click().run())
        assert at.dataframe[0].value["customer_id"].nunique() > 100
        at = ok(page("storage"))
        assert "transactions" in at.dataframe[0].value.to_string()
    finally:
        session._open.clear()
