"""DuckDB over the offline store: a consistent snapshot of each group as a view, and time travel.

A snapshot is the manifest's file list plus the staged rows, read in one read transaction of the store's database;
the view unions them with an empty table of the group's current schema, so features added after
a file was written read as null and every column exists even before the first write.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence, TypeVar

from ..databases import Connection
from ..errors import FeatureStoreError, Interrupted, ValidationError
from .files import META_COLUMNS, OfflineFiles, staged_arrow
from ..common.sqltext import plain_sql_error, q, ts_literal
from ..model.schema import FeatureGroup, arrow_schema

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

T = TypeVar("T")
ORDER = "_event_time DESC, write_time DESC, _seq DESC"


@dataclass
class GroupSnapshot:
    group: FeatureGroup  # the definition the history is read under (the current one, or one in force at an instant)
    files: dict[tuple[int, int], list[str]]  # by what they hold: (definition version, feature count)
    staged: "pa.Table"
    store: OfflineFiles  # where the files are, and how to find those compaction moved after the listing
    # The newest write time the snapshot holds: "known at" this instant reproduces it exactly.
    last_write_us: int | None = None
    # Retention dropped history before this event time: questions about earlier instants are refused.
    retained_from_us: int | None = None
    # The definitions of the versions files were written under, other than ``group``'s.
    versions: dict[int, FeatureGroup] = field(default_factory=dict)
    through: frozenset[int] = frozenset()  # see ``model.versions.projection``

    def check_retained(self, instant_us: int | None, what: str) -> None:
        from .retention import check

        check(self.group, self.retained_from_us, instant_us, what)

    def written_under(self, version: int) -> FeatureGroup:
        return self.group if version == self.group.version else self.versions[version]


def snapshot(conn: Connection, files: OfflineFiles, group: FeatureGroup,
             max_event_us: int | None = None, max_write_us: int | None = None, min_event_us: int | None = None,
             after_write_us: int | None = None) -> GroupSnapshot:
    """Files and staged rows of one group (the files that may hold rows within the bounds, see
    ``OfflineFiles.listed``; every staged row), read under ``group``'s definition (a version that
    is not current sees the files written under it and earlier ones only: pass ``max_write_us``
    no later than its successor's change); call inside a read transaction for consistency."""
    from ..registry import fractional_ids, load_group, load_version, state

    st = state(conn, group.name)
    listed = files.listed(conn, group.name, max_event_us, max_write_us, min_event_us, after_write_us)
    versions = {v: load_version(conn, group, v) for v in {v for v, _ in listed} - {group.version}}
    current = load_group(conn, group.name) if group.version != st["version"] else group
    staged = staged_arrow(conn, current)
    if current is not group:  # an earlier version: the staged rows it may see, read into it
        import pyarrow.compute as pc

        if max_write_us is not None and staged.num_rows:
            staged = staged.filter(pc.less_equal(pc.cast(staged.column("write_time"), "int64"), max_write_us))
        staged = conform(staged, group, current)
    through = fractional_ids(conn, group.name, group.version) if versions else frozenset()
    return GroupSnapshot(group, listed, staged, files, st["last_write_us"] or None, st["retained_from_us"], versions,
                         through)


def register(con: "duckdb.DuckDBPyConnection", snap: GroupSnapshot, view: str | None = None) -> str:
    """Make the group's full offline history readable under ``view`` (default: the group's
    name); returns the quoted name.

    Small files come decoded from ``filecache``; when every row is in memory (small files and
    staged rows) the history is one Arrow table. Otherwise a view unions one ``read_parquet`` per
    kind of file (files written under one definition version with the same feature count share a
    schema) with the in-memory rows, each read into the snapshot's definition (``conform``)."""
    import pyarrow as pa

    from .filecache import CACHE

    name = view or snap.group.name
    schema = arrow_schema(snap.group)
    in_memory, parquet = [], []
    store = snap.store
    for (version, count), paths in snap.files.items():
        source = snap.written_under(version)
        # Files compaction moved to _trash/ since the listing (those in memory need no look).
        uncached = [p for p in paths if p not in CACHE]
        moved = dict(zip(uncached, store.readable(snap.group.name, uncached)))
        paths = [moved.get(p, p) for p in paths]
        tables, large = CACHE.take(paths, store.size, store.read_table)
        in_memory += [conform(t, snap.group, source, count, snap.through) for t in tables]
        if large:
            scan = store.scan_sql(con, f"__files_{name}_{version}_{count}", source, count, large)
            parquet.append(projected_sql(scan, source, count, snap.group, snap.through))
    if snap.staged.num_rows:
        in_memory.append(snap.staged)
    table = pa.concat_tables(in_memory).combine_chunks() if in_memory else schema.empty_table()
    if not parquet:
        con.register(name, table)
        return q(name)
    parts = list(parquet)
    if in_memory:
        con.register(f"__memory_{name}", table)
        parts.append(f"SELECT * FROM {q(f'__memory_{name}')}")
    cols = ", ".join(q(f.name) for f in schema)
    source_sql = parts[0] if len(parts) == 1 else " UNION ALL BY NAME ".join(parts)
    con.execute(f"CREATE OR REPLACE TEMP VIEW {q(name)} AS SELECT {cols} FROM ({source_sql})")
    return q(name)


