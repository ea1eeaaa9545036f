"""The maintenance operations behind ``FeatureStore.flush``, ``compact`` and ``sweep_expired``."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..databases import Connection
from ..model import layout
from .. import registry
from ..access import audit
from ..offline import files as offline_store
from ..errors import ValidationError
from ..quality import tables as quality_tables
from ..common.timeutil import now_us, us_to_iso
from ..offline.compaction import AUTO_MIN_SMALL_FILES, Rewriter, compact_group
from ..model import keys
from .context import StoreContext

if TYPE_CHECKING:

    from ..model.schema import FeatureGroup


def flush_locked(ctx: StoreContext, conn: "Connection", group: "FeatureGroup", now: int) -> int:
    """Inside a write transaction: the group's buffered puts into Parquet files; rows moved."""
    staged = offline_store.staged_arrow(conn, group)
    if staged.num_rows:
        ctx.files.write(conn, group, staged, now, ctx.db.on_rollback)
        offline_store.clear_staging(conn, group.name)
    return staged.num_rows


def flush(ctx: StoreContext, group: str | None = None) -> int:
    """Buffered puts of ``group`` (default: every group holding some) into Parquet; rows moved."""
    if group is None:
        names = [n for (n,) in ctx.db.get().execute("SELECT group_name FROM group_state WHERE staged_rows > 0")]
    else:
        names = [group]
    moved = 0
    for name in names:
        g, _ = ctx.group(name)
        if not g.offline:
            continue
        with ctx.db.write() as conn:
            moved += flush_locked(ctx, conn, g, now_us())
        ctx.files.committed(name)
    if ctx.tally:  # the counts of single puts: one validation run per minute, an audit entry per principal
        with ctx.db.write() as conn:
            ctx.tally.flush(conn)
            audit.fold(conn)
    return moved


def compact(ctx: StoreContext, group: str | None, repartition: str | None, auto: bool) -> dict[str, int]:
    """Flush, apply retention, merge small files (or rewrite the group in another layout)."""
    if repartition is not None and group is None:
        raise ValidationError("repartition needs a group: compact(group, repartition='day')")

    names = [group] if group else [g.name for g in registry.load_all(ctx.db.get()) if g.offline]
    # Each rewrite commits with its audit entry (a principal's compaction; upkeep logs none).
    rewriter = Rewriter(ctx.db, ctx.files,
                        on_swap=lambda conn, name, done: ctx.policy.logged(conn, "compact", {**done, "group": name}, name))
    result = {"files_before": 0, "files_after": 0, "rows": 0, "rows_dropped": 0}
    for name in names:
        g, _ = ctx.group(name)
        if not g.offline:
            if group:
                raise ValidationError(f"Feature group {name!r} has no offline store to compact", group=name)
            continue
        flush(ctx, name)
        with ctx.db.read() as conn:
            before = ctx.files.stats(conn, name)["files"]
        if repartition is not None:
            layout.check(repartition)
            from . import versions  # which imports this module

            with ctx.db.write() as conn:
                flush_locked(ctx, conn, g, now_us())  # puts that arrived since
                now = now_us()
                done, replaced = rewriter.repartition(conn, g, repartition, now)
                ctx.policy.logged(conn, "compact", {**done, "group": name, "repartition": repartition}, name)
                versions.commit(ctx, conn, g, "compact", now)
            rewriter.finish(name, replaced)
        else:
            done = compact_group(rewriter, ctx.db, g, now_us(), AUTO_MIN_SMALL_FILES if auto else 2)
            result["rows_dropped"] += done["rows_dropped"]
            with ctx.db.write() as conn:
                quality_tables.expire(conn, name, now_us())
        with ctx.db.read() as conn:
            after = ctx.files.stats(conn, name)
        result["files_before"] += before
        result["files_after"] += after["files"]
        result["rows"] += after["rows"]
    return result


def sweep_expired(ctx: StoreContext, group: str | None = None) -> int:
    """Remove expired online records and stage their delete markers (at the expiry) offline."""

    names = [group] if group else [g.name for g in registry.load_all(ctx.db.get()) if g.online]
    removed = 0
    for name in names:
        g, prep = ctx.group(name)
        if not g.online:
            continue
        with ctx.db.write() as conn:
            now = now_us()
            rows = ctx.online.expired(conn, g, now)
            if not rows:
                continue
            first, wt, _ = registry.allocate(conn, name, len(rows), now, None, staged=len(rows) if g.offline else 0,
                                          version=g.version)
            ctx.online.remove_expired(conn, g, rows, now)
            if g.offline:
                key_i = [prep["names"].index(k) for k in g.identifiers]
                ev_i = prep["names"].index(g.event_time)
                markers = []
                for i, (rid, expires) in enumerate(rows):
                    row: list[Any] = [None] * len(prep["names"])
                    for k, value in zip(key_i, keys.parts(g, rid)):
                        row[k] = value
                    row[ev_i] = us_to_iso(expires) if g.time_feature.type == "String" else expires / 1_000_000
                    markers.append((expires, wt, now, first + i, 1, *row))
                offline_store.stage(conn, g, markers)
            ctx.policy.logged(conn, "sweep_expired", {"group": name, "records": len(rows)}, name)
            removed += len(rows)
        ctx.online.after_commit()
    return removed
