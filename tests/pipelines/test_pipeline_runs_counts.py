"""Run figures that reconcile (the walk's F10, F26, F29): a backfill's "last run" is the whole
backfill's, a failed run keeps the rows it read, a retry counts its attempt, and a pipeline that
reads its own target is told about (and never triggered by its own writes)."""
from __future__ import annotations

import pandas as pd
import pytest

from store import Feature, ValidationError

pytestmark = pytest.mark.registry  # the run tables' SQL on SQLite and on PostgreSQL

EVENTS = [Feature("eid", "String"), Feature("uid", "Integral"), Feature("code", "String"), Feature("ts", "String")]
COPY = [Feature("eid", "String"), Feature("uid", "Integral"), Feature("ts", "String")]


@pytest.fixture
def site(fs):
    fs.create_feature_group("events", "eid", "ts", EVENTS)
    fs.create_feature_group("copies", "eid", "ts", COPY)
    days = pd.date_range("2026-11-01", periods=5 * 24, freq="h", tz="UTC")  # Nov 1-5, hourly
    fs.ingest("events", pd.DataFrame({"eid": [f"E{i}" for i in range(len(days))], "uid": range(len(days)),
                                      "code": "abc", "ts": days.strftime("%Y-%m-%dT%H:%M:%SZ")}))
    fs.create_pipeline("copy", "copies", inputs=["events"], sql="SELECT eid, uid, _event_time AS ts FROM events")
    return fs


def test_a_backfill_ending_in_an_empty_day_reports_the_whole_backfill(site):
    fs = site
    runs = fs.backfill("copy", "2026-11-01", "2026-11-08", "1d")  # Nov 6 and 7 have no events yet
    assert [r["rows_out"] for r in runs] == [24] * 5 + [0, 0]
    p = fs.pipeline("copy")
    assert p["last_rows_out"] == 120, "the last interval's 0 is not what the backfill wrote"
    assert p["last_backfill"] == {"runs": 7, "rows_in": 120, "rows_out": 120, "rows_rejected": 0, "failed": 0,
                                  "start": "2026-11-01T00:00:00Z", "end": "2026-11-08T00:00:00Z"}
    assert [x["last_rows_out"] for x in fs.list_pipelines()] == [120]
    again = fs.backfill("copy", "2026-11-03", "2026-11-05", "1d")  # a second backfill: its own total only
    assert sum(r["rows_out"] for r in again) == 48 and fs.pipeline("copy")["last_rows_out"] == 48
    assert fs.pipeline("copy")["last_backfill"]["runs"] == 2
    run = fs.run_pipeline("copy")  # a run after it reports itself
    after = fs.pipeline("copy")
    assert after["last_rows_out"] == run["rows_out"] == 120 and after["last_backfill"] is None


def test_a_failed_run_keeps_the_rows_it_read_and_a_retry_counts_attempts(site):
    fs = site
    fs.update_pipeline("copy", sql="SELECT eid, CAST(code AS INTEGER) AS uid, _event_time AS ts FROM events")
    first = fs.run_pipeline("copy")
    assert first["status"] == "failed" and "read events: 120 rows" in first["log"]
    assert first["rows_in"] == 120 and first["rows_out"] == 0 and first["attempt"] == 1
    assert (first["window_start"], first["window_end"]) == ("2026-11-01T00:00:00Z", "2026-11-05T23:00:00.000001Z")
    retry = fs.run_pipeline("copy", trigger="retry")
    assert retry["status"] == "failed" and retry["attempt"] == 2 and retry["rows_in"] == 120
    assert fs.run_pipeline("copy", trigger="retry")["attempt"] == 3
    assert fs.pipeline_runs("copy")["attempt"].tolist() == [3, 2, 1]
    assert fs.run_pipeline("copy")["attempt"] == 1  # a new run by hand starts again
    fs.update_pipeline("copy", sql="SELECT eid, uid, _event_time AS ts FROM events")
    fixed = fs.run_pipeline("copy", trigger="retry")
    assert fixed["status"] == "succeeded" and fixed["attempt"] == 2 and fixed["rows_out"] == 120
    assert fs.run_pipeline("copy", trigger="retry")["attempt"] == 1  # nothing failed to retry


def test_a_pipeline_reading_its_own_target_is_warned_about_and_never_on_change(site):
    fs = site
    with pytest.warns(UserWarning, match="reads its own target 'copies'"):
        fs.create_pipeline("loop", "copies", inputs=["copies"], sql="SELECT eid, uid, ts FROM copies")
    with pytest.raises(ValidationError, match="trigger='on_change' with its target 'copies' among its inputs"):
        fs.update_pipeline("loop", trigger="on_change")
    with pytest.raises(ValidationError, match="would start it again after every run"):
        fs.create_pipeline("loop2", "copies", inputs=["events", "copies"], trigger="on_change",
                           sql="SELECT eid, uid, ts FROM copies")
    assert fs.pipeline("loop")["trigger"] is None and "loop2" not in {p["name"] for p in fs.list_pipelines()}
