"""A pipeline whose target group is keyed by several columns: its output is written per whole
key, and an output without one of the key's columns is refused naming it."""
from __future__ import annotations

import pandas as pd
import pytest

from store import Feature

pytestmark = pytest.mark.registry  # every test on `fs` runs with the store's tables in SQLite and in PostgreSQL

TX = [Feature("tid", "String"), Feature("cid", "Integral"), Feature("shop", "String"), Feature("amount", "Fractional"),
      Feature("ts", "String")]
SPEND = [Feature("cid", "Integral"), Feature("shop", "String"), Feature("n", "Integral"),
         Feature("total", "Fractional"), Feature("ts", "String")]
SPEND_SQL = """
SELECT cid, shop, count(*) AS n, sum(amount) AS total, max(ts) AS ts
FROM tx WHERE NOT is_deleted GROUP BY cid, shop
"""


@pytest.fixture
def shop(fs):
    fs.create_feature_group("tx", "tid", "ts", TX)
    fs.create_feature_group("spend", ["cid", "shop"], "ts", SPEND)
    fs.ingest("tx", pd.DataFrame({
        "tid": ["T1", "T2", "T3", "T4", "T5"], "cid": [1, 1, 1, 2, 2], "shop": ["north", "north", "south", "north", "south"],
        "amount": [10.0, 5.0, 7.5, 1.0, 2.0],
        "ts": ["2026-10-01T10:00:00Z", "2026-10-01T11:00:00Z", "2026-10-01T12:00:00Z", "2026-10-02T09:00:00Z",
               "2026-10-02T10:00:00Z"]}))
    return fs


def test_the_output_lands_per_whole_key(shop):
    fs = shop
    fs.create_pipeline("spend_by_shop", "spend", sql=SPEND_SQL, inputs=["tx"], mode="full")
    run = fs.run_pipeline("spend_by_shop")
    assert run["status"] == "succeeded", run["error"]
    assert run["rows_out"] == 4
    assert fs.get_record("spend", (1, "north")) == {"cid": 1, "shop": "north", "n": 2, "total": 15.0,
                                                   "ts": "2026-10-01T11:00:00Z"}
    assert fs.get_record("spend", {"cid": 1, "shop": "south"})["total"] == 7.5
    assert sorted(fs.list_record_ids("spend")) == [(1, "north"), (1, "south"), (2, "north"), (2, "south")]


def test_an_output_without_a_key_column_is_refused_naming_it(shop):
    fs = shop
    fs.create_pipeline("no_shop", "spend", sql="SELECT cid, count(*) AS n, max(ts) AS ts FROM tx GROUP BY cid",
                       inputs=["tx"], mode="full")
    run = fs.run_pipeline("no_shop")
    assert run["status"] == "failed"
    assert "no 'shop' column, which 'spend' needs as its record identifier" in run["error"]
