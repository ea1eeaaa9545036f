"""What a pipeline is: its definition, checked once when it is created or changed.

A pipeline computes rows for one target feature group from its inputs (feature groups, or
CSV/Parquet paths and globs) with DuckDB SQL or a Python function. ``mode`` says what a run
reads: ``incremental`` the input rows written since the last successful run (by the store's
write clock, so late events are not missed), ``full`` every input row. ``lookback`` widens what
an incremental run or a backfill interval reads: every input row whose event time falls within
``lookback`` before the run's window, for rolling aggregates.
"""
from __future__ import annotations

import glob
import json
import os
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any, Iterator

from ..errors import ValidationError
from ..model.schema import check_name
from ..common.timeutil import duration_seconds

MODES = ("incremental", "full")
TRIGGERS = (None, "on_change")
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
WINDOW_NAMES = ("window_start", "window_end")


@dataclass
class PipelineSpec:
    name: str
    target: str
    sql: str | None = None
    function: str | None = None  # "package.module:callable"
    inputs: dict[str, str] = field(default_factory=dict)  # view name -> group name or path/glob
    mode: str = "incremental"
    schedule: str | None = None  # cron, UTC; five fields, or six with seconds last
    trigger: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    lookback_seconds: float | None = None
    retries: int = 2
    retry_delay_seconds: float = 60.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def group_inputs(self, groups: set[str]) -> dict[str, str]:
        """View name -> group, for the inputs that name a feature group."""
        return {view: src for view, src in self.inputs.items() if src in groups}

    def file_inputs(self, groups: set[str]) -> dict[str, str]:
        """View name -> path or glob, for the inputs that are files."""
        return {view: src for view, src in self.inputs.items() if src not in groups}

    def reads_own_target(self) -> bool:
        """True when the target group is one of its inputs: each run reads what earlier runs wrote."""
        return self.target in self.inputs.values()


LOOKBACK_HELP = ("A look-back makes each incremental run (and each backfill interval) also read the input rows whose "
                 "event time lies up to that long before its window, so an aggregate sees every row it covers")


def check_aggregates(spec: PipelineSpec, groups: set[str]) -> None:
    """Refuse a definition whose runs would write partial aggregates over the true ones: SQL that
    aggregates its inputs (aggregate functions, GROUP BY, window functions, DISTINCT) in
    incremental mode reads only the rows written since the last run, so without a look-back
    each key's count, sum or max covers those rows alone and overwrites the complete one. File
    inputs are read whole file by file, which a look-back does not widen, so those need full
    mode. A function pipeline is Python the store cannot inspect; its author decides. An
    explicit ``lookback=0`` says that aggregating each run's new rows alone is meant."""
    if spec.sql is None or spec.mode != "incremental" or spec.lookback_seconds == 0:
        return
    found = aggregates_in(spec.sql)
    if found is None:
        return
    files = sorted(spec.file_inputs(groups))
    if files:
        raise ValidationError(f"Pipeline {spec.name!r}: the SQL aggregates ({found}) and reads file input "
                              f"{files[0]!r} ({spec.inputs[files[0]]}); an incremental run reads only the files "
                              "new since the last run, so each aggregate would cover those files alone and overwrite "
                              "the complete one. Use mode='full' (every run reads every file)")
    if spec.lookback_seconds is None:
        raise ValidationError(f"Pipeline {spec.name!r}: the SQL aggregates ({found}) but mode='incremental' has no "
                              "lookback: each run would read only the rows written since the last run and write "
                              "partial aggregates over the true ones. Set lookback= to the span the aggregate covers "
                              f"(e.g. lookback='30d'). {LOOKBACK_HELP}. Or use mode='full' (every run reads every row)")


def check_backfill(spec: PipelineSpec) -> None:
    """A backfill interval without a look-back reads that interval's rows only: aggregating SQL
    would overwrite each key's complete aggregate with the interval's part."""
    if spec.sql is None or spec.lookback_seconds is not None:
        return
    found = aggregates_in(spec.sql)
    if found is not None:
        raise ValidationError(f"Pipeline {spec.name!r}: the SQL aggregates ({found}) and has no lookback, so each "
                              "backfill interval would aggregate only its own rows and overwrite the complete "
                              f"aggregates. Set the pipeline's lookback first. {LOOKBACK_HELP}. Or run it in full "
                              "(run_pipeline(full=True), `featurestore pipeline run --full`)")


