"""Rules suggested by a profile of a group's latest records (one DuckDB pass): not_null where no
value is missing, the observed range of numbers, the values of low-cardinality text, and the
length of text whose values all have one length (codes such as country or currency)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..common.sqltext import q
from ..retrieval.stats import LATEST, read, rows_sql

if TYPE_CHECKING:
    import duckdb

    from ..core.context import StoreContext
    from ..model.schema import FeatureGroup

MAX_CATEGORIES = 20
MIN_ROWS = 20  # fewer records say too little to suggest from


def suggest(ctx: "StoreContext", group: str) -> list[dict[str, Any]]:
    g = ctx.group(group)[0]
    if not g.offline:
        return []

    def work(con: "duckdb.DuckDBPyConnection", g: "FeatureGroup", view: str) -> list[dict[str, Any]]:
        rows = rows_sql(g, view, LATEST)
        scalars = [f for f in g.features if not f.is_collection and f.name != g.event_time]
        aggs = ["count(*)"]
        for f in scalars:
            c = q(f.name)
            aggs += [f"count({c})", f"count(DISTINCT {c})"]
            if f.type == "String":
                aggs += [f"min(length({c}))", f"max(length({c}))"]
            else:
                aggs += [f"min({c})", f"max({c})"]
        values = con.sql(f"SELECT {', '.join(aggs)} FROM ({rows})").fetchall()[0]
        total = values[0]
        if total < MIN_ROWS:
            return []
        out: list[dict[str, Any]] = []
        for i, f in enumerate(scalars):
            count, distinct, lo, hi = values[1 + 4 * i: 5 + 4 * i]
            if count == total:
                out.append({"feature": f.name, "check": "not_null"})
            if not count or f.name in g.identifiers:
                continue
            if f.type in ("Integral", "Fractional"):
                out.append({"feature": f.name, "check": "between", "min": lo, "max": hi})
            elif distinct <= MAX_CATEGORIES and count >= 2 * distinct:
                found = [v for (v,) in con.sql(f"SELECT DISTINCT {q(f.name)} FROM ({rows}) "
                                               f"WHERE {q(f.name)} IS NOT NULL ORDER BY 1").fetchall()]
                out.append({"feature": f.name, "check": "in", "values": found})
            elif lo == hi:
                out.append({"feature": f.name, "check": "length", "min": lo, "max": hi})
        return out

    return read(ctx, group, work)
