"""The write paths under the facade: single puts and deletes, bulk ingest, and what every write
keeps beside its rows (the quarantine, validation runs, lineage of its source). Documentation of
the public calls is on ``FeatureStore``."""
from __future__ import annotations

import itertools
import json
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from .. import registry
from ..common.timeutil import instant_to_us, now_us, us_to_iso
from ..errors import IngestRejected, ValidationError
from ..model import keys, record as records
from ..model.coerce import coerce_event_time
from ..model.schema import FeatureGroup
from ..offline import files as offline_store
from ..offline.files import FLUSH_ROWS
from ..quality import tables as quality_tables
from ..registry import lineage
from . import upkeep
from .context import StoreContext

if TYPE_CHECKING:
    from ..ingest.prepare import IngestReport


def put_record(ctx: StoreContext, group: str, record: dict[str, Any], target_stores: Iterable[str] | None = None,
               ttl: Any = None, *, source: str | None = None) -> None:
    g, prep = ctx.group(group)
    to_online, to_offline = ctx.targets(g, target_stores)
    try:
        values, event_us = records.typed(g, prep["by_name"], record)
    except ValidationError as exc:
        refuse(ctx, g, record, "type", exc.message, source)
        raise
    warned: list[str] = []
    if prep["checker"] is not None:
        failed = prep["checker"].failures(values)
        refused = [r for r in failed if r.severity != "warn"]
        if refused:
            message = records.refused_message(g, values, refused)
            refuse(ctx, g, record, ",".join(r.name for r in refused), message, source)
            raise ValidationError(message, group=group, rule=refused[0].name, feature=refused[0].feature)
        warned = [r.name for r in failed]
    ttl_us = ctx.ttl_us(g, ttl) if to_online else None
    row = [values.get(n) for n in prep["names"]]
    for i in prep["json_cols"]:
        if row[i] is not None:
            row[i] = json_dumps(row[i])
    api = now_us()
    with ctx.db.write() as conn:
        seq, wt, staged = registry.allocate(conn, group, 1, api, event_us, staged=int(to_offline), version=g.version)
        if to_online:
            expires = None if ttl_us is None else event_us + ttl_us
            ctx.online.upsert(conn, g, [(event_us, wt, expires, 0, *row)], wt)
        if to_offline:
            offline_store.stage(conn, g, [(event_us, wt, api, seq, 0, *row)], prep["stage"])
        ctx.note_writer(conn, group, wt)
        ctx.policy.count_put(conn, group, wt)  # in the put's own transaction: no put uncounted
    ctx.online.after_commit()
    ctx.tally.count(group, wt, source or ctx.writer, True, warned, [])
    if staged >= FLUSH_ROWS:
        upkeep.flush(ctx, group)


def delete_record(ctx: StoreContext, group: str, record_id: Any, event_time: Any, hard: bool = False,
                  target_stores: Iterable[str] | None = None) -> str:
    g, prep = ctx.group(group)
    to_online, to_offline = ctx.targets(g, target_stores)
    rid = records.identifier(g, record_id)
    try:
        ev_value, event_us = coerce_event_time(g.time_feature, event_time)
    except ValueError as exc:
        raise ValidationError(f"Event time {_shown(event_time)} of the delete {exc}", group=group,
                              feature=g.event_time, value=event_time) from None
    row = [None] * len(prep["names"])
    for name, value in zip(g.identifiers, keys.parts(g, rid)):
        row[prep["names"].index(name)] = value
    row[prep["names"].index(g.event_time)] = ev_value
    api = now_us()
    outcome = "offline_only"
    with ctx.db.write() as conn:
        seq, wt, staged = registry.allocate(conn, group, 1, api, event_us, staged=int(to_offline), version=g.version)
        if to_online:
            stored = ctx.online.current(conn, g, rid)  # (event, deleted, expires)
            present = stored is not None and not (stored[2] is not None and stored[2] <= wt)
            live = present and not stored[1]
            if present and event_us < stored[0]:
                outcome = "newer_kept"
            else:
                outcome = "deleted" if live else "not_live"
            if hard:
                if live and event_us <= stored[0]:
                    raise ValidationError(
                        f"Hard delete of {g.key_label} = {record_id!r} in {group!r} at event time "
                        f"{_shown(event_time)} is not newer than the stored record; use a later event time",
                        group=group, value=record_id,
                    )
                ctx.online.remove(conn, g, rid, event_us, wt)
                outcome = "deleted" if live else "not_live"
            else:  # the upsert's own rule keeps a newer record or tombstone
                ctx.online.upsert(conn, g, [(event_us, wt, None, 1, *row)], wt)
        if to_offline:
            offline_store.stage(conn, g, [(event_us, wt, api, seq, 1, *row)], prep["stage"])
        ctx.note_writer(conn, group, wt)
        ctx.policy.log_in(conn, "delete_record", group, {"hard": hard, "outcome": outcome})
    ctx.online.after_commit()
    if staged >= FLUSH_ROWS:
        upkeep.flush(ctx, group)
    return outcome


