"""Pipelines whose SQL aggregates their inputs (the walk's F4): an incremental run or a backfill
interval without a look-back would write partial aggregates over the true ones, so the store
refuses that definition; with a look-back covering the data the counts are the true ones; the
preview reads what the next run reads. Also inputs read under a view name unlike their group's."""
from __future__ import annotations

import pandas as pd
import pytest

from store import Feature, ValidationError
from store.pipelines.spec import aggregates_in

CLICKS = [Feature("event_id", "String"), Feature("user_id", "Integral"), Feature("page", "String"),
          Feature("ts", "String")]
STATS = [Feature("user_id", "Integral"), Feature("clicks_n", "Integral"), Feature("last_click", "String")]
# The walk's pipeline: clicks per user, as of the user's last click.
STATS_SQL = ("SELECT user_id, count(*) AS clicks_n, max(_event_time) AS last_click "
             "FROM clicks WHERE NOT is_deleted GROUP BY user_id")


def clicks(n: int, first: int = 0, start: str = "2026-11-01", days: int = 8) -> pd.DataFrame:
    """``n`` clicks of 40 users spread over ``days`` days from ``start``."""
    i = pd.RangeIndex(first, first + n)
    when = pd.Timestamp(start, tz="UTC") + pd.to_timedelta((i * 7919) % (days * 86400), unit="s")
    return pd.DataFrame({"event_id": [f"E{k:07d}" for k in i], "user_id": (i * 13) % 40, "page": "/home",
                         "ts": when.strftime("%Y-%m-%dT%H:%M:%SZ")})


def true_counts(frame: pd.DataFrame) -> dict[int, int]:
    return frame.groupby("user_id").size().astype(int).to_dict()


def online_counts(fs) -> dict[int, int]:
    return {int(r["user_id"]): int(r["clicks_n"]) for r in fs.batch_get_records("user_click_stats", list(range(40)))}


@pytest.fixture
def site(fs):
    fs.create_feature_group("clicks", "event_id", "ts", CLICKS)
    fs.create_feature_group("user_click_stats", "user_id", "last_click", STATS)
    return fs


def test_the_parse_tree_tells_what_aggregates():
    assert aggregates_in(STATS_SQL) == "count(*), max(), GROUP BY"
    assert aggregates_in("SELECT DISTINCT user_id, ts FROM clicks") == "DISTINCT"
    assert aggregates_in("SELECT *, row_number() OVER (PARTITION BY user_id ORDER BY ts) AS k FROM clicks") \
        == "row_number() OVER"
    assert aggregates_in("SELECT user_id, sum(n) FROM c GROUP BY ALL") == "sum(), GROUP BY"
    assert aggregates_in("SELECT user_id FROM (SELECT user_id, count(*) AS n FROM c GROUP BY 1) WHERE n > 2")
    # Words that only look like aggregates: a string, a comment, a column, a list function.
    assert aggregates_in("SELECT user_id, 'count(*)' AS note, list_sum([1, 2]) AS s, ts AS \"max\" FROM c "
                         "-- GROUP BY user_id") is None
    assert aggregates_in("SELECT user_id, ts FROM c WHERE _event_time >= {{window_start}} AND n > {{min}}") is None
    assert aggregates_in("SELEC nonsense") is None  # the run reports the syntax error itself


