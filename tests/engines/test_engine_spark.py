"""Spark as the offline query engine: the same answers as DuckDB on the sample store (full
history views, staged rows included, features added after files were written), read from the
manifest's file list only; read-only; a principal's Spark SQL sees only its groups."""
from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest
from install_support import need

pyspark = need("pyspark", "The Spark engine tests")

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


def test_spark_reads_history_written_under_every_definition_version(spark, tmp_path):
    with FeatureStore(tmp_path / "s") as fs:
        fs.create_feature_group("g", "id", "ts", [Feature("id", "Integral"), Feature("ts", "String"),
                                                  Feature("amt", "Integral"), Feature("x", "Fractional"),
                                                  Feature("note", "String")])
        fs.ingest("g", pd.DataFrame({"id": [1, 2, 3], "ts": ["2026-10-01T00:00:00Z"] * 3, "amt": [1, 2, 3],
                                     "x": [2.0, 1e15, 0.1], "note": ["a", "b", "c"]}))
        fs.change_features("g", rename={"amt": "amount"}, retype={"x": "String"}, drop=["note"])
        fs.change_features("g", retype={"amount": "Fractional"})
        fs.put_record("g", {"id": 4, "ts": "2026-10-02T00:00:00Z", "amount": 4.5, "x": "text"})
        sql = "SELECT id, amount, x FROM g ORDER BY id"
        got = fs.query(sql, engine="spark", spark=spark)
        assert got["x"].tolist() == ["2.0", "1000000000000000.0", "0.1", "text"]  # as Python and DuckDB write them
        pd.testing.assert_frame_equal(got, fs.query(sql), check_dtype=False)
        entity = pd.DataFrame({"id": [1, 2, 4], "event_time": ["2026-10-03T00:00:00Z"] * 3})
        pd.testing.assert_frame_equal(fs.build_dataset(entity, ["g"], engine="spark", spark=spark, record=False)
                                      .to_pandas(), fs.build_dataset(entity, ["g"], record=False).to_pandas(),
                                      check_dtype=False)


def test_spark_sql_is_read_only_and_cannot_read_files_by_path(spark, sample):
    with FeatureStore(sample) as fs:
        with pytest.raises(ValidationError, match="read-only"):
            fs.query("CREATE TABLE x AS SELECT 1", engine="spark", spark=spark)
        with pytest.raises(ValidationError, match="Spark SQL error"):
            fs.query(f"SELECT * FROM parquet.`{fs.path}/offline/customers/data`", engine="spark", spark=spark)
        with pytest.raises(ValidationError, match="Spark SQL error"):
            fs.query("SELECT * FROM nowhere", engine="spark", spark=spark)


def test_a_principal_sees_only_its_groups_in_spark(spark, sample):
    (sample / "access.yaml").write_text("users:\n  - name: vera\n    roles: [{role: viewer, groups: [merchants]}]\n"
                                        "  - name: root\n    roles: [{role: admin}]\n")
    try:
        with FeatureStore(sample, principal="vera") as fs:
            assert fs.query("SELECT count(*) AS n FROM merchants", engine="spark", spark=spark)["n"].iloc[0] > 0
            with pytest.raises(ValidationError, match="Spark SQL error"):
                fs.query("SELECT count(*) FROM customers", engine="spark", spark=spark)
    finally:  # a store that had a policy opens without it only once an admin removes it
        with FeatureStore(sample, principal="root") as root:
            root.remove_access_policy()


# ----------------------------------------------------------------------------- datasets and statistics

DATASET_OPTIONS = [
    {},
    {"write_time_guard": True, "include_duplicates": True},
    {"include_deleted": True, "ttl_lookback": True},
    {"known_at": "2026-10-15T00:00:00Z", "event_time_range": ("2026-09-10T00:00:00Z", None)},
]


@pytest.fixture(scope="module")
def entity(sample):
    """Transactions a day after they happened, labelled with their amount: 4,000 rows over every day."""
    with FeatureStore(sample) as fs:
        return fs.query("SELECT customer_id, merchant_id, _event_time + INTERVAL 1 DAY AS event_time, amount AS label "
                        "FROM transactions ORDER BY transaction_id LIMIT 4000")


@pytest.mark.parametrize("options", DATASET_OPTIONS, ids=lambda o: "+".join(o) or "defaults")
def test_spark_builds_the_dataset_duckdb_builds(spark, sample, entity, options):
    with FeatureStore(sample) as fs:
        features = ["customers", "merchants:risk_score", "customer_spend"]
        duck = fs.build_dataset(entity, features, record=False, **options)
        got = fs.build_dataset(entity, features, record=False, engine="spark", spark=spark, **options)
    assert got.table.schema.equals(duck.table.schema)
    assert got.table.equals(duck.table)  # same rows, in the entity's order, same values and nulls
    assert got.coverage == duck.coverage
    if not {"write_time_guard", "known_at"} & set(options):  # (the sample's rows were all written today)
        assert duck.coverage["rows_without_any_feature"] < len(entity) // 10
    assert "ASOF" not in got.sql and "row_number()" in got.sql


@pytest.mark.parametrize("scope", ["history", "latest"])
def test_spark_statistics_equal_duckdbs(spark, sample, scope):
    with FeatureStore(sample) as fs:
        for group in ("transactions", "customers"):
            duck = fs.statistics(group, scope)
            got = fs.statistics(group, scope, engine="spark", spark=spark)
            exact = [c for c in duck.columns if c not in ("mean", "std", "p05", "p25", "median", "p75", "p95")]
            pd.testing.assert_frame_equal(got[exact], duck[exact])
            # Sums in another order differ in the last bits; nothing more.
            pd.testing.assert_frame_equal(got.drop(columns=exact), duck.drop(columns=exact), rtol=1e-12)
            assert duck["top_values"].notna().any() and duck["p95"].notna().any()


