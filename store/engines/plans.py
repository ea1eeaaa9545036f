"""The engine-neutral SQL plans of a group's statistics: which rows they cover (``rows_sql``)
and the aggregates every engine computes over them (``summary_aggregates``, then
``spread_aggregates``), written once in the SQL DuckDB and Spark both speak, so two engines give
the same figures. ``store.retrieval.stats`` words the answer; the engines run these plans.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from ..errors import ValidationError
from ..model.schema import Feature, FeatureGroup
from ..offline import snapshot as query

HISTORY, LATEST = "history", "latest"
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def rows_sql(group: FeatureGroup, view: str, scope: str) -> str:
    """The rows statistics run over: full history without delete markers, or the latest view."""
    if scope == HISTORY:
        return f"SELECT * FROM {view} WHERE NOT is_deleted"
    if scope == LATEST:
        return query.as_of_sql(group, view, None, None, None, False)
    raise ValidationError(f"scope={scope!r}: use {HISTORY!r} or {LATEST!r}")


def numeric(f: Feature) -> bool:
    return not f.is_collection and f.type in ("Integral", "Fractional")


def summary_aggregates(g: FeatureGroup, quote: Callable[[str], str], quantiles: str
                       ) -> tuple[list[str], list[tuple[str, str]]]:
    """The aggregates of ``summary`` in SQL both engines speak (``quote`` quotes a name,
    ``quantiles`` is the engine's exact interpolated quantile function of ``{c}`` at ``{qs}``),
    and the (feature, column) pairs whose top values the engine adds."""
    qs = ", ".join(str(x) for x in QUANTILES)
    aggs, tops = ["count(*) AS __total"], []
    for j, f in enumerate(g.features):
        c = quote(f.name)
        aggs += [f"count({c}) AS c{j}", f"count(DISTINCT {c}) AS d{j}"]
        if f.is_collection:
            aggs += [f"NULL AS lo{j}", f"NULL AS hi{j}"]
        else:
            aggs += [f"min({c}) AS lo{j}", f"max({c}) AS hi{j}"]
        if numeric(f):
            aggs += [f"avg({c}) AS m{j}", quantiles.format(c=c, qs=qs) + f" AS q{j}"]
        else:
            aggs += [f"NULL AS m{j}", f"NULL AS q{j}"]
        # Top values say little for floats, collections, identifiers and event times.
        if not (f.is_collection or f.type == "Fractional" or f.name in (*g.identifiers, g.event_time)):
            tops.append((f.name, f"t{j}"))
    return aggs, tops


def spread_aggregates(g: FeatureGroup, quote: Callable[[str], str], first: dict[str, Any]) -> list[str]:
    """Each numeric feature's standard deviation, of its values less their minimum (from the first
    pass, ``first``): large values (ids near 2**40, epoch seconds) keep their precision, and both
    engines agree to the last digits instead of differing in the sixth."""
    out = []
    for j, f in enumerate(g.features):
        pivot = first.get(f"lo{j}") if numeric(f) else None
        if pivot is None or (isinstance(pivot, float) and not math.isfinite(pivot)):
            # An aggregate even for a non-numeric feature: with no aggregate at all (no numeric
            # feature) the statement would return one row per input row.
            out.append(f"stddev_samp({quote(f.name)}) AS s{j}" if numeric(f) else
                       f"stddev_samp(CAST(NULL AS DOUBLE)) AS s{j}")
        else:
            out.append(f"stddev_samp({quote(f.name)} - {pivot!r}) AS s{j}")
    return out
