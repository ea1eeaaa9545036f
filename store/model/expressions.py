"""SQL expressions of on-demand features: parsed once (sqlglot, DuckDB dialect), checked against
the columns they may read, written back for DuckDB with every numeric literal typed (an integer
as BIGINT, any other number as DOUBLE, so ``1.1`` is the same float in both paths), and, where the
expression keeps to a small core, compiled to Python that gives DuckDB's answer without starting
a DuckDB query (about 0.5 ms a call, too slow for one online vector).

The core and its DuckDB semantics, kept exactly:
- ``+ - *`` on BIGINT stay BIGINT and fail on overflow; with a DOUBLE they are DOUBLE;
  ``/`` is always DOUBLE (``x/0`` is +-inf, ``0/0`` NaN); unary ``-``, ABS;
- comparisons (NaN equals NaN and sorts above every number), BETWEEN, AND/OR/NOT with SQL's
  three values, IS [NOT] NULL, CASE, COALESCE, NULLIF, LEAST/GREATEST (which skip NULLs), ``||``
  on text; NULL in, NULL out elsewhere, and a NULL literal operand folds the operation to NULL
  without running the other side, as DuckDB's optimizer does.
Anything else (casts, functions, ``%``) runs in DuckDB on both paths: still one answer, slower
online. ``tests/retrieval/test_on_demand_expressions.py`` holds the compiled answers against
DuckDB's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import ValidationError

TYPES = {"Integral": "int", "Fractional": "float", "String": "str"}
_INT64 = (-(2**63), 2**63 - 1)
Row = dict[str, Any]
Eval = Callable[[Row], Any]


@dataclass(frozen=True)
class Expression:
    """One output's expression: DuckDB's text (literals typed), its type where known, the compiled
    Python for one row (None when the expression leaves the core), and, for the arithmetic part of
    the core, the same over whole columns (``columns(batch, n)``; None otherwise): a batch without
    a call per node and row. Its answers are the row path's; on any error the caller runs the row
    path, which raises naming the row."""

    text: str
    duckdb: str
    kind: str | None
    compiled: Eval | None
    columns: Callable[[dict[str, list[Any]], int], list[Any]] | None = None


class _Unsupported(Exception):
    """The expression leaves the compiled core: it runs in DuckDB."""


def parse(text: str, columns: dict[str, str], where: str) -> Expression:
    """``text`` checked to read only ``columns`` (name -> Integral/Fractional/String)."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(text, dialect="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise ValidationError(f"{where}: {text!r} is not a SQL expression DuckDB reads: {str(exc).splitlines()[0]}",
                              field="sql") from None
    if isinstance(tree, (exp.Select, exp.Query)) or tree.find(exp.Select, exp.Subquery, exp.Star):
        raise ValidationError(f"{where}: give one expression over the input columns, not a query: {text!r}",
                              field="sql")
    if tree.find(exp.AggFunc, exp.Window):
        raise ValidationError(f"{where}: {text!r} aggregates; an on-demand expression works row by row",
                              field="sql")
    lowered = {c.lower(): c for c in columns}
    for col in tree.find_all(exp.Column):
        if col.table or col.name.lower() not in lowered:
            raise ValidationError(f"{where}: {text!r} reads {col.sql(dialect='duckdb')!r}, which is not an input; "
                                  f"it may read {', '.join(columns) or 'no column'}", field="sql",
                                  column=col.sql(dialect="duckdb"))

    def typed(node: Any) -> Any:
        if isinstance(node, exp.Literal) and not node.is_string:
            kind = "BIGINT" if _integral(node.this) else "DOUBLE"
            return exp.Cast(this=node.copy(), to=exp.DataType.build(kind))
        if isinstance(node, exp.Column):  # quoted, as the input table's column is named
            return exp.column(lowered[node.name.lower()], quoted=True)
        return node

    rewritten = tree.copy().transform(typed)
    kinds = {c.lower(): TYPES[t] for c, t in columns.items()}
    try:
        kind, compiled = _compile(tree, kinds, lowered)
    except _Unsupported:
        kind, compiled = None, None
    try:
        vector: Any = _vector(tree, kinds, lowered)[1] if compiled is not None else None
    except _Unsupported:
        vector = None
    return Expression(text, rewritten.sql(dialect="duckdb"), None if kind is None else _base(kind), compiled, vector)


