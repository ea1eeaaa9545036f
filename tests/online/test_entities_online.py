"""Looking one entity up across its groups on every online backend (SQLite, Redis, PostgreSQL):
each group read with its batch read, expired and deleted records absent, identifiers of each
group's own type."""
from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from store import Feature

pytestmark = [pytest.mark.online]


def test_entity_record_on_every_backend(fs):
    fs.create_entity("merchant", keys=[Feature("merchant_id", "String")])
    fs.create_feature_group("merchants", "merchant_id", "ts", [Feature("merchant_id"), Feature("ts"),
                                                               Feature("risk", "Fractional")], entity="merchant")
    fs.create_feature_group("payouts", "mid", "ts", [Feature("mid"), Feature("ts"), Feature("paid", "Fractional"),
                                                     Feature("tags", collection="List")],
                            entity="merchant", ttl=timedelta(days=3650))
    days = pd.date_range("2026-10-01", periods=40, freq="D", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    fs.ingest("merchants", pd.DataFrame({"merchant_id": [f"M{i % 120:04d}" for i in range(2400)],
                                         "ts": [days[i % 40] for i in range(2400)],
                                         "risk": [i / 2400 for i in range(2400)]}))
    fs.ingest("payouts", pd.DataFrame({"mid": [f"M{i % 60:04d}" for i in range(600)],
                                       "ts": [days[i % 40] for i in range(600)],
                                       "paid": [float(i) for i in range(600)],
                                       "tags": [["weekly", "eur"] for _ in range(600)]}))
    fs.delete_record("payouts", "M0007", "2026-12-01T00:00:00Z")
    answer = {g["group"]: g for g in fs.entity_record("merchant", "M0042")["groups"]}
    risk = fs.get_record("merchants", "M0042")["risk"]
    assert answer["merchants"]["features"] == {"risk": risk} and answer["merchants"]["status"] == "found"
    assert answer["payouts"]["features"] == fs.get_record("payouts", "M0042", ["paid", "tags"])
    assert answer["payouts"]["features"]["tags"] == ["weekly", "eur"]
    assert answer["payouts"]["identifier"] == {"mid": "M0042"}
    gone = {g["group"]: g["status"] for g in fs.entity_record("merchant", {"merchant_id": "M0007"})["groups"]}
    assert gone == {"merchants": "found", "payouts": "not found"}  # soft-deleted: absent like a missing one
    unknown = {g["group"]: g["status"] for g in fs.entity_record("merchant", "M9999")["groups"]}
    assert unknown == {"merchants": "not found", "payouts": "not found"}
