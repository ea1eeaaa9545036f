"""Lineage drawn with Graphviz: nodes styled by kind and linked to their page, and hidden kinds
bridged so that hiding features still shows which groups fed which dataset."""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable
from urllib.parse import urlencode

from store.registry.lineage import LineageGraph

KINDS = {  # kind: (label, shape, fill colour)
    "source": ("Data source", "note", "#fef3c7"),
    "writer": ("Writer", "cds", "#f1f5f9"),
    "pipeline": ("Pipeline", "hexagon", "#ffedd5"),
    "feature_group": ("Feature group", "box", "#dbeafe"),
    "feature": ("Feature", "ellipse", "#f8fafc"),
    "on_demand": ("On-demand feature", "parallelogram", "#cffafe"),
    "feature_service": ("Feature service", "octagon", "#fce7f3"),
    "dataset": ("Dataset", "folder", "#dcfce7"),
    "model": ("Model", "component", "#ede9fe"),
}
DEFAULT_KINDS = ["source", "writer", "pipeline", "feature_group", "on_demand", "feature_service", "dataset", "model"]


def node_url(node: dict[str, Any]) -> str:
    """A relative link to the node's page: its group for groups and features, else the lineage
    page focused on the node."""
    props = node.get("properties") or {}
    if node["kind"] == "feature_group" and not props.get("deleted"):
        return "group?" + urlencode({"group": node["name"]})
    if node["kind"] == "feature" and props.get("group"):
        return "group?" + urlencode({"group": props["group"], "tab": "Schema"})
    if node["kind"] == "pipeline":
        return "pipelines?" + urlencode({"pipeline": node["name"]})
    if node["kind"] == "feature_service" and not props.get("deleted"):
        return "services?" + urlencode({"service": node["name"]})
    if node["kind"] == "on_demand" and not props.get("deleted"):
        return "on_demand?" + urlencode({"feature": node["name"]})
    return "lineage?" + urlencode({"node": node["id"]})


def shown_nodes(graph: LineageGraph, kinds: Iterable[str], text: str = "") -> set[str]:
    """Nodes of the chosen kinds; with ``text``, those whose id or name contains it, plus their
    neighbours in the drawing (across hidden kinds) so each match keeps its context."""
    kinds = set(kinds)
    by_kind = {n["id"] for n in graph.nodes if n["kind"] in kinds}
    text = text.strip().lower()
    if not text:
        return by_kind
    hits = {n["id"] for n in graph.nodes if n["id"] in by_kind and (text in n["id"].lower() or text in n["name"].lower())}
    drawn = visible_edges(graph, by_kind)
    return hits | {e["dst"] for e in drawn if e["src"] in hits} | {e["src"] for e in drawn if e["dst"] in hits}


def visible_edges(graph: LineageGraph, shown: set[str]) -> list[dict[str, Any]]:
    """Edges between shown nodes; a path through hidden nodes becomes one edge labelled with
    what it passed ('via 6 features'), unless a path through shown nodes already joins its ends."""
    kind = {n["id"]: n["kind"] for n in graph.nodes}
    out_edges: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in graph.edges:
        out_edges[e["src"]].append(e)
    drawn: list[dict[str, Any]] = []
    for src in sorted(shown):
        bridged: dict[str, set[str]] = defaultdict(set)
        for e in out_edges[src]:
            if e["dst"] in shown:
                drawn.append({**e, "bridged": False})
                continue
            todo, seen = [e["dst"]], set()
            while todo:
                hidden = todo.pop()
                if hidden in seen:
                    continue
                seen.add(hidden)
                for nxt in out_edges[hidden]:
                    if nxt["dst"] in shown:
                        bridged[nxt["dst"]].add(e["dst"])
                    else:
                        todo.append(nxt["dst"])
        for dst, via in sorted(bridged.items()):
            kinds = sorted({kind.get(v, "node") for v in via})
            label = f"via {len(via)} {'/'.join(k.replace('_', ' ') for k in kinds)}{'s' if len(via) > 1 else ''}"
            drawn.append({"src": src, "dst": dst, "relation": label, "properties": {}, "created_us": None,
                          "created_by": None, "bridged": True})
    # A bridge that another drawn path already shows says nothing more: a group's features reach a
    # dataset built from a feature service both directly and through the service, drawn once.
    pairs = {(e["src"], e["dst"]) for e in drawn}
    after = defaultdict(set)
    for a, b in pairs:
        after[a].add(b)
    return [e for e in drawn if not e["bridged"] or not any((m, e["dst"]) in pairs for m in after[e["src"]] - {e["dst"]})]


def _quote(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(graph: LineageGraph, shown: set[str], focus: str | None = None) -> str:
    """A left-to-right DOT drawing of the shown nodes; ``focus`` is outlined."""
    lines = ['digraph lineage {', 'rankdir=LR; bgcolor="transparent"; nodesep=0.25; ranksep=0.6;',
             'node [fontname="Helvetica", fontsize=11, style="filled,rounded", color="#64748b", penwidth=1];',
             'edge [fontname="Helvetica", fontsize=9, color="#94a3b8", fontcolor="#64748b", arrowsize=0.7];']
    for n in graph.nodes:
        if n["id"] not in shown:
            continue
        label, shape, fill = KINDS.get(n["kind"], (n["kind"], "box", "#ffffff"))
        deleted = (n.get("properties") or {}).get("deleted")
        style = '"filled,rounded,dashed"' if deleted else '"filled,rounded"'
        name = n["name"] + (" (deleted)" if deleted else "")
        attrs = [f"label={_quote(name)}", f"shape={shape}", f"fillcolor={_quote(fill)}", f"style={style}",
                 f"URL={_quote(node_url(n))}", 'target="_self"', "tooltip=" + _quote(label + ": " + n["id"])]
        if n["id"] == focus:
            attrs += ['penwidth=2.5', 'color="#2563eb"']
        lines.append(f"{_quote(n['id'])} [{', '.join(attrs)}];")
    for e in visible_edges(graph, shown):
        style = ', style="dashed"' if e["bridged"] else ""
        lines.append(f"{_quote(e['src'])} -> {_quote(e['dst'])} [label={_quote(e['relation'])}{style}];")
    lines.append("}")
    return "\n".join(lines)