# ------------------------------------------------------------------------------ the core over columns
Cols = Callable[[dict[str, list[Any]], int], list[Any]]


def _vector(node: Any, kinds: dict[str, str], names: dict[str, str]) -> tuple[str, Cols]:
    """The arithmetic part of the core (columns, literals, NULL, + - * /, unary minus, NULLIF,
    COALESCE) over whole columns, with the row path's types, folding and values."""
    from sqlglot import exp

    def sub(n: Any) -> tuple[str, Cols]:
        return _vector(n, kinds, names)

    if isinstance(node, exp.Paren):
        return sub(node.this)
    if isinstance(node, exp.Column):
        key = names[node.name.lower()]
        return kinds[node.name.lower()], lambda c, n: c[key]
    if isinstance(node, exp.Null):
        return "null", lambda c, n: [None] * n
    if isinstance(node, exp.Literal) and not node.is_string:
        value: Any = _checked(int(node.this), "literal") if _integral(node.this) else float(node.this)
        return ("int" if _integral(node.this) else "float"), lambda c, n: [value] * n
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div)):
        (ka, a), (kb, b) = sub(node.this), sub(node.expression)
        if not {_base(ka), _base(kb)} <= {"int", "float", "null"}:
            raise _Unsupported
        if _folded(ka) or _folded(kb):
            bases = {_base(ka), _base(kb)}
            typed = "float" if isinstance(node, exp.Div) or "float" in bases else "int" if "int" in bases else ""
            return "null" + typed, lambda c, n: [None] * n
        arithmetic = _ARITHMETIC[type(node).__name__]
        if isinstance(node, exp.Div) or "float" in (ka, kb):  # over DOUBLEs, as DuckDB: an integer side converted
            fa, fb = (_as_floats(a) if ka == "int" else a), (_as_floats(b) if kb == "int" else b)
            return "float", lambda c, n: arithmetic(fa(c, n), fb(c, n))
        what = {exp.Add: "addition", exp.Sub: "subtraction", exp.Mul: "multiplication"}[type(node)]

        def whole(c: dict[str, list[Any]], n: int) -> list[Any]:
            out = arithmetic(a(c, n), b(c, n))
            known = [v for v in out if v is not None]
            if known and (min(known) < _INT64[0] or max(known) > _INT64[1]):
                raise OverflowError(f"Overflow in {what} of INT64")
            return out
        return "int", whole
    if isinstance(node, exp.Neg):
        k, a = sub(node.this)
        if _base(k) not in ("int", "float", "null"):
            raise _Unsupported
        if _folded(k):
            return k, lambda c, n: [None] * n
        if k == "int":
            return k, lambda c, n: [None if x is None else _checked(-x, "negation") for x in a(c, n)]
        return k, lambda c, n: [None if x is None else -x for x in a(c, n)]
    if isinstance(node, exp.Nullif):
        (ka, a), (kb, b) = sub(node.this), sub(node.expression)
        if _folded(ka):
            return ka, lambda c, n: [None] * n
        kind = _common([ka, kb])
        if kind not in ("int", "float"):
            raise _Unsupported
        eq, mixed = _cmp("eq"), kind == "float" and "int" in (_base(ka), _base(kb))

        def nullif(c: dict[str, list[Any]], n: int) -> list[Any]:
            xs, ys = a(c, n), b(c, n)
            if mixed:  # compared as DOUBLEs, as DuckDB does
                return [x if x is None or y is None or not eq(float(x), float(y)) else None for x, y in zip(xs, ys)]
            # unequal, NaN being equal to NaN only (inline: this runs per element)
            return [x if x is None or y is None or (x != y and (x == x or y == y)) else None for x, y in zip(xs, ys)]
        return _base(ka), nullif
    if isinstance(node, exp.Coalesce):
        parts = [sub(node.this)] + [sub(e) for e in node.expressions]
        kind = _common([k for k, _ in parts])
        if kind not in ("int", "float"):
            raise _Unsupported
        lift = [kind == "float" and _base(k) == "int" for k, _ in parts]

        def coalesce(c: dict[str, list[Any]], n: int) -> list[Any]:
            out: list[Any] = [None] * n
            for (_, part), to_float in zip(parts, lift):  # COALESCE runs an argument only where still NULL
                missing = [i for i, v in enumerate(out) if v is None]
                if not missing:
                    break
                values = part(c, n)
                for i in missing:
                    v = values[i]
                    out[i] = None if v is None else float(v) if to_float else v
            return out
        return kind, coalesce
    raise _Unsupported


