"""The data-quality calls, as functions of the store's context: rules, quarantine, validation
runs and monitoring. ``FeatureStore`` delegates to them in one line each (its docstrings are the
public ones); the guard checks the principal once, on the facade, before any of them runs."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Sequence

from ..common.timeutil import arg_to_us, now_us
from ..core import writes
from ..errors import NotFound, ValidationError
from . import tables

if TYPE_CHECKING:
    import pandas as pd

    from ..core.context import StoreContext
    from ..ingest.prepare import IngestReport

# ---------------------------------------------------------------------------- rules


def set_rules(ctx: "StoreContext", group: str, rules: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    from .. import registry
    from ..model.rules import parse

    parsed = parse(ctx.group(group)[0], rules)
    with ctx.db.write() as conn:
        tables.save(conn, group, now_us(), rules=[r.to_dict() for r in parsed])
        registry.bump_version(conn)  # every process recompiles the group's checks
    return [r.to_dict() for r in parsed]


def rules(ctx: "StoreContext", group: str) -> list[dict[str, Any]]:
    return [r.to_dict() for r in ctx.group(group)[1]["rules"]]


def suggest_rules(ctx: "StoreContext", group: str) -> list[dict[str, Any]]:
    from .suggest import suggest

    return suggest(ctx, group)


def import_rules(ctx: "StoreContext", group: str, source: Any, kind: str = "auto",
                 replace: bool = False) -> dict[str, Any]:
    from .imports import convert

    imported, skipped = convert(source, kind)
    stored = set_rules(ctx, group, imported if replace else [*rules(ctx, group), *imported])
    return {"rules": stored, "imported": len(imported), "skipped": skipped}


def quality_check(ctx: "StoreContext", group: str, data: Any, rules: Sequence[dict[str, Any]],
                  columns: dict[str, str | None] | None = None) -> "IngestReport":
    """``validate`` with ``rules`` instead of the group's; ``preview_rules`` runs it on the rows
    written last."""
    from ..core.batches import validate
    from ..model.rules import parse

    g = ctx.group(group)[0]
    report = validate(g, data, columns, now_us(), parse(g, rules))
    report.dry_run = True
    return report


def preview_rules(ctx: "StoreContext", group: str, rules: Sequence[dict[str, Any]], rows: int) -> "IngestReport":
    from ..retrieval.browse import latest_writes

    return quality_check(ctx, group, latest_writes(ctx, group, rows), rules)


def validation_runs(ctx: "StoreContext", group: str, since: Any = None, limit: int = 1000) -> "pd.DataFrame":
    import pandas as pd

    ctx.group(group)
    if ctx.tally.pending():  # a write only when puts were counted: a reader never waits behind an ingest
        with ctx.db.write() as conn:
            ctx.tally.flush(conn)
    rows = tables.runs(ctx.db.get(), group, arg_to_us(since, "since") if since is not None else None, limit)
    frame = pd.DataFrame(rows, columns=["id", "started_us", "seconds", "kind", "source", "rows_checked",
                                        "rows_written", "rows_warned", "rows_rejected", "outcome", "per_rule"])
    frame.insert(1, "started", pd.to_datetime(frame["started_us"], unit="us", utc=True))
    frame.insert(frame.columns.get_loc("rows_rejected") + 1, "rows_held_back",
                 frame["rows_checked"] - frame["rows_written"] - frame["rows_rejected"])
    return frame.drop(columns="started_us")

# ---------------------------------------------------------------------------- quarantine


def quarantine(ctx: "StoreContext", group: str, since: Any = None, limit: int | None = None) -> "pd.DataFrame":
    import pandas as pd

    ctx.group(group)
    entries = tables.quarantined(ctx.db.get(), group, arg_to_us(since, "since") if since is not None else None,
                                 limit=limit)
    frame = pd.DataFrame(entries, columns=["id", "quarantined_us", "source", "position", "rules", "reason", "record"])
    frame.insert(1, "quarantined", pd.to_datetime(frame["quarantined_us"], unit="us", utc=True))
    return frame.drop(columns="quarantined_us")


def requeue(ctx: "StoreContext", group: str, ids: Iterable[int], on_error: str = "skip",
            corrected: dict[int, dict[str, Any]] | None = None) -> "IngestReport":
    """The entries leave the quarantine before they are ingested again, so the ones refused
    again are quarantined anew with today's verdict; if the ingest fails outright they go back."""
    wanted = [int(i) for i in ids]
    entries = tables.quarantined(ctx.db.get(), group, ids=wanted)
    if len(entries) != len(set(wanted)):
        missing = sorted(set(wanted) - {e["id"] for e in entries})
        raise NotFound(f"Quarantine of {group!r} has no entries {missing}", group=group)
    fixes = {int(k): v for k, v in (corrected or {}).items()}
    stray = sorted(set(fixes) - set(wanted))
    if stray:
        raise ValidationError(f"corrected names entries {stray} that are not being requeued; requeue them too")
    with ctx.db.write() as conn:
        tables.release(conn, group, wanted)
    try:
        return writes.ingest(ctx, group, as_text([{**e["record"], **fixes.get(e["id"], {})} for e in entries]),
                             on_error=on_error, source=f"requeue of {len(wanted)} quarantined rows")
    except Exception:
        with ctx.db.write() as conn:  # nothing was written: the rows go back as they were
            tables.quarantine(conn, group, now_us(), "requeue",
                              [(e["position"], e["rules"], e["reason"], e["record"]) for e in entries])
        raise


