"""Spark on groups keyed by several columns: its point-in-time join matches DuckDB's on generated
histories of a group keyed by (id, part), and a Spark ingest leaves the store a pandas ingest
leaves, the whole-key ``unique`` rule judged across partitions."""
from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from install_support import need

pyspark = need("pyspark", "The Spark engine tests")

from store import Feature, FeatureStore  # noqa: E402
from test_property import (GROUP, KEYS, PART, QUERY_TIMES, Harness, entity_rows, ev_value,  # noqa: E402
                           event_time_names, operations_with_maintenance, property_settings, time_kinds)

pytestmark = pytest.mark.slow


@property_settings(10)
@given(kind=time_kinds, et_name=event_time_names, ops=operations_with_maintenance, rows=entity_rows,
       options=st.fixed_dictionaries({"write_time_guard": st.booleans(), "include_duplicates": st.booleans()}))
def test_spark_joins_every_key_column_as_duckdb_does(spark, kind, et_name, ops, rows, options):
    with Harness(kind, et_name, composite=True) as h:
        for op in ops:
            h.apply(op)
        ts = [None if i < 0 else ev_value(kind, QUERY_TIMES[i]) for _, i, _ in rows]
        entity = pd.DataFrame({"id": [KEYS[r[0]][0] for r in rows], PART: [KEYS[r[0]][1] for r in rows],
                               "ts": pd.Series(ts, dtype="float64" if kind == "epoch" else object),
                               "label": [r[2] for r in rows]})
        if kind == "iso" and all(t is None for t in ts):
            entity["ts"] = entity["ts"].astype("string")
        duck = h.fs.build_dataset(entity, [GROUP], "ts", record=False, **options)
        got = h.fs.build_dataset(entity, [GROUP], "ts", record=False, engine="spark", spark=spark, **options)
        assert got.table.equals(duck.table), (h.log, options)


def test_a_spark_ingest_of_a_composite_key_group_equals_a_pandas_one(spark, tmp_path):
    n = 3000
    rows = pd.DataFrame({"merchant_id": [f"m{i % 11}" for i in range(n)], "terminal_id": [i % 13 for i in range(n)],
                         "ts": [f"2026-10-{1 + i % 28:02d}T00:00:00Z" for i in range(n)],
                         "amount": [float(i) for i in range(n)]})
    features = [Feature("merchant_id"), Feature("terminal_id", "Integral"), Feature("ts"), Feature("amount", "Fractional")]

    def make(path):
        fs = FeatureStore(path)
        fs.create_feature_group("terminals", ["merchant_id", "terminal_id"], "ts", features)
        fs.set_rules("terminals", [{"check": "unique", "severity": "warn"}])
        return fs

    with make(tmp_path / "pandas") as by_pandas, make(tmp_path / "spark") as by_spark:
        expected = by_pandas.ingest("terminals", rows)
        frame = spark.createDataFrame(rows)
        assert frame.rdd.getNumPartitions() >= 2
        got = by_spark.ingest("terminals", frame)
        assert (got.rows_written, got.records_online, got.rows_warned) == (
            expected.rows_written, expected.records_online, expected.rows_warned) == (n, 143, n - 143)
        pd.testing.assert_frame_equal(by_spark.as_of("terminals"), by_pandas.as_of("terminals"))
        for key in [("m0", 0), ("m3", 7), ("m10", 12)]:
            assert by_spark.get_record("terminals", key) == by_pandas.get_record("terminals", key)
        assert by_spark.list_record_ids("terminals", limit=500) == by_pandas.list_record_ids("terminals", limit=500)


def test_a_service_with_on_demand_features_builds_the_same_rows_on_spark(spark, tmp_path):
    """build_dataset("service:NAME") on Spark: the join is Spark's, the on-demand outputs the same
    definition's, so the rows equal DuckDB's and the columns the online vector's."""
    from store import OnDemandFeature

    n = 2000
    fs = FeatureStore(tmp_path / "store")
    fs.create_feature_group("terminals", ["merchant_id", "terminal_id"], "ts", [
        Feature("merchant_id"), Feature("terminal_id", "Integral"), Feature("ts"), Feature("avg_amount", "Fractional")])
    fs.ingest("terminals", pd.DataFrame({"merchant_id": [f"m{i % 11}" for i in range(n)],
                                         "terminal_id": [i % 13 for i in range(n)],
                                         "ts": [f"2026-10-{1 + i % 28:02d}T00:00:00Z" for i in range(n)],
                                         "avg_amount": [float(i % 50) for i in range(n)]}))
    fs.register_on_demand(OnDemandFeature("vs_avg", inputs=["terminals:avg_amount"], request={"amount": "Fractional"},
                                          outputs=[Feature("amount_vs_avg", "Fractional"), Feature("band")],
                                          sql={"amount_vs_avg": "amount / NULLIF(avg_amount, 0)",
                                               "band": "CASE WHEN amount > 2 * avg_amount THEN 'high' ELSE 'usual' END"}))
    fs.create_feature_service("terminal_risk", ["terminals:avg_amount", "on_demand:vs_avg"])
    entity = pd.DataFrame({"merchant_id": [f"m{i % 12}" for i in range(300)], "terminal_id": [i % 13 for i in range(300)],
                           "ts": [f"2026-10-{1 + i % 30:02d}T12:00:00Z" for i in range(300)],
                           "amount": [float(i % 97) for i in range(300)]})
    duck = fs.build_dataset(entity, "service:terminal_risk", "ts", record=False)
    got = fs.build_dataset(entity, "service:terminal_risk", "ts", record=False, engine="spark", spark=spark)
    assert got.table.equals(duck.table)
    assert got.table.column_names[-2:] == ["amount_vs_avg", "band"]
    assert got.table.column("amount_vs_avg").null_count > 0 and set(got.table.column("band").to_pylist()) == {
        "high", "usual"}
    fs.close()
