"""Pipelines: incremental runs on the write clock (late data included), full runs, lookback
windows, backfills, file inputs, Python functions, output checks, rules on the output, lineage,
previews, the sample store's spend pipeline against its CSV, and the CLI."""
from __future__ import annotations

import json
import textwrap

import pandas as pd
import pytest
from click.testing import CliRunner

from store import Conflict, Feature, NotFound, ValidationError
from store.cli import main

pytestmark = pytest.mark.registry  # every test on `fs` runs with the store's tables in SQLite and in PostgreSQL

TX = [Feature("tid", "String"), Feature("cid", "Integral"), Feature("amount", "Fractional"),
      Feature("ts", "String")]
DAILY = [Feature("cid", "Integral"), Feature("n", "Integral"), Feature("total", "Fractional"),
         Feature("ts", "String")]
# One row per customer and day with transactions: that day's count and total, at the day's end.
DAILY_SQL = """
SELECT cid, count(*) AS n, sum(amount) AS total, time_bucket(INTERVAL 1 DAY, _event_time) + INTERVAL 1 DAY AS ts
FROM tx WHERE NOT is_deleted
  AND _event_time >= time_bucket(INTERVAL 1 DAY, {{window_start}})
GROUP BY cid, time_bucket(INTERVAL 1 DAY, _event_time)
"""


def transactions(n: int, first: int = 0, days: int = 20) -> pd.DataFrame:
    """``n`` transactions of 7 customers spread over ``days`` days of October 2026."""
    i = pd.RangeIndex(first, first + n)
    when = pd.Timestamp("2026-10-01", tz="UTC") + pd.to_timedelta((i * 7919) % (days * 86400), unit="s")
    return pd.DataFrame({"tid": [f"T{k:06d}" for k in i], "cid": i % 7, "amount": ((i * 37) % 1000) / 10 + 1,
                         "ts": when.strftime("%Y-%m-%dT%H:%M:%SZ")})


def expected_daily(frame: pd.DataFrame) -> pd.DataFrame:
    day = pd.to_datetime(frame["ts"], utc=True).dt.floor("D") + pd.Timedelta(days=1)
    out = frame.assign(ts=day.dt.strftime("%Y-%m-%dT%H:%M:%SZ")).groupby(["cid", "ts"], as_index=False).agg(
        n=("tid", "size"), total=("amount", "sum"))
    return out[["cid", "n", "total", "ts"]].sort_values(["cid", "ts"], ignore_index=True)


def latest(fs, group: str = "daily") -> pd.DataFrame:
    """Every (cid, day) row's latest version from the offline history."""
    frame = fs.query(f"SELECT cid, n, total, ts FROM {group} QUALIFY row_number() OVER "
                     "(PARTITION BY cid, ts ORDER BY write_time DESC, _seq DESC) = 1 ORDER BY cid, ts")
    return frame.assign(n=frame["n"].astype("int64"), cid=frame["cid"].astype("int64"))


def compare(got: pd.DataFrame, want: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False,
                                  check_exact=False, rtol=1e-12)


@pytest.fixture
def shop(fs):
    fs.create_feature_group("tx", "tid", "ts", TX)
    fs.create_feature_group("daily", "cid", "ts", DAILY)
    fs.create_pipeline("daily_spend", "daily", sql=DAILY_SQL, inputs=["tx"], lookback="1d")
    return fs


def test_incremental_runs_read_only_new_rows_and_an_empty_run_is_skipped(shop):
    fs = shop
    first = transactions(3000)
    fs.ingest("tx", first)
    run = fs.run_pipeline("daily_spend")
    assert run["status"] == "succeeded", run["error"]
    assert run["rows_in"] == 3000 and run["rows_out"] == len(expected_daily(first))
    compare(latest(fs), expected_daily(first))
    assert fs.run_pipeline("daily_spend")["status"] == "skipped"
    # 500 more rows, all on the last day: only that day (and the day of lookback before it) is read
    more = transactions(500, 3000, days=20).assign(ts="2026-10-20T12:00:00Z")
    fs.ingest("tx", more)
    run = fs.run_pipeline("daily_spend")
    assert run["status"] == "succeeded", run["error"]
    both = pd.concat([first, more], ignore_index=True)
    in_window = pd.to_datetime(both["ts"], utc=True) >= pd.Timestamp("2026-10-19T12:00:00Z")
    assert run["rows_in"] == int(in_window.sum()) < 3500
    assert run["window_start"] == "2026-10-20T12:00:00Z"
    compare(latest(fs), expected_daily(both))
    assert fs.as_of("daily", record_ids=[3])["ts"].iloc[0] == "2026-10-21T00:00:00Z"


