"""On-demand features: values computed when they are asked for, from a service's group features
and from request data (values only the request has, like a transaction's amount), by the same
definition online and offline, so training and serving cannot drift apart.

Two kinds:
- SQL: one DuckDB expression per output (``sql="amount / NULLIF(avg_amount_30d, 0)"``, or a dict
  {output: expression}). Offline it runs in DuckDB over the whole entity table; online, where the
  expression keeps to arithmetic, comparisons, logic, CASE, COALESCE, NULLIF, ABS, LEAST and
  GREATEST, it runs as compiled Python with DuckDB's semantics (``store.model.expressions``), and
  otherwise in DuckDB. Decimal literals are DOUBLE (``1.1`` is the float 1.1 in both paths).
- Python: a function decorated with ``@on_demand``; ``mode="pandas"`` (the default) takes a
  DataFrame of the inputs and returns a DataFrame (or dict) of the outputs; ``mode="python"``
  takes and returns dicts of lists, which costs far less for one row. The store keeps the
  function's source text and always runs that text (in this process too), so every process serves
  the registered version. It may use ``pd``, ``np``, ``pa`` and ``math`` and import what else it
  needs inside its body.

An input column is named as the feature (``<group>__<feature>`` where two input groups share the
name); a request field by its name. Outputs are typed Features; a value the type cannot hold is an
error naming the function and the entity row, never a silent null. ``rules`` are row rules over
the outputs (``store.model.rules``): a computed value that breaks one is an error naming the rule,
the function and the entity row (severity ``warn``: a warning, the value kept), online and offline.

Studio-facing: ``OnDemandFeature``.
"""
from __future__ import annotations

import inspect
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..errors import NotFound, ValidationError
from .schema import FEATURE_TYPES, Feature, FeatureGroup, check_name, check_text

if TYPE_CHECKING:
    from .rules import Rule

KINDS, MODES = ("sql", "python"), ("pandas", "python")
PREFIX = "on_demand:"


def _refs(inputs: Any, name: str) -> tuple[str, ...]:
    if isinstance(inputs, str) or not isinstance(inputs, (list, tuple)):
        raise ValidationError(f"On-demand feature {name!r}: inputs must be a list like ['customer_spend:avg_30d']",
                              on_demand=name, field="inputs")
    for ref in inputs:
        if not isinstance(ref, str) or ref.count(":") != 1 or ref.endswith(":*") or not all(ref.split(":")):
            raise ValidationError(f"On-demand feature {name!r}: input {ref!r} must name one feature as "
                                  "'group:feature' (request fields go in request=)", on_demand=name, field="inputs")
    if len(set(inputs)) != len(inputs):
        raise ValidationError(f"On-demand feature {name!r} lists an input twice", on_demand=name, field="inputs")
    return tuple(inputs)


def _outputs(outputs: Any, name: str) -> tuple[Feature, ...]:
    if isinstance(outputs, Feature):
        outputs = [outputs]
    if not isinstance(outputs, (list, tuple)) or not outputs or not all(isinstance(f, Feature) for f in outputs):
        raise ValidationError(f"On-demand feature {name!r}: outputs must be a non-empty list of "
                              "Feature(name, type)", on_demand=name, field="outputs")
    collections = [f.name for f in outputs if f.collection]
    if collections:
        raise ValidationError(f"On-demand feature {name!r}: output {collections[0]!r} is a collection; outputs are "
                              "Integral, Fractional or String", on_demand=name, field="outputs")
    names = [f.name.lower() for f in outputs]
    if len(set(names)) != len(names):
        raise ValidationError(f"On-demand feature {name!r} names an output twice", on_demand=name, field="outputs")
    return tuple(outputs)


def _request(request: Any, name: str) -> dict[str, str]:
    request = dict(request or {})
    for field_name, kind in request.items():
        check_name(field_name, f"On-demand feature {name!r}: request field")
        if kind not in FEATURE_TYPES:
            raise ValidationError(f"On-demand feature {name!r}: request field {field_name!r} has type {kind!r}; use "
                                  f"one of {', '.join(FEATURE_TYPES)}", on_demand=name, field="request")
    return request