def self_read_warning(spec: PipelineSpec) -> str | None:
    """What to tell about a pipeline that reads the group it writes, or None."""
    if not spec.reads_own_target():
        return None
    return (f"Pipeline {spec.name!r} reads its own target {spec.target!r}: every run also reads the rows earlier "
            "runs wrote, so its output feeds its next input. Check that this is meant")


def aggregates_in(sql: str) -> str | None:
    """What in ``sql`` aggregates rows, in words (e.g. "count(*), GROUP BY"), or None. Read from
    DuckDB's own parse tree, so comments, strings and names that look like SQL do not count; SQL
    that does not parse is left to the run to report."""
    from ..common import duck

    text = PLACEHOLDER.sub("NULL", sql)  # {{window_start}} and parameters are values
    with duck.cursor() as con:
        tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [text]).fetchone()[0])
    if tree.get("error"):
        return None
    aggregate_names = _aggregate_functions()
    found: list[tuple[int, str]] = []  # (where in the text, what), to name them in the order written
    for node in _nodes(tree.get("statements", [])):
        at = node.get("query_location", 0)
        if node.get("class") == "FUNCTION" and node.get("function_name") in aggregate_names:
            name = node["function_name"]
            found.append((at, "count(*)" if name == "count_star" else f"{name}()"))
        elif node.get("class") == "WINDOW":
            found.append((at, f"{node.get('function_name', 'a window function')}() OVER"))
        elif node.get("type") == "SELECT_NODE":
            if node.get("group_expressions") or node.get("aggregate_handling") == "FORCE_AGGREGATES":
                found.append((len(text), "GROUP BY"))
            if any(m.get("type") == "DISTINCT_MODIFIER" for m in node.get("modifiers", [])):
                found.append((-1, "DISTINCT"))
    return ", ".join(dict.fromkeys(what for _, what in sorted(found))) or None


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    """Every mapping in the parse tree, depth first."""
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


@lru_cache(maxsize=1)
def _aggregate_functions() -> frozenset[str]:
    from ..common import duck

    with duck.cursor() as con:
        rows = con.execute("SELECT DISTINCT function_name FROM duckdb_functions() "
                           "WHERE function_type = 'aggregate'").fetchall()
    return frozenset(r[0] for r in rows)


def build(name: str, target: str, *, sql: str | None = None, function: str | None = None, inputs: Any = (),
          mode: str = "incremental", schedule: str | None = None, trigger: str | None = None,
          params: dict[str, Any] | None = None, description: str = "", tags: dict[str, str] | None = None,
          lookback: Any = None, retries: int = 2, retry_delay: Any = 60, groups: set[str] | None = None
          ) -> PipelineSpec:
    """A checked definition; every error names the field at fault and how to fix it."""
    check_name(name, "Pipeline name")
    if (sql is None) == (function is None):
        raise ValidationError(f"Pipeline {name!r}: give either sql (DuckDB SQL) or function ('module:callable'), "
                              "not both and not neither")
    if sql is not None and (not isinstance(sql, str) or not sql.strip()):
        raise ValidationError(f"Pipeline {name!r}: sql is empty; write the SELECT that computes the target's rows")
    if function is not None and (not isinstance(function, str) or not re.fullmatch(r"[\w.]+:[\w.]+", function)):
        raise ValidationError(f"Pipeline {name!r}: function={function!r}: write it as 'package.module:callable'")
    if mode not in MODES:
        raise ValidationError(f"Pipeline {name!r}: mode={mode!r}: use 'incremental' or 'full'")
    if trigger not in TRIGGERS:
        raise ValidationError(f"Pipeline {name!r}: trigger={trigger!r}: use 'on_change' or leave it empty")
    if schedule is not None:
        schedule = check_cron(schedule)
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 10:
        raise ValidationError(f"Pipeline {name!r}: retries={retries!r}: use a whole number from 0 to 10")
    delay = duration_seconds(retry_delay, "retry_delay")
    window = duration_seconds(lookback, "lookback") if lookback is not None else None
    params = dict(params or {})
    for key, value in params.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(key)) or key in WINDOW_NAMES:
            raise ValidationError(f"Pipeline {name!r}: parameter {key!r}: use a name of letters, digits and _ "
                                  f"other than {', '.join(WINDOW_NAMES)}")
        if not isinstance(value, (int, float, str, bool)):
            raise ValidationError(f"Pipeline {name!r}: parameter {key!r} is a {type(value).__name__}; "
                                  "use a number, text or true/false")
    spec = PipelineSpec(name, target, sql, function, _inputs(name, inputs, groups or set()), mode, schedule, trigger,
                        params, str(description or ""), {str(k): str(v) for k, v in (tags or {}).items()},
                        window, retries, delay)
    if trigger == "on_change" and spec.reads_own_target():
        raise ValidationError(f"Pipeline {name!r}: trigger='on_change' with its target {target!r} among its inputs "
                              "would start it again after every run of its own; give it a schedule or run it on "
                              "demand")
    if sql is not None:
        unknown = sorted({m for m in PLACEHOLDER.findall(sql)} - set(WINDOW_NAMES) - set(params))
        if unknown:
            raise ValidationError(f"Pipeline {name!r}: the SQL uses {{{{{unknown[0]}}}}}, which is neither "
                                  f"window_start, window_end nor a parameter; add it to params")
    return spec