def _as_floats(part: Cols) -> Cols:
    return lambda c, n: [None if v is None else float(v) for v in part(c, n)]


# Element-wise + - * / over two columns, NULL where either is NULL; written inline, as they run
# per element. ``/`` is over DOUBLEs (x / 0 as DuckDB has it: _div).
_ARITHMETIC: dict[str, Callable[[list[Any], list[Any]], list[Any]]] = {
    "Add": lambda xs, ys: [None if x is None or y is None else x + y for x, y in zip(xs, ys)],
    "Sub": lambda xs, ys: [None if x is None or y is None else x - y for x, y in zip(xs, ys)],
    "Mul": lambda xs, ys: [None if x is None or y is None else x * y for x, y in zip(xs, ys)],
    "Div": lambda xs, ys: [None if x is None or y is None else x / y if y else _div(x, y) for x, y in zip(xs, ys)],
}


def _integral(text: str) -> bool:
    return text.lstrip("+-").isdigit()


# ---------------------------------------------------------------------------------- the compiled core
def _float(v: Any) -> Any:
    return v if v is None else float(v)


def _checked(v: int, what: str) -> int:
    if not _INT64[0] <= v <= _INT64[1]:
        raise OverflowError(f"Overflow in {what} of INT64")
    return v


def _div(a: float, b: float) -> float:
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0:
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _key(v: Any) -> Any:
    """DuckDB's order: NaN equal to itself and above every number."""
    if type(v) is float and v != v:
        return (1, 0.0)
    return (0, v)


def _cmp(op: str) -> Callable[[Any, Any], bool]:
    return {"eq": lambda a, b: _key(a) == _key(b), "neq": lambda a, b: _key(a) != _key(b),
            "lt": lambda a, b: _key(a) < _key(b), "lte": lambda a, b: _key(a) <= _key(b),
            "gt": lambda a, b: _key(a) > _key(b), "gte": lambda a, b: _key(a) >= _key(b)}[op]


def _base(kind: str) -> str:
    """A kind's type: ``null<type>`` is a NULL constant DuckDB folded, typed as ``<type>``."""
    return kind[4:] if kind.startswith("null") and kind != "null" else kind


def _folded(kind: str) -> bool:
    return kind.startswith("null")


def _common(kinds: list[str]) -> str:
    """The type DuckDB gives a CASE/COALESCE of these (NULLs take the others' type)."""
    known = {_base(k) for k in kinds if _base(k) != "null"}
    if not known:
        return "null"
    if known <= {"int", "float"}:
        return "float" if "float" in known else "int"
    if len(known) == 1:
        return known.pop()
    raise _Unsupported


def _as(kind: str, have: str, ev: Eval) -> Eval:
    if kind == "float" and _base(have) == "int":
        return lambda r: _float(ev(r))
    return ev


