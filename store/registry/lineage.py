"""Lineage: a small graph of sources, feature groups, features, datasets and models.

Node ids are ``<kind>:<name>`` (``feature_group:customers``, ``source:<sha256 prefix>``,
``dataset:<id>``, ``model:<name>``, ``feature:<group>.<feature>``, ``writer:<client>``,
``pipeline:<name>``). Edges point the way data flows: source -> feature_group -> feature ->
dataset -> model, and feature_group -> pipeline -> feature_group.
Ingest and dataset building record edges themselves; users add models.

Studio-facing: ``LineageGraph``, what ``FeatureStore.lineage`` returns, which the studio draws.
"""
from __future__ import annotations

import getpass
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Collection

from ..databases import Connection, run_script
from ..errors import NotFound

SCHEMA = """
CREATE TABLE IF NOT EXISTS lineage_nodes (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    properties TEXT NOT NULL DEFAULT '{}',
    created_us INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    updated_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS lineage_edges (
    src TEXT NOT NULL REFERENCES lineage_nodes(id),
    dst TEXT NOT NULL REFERENCES lineage_nodes(id),
    relation TEXT NOT NULL,
    properties TEXT NOT NULL DEFAULT '{}',
    created_us INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (src, dst, relation)
);
CREATE INDEX IF NOT EXISTS lineage_edges_dst ON lineage_edges (dst);
"""
KINDS = ("source", "writer", "pipeline", "feature_group", "feature", "feature_service", "dataset", "model")


def init(conn: Connection) -> None:
    run_script(conn, SCHEMA)


def user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in some containers
        return "unknown"


def upsert_node(conn: Connection, node_id: str, kind: str, name: str, now_us: int,
                properties: dict[str, Any] | None = None, by: str | None = None) -> None:
    """Create the node, or merge ``properties`` into an existing one."""
    props = json.dumps(properties or {}, default=str)
    conn.execute(
        "INSERT INTO lineage_nodes VALUES (?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
        "properties = json_patch(lineage_nodes.properties, excluded.properties), updated_us = excluded.updated_us",
        (node_id, kind, name, props, now_us, by or user(), now_us),
    )


def add_edge(conn: Connection, src: str, dst: str, relation: str, now_us: int,
             properties: dict[str, Any] | None = None, by: str | None = None) -> None:
    conn.execute(
        "INSERT INTO lineage_edges VALUES (?,?,?,?,?,?) ON CONFLICT (src, dst, relation) DO UPDATE SET "
        "properties = json_patch(lineage_edges.properties, excluded.properties)",
        (src, dst, relation, json.dumps(properties or {}, default=str), now_us, by or user()),
    )


def node(conn: Connection, node_id: str) -> dict[str, Any]:
    row = conn.execute("SELECT * FROM lineage_nodes WHERE id = ?", (node_id,)).fetchone()
    if row is None:
        raise NotFound(f"Lineage has no node {node_id!r}", node=node_id)
    return _node(row)


def dataset_node(conn: Connection, ref: Any, hidden: Collection[str] = frozenset()) -> str:
    """The node id of a dataset given as a Dataset, its id ('ab12…' or 'dataset:ab12…') or its
    name (the newest of that name). Raises NotFound, for a ``hidden`` one too."""
    ref = getattr(ref, "id", ref)
    for candidate in (ref, f"dataset:{ref}"):
        row = conn.execute("SELECT id FROM lineage_nodes WHERE id = ? AND kind = 'dataset'", (candidate,)).fetchone()
        if row:
            break
    else:
        row = conn.execute(
            "SELECT id FROM lineage_nodes WHERE kind = 'dataset' AND name = ? ORDER BY created_us DESC LIMIT 1", (ref,)
        ).fetchone()
    if row is None or row[0] in hidden:
        raise NotFound(f"No dataset {ref!r} in lineage; build it with build_dataset first", dataset=ref)
    return row[0]


def _node(row: tuple) -> dict[str, Any]:
    nid, kind, name, props, created, by, updated = row
    return {"id": nid, "kind": kind, "name": name, "properties": json.loads(props),
            "created_us": created, "created_by": by, "updated_us": updated}


def _edge(row: tuple) -> dict[str, Any]:
    src, dst, rel, props, created, by = row
    return {"src": src, "dst": dst, "relation": rel, "properties": json.loads(props),
            "created_us": created, "created_by": by}


@dataclass
class LineageGraph:
    """Nodes and edges as plain dicts, ready for a table or a graph drawing."""

    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)

    def node_ids(self) -> set[str]:
        return {n["id"] for n in self.nodes}