def from_dict(data: dict[str, Any], groups: set[str]) -> PipelineSpec:
    """A stored (or YAML) definition back as a checked spec."""
    data = dict(data)
    if "lookback_seconds" in data:
        data["lookback"] = data.pop("lookback_seconds")
    if "retry_delay_seconds" in data:
        data["retry_delay"] = data.pop("retry_delay_seconds")
    known = {"name", "target", "sql", "function", "inputs", "mode", "schedule", "trigger", "params", "description",
             "tags", "lookback", "retries", "retry_delay"}
    extra = sorted(set(data) - known)
    if extra:
        raise ValidationError(f"Pipeline definition has unknown field {extra[0]!r}; known: {', '.join(sorted(known))}")
    for key in ("name", "target"):
        if key not in data:
            raise ValidationError(f"Pipeline definition lacks {key!r}")
    name, target = data.pop("name"), data.pop("target")
    return build(name, target, groups=groups, **data)


def check_cron(expression: Any) -> str:
    """A cron expression croniter accepts (five fields; a sixth is seconds), else a clear error."""
    from croniter import croniter

    if not isinstance(expression, str) or not croniter.is_valid(expression.strip()):
        raise ValidationError(f"schedule={expression!r} is not a cron expression; write five fields "
                              "'minute hour day month weekday' in UTC, e.g. '0 23 * * *' for 23:00 every day")
    return expression.strip()


def _inputs(name: str, inputs: Any, groups: set[str]) -> dict[str, str]:
    """Inputs as view name -> source: a group is read under its own name, a file under its stem
    ('data/events_*.csv' -> events); a dict names the views itself."""
    if isinstance(inputs, str):
        inputs = [inputs]
    if isinstance(inputs, dict):
        pairs = [(str(k), str(v)) for k, v in inputs.items()]
    elif isinstance(inputs, (list, tuple)):
        pairs = [(src if src in groups else _stem(src), src) for src in map(str, inputs)]
    else:
        raise ValidationError(f"Pipeline {name!r}: inputs must be a list of groups or paths, or a dict of "
                              "view name -> group or path")
    out: dict[str, str] = {}
    for view, src in pairs:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*|[A-Za-z0-9][A-Za-z0-9_-]*", view):
            raise ValidationError(f"Pipeline {name!r}: input view name {view!r}: use letters, digits, _ and -")
        if view in out:
            raise ValidationError(f"Pipeline {name!r}: two inputs are read as {view!r}; name them with a dict")
        if src not in groups and not glob.has_magic(src) and not os.path.exists(src):
            raise ValidationError(f"Pipeline {name!r}: input {src!r} is neither a feature group nor an existing "
                                  "file; give a group's name, or a CSV/Parquet path or glob")
        if src not in groups and not src.lower().endswith((".csv", ".parquet", ".pq", ".csv.gz")):
            raise ValidationError(f"Pipeline {name!r}: input {src!r}: files must be CSV or Parquet "
                                  "(.csv, .csv.gz, .parquet)")
        out[view] = os.path.abspath(src) if src not in groups else src
    return out


def _stem(path: str) -> str:
    base = os.path.basename(path).split(".")[0]
    return re.sub(r"[^A-Za-z0-9_]+", "_", base.replace("*", "")).strip("_") or "input"
