"""The data-quality methods of ``FeatureStore``: rules, quarantine, validation runs and
monitoring. Each delegates to the quality modules; ``FeatureStore`` mixes them in."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Sequence

from ..errors import IngestRejected, NotFound, ValidationError
from ..common.timeutil import arg_to_us, now_us
from . import tables

if TYPE_CHECKING:
    import pandas as pd

    from ..featurestore import FeatureStore
    from ..ingest.prepare import IngestReport
    from ..model.schema import FeatureGroup


class QualityMethods:
    # ------------------------------------------------------------------------ rules

    def set_rules(self: "FeatureStore", group: str, rules: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Replace the group's validation rules (see ``store.model.rules`` for the checks and
        severities); every write path applies them from now on. Returns them as stored, each
        with its name and severity. Raises ValidationError naming the rule at fault."""
        from .. import registry
        from ..model.rules import parse

        parsed = parse(self.feature_group(group), rules)
        with self._ctx.db.write() as conn:
            tables.save(conn, group, now_us(), rules=[r.to_dict() for r in parsed])
            registry.bump_version(conn)  # every process recompiles the group's checks
        return [r.to_dict() for r in parsed]

    def rules(self: "FeatureStore", group: str) -> list[dict[str, Any]]:
        """The group's validation rules, each with its name and severity."""
        return [r.to_dict() for r in self._ctx.group(group)[1]["rules"]]

    def suggest_rules(self: "FeatureStore", group: str) -> list[dict[str, Any]]:
        """Rules a profile of the group's latest records suggests: not_null where no value is
        missing, ranges of numbers, the allowed values of low-cardinality text, text lengths."""
        from .suggest import suggest

        return suggest(self, group)

    def import_rules(self: "FeatureStore", group: str, source: Any, kind: str = "auto",
                     replace: bool = False) -> dict[str, Any]:
        """Add (or with ``replace``, set) rules from a Great Expectations suite or a SageMaker
        Model Monitor constraints.json (a path, JSON text or a dict; see
        ``store.quality.imports`` for what maps). Returns {"rules": as stored, "skipped": what was
        not imported and why}; nothing is stored if any imported rule is invalid for the group."""
        from .imports import convert

        imported, skipped = convert(source, kind)
        stored = self.set_rules(group, imported if replace else [*self.rules(group), *imported])
        return {"rules": stored, "imported": len(imported), "skipped": skipped}

    def quality_check(self: "FeatureStore", group: str, data: Any, rules: Sequence[dict[str, Any]],
                      columns: dict[str, str | None] | None = None) -> "IngestReport":
        """``validate`` with other rules than the group's (to preview rules before saving them)."""
        from ..core.batches import validate
        from ..model.rules import parse

        g = self.feature_group(group)
        report = validate(g, data, columns, now_us(), parse(g, rules))
        report.dry_run = True
        return report

    def preview_rules(self: "FeatureStore", group: str, rules: Sequence[dict[str, Any]],
                      rows: int = 10_000) -> "IngestReport":
        """What ``rules`` would refuse or warn about in the ``rows`` rows written last: the check
        to run before saving rules (nothing is written). Batch rules judge those rows as one batch."""
        from ..retrieval.browse import latest_writes

        return self.quality_check(group, latest_writes(self._ctx, group, rows), rules)

    # ------------------------------------------------------------------------ refusals and runs

    def _refuse(self: "FeatureStore", g: "FeatureGroup", record: Any, rules: str, reason: str,
                source: str | None) -> None:
        """Keep a refused single record in the quarantine, and count it."""
        now = now_us()
        kept = record if isinstance(record, dict) else {"record": record}
        with self._ctx.db.write() as conn:
            tables.quarantine(conn, g.name, now, source or self.writer, [("put", rules, reason, kept)])
        self._ctx.tally.count(g.name, now, source or self.writer, False, [], rules.split(","))

    def _judged(self: "FeatureStore", g: "FeatureGroup", report: "IngestReport", on_error: str, started_us: int,
                seconds: float) -> None:
        """Before a bulk write: refuse the batch (recorded as a validation run) when a batch rule
        failed it, or when rows are bad and ``on_error`` is "reject"."""
        failure = report.batch_failures[0] if report.batch_failures else None
        if failure is None and not (report.rows_rejected and on_error == "reject"):
            return
        with self._ctx.db.write() as conn:  # rows_rejected counts the invalid rows only: the valid rest was held back
            tables.record_run(conn, g.name, started_us, seconds, "ingest", report.source, report.rows_total, 0,
                              report.rows_warned, report.rows_rejected, "refused", report.rule_counts)
        if failure is not None:
            raise IngestRejected(f"Nothing was written to {g.name!r}: rule {failure['rule']} fails the batch "
                                 f"({failure['reason']})", report)
        raise IngestRejected(
            f"Nothing was written to {g.name!r}: {report.rows_rejected:,} of {report.rows_total:,} rows are invalid. "
            f"First: {report.first_error()}.", report, skippable=True)

    def _written(self: "FeatureStore", conn: Any, g: "FeatureGroup", report: "IngestReport", source: str | None,
                 started_us: int, seconds: float) -> None:
        """In the write's transaction: the run, and the rows it refused into the quarantine."""
        outcome = "partial" if report.rows_rejected else "written"
        tables.record_run(conn, g.name, started_us, seconds, "ingest", source, report.rows_total, report.rows_written,
                          report.rows_warned, report.rows_rejected, outcome, report.rule_counts)
        if report.rejected is not None:
            tables.quarantine(conn, g.name, started_us, source, _quarantine_rows(report))

    def validation_runs(self: "FeatureStore", group: str, since: Any = None, limit: int = 1000) -> "pd.DataFrame":
        """Validation runs, newest first: each ingest (source, rows checked, written, warned,
        rejected, held back, outcome, per-rule counts) and single puts per minute. Rows rejected
        are the invalid ones (wrong type, or refused by a row rule); rows held back are valid rows
        not written because their batch was refused (on_error="reject", or a batch rule), so
        rows_checked = rows_written + rows_rejected + rows_held_back."""
        import pandas as pd

        self.feature_group(group)
        if self._ctx.tally.pending():  # a write only when puts were counted: a reader never waits behind an ingest
            with self._ctx.db.write() as conn:
                self._ctx.tally.flush(conn)
        rows = tables.runs(self._ctx.db.get(), group, arg_to_us(since, "since") if since is not None else None, limit)
        frame = pd.DataFrame(rows, columns=["id", "started_us", "seconds", "kind", "source", "rows_checked",
                                            "rows_written", "rows_warned", "rows_rejected", "outcome", "per_rule"])
        frame.insert(1, "started", pd.to_datetime(frame["started_us"], unit="us", utc=True))
        frame.insert(frame.columns.get_loc("rows_rejected") + 1, "rows_held_back",
                     frame["rows_checked"] - frame["rows_written"] - frame["rows_rejected"])
        return frame.drop(columns="started_us")

    # ------------------------------------------------------------------------ quarantine

    def quarantine(self: "FeatureStore", group: str, since: Any = None, limit: int | None = None) -> "pd.DataFrame":
        """Refused rows of the group, newest first: id, when, source (file, writer or HTTP key),
        position in the source, the rules that refused it, why, and the row as it was received."""
        import pandas as pd

        self.feature_group(group)
        entries = tables.quarantined(self._ctx.db.get(), group, arg_to_us(since, "since") if since is not None else None,
                                     limit=limit)
        frame = pd.DataFrame(entries, columns=["id", "quarantined_us", "source", "position", "rules", "reason", "record"])
        frame.insert(1, "quarantined", pd.to_datetime(frame["quarantined_us"], unit="us", utc=True))
        return frame.drop(columns="quarantined_us")

    def requeue(self: "FeatureStore", group: str, ids: Iterable[int], on_error: str = "skip",
                corrected: dict[int, dict[str, Any]] | None = None) -> "IngestReport":
        """Ingest quarantined rows again, after the rules were fixed or with ``corrected`` values
        ({entry id: {feature: value}}, merged over the row as kept); the ones written leave the
        quarantine, the ones refused again stay (as new entries) with today's verdict."""
        wanted = [int(i) for i in ids]
        entries = tables.quarantined(self._ctx.db.get(), group, ids=wanted)
        if len(entries) != len(set(wanted)):
            missing = sorted(set(wanted) - {e["id"] for e in entries})
            raise NotFound(f"Quarantine of {group!r} has no entries {missing}", group=group)
        fixes = {int(k): v for k, v in (corrected or {}).items()}
        stray = sorted(set(fixes) - set(wanted))
        if stray:
            raise ValidationError(f"corrected names entries {stray} that are not being requeued; requeue them too")
        with self._ctx.db.write() as conn:
            tables.release(conn, group, wanted)
        try:
            return self.ingest(group, as_text([{**e["record"], **fixes.get(e["id"], {})} for e in entries]),
                               on_error=on_error, source=f"requeue of {len(wanted)} quarantined rows")
        except Exception:
            with self._ctx.db.write() as conn:  # nothing was written: the rows go back as they were
                tables.quarantine(conn, group, now_us(), "requeue",
                                  [(e["position"], e["rules"], e["reason"], e["record"]) for e in entries])
            raise

    def release_quarantined(self: "FeatureStore", group: str, ids: Iterable[int]) -> int:
        """Drop quarantined rows for good; returns how many."""
        with self._ctx.db.write() as conn:
            return tables.release(conn, group, ids)

    def quarantine_retention(self: "FeatureStore", group: str) -> float:
        """Seconds refused rows stay in the group's quarantine."""
        self.feature_group(group)
        return tables.settings(self._ctx.db.get(), group)["quarantine_retention_seconds"]

    def set_quarantine_retention(self: "FeatureStore", group: str, retention: Any) -> None:
        """How long refused rows stay in the quarantine (a timedelta or days; default 30 days)."""
        from ..common.timeutil import retention_seconds

        seconds = retention_seconds(retention)
        if seconds is None:
            raise ValidationError("quarantine retention must be a duration (a timedelta or days)")
        self.feature_group(group)
        with self._ctx.db.write() as conn:
            tables.save(conn, group, now_us(), quarantine_retention_seconds=seconds)

    # ------------------------------------------------------------------------ monitoring

    def freshness(self: "FeatureStore", group: str) -> dict[str, Any]:
        """Last event, last write, the expected interval (from ``set_monitor``) and ok/late/unknown."""
        from .monitor import freshness

        return freshness(self, group)

    def volume(self: "FeatureStore", group: str, by: str = "day", clock: str = "event_time") -> "pd.DataFrame":
        """Rows (and delete markers) per hour/day/week/month of either clock."""
        from .monitor import volume

        return volume(self, group, by, clock)

    def drift(self: "FeatureStore", group: str, reference: tuple[Any, Any], current: tuple[Any, Any],
              features: Sequence[str] | None = None, clock: str = "event_time") -> "pd.DataFrame":
        """Per feature, how its values in ``current`` differ from ``reference`` (two [start, end)
        windows of either clock): PSI, Jensen-Shannon distance, KS, Wasserstein, mean and std
        change for numbers; PSI, JS, chi-square p-value, new and missing categories for text;
        null-rate change for all. See ``store.quality.drift``."""
        from .monitor import drift

        return drift(self, group, reference, current, features, clock)

    def drift_timeline(self: "FeatureStore", group: str, periods: int = 14,
                       features: Sequence[str] | None = None) -> "pd.DataFrame":
        """``drift`` of each of the last ``periods`` monitor windows against the reference before
        it, one row per window and feature: how a feature drifted over time."""
        from .monitor import drift_timeline

        return drift_timeline(self, group, periods, features)

    def distributions(self: "FeatureStore", group: str, feature: str, reference: tuple[Any, Any],
                      current: tuple[Any, Any], clock: str = "event_time", bins: int = 30) -> "pd.DataFrame":
        """One feature's values in two windows as shares per bucket (numbers binned alike, text by
        value, nulls apart): the two distributions a drift figure compares, ready to overlay."""
        from .monitor import distributions

        return distributions(self, group, feature, reference, current, clock, bins)

    def set_monitor(self: "FeatureStore", group: str, **settings: Any) -> dict[str, Any]:
        """Monitor a group: expected_interval (a timedelta: later is "late"), drift thresholds
        ({"psi": 0.2, "js": 0.1}), null_rate_change (0.05), window (the current window, default a
        day), reference_window (the window before it, default 7 days), features (default all but
        the identifier and event time) and min_rows (a window with fewer rows raises no drift
        alert; default 100). None turns one off."""
        from .monitor import normalise

        self.feature_group(group)
        with self._ctx.db.write() as conn:
            current = tables.settings(conn, group)["monitor"]
            merged = normalise({**current, **settings})
            tables.save(conn, group, now_us(), monitor=merged)
        return merged

    def monitor(self: "FeatureStore", group: str) -> dict[str, Any]:
        """The group's monitor settings ({} when it has none)."""
        self.feature_group(group)
        return tables.settings(self._ctx.db.get(), group)["monitor"]

    def check_monitors(self: "FeatureStore", group: str | None = None) -> list[dict[str, Any]]:
        """Alerts and warnings of every monitored group (or one): late data, drifted features,
        changed null rates, and pipelines whose latest run failed (on their target). Each names
        the group, what is wrong, the figure and its threshold."""
        from .monitor import check

        return check(self, group)


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


def _quarantine_rows(report: "IngestReport") -> list[tuple[str | None, str, str, dict[str, Any]]]:
    """(position, rules, reason, record) of each row a bulk write refused, as read."""
    frame = report.rejected_rows()
    position = "line" if "line" in frame.columns else "row"
    rules = report.errors.groupby("row")["rule"].agg(lambda r: ",".join(dict.fromkeys(r)))
    data = frame.drop(columns=[position, "error"])
    records = data.astype(object).where(data.notna(), None).to_dict("records")
    return [(f"{position} {int(p)}", rules.get(int(i), ""), reason, record)
            for i, p, reason, record in zip(report.rejected_index, frame[position], frame["error"], records)]
