"""Apache Spark as an offline query engine: the same views, joins and statistics DuckDB gives,
with the same answers, for work past one machine.

Every group is read from its snapshot's file list (never a folder glob that could take in
unlisted, orphaned or trashed files) plus its staged rows, as a view with every column of the
group's current schema. The session is the one given (``spark=``), else a ``local[*]`` one made
once per process; each call works in a ``newSession()`` of it, so one call's views never linger
for the next. User SQL is read-only and cannot name files. Files on S3 are read through
``s3a://`` when the session has the Hadoop AWS connector (see the README), else by the
executors through pyarrow.fs (the store's package must be installed where they run).
Encrypted stores are not readable by Spark here: it would need the key in its Hadoop configuration.

A user's statement is parsed by Spark's own parser and checked before it runs (``check_sql``):
only Spark's built-in functions less those that reach the JVM, the process or files
(``reflect``, ``java_method``, ...), only the group views and the statement's own CTEs as
relations, and no ``TRANSFORM ... USING`` script or computed ``IDENTIFIER(...)``; ``${...}``
substitution (which reads the environment and Spark's configuration) is off.
"""
from __future__ import annotations

import json
import re
import threading
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from ..offline import snapshot as query
from ..errors import ValidationError
from .base import Engine, JoinPlan, ReadContext
from .plans import HISTORY, spread_aggregates, summary_aggregates

if TYPE_CHECKING:
    import pyarrow as pa

    from ..offline.snapshot import GroupSnapshot
    from ..model.schema import FeatureGroup

_lock = threading.Lock()
_session: Any = None
_READ_ONLY = re.compile(r"^\s*(--[^\n]*\n\s*|/\*.*?\*/\s*)*(select|with)\b", re.IGNORECASE | re.DOTALL)
_SPARK_ERRORS = ("AnalysisException", "ParseException", "PySparkException", "SparkRuntimeException")
# Built-in functions a query may not call: they run Java methods by name (one reads the process's
# environment, another System.exit kills the JVM), read descriptor files, or parse XML, whose
# external entities reach files and the network.
DENIED_FUNCTIONS = frozenset({"reflect", "java_method", "try_reflect", "from_protobuf", "to_protobuf", "xpath",
                              "xpath_boolean", "xpath_double", "xpath_float", "xpath_int", "xpath_long",
                              "xpath_number", "xpath_short", "xpath_string", "from_xml", "schema_of_xml"})
# Plan nodes a query may not hold: a script run by the executors, writes, and names computed at
# run time (IDENTIFIER('...')), which the checks here cannot see.
_DENIED_NODES = re.compile(r"ScriptTransformation|Command|Statement|UnresolvedIdentifier")
_builtins: frozenset[str] | None = None


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
            _session = local_builder(SparkSession.builder, "local[*]").getOrCreate()
        return _session


def local_builder(builder: Any, master: str) -> Any:
    """A builder for a session on this machine: UTC, no web UI or console progress bars, and
    shuffles sized for a few cores rather than a cluster's 200 partitions."""
    import os

    return (builder.master(master).appName("featurestore").config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false").config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.shuffle.partitions", str(max(4, 2 * (os.cpu_count() or 2))))
            .config("spark.sql.execution.arrow.pyspark.enabled", "true"))


def bq(name: str) -> str:
    """A name quoted for Spark SQL."""
    return "`" + name.replace("`", "``") + "`"


def ts(us: int) -> str:
    return f"timestamp_micros({int(us)})"


