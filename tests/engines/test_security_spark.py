"""Issue 19 (D18 and D14 on Spark): a viewer's Spark SQL cannot reach the JVM, the process or
files (reflect/java_method read the environment and System.exit killed the JVM), and Spark's
statistics take feature names that collide with its aliases and groups with no numeric feature."""
from __future__ import annotations

import pandas as pd
import pytest
from install_support import need

need("pyspark", "The Spark engine tests")

from store import Feature, FeatureStore, ValidationError  # noqa: E402

pytestmark = pytest.mark.slow
SECRET = "s3cr3t-from-the-environment"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("spark-sec") / "store"
    with FeatureStore(path) as fs:
        for name in ("open", "hidden"):
            fs.create_feature_group(name, "id", "ts", [Feature("id", "Integral"), Feature("ts"), Feature("v"),
                                                       Feature("n", "Integral")])
            fs.ingest(name, pd.DataFrame({"id": [1, 2, 3], "ts": ["2026-01-01T00:00:00Z"] * 3, "v": ["a", "b", "a"],
                                          "n": [5, 5, 7]}))
        fs.create_feature_group("text", "id", "ts", [Feature("id"), Feature("ts")])
        fs.ingest("text", pd.DataFrame({"id": ["r1", "r2", "r3"], "ts": ["2026-01-01T00:00:00Z"] * 3}))
    (path / "access.yaml").write_text("users:\n  - name: vic\n    roles: [{role: viewer, groups: [open, text]}]\n")
    return path


REFUSED = [
    ("SELECT java_method('java.lang.System', 'getenv', 'FEATURESTORE_DEMO_SECRET') AS e", "java_method"),
    ("SELECT reflect('java.lang.System', 'exit', 3)", "reflect"),
    ("SELECT REFLECT('java.lang.System', 'getProperty', 'user.home') AS h FROM open", "REFLECT"),
    ("SELECT `java_method`('java.lang.System', 'exit', 3)", "java_method"),
    ("SELECT id FROM open WHERE id IN (SELECT max(try_reflect('java.lang.System', 'exit', 3)) FROM text)",
     "try_reflect"),
    ("WITH a AS (SELECT reflect('java.lang.System', 'exit', 3) AS x) SELECT * FROM a", "reflect"),
    ("SELECT transform(array(1), x -> java_method('java.lang.System', 'exit', 3)) FROM open", "java_method"),
    ("SELECT system.builtin.reflect('java.lang.System', 'exit', 3)", "reflect"),
    ("SELECT IDENTIFIER('reflect')('java.lang.System', 'exit', 3)", "UnresolvedIdentifier"),
    ("SELECT TRANSFORM(id) USING 'cat' AS (b) FROM open", "ScriptTransformation"),
    ("SELECT * FROM read_files('/etc')", "read_files"),
    ("SELECT * FROM parquet.`{path}/offline/hidden/data`", "no feature group parquet"),
    ("SELECT * FROM csv.`/etc/passwd`", "no feature group csv"),
    ("SELECT * FROM hidden", "no feature group hidden"),
    ("SELECT * FROM open JOIN default.hidden USING (id)", "no feature group default.hidden"),
]


@pytest.mark.parametrize("sql, named", REFUSED, ids=[f"{i}" for i in range(len(REFUSED))])
def test_a_viewers_spark_sql_cannot_reach_the_jvm_or_files(spark, store, monkeypatch, sql, named):
    monkeypatch.setenv("FEATURESTORE_DEMO_SECRET", SECRET)
    with FeatureStore(store, principal="vic") as vic:
        with pytest.raises(ValidationError, match=named):
            vic.query(sql.format(path=store), engine="spark", spark=spark)
        # The JVM is alive and the views still answer.
        assert vic.query("SELECT count(*) AS n FROM open", engine="spark", spark=spark)["n"].iloc[0] == 3


def test_spark_sql_does_not_substitute_the_environment_and_still_reads(spark, store, monkeypatch):
    monkeypatch.setenv("FEATURESTORE_DEMO_SECRET", SECRET)
    with FeatureStore(store, principal="vic") as vic:
        got = vic.query("SELECT '${env:FEATURESTORE_DEMO_SECRET}' AS e, '${spark:spark.app.name}' AS a",
                        engine="spark", spark=spark)
        assert SECRET not in got.to_string() and "featurestore" not in got.to_string()
        sql = ("WITH o AS (SELECT v, n FROM OPEN) SELECT upper(v) AS v, count(*) AS c, sum(x) AS s "
               "FROM o LATERAL VIEW explode(array(n)) t AS x GROUP BY upper(v) ORDER BY v")
        assert vic.query(sql, engine="spark", spark=spark).to_dict("list") == {"v": ["A", "B"], "c": [2, 1],
                                                                               "s": [12, 5]}
        with pytest.raises(ValidationError, match="Spark error"):  # a runtime error of the query: no raw exception
            vic.query("SELECT CAST(v AS INT) + 9223372036854775807 AS n FROM open", engine="spark", spark=spark)


def test_spark_statistics_with_alias_names_and_no_numeric_feature(spark, store):
    with FeatureStore(store, principal="vic") as fs:
        for group in ("open", "text"):
            for scope in ("history", "latest"):
                duck = fs.statistics(group, scope)
                got = fs.statistics(group, scope, engine="spark", spark=spark)
                pd.testing.assert_frame_equal(got, duck, check_dtype=False)
        assert fs.statistics("open").set_index("feature").loc["v", "top_values"] == "a, b"
