"""The SQL page after the walk's F8, F18 and F30: a result over the display cap is downloadable
whole (streamed by the store's ``query_csv``) and says so without telling to aggregate an
aggregate; refusals name what the statement would really do; a stopped query says so."""
from __future__ import annotations

import io

import pandas as pd
import pytest
from studio_support import button, fs, ok, page, seeded_template, studio_store, texts  # noqa: F401

from store import ValidationError

BIG = "SELECT i AS user_id, i % 7 AS clicks_n FROM range(20000) t(i)"  # 20,000 rows, as an aggregate per user


def test_a_result_over_the_cap_downloads_whole_and_says_so(fs):
    at = page("sql")
    at.text_area(key="sql_text").set_value(BIG)
    ok(button(at, "Run").click().run())
    caption = texts(at)
    assert "10,000+ rows × 2 columns" in caption and "the first 10,000 are shown; the download has every row" \
        in caption and "aggregate" not in caption
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Download all rows (CSV)"]
    at.text_area(key="sql_text").set_value("SELECT 42 AS answer")
    ok(button(at, "Run").click().run())
    assert [b.proto.label for b in at.get("download_button")] == ["Download CSV"]  # all rows are on the page


def test_query_csv_streams_the_whole_result(fs):
    out = io.BytesIO()
    assert fs.query_csv(BIG + " ORDER BY i", out) == 20_000
    frame = pd.read_csv(io.BytesIO(out.getvalue()))
    assert len(frame) == 20_000 and frame["user_id"].tolist() == list(range(20_000))
    spend = pd.read_csv(io.BytesIO(_csv(fs, "SELECT customer_id FROM customer_spend ORDER BY 1")))
    assert spend["customer_id"].tolist() == fs.query("SELECT customer_id FROM customer_spend ORDER BY 1")[
        "customer_id"].tolist()
    with pytest.raises(ValidationError, match="a DROP statement would change the store"):
        fs.query_csv("DROP TABLE customers", io.BytesIO())


def _csv(fs, sql: str) -> bytes:
    out = io.BytesIO()
    fs.query_csv(sql, out)
    return out.getvalue()


@pytest.mark.parametrize("sql, words", [
    ("INSTALL httpfs", "an INSTALL statement would download and install a DuckDB extension"),
    ("LOAD httpfs", "a LOAD statement would load a DuckDB extension"),
    ("PRAGMA database_list", "a PRAGMA statement reads or sets DuckDB's own settings and catalog"),
    ("SET threads = 1", "a SET, RESET or USE statement would change the query engine's settings"),
    ("ATTACH 'other.db'", "an ATTACH statement would open another database"),
    ("COPY customers TO 'x.csv'", "a COPY statement reads or writes files"),
    ("CALL pragma_version()", "a CALL or CHECKPOINT statement runs one of DuckDB's procedures"),
    ("DELETE FROM customers", "a DELETE statement would change the store"),
])
def test_refusals_say_what_the_statement_would_do(fs, sql, words):
    with pytest.raises(ValidationError) as err:
        fs.query(sql)
    assert words in str(err.value) and "so it was refused" in str(err.value)
    if not sql.startswith(("DELETE", "COPY")):
        assert "would change the store" not in str(err.value)


def test_after_the_stop_button_the_page_says_the_query_stopped(fs):
    """A rerun during a query (what the page's Stop the query button causes) leaves the query's
    entry behind; the next run says how long it ran and that nothing came back."""
    at = page("sql")
    at.session_state["sql_running"] = {"sql": "SELECT 1", "started": 1000.0, "stopped": 1008.4}
    ok(at.run())
    assert "Stopped after 8 s; nothing returned." in texts(at)
    ok(at.run())
    assert "Stopped after" not in texts(at)  # said once

