"""Lineage as a principal sees it: models registered against datasets, which datasets and models
use each group, and the graph around a node, each without the nodes that would tell the principal
about groups it may not see (``ctx.policy.hidden_lineage``). The graph itself is kept by
``store.registry.lineage``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from ..common.timeutil import now_us
from ..errors import ValidationError
from ..registry import lineage as graph_store

if TYPE_CHECKING:
    from ..core.context import StoreContext


def register_model(ctx: "StoreContext", name: str, datasets: Sequence[str] = (), description: str = "",
                   properties: dict[str, Any] | None = None) -> dict[str, Any]:
    """Record a model and link it to the datasets (ids or names) it was trained on."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("A model needs a non-empty name")
    now = now_us()
    hidden = ctx.policy.hidden_lineage()
    with ctx.db.write() as conn:
        ids = [graph_store.dataset_node(conn, d, hidden) for d in datasets]
        node = f"model:{name}"
        graph_store.upsert_node(conn, node, "model", name, now, {"description": description, **(properties or {})})
        for d in ids:
            graph_store.add_edge(conn, d, node, "trained", now)
        return graph_store.node(conn, node)


def usage(ctx: "StoreContext") -> dict[str, dict[str, list[str]]]:
    """Per group, the datasets built from it and the models trained on those."""
    return graph_store.usage(ctx.db.get(), ctx.policy.hidden_lineage())


def graph(ctx: "StoreContext", node: str | None = None, depth: int | None = None) -> graph_store.LineageGraph:
    """The lineage graph, or the part within ``depth`` edges of ``node`` ('feature_group:x', or
    a bare group name)."""
    conn = ctx.db.get()
    if node is not None and ":" not in node:
        node = f"feature_group:{node}"
    hidden = ctx.policy.hidden_lineage()
    return graph_store.graph(conn, node, depth, hidden)
