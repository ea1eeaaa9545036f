"""Built training sets kept findable: each build records its definition in lineage and keeps a
copy of its entity table beside the offline files (``_datasets/<id>/entity.parquet``), so the same
set can be rebuilt bit for bit later (``known_at`` pinned to what the store knew at build time) and
downloaded again, or rebuilt on today's data, by any process sharing the store (on S3, from any
machine). Copies made before they moved there stay in the store folder (``datasets/<id>/``).
"""
from __future__ import annotations

import os
import re
import shutil
import warnings
from typing import TYPE_CHECKING, Any

from ..common.timeutil import now_us, us_to_iso
from ..errors import NotFound, ValidationError
from ..registry import lineage
from . import lineage as seen
from .dataset import Dataset, build

if TYPE_CHECKING:
    import pyarrow as pa

    from ..core.context import StoreContext
    from ..offline.files import OfflineFiles

COPIES_DIR = "offline/_datasets"  # a manifest-style path: the offline storage maps it (no group starts with _)
LEGACY_DIR = "datasets"  # under the store folder, where copies were kept before


def save_entity(files: "OfflineFiles", dataset_id: str, entity: "pa.Table") -> str:
    """Write the entity table into the offline storage (atomically, encrypted with the store's key
    if it has one); returns the path the definition records."""
    rel = f"{COPIES_DIR}/{dataset_id}/entity.parquet"
    files.storage.write_parquet(entity, files.storage.full(rel), **files.write_options)
    return rel


def _copy_exists(ctx: "StoreContext", copy: str | None, saved: set[str] | None = None) -> bool:
    """Whether the copy is there (``saved``: the ids under COPIES_DIR, listed once for many)."""
    if not copy:
        return False
    if copy.startswith(COPIES_DIR):
        if saved is not None:
            return copy.split("/")[-2] in saved
        return ctx.files.storage.exists(ctx.files.storage.full(copy))
    return os.path.exists(os.path.join(ctx.path, copy))


def _read_copy(ctx: "StoreContext", copy: str) -> "pa.Table":
    if copy.startswith(COPIES_DIR):
        return ctx.files.storage.read_table(ctx.files.storage.full(copy), **ctx.files.read_options)
    import pyarrow.parquet as pq

    return pq.read_table(os.path.join(ctx.path, copy), **ctx.files.read_options)


def _node(ctx: "StoreContext", dataset: str) -> dict[str, Any]:
    """The dataset's lineage node, by id ('dataset:ab12…' or 'ab12…') or by name (the newest)."""
    hidden = ctx.policy.hidden_lineage()
    with ctx.db.read() as conn:  # one reading a hidden group is missing, as one never built
        return lineage.node(conn, lineage.dataset_node(conn, dataset, hidden))


def list_datasets(ctx: "StoreContext") -> list[dict[str, Any]]:
    """Every recorded dataset, newest first: id, name, when and by whom, size, groups, coverage,
    the models trained on it, the id of the dataset it rebuilds (or None), and whether it can be
    rebuilt (its entity copy is there)."""
    graph = seen.graph(ctx)
    models: dict[str, list[str]] = {}
    names = {n["id"]: n["name"] for n in graph.nodes}
    for e in graph.edges:
        if e["relation"] == "trained":
            models.setdefault(e["src"], []).append(names.get(e["dst"], e["dst"]))
    saved = set(ctx.files.storage.names(ctx.files.storage.full(COPIES_DIR)))  # one listing, not a request each
    out = []
    for n in graph.nodes:
        if n["kind"] != "dataset" or n["properties"].get("deleted"):
            continue
        d = n["properties"].get("definition", {})
        copy = d.get("entity_copy")
        out.append({
            "id": n["id"].split(":", 1)[1], "name": n["name"], "built_at": d.get("built_at"),
            "built_by": n["created_by"], "rows": d.get("rows"), "columns": len(d.get("columns", [])),
            "groups": sorted(d.get("groups", {})), "entity_source": d.get("entity_source"),
            "rebuild_of": d.get("rebuild_of"),
            "coverage": d.get("coverage"), "models": sorted(models.get(n["id"], [])),
            "rebuildable": _copy_exists(ctx, copy, saved), "definition": d,
        })
    return sorted(out, key=lambda r: r["built_at"] or "", reverse=True)