def test_spark_reads_a_store_on_s3_through_pyarrow_without_the_hadoop_connector(spark, s3_server, tmp_path,
                                                                                  monkeypatch):
    from store.engines.spark import _has_s3a

    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    assert not _has_s3a(spark)  # this machine's Spark has no hadoop-aws: the pyarrow reader is what runs
    with FeatureStore(tmp_path / "s", offline=f"s3://featurestore-tests/spark-{tmp_path.name}") as fs:
        seed(fs)
        sql = "SELECT category, count(*) AS n, round(sum(amount), 4) AS total FROM transactions GROUP BY 1 ORDER BY 1"
        pd.testing.assert_frame_equal(fs.query(sql, engine="spark", spark=spark), fs.query(sql), check_dtype=False)
        ent = fs.query("SELECT customer_id, _event_time AS event_time FROM transactions ORDER BY transaction_id "
                       "LIMIT 500")
        duck = fs.build_dataset(ent, ["customers", "customer_spend"], record=False)
        assert fs.build_dataset(ent, ["customers", "customer_spend"], record=False, engine="spark",
                                spark=spark).table.equals(duck.table)


# ----------------------------------------------------------------------------- generated histories

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_property import (GROUP, QUERY_TIMES, Harness, entity_rows, ev_value, event_time_names,  # noqa: E402
                           operations_with_maintenance, property_settings, time_kinds)


@property_settings(12)
@given(kind=time_kinds, et_name=event_time_names, ops=operations_with_maintenance, rows=entity_rows,
       options=st.fixed_dictionaries({"write_time_guard": st.booleans(), "include_deleted": st.booleans(),
                                      "include_duplicates": st.booleans()}),
       known=st.none() | st.integers(0, 13))
def test_spark_and_duckdb_build_the_same_dataset_on_generated_histories(spark, kind, et_name, ops, rows, options,
                                                                        known):
    """The property tests' histories (puts, deletes, ingests, flushes, reopenings; ties, tombstones,
    late data), joined by both engines with the options that change the join."""
    with Harness(kind, et_name) as h:
        for op in ops:
            h.apply(op)
        ts = [None if i < 0 else ev_value(kind, QUERY_TIMES[i]) for _, i, _ in rows]
        entity = pd.DataFrame({"id": [r[0] for r in rows], "ts": pd.Series(ts, dtype="float64" if kind == "epoch"
                                                                          else object), "label": [r[2] for r in rows]})
        if kind == "iso" and all(t is None for t in ts):
            entity["ts"] = entity["ts"].astype("string")
        known_at = None if known is None else pd.Timestamp(h.instants[min(known, h.calls)], unit="us", tz="UTC")
        duck = h.fs.build_dataset(entity, [GROUP], "ts", known_at=known_at, record=False, **options)
        got = h.fs.build_dataset(entity, [GROUP], "ts", known_at=known_at, record=False, engine="spark", spark=spark,
                                 **options)
        assert got.table.equals(duck.table), (h.log, options, known)


def test_collections_unicode_nulls_and_large_numbers_come_back_the_same(spark, tmp_path):
    """Lists and vectors, non-ASCII identifiers, null features and keys, integers near 2**40 (whose
    spread once differed between the engines in the sixth digit), a tombstone and a buffered put."""
    import numpy as np

    n = 300
    with FeatureStore(tmp_path / "s") as fs:
        fs.create_feature_group("g", "id", "ts", [
            Feature("id", "String"), Feature("ts", "Fractional"), Feature("x", "Fractional"),
            Feature("tags", "String", collection="List"), Feature("vec", "Fractional", collection="Vector", dimension=2),
            Feature("n", "Integral")])
        fs.ingest("g", pd.DataFrame({
            "id": [f"é{i % 40}" for i in range(n)], "ts": 1.7e9 + np.arange(n) * 60.0,
            "x": [None if i % 13 == 0 else i / 3 for i in range(n)],
            "tags": [None if i % 11 == 0 else ["a", "ü" * (i % 3)] for i in range(n)],
            "vec": [[i * 0.5, -1.0] for i in range(n)], "n": [None if i % 7 == 0 else 2**40 + i for i in range(n)]}))
        fs.delete_record("g", "é3", 1.7e9 + 10_000)
        fs.put_record("g", {"id": "é5", "ts": 1.7e9 + 5_000, "x": 1.0})
        entity = pd.DataFrame({"id": [f"é{i}" for i in range(45)] + [None],
                               "t": [1.7e9 + 9_000 + i * 100 for i in range(45)] + [1.7e9 + 1e6]})
        for options in ({}, {"include_duplicates": True}):
            duck = fs.build_dataset(entity, ["g"], "t", record=False, **options).table
            assert fs.build_dataset(entity, ["g"], "t", record=False, engine="spark", spark=spark,
                                    **options).table.equals(duck)
        for scope in ("history", "latest"):
            duck = fs.statistics("g", scope)
            pd.testing.assert_frame_equal(fs.statistics("g", scope, engine="spark", spark=spark), duck, rtol=1e-12)
        from fractions import Fraction
        from statistics import variance

        exact = float(variance([Fraction(2**40 + i) for i in range(n) if i % 7])) ** 0.5  # the history's n values
        assert abs(fs.statistics("g").set_index("feature").loc["n", "std"] - exact) < 1e-9 * exact