def test_a_row_written_late_with_an_old_event_time_is_picked_up_by_the_next_run(shop):
    fs = shop
    rows = transactions(2000)
    fs.ingest("tx", rows)
    fs.run_pipeline("daily_spend")
    late = {"tid": "LATE", "cid": 2, "amount": 1000.0, "ts": "2026-10-03T08:00:00Z"}
    fs.put_record("tx", late)  # staged, not yet in Parquet: the run reads the buffer too
    run = fs.run_pipeline("daily_spend")
    assert run["status"] == "succeeded" and run["window_start"] == late["ts"]
    want = expected_daily(pd.concat([rows, pd.DataFrame([late])], ignore_index=True))
    compare(latest(fs), want)
    assert want.query("cid == 2 and ts == '2026-10-04T00:00:00Z'")["total"].iloc[0] > 1000


def test_full_mode_reads_everything_and_rerunning_writes_the_same_answer(fs):
    fs.create_feature_group("tx", "tid", "ts", TX)
    fs.create_feature_group("daily", "cid", "ts", DAILY)
    fs.create_pipeline("all_days", "daily", sql=DAILY_SQL.replace("{{window_start}}", "TIMESTAMPTZ '2000-01-01'"),
                       inputs=["tx"], mode="full")
    rows = transactions(1500)
    fs.ingest("tx", rows)
    first = fs.run_pipeline("all_days")
    again = fs.run_pipeline("all_days")
    assert first["rows_in"] == again["rows_in"] == 1500 and first["rows_out"] == again["rows_out"]
    compare(latest(fs), expected_daily(rows))


def test_backfill_runs_one_interval_at_a_time_is_idempotent_and_leaves_the_watermark(shop):
    fs = shop
    rows = transactions(2000, days=10)
    fs.ingest("tx", rows)
    runs = fs.backfill("daily_spend", "2026-10-01", "2026-10-11", interval="2d")
    assert [r["window_start"][:10] for r in runs] == ["2026-10-01", "2026-10-03", "2026-10-05", "2026-10-07",
                                                        "2026-10-09"]
    assert all(r["status"] == "succeeded" and r["kind"] == "backfill" for r in runs)
    compare(latest(fs), expected_daily(rows))
    before = fs.query("SELECT count(*) AS n FROM daily")["n"].iloc[0]
    again = fs.backfill("daily_spend", "2026-10-01", "2026-10-11", interval="2d")
    assert [r["rows_out"] for r in again] == [r["rows_out"] for r in runs]
    compare(latest(fs), expected_daily(rows))
    assert fs.query("SELECT count(*) AS n FROM daily")["n"].iloc[0] == 2 * before  # later write wins
    assert fs.pipeline("daily_spend")["watermark"] == {}  # backfills never move it
    run = fs.run_pipeline("daily_spend")  # the incremental run still reads every row once
    assert run["rows_in"] == 2000