def release_quarantined(ctx: "StoreContext", group: str, ids: Iterable[int]) -> int:
    with ctx.db.write() as conn:
        return tables.release(conn, group, ids)


def quarantine_retention(ctx: "StoreContext", group: str) -> float:
    ctx.group(group)
    return tables.settings(ctx.db.get(), group)["quarantine_retention_seconds"]


def set_quarantine_retention(ctx: "StoreContext", group: str, retention: Any) -> None:
    from ..common.timeutil import retention_seconds

    seconds = retention_seconds(retention)
    if seconds is None:
        raise ValidationError("quarantine retention must be a duration (a timedelta or days)")
    ctx.group(group)
    with ctx.db.write() as conn:
        tables.save(conn, group, now_us(), quarantine_retention_seconds=seconds)

# ---------------------------------------------------------------------------- monitoring


def freshness(ctx: "StoreContext", group: str) -> dict[str, Any]:
    from . import monitor

    return monitor.freshness(ctx, group)


def volume(ctx: "StoreContext", group: str, by: str = "day", clock: str = "event_time") -> "pd.DataFrame":
    from . import monitor

    return monitor.volume(ctx, group, by, clock)


def drift(ctx: "StoreContext", group: str, reference: tuple[Any, Any], current: tuple[Any, Any],
          features: Sequence[str] | None = None, clock: str = "event_time") -> "pd.DataFrame":
    from . import monitor

    return monitor.drift(ctx, group, reference, current, features, clock)


def drift_timeline(ctx: "StoreContext", group: str, periods: int = 14,
                   features: Sequence[str] | None = None) -> "pd.DataFrame":
    from . import monitor

    return monitor.drift_timeline(ctx, group, periods, features)


def distributions(ctx: "StoreContext", group: str, feature: str, reference: tuple[Any, Any],
                  current: tuple[Any, Any], clock: str = "event_time", bins: int = 30) -> "pd.DataFrame":
    from . import monitor

    return monitor.distributions(ctx, group, feature, reference, current, clock, bins)


def set_monitor(ctx: "StoreContext", group: str, **settings: Any) -> dict[str, Any]:
    from .monitor import normalise

    ctx.group(group)
    with ctx.db.write() as conn:
        current = tables.settings(conn, group)["monitor"]
        merged = normalise({**current, **settings})
        tables.save(conn, group, now_us(), monitor=merged)
    return merged


def monitor(ctx: "StoreContext", group: str) -> dict[str, Any]:
    ctx.group(group)
    return tables.settings(ctx.db.get(), group)["monitor"]


def check_monitors(ctx: "StoreContext", group: str | None = None) -> list[dict[str, Any]]:
    from . import monitor

    return monitor.check(ctx, group)


def as_text(records: list[dict[str, Any]]) -> Any:
    """Quarantined records as the rows of a file: every value as text (lists as JSON), read with
    the rules files are read with, since most came from one (see ``ingest.LoadedInput``)."""
    import json

    import pyarrow as pa

    from ..ingest.prepare import LoadedInput

    names = list(dict.fromkeys(k for r in records for k in r))
    columns = {n: pa.array([None if r.get(n) is None else json.dumps(r[n]) if isinstance(r[n], (list, dict))
                            else str(r[n]) for r in records], pa.string()) for n in names}
    return LoadedInput(pa.table(columns), "quarantine", "quarantine")