def projected_sql(scan: str, source: FeatureGroup, count: int, target: FeatureGroup,
                  through: frozenset[int] = frozenset()) -> str:
    """``scan`` (rows of ``source`` holding its first ``count`` features) read as ``target``'s."""
    from ..model.versions import identity, projection, sql_expression

    if identity(source, count, target):
        return scan
    cols = [sql_expression(f, held, q) for f, held in projection(source, count, target, through)]
    return f"SELECT {', '.join([*cols, *map(q, META_COLUMNS)])} FROM ({scan})"


def conform(table: "pa.Table", target: FeatureGroup, source: FeatureGroup | None = None,
            count: int | None = None, through: frozenset[int] = frozenset()) -> "pa.Table":
    """A file's table in ``target``'s offline schema: read by feature id from ``source`` (the
    version it was written under; default ``target``), features it lacks as null, widened ones
    converted (see ``model.versions``)."""
    import pyarrow as pa

    from ..model.versions import identity, projection, widen_array

    schema = arrow_schema(target)
    source = source or target
    if table.schema.equals(schema) and identity(source, len(target.features), target):
        return table
    held_names = set(table.column_names)
    cols = []
    for f, held in projection(source, len(source.features) if count is None else count, target, through):
        if held is None or held.name not in held_names:
            cols.append(pa.nulls(table.num_rows, f.arrow_type()))
        elif held.type != f.type:
            column = table.column(held.name)
            if held.type == "Fractional":  # integers held as Fractional (``projection``): floats first
                column = widen_array(column, "Fractional")
            cols.append(widen_array(column, f.type))
        else:
            cols.append(table.column(held.name))
    cols += [table.column(c) for c in META_COLUMNS]
    return pa.table(cols, schema=schema)


def connect() -> "duckdb.DuckDBPyConnection":
    """A private cursor on the process's shared DuckDB database (see ``duck``)."""
    from ..common import duck

    return duck.cursor()


@contextmanager
def interruptible(con: "duckdb.DuckDBPyConnection", timeout: float | None,
                  cancel: threading.Event | None) -> Iterator[None]:
    """Interrupt ``con``'s running query once ``timeout`` seconds pass or ``cancel`` is set, and
    raise Interrupted saying which. A watcher thread does it: DuckDB runs outside the GIL and
    cannot be stopped from the thread waiting on it."""
    import duckdb

    if timeout is None and cancel is None:
        yield
        return
    deadline = None if timeout is None else time.monotonic() + timeout
    done = threading.Event()
    why: list[str] = []

    def watch() -> None:
        while not done.wait(0.05):
            if cancel is not None and cancel.is_set():
                why.append("cancelled")
            elif deadline is not None and time.monotonic() >= deadline:
                why.append("timeout")
            else:
                continue
            con.interrupt()
            return

    watcher = threading.Thread(target=watch, name="query-watch", daemon=True)
    watcher.start()
    try:
        yield
    except duckdb.InterruptException:
        if why == ["timeout"]:
            raise Interrupted(f"The query ran for more than {timeout:g} s and was stopped; filter or aggregate "
                              "more, add a LIMIT, or allow a longer timeout", reason="timeout") from None
        raise Interrupted("The query was stopped", reason="cancelled") from None
    finally:
        done.set()
        watcher.join()


