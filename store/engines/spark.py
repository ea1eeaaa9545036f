"""Apache Spark as an offline query engine: the same views ``FeatureStore.query`` gives DuckDB,
read from the manifest's file list (never a folder glob that could take in unlisted, orphaned or
trashed files), queried with Spark SQL, returned as Arrow.

The session is the one given (``spark=``), else a ``local[*]`` one made once per process. Only
``SELECT``/``WITH`` statements run, and reading files by path in SQL is switched off, so a query
sees the store's groups (those its principal may read) and nothing else. Encrypted stores are not
readable by Spark here: it would need the key in its Hadoop configuration.
"""
from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import ValidationError

if TYPE_CHECKING:
    import pyarrow as pa

    from ..featurestore import FeatureStore

_lock = threading.Lock()
_session: Any = None
_READ_ONLY = re.compile(r"^\s*(--[^\n]*\n\s*|/\*.*?\*/\s*)*(select|with)\b", re.IGNORECASE | re.DOTALL)


def session(spark: Any = None) -> Any:
    """``spark``, or this process's local session (UTC, no web UI), made on first use."""
    global _session
    if spark is not None:
        return spark
    with _lock:
        if _session is None:
            try:
                from pyspark.sql import SparkSession
            except ImportError:
                raise ValidationError("engine='spark' needs pyspark (pip install 'featurestore[spark]') and "
                                      "Java 17 or later") from None
            _session = (SparkSession.builder.master("local[*]").appName("featurestore")
                        .config("spark.ui.enabled", "false").config("spark.sql.session.timeZone", "UTC")
                        .config("spark.sql.execution.arrow.pyspark.enabled", "true").getOrCreate())
        return _session


def query(fs: "FeatureStore", sql: str, groups: Sequence[str], limit: int | None, spark: Any = None) -> "pa.Table":
    """Run read-only Spark SQL over ``groups`` (each a view named like the group)."""
    if not _READ_ONLY.match(sql):
        raise ValidationError("engine='spark' runs read-only queries: start the statement with SELECT or WITH")
    if fs._files.key is not None:
        raise ValidationError("Spark cannot read an encrypted store yet; query it with engine='duckdb'")
    # A session of its own per query (same cluster): views of one principal's query never linger
    # for the next, and the settings below stay local.
    spark = session(spark).newSession()
    spark.conf.set("spark.sql.runSQLOnFiles", "false")  # no `parquet.`/any/path`` in the SQL
    groups = _named(sql, groups)
    for group in groups:
        fs.flush(group)  # every row in Parquet, so the file list is the whole history
    snaps = fs._snapshots(list(groups))
    for snap in snaps:
        paths = [p for ps in snap.files.values() for p in ps]
        if snap.store:  # files compaction moved to _trash/ since they were listed
            paths = snap.store.readable(snap.group.name, paths)
        _view(spark, snap, paths)
    try:
        frame = spark.sql(sql)
        if limit is not None:
            frame = frame.limit(int(limit))
        return frame.toArrow()
    except Exception as exc:  # Spark's analysis and parse errors: one plain line
        if type(exc).__name__ in ("AnalysisException", "ParseException", "PySparkException", "SparkRuntimeException"):
            raise ValidationError(f"Spark SQL error: {str(exc).splitlines()[0]}") from None
        raise


def _named(sql: str, groups: Sequence[str]) -> list[str]:
    """The groups the SQL reads, where DuckDB's parser can tell (Spark's dialect differs: else all),
    so a query over one group does not read every group's file footers."""
    from ..query import read_only_tables

    try:
        named = read_only_tables(sql)
    except ValidationError:
        named = frozenset()
    return [g for g in groups if g in named] if named else list(groups)


def _view(spark: Any, snap: Any, paths: list[str]) -> None:
    """The group's history as a temporary view with every column of its current schema."""
    from ..offline import arrow_schema

    schema = arrow_schema(snap.group)
    empty = spark.createDataFrame(schema.empty_table())
    frame = empty
    if paths:
        read = spark.read.option("mergeSchema", "true").parquet(*paths)
        frame = empty.unionByName(read, allowMissingColumns=True)
    if snap.staged.num_rows:
        frame = frame.unionByName(spark.createDataFrame(snap.staged), allowMissingColumns=True)
    frame.createOrReplaceTempView(snap.group.name)
