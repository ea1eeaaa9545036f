"""Validation rules: what they are, how they are checked on a batch (vectorised, pyarrow and
DuckDB) and on one record (plain Python), with the same verdict either way.

A rule is a JSON-shaped dict; ``parse`` turns a group's list into ``Rule`` objects, naming each
(``<feature>_<check>`` unless given) and filling its severity:

    row rules    not_null, between (min/max, inclusive, either optional), in / not_in (values),
                 regex (pattern, searched: anchor it with ^...$), length (min/max), unique
                 (within a batch; without a feature, of the record key: all its columns together,
                 named ``key_unique``), expression (sql: a row-level DuckDB boolean over the features)
    batch rules  row_count (min/max, of the rows received), null_fraction and mean (feature,
                 min/max, of the rows that pass the row rules)

Severity: ``reject_row`` (the row is refused, the rest land; the default of row rules),
``fail_batch`` (nothing of the batch is written; the default of batch rules) or ``warn`` (written
and reported). A null passes every row rule but not_null. On collection features, between, in,
not_in and regex check every element, length checks the number of elements, not_null the
collection itself; unique does not apply. Batch rules judge batches (an ingest); a single put is
not a batch, so only row rules apply to it (unique included: one record is always unique).

Studio-facing: the checks and severities the rules editor offers, and ``describe`` for a rule in
words.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..errors import ValidationError

if TYPE_CHECKING:
    import pyarrow as pa

    from .schema import FeatureGroup

ROW_CHECKS = ("not_null", "between", "in", "not_in", "regex", "length", "unique", "expression")
BATCH_CHECKS = ("row_count", "null_fraction", "mean")
SEVERITIES = ("reject_row", "fail_batch", "warn")
_KEYS = {"name", "check", "feature", "severity", "min", "max", "values", "pattern", "sql", "description"}
_NEEDS = {"between": ("min", "max"), "length": ("min", "max"), "row_count": ("min", "max"),
          "null_fraction": ("min", "max"), "mean": ("min", "max")}


@dataclass(frozen=True)
class Rule:
    name: str
    check: str
    severity: str
    feature: str | None = None
    min: float | int | None = None
    max: float | int | None = None
    values: tuple = ()
    pattern: str | None = None
    sql: str | None = None
    description: str = ""

    @property
    def row_level(self) -> bool:
        return self.check in ROW_CHECKS

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "check": self.check, "severity": self.severity}
        for key in ("feature", "min", "max", "pattern", "sql"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.check in ("in", "not_in"):
            out["values"] = list(self.values)
        if self.description:
            out["description"] = self.description
        return out

    def describe(self) -> str:
        """What the rule asks, in words: 'amount between 0 and 50000'."""
        if self.check == "unique" and self.feature is None:
            return "the record key unique"
        subject = self.feature or "the row"
        if self.check == "between":
            return f"{subject} {_bounds(self.min, self.max)}"
        if self.check == "length":
            return f"length of {subject} {_bounds(self.min, self.max)}"
        if self.check in ("in", "not_in"):
            shown = ", ".join(map(repr, self.values[:8])) + (", ..." if len(self.values) > 8 else "")
            return f"{subject} {'in' if self.check == 'in' else 'not in'} [{shown}]"
        if self.check == "regex":
            return f"{subject} matches {self.pattern!r}"
        if self.check == "expression":
            return str(self.sql)
        if self.check == "row_count":
            return f"rows in the batch {_bounds(self.min, self.max)}"
        if self.check == "null_fraction":
            return f"share of nulls in {subject} {_bounds(self.min, self.max)}"
        if self.check == "mean":
            return f"mean of {subject} {_bounds(self.min, self.max)}"
        return f"{subject} {self.check.replace('_', ' ')}"


def describe(spec: dict[str, Any]) -> str:
    """A stored rule (as ``FeatureStore.rules`` gives it) in words."""
    return Rule(**{**spec, "values": tuple(spec.get("values", ()))}).describe()


def _bounds(lo: Any, hi: Any) -> str:
    if lo is not None and hi is not None:
        return f"between {lo:g} and {hi:g}" if not isinstance(lo, str) else f"between {lo} and {hi}"
    return f"at least {lo:g}" if lo is not None else f"at most {hi:g}"


# ----------------------------------------------------------------------------- parsing


def parse(group: "FeatureGroup", specs: Any) -> list[Rule]:
    """The group's rules from their JSON form. Raises ValidationError naming the rule at fault."""
    if not isinstance(specs, (list, tuple)):
        raise ValidationError("Rules must be a list of dicts like {'feature': 'amount', 'check': 'not_null'}")
    rules, names = [], set()
    for i, spec in enumerate(specs):
        rule = _parse_one(group, spec, i)
        if rule.name in names:
            base, n = rule.name, 2
            while f"{base}_{n}" in names:
                n += 1
            if isinstance(spec, dict) and spec.get("name"):
                raise ValidationError(f"Rule name {rule.name!r} is used twice in {group.name!r}; give each rule its own")
            rule = Rule(**{**rule.__dict__, "name": f"{base}_{n}"})
        names.add(rule.name)
        rules.append(rule)
    return rules