class SparkEngine(Engine):
    name = "spark"
    takes_session = True

    def __init__(self, spark: Any = None) -> None:
        self.spark = session(spark)

    def _session(self, snaps: Sequence["GroupSnapshot"]) -> Any:
        """A session of its own for one call (same cluster), with each snapshot as a view."""
        for snap in snaps:
            if snap.store.key is not None:
                raise ValidationError("Spark cannot read an encrypted store yet; use engine='duckdb'")
        spark = self.spark.newSession()
        spark.conf.set("spark.sql.runSQLOnFiles", "false")  # no `parquet.`/any/path`` in the SQL
        spark.conf.set("spark.sql.variable.substitute", "false")  # no ${env:X}, ${spark:...} in the SQL
        return spark

    def query(self, ctx: ReadContext, sql: str, groups: Sequence[str], limit: int | None,
              timeout: float | None = None, cancel: threading.Event | None = None) -> "pa.Table":
        if not _READ_ONLY.match(sql):
            raise ValidationError("engine='spark' runs read-only queries: start the statement with SELECT or WITH")
        if timeout is not None or cancel is not None:
            raise ValidationError("timeout and cancel apply to engine='duckdb'; a Spark job is stopped from Spark")
        snaps = ctx.snapshots(_named(sql, groups))
        spark = self._session(snaps)
        check_sql(spark, sql, groups)
        for snap in snaps:
            view(spark, snap).createOrReplaceTempView(snap.group.name)
        frame = _run(spark, sql)
        if limit is not None:
            frame = frame.limit(int(limit))
        return _collect(frame)

    def join(self, plan: JoinPlan) -> tuple["pa.Table", str]:
        import pyarrow as pa

        spark = self._session(plan.snaps)
        keys = [e for i in range(len(plan.selection)) for e, _ in plan.key_pairs(i)]
        spark.createDataFrame(plan.entity.select(["__row", "__ts", *keys])).createOrReplaceTempView("__e")
        ctes, joins, selects, hits, order = [], [], [], [], ["__e.__row"]
        for i, ((group, feats), snap) in enumerate(zip(plan.selection, plan.snaps)):
            view(spark, snap).createOrReplaceTempView(f"__g{i}")
            ctes += _group_ctes(i, group, feats, plan)
            joins.append(_join(i, feats, plan))
            columns, hit = plan.outputs(i, bq, lambda e: f"unix_micros({e})", lambda j, f, i=i: f"__f{i}_{j}")
            selects += columns
            hits.append(hit)
            if plan.include_duplicates:
                order += [f"__d{i}.__wt ASC NULLS LAST", f"__d{i}.__seq ASC NULLS LAST"]
        sql = (f"WITH {', '.join(ctes)} SELECT __e.__row, {''.join(s + ', ' for s in selects)}{', '.join(hits)} "
               f"FROM __e {' '.join(joins)} ORDER BY {', '.join(order)}")
        found = _collect(_run(spark, sql))
        # The entity columns come from the caller's table (Spark would widen or truncate some types),
        # in the types DuckDB gives them (large strings as strings, dictionaries decoded); features
        # get the group's Arrow types, as DuckDB reads them.
        rows = plan.entity.select(plan.entity_columns)
        with query.connect() as con:
            as_duckdb = con.from_arrow(rows.slice(0, 0)).to_arrow_table().schema
        rows = rows.take(found.column("__row")).cast(as_duckdb)
        columns, names = list(rows.columns), list(rows.column_names)
        for i, (group, feats) in enumerate(plan.selection):
            for j, f in enumerate(feats):
                columns.append(found.column(f"__f{i}_{j}").cast(group.feature(f).arrow_type()))
                names.append(plan.out_names[(group.name, f)])
        for i in range(len(plan.selection)):
            columns.append(found.column(f"__hit{i}").cast(pa.bool_()))
            names.append(f"__hit{i}")
        return pa.table(columns, names=names), sql

    def summary_row(self, snap: "GroupSnapshot", scope: str) -> "pa.Table":
        spark = self._session([snap])
        g = snap.group
        view(spark, snap).createOrReplaceTempView("__g")
        rows = spark.sql(rows_sql(g, "__g", scope)).cache()  # read once, aggregated several times
        try:
            rows.createOrReplaceTempView("__rows")
            aggs, tops = summary_aggregates(g, bq, "percentile({c}, array({qs}))")
            table = _collect(spark.sql(f"SELECT {', '.join(aggs)} FROM __rows"))
            spread = _collect(spark.sql(f"SELECT {', '.join(spread_aggregates(g, bq, table.to_pylist()[0]))} FROM __rows"))
            for name in spread.column_names:
                table = table.append_column(name, spread.column(name))
            for f, alias in tops:  # the three most frequent values, ties: the smaller first
                top = spark.sql(
                    f"SELECT transform(slice(sort_array(collect_list(struct(-n AS n, v))), 1, 3), x -> CAST(x.v AS STRING)) "
                    f"AS t FROM (SELECT {bq(f)} AS v, count(*) AS n FROM __rows WHERE {bq(f)} IS NOT NULL GROUP BY 1)")
                values = top.collect()[0][0]
                table = table.append_column(alias, _list_of_text([values or None]))
            return table
        finally:
            rows.unpersist()