def _compile(node: Any, kinds: dict[str, str], names: dict[str, str]) -> tuple[str, Eval]:
    from sqlglot import exp

    def sub(n: Any) -> tuple[str, Eval]:
        return _compile(n, kinds, names)

    if isinstance(node, exp.Paren):
        return sub(node.this)
    if isinstance(node, exp.Column):
        key = names[node.name.lower()]
        return kinds[node.name.lower()], lambda r: r[key]
    if isinstance(node, exp.Null):
        return "null", lambda r: None
    if isinstance(node, exp.Boolean):
        value = bool(node.this)
        return "bool", lambda r: value
    if isinstance(node, exp.Literal):
        if node.is_string:
            text = node.this
            return "str", lambda r: text
        if _integral(node.this):
            number = _checked(int(node.this), "literal")
            return "int", lambda r: number
        real = float(node.this)
        return "float", lambda r: real
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div)):
        (ka, a), (kb, b) = sub(node.this), sub(node.expression)
        if not {_base(ka), _base(kb)} <= {"int", "float", "null"}:
            raise _Unsupported
        if _folded(ka) or _folded(kb):  # DuckDB folds it to a typed NULL constant, the other side not run
            bases = {_base(ka), _base(kb)}
            typed = "float" if isinstance(node, exp.Div) or "float" in bases else "int" if "int" in bases else ""
            return "null" + typed, lambda r: None
        ka, kb = _base(ka), _base(kb)
        if isinstance(node, exp.Div):
            def div(r: Row) -> Any:
                x, y = a(r), b(r)
                return None if x is None or y is None else _div(float(x), float(y))
            return "float", div
        op = {exp.Add: lambda x, y: x + y, exp.Sub: lambda x, y: x - y, exp.Mul: lambda x, y: x * y}[type(node)]
        if "float" in (ka, kb):
            def real(r: Row) -> Any:
                x, y = a(r), b(r)
                return None if x is None or y is None else op(float(x), float(y))
            return "float", real
        what = {exp.Add: "addition", exp.Sub: "subtraction", exp.Mul: "multiplication"}[type(node)]

        def whole(r: Row) -> Any:
            x, y = a(r), b(r)
            return None if x is None or y is None else _checked(op(x, y), what)
        return "int", whole
    if isinstance(node, (exp.Neg, exp.Abs)):
        k, a = sub(node.this)
        if _base(k) not in ("int", "float", "null"):
            raise _Unsupported
        if _folded(k):
            return k, lambda r: None
        f = (lambda x: -x) if isinstance(node, exp.Neg) else abs
        if k == "int":
            return k, lambda r: None if (x := a(r)) is None else _checked(f(x), "negation")
        return k, lambda r: None if (x := a(r)) is None else f(x)
    if isinstance(node, (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE)):
        (ka, a), (kb, b) = sub(node.this), sub(node.expression)
        kind = _common([ka, kb])
        if kind == "bool" and not isinstance(node, (exp.EQ, exp.NEQ)):
            raise _Unsupported
        a, b = _as(kind, ka, a), _as(kind, kb, b)
        test = _cmp(type(node).__name__.lower())
        if _folded(ka) or _folded(kb):
            return "nullbool", lambda r: None

        def compare(r: Row) -> Any:
            x, y = a(r), b(r)
            return None if x is None or y is None else test(x, y)
        return "bool", compare
    if isinstance(node, exp.Between):
        (k, a), (kl, lo), (kh, hi) = sub(node.this), sub(node.args["low"]), sub(node.args["high"])
        kind = _common([k, kl, kh])
        if kind not in ("int", "float", "str", "null"):
            raise _Unsupported
        a, lo, hi = _as(kind, k, a), _as(kind, kl, lo), _as(kind, kh, hi)
        ge, le = _cmp("gte"), _cmp("lte")
        return "bool", lambda r: _and(_test(ge, a(r), lo(r)), _test(le, a(r), hi(r)))
    if isinstance(node, (exp.And, exp.Or)):
        (ka, a), (kb, b) = sub(node.this), sub(node.expression)
        if not {_base(ka), _base(kb)} <= {"bool", "null"}:
            raise _Unsupported
        join = _and if isinstance(node, exp.And) else _or
        return "bool", lambda r: join(a(r), b(r))
    if isinstance(node, exp.Not):
        if isinstance(node.this, exp.Is):
            k, a = sub(node.this)
            return "bool", lambda r: not a(r)
        k, a = sub(node.this)
        if _base(k) not in ("bool", "null"):
            raise _Unsupported
        return "bool", lambda r: None if (x := a(r)) is None else not x
    if isinstance(node, exp.Is):
        if not isinstance(node.expression, exp.Null):
            raise _Unsupported
        _, a = sub(node.this)
        return "bool", lambda r: a(r) is None
    if isinstance(node, exp.DPipe):
        (ka, a), (kb, b) = sub(node.this), sub(node.expression)
        if not {_base(ka), _base(kb)} <= {"str", "null"}:
            raise _Unsupported
        if _folded(ka) or _folded(kb):
            return "nullstr", lambda r: None
        return "str", lambda r: None if (x := a(r)) is None or (y := b(r)) is None else x + y
    if isinstance(node, exp.Case):
        return _case(node, sub)
    if isinstance(node, (exp.Coalesce, exp.Least, exp.Greatest)):
        parts = [sub(node.this)] + [sub(e) for e in node.expressions]
        kind = _common([k for k, _ in parts])
        evs = [_as(kind, k, e) for k, e in parts]
        if isinstance(node, exp.Coalesce):
            def first(r: Row) -> Any:
                for e in evs:
                    if (v := e(r)) is not None:
                        return v
                return None
            return kind, first
        if kind not in ("int", "float", "str", "null"):
            raise _Unsupported
        pick = max if isinstance(node, exp.Greatest) else min

        def extreme(r: Row) -> Any:
            values = [v for e in evs if (v := e(r)) is not None]
            return pick(values, key=_key) if values else None
        return kind, extreme
    if isinstance(node, exp.Nullif):
        (ka, a), (kb, b) = sub(node.this), sub(node.expression)
        if _folded(ka):  # DuckDB folds it to NULL before running the other side
            return ka, lambda r: None
        kind = _common([ka, kb])  # compared in the common type, answered in the first's (DuckDB's NULLIF)
        ca, cb = _as(kind, ka, a), _as(kind, kb, b)
        eq = _cmp("eq")

        def nullif(r: Row) -> Any:
            x, y = ca(r), cb(r)
            return None if x is not None and y is not None and eq(x, y) else a(r)
        return _base(ka), nullif
    raise _Unsupported