def _parse_one(group: "FeatureGroup", spec: Any, i: int) -> Rule:
    where = f"Rule {i + 1}" + (f" ({spec.get('name')!r})" if isinstance(spec, dict) and spec.get("name") else "")
    if not isinstance(spec, dict):
        raise ValidationError(f"{where} must be a dict such as {{'feature': 'amount', 'check': 'not_null'}}")
    unknown = set(spec) - _KEYS
    if unknown:
        raise ValidationError(f"{where} has unknown keys {sorted(unknown)}; allowed: {', '.join(sorted(_KEYS))}")
    check = spec.get("check")
    if check not in ROW_CHECKS + BATCH_CHECKS:
        raise ValidationError(f"{where}: check {check!r} is not one of {', '.join(ROW_CHECKS + BATCH_CHECKS)}")
    feature = spec.get("feature")
    f = None
    if check in ("expression", "row_count"):
        if feature is not None:
            raise ValidationError(f"{where}: a {check} rule takes no feature")
    elif check == "unique" and feature is None:
        pass  # over the record key: every key column together
    else:
        if not isinstance(feature, str):
            raise ValidationError(f"{where}: a {check} rule needs a feature, e.g. 'feature': 'amount'")
        f = group.feature(feature)  # raises NotFound naming the group's features
    severity = spec.get("severity") or ("reject_row" if check in ROW_CHECKS else "fail_batch")
    if severity not in SEVERITIES:
        raise ValidationError(f"{where}: severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    if check in BATCH_CHECKS and severity == "reject_row":
        raise ValidationError(f"{where}: a {check} rule judges the whole batch, so it cannot reject one row; "
                              "use fail_batch or warn")
    kwargs: dict[str, Any] = {"check": check, "severity": severity, "feature": feature,
                              "description": str(spec.get("description") or "")}
    if check in _NEEDS:
        lo, hi = spec.get("min"), spec.get("max")
        for key, value in (("min", lo), ("max", hi)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value)):
                raise ValidationError(f"{where}: {key} must be a finite number, not {value!r}")
        if lo is None and hi is None:
            raise ValidationError(f"{where}: a {check} rule needs min, max or both")
        if lo is not None and hi is not None and lo > hi:
            raise ValidationError(f"{where}: min {lo} is above max {hi}")
        if check in ("between", "mean") and (f is None or f.type not in ("Integral", "Fractional")):
            raise ValidationError(f"{where}: {check} applies to numbers; {feature!r} is {f.type if f else '-'}")
        if check == "mean" and f is not None and f.is_collection:
            raise ValidationError(f"{where}: mean applies to a scalar feature; {feature!r} is a {f.collection}")
        if check == "length" and f is not None and f.type != "String" and not f.is_collection:
            raise ValidationError(f"{where}: length applies to text and collections; {feature!r} is {f.type}")
        kwargs.update(min=lo, max=hi)
    if check in ("in", "not_in"):
        values = spec.get("values")
        if not isinstance(values, (list, tuple)) or not values:
            raise ValidationError(f"{where}: an {check} rule needs a non-empty list of values")
        from .coerce import coerce_scalar

        typed = []
        for v in values:
            try:
                typed.append(coerce_scalar(f.type, v))
            except ValueError as exc:
                raise ValidationError(f"{where}: value {v!r} {exc}; {feature!r} is {f.type}") from None
        kwargs["values"] = tuple(dict.fromkeys(typed))
    if check == "regex":
        pattern = spec.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            raise ValidationError(f"{where}: a regex rule needs a pattern")
        if f.type != "String":
            raise ValidationError(f"{where}: regex applies to text; {feature!r} is {f.type}")
        _check_pattern(pattern, where)
        kwargs["pattern"] = pattern
    if check == "unique" and f is not None and f.is_collection:
        raise ValidationError(f"{where}: unique does not apply to the collection feature {feature!r}")
    if check == "expression":
        sql = spec.get("sql")
        if not isinstance(sql, str) or not sql.strip():
            raise ValidationError(f"{where}: an expression rule needs sql, e.g. 'refund_amount <= amount'")
        _check_expression(group, sql, where)
        kwargs["sql"] = sql.strip()
    name = spec.get("name") or (f"{feature}_{check}" if feature else "key_unique" if check == "unique" else check)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", name):
        raise ValidationError(f"{where}: name {name!r} must be 1-100 letters, digits, '_', '.' or '-'")
    return Rule(name=name, **kwargs)


