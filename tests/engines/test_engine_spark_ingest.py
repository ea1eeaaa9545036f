"""``fs.ingest(group, spark_dataframe)``: executors validate and write, the driver commits. The
store it leaves (offline history, online records, the report, the validation run, the
quarantine) is the one a pandas ingest of the same rows leaves; a refused batch or a failed job
leaves nothing."""
from __future__ import annotations

import pandas as pd
import pytest

from store import FeatureStore, IngestRejected
from store.demo import DATA_DIR, GROUPS, RULES
from tests.conftest import offline_files

pytestmark = pytest.mark.slow
TRANSACTIONS = next(g for g in GROUPS if g.name == "transactions")


def make(path, offline=None, registry=None):
    fs = FeatureStore(path, offline=offline, registry=registry)
    fs.create_feature_group("transactions", TRANSACTIONS.record_identifier, "event_time", TRANSACTIONS.features)
    fs.set_rules("transactions", RULES["transactions"])
    return fs


@pytest.fixture(scope="module")
def rows():
    """The sample's 12,000 transactions as exported (text ids, unicode), with bad rows mixed in:
    a repeated id in another part of the file, a negative amount, an unknown currency, a missing
    amount, a time that is not one, and a second version of an existing record."""
    data = pd.read_csv(f"{DATA_DIR}/transactions.csv", dtype={"transaction_id": str, "customer_id": "Int64"})
    bad = pd.DataFrame({
        "transaction_id": [data.transaction_id[10], "T9000001", "T9000002", "T9000003", "T9000004",
                           data.transaction_id[20]],
        "customer_id": [1, 2, 3, 4, 5, 6], "merchant_id": ["M0001"] * 6,
        "amount": [1.0, -5.0, 10.0, None, 3.0, 99.5], "currency": ["USD", "USD", "XXX", "EUR", "EUR", "EUR"],
        "category": ["café"] * 6, "channel": ["online"] * 6,
        "event_time": ["2026-09-01T00:00:00Z"] * 4 + ["yesterday", "2026-12-31T00:00:00Z"]})
    return pd.concat([data.iloc[:6000], bad, data.iloc[6000:]], ignore_index=True)


def comparable(report):
    errors = report.errors[["row", "feature", "value", "reason", "rule"]].reset_index(drop=True)
    return (report.rows_total, report.rows_written, report.rows_rejected, report.records_online, report.rows_warned,
            report.batch_failures, report.batch_warnings, report.rule_counts, errors.to_dict("records"))


def test_a_spark_ingest_leaves_the_store_a_pandas_ingest_leaves(spark, rows, tmp_path):
    with make(tmp_path / "pandas") as by_pandas, make(tmp_path / "spark") as by_spark:
        expected = by_pandas.ingest("transactions", rows, on_error="skip")
        frame = spark.createDataFrame(rows)  # partitions in the pandas order, so rows are numbered alike
        assert frame.rdd.getNumPartitions() >= 2
        got = by_spark.ingest("transactions", frame, on_error="skip")
        assert comparable(got) == comparable(expected)
        # Repeats are found across partitions (the file's own and the one added 6,000 rows later).
        assert got.rule_counts["transaction_id_unique"]["rejected"] == 2
        pd.testing.assert_frame_equal(got.rejected_rows(), expected.rejected_rows())
        assert got.files_written >= expected.files_written  # each executor writes its own files

        pd.testing.assert_frame_equal(by_spark.as_of("transactions"), by_pandas.as_of("transactions"))
        ids = list(rows.transaction_id.dropna().unique()[::500])
        for tid in ids:
            assert by_spark.get_record("transactions", tid) == by_pandas.get_record("transactions", tid)
            history = by_spark.history("transactions", tid).drop(columns=["write_time", "api_invocation_time"])
            pd.testing.assert_frame_equal(history, by_pandas.history("transactions", tid).drop(
                columns=["write_time", "api_invocation_time"]))
        for fs in (by_spark, by_pandas):
            runs = fs.validation_runs("transactions")
            assert runs[["rows_checked", "rows_written", "rows_rejected", "outcome"]].values.tolist() == [
                [len(rows), expected.rows_written, expected.rows_rejected, "partial"]]
            assert len(fs.quarantine("transactions")) == expected.rows_rejected
        n = by_spark.query("SELECT count(*) AS n, count(DISTINCT _seq) AS seqs FROM transactions")
        assert n["n"][0] == n["seqs"][0] == expected.rows_written  # every row its own sequence number


