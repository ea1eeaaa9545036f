"""Time travel and SQL pages: as-of records, the diff against now, the SQL shown, read-only queries."""
from __future__ import annotations

import os
from datetime import datetime, timedelta

import pandas as pd

import pytest
from studio_support import button, fs, ok, page, seeded_template, studio_store, texts  # noqa: F401

from store import Feature
from store.retrieval import browse as explore
from store.demo import samples_dir



def test_time_travel_shows_then_the_changes_and_the_sql(fs):
    at = page("time_travel", group="customers")
    assert "press **Travel**" in texts(at)
    then = (pd.Timestamp(fs.describe("customers")["last_event_us"], unit="us") - pd.Timedelta(days=60)).floor("D")
    at.datetime_input[0].set_value(then.to_pydatetime())
    ok(button(at, "Travel").click().run())
    iso = then.strftime("%Y-%m-%dT%H:%M:%SZ")
    expected = explore.time_travel(fs._ctx, "customers", iso, ignore_event_time=True)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Records then": f"{expected.total:,}", "Added since": f"{expected.counts['added']:,}",
                       "Changed since": f"{expected.counts['changed']:,}", "Deleted since": f"{expected.counts['deleted']:,}"}
    assert at.dataframe[0].value["customer_id"].tolist() == expected.records["customer_id"].tolist()
    assert set(at.dataframe[1].value["change"]) == {"added", "changed", "deleted"}
    assert at.code[0].value == expected.sql and iso in at.code[0].value

    ok(button(at, "Open in the SQL page").click().run())
    assert at.title[0].value == "SQL" and at.text_area(key="sql_text").value == expected.sql
    at.switch_page("app_pages/sql.py")  # AppTest reruns the page it was told, not one the script switched to
    ok(button(at, "Run").click().run())
    assert f"{expected.total:,} rows × 8 columns" in texts(at)


def test_known_at_reproduces_what_the_store_knew(fs):
    at = page("time_travel", group="merchants")
    known = datetime(2000, 1, 1)  # before anything was written
    next(s for s in at.selectbox if s.label == "Known at").set_value("a moment I pick…")
    next(d for d in at.datetime_input if d.label.startswith("Known at")).set_value(known)
    ok(button(at, "Travel").click().run())
    assert {m.label: m.value for m in at.metric}["Records then"] == "0" and "write_time <=" in at.code[0].value


def test_known_at_a_write_shows_what_the_corrections_changed(fs):
    """The demo writes merchant-score corrections after the first load: known at the first load,
    the scores differ from today's for exactly the corrected merchants."""
    at = page("time_travel", group="merchants")
    at.datetime_input[0].set_value(datetime.now() + timedelta(days=1))
    first_load = next(o for o in at.selectbox[1].options if o.endswith("— 90 rows"))
    at.selectbox[1].set_value(first_load)
    ok(button(at, "Travel").click().run())
    corrections = pd.read_csv(os.path.join(samples_dir(fs), "merchant_corrections.csv"))
    latest = fs.as_of("merchants").set_index("merchant_id")["risk_score"]
    restated = {m for m, s in zip(corrections["merchant_id"], corrections["risk_score"]) if latest[m] == s}
    diff = at.dataframe[1].value
    assert set(diff["merchant_id"]) == restated and set(diff["change"]) == {"changed"}
    assert set(diff["changed"]) == {"risk_score"}


def test_time_travel_explains_groups_it_cannot_read(fs):
    fs.create_feature_group("live_only", "id", "ts", [Feature("id", "Integral"), Feature("ts", "String")],
                            offline=False)
    fs.create_feature_group("blank", "id", "ts", [Feature("id", "Integral"), Feature("ts", "String")])
    at = ok(page("time_travel", group="blank"))
    assert "live_only" not in at.selectbox(key="group_picker").options and "no rows yet" in texts(at)


def test_sql_runs_a_query_and_offers_a_download(studio_store):
    at = ok(page("sql"))
    assert "FROM customer_spend" in at.text_area(key="sql_text").value
    at.text_area(key="sql_text").set_value("SELECT country, count(*) AS n FROM customers GROUP BY 1 ORDER BY 2 DESC")
    ok(button(at, "Run").click().run())
    result = at.dataframe[0].value
    assert result["n"].sum() == 1517 and at.get("download_button")
    assert "rows × 2 columns" in texts(at)


@pytest.mark.parametrize("sql,message", [
    ("CREATE TABLE x AS SELECT 1", "Only read-only queries are allowed"),
    ("COPY customers TO '/tmp/out.csv'", "Only read-only queries are allowed"),
    ("ATTACH '/tmp/other.db'", "Only read-only queries are allowed"),
    ("SELECT * FROM read_csv('/etc/passwd')", "Refused"),
    ("SELEC 1", "SQL"),
])
def test_sql_refusals_are_shown_as_messages(studio_store, sql, message):
    at = page("sql")
    at.text_area(key="sql_text").set_value(sql)
    button(at, "Run").click().run()
    assert not at.exception and message in at.error[0].value and not at.dataframe
