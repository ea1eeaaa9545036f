"""The Pipelines page after the walk's F4, F9, F10, F26 and F29: the hint next to Mode/Look-back
for aggregating SQL, the form cleared and collapsed after Create, a backfill's total as its last
figures, the newest run shown after a retry, and a warning for a pipeline reading its target."""
from __future__ import annotations

import datetime as dt

import pandas as pd
from studio_support import button, fs, ok, page, seeded_template, studio_store, texts  # noqa: F401

from store.demo import PIPELINE

AGGREGATE_SQL = ("SELECT customer_id, count(*) AS txn_count_7d, max(_event_time) AS event_time "
                 "FROM transactions GROUP BY customer_id")


def fill(at, sql: str = AGGREGATE_SQL, name: str = "spend_counts", key: str = "new_pipeline"):
    at.text_input(key=f"{key}_name").set_value(name)
    at.selectbox(key=f"{key}_target").set_value("customer_spend")
    at.multiselect(key=f"{key}_inputs").set_value(["transactions"])
    at.text_area(key=f"{key}_sql").set_value(sql)
    return at


def test_the_form_explains_what_an_incremental_aggregate_needs(fs):
    at = ok(fill(ok(page("pipelines"))).run())
    assert at.selectbox(key="new_pipeline_mode").value == "full"  # a new pipeline starts in the safe mode
    assert not [w for w in at.warning if "aggregates" in w.value]
    at.selectbox(key="new_pipeline_mode").set_value("incremental")
    ok(at.run())
    [hint] = [w for w in at.warning if "aggregates" in w.value]
    assert "(count(*), max(), GROUP BY)" in hint.value and "Look-back" in hint.value and "Full" in hint.value
    at = button(at, "Create").click().run()
    assert any("no lookback" in e.value for e in at.error)  # the store refuses it too, saying why
    assert "spend_counts" not in {p["name"] for p in fs.list_pipelines()}
    at.text_input(key="new_pipeline_lookback").set_value("30d")
    ok(at.run())
    assert not [w for w in at.warning if "aggregates" in w.value]
    assert "Each run also reads the rows up to 30d before its window" in texts(at)
    ok(button(at, "Preview").click().run())
    rows = len(fs.query("SELECT 1 FROM transactions"))
    assert f"As the next incremental run would: read transactions: {rows:,} rows in the window [" in texts(at)


def test_create_clears_and_collapses_the_form(fs):
    at = ok(fill(ok(page("pipelines"))).run())
    ok(button(at, "Create").click().run())
    assert "spend_counts" in {p["name"] for p in fs.list_pipelines()}
    at = ok(at.run())  # the page it switched to
    assert not at.expander[0].proto.expanded
    names = [t for t in at.text_input if t.label == "Name" and not t.disabled]
    assert [t.value for t in names] == [""] and names[0].key != "new_pipeline_name"
    sql = [t for t in at.text_area if t.label == "SQL (DuckDB)"][0]
    assert "count(*) AS txn_count_7d" in sql.value and sql.value != AGGREGATE_SQL  # the template again
    inputs = [m for m in at.multiselect if m.label == "Input feature groups"][0]
    assert inputs.value == []


def test_a_backfill_shows_its_total_and_ends_yesterday(fs):
    at = ok(page("pipelines", pipeline=PIPELINE["name"]))
    first, last = at.date_input(key=f"bf_range_{PIPELINE['name']}").value
    assert (last - first).days == 6 and last == dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    end = fs.pipeline_runs(PIPELINE["name"])["window_end"].max()
    at.date_input(key=f"bf_range_{PIPELINE['name']}").set_value(((end - pd.Timedelta(days=3)).date(),
                                                                 (end + pd.Timedelta(days=1)).date()))
    at = ok(at.button(key=f"FormSubmitter:backfill_{PIPELINE['name']}-Backfill").click().run())
    runs = fs.pipeline_runs(PIPELINE["name"]).head(5)
    total = int(runs["rows_out"].sum())
    assert runs["rows_out"].iloc[0] == 0 and total > 0  # its last interval is empty
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows written (last backfill)"] == f"{total:,}" and "Rows written (last run)" not in metrics
    assert at.dataframe[0].value["rows written (last)"].tolist() == [total]
    assert "(1 of the intervals wrote none)" in at.toast[0].value


def test_after_a_retry_the_newest_run_is_shown_with_its_attempt(fs):
    fs.create_pipeline("broken", "customer_spend", sql="SELECT CAST(currency AS INTEGER) AS customer_id "
                                                        "FROM transactions", inputs=["transactions"])
    first = fs.run_pipeline("broken")
    at = page("pipelines", pipeline="broken")
    assert not at.exception
    assert f"run {first['id']}" in at.selectbox(key=f"pipeline_run_detail_{first['id']}").format_func(first["id"])
    assert "attempt 1" in texts(at)
    at = button(at, "Retry failed").click().run()
    assert not at.exception
    newest = fs.pipeline_runs("broken").iloc[0]
    assert newest["attempt"] == 2 and newest["rows_in"] == first["rows_in"] > 0
    detail = at.selectbox(key=f"pipeline_run_detail_{newest['id']}")
    assert detail.value == newest["id"] and "attempt 2" in texts(at)


def test_a_pipeline_reading_its_own_target_is_warned_about(fs):
    at = ok(fill(ok(page("pipelines")), sql="SELECT customer_id, event_time FROM customer_spend").run())
    at.multiselect(key="new_pipeline_inputs").set_value(["customer_spend"])
    ok(at.run())
    assert any("reads its own target **customer_spend**" in w.value for w in at.warning)
    at.selectbox(key="new_pipeline_when").set_value("on_change")
    ok(at.run())
    assert any("its own runs would start it again" in w.value for w in at.warning)
    at = button(at, "Create").click().run()
    assert any("trigger='on_change'" in e.value for e in at.error)
