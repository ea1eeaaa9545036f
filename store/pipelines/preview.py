"""A pipeline's output on what its next run would read, checked against its target, written
nowhere: what the studio shows before a pipeline is saved. It plans the next run as the run
would (mode, watermark, look-back, window), so an aggregate previews with the counts the run
would write; only the rows read are capped, and the result says where."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core import writes
from ..errors import AccessDenied, FeatureStoreError
from . import grants, runner
from .spec import PipelineSpec

if TYPE_CHECKING:
    from ..core.context import StoreContext

SHOWN = 200


def preview(ctx: "StoreContext", spec: PipelineSpec, rows: int, watermark: dict[str, Any]) -> dict[str, Any]:
    """{"output": first rows (DataFrame), "rows_out", "rows_in" per input, "kind", "window" (ISO
    start and end, or None), "capped" (view -> the rows the run would read, where the preview
    read only the latest ``rows``), "nothing_new", "problems", "log"}: problems list what a run
    would refuse (output columns, types, rules), in words."""
    from ..offline.snapshot import to_pandas
    from ..common.timeutil import us_to_iso

    log = runner.RunLog()
    problems: list[str] = []
    out: dict[str, Any] = {"output": None, "rows_out": 0, "rows_in": {}, "kind": spec.mode, "window": None,
                           "capped": {}, "nothing_new": False, "problems": problems}
    try:
        plan = runner.plan_run(ctx, spec, spec.mode, watermark, None, sample=max(1, int(rows)))
        grants.require_files(ctx, plan, "preview_pipeline")
        out["nothing_new"] = plan.nothing_new
        with runner.SqlSandbox(ctx, plan) as con:
            out["rows_in"] = runner.register_inputs(con, plan)
            out["capped"] = dict(plan.capped)
            if plan.window:
                out["window"] = (us_to_iso(plan.window[0]), us_to_iso(plan.window[1]))
            table = runner.compute(con, spec, plan, log)
    except AccessDenied:
        raise  # a refusal is the caller's, not a problem of the pipeline
    except FeatureStoreError as exc:
        problems.append(str(exc))
        out["log"] = log.text()
        return out
    out["output"], out["rows_out"] = to_pandas(table.slice(0, SHOWN)), table.num_rows
    try:
        runner.check_output(ctx, spec, table)
    except FeatureStoreError as exc:
        problems.append(str(exc))
    else:
        report = writes.validate(ctx, spec.target, table)
        problems += [f"row {r.row}: {r.feature} {r.reason}" if r.feature else f"row {r.row}: {r.reason}"
                     for r in report.errors.head(20).itertuples()]
        if report.rows_rejected > 20:
            problems.append(f"… {report.rows_rejected - 20:,} more rows would be refused")
        problems += [f"batch rule {b.get('rule')}: {b.get('reason')}" for b in report.batch_failures]
    out["log"] = log.text()
    return out