def graph(conn: Connection, start: str | None = None, depth: int | None = None,
          hidden: Collection[str] = frozenset()) -> LineageGraph:
    """The whole graph, or the nodes within ``depth`` edges of ``start`` (both directions),
    without the ``hidden`` nodes and their edges (a hidden ``start`` is missing, as one that
    never was; the walk does not pass through hidden nodes). A writer (``writer:studio``) is
    reached but not walked through: it links every group its client wrote, which are no
    neighbours of one another."""
    if start is None:
        nodes = [_node(r) for r in conn.execute("SELECT * FROM lineage_nodes ORDER BY kind, name")]
        edges = [_edge(r) for r in conn.execute("SELECT * FROM lineage_edges ORDER BY src, dst")]
        return LineageGraph([n for n in nodes if n["id"] not in hidden],
                            [e for e in edges if e["src"] not in hidden and e["dst"] not in hidden])
    if start in hidden:
        raise NotFound(f"Lineage has no node {start!r}", node=start)
    node(conn, start)
    seen = {start: 0}
    todo = deque([start])
    edges: dict[tuple[str, str, str], dict[str, Any]] = {}
    while todo:
        current = todo.popleft()
        if depth is not None and seen[current] >= depth or current != start and current.startswith("writer:"):
            continue
        for row in conn.execute("SELECT * FROM lineage_edges WHERE src = ? OR dst = ?", (current, current)):
            e = _edge(row)
            other = e["dst"] if e["src"] == current else e["src"]
            if other in hidden:
                continue
            edges[(e["src"], e["dst"], e["relation"])] = e
            if other not in seen:
                seen[other] = seen[current] + 1
                todo.append(other)
    marks = ",".join("?" * len(seen))
    nodes = [_node(r) for r in conn.execute(f"SELECT * FROM lineage_nodes WHERE id IN ({marks}) ORDER BY kind, name", list(seen))]
    kept = {n["id"] for n in nodes}
    return LineageGraph(nodes, [e for e in edges.values() if e["src"] in kept and e["dst"] in kept])


def usage(conn: Connection, hidden: Collection[str] = frozenset()) -> dict[str, dict[str, list[str]]]:
    """Per feature group, the datasets built from its features and the models trained on those
    (by name): what a change to the group would touch. ``hidden`` datasets and models are left out."""
    out: dict[str, dict[str, set[str]]] = {}
    for group, dataset, model, dataset_id, model_id in conn.execute(
        "SELECT g.name, d.name, m.name, d.id, m.id FROM lineage_edges c "
        "JOIN lineage_edges u ON u.src = c.dst AND u.relation = 'used_by' "
        "JOIN lineage_nodes g ON g.id = c.src JOIN lineage_nodes d ON d.id = u.dst "
        "LEFT JOIN lineage_edges t ON t.src = u.dst AND t.relation = 'trained' "
        "LEFT JOIN lineage_nodes m ON m.id = t.dst "
        "WHERE c.relation = 'contains' AND g.kind = 'feature_group'"
    ):
        if dataset_id in hidden:
            continue
        entry = out.setdefault(group, {"datasets": set(), "models": set()})
        entry["datasets"].add(dataset)
        if model and model_id not in hidden:
            entry["models"].add(model)
    return {g: {k: sorted(v) for k, v in e.items()} for g, e in out.items()}


def hidden(conn: Connection, may_view: Callable[[str], bool]) -> set[str]:
    """The nodes that would tell a principal about a group it may not see (``may_view(group)``
    is False): the group and its features; a pipeline writing or reading it; an on-demand
    feature or a feature service reading it; a dataset built
    from it (a dataset shows only if every group it reads is visible) and the models trained on
    such a dataset; a source file ingested into it or read by such a pipeline or dataset; a
    writer that writes hidden groups only."""
    nodes = {r[0]: (r[1], r[2], r[3]) for r in conn.execute("SELECT id, kind, name, properties FROM lineage_nodes")}
    edges = conn.execute("SELECT src, dst, relation FROM lineage_edges").fetchall()
    gone = {nid for nid, (kind, name, _) in nodes.items()
            if (kind == "feature_group" and not may_view(name))
            or (kind == "feature" and not may_view(name.rsplit(".", 1)[0]))}
    for nid, (kind, _, props) in nodes.items():
        if kind == "dataset" and not all(map(may_view, json.loads(props).get("definition", {}).get("groups", {}))):
            gone.add(nid)

    def spread(kind: str, touches: Callable[[str, str], bool]) -> None:
        """Hide the nodes of ``kind`` linked, either way, to a hidden node by an edge ``touches`` accepts."""
        for src, dst, relation in edges:
            for mine, other in ((src, dst), (dst, src)):
                if other in gone and nodes.get(mine, ("",))[0] == kind and touches(mine, other):
                    gone.add(mine)

    spread("pipeline", lambda mine, other: True)
    spread("on_demand", lambda mine, other: True)  # an on-demand feature reading a hidden feature
    spread("feature_service", lambda mine, other: True)  # a service reading a hidden feature or on-demand one
    spread("dataset", lambda mine, other: True)  # datasets recorded without a definition, via their features
    spread("model", lambda mine, other: other.startswith("dataset:"))
    spread("source", lambda mine, other: True)
    writers: dict[str, list[bool]] = {}
    for src, dst, relation in edges:
        if nodes.get(src, ("",))[0] == "writer":
            writers.setdefault(src, []).append(dst in gone)
    gone |= {w for w, targets in writers.items() if all(targets)}
    return gone