def with_retry(run: Callable[[], T], attempts: int = 3) -> T:
    """Run a read, retrying if compaction deleted a file between listing and reading it."""
    import duckdb

    for attempt in range(attempts):
        try:
            return run()
        except (duckdb.IOException, FileNotFoundError) as exc:  # DuckDB's read, or filecache's
            vanished = isinstance(exc, FileNotFoundError) or any(
                m in str(exc) for m in ("No files found", "No such file", "not exist"))
            if attempt == attempts - 1 or not vanished:
                raise FeatureStoreError(f"Reading the offline store failed: {exc}") from exc
    raise AssertionError("unreachable")


def as_of_sql(group: FeatureGroup, view: str, event_us: int | None, known_us: int | None,
              ids_table: str | None, include_meta: bool) -> str:
    where = ["TRUE"]
    if event_us is not None:
        where.append(f"_event_time <= {ts_literal(event_us)}")
    if known_us is not None:
        where.append(f"write_time <= {ts_literal(known_us)}")
    rid = ", ".join(q(k) for k in group.identifiers)
    if ids_table and not group.composite:
        where.append(f"{rid} IN (SELECT id FROM {ids_table})")
    elif ids_table:
        same = " AND ".join(f"__i.k{i} = {q(k)}" for i, k in enumerate(group.identifiers))
        where.append(f"EXISTS (SELECT 1 FROM {ids_table} AS __i WHERE {same})")
    cols = [q(f) for f in group.feature_names]
    if include_meta:
        cols += ["write_time", "api_invocation_time"]
    return (
        f"SELECT {', '.join(cols)} FROM (SELECT * FROM {view} WHERE {' AND '.join(where)} "
        f"QUALIFY row_number() OVER (PARTITION BY {rid} ORDER BY {ORDER}) = 1) "
        f"WHERE NOT is_deleted ORDER BY {rid}"
    )


def history_sql(group: FeatureGroup, view: str) -> str:
    cols = [q(f) for f in group.feature_names] + ["write_time", "api_invocation_time", "is_deleted"]
    return (
        f"SELECT {', '.join(cols)} FROM {view} WHERE {history_where(group)} "
        "ORDER BY _event_time, write_time, _seq"
    )


def history_where(group: FeatureGroup) -> str:
    """One key's condition, with parameters ``$id`` (one column) or ``$k0``, ``$k1``... (``key_params``)."""
    if not group.composite:
        return f"{q(group.identifiers[0])} = $id"
    return " AND ".join(f"{q(k)} = $k{i}" for i, k in enumerate(group.identifiers))


def key_params(group: FeatureGroup, typed_key: Any) -> dict[str, Any]:
    if not group.composite:
        return {"id": typed_key}
    return {f"k{i}": v for i, v in enumerate(typed_key)}