@dataclass(frozen=True)
class OnDemandFeature:
    """One version of an on-demand feature. ``sql`` maps each output to its expression (SQL kind);
    ``source`` is the Python function's text (Python kind); ``function`` is the callable this
    process runs, made from ``source`` when the store loads it."""

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[Feature, ...]
    request: dict[str, str] = field(default_factory=dict)
    sql: dict[str, str] | None = None
    source: str = ""
    mode: str = "pandas"
    description: str = ""
    owner: str = ""
    version: int = 1
    created_at: int | None = None
    created_by: str = ""
    rules: tuple[dict[str, Any], ...] = ()  # row rules over the outputs (store.model.rules' form)
    function: Callable[..., Any] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        check_name(self.name, "On-demand feature")
        object.__setattr__(self, "inputs", _refs(self.inputs, self.name))
        object.__setattr__(self, "outputs", _outputs(self.outputs, self.name))
        object.__setattr__(self, "request", _request(self.request, self.name))
        if not self.inputs and not self.request:
            raise ValidationError(f"On-demand feature {self.name!r} reads nothing: give inputs= and/or request=",
                                  on_demand=self.name)
        if (self.sql is None) == (not self.source):
            raise ValidationError(f"On-demand feature {self.name!r} needs exactly one of sql= or a Python function",
                                  on_demand=self.name)
        if self.sql is not None:
            object.__setattr__(self, "sql", self._sql(self.sql))
        elif self.mode not in MODES:
            raise ValidationError(f"On-demand feature {self.name!r}: mode must be 'pandas' or 'python', got "
                                  f"{self.mode!r}", on_demand=self.name, field="mode")
        check_text(self.description, f"Description of on-demand feature {self.name!r}")
        if isinstance(self.rules, dict) or not isinstance(self.rules, (list, tuple)):
            raise ValidationError(f"On-demand feature {self.name!r}: rules must be a list of rules like "
                                  "[{'feature': 'ratio', 'check': 'between', 'min': 0}]", on_demand=self.name, field="rules")
        object.__setattr__(self, "rules", tuple(dict(r) if isinstance(r, dict) else r for r in self.rules))
        self.checks()  # refuses a rule that does not fit the outputs

    def outputs_group(self) -> FeatureGroup:
        """The outputs seen as a group's features, which is what rules are written over (its key
        and event time are placeholders: rules on outputs judge values only)."""
        first = self.outputs[0].name
        return FeatureGroup(name=self.name, identifiers=(first,), event_time=first, features=self.outputs)

    def checks(self) -> list["Rule"]:
        """The rules, parsed against the outputs: row rules only (a value is judged as it is
        computed; there is no batch), and no ``unique`` (entity rows may repeat)."""
        from .rules import parse

        if not self.rules:
            return []
        try:
            rules = parse(self.outputs_group(), list(self.rules))
        except NotFound:
            raise ValidationError(f"On-demand feature {self.name!r}: a rule names a feature that is not one of its "
                                  f"outputs ({', '.join(self.output_names)})", on_demand=self.name,
                                  field="rules") from None
        except ValidationError as exc:
            raise ValidationError(f"On-demand feature {self.name!r}: {exc.message}", on_demand=self.name,
                                  field="rules") from None
        wrong = [r.name for r in rules if not r.row_level or r.check == "unique"]
        if wrong:
            raise ValidationError(f"On-demand feature {self.name!r}: rule {wrong[0]!r} judges a batch or uniqueness; "
                                  "an on-demand output takes row rules (not_null, between, in, not_in, regex, length, "
                                  "expression)", on_demand=self.name, field="rules")
        return rules

    def _sql(self, sql: Any) -> dict[str, str]:
        if isinstance(sql, str):
            if len(self.outputs) != 1:
                raise ValidationError(f"On-demand feature {self.name!r} has {len(self.outputs)} outputs: give sql as "
                                      "a dict {output: expression}", on_demand=self.name, field="sql")
            sql = {self.outputs[0].name: sql}
        if not isinstance(sql, dict) or sorted(sql) != sorted(f.name for f in self.outputs) \
                or not all(isinstance(e, str) and e.strip() for e in sql.values()):
            raise ValidationError(f"On-demand feature {self.name!r}: sql must give one expression per output "
                                  f"({', '.join(f.name for f in self.outputs)})", on_demand=self.name, field="sql")
        return {f.name: sql[f.name].strip() for f in self.outputs}

    @property
    def kind(self) -> str:
        return "sql" if self.sql is not None else "python"

    @property
    def groups(self) -> list[str]:
        return list(dict.fromkeys(ref.split(":")[0] for ref in self.inputs))

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """The inputs as (group, feature)."""
        return [tuple(ref.split(":")) for ref in self.inputs]  # type: ignore[misc]

    def columns(self) -> dict[tuple[str, str], str]:
        """Each input's column name in the function's batch: the feature's name, or
        ``<group>__<feature>`` where two input groups share it."""
        counts: dict[str, int] = {}
        for _, f in self.pairs:
            counts[f] = counts.get(f, 0) + 1
        return {(g, f): f if counts[f] == 1 else f"{g}__{f}" for g, f in self.pairs}

    @property
    def output_names(self) -> list[str]:
        return [f.name for f in self.outputs]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "kind": self.kind, "inputs": list(self.inputs),
                "request": dict(self.request), "outputs": [{"name": f.name, "type": f.type} for f in self.outputs],
                "sql": dict(self.sql) if self.sql is not None else None, "source": self.source, "mode": self.mode,
                "description": self.description, "owner": self.owner, "created_at": self.created_at,
                "created_by": self.created_by, "rules": [dict(r) for r in self.rules]}