def _check_pattern(pattern: str, where: str) -> None:
    """The pattern must mean the same to RE2 (bulk) and Python (single records)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        re.compile(pattern, re.ASCII)
        pc.match_substring_regex(pa.array(["x"]), pattern=pattern)
    except (re.error, pa.ArrowInvalid) as exc:
        raise ValidationError(f"{where}: pattern {pattern!r} is not a regular expression both engines read "
                              f"(RE2 syntax: no look-arounds or back-references): {exc}") from None


def _check_expression(group: "FeatureGroup", sql: str, where: str) -> None:
    from ..common import duck
    from ..model.schema import arrow_schema

    import duckdb

    import pyarrow as pa

    schema = arrow_schema(group)
    two_rows = pa.table({f.name: pa.nulls(2, f.type) for f in schema}, schema=schema)
    with duck.cursor() as con:
        con.register("__rows", two_rows)
        try:
            one = con.execute(f"SELECT count(*) FROM (SELECT CAST(({sql}) AS BOOLEAN) FROM __rows)").fetchall()
        except duckdb.Error as exc:
            from ..common.sqltext import plain_sql_error

            raise ValidationError(f"{where}: sql {sql!r} is not a row-level boolean over the features: "
                                  f"{plain_sql_error(exc)}") from None
    if one != [(2,)]:
        raise ValidationError(f"{where}: sql {sql!r} aggregates rows; an expression judges one row at a time")


# ----------------------------------------------------------------------------- verdicts


@dataclass
class Violation:
    """Rows (or, for a batch rule, the whole batch) that break one rule."""

    rule: Rule
    mask: np.ndarray | None  # per row; None for a batch rule
    reason: str
    measured: float | None = None  # the batch figure a batch rule judged


def reason(rule: Rule) -> str:
    """The words a report and an error give for a failed row rule."""
    if rule.check == "not_null":
        return f"is missing, but rule {rule.name} requires a value"
    return f"breaks rule {rule.name}: {rule.describe()}"


def check_batch(group: "FeatureGroup", rules: list[Rule], columns: dict[str, "pa.Array"], valid: np.ndarray,
                duplicates: dict[str, np.ndarray] | None = None) -> list[Violation]:
    """Row rules over a batch of typed columns; rows where ``valid`` is False (a type error) are
    not judged. Vectorised: pyarrow compute, DuckDB for expressions. ``duplicates`` gives a
    ``unique`` rule's repeated rows when the batch is a slice of a larger input (a Spark partition)."""
    out = []
    for rule in rules:
        if not rule.row_level:
            continue
        known = duplicates.get(rule.feature) if duplicates and rule.check == "unique" else None
        mask = (known if known is not None else _row_mask(group, rule, columns)) & valid
        if mask.any():
            out.append(Violation(rule, mask, reason(rule)))
    return out