def check_sql(spark: Any, sql: str, views: Sequence[str]) -> None:
    """Refuse (ValidationError naming it) anything in a user's statement beyond reading the group
    ``views`` with Spark's pure built-in functions; parsed by the session's own parser, so case,
    backticks, subqueries, lambdas and CTEs are seen as Spark sees them."""
    try:
        parsed = spark._jsparkSession.sessionState().sqlParser().parsePlan(sql)
    except AttributeError:  # Spark Connect: no JVM here to parse with
        raise ValidationError("engine='spark' checks a query with Spark's parser, which a Spark Connect session does "
                              "not offer here; use a classic session or engine='duckdb'") from None
    except Exception as exc:  # noqa: BLE001 - py4j wraps the ParseException
        raise ValidationError(f"Spark SQL error: {_first_line(exc)}") from None
    try:
        nodes = list(_nodes(json.loads(parsed.toJSON())))
    except Exception as exc:  # noqa: BLE001 - a plan Spark cannot write as JSON is not checked, so not run
        raise ValidationError(f"engine='spark' could not check this query ({_first_line(exc)}); simplify it or use "
                              "engine='duckdb'") from None
    allowed_relations = {v.lower() for v in views}
    for node in nodes:  # the statement's own CTEs are relations too
        if node["class"].endswith(".UnresolvedWith"):
            allowed_relations |= {str(cte["_1"]).lower() for cte in node.get("cteRelations") or []}
    builtins = _builtin_functions(spark)
    for node in nodes:
        kind = node["class"].rsplit(".", 1)[-1]
        if _DENIED_NODES.search(kind):
            raise ValidationError(f"engine='spark' runs queries that read the feature groups; {kind} is refused")
        if kind == "UnresolvedRelation":
            parts = _parts(node["multipartIdentifier"])
            if len(parts) != 1 or parts[0].lower() not in allowed_relations:
                # Worded as Spark's own error for an unknown table: a hidden group reads as absent.
                raise ValidationError(f"Spark SQL error: no feature group {'.'.join(parts)} to read (a query reads "
                                      f"the groups' views only; those you can query: {', '.join(views) or 'none'})")
        elif kind in ("UnresolvedFunction", "UnresolvedTableValuedFunction", "UnresolvedGenerator"):
            name = (node["name"]["funcName"] if kind == "UnresolvedGenerator" else
                    _parts(node["nameParts"] if kind == "UnresolvedFunction" else node["name"]))
            name = [name] if isinstance(name, str) else name
            bare = name[-1].lower()
            builtin = [p.lower() for p in name[:-1]] in ([], ["builtin"], ["system", "builtin"])
            if builtin and bare in DENIED_FUNCTIONS:
                raise ValidationError(f"Refused: the function {'.'.join(name)} reaches the JVM, the process or files, "
                                      "so a query may not call it (nor any of "
                                      f"{', '.join(sorted(DENIED_FUNCTIONS))})")
            if not builtin or bare not in builtins:
                raise ValidationError(f"Refused: the function {'.'.join(name)} is not one of Spark's built-in "
                                      "functions, the only ones a query may call")


def _nodes(value: Any) -> Iterator[dict[str, Any]]:
    """Every plan and expression node of a TreeNode's JSON, however deeply nested (subquery
    plans, lambdas, CTE definitions and window specifications are fields of other nodes)."""
    if isinstance(value, dict):
        if "class" in value:
            yield value
        for item in value.values():
            yield from _nodes(item)
    elif isinstance(value, list):
        for item in value:
            yield from _nodes(item)


def _parts(text: str) -> list[str]:
    """A multipart name as TreeNode.toJSON writes it: "[a, b]" (a Seq's toString)."""
    return [p.strip() for p in text.strip()[1:-1].split(", ")] if text.startswith("[") else [text]


def _builtin_functions(spark: Any) -> frozenset[str]:
    """The names of Spark's built-in functions (its registry, as SHOW SYSTEM FUNCTIONS lists it)."""
    global _builtins
    with _lock:
        if _builtins is None:
            _builtins = frozenset(row[0].lower() for row in spark.sql("SHOW SYSTEM FUNCTIONS").collect())
        return _builtins


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    for line in text.splitlines():
        if line.strip() and not line.startswith("An error occurred while calling"):
            return line.strip().removeprefix("org.apache.spark.sql.catalyst.parser.ParseException:").strip()
    return text