def ingest(ctx: StoreContext, group: str, data: Any, on_error: str = "reject",
           progress: Callable[[int, int], None] | None = None,
           *, target_stores: Iterable[str] | None = None, ttl: Any = None, source: str | None = None,
           columns: dict[str, str | None] | None = None, time_format: str | None = None,
           _on_commit: Callable[[Any, "IngestReport"], None] | None = None,
           _positions: Sequence[str] | None = None) -> "IngestReport":
    from ..ingest import prepare as ing
    from . import writes_spark as spark_ingest

    if on_error not in ("reject", "skip"):
        raise ValidationError(f"on_error={on_error!r}: use 'reject' or 'skip'")
    if spark_ingest.is_spark_dataframe(data):  # checked and written by Spark's executors
        if time_format is not None:
            raise ValidationError("time_format= applies to files, pandas and Arrow data; for a Spark DataFrame "
                                  "keep it with the group (create_feature_group(..., time_format=))")
        return spark_ingest.ingest(ctx, group, data, on_error, target_stores, ttl, source, columns)
    started = time.perf_counter()
    api = now_us()
    g, _ = ctx.group(group)
    g = ing.with_time_format(g, time_format)
    to_online, to_offline = ctx.targets(g, target_stores)
    batches = ing.load_batches(data)
    loaded = next(batches)
    more = next(batches, None)
    if more is not None:  # longer than one batch: read, checked and written a batch at a time
        from . import batches as ingest_stream

        return ingest_stream.ingest(
            ctx, g, itertools.chain([loaded, more], batches), columns=columns, on_error=on_error,
            progress=progress, to_online=to_online, to_offline=to_offline,
            ttl_us=ctx.ttl_us(g, ttl) if to_online else None, source=source, api=api, started=started,
            on_commit=_on_commit)
    prepared = ing.check(g, loaded, columns, api, ctx.group(group)[1]["rules"])
    report = prepared.report
    report.source = source or loaded.source_name
    judged(ctx, g, report, on_error, api, time.perf_counter() - started)  # raises IngestRejected
    total = prepared.table.num_rows
    done = [0]

    def advance(rows: int) -> None:
        done[0] += rows
        if progress:
            progress(min(done[0], total), total)

    ttl_us = ctx.ttl_us(g, ttl) if to_online else None
    if total:
        with ctx.db.write() as conn:
            first, wt, _ = registry.allocate(conn, group, total, api, prepared.max_event_us, version=g.version)
            table = ing.stamp(prepared.table, wt, first)
            if to_offline:
                entries = ctx.files.write(conn, g, table, wt, ctx.db.on_rollback, progress=advance)
                report.files_written = len(entries)
            if to_online:
                latest = ing.latest_per_record(g, table)
                ctx.online.upsert(conn, g, ing.online_rows(g, latest, wt, ttl_us), wt)
                report.records_online = latest.num_rows
                if not to_offline:
                    advance(total)
            record_source(ctx, conn, group, loaded, report, wt)
            written(conn, g, report, report.source, api, time.perf_counter() - started, _positions)
            ctx.policy.logged(conn, "ingest", report.audit_counts())  # no rows committed without their entry
            if _on_commit:
                _on_commit(conn, report)
        ctx.files.committed(group)
        ctx.online.after_commit()
    elif report.rows_total or _on_commit:  # nothing to write, but the run and refused rows are kept
        with ctx.db.write() as conn:
            if report.rows_total:
                written(conn, g, report, report.source, api, time.perf_counter() - started, _positions)
                ctx.policy.logged(conn, "ingest", report.audit_counts())
            if _on_commit:
                _on_commit(conn, report)
    report.seconds = time.perf_counter() - started
    return report


def validate(ctx: StoreContext, group: str, data: Any, columns: dict[str, str | None] | None = None,
             time_format: str | None = None) -> "IngestReport":
    from ..ingest.prepare import with_time_format
    from .batches import validate as check_only

    g, prep = ctx.group(group)
    g = with_time_format(g, time_format)
    report = check_only(g, data, columns, now_us(), prep["rules"])
    report.dry_run = True
    return report


