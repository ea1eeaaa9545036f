"""DuckDB, in process: the default engine. Groups are registered views over their snapshots
(``query.register``); the point-in-time join is an ``ASOF JOIN``."""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, BinaryIO, Callable, Sequence, TypeVar

from ..offline import snapshot as query
from ..errors import ValidationError
from ..common.sqltext import q, ts_literal
from ..model.schema import FeatureGroup
from .base import Engine, JoinPlan, ReadContext
from .plans import rows_sql, spread_aggregates, summary_aggregates

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from ..offline.snapshot import GroupSnapshot


CSV_BATCH_ROWS = 100_000
T = TypeVar("T")


def _user_query(ctx: ReadContext, sql: str, groups: Sequence[str], timeout: float | None,
                cancel: threading.Event | None, consume: Callable[["duckdb.DuckDBPyRelation"], T]) -> T:
    """A user's read-only SQL in the store's sandbox over the views it names, its relation
    handed to ``consume`` while the timeout and ``cancel`` can still interrupt it."""
    import duckdb

    named = query.read_only_tables(sql)
    snaps = ctx.snapshots([g for g in groups if g in named] if named else list(groups))

    def run() -> T:
        with ctx.sandbox_cursor(groups if ctx.policy.governed else None) as con:
            for snap in snaps:
                query.register(con, snap)
            try:
                with query.interruptible(con, timeout, cancel):
                    rel = con.sql(sql)
                    if rel is None:
                        raise ValidationError("The statement returned no rows; write a SELECT")
                    return consume(rel)
            except duckdb.IOException:
                raise  # with_retry tells a file compaction moved from a failed read
            except duckdb.Error as exc:
                raise query.user_sql_error(exc, list(groups)) from None

    return query.with_retry(run)


class DuckDBEngine(Engine):
    name = "duckdb"

    def query(self, ctx: ReadContext, sql: str, groups: Sequence[str], limit: int | None,
              timeout: float | None = None, cancel: threading.Event | None = None) -> "pa.Table":
        def result(rel: "duckdb.DuckDBPyRelation") -> "pa.Table":
            return (rel.limit(limit) if limit is not None else rel).to_arrow_table()

        return _user_query(ctx, sql, groups, timeout, cancel, result)

    def query_csv(self, ctx: ReadContext, sql: str, groups: Sequence[str], out: BinaryIO,
                  timeout: float | None = None, cancel: threading.Event | None = None) -> int:
        """The whole result as CSV (header, UTF-8) into ``out``, in record batches, so no table of
        it is held; returns its rows."""
        import pyarrow.csv as pacsv

        start = out.tell() if out.seekable() else None

        def write(rel: "duckdb.DuckDBPyRelation") -> int:
            if start is not None:  # a retry after compaction moved a file starts the output again
                out.seek(start)
                out.truncate()
            reader = rel.to_arrow_reader(CSV_BATCH_ROWS)
            rows = 0
            with pacsv.CSVWriter(out, reader.schema) as writer:
                for batch in reader:
                    writer.write_batch(batch)
                    rows += batch.num_rows
            return rows

        return _user_query(ctx, sql, groups, timeout, cancel, write)

    def join(self, plan: JoinPlan) -> tuple["pa.Table", str]:
        def run() -> tuple["pa.Table", str]:
            with query.connect() as con:
                # One table, not a POSITIONAL JOIN: with that DuckDB plans the ASOF JOIN as a nested loop.
                con.register("__e", plan.entity)
                ctes, joins, selects, hits, order = [], [], [], [], ["__e.__row"]
                for i, ((group, feats), snap) in enumerate(zip(plan.selection, plan.snaps)):
                    view = query.register(con, snap, f"__g{i}")
                    ctes += _group_ctes(i, group, feats, view, plan)
                    joins.append(_join(i, plan))
                    columns, hit = plan.outputs(i, q, lambda e: f"epoch_us({e})",
                                                lambda j, f, g=group.name: q(plan.out_names[(g, f)]))
                    selects += columns
                    hits.append(hit)
                    if plan.include_duplicates:
                        order += [f"__d{i}.__wt", f"__d{i}.__seq"]
                entity_cols = ", ".join(f"__e.{q(c)}" for c in plan.entity_columns)
                sql = (f"WITH {', '.join(ctes)} SELECT {entity_cols}{', ' if selects else ''}{', '.join(selects)}, "
                       f"{', '.join(hits)} FROM __e {' '.join(joins)} ORDER BY {', '.join(order)}")
                return con.sql(sql).to_arrow_table(), sql

        return query.with_retry(run)

    def summary_row(self, snap: "GroupSnapshot", scope: str) -> "pa.Table":
        g = snap.group

        def run() -> "pa.Table":
            with query.connect() as con:
                view = query.register(con, snap)
                con.execute(f"CREATE TEMP TABLE __rows AS {rows_sql(g, view, scope)}")  # read once, aggregated twice
                try:
                    aggs, tops = summary_aggregates(g, q, "quantile_cont({c}, [{qs}])")
                    # Grouped and ordered by position: a feature named like an alias (``v``) would win over it.
                    top_sql = [f"(SELECT list(v::VARCHAR ORDER BY n DESC, v) FROM (SELECT {q(f)} AS v, count(*) AS n "
                               f"FROM __rows WHERE {q(f)} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3)) AS {alias}"
                               for f, alias in tops]
                    first = con.sql(f"SELECT {', '.join(aggs + top_sql)} FROM __rows").to_arrow_table()
                    spread = con.sql(f"SELECT {', '.join(spread_aggregates(g, q, first.to_pylist()[0]))} FROM __rows")
                    return _beside(first, spread.to_arrow_table())
                finally:
                    con.execute("DROP TABLE IF EXISTS __rows")

        return query.with_retry(run)


