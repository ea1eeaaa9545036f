"""Spark as the offline query engine: the same answers as DuckDB on the sample store (full
history views, staged rows included, features added after files were written), read from the
manifest's file list only; read-only; a principal's Spark SQL sees only its groups."""
from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest

pyspark = pytest.importorskip("pyspark", reason="the Spark engine tests need pyspark (the test extra installs it)")

from store import Feature, FeatureStore, ValidationError  # noqa: E402
from store.demo import seed  # noqa: E402

pytestmark = pytest.mark.slow
QUERIES = [
    "SELECT count(*) AS n, sum(amount) AS total FROM transactions",
    "SELECT category, count(*) AS n, round(avg(amount), 6) AS mean FROM transactions GROUP BY category "
    "ORDER BY category",
    "SELECT c.risk_segment, count(*) AS n FROM transactions t JOIN customers c ON t.customer_id = c.customer_id "
    "WHERE NOT c.is_deleted GROUP BY c.risk_segment ORDER BY c.risk_segment",
    "SELECT merchant_id, max(_event_time) AS last_event, count(*) AS versions FROM merchants GROUP BY merchant_id "
    "ORDER BY merchant_id",
    "SELECT customer_id, event_time, spend_7d FROM customer_spend ORDER BY event_time, customer_id LIMIT 50",
]


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("featurestore-tests")
               .config("spark.ui.enabled", "false").config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.shuffle.partitions", "4").getOrCreate())
    yield session
    session.stop()


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    path = tmp_path_factory.mktemp("spark") / "store"
    with FeatureStore(path) as fs:
        seed(fs)
    return path


@pytest.mark.parametrize("sql", QUERIES)
def test_spark_answers_as_duckdb_does(spark, sample, sql):
    with FeatureStore(sample) as fs:
        duck = fs.query(sql)
        got = fs.query(sql, engine="spark", spark=spark)
    assert list(got.columns) == list(duck.columns)
    pd.testing.assert_frame_equal(got, duck, check_dtype=False)


def test_staged_rows_and_added_features_are_in_the_spark_views(spark, tmp_path):
    with FeatureStore(tmp_path / "s") as fs:
        fs.create_feature_group("g", "id", "ts", [Feature("id", "Integral"), Feature("ts", "String")])
        fs.ingest("g", pd.DataFrame({"id": [1, 2], "ts": ["2026-10-01T00:00:00Z"] * 2}))
        fs.add_features("g", [Feature("score", "Fractional")])
        fs.put_record("g", {"id": 3, "ts": "2026-10-02T00:00:00Z", "score": 0.5})  # in the buffer
        os.makedirs(f"{fs.path}/offline/g/data/stray", exist_ok=True)
        shutil.copy(next(p for p in __import__("glob").glob(f"{fs.path}/offline/g/data/**/*.parquet",
                                                             recursive=True)), f"{fs.path}/offline/g/data/stray/x.parquet")
        sql = "SELECT id, score FROM g ORDER BY id"
        got = fs.query(sql, engine="spark", spark=spark)
        assert got["id"].tolist() == [1, 2, 3]  # the stray file the manifest does not list is not read
        assert got["score"].isna().tolist() == [True, True, False]
        pd.testing.assert_frame_equal(got, fs.query(sql), check_dtype=False)


def test_spark_sql_is_read_only_and_cannot_read_files_by_path(spark, sample):
    with FeatureStore(sample) as fs:
        with pytest.raises(ValidationError, match="read-only"):
            fs.query("CREATE TABLE x AS SELECT 1", engine="spark", spark=spark)
        with pytest.raises(ValidationError, match="Spark SQL error"):
            fs.query(f"SELECT * FROM parquet.`{fs.path}/offline/customers/data`", engine="spark", spark=spark)
        with pytest.raises(ValidationError, match="Spark SQL error"):
            fs.query("SELECT * FROM nowhere", engine="spark", spark=spark)


def test_a_principal_sees_only_its_groups_in_spark(spark, sample):
    (sample / "access.yaml").write_text("users:\n  - name: vera\n    roles: [{role: viewer, groups: [merchants]}]\n")
    try:
        with FeatureStore(sample, principal="vera") as fs:
            assert fs.query("SELECT count(*) AS n FROM merchants", engine="spark", spark=spark)["n"].iloc[0] > 0
            with pytest.raises(ValidationError, match="Spark SQL error"):
                fs.query("SELECT count(*) FROM customers", engine="spark", spark=spark)
    finally:
        (sample / "access.yaml").unlink()