def _case(node: Any, sub: Callable[[Any], tuple[str, Eval]]) -> tuple[str, Eval]:
    subject = sub(node.this) if node.this is not None else None
    branches = [(sub(i.this), sub(i.args["true"])) for i in node.args["ifs"]]
    default = sub(node.args["default"]) if node.args.get("default") is not None else ("null", lambda r: None)
    kind = _common([v[0] for _, v in branches] + [default[0]])
    values = [_as(kind, k, e) for (_, (k, e)) in branches]
    fallback = _as(kind, default[0], default[1])
    if subject is not None:
        skind = _common([subject[0]] + [c[0] for c, _ in branches])
        s = _as(skind, subject[0], subject[1])
        conds = [(lambda r, c=_as(skind, k, e): _test(_cmp("eq"), s(r), c(r))) for (k, e), _ in branches]
    else:
        if not all(_base(k) in ("bool", "null") for (k, _), _ in branches):
            raise _Unsupported
        conds = [e for (_, e), _ in branches]

    def case(r: Row) -> Any:
        for cond, value in zip(conds, values):
            if cond(r) is True:
                return value(r)
        return fallback(r)
    return kind, case


def _test(op: Callable[[Any, Any], bool], x: Any, y: Any) -> Any:
    return None if x is None or y is None else op(x, y)


def _and(x: Any, y: Any) -> Any:
    if x is False or y is False:
        return False
    return None if x is None or y is None else True


def _or(x: Any, y: Any) -> Any:
    if x is True or y is True:
        return True
    return None if x is None or y is None else False