def test_an_incremental_aggregate_without_a_lookback_is_refused_everywhere(site):
    fs = site
    with pytest.raises(ValidationError, match=r"aggregates \(count\(\*\), max\(\), GROUP BY\).*no lookback") as err:
        fs.create_pipeline("user_click_stats", "user_click_stats", sql=STATS_SQL, inputs=["clicks"])
    assert "look-back makes each incremental run" in str(err.value) and "mode='full'" in str(err.value)
    with pytest.raises(ValidationError, match="no lookback"):
        fs.preview_pipeline(target="user_click_stats", sql=STATS_SQL, inputs=["clicks"])
    assert fs.list_pipelines() == []
    fs.create_pipeline("stats_full", "user_click_stats", sql=STATS_SQL, inputs=["clicks"], mode="full")
    with pytest.raises(ValidationError, match="no lookback"):
        fs.update_pipeline("stats_full", mode="incremental")
    assert fs.pipeline("stats_full")["mode"] == "full"  # nothing changed
    with pytest.raises(ValidationError, match="each backfill interval would aggregate only its own rows"):
        fs.backfill("stats_full", "2026-11-01", "2026-11-09")
    assert fs.pipeline_runs("stats_full").empty
    # Per-row SQL stays free to be incremental; lookback=0 asks for per-run aggregates on purpose.
    fs.create_pipeline("per_run", "user_click_stats", sql=STATS_SQL, inputs=["clicks"], lookback=0)
    fs.create_pipeline("copy", "user_click_stats", inputs=["clicks"],
                       sql="SELECT user_id, 1 AS clicks_n, _event_time AS last_click FROM clicks")


def test_with_a_lookback_covering_the_data_incremental_runs_give_the_true_counts(site):
    fs = site
    fs.create_pipeline("user_click_stats", "user_click_stats", sql=STATS_SQL, inputs=["clicks"], lookback="365d")
    old = clicks(3000)
    fs.ingest("clicks", old)
    assert fs.run_pipeline("user_click_stats")["status"] == "succeeded"
    assert online_counts(fs) == true_counts(old)
    new = clicks(200, first=3000, start="2026-11-09", days=1)  # the walk's clicks_new: later events
    fs.ingest("clicks", new)
    run = fs.run_pipeline("user_click_stats")
    assert run["status"] == "succeeded" and run["rows_in"] == 3200  # the look-back reads the older rows again
    both = pd.concat([old, new], ignore_index=True)
    assert online_counts(fs) == true_counts(both)
    assert min(online_counts(fs).values()) > 50  # not the walk's 1s
    runs = fs.backfill("user_click_stats", "2026-11-01", "2026-11-10", interval="1d")
    assert all(r["status"] == "succeeded" for r in runs)
    assert online_counts(fs) == true_counts(both)  # each interval read back a year: still the true counts


def test_file_inputs_with_aggregates_need_full_mode(site, tmp_path):
    path = tmp_path / "clicks_export.csv"
    clicks(100).to_csv(path, index=False)
    with pytest.raises(ValidationError, match=r"reads file input 'raw'.*mode='full'"):
        site.create_pipeline("from_file", "user_click_stats", inputs={"raw": str(path)}, lookback="30d",
                             sql="SELECT user_id, count(*) AS clicks_n, max(ts) AS last_click FROM raw GROUP BY 1")


def test_the_preview_reads_the_next_runs_window_capped_and_says_so(site):
    fs = site
    old = clicks(3000)
    fs.ingest("clicks", old)
    # A new pipeline's first run reads everything: the preview gives the true counts, not 1s.
    shown = fs.preview_pipeline(target="user_click_stats", sql=STATS_SQL, inputs=["clicks"], mode="full")
    assert shown["rows_in"] == {"clicks": 3000} and shown["capped"] == {} and shown["kind"] == "full"
    got = dict(zip(shown["output"]["user_id"].astype(int), shown["output"]["clicks_n"].astype(int)))
    assert got == true_counts(old)
    fs.create_pipeline("user_click_stats", "user_click_stats", sql=STATS_SQL, inputs=["clicks"], lookback="2d")
    fs.run_pipeline("user_click_stats")
    assert fs.preview_pipeline("user_click_stats")["nothing_new"]
    new = clicks(100, first=3000, start="2026-11-09", days=1)
    fs.ingest("clicks", new)
    shown = fs.preview_pipeline("user_click_stats")
    run_window = pd.to_datetime(new["ts"], utc=True)
    assert shown["window"][0] == run_window.min().strftime("%Y-%m-%dT%H:%M:%SZ")
    both = pd.concat([old, new], ignore_index=True)
    read = both[pd.to_datetime(both["ts"], utc=True) >= run_window.min() - pd.Timedelta(days=2)]
    assert shown["rows_in"] == {"clicks": len(read)} and shown["capped"] == {}
    assert shown["output"]["clicks_n"].sum() == len(read)
    run = fs.run_pipeline("user_click_stats")
    assert run["rows_in"] == len(read) and run["rows_out"] == shown["rows_out"]
    fs.ingest("clicks", clicks(100, first=3100, start="2026-11-10", days=1))
    capped = fs.preview_pipeline("user_click_stats", rows=50)
    assert capped["rows_in"] == {"clicks": 50} and capped["capped"]["clicks"] > 50


