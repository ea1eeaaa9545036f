"""Property: an on-demand SQL expression compiled to Python (the online path) gives exactly what
DuckDB gives for the same expression and row (the offline path): same value, same type, same
NULL, NaN where DuckDB has NaN, and an error where DuckDB has one (overflow).

Expressions are drawn from the compiled core's grammar over an Integral, a Fractional and a
String column; values include NULL, NaN, infinities, -0.0 and integers near the BIGINT edges."""
from __future__ import annotations

import math

import duckdb
import pyarrow as pa
import pytest
from hypothesis import example, given, settings, strategies as st

from store import Feature, OnDemandFeature, ValidationError
from store.model import expressions
from store.retrieval.on_demand import compile_feature

COLUMNS = {"a": "Integral", "b": "Fractional", "s": "String"}

ints = st.one_of(st.none(), st.integers(-5, 5), st.sampled_from([2**62, -(2**62), 2**63 - 1, -(2**63)]))
floats = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=64),
                   st.sampled_from([0.0, -0.0, 1.5, -2.25, math.nan]))
texts = st.one_of(st.none(), st.sampled_from(["", "x", "ä", "Zürich", "b"]))
rows = st.fixed_dictionaries({"a": ints, "b": floats, "s": texts})

int_lit = st.sampled_from(["0", "1", "2", "-3", "7", "9223372036854775807"])
real_lit = st.sampled_from(["0.0", "1.5", "2.25", "1e3", ".5", "1.1"])


def numeric(depth: int) -> st.SearchStrategy[str]:
    leaf = st.one_of(st.just("a"), st.just("b"), int_lit, real_lit, st.just("NULL"))
    if depth == 0:
        return leaf
    sub = numeric(depth - 1)
    return st.one_of(
        leaf,
        st.builds(lambda x, op, y: f"({x} {op} {y})", sub, st.sampled_from(["+", "-", "*", "/"]), sub),
        st.builds(lambda x: f"(- {x})", sub),
        st.builds(lambda x: f"ABS({x})", sub),
        st.builds(lambda x, y: f"COALESCE({x}, {y})", sub, sub),
        st.builds(lambda x, y: f"NULLIF({x}, {y})", sub, sub),
        st.builds(lambda f, x, y, z: f"{f}({x}, {y}, {z})", st.sampled_from(["LEAST", "GREATEST"]), sub, sub, sub),
        st.builds(lambda c, x, y: f"CASE WHEN {c} THEN {x} ELSE {y} END", boolean(depth - 1), sub, sub),
    )


def text(depth: int) -> st.SearchStrategy[str]:
    leaf = st.one_of(st.just("s"), st.sampled_from(["'x'", "''", "'é'"]))
    if depth == 0:
        return leaf
    sub = text(depth - 1)
    return st.one_of(leaf, st.builds(lambda x, y: f"({x} || {y})", sub, sub),
                     st.builds(lambda x, y: f"COALESCE({x}, {y})", sub, sub),
                     st.builds(lambda c, x: f"CASE WHEN {c} THEN {x} END", boolean(depth - 1), sub))


def boolean(depth: int) -> st.SearchStrategy[str]:
    cmp = st.sampled_from(["=", "<>", "<", "<=", ">", ">="])
    num, txt = numeric(max(depth - 1, 0)), text(0)
    leaf = st.one_of(st.builds(lambda x, op, y: f"({x} {op} {y})", num, cmp, num),
                     st.builds(lambda x, op, y: f"({x} {op} {y})", txt, cmp, txt),
                     st.builds(lambda x: f"({x} IS NULL)", num), st.builds(lambda x: f"({x} IS NOT NULL)", txt),
                     st.builds(lambda x, y, z: f"({x} BETWEEN {y} AND {z})", num, num, num),
                     st.sampled_from(["TRUE", "FALSE"]))
    if depth == 0:
        return leaf
    sub = boolean(depth - 1)
    return st.one_of(leaf, st.builds(lambda x, op, y: f"({x} {op} {y})", sub, st.sampled_from(["AND", "OR"]), sub),
                     st.builds(lambda x: f"(NOT {x})", sub))


def duckdb_answer(expr: expressions.Expression, row: dict) -> tuple[str, object]:
    """DuckDB's value for the row, or ("error", message)."""
    table = pa.table({"a": pa.array([row["a"]], pa.int64()), "b": pa.array([row["b"]], pa.float64()),
                      "s": pa.array([row["s"]], pa.string())})
    con = duckdb.connect()
    con.register("t", table)
    try:
        return "ok", con.sql(f"SELECT {expr.duckdb} AS v FROM t").fetchall()[0][0]
    except duckdb.Error as exc:
        return "error", str(exc)