def function_source(fn: Callable[..., Any], name: str) -> str:
    """The function's text from its ``def`` on (decorators dropped), which the store keeps and runs."""
    if not inspect.isfunction(fn) or fn.__name__ == "<lambda>":
        raise ValidationError(f"On-demand feature {name!r}: give a function defined with def (not a lambda)",
                              on_demand=name)
    try:
        text = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        raise ValidationError(f"On-demand feature {name!r}: the source of {fn.__name__!r} cannot be read (defined "
                              "at an interactive prompt?); define it in a file or a notebook cell",
                              on_demand=name) from None
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(("def ", "async def "))), None)
    if start is None:
        raise ValidationError(f"On-demand feature {name!r}: {fn.__name__!r} has no def line", on_demand=name)
    return "\n".join(lines[start:]).rstrip() + "\n"


def on_demand(inputs: Sequence[str] = (), outputs: Sequence[Feature] | Feature = (), request: dict[str, str] | None = None,
              mode: str = "pandas", name: str | None = None, description: str = "",
              rules: Sequence[dict[str, Any]] = ()) -> Callable[[Callable[..., Any]], OnDemandFeature]:
    """Decorate a function as an on-demand feature (register it with ``fs.register_on_demand``)::

        @on_demand(inputs=["customer_spend:avg_amount_30d"], request={"amount": "Fractional"},
                   outputs=[Feature("amount_vs_avg_30d", "Fractional")])
        def amount_vs_avg_30d(df):
            return pd.DataFrame({"amount_vs_avg_30d": df["amount"] / df["avg_amount_30d"]})
    """
    def wrap(fn: Callable[..., Any]) -> OnDemandFeature:
        title = name or getattr(fn, "__name__", "")
        return OnDemandFeature(name=title, inputs=tuple(inputs), outputs=outputs, request=request or {},
                               source=function_source(fn, title), mode=mode, description=description,
                               rules=tuple(rules), function=fn)
    return wrap


def parse_ref(spec: Any) -> str | None:
    """The name in 'on_demand:NAME' (or of an OnDemandFeature given as is); None for anything else."""
    if isinstance(spec, OnDemandFeature):
        return spec.name
    if isinstance(spec, str) and spec.startswith(PREFIX):
        return spec[len(PREFIX):]
    return None