def test_an_input_read_under_another_name_than_its_group(fs, tmp_path):
    fs.create_feature_group("payroll", "emp", "ts", [Feature("emp", "Integral"), Feature("pay", "Fractional"),
                                                      Feature("ts", "String")])
    fs.create_feature_group("pay_copy", "emp", "ts", [Feature("emp", "Integral"), Feature("pay", "Fractional"),
                                                       Feature("ts", "String")])
    fs.ingest("payroll", pd.DataFrame({"emp": [1, 2], "pay": [10.0, 20.0], "ts": ["2026-11-01T00:00:00Z"] * 2}))
    fs.create_pipeline("copy", "pay_copy", inputs={"pay_rows": "payroll"},
                       sql="SELECT emp, pay, _event_time AS ts FROM pay_rows")
    assert fs.preview_pipeline("copy")["rows_in"] == {"pay_rows": 2}
    run = fs.run_pipeline("copy")
    assert run["status"] == "succeeded" and run["rows_out"] == 2, run["error"]
    assert fs.backfill("copy", "2026-11-01", "2026-11-02")[0]["rows_out"] == 2
    # Beside a file input too, where the scheduler looks for new files.
    extra = tmp_path / "bonus.csv"
    pd.DataFrame({"emp": [3], "pay": [5.0], "ts": ["2026-11-02T00:00:00Z"]}).to_csv(extra, index=False)
    fs.create_pipeline("both", "pay_copy", inputs={"pay_rows": "payroll", "bonus": str(extra)}, trigger="on_change",
                       sql="SELECT emp, pay, _event_time AS ts FROM pay_rows "
                           "UNION ALL SELECT emp, pay, ts::TIMESTAMPTZ FROM bonus")
    from conftest import scheduler_of

    [run] = scheduler_of(fs).run_due()
    assert run["status"] == "succeeded" and run["rows_out"] == 3, run["error"]


def test_the_cli_refuses_the_aggregate_and_warns_about_a_self_read(site, tmp_path):
    from click.testing import CliRunner

    from store.cli import main

    spec = tmp_path / "pipes.yaml"
    spec.write_text(f"name: user_click_stats\ntarget: user_click_stats\ninputs: [clicks]\nsql: {STATS_SQL}\n")
    runner = CliRunner()
    result = runner.invoke(main, ["--store", site.path, "pipeline", "create", str(spec)])
    assert result.exit_code != 0 and "no lookback" in result.output and "mode='full'" in result.output
    spec.write_text(f"name: user_click_stats\ntarget: user_click_stats\ninputs: [clicks]\nlookback: 365d\n"
                    f"sql: {STATS_SQL}\n")
    assert runner.invoke(main, ["--store", site.path, "pipeline", "create", str(spec)]).exit_code == 0
    spec.write_text("name: again\ntarget: user_click_stats\ninputs: [user_click_stats]\nmode: full\n"
                    "sql: SELECT user_id, clicks_n, last_click FROM user_click_stats\n")
    result = runner.invoke(main, ["--store", site.path, "pipeline", "create", str(spec)])
    assert result.exit_code == 0 and "Warning: Pipeline 'again' reads its own target" in result.output