def feature(text_: str, expr: expressions.Expression):
    """The on-demand feature of this expression, compiled (a condition served as 'true'/'false')."""
    sql = text_ if expr.kind != "bool" else f"CASE WHEN {text_} THEN 'true' WHEN NOT {text_} THEN 'false' END"
    kind = {"int": "Integral", "float": "Fractional"}.get(expr.kind or "", "String")
    return compile_feature(OnDemandFeature("f", inputs=["g:a", "g:b", "g:s"], outputs=[Feature("out", kind)],
                                           sql=sql), COLUMNS)


def served(text_: str, expr: expressions.Expression, row: dict) -> tuple[str, object]:
    """What the on-demand feature of this expression serves for the row (online, one row)."""
    try:
        value = feature(text_, expr).one(dict(row), str)["out"][0]  # the online call's one-row path
    except ValidationError:
        return "error", "error"
    return "ok", value if expr.kind != "bool" or value is None else value == "true"


def same(x: object, y: object) -> bool:
    if isinstance(x, float) and isinstance(y, float):
        return (math.isnan(x) and math.isnan(y)) or (x == y and math.copysign(1, x) == math.copysign(1, y))
    return x == y and type(x) is type(y)


@settings(max_examples=400, deadline=None)
@given(st.one_of(numeric(3), boolean(2), text(2)), rows)
@example("((1 + 9223372036854775807) IS NULL)", {"a": None, "b": None, "s": None})  # DuckDB: false
@example("((a + 1) = 0)", {"a": 2**63 - 1, "b": None, "s": None})
@example("(a + 1)", {"a": 2**63 - 1, "b": None, "s": None})  # both overflow
@example("(9223372036854775807 * (a * 2))", {"a": None, "b": None, "s": None})  # DuckDB folds 2 constants
def test_compiled_expressions_answer_as_duckdb_does(text_: str, row: dict) -> None:
    expr = expressions.parse(text_, COLUMNS, "test")
    assert expr.compiled is not None, f"{text_} left the compiled core"
    if duckdb_answer(expr, dict.fromkeys(COLUMNS))[0] == "error":
        # DuckDB fails on nulls only where it folds constants into an overflow, whatever the data
        # (`9223372036854775807 * (a * 2)`): registering it is refused.
        with pytest.raises(ValidationError, match="Overflow"):
            feature(text_, expr).smoke()
        return
    outcome, expected = duckdb_answer(expr, row)
    if expr.columns is not None:  # over columns: the row path's answer on each row, or an error
        try:
            many = expr.columns({c: [v, v] for c, v in row.items()}, 2)
        except ArithmeticError:
            many = None
        if many is not None:
            assert outcome == "ok" and same(many[0], expected) and same(many[1], expected), (text_, row, many)
    try:
        got = expr.compiled(row)
    except ArithmeticError:
        # DuckDB's optimizer may skip the failing part (`(1 + 9223372036854775807) IS NULL` is false
        # there): the served row then takes DuckDB's answer, as the dataset does.
        assert served(text_, expr, row) == (outcome, expected if outcome == "ok" else "error"), (text_, row)
        return
    assert outcome == "ok", f"{text_} on {row}: DuckDB failed ({expected}), compiled gave {got!r}"
    assert same(got, expected), f"{text_} on {row}: compiled {got!r}, DuckDB {expected!r}"


def test_expressions_outside_the_core_run_in_duckdb_and_say_so() -> None:
    expr = expressions.parse("round(b, 1) + a % 2", COLUMNS, "test")
    assert expr.compiled is None and expr.kind is None
    assert '"b"' in expr.duckdb and "CAST(1 AS BIGINT)" in expr.duckdb


@pytest.mark.parametrize("text_, message", [
    ("amount / 2", "reads 'amount', which is not an input; it may read a, b, s"),
    ("SELECT a FROM t", "not a query"),
    ("sum(a)", "aggregates"),
    ("a +", "is not a SQL expression"),
])
def test_bad_expressions_are_refused_naming_what_is_wrong(text_: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        expressions.parse(text_, COLUMNS, "On-demand feature 'x'")


def test_decimal_literals_are_doubles_in_both_paths() -> None:
    expr = expressions.parse("a * 1.1", COLUMNS, "test")
    assert expr.compiled({"a": 3, "b": None, "s": None}) == 3 * 1.1 == duckdb_answer(expr, {"a": 3, "b": None,
                                                                                            "s": None})[1]
