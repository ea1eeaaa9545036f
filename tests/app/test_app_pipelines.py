"""The Pipelines page: the sample pipeline with its runs, run now, a failing definition shown
with its error and retried, preview before saving, a new pipeline created from the form,
backfill, pause and resume, and pipelines in the lineage drawing."""
from __future__ import annotations

import pandas as pd
from studio_support import button, fs, ok, page, seeded_template, studio_store, texts  # noqa: F401

from store.demo import PIPELINE


def test_the_sample_pipeline_shows_its_runs_and_runs_now(fs):
    at = ok(page("pipelines"))
    table = at.dataframe[0].value
    assert table["pipeline"].tolist() == [PIPELINE["name"]] and table["state"].tolist() == ["succeeded"]
    assert "No scheduler is running on this store" in texts(at)
    runs = at.dataframe[1].value
    assert len(runs) == len(fs.pipeline_runs(PIPELINE["name"])) >= 3 and set(runs["status"]) == {"succeeded"}
    assert len(at.get("plotly_chart")) == 1  # the windows processed
    ok(button(at, "Run now").click().run())
    assert at.toast[0].value.endswith("nothing new since the last run")
    at_ = fs.pipeline_runs(PIPELINE["name"])["window_end"].max().floor("s")
    fs.put_record("transactions", {"transaction_id": "T9999999", "customer_id": 100025, "merchant_id": "M0011",
                                   "amount": 42.5, "currency": "USD", "category": "grocery", "channel": "online",
                                   "event_time": at_.strftime("%Y-%m-%dT%H:%M:%SZ")})
    run_at = (at_ - pd.Timedelta(hours=23)).floor("D") + pd.Timedelta(hours=47)
    ok(button(at, "Run now").click().run())
    assert "read" in at.toast[0].value and "wrote" in at.toast[0].value
    spend = fs.get_record("customer_spend", 100025)  # the run at 23:00 after the new transaction counts it
    assert spend["event_time"] == run_at.strftime("%Y-%m-%dT%H:%M:%SZ") and spend["txn_count_7d"] >= 1


def test_a_failing_pipeline_shows_its_error_and_is_retried(fs):
    fs.create_pipeline("broken", "customer_spend", sql="SELECT nope FROM transactions", inputs=["transactions"])
    fs.run_pipeline("broken")
    at = page("pipelines", pipeline="broken")
    assert any("nope" in e.value for e in at.error)  # the failed run's error, in its detail
    assert button(at, "Retry failed")
    at = button(at, "Retry failed").click().run()
    assert at.warning[0].value.startswith("Run ") and "failed" in at.warning[0].value
    assert len(fs.pipeline_runs("broken")) == 2


def test_preview_then_create_a_pipeline_from_the_form(fs):
    at = ok(page("pipelines"))
    at.text_input(key="new_pipeline_name").set_value("big_spenders")
    at.selectbox(key="new_pipeline_target").set_value("customer_spend")
    at.multiselect(key="new_pipeline_inputs").set_value(["transactions"])
    at.text_area(key="new_pipeline_sql").set_value(
        "SELECT customer_id, count(*) AS txn_count_7d, sum(amount) AS spend_7d, max(_event_time) AS event_time "
        "FROM transactions WHERE amount > {{min_amount}} GROUP BY customer_id")
    at.text_input(key="new_pipeline_params").set_value('{"min_amount": 1000}')
    ok(at.run())
    ok(button(at, "Preview").click().run())
    assert f"As the next full run would: read transactions: {len(fs.query('SELECT 1 FROM transactions')):,} rows" \
        in texts(at)  # a new pipeline starts in Full mode: every row, as its first run
    assert "Every row fits the target's features, types and rules." in texts(at)
    ok(button(at, "Create").click().run())
    assert "big_spenders" in {p["name"] for p in fs.list_pipelines()}
    assert fs.pipeline("big_spenders")["params"] == {"min_amount": 1000}
    at = ok(page("pipelines", pipeline="big_spenders"))
    ok(button(at, "Run now").click().run())
    assert fs.pipeline("big_spenders")["last_status"] == "succeeded"


def test_preview_names_what_a_run_would_refuse(fs):
    at = ok(page("pipelines"))
    at.selectbox(key="new_pipeline_target").set_value("customer_spend")
    at.multiselect(key="new_pipeline_inputs").set_value(["transactions"])
    at.text_area(key="new_pipeline_sql").set_value("SELECT customer_id, amount AS spend FROM transactions")
    ok(at.run())
    at = button(at, "Preview").click().run()
    assert "'spend' is not a feature of 'customer_spend'" in texts(at) or "no 'event_time' column" in texts(at)


def test_backfill_pause_and_resume_from_the_page(fs):
    at = ok(page("pipelines", pipeline=PIPELINE["name"]))
    last = fs.pipeline_runs(PIPELINE["name"])["window_end"].max()
    at.date_input(key=f"bf_range_{PIPELINE['name']}").set_value((last.date(), last.date()))
    at = ok(at.button(key=f"FormSubmitter:backfill_{PIPELINE['name']}-Backfill").click().run())
    assert at.toast[0].value.startswith("Backfill: 1 runs")
    assert fs.pipeline_runs(PIPELINE["name"])["kind"].iloc[0] == "backfill"
    ok(button(at, "Pause").click().run())
    assert fs.pipeline(PIPELINE["name"])["paused"]
    ok(button(at, "Resume").click().run())
    assert not fs.pipeline(PIPELINE["name"])["paused"]


def test_the_lineage_page_draws_pipelines_between_groups(fs):
    at = ok(page("lineage"))
    dot = at.get("graphviz_chart")[0].proto.spec
    assert "pipeline:customer_spend_daily" in dot and "hexagon" in dot