def _list_of_text(values: list) -> "pa.Array":
    import pyarrow as pa

    return pa.array(values, pa.list_(pa.string()))


def rows_sql(group: "FeatureGroup", view_name: str, scope: str) -> str:
    """``plans.rows_sql`` in Spark's dialect: full history without delete markers, or the latest view."""
    if scope == HISTORY:
        return f"SELECT * FROM {view_name} WHERE NOT is_deleted"
    rid = ", ".join(bq(k) for k in group.identifiers)
    cols = ", ".join(bq(f) for f in group.feature_names)
    return (f"SELECT {cols} FROM (SELECT *, row_number() OVER (PARTITION BY {rid} ORDER BY _event_time DESC, "
            f"write_time DESC, _seq DESC) AS __rn FROM {view_name}) WHERE __rn = 1 AND NOT is_deleted")


def _group_ctes(i: int, group: "FeatureGroup", feats: list[str], plan: JoinPlan) -> list[str]:
    cols = "".join(f", {bq(f)}" for f in feats)
    base = (f"SELECT {plan.key_select(i, bq)}, _event_time AS __ev, write_time AS __wt, _seq AS __seq, "
            f"is_deleted AS __del{cols} FROM __g{i} WHERE {plan.version_filter(ts)}")
    kept = _version_columns(plan.version_keys(i), feats)
    return [f"__a{i} AS ({base})",
            f"__v{i} AS (SELECT {kept} FROM (SELECT *, row_number() OVER (PARTITION BY {', '.join(plan.version_keys(i))}, "
            f"__ev ORDER BY __wt DESC, __seq DESC) AS __rn FROM __a{i}) WHERE __rn = 1)"]


def _version_columns(keys: list[str], feats: list[str]) -> str:
    return ", ".join([*keys, "__ev", "__wt", "__seq", "__del", *map(bq, feats)])


def _join(i: int, feats: list[str], plan: JoinPlan) -> str:
    """Spark has no ASOF JOIN: each entity row joins its key's versions up to its time, and a
    window keeps the newest (what DuckDB's ASOF JOIN returns)."""
    source, guard, order = f"__v{i}", "", "v.__ev DESC"
    if plan.write_time_guard:
        source, guard, order = f"__a{i}", " AND v.__wt <= __e.__ts", "v.__ev DESC, v.__wt DESC, v.__seq DESC"
    kept = _version_columns(plan.version_keys(i), feats)
    match = (f"LEFT JOIN (SELECT __r, {kept} FROM (SELECT __e.__row AS __r, v.*, row_number() OVER (PARTITION BY "
             f"__e.__row ORDER BY {order}) AS __rn FROM __e JOIN {source} v ON {plan.key_match(i, '__e', 'v')} "
             f"AND v.__ev <= __e.__ts{guard}) WHERE __rn = 1) __m{i} ON __m{i}.__r = __e.__row")
    if plan.include_duplicates:
        match += f" LEFT JOIN __a{i} __d{i} ON {plan.same_key(i, f'__d{i}', f'__m{i}')} AND __d{i}.__ev = __m{i}.__ev"
        if plan.write_time_guard:
            match += f" AND __d{i}.__wt <= __e.__ts"
    return match


def _named(sql: str, groups: Sequence[str]) -> list[str]:
    """The groups the SQL reads, where DuckDB's parser can tell (Spark's dialect differs: else all),
    so a query over one group does not read every group's file footers."""
    from ..offline.snapshot import read_only_tables

    try:
        named = read_only_tables(sql)
    except ValidationError:
        named = frozenset()
    return [g for g in groups if g in named] if named else list(groups)