def to_pandas(table: "pa.Table") -> "pd.DataFrame":
    """Arrow to pandas keeping integers exact: nullable Int64 instead of floats with NaN."""
    import pandas as pd
    import pyarrow as pa

    mapping = {pa.int64(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
    for i, fld in enumerate(table.schema):
        if pa.types.is_timestamp(fld.type) and fld.type.tz in ("Etc/UTC", "UTC", "+00:00"):
            table = table.set_column(i, fld.name, table.column(i).cast(pa.timestamp(fld.type.unit, "UTC")))
        elif pa.types.is_decimal(fld.type):  # DuckDB's sum() of BIGINT is a HUGEINT
            target = pa.int64() if fld.type.scale == 0 else pa.float64()
            try:
                table = table.set_column(i, fld.name, table.column(i).cast(target))
            except pa.ArrowInvalid:
                pass
    return table.to_pandas(types_mapper=mapping.get)


@lru_cache(maxsize=256)
def read_only_tables(sql: str) -> frozenset[str]:
    """The names a read-only query reads from (so it sets up only the views it needs); refuses
    anything but queries: no writes, ATTACH, INSTALL, COPY, SET or PRAGMA. Cached per text, as
    the studio sends the same query on every rerun."""
    import duckdb

    from ..common import duck

    with duck.cursor() as con:
        try:
            statements = con.extract_statements(sql)
        except duckdb.Error as exc:
            raise ValidationError(plain_sql_error(exc)) from None
        if not statements:
            raise ValidationError("The SQL is empty: write a SELECT over a feature group's view")
        allowed = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
        for st in statements:
            if st.type not in allowed:
                raise ValidationError(f"Only read-only queries are allowed (SELECT, WITH or EXPLAIN); "
                                      f"{refused_statement(st.type.name, st.query)}, so it was refused")
        try:
            return frozenset(con.get_table_names(sql, qualified=False))
        except Exception:  # noqa: BLE001 - not bindable here: let the query itself report the error
            return frozenset()


# Why a statement that is not a query is refused, by DuckDB's statement type (others change the store).
NOT_A_QUERY = {
    "PRAGMA": "a PRAGMA statement reads or sets DuckDB's own settings and catalog, not the feature groups",
    "SET": "a SET, RESET or USE statement would change the query engine's settings",
    "CALL": "a CALL or CHECKPOINT statement runs one of DuckDB's procedures, not a query over the feature groups",
    "ATTACH": "an ATTACH statement would open another database",
    "DETACH": "a DETACH statement would close one of the query engine's databases",
    "COPY": "a COPY statement reads or writes files outside the feature groups",
    "EXPORT": "an EXPORT statement would write files",
    "TRANSACTION": "a transaction statement (BEGIN, COMMIT, ROLLBACK) has no place in a single read-only query",
    "PREPARE": "a PREPARE statement keeps a statement for later, which a single query cannot use",
    "EXECUTE": "an EXECUTE statement runs a prepared statement, which a single query cannot have",
    "VACUUM": "a VACUUM statement would maintain the database",
}


def refused_statement(kind: str, text: str) -> str:
    """Why a statement of DuckDB's type ``kind`` is not a read-only query, in words."""
    if kind == "LOAD":  # DuckDB parses INSTALL as a LOAD statement
        import re

        if re.search(r"\bINSTALL\b", text, re.IGNORECASE):
            return "an INSTALL statement would download and install a DuckDB extension, which queries may not use"
        return "a LOAD statement would load a DuckDB extension, which queries may not use"
    if kind in NOT_A_QUERY:
        return NOT_A_QUERY[kind]
    words = kind.replace("_", " ")
    return f"{'an' if words[0] in 'AEIOU' else 'a'} {words} statement would change the store"


def user_sql_error(exc: "duckdb.Error", views: Sequence[str]) -> ValidationError:
    """Any DuckDB error of a user's query as a ValidationError in plain words: a refusal of the
    sandbox, a function of an extension (which queries may not load), an unknown name, or
    DuckDB's own message (overflow, division, conversion, ...)."""
    import re

    import duckdb

    if isinstance(exc, duckdb.PermissionException):
        return ValidationError(f"Refused: queries may only read the store's feature groups ({plain_sql_error(exc)})")
    extension = re.search(r'with name "?([^"\s]+)"? is not in the catalog, but it exists in the (\w+) extension',
                          str(exc))
    if extension:
        return ValidationError(f"Refused: {extension.group(1)} comes from DuckDB's {extension.group(2)} extension, "
                               "which queries may not load; they read the store's feature groups only "
                               f"({', '.join(views) or 'none yet'})")
    if isinstance(exc, duckdb.CatalogException):
        return ValidationError(unknown_name_error(exc, views))
    return ValidationError(plain_sql_error(exc))


def unknown_name_error(exc: Exception, views: Sequence[str]) -> str:
    """A catalog error in words, listing the views there are (DuckDB's own guess may name one of
    its internal tables, which is dropped)."""
    import re

    text = plain_sql_error(exc)
    guess = re.search(r' Did you mean "([^"]+)"\?', text)
    if guess and guess.group(1) not in views:
        text = text.replace(guess.group(0), "")
    return f"{text} The feature groups you can query: {', '.join(views) or 'none yet'}."


def ids_arrow(values: Sequence[Any], group: FeatureGroup) -> "pa.Table":
    """The keys asked for as a table: column ``id`` (one-column key), or ``k0``, ``k1``... in key order."""
    import pyarrow as pa

    from ..model import keys
    from ..model.coerce import coerce_scalar

    if group.composite:
        typed = [keys.key(group, v) for v in values]
        return pa.table({f"k{i}": pa.array([t[i] for t in typed], f.arrow_type())
                         for i, f in enumerate(group.id_features)})
    out = []
    for v in values:
        try:
            out.append(coerce_scalar(group.id_feature.type, v))
        except ValueError as exc:
            raise ValidationError(
                f"Record identifier {v!r} for {group.name!r} {exc}", group=group.name, value=v
            ) from None
    return pa.table({"id": pa.array(out, group.id_feature.arrow_type())})