def _beside(left: "pa.Table", right: "pa.Table") -> "pa.Table":
    for name in right.column_names:
        left = left.append_column(name, right.column(name))
    return left


def _group_ctes(i: int, group: FeatureGroup, feats: list[str], view: str, plan: JoinPlan) -> list[str]:
    cols = ", ".join(q(f) for f in feats)
    base = (f"SELECT {plan.key_select(i, q)}, _event_time AS __ev, write_time AS __wt, _seq AS __seq, "
            f"is_deleted AS __del{', ' if feats else ''}{cols} FROM {view} WHERE {plan.version_filter(ts_literal)}")
    return [f"__a{i} AS ({base})",
            f"__v{i} AS (SELECT * FROM __a{i} QUALIFY row_number() OVER (PARTITION BY {', '.join(plan.version_keys(i))}, "
            "__ev ORDER BY __wt DESC, __seq DESC) = 1)"]


def _join(i: int, plan: JoinPlan) -> str:
    if plan.write_time_guard:
        match = (f"LEFT JOIN (SELECT __e.__row AS __r, v.* FROM __e JOIN __a{i} v ON {plan.key_match(i, '__e', 'v')} "
                 f"AND v.__ev <= __e.__ts AND v.__wt <= __e.__ts QUALIFY row_number() OVER "
                 f"(PARTITION BY __e.__row ORDER BY v.__ev DESC, v.__wt DESC, v.__seq DESC) = 1) __m{i} ON __m{i}.__r = __e.__row")
    else:
        match = f"ASOF LEFT JOIN __v{i} __m{i} ON {plan.key_match(i, '__e', f'__m{i}')} AND __e.__ts >= __m{i}.__ev"
    if plan.include_duplicates:
        match += f" LEFT JOIN __a{i} __d{i} ON {plan.same_key(i, f'__d{i}', f'__m{i}')} AND __d{i}.__ev = __m{i}.__ev"
        if plan.write_time_guard:
            match += f" AND __d{i}.__wt <= __e.__ts"
    return match