def view(spark: Any, snap: "GroupSnapshot") -> Any:
    """The group's history as a DataFrame with every column of the snapshot's definition: its
    listed files (those compaction moved since, at their new place), each kind read into that
    definition (see ``model.versions``), and its staged rows."""
    from ..model.schema import arrow_schema
    from ..model.versions import identity

    frame = spark.createDataFrame(arrow_schema(snap.group).empty_table())
    storage = snap.store.storage
    for (version, count), paths in snap.files.items():
        source = snap.written_under(version)
        paths = snap.store.readable(snap.group.name, paths)
        same = identity(source, count, snap.group)
        # Spark's CAST writes 1e16 as '1.0E16': a float widened to text is converted by pyarrow, as DuckDB does.
        exact = same or not any(held is not None and held.type == "Fractional" and f.type == "String"
                                for f, held in _projection(source, count, snap.group, snap.through))
        if exact and (storage.local or _has_s3a(spark)):
            read = spark.read.option("mergeSchema", "true").parquet(*map(storage.spark_url, paths))
            if not same:
                read = read.select(*_projected(source, count, snap.group, set(read.columns)))
        else:
            read = _read_with_pyarrow(spark, snap, [(p, version, count) for p in paths], frame.schema)
        frame = frame.unionByName(read, allowMissingColumns=True)
    if snap.staged.num_rows:
        frame = frame.unionByName(spark.createDataFrame(snap.staged), allowMissingColumns=True)
    return frame


def _projection(source: "FeatureGroup", count: int, target: "FeatureGroup",
                through: frozenset[int] = frozenset()) -> list:
    from ..model.versions import projection

    return projection(source, count, target, through)


def _projected(source: "FeatureGroup", count: int, target: "FeatureGroup", present: set[str]) -> list:
    """Spark columns reading ``target``'s features from files of ``source`` (see ``model.versions``)."""
    from pyspark.sql import functions as F

    from ..offline.files import META_COLUMNS

    spark_type = {"Integral": "bigint", "Fractional": "double", "String": "string"}
    out = []
    for f, held in _projection(source, count, target):
        kind = f"array<{spark_type[f.type]}>" if f.is_collection else spark_type[f.type]
        if held is None or held.name not in present:
            out.append(F.lit(None).cast(kind).alias(f.name))
        else:
            out.append(F.col(f"`{held.name}`").cast(kind).alias(f.name))
    return out + [F.col(c) for c in META_COLUMNS]


def _has_s3a(spark: Any) -> bool:
    """Whether the session's JVM has the Hadoop AWS connector (s3a://)."""
    try:
        spark.sparkContext._jvm.java.lang.Class.forName("org.apache.hadoop.fs.s3a.S3AFileSystem")
        return True
    except Exception:  # noqa: BLE001 - py4j's error for a missing class, or no JVM gateway (Spark Connect)
        return False


def _read_with_pyarrow(spark: Any, snap: "GroupSnapshot", files: list[tuple[str, int, int]], schema: Any) -> Any:
    """Files (path, definition version, feature count) read by the executors through pyarrow.fs,
    for object stores in sessions without the Hadoop AWS connector and for conversions Spark's
    CAST would write differently: one task per few files, each file in the snapshot's definition."""
    tasks = max(1, min(len(files), spark.sparkContext.defaultParallelism * 4))
    listing = spark.createDataFrame(files, "path string, version int, features int").repartition(tasks)
    versions = {v: snap.written_under(v) for _, v, _ in files}
    return listing.mapInArrow(_FileReader(snap.store.storage.portable(), snap.group, versions, snap.through), schema)


class _FileReader:
    """Reads the files named in its batches (pickled to the executors)."""

    def __init__(self, storage: Any, group: "FeatureGroup", versions: dict[int, "FeatureGroup"],
                 through: frozenset[int]) -> None:
        self.storage, self.group, self.versions, self.through = storage, group, versions, through

    def __call__(self, batches: Any) -> Any:
        from ..offline.snapshot import conform

        for batch in batches:
            for path, version, count in zip(*(batch.column(i).to_pylist() for i in range(3))):
                yield from conform(self.storage.read_table(path), self.group, self.versions[version],
                                   count, self.through).to_batches()


def _spark_error(exc: Exception) -> bool:
    """Whether ``exc`` is Spark's error about the query (PySpark's captured analysis, parse and
    runtime errors: overflow, a bad cast, ...), not a failure of the engine itself."""
    return any(c.__name__ in _SPARK_ERRORS for c in type(exc).__mro__)


def _run(spark: Any, sql: str) -> Any:
    try:
        return spark.sql(sql)
    except Exception as exc:  # Spark's analysis and parse errors: one plain line
        if _spark_error(exc):
            raise ValidationError(f"Spark SQL error: {str(exc).splitlines()[0]}") from None
        raise


def _collect(frame: Any) -> "pa.Table":
    try:
        return frame.toArrow()
    except Exception as exc:
        if _spark_error(exc):
            raise ValidationError(f"Spark error: {str(exc).splitlines()[0]}") from None
        raise