def check_batch_rules(group: "FeatureGroup", rules: list[Rule], columns: dict[str, "pa.Array"],
                      written: np.ndarray) -> list[Violation]:
    """Batch rules: row_count over the rows received (a batch whose rows the row rules all refused
    still arrived, and its rows belong in the quarantine), null_fraction and mean over the rows
    that would be written (``written``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out = []
    keep = pa.array(written)
    n = int(written.sum())
    for rule in rules:
        if rule.row_level:
            continue
        if rule.check == "row_count":
            value: float | None = float(len(written))
        else:
            col = columns[rule.feature].filter(keep)
            if rule.check == "null_fraction":
                value = col.null_count / n if n else None
            else:
                value = pc.mean(col).as_py() if n - col.null_count else None
        if value is None:
            continue  # nothing to judge: an empty batch or a column of nulls has no mean
        if (rule.min is not None and value < rule.min) or (rule.max is not None and value > rule.max):
            out.append(Violation(rule, None, f"{rule.describe()}, but it is {value:g}", value))
    return out


def judge_batch_rules(rules: list[Rule], received: int, written: int,
                      sums: list[dict[str, tuple[int, float, int]]]) -> list[dict[str, Any]]:
    """``check_batch_rules`` from partial sums (per part of the batch and feature: nulls, sum and
    values of the rows that would be written), for a batch checked in parts (Spark partitions)."""
    out = []
    for rule in rules:
        if rule.row_level:
            continue
        if rule.check == "row_count":
            value: float | None = float(received)
        else:
            nulls = sum(s[rule.feature][0] for s in sums)
            values = sum(s[rule.feature][2] for s in sums)
            if rule.check == "null_fraction":
                value = nulls / written if written else None
            else:
                value = sum(s[rule.feature][1] for s in sums) / values if values else None
        if value is None:
            continue
        if (rule.min is not None and value < rule.min) or (rule.max is not None and value > rule.max):
            out.append({"rule": rule.name, "severity": rule.severity, "reason": f"{rule.describe()}, but it is {value:g}"})
    return out


def record_batch_verdicts(report: Any, counts: dict[str, dict[str, int]], verdicts: list[dict[str, Any]]) -> None:
    """Batch rules' verdicts into ``report`` (its batch warnings and failures) and into ``counts``
    per rule, as a batch checked in parts (Spark partitions, a file read in batches) reports them."""
    for verdict in verdicts:
        entry = counts.setdefault(verdict["rule"], {"rejected": 0, "warned": 0, "failed_batch": 0})
        if verdict["severity"] == "warn":
            report.batch_warnings.append({"rule": verdict["rule"], "reason": verdict["reason"]})
            entry["warned"] += 1
        else:
            report.batch_failures.append({"rule": verdict["rule"], "reason": verdict["reason"]})
            entry["failed_batch"] = 1


def _row_mask(group: "FeatureGroup", rule: Rule, columns: dict[str, "pa.Array"]) -> np.ndarray:
    import pyarrow.compute as pc

    if rule.check == "expression":
        return _expression_mask(group, rule, columns)
    if rule.check == "unique" and rule.feature is None:
        return key_duplicates([columns[k] for k in group.identifiers])
    col = columns[rule.feature]
    n = len(col)
    if rule.check == "not_null":
        return _np(pc.is_null(col))
    if rule.check == "unique":
        return duplicates(col)
    f = group.feature(rule.feature)
    if rule.check == "length":
        lengths = pc.list_value_length(col) if f.is_collection else pc.utf8_length(col)
        return _np(_outside(lengths, rule.min, rule.max))
    if f.is_collection:  # element-wise: a row fails if any of its elements does
        flat = pc.list_flatten(col)
        parents = pc.list_parent_indices(col).to_numpy()
        bad = np.zeros(n, dtype=bool)
        bad[parents[_np(_element_fails(rule, flat))]] = True
        return bad
    return _np(_element_fails(rule, col))


def _element_fails(rule: Rule, values: "pa.Array") -> "pa.Array":
    import pyarrow as pa
    import pyarrow.compute as pc

    if rule.check == "between":
        return _outside(values, rule.min, rule.max)
    if rule.check in ("in", "not_in"):
        choices = list(rule.values)
        if values.type == pa.float64() and 0.0 in choices:
            choices.append(-0.0)  # the same number to Python's `in`
        found = pc.is_in(values, value_set=pa.array(choices, values.type))
        return pc.and_(pc.invert(found), pc.is_valid(values)) if rule.check == "in" else found  # nulls pass
    if rule.check == "regex":
        return pc.invert(_matches(values, rule.pattern))
    raise AssertionError(rule.check)


def _matches(values: "pa.Array", pattern: str) -> "pa.Array":
    """RE2 over the values; over each distinct value once when a sample says there are few (codes,
    cities, currencies), which halves the cost of a pattern on a bulk ingest."""
    import pyarrow.compute as pc

    if len(values) >= 50_000 and pc.count_distinct(values.slice(0, 4096)).as_py() <= 256:
        encoded = pc.dictionary_encode(values)
        return pc.take(pc.match_substring_regex(encoded.dictionary, pattern=pattern), encoded.indices)
    return pc.match_substring_regex(values, pattern=pattern)


def _outside(values: "pa.Array", lo: Any, hi: Any) -> "pa.Array":
    """Values below ``lo`` or above ``hi``. Integers are compared with whole bounds (x < 0.5 is
    x < 1), as Python compares an int with a float: exactly, past 2**53 too."""
    import pyarrow as pa
    import pyarrow.compute as pc

    integral = pa.types.is_integer(values.type)
    bad = pa.array(np.zeros(len(values), dtype=bool))
    if lo is not None:
        bound = pa.scalar(math.ceil(lo), pa.int64()) if integral else pa.scalar(float(lo))
        bad = pc.or_(bad, pc.less(values, bound))
    if hi is not None:
        bound = pa.scalar(math.floor(hi), pa.int64()) if integral else pa.scalar(float(hi))
        bad = pc.or_(bad, pc.greater(values, bound))
    return bad


def _np(arr: "pa.Array") -> np.ndarray:
    return np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def duplicates(col: "pa.Array") -> np.ndarray:
    """Every occurrence of a value after its first (nulls are not compared)."""
    import pandas as pd

    series = pd.Series(col.to_pandas())
    return (series.duplicated(keep="first") & series.notna()).to_numpy()


def key_duplicates(cols: "list[pa.Array]") -> np.ndarray:
    """Every occurrence of a record key (the values of its columns together) after its first;
    a key with a null column is not compared."""
    import pandas as pd

    frame = pd.DataFrame({i: pd.Series(c.to_pandas()) for i, c in enumerate(cols)})
    return (frame.duplicated(keep="first") & frame.notna().all(axis=1)).to_numpy()


def _expression_mask(group: "FeatureGroup", rule: Rule, columns: dict[str, "pa.Array"]) -> np.ndarray:
    import pyarrow as pa

    from ..common import duck

    table = pa.table({f.name: columns[f.name] for f in group.features})
    with duck.cursor() as con:
        con.register("__rows", table)
        ok = con.sql(f"SELECT coalesce(CAST(({rule.sql}) AS BOOLEAN), TRUE) AS ok FROM __rows").to_arrow_table()
    return ~np.asarray(ok.column("ok").to_numpy(zero_copy_only=False), dtype=bool)


# ----------------------------------------------------------------------------- one record


@dataclass
class RecordChecker:
    """Row rules compiled for one record at a time: the same verdicts as ``check_batch`` on a
    batch of one, in plain Python (expressions and non-ASCII regex text go through the same
    engines as the batch path)."""

    group: "FeatureGroup"
    rules: list[Rule]
    checks: list[tuple[Rule, Callable[[dict[str, Any]], bool]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.checks = [(r, _compile(self.group, r)) for r in self.rules if r.row_level and r.check != "unique"]

    def failures(self, values: dict[str, Any]) -> list[Rule]:
        """The rules the typed record breaks."""
        return [rule for rule, fails in self.checks if fails(values)]


def _compile(group: "FeatureGroup", rule: Rule) -> Callable[[dict[str, Any]], bool]:
    if rule.check == "expression":
        return _expression_check(group, rule)
    name = rule.feature
    f = group.feature(name)
    if rule.check == "not_null":
        return lambda v: v.get(name) is None
    if rule.check == "length":
        lo, hi = rule.min, rule.max
        return lambda v: v.get(name) is not None and _out(len(v[name]), lo, hi)
    element = _element_check(rule)
    if f.is_collection:
        return lambda v: v.get(name) is not None and any(x is not None and element(x) for x in v[name])
    return lambda v: v.get(name) is not None and element(v[name])


def _element_check(rule: Rule) -> Callable[[Any], bool]:
    if rule.check == "between":
        lo, hi = rule.min, rule.max
        return lambda x: _out(x, lo, hi)
    if rule.check in ("in", "not_in"):
        allowed = frozenset(rule.values)
        if rule.check == "in":
            return lambda x: x not in allowed
        return lambda x: x in allowed
    if rule.check == "regex":
        compiled = re.compile(rule.pattern, re.ASCII)
        pattern = rule.pattern

        def fails(x: str) -> bool:
            if x.isascii() and "\n" not in x:  # where Python's re and RE2 agree
                return compiled.search(x) is None
            import pyarrow as pa
            import pyarrow.compute as pc

            return not pc.match_substring_regex(pa.array([x]), pattern=pattern)[0].as_py()
        return fails
    raise AssertionError(rule.check)


def _out(x: Any, lo: Any, hi: Any) -> bool:
    return (lo is not None and x < lo) or (hi is not None and x > hi)


def _expression_check(group: "FeatureGroup", rule: Rule) -> Callable[[dict[str, Any]], bool]:
    import pyarrow as pa

    from ..common import duck
    from ..model.schema import arrow_schema

    schema = arrow_schema(group)
    fields = [schema.field(f.name) for f in group.features]
    sql = f"SELECT coalesce(CAST(({rule.sql}) AS BOOLEAN), TRUE) AS ok FROM __rows"

    def fails(v: dict[str, Any]) -> bool:
        table = pa.table({fld.name: pa.array([v.get(fld.name)], fld.type) for fld in fields})
        with duck.cursor() as con:
            con.register("__rows", table)
            return not con.execute(sql).fetchall()[0][0]
    return fails