def _build_from(ctx: "StoreContext", node: dict[str, Any], known_at: Any, name: str | None, record: bool) -> "Dataset":
    d = node["properties"].get("definition", {})
    copy = d.get("entity_copy")
    if not _copy_exists(ctx, copy):
        raise NotFound(f"Dataset {node['name']!r} has no saved entity table (it was built before datasets kept "
                       "one, or with record=False), so it cannot be rebuilt", dataset=node["id"])
    groups = d["groups"]
    if known_at is None:  # today's definitions: follow renames since it was built
        from ..core.versions import current_names

        groups = {g: current_names(ctx, g, d.get("versions", {}).get(g, 1), feats) for g, feats in groups.items()}
    features: Any = [f"{g}:{f}" for g, feats in groups.items() for f in feats]
    service = d.get("service") or {}
    if service.get("on_demand"):  # its on-demand outputs are computed by the service version's plan
        features = f"service:{service['name']}@{service['version']}"
    return build(
        ctx, _read_copy(ctx, copy), features, d["event_time_column"], d["keys"], known_at=known_at,
        include_deleted=d["include_deleted"], ttl_lookback=d["ttl_lookback"],
        write_time_guard=d["write_time_guard"], include_duplicates=d["include_duplicates"],
        event_time_range=tuple(d["event_time_range"]) if d.get("event_time_range") else None,
        prefix_features=d.get("prefix_features", False), pad_keys=d.get("pad_keys"), name=name, record=record)


def reproduce(ctx: "StoreContext", dataset: str) -> "Dataset":
    """The dataset exactly as it was built: the same entity rows joined as the store knew them
    then (features added to a group since are left out; a deleted group is an error)."""
    node = _node(ctx, dataset)
    d = node["properties"].get("definition", {})
    pinned = d.get("reproducible_at") or d.get("known_at") or d.get("built_at")
    with warnings.catch_warnings():  # its coverage was told (and accepted) when it was built
        warnings.simplefilter("ignore", UserWarning)
        built = _build_from(ctx, node, pinned, node["name"], record=False)
    built.id = node["id"].split(":", 1)[1]
    built.definition = d
    return built


def rebuild(ctx: "StoreContext", dataset: str, name: str | None = None) -> "Dataset":
    """The dataset's definition built again on today's data (its own ``known_at``, if it had one),
    recorded as a new dataset linked to the old one in lineage. Its name, unless given, says it is
    a rebuild and when ('train (rebuilt 2026-12-07 10:15)'), so the two are told apart in a list;
    its definition names the dataset it rebuilds (``rebuild_of``) and keeps that one's entity
    source (the file the user gave, not the copy it was rebuilt from)."""
    node = _node(ctx, dataset)
    old = node["properties"].get("definition", {})
    now = now_us()
    stem = re.sub(r" \(rebuilt [^)]*\)$", "", node["name"])  # a rebuild of a rebuild: one suffix, the newest
    built = _build_from(ctx, node, old.get("known_at"),
                        name or f"{stem} (rebuilt {us_to_iso(now)[:16].replace('T', ' ')})", record=True)
    new_node = f"dataset:{built.id}"
    kept = {"entity_source": old.get("entity_source", built.definition.get("entity_source")),
            "rebuild_of": node["id"].split(":", 1)[1]}
    built.definition.update(kept)
    sources = [e["src"] for e in seen.graph(ctx, node["id"], 1).edges
               if e["dst"] == node["id"] and e["relation"] == "entity_table_of"]
    with ctx.db.write() as conn:
        lineage.upsert_node(conn, new_node, "dataset", built.name, now, {"definition": kept})
        lineage.add_edge(conn, node["id"], new_node, "rebuilt_as", now)
        for source in sources:  # the same file's rows, kept by the store: the same source
            lineage.add_edge(conn, source, new_node, "entity_table_of", now)
    return built


def delete_dataset(ctx: "StoreContext", dataset: str) -> None:
    """Forget a dataset's entity copy and mark it deleted in lineage (models keep their link)."""
    node = _node(ctx, dataset)
    if node["properties"].get("deleted"):
        raise ValidationError(f"Dataset {node['name']!r} is already deleted")
    with ctx.db.write() as conn:
        lineage.upsert_node(conn, node["id"], "dataset", node["name"], now_us(), {"deleted": True})
    dataset_id = node["id"].split(":", 1)[1]
    ctx.files.storage.remove_tree(ctx.files.storage.full(f"{COPIES_DIR}/{dataset_id}"))
    shutil.rmtree(os.path.join(ctx.path, LEGACY_DIR, dataset_id), ignore_errors=True)