def test_a_failed_run_records_its_error_writes_nothing_and_keeps_the_watermark(shop):
    fs = shop
    fs.ingest("tx", transactions(300))
    assert fs.run_pipeline("daily_spend")["status"] == "succeeded"
    mark = fs.pipeline("daily_spend")["watermark"]
    fs.ingest("tx", transactions(10, 300))
    fs.update_pipeline("daily_spend", sql="SELECT cid, 1 AS n FROM tx")
    run = fs.run_pipeline("daily_spend")
    assert run["status"] == "failed" and "ts" in run["error"] and run["traceback"]
    assert fs.pipeline("daily_spend")["watermark"] == mark
    fs.update_pipeline("daily_spend", sql="SELECT cid, 1 AS n, ts, amount AS oops FROM tx")
    run = fs.run_pipeline("daily_spend")
    assert run["status"] == "failed" and "'oops' is not a feature of 'daily'" in run["error"]
    fs.update_pipeline("daily_spend", sql="SELECT cid, n FROM tx")
    assert "nope" not in fs.run_pipeline("daily_spend")["error"]  # DuckDB's words, without a traceback
    assert fs.pipeline("daily_spend")["last_status"] == "failed"
    [alert] = fs.check_monitors()  # a failed pipeline alerts on its target, in `featurestore monitor` too
    assert alert["group"] == "daily" and alert["kind"] == "pipeline" and "daily_spend's run" in alert["message"]
    fs.update_pipeline("daily_spend", sql=DAILY_SQL)
    run = fs.run_pipeline("daily_spend")
    assert run["status"] == "succeeded" and run["rows_in"] > 0  # the 10 rows were not lost
    assert fs.check_monitors() == []


def test_output_goes_through_the_targets_rules_and_a_failed_batch_rule_fails_the_run(shop):
    fs = shop
    fs.set_rules("daily", [{"feature": "total", "check": "between", "max": 150}])
    rows = transactions(400)
    fs.ingest("tx", rows)
    run = fs.run_pipeline("daily_spend")
    want = expected_daily(rows)
    assert run["status"] == "succeeded"
    assert run["rows_rejected"] == int((want["total"] > 150).sum()) > 0
    assert run["rows_out"] == int((want["total"] <= 150).sum())
    assert set(fs.quarantine("daily")["source"]) == {f"pipeline daily_spend run {run['id']}"}
    fs.set_rules("daily", [{"check": "row_count", "max": 1}])
    fs.ingest("tx", transactions(50, 400))
    mark = fs.pipeline("daily_spend")["watermark"]
    run = fs.run_pipeline("daily_spend")
    assert run["status"] == "failed" and "row_count" in run["error"]
    assert fs.pipeline("daily_spend")["watermark"] == mark


def test_lineage_runs_from_the_input_through_the_pipeline_to_the_target(shop):
    fs = shop
    fs.ingest("tx", transactions(100))
    run = fs.run_pipeline("daily_spend")
    graph = fs.lineage("daily")
    edges = {(e["src"], e["dst"], e["relation"]): e["properties"] for e in graph.edges}
    assert edges[("feature_group:tx", "pipeline:daily_spend", "read_by")] == {"run_id": run["id"], "rows": 100}
    into = edges[("pipeline:daily_spend", "feature_group:daily", "ingested_into")]
    assert into["run_id"] == run["id"] and into["rows"] == run["rows_out"]
    assert {n["kind"] for n in graph.nodes if n["id"] == "pipeline:daily_spend"} == {"pipeline"}


def test_file_inputs_are_read_once_each_when_new(fs, tmp_path):
    fs.create_feature_group("daily", "cid", "ts", DAILY)
    drop = tmp_path / "exports"
    drop.mkdir()
    transactions(200).to_csv(drop / "tx_1.csv", index=False)
    fs.create_pipeline("from_files", "daily", inputs={"tx": str(drop / "tx_*.csv")},
                       sql="SELECT cid, 1 AS n, amount AS total, ts FROM tx")  # per row: new files alone suffice
    assert fs.run_pipeline("from_files")["rows_in"] == 200
    assert fs.run_pipeline("from_files")["status"] == "skipped"
    transactions(50, 200).to_csv(drop / "tx_2.csv", index=False)
    run = fs.run_pipeline("from_files")
    assert run["status"] == "succeeded" and run["rows_in"] == 50
    nodes = {n["id"] for n in fs.lineage("daily").nodes}
    assert f"source:file:{drop / 'tx_*.csv'}" in nodes