def record_source(ctx: StoreContext, conn: Any, group: str, loaded: Any, report: "IngestReport", now: int) -> None:
    if loaded.source_kind == "pipeline":
        return  # the pipeline records its own lineage, with the run
    if loaded.source_kind == "file":
        node = f"source:{loaded.sha256[:16]}"
        props = {"file": loaded.source_name, "bytes": loaded.size_bytes, "sha256": loaded.sha256}
        lineage.upsert_node(conn, node, "source", report.source or loaded.source_name, now, props)
    else:
        node = f"writer:{ctx.writer}"
        lineage.upsert_node(conn, node, "writer", ctx.writer, now, {"client": ctx.writer})
    lineage.add_edge(conn, node, f"feature_group:{group}", "ingested_into", now,
                     {"rows": report.rows_written, "rejected": report.rows_rejected, "last_ingest_us": now,
                      "source": report.source})


def refuse(ctx: StoreContext, g: FeatureGroup, record: Any, rules: str, reason: str, source: str | None) -> None:
    """Keep a refused single record in the quarantine, and count it."""
    now = now_us()
    kept = record if isinstance(record, dict) else {"record": record}
    with ctx.db.write() as conn:
        quality_tables.quarantine(conn, g.name, now, source or ctx.writer, [("put", rules, reason, kept)])
    ctx.tally.count(g.name, now, source or ctx.writer, False, [], rules.split(","))


def judged(ctx: StoreContext, g: FeatureGroup, report: "IngestReport", on_error: str, started_us: int,
           seconds: float) -> None:
    """Before a bulk write: refuse the batch (recorded as a validation run) when a batch rule
    failed it, or when rows are bad and ``on_error`` is "reject"."""
    failure = report.batch_failures[0] if report.batch_failures else None
    if failure is None and not (report.rows_rejected and on_error == "reject"):
        return
    with ctx.db.write() as conn:  # rows_rejected counts the invalid rows only: the valid rest was held back
        quality_tables.record_run(conn, g.name, started_us, seconds, "ingest", report.source, report.rows_total, 0,
                          report.rows_warned, report.rows_rejected, "refused", report.rule_counts)
    if failure is not None:
        raise IngestRejected(f"Nothing was written to {g.name!r}: rule {failure['rule']} fails the batch "
                             f"({failure['reason']})", report)
    raise IngestRejected(
        f"Nothing was written to {g.name!r}: {report.rows_rejected:,} of {report.rows_total:,} rows are invalid. "
        f"First: {report.first_error()}.", report, skippable=True)


def written(conn: Any, g: FeatureGroup, report: "IngestReport", source: str | None, started_us: int,
            seconds: float, positions: Sequence[str] | None = None) -> None:
    """In the write's transaction: the run, and the rows it refused into the quarantine (each at
    ``positions[row]`` when given: a stream's topic/partition@offset)."""
    outcome = "partial" if report.rows_rejected else "written"
    quality_tables.record_run(conn, g.name, started_us, seconds, "ingest", source, report.rows_total,
                              report.rows_written, report.rows_warned, report.rows_rejected, outcome,
                              report.rule_counts)
    if report.rejected is not None:
        quality_tables.quarantine(conn, g.name, started_us, source, quarantine_rows(report, positions))


def quarantine_rows(report: "IngestReport", positions: Sequence[str] | None = None
                    ) -> list[tuple[str | None, str, str, dict[str, Any]]]:
    """(position, rules, reason, record) of each row a bulk write refused, as read."""
    frame = report.rejected_rows()
    position = "line" if "line" in frame.columns else "row"
    rules = report.errors.groupby("row")["rule"].agg(lambda r: ",".join(dict.fromkeys(r)))
    data = frame.drop(columns=[position, "error"])
    records = data.astype(object).where(data.notna(), None).to_dict("records")
    return [(f"{position} {int(p)}" if positions is None else positions[int(i)], rules.get(int(i), ""), reason, record)
            for i, p, reason, record in zip(report.rejected_index, frame[position], frame["error"], records)]


def json_dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _shown(value: Any) -> str:
    """A time argument as a user wrote it, or as ISO-8601 UTC if it is a datetime-like object."""
    if isinstance(value, (str, int, float)):
        return repr(value)
    try:
        return us_to_iso(instant_to_us(value))
    except ValueError:
        return repr(value)
