"""The bodies of the facade's on-demand feature methods, and the one place their values are
computed: ``Compiled.rows`` for a service's online vector (a few rows, no DuckDB where the
expression allows) and ``Compiled.table`` for a dataset (the whole entity table at once). Both end
in ``_typed``, so an output has one type and one value whichever path made it.

Registering runs code in the serving process, so it needs the owner role on every group the
feature reads; the audit log records it (``store.access.guard``).
"""
from __future__ import annotations

import ast
import builtins
import json
import math
import threading
from typing import TYPE_CHECKING, Any, Callable

from ..common.timeutil import now_us
from ..errors import AccessDenied, ValidationError
from ..common.warn import warn_user
from ..model import expressions
from ..model.rules import RecordChecker, check_batch, reason
from ..model.on_demand import OnDemandFeature
from ..model.schema import Feature
from .. import registry as group_registry
from ..registry import lineage
from ..registry import on_demand as registry
from ..registry import services as service_registry

if TYPE_CHECKING:
    import pyarrow as pa

    from ..core.context import StoreContext

_duckdb = threading.local()  # one in-memory DuckDB per thread for expressions outside the compiled core


# ------------------------------------------------------------------------------------------ define
def register(ctx: "StoreContext", feature: OnDemandFeature) -> OnDemandFeature:
    if not isinstance(feature, OnDemandFeature):
        raise ValidationError("register_on_demand takes an OnDemandFeature: decorate a function with @on_demand(...) "
                              "or build OnDemandFeature(name, inputs, outputs, sql=...)", field="feature")
    _allowed(ctx, feature, "owner", "register_on_demand")
    types = input_types(ctx, feature)
    stored = OnDemandFeature(name=feature.name, inputs=feature.inputs, outputs=feature.outputs, request=feature.request,
                             sql=feature.sql, source=feature.source, mode=feature.mode, description=feature.description,
                             owner=feature.owner or ctx.policy.name, created_by=ctx.policy.name, rules=feature.rules)
    compiled = compile_feature(stored, types)
    compiled.smoke()
    now = now_us()
    with ctx.db.write() as conn:
        version, added = registry.register(conn, stored, now)
        if added:
            node = f"on_demand:{stored.name}"
            lineage.upsert_node(conn, node, "on_demand", stored.name, now,
                                {"version": version, "kind": stored.kind, "outputs": stored.output_names})
            for group, feat in stored.pairs:
                fnode = f"feature:{group}.{feat}"
                lineage.upsert_node(conn, fnode, "feature", f"{group}.{feat}", now, {"group": group})
                lineage.add_edge(conn, fnode, node, "computes", now)
    return load(ctx, stored.name, version)


def _allowed(ctx: "StoreContext", feature: OnDemandFeature, role: str, action: str) -> None:
    """Refuse unless the principal holds ``role`` on every group ``feature`` reads: a group it may
    not read is missing, as one that does not exist; registering or deleting code that runs where
    the store serves needs the owner role."""
    for group in feature.groups:
        if not ctx.policy.may("viewer", group):
            ctx.policy.record(action, group, "denied")
            raise group_registry.missing(group)
        if not ctx.policy.may(role, group):
            ctx.policy.record(action, group, "denied")
            raise AccessDenied(f"{action} needs the {role} role on {group!r} (its code runs where the store "
                               f"serves), which {ctx.policy.name!r} does not hold", group=group)


def input_types(ctx: "StoreContext", feature: OnDemandFeature) -> dict[str, str]:
    """The function's batch columns and their types; refuses an input that is not a feature, and
    a request field or output that takes an input's name."""
    types: dict[str, str] = {}
    for (group_name, feat), column in feature.columns().items():
        group = ctx.group(group_name)[0]
        kind = group.feature(feat)  # NotFound names the group's features
        if kind.collection:
            raise ValidationError(f"On-demand feature {feature.name!r}: input {group_name}:{feat} is a collection; "
                                  "inputs are Integral, Fractional or String", on_demand=feature.name)
        types[column] = kind.type
    for field_name, kind in feature.request.items():
        if field_name.lower() in {c.lower() for c in types}:
            raise ValidationError(f"On-demand feature {feature.name!r}: request field {field_name!r} has an input's "
                                  "name; rename the request field", on_demand=feature.name, field="request")
        types[field_name] = kind
    taken = [f.name for f in feature.outputs if f.name.lower() in {c.lower() for c in types}]
    if taken:
        raise ValidationError(f"On-demand feature {feature.name!r}: output {taken[0]!r} has an input's name; name "
                              "it for what it computes", on_demand=feature.name, field="outputs")
    return types