def test_a_function_pipeline_gets_its_inputs_window_params_and_log(fs, tmp_path, monkeypatch):
    fs.create_feature_group("tx", "tid", "ts", TX)
    fs.create_feature_group("daily", "cid", "ts", DAILY)
    (tmp_path / "spend_job.py").write_text(textwrap.dedent("""
        def compute(ctx):
            frame = ctx.read("tx")
            big = frame[frame["amount"] >= ctx.params["min_amount"]]
            ctx.log("big rows", len(big), "window", ctx.window[0].isoformat())
            out = ctx.sql("SELECT cid, count(*) AS n, sum(amount) AS total, max(ts) AS ts FROM tx "
                          "WHERE amount >= {{min_amount}} GROUP BY cid")
            assert len(out) == big["cid"].nunique()
            return out
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    fs.create_pipeline("py", "daily", function="spend_job:compute", inputs=["tx"], params={"min_amount": 50})
    rows = transactions(700)
    fs.ingest("tx", rows)
    run = fs.run_pipeline("py")
    assert run["status"] == "succeeded", run["traceback"]
    assert f"big rows {int((rows['amount'] >= 50).sum())} window 2026-10-01" in run["log"]
    got = fs.as_of("daily").sort_values("cid", ignore_index=True)
    want = rows[rows["amount"] >= 50].groupby("cid", as_index=False).agg(n=("tid", "size"), total=("amount", "sum"))
    assert got["n"].tolist() == want["n"].tolist()
    fs.update_pipeline("py", function="spend_job:missing")
    fs.ingest("tx", transactions(5, 700))
    assert "has no 'missing'" in fs.run_pipeline("py")["error"]


def test_definitions_are_checked_with_errors_that_name_the_field(fs):
    fs.create_feature_group("tx", "tid", "ts", TX)
    fs.create_feature_group("daily", "cid", "ts", DAILY)
    cases = [
        (dict(sql="SELECT 1", function="m:f"), "not both"),
        (dict(sql="SELECT 1", schedule="every day"), "not a cron expression"),
        (dict(sql="SELECT {{days}}"), "{{days}}"),
        (dict(sql="SELECT 1", mode="streaming"), "mode='streaming'"),
        (dict(sql="SELECT 1", inputs=["nowhere.csv"]), "neither a feature group nor an existing file"),
        (dict(sql="SELECT 1", lookback="a week"), "lookback="),
        (dict(sql="SELECT 1", retries=-1), "retries="),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValidationError, match=message.replace("{", r"\{").replace("(", r"\(")):
            fs.create_pipeline("p", "daily", inputs=kwargs.pop("inputs", ["tx"]), **kwargs)
    with pytest.raises(ValidationError, match="give either sql"):
        fs.create_pipeline("p", "daily", inputs=["tx"])
    with pytest.raises(NotFound):
        fs.create_pipeline("p", "nothing", sql="SELECT 1", inputs=["tx"])
    fs.create_pipeline("p", "daily", sql="SELECT 1", inputs=["tx"])
    with pytest.raises(Conflict):
        fs.create_pipeline("p", "daily", sql="SELECT 1", inputs=["tx"])
    with pytest.raises(NotFound, match="does not exist"):
        fs.run_pipeline("q")


def test_preview_shows_the_output_on_a_sample_and_what_a_run_would_refuse(shop):
    fs = shop
    fs.set_rules("daily", [{"feature": "n", "check": "between", "max": 3}])
    fs.ingest("tx", transactions(2000))
    out = fs.preview_pipeline("daily_spend", rows=100)
    assert out["rows_in"] == {"tx": 100} and out["rows_out"] == len(out["output"]) > 0
    assert all("n" in p and "rule" in p for p in out["problems"])
    bad = fs.preview_pipeline(target="daily", inputs=["tx"], sql="SELECT cid, amount AS total FROM tx")
    assert bad["output"] is not None and any("no 'ts' column" in p for p in bad["problems"])
    broken = fs.preview_pipeline(target="daily", inputs=["tx"], sql="SELECT nope FROM tx")
    assert broken["output"] is None and "nope" in broken["problems"][0]
    assert fs.pipeline_runs("daily_spend").empty  # previews are not runs


def test_paused_pipelines_keep_their_definition_and_can_still_run_by_hand(shop):
    fs = shop
    fs.update_pipeline("daily_spend", schedule="0 23 * * *")
    assert fs.pipeline("daily_spend")["next_run"].endswith("T23:00:00Z")
    assert fs.pause_pipeline("daily_spend")["paused"] and fs.pipeline("daily_spend")["next_run"] is None
    fs.ingest("tx", transactions(20))
    assert fs.run_pipeline("daily_spend")["status"] == "succeeded"
    assert not fs.resume_pipeline("daily_spend")["paused"]
    fs.delete_pipeline("daily_spend")
    assert fs.list_pipelines() == [] and len(fs.as_of("daily")) > 0


def test_the_sample_spend_pipeline_computes_what_the_sample_csv_holds(tmp_path):
    from store import FeatureStore, demo

    fs = FeatureStore(tmp_path / "demo")
    demo.seed(fs)
    runs = fs.pipeline_runs("customer_spend_daily")
    assert len(runs) >= 3 and set(runs["status"]) == {"succeeded"}
    got = fs.query("SELECT customer_id, txn_count_7d, spend_7d, avg_amount_30d, distinct_merchants_30d, event_time "
                   "FROM customer_spend ORDER BY event_time, customer_id")
    want = pd.read_csv(tmp_path / "demo" / "samples" / "customer_spend.csv").sort_values(
        ["event_time", "customer_id"], ignore_index=True)
    assert len(got) == len(want) > 10_000
    for column in want.columns:
        assert got[column].astype(str).tolist() == want[column].astype(str).tolist(), column
    edges = {(e["src"], e["dst"]) for e in fs.lineage("customer_spend").edges}
    assert {("feature_group:transactions", "pipeline:customer_spend_daily"),
            ("pipeline:customer_spend_daily", "feature_group:customer_spend")} <= edges
    fs.close()


def test_cli_creates_runs_lists_and_backfills_pipelines(shop, tmp_path):
    fs = shop
    fs.ingest("tx", transactions(100))
    spec = tmp_path / "pipes.yaml"
    spec.write_text(textwrap.dedent(f"""
        - name: nightly
          target: daily
          inputs: [tx]
          lookback: 1d
          schedule: "0 23 * * *"
          sql: |
            {textwrap.indent(DAILY_SQL.strip(), '            ').strip()}
        - name: broken
          target: daily
          inputs: [tx]
          sql: SELECT nope FROM tx
    """))
    runner = CliRunner()
    store = ["--store", fs.path]
    result = runner.invoke(main, [*store, "pipeline", "create", str(spec)])
    assert result.exit_code == 0, result.output
    assert "Created pipeline nightly: incremental into daily, runs on schedule 0 23 * * * (UTC)" in result.output
    result = runner.invoke(main, [*store, "pipeline", "run", "nightly", "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["rows_in"] == 100
    result = runner.invoke(main, [*store, "pipeline", "run", "broken"])
    assert result.exit_code == 1 and "nope" in result.output
    result = runner.invoke(main, [*store, "pipeline", "list"])
    assert "nightly\t-> daily\tincremental\t0 23 * * *\tsucceeded" in result.output
    result = runner.invoke(main, [*store, "pipeline", "backfill", "nightly", "--start", "2026-10-01",
                                  "--end", "2026-10-03", "--json"])
    assert result.exit_code == 0 and [r["kind"] for r in json.loads(result.output)] == ["backfill", "backfill"]
    result = runner.invoke(main, [*store, "pipeline", "runs", "nightly", "--json"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert [r["trigger"] for r in json.loads(result.output)] == ["backfill", "backfill", "cli"]
    for command in ("pause", "resume", "delete"):
        assert runner.invoke(main, [*store, "pipeline", command, "broken"]).exit_code == 0
    result = runner.invoke(main, [*store, "pipeline", "show", "broken"])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_a_pipeline_whose_input_was_deleted_fails_with_the_reason(shop):
    fs = shop
    fs.ingest("tx", transactions(50))
    fs.delete_feature_group("tx")
    run = fs.run_pipeline("daily_spend")
    assert run["status"] == "failed" and "'tx' is neither a feature group nor an existing file" in run["error"]


@pytest.mark.parametrize("call", ["pause_pipeline", "resume_pipeline", "pipeline", "run_pipeline", "delete_pipeline"])
def test_a_pipeline_named_by_something_not_a_string_is_a_validation_error(fs, call):
    # The README once showed fs.pause_pipeline(...): the driver's binding error reached the user.
    with pytest.raises(ValidationError, match="named by a string"):
        getattr(fs, call)(...)