def test_a_refused_spark_batch_writes_nothing(spark, rows, tmp_path):
    with make(tmp_path / "s") as fs:
        fs.ingest("transactions", rows.iloc[:100])
        before = (fs.describe("transactions")["offline_rows"], offline_files(fs, "transactions"))
        with pytest.raises(IngestRejected, match="10 of 12,006 rows are invalid") as refused:
            fs.ingest("transactions", spark.createDataFrame(rows).repartition(3))
        assert refused.value.report.rows_rejected == fs.validate("transactions", rows).rows_rejected == 10
        assert (fs.describe("transactions")["offline_rows"], offline_files(fs, "transactions")) == before
        fs.set_rules("transactions", RULES["transactions"] + [{"check": "row_count", "max": 1000}])
        with pytest.raises(IngestRejected, match="rule row_count_max fails the batch|fails the batch"):
            fs.ingest("transactions", spark.createDataFrame(rows.iloc[200:5000]).repartition(2))
        assert (fs.describe("transactions")["offline_rows"], offline_files(fs, "transactions")) == before
        assert fs.validation_runs("transactions")["outcome"].tolist()[:2] == ["refused", "refused"]


def test_a_spark_job_that_fails_leaves_no_file_and_no_row(spark, rows, tmp_path):
    from pyspark.sql import functions as F

    with make(tmp_path / "s") as fs:
        fs.ingest("transactions", rows.iloc[:100])
        before = offline_files(fs, "transactions")
        # One partition's rows make the job fail after the other partitions wrote their files.
        boom = F.udf(lambda v: v if v != "T0009999" else int("boom"), "string")
        frame = spark.createDataFrame(rows.iloc[6000:]).repartition(4).withColumn(
            "transaction_id", boom("transaction_id"))
        with pytest.raises(Exception, match="boom"):
            fs.ingest("transactions", frame, on_error="skip")
        assert offline_files(fs, "transactions") == before
        assert fs.describe("transactions")["offline_rows"] == 100 and fs._ctx.files.interrupted() == []
        report = fs.ingest("transactions", spark.createDataFrame(rows.iloc[100:200]))  # the store takes writes
        assert report.rows_written == 100


def test_a_spark_ingest_writes_a_store_on_s3(spark, rows, s3_server, tmp_path, monkeypatch):
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    with make(tmp_path / "s3", offline=f"s3://featurestore-tests/ingest-{tmp_path.name}") as fs, \
            make(tmp_path / "local") as local:
        report = fs.ingest("transactions", spark.createDataFrame(rows), on_error="skip")
        assert report.rows_written == local.ingest("transactions", rows, on_error="skip").rows_written
        assert offline_files(fs, "transactions", "data")[0].startswith("featurestore-tests/ingest-")
        pd.testing.assert_frame_equal(fs.as_of("transactions"), local.as_of("transactions"))
        assert fs.query("SELECT count(*) AS n FROM transactions")["n"][0] == report.rows_written


def test_spark_ingests_and_builds_on_a_shared_store(spark, rows, s3_server, postgres_server, tmp_path, monkeypatch):
    """The shared deployment: files on S3, the store's tables on PostgreSQL."""
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    with make(tmp_path / "shared", offline=f"s3://featurestore-tests/shared-{tmp_path.name}",
              registry=postgres_server.url) as fs, make(tmp_path / "local") as local:
        report = fs.ingest("transactions", spark.createDataFrame(rows.iloc[:3000]), on_error="skip")
        assert report.rows_written == local.ingest("transactions", rows.iloc[:3000], on_error="skip").rows_written
        pd.testing.assert_frame_equal(fs.as_of("transactions"), local.as_of("transactions"))
        entity = fs.query("SELECT transaction_id, _event_time AS event_time FROM transactions LIMIT 500")
        on_spark = fs.build_dataset(entity, ["transactions"], engine="spark", spark=spark).to_arrow()
        assert on_spark.equals(fs.build_dataset(entity, ["transactions"]).to_arrow()) and on_spark.num_rows == 500