def load(ctx: "StoreContext", name: str, version: int | None = None) -> OnDemandFeature:
    """The definition; one reading a group the principal may not read is missing."""
    feature = registry.load(ctx.db.get(), name, version)
    if not all(ctx.policy.may("viewer", g) for g in feature.groups):
        ctx.policy.record("read", next(g for g in feature.groups if not ctx.policy.may("viewer", g)), "denied")
        raise registry.missing(name)
    return feature


def list_all(ctx: "StoreContext") -> list[OnDemandFeature]:
    """Every on-demand feature whose groups the principal may all read, by name."""
    conn = ctx.db.get()
    found = [registry.load(conn, n) for n in registry.names(conn)]
    return [f for f in found if all(ctx.policy.may("viewer", g) for g in f.groups)]


def delete(ctx: "StoreContext", name: str) -> None:
    feature = load(ctx, name)
    _allowed(ctx, feature, "owner", "delete_on_demand_feature")
    with ctx.db.write() as conn:
        registry.delete(conn, name, service_registry.on_demand_users(conn, name))


# ------------------------------------------------------------------------------------------- compute
class Compiled:
    """One on-demand version ready to run: its expressions parsed or its function made from source."""

    def __init__(self, feature: OnDemandFeature, types: dict[str, str]) -> None:
        self.feature, self.types = feature, types
        self.outputs: tuple[Feature, ...] = feature.outputs
        self.kinds = {f.name: PLAIN[f.type] for f in feature.outputs}
        self.rules = feature.checks()
        self.checker = RecordChecker(feature.outputs_group(), self.rules) if self.rules else None
        self.exprs: dict[str, expressions.Expression] = {}
        self.function: Callable[..., Any] | None = None
        if feature.sql is not None:
            where = f"On-demand feature {feature.name!r}"
            self.exprs = {out: expressions.parse(text, types, f"{where}, output {out!r}")
                          for out, text in feature.sql.items()}
            for out in feature.outputs:
                kind = self.exprs[out.name].kind
                if out.type == "String" and kind in ("int", "float", "bool") or \
                        out.type != "String" and kind == "str":
                    raise ValidationError(f"{where}: output {out.name!r} is {out.type} but its expression gives "
                                          f"{'text' if kind == 'str' else 'a number'}; CAST it or change the type",
                                          on_demand=feature.name, field="sql")
        else:
            self.function = _from_source(feature)
        # Whether the online path runs without DuckDB or pandas.
        self.fast = (all(e.compiled is not None for e in self.exprs.values()) if self.exprs
                     else self.feature.mode == "python")

    def smoke(self) -> None:
        """Run on an empty batch (a function) or a row of nulls (SQL), so what cannot run is refused
        when registered, not when first served: a name a function never defines, an expression
        whose constants DuckDB folds into an overflow (``9223372036854775807 * (a * 2)``)."""
        import pyarrow as pa

        if not self.exprs:
            self._table(pa.table({c: pa.array([], _arrow(t)) for c, t in self.types.items()}), str)
            return
        con = _connection()
        con.register("__inputs", pa.table({c: pa.nulls(1, _arrow(t)) for c, t in self.types.items()}))
        try:
            con.sql("SELECT " + ", ".join(e.duckdb for e in self.exprs.values()) + " FROM __inputs").fetchall()
        except Exception as exc:  # noqa: BLE001 - DuckDB's own message says what
            raise ValidationError(f"On-demand feature {self.feature.name!r}: its SQL fails in DuckDB even on a row of "
                                  f"nulls, so it would fail on every row: {str(exc).splitlines()[0]}; change the "
                                  "expression", on_demand=self.feature.name, field="sql") from None
        finally:
            con.unregister("__inputs")

    def rows(self, columns: dict[str, list[Any]], who: Callable[[int], str]) -> dict[str, list[Any]]:
        """The outputs for a few rows (``columns``: each input column's Python values), judged by
        the rules one row at a time (``RecordChecker``: the verdicts ``table`` gives)."""
        out = self._rows(columns, who)
        if self.checker is None:
            return out
        n = len(next(iter(out.values())))
        warned: dict[str, int] = {}
        for i in range(n):
            for rule in self.checker.failures({name: values[i] for name, values in out.items()}):
                if rule.severity != "warn":
                    raise self._broken(rule, who(i))
                warned[rule.name] = warned.get(rule.name, 0) + 1
        self._warn(warned, n)
        return out

    def one(self, row: dict[str, Any], who: Callable[[int], str]) -> dict[str, list[Any]]:
        """``rows`` for one row of plain values, the online call's common case: compiled SQL or a
        plain-Python function run as they are when no rule applies and the values come typed."""
        if self.checker is None and self.fast:
            kinds = self.kinds
            if self.exprs:
                try:
                    out = {name: [e.compiled(row)] for name, e in self.exprs.items()}  # type: ignore[misc]
                except (ArithmeticError, TypeError):  # the general path answers (DuckDB's view of it)
                    out = {}
            else:
                got = self._call({c: [v] for c, v in row.items()}, who, 1)
                return {name: self._plain(got[name], name, who) for name in kinds}
            if out and all(type(v) is list and (type(v[0]) is kinds[name] or v[0] is None) for name, v in out.items()):
                return out
        return self.rows({c: [v] for c, v in row.items()}, who)

    def _rows(self, columns: dict[str, list[Any]], who: Callable[[int], str]) -> dict[str, list[Any]]:
        n = len(next(iter(columns.values()))) if columns else 0
        if self.exprs and self.fast:
            if n > 1 and all(e.columns is not None for e in self.exprs.values()):
                try:  # whole columns at once; on any error the row path below raises naming the row
                    return {name: self._plain(e.columns(columns, n), name, who, sql=True)  # type: ignore[misc]
                            for name, e in self.exprs.items()}
                except Exception:  # noqa: BLE001
                    pass
            try:
                if n == 1:
                    row = {c: v[0] for c, v in columns.items()}
                    out = {name: [e.compiled(row)] for name, e in self.exprs.items()}  # type: ignore[misc]
                    kinds = self.kinds
                    for name, values in out.items():
                        if type(values[0]) is not kinds[name] and values[0] is not None:
                            out[name] = self._plain(values, name, who, sql=True)
                    return out
                rows = [{c: v[i] for c, v in columns.items()} for i in range(n)]
                return {name: self._plain([e.compiled(row) for row in rows], name, who, sql=True)  # type: ignore[misc]
                        for name, e in self.exprs.items()}
            except (ArithmeticError, TypeError):  # e.g. an overflow DuckDB's optimizer may never meet: DuckDB answers
                pass
        elif self.function is not None and self.feature.mode == "python":
            got = self._call({c: list(v) for c, v in columns.items()}, who, n)
            return {f.name: self._plain(got[f.name], f.name, who) for f in self.outputs}
        import pyarrow as pa

        table = pa.table({c: pa.array(columns[c], _arrow(t)) for c, t in self.types.items()})
        out_table = self._table(table, who)
        return {f.name: out_table.column(f.name).to_pylist() for f in self.outputs}

    def table(self, table: "pa.Table", who: Callable[[int], str] | None = None) -> "pa.Table":
        """The outputs over a whole table of the input columns (typed), as a table, judged by the
        rules over the whole batch (``check_batch``); ``who(i)`` names row i in an error (default:
        "entity row i", a dataset's)."""
        import numpy as np

        who = who or (lambda i: f"entity row {i}")
        out = self._table(table, who)
        if self.rules:
            warned: dict[str, int] = {}
            columns = {name: out.column(name).combine_chunks() for name in out.column_names}
            for broken in check_batch(self.checker.group, self.rules, columns,  # type: ignore[union-attr]
                                      np.ones(out.num_rows, dtype=bool)):
                if broken.rule.severity != "warn":
                    raise self._broken(broken.rule, who(int(np.argmax(broken.mask))))
                warned[broken.rule.name] = int(broken.mask.sum())
            self._warn(warned, out.num_rows)
        return out

    def _broken(self, rule: Any, where: str) -> ValidationError:
        return ValidationError(f"On-demand feature {self.feature.name!r} (version {self.feature.version}) computed on "
                               f"{where} a value that {reason(rule)}", on_demand=self.feature.name, rule=rule.name)

    def _warn(self, warned: dict[str, int], n: int) -> None:
        if warned:
            warn_user(f"On-demand feature {self.feature.name!r}: " + "; ".join(
                f"{count:,} of {n:,} rows break rule {name} (severity warn: kept)" for name, count in warned.items()))

    def _table(self, table: "pa.Table", who: Callable[[int], str]) -> "pa.Table":
        import pyarrow as pa

        if self.exprs:
            con = _connection()
            con.register("__inputs", table)
            try:
                select = ", ".join(f'{e.duckdb} AS "{n}"' for n, e in self.exprs.items())
                try:
                    got = con.sql(f"SELECT {select} FROM __inputs").to_arrow_table()
                except Exception as exc:  # DuckDB's own error (an overflow): find the row where it can
                    raise self._locate(table, who, exc) from None
            finally:
                con.unregister("__inputs")
            return pa.table({n: self._typed(got.column(n), n, who, sql=True) for n in self.exprs})
        if self.feature.mode == "python":
            got = self._call({c: table.column(c).to_pylist() for c in table.column_names}, who, table.num_rows)
        else:
            got = self._call(_frame(table), who, table.num_rows)
        return pa.table({f.name: self._typed(got[f.name], f.name, who, pandas=self.feature.mode == "pandas")
                         for f in self.outputs})

    def _call(self, batch: Any, who: Callable[[int], str], n: int) -> Any:
        fn = self.function
        try:
            got = fn(batch)  # type: ignore[misc]
        except Exception as exc:
            raise self._failed(exc, self._first_failing(batch, who, n)) from None
        names = self.kinds  # the outputs' names, in order
        try:
            missing = [c for c in names if c not in got]
        except TypeError:
            missing = list(names)
        if missing:
            raise ValidationError(f"On-demand feature {self.feature.name!r} (version {self.feature.version}) returned "
                                  f"no column {missing[0]!r}; return a DataFrame or dict with {', '.join(names)}",
                                  on_demand=self.feature.name, field=missing[0])
        for c in names:
            if len(got[c]) != n:
                raise ValidationError(f"On-demand feature {self.feature.name!r} returned {len(got[c])} values of "
                                      f"{c!r} for {n} rows; return one per row", on_demand=self.feature.name, field=c)
        return got

    def _first_failing(self, batch: Any, who: Callable[[int], str], n: int) -> str:
        """The first row the function fails on alone (the error path only), or 'the batch'."""
        for i in range(min(n, 10_000)):
            one = batch.iloc[[i]].reset_index(drop=True) if hasattr(batch, "iloc") else {c: v[i:i + 1] for c, v in
                                                                                      batch.items()}
            try:
                self.function(one)  # type: ignore[misc]
            except Exception:
                return who(i)
        return f"a batch of {n} rows"

    def _locate(self, table: "pa.Table", who: Callable[[int], str], exc: Exception) -> ValidationError:
        """DuckDB failed on a batch: name the first row it fails on alone (rows the compiled form
        passes are skipped, being the rows DuckDB passes too)."""
        compiled = all(e.compiled is not None for e in self.exprs.values())
        for i, row in enumerate(table.to_pylist()):
            if compiled:
                try:
                    for e in self.exprs.values():
                        e.compiled(row)  # type: ignore[misc]
                    continue
                except (ArithmeticError, TypeError, ValueError):
                    pass
            try:
                con = _connection()
                con.sql("SELECT " + ", ".join(e.duckdb for e in self.exprs.values()) + " FROM __inputs "
                        f"LIMIT 1 OFFSET {i}").fetchall()
            except Exception as err:  # noqa: BLE001 - DuckDB's error, for this row alone
                return self._failed(err, who(i))
        return self._failed(exc, f"a batch of {table.num_rows} rows")

    def _failed(self, exc: Exception, where: str) -> ValidationError:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return ValidationError(f"On-demand feature {self.feature.name!r} (version {self.feature.version}) failed on "
                               f"{where}: {type(exc).__name__}: {detail}", on_demand=self.feature.name)

    def _plain(self, values: Any, name: str, who: Callable[[int], str], sql: bool = False) -> list[Any]:
        """``_typed`` for a list, as Python values; values already of the declared type skip Arrow."""
        kind = self.kinds[name]
        if type(values) is list and (len(values) == 1 and (type(values[0]) is kind or values[0] is None) or
                                     set(map(type, values)) <= {kind, type(None)}):
            return values
        return self._typed(values, name, who, sql=sql).to_pylist()

    def _typed(self, values: Any, name: str, who: Callable[[int], str], sql: bool = False,
               pandas: bool = False) -> "pa.Array":
        """``values`` as the output's declared type: a value the type cannot hold (2.5 as Integral,
        text as a number) is an error naming the row, never a null."""
        import pyarrow as pa
        import pyarrow.compute as pc

        out = next(f for f in self.outputs if f.name == name)
        kind = _arrow(out.type)
        try:
            array = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else \
                pa.array(values, from_pandas=pandas or None)
            if isinstance(array, pa.ChunkedArray):
                array = array.combine_chunks()
            if array.type == kind:
                return array
            if _text(kind) and not (_text(array.type) or pa.types.is_null(array.type)):
                raise TypeError(f"gives {array.type} values; it is declared String")
            if _text(array.type) and not _text(kind):
                raise TypeError(f"gives text; it is declared {out.type}")
            return pc.cast(array, kind, safe=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as exc:
            row = _bad_row(values, kind)
            where = who(row) if row is not None else "its batch"
            raise ValidationError(f"On-demand feature {self.feature.name!r} (version {self.feature.version}): output "
                                  f"{name!r} on {where} cannot be {out.type}: {str(exc).splitlines()[0]}",
                                  on_demand=self.feature.name, field=name) from None


def _bad_row(values: Any, kind: "pa.DataType") -> int | None:
    """The first value ``kind`` cannot hold (the error path only)."""
    import pyarrow as pa

    try:
        items = values.to_pylist() if hasattr(values, "to_pylist") else list(values)
    except Exception:
        return None
    for i, v in enumerate(items):
        if v is None:
            continue
        if isinstance(v, str) != _text(kind):
            return i
        try:
            pa.array([v]).cast(kind, safe=True)
        except Exception:
            return i
    return None


def _text(kind: "pa.DataType") -> bool:
    import pyarrow as pa

    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


PLAIN = {"Integral": int, "Fractional": float, "String": str}  # each type's Python values


def request_values(values: Any, kind: str, field_name: str) -> Any:
    """Request values as their declared type, the same conversion online (a list in, a list out)
    and offline (an Arrow column in and out): numbers from text parse, 2.0 is Integral 2, and a
    value the type cannot hold is an error naming the field."""
    import pyarrow as pa
    import pyarrow.compute as pc

    plain = PLAIN[kind]
    if isinstance(values, list):
        if all(type(v) is plain or v is None for v in values):
            return values
        return [v if type(v) is plain or v is None else request_values(pa.array([v]), kind, field_name)[0].as_py()
                for v in values]  # each as an Arrow column of its own type would be
    try:
        return pc.cast(values, _arrow(kind), safe=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError) as exc:
        raise ValidationError(f"Request value {field_name!r} must be {kind}: {str(exc).splitlines()[0]}",
                              field=field_name) from None


def _arrow(kind: str) -> "pa.DataType":
    import pyarrow as pa

    return {"Integral": pa.int64(), "Fractional": pa.float64(), "String": pa.string()}[kind]


def _frame(table: "pa.Table") -> Any:
    """The batch a pandas-mode function gets, made one way for both paths (nulls of Integral
    columns as NaN, as pandas has them)."""
    return table.to_pandas()


def _connection() -> Any:
    con = getattr(_duckdb, "con", None)
    if con is None:
        import duckdb

        con = _duckdb.con = duckdb.connect()
    return con


_NAMESPACE_MODULES = ("pandas", "numpy", "pyarrow")


def _from_source(feature: OnDemandFeature) -> Callable[..., Any]:
    """The function the stored text defines, run in a namespace of its own (``pd``, ``np``, ``pa``,
    ``math`` and the builtins), so what runs is the registered text, not a notebook's globals."""
    import importlib

    where = f"On-demand feature {feature.name!r}"
    try:
        tree = ast.parse(feature.source)
    except SyntaxError as exc:
        raise ValidationError(f"{where}: its source does not parse: {exc.msg} (line {exc.lineno})",
                              on_demand=feature.name) from None
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    if not defs:
        raise ValidationError(f"{where}: its source defines no function", on_demand=feature.name)
    pd, np, pa = (importlib.import_module(m) for m in _NAMESPACE_MODULES)
    namespace: dict[str, Any] = {"pd": pd, "np": np, "pa": pa, "math": math, "__builtins__": builtins}
    try:
        exec(compile(tree, f"<on_demand {feature.name} v{feature.version}>", "exec"), namespace)  # noqa: S102
    except Exception as exc:
        raise ValidationError(f"{where}: defining its function failed: {type(exc).__name__}: {exc}",
                              on_demand=feature.name) from None
    return namespace[defs[0].name]


_COMPILED: dict[str, Compiled] = {}


def compile_feature(feature: OnDemandFeature, types: dict[str, str]) -> Compiled:
    """``feature`` ready to run, made once per definition and input types in this process."""
    key = json.dumps([feature.to_dict(), types], sort_keys=True)
    hit = _COMPILED.get(key)
    if hit is None:
        if len(_COMPILED) > 256:
            _COMPILED.clear()
        hit = _COMPILED[key] = Compiled(feature, types)
    return hit
