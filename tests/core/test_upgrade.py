"""A store written by the previous release (``tests/fixtures/legacy_store.tar.gz``, made by
``make_legacy_store.py``) opens and upgrades in place: every answer it gave is given again, and
the new capabilities work on it."""
from __future__ import annotations

import pandas as pd
import pytest
from upgrade_support import legacy_store

from store import Feature, FeatureStore


@pytest.fixture
def legacy(tmp_path):
    fs = FeatureStore(legacy_store(tmp_path))
    yield fs
    fs.close()


def test_a_legacy_store_answers_as_before(legacy):
    fs = legacy
    assert fs.get_record("tx", 7) == {"tx_id": 7, "ts": "2026-03-01T00:00:00Z", "amount": 99.5, "n": 1, "channel": "app"}
    assert fs.get_record("tx", 8) is None
    history = fs.as_of("tx")
    assert len(history) == 399 and history.loc[history.tx_id == 10, "channel"].isna().all()
    assert (history.loc[history.tx_id == 250, "channel"] == "web").all()
    [dataset] = fs.datasets()
    rebuilt = fs.dataset(dataset["id"]).to_pandas()
    # As of 2026-02-15: the ingested versions (the put of 7 and the delete of 8 come later).
    assert rebuilt["tx_id"].tolist() == [1, 7, 250, 8] and rebuilt["amount"].tolist() == [1.25, 8.75, 312.5, 10.0]
    assert rebuilt["channel"].isna().tolist() == [True, True, False, True]


def test_a_legacy_store_gets_version_one_and_changes_on(legacy):
    fs = legacy
    [v1] = fs.definition_history("tx")
    assert v1["version"] == 1 and v1["features"] == ["tx_id", "ts", "amount", "n", "channel"]
    before = fs.dataset(fs.datasets()[0]["id"]).to_pandas()
    g = fs.change_features("tx", rename={"amount": "amount_eur"}, retype={"n": "Fractional"}, drop=["channel"])
    assert g.version == 2 and g.feature_names == ["tx_id", "ts", "amount_eur", "n"]
    assert fs.get_record("tx", 7) == {"tx_id": 7, "ts": "2026-03-01T00:00:00Z", "amount_eur": 99.5, "n": 1.0}
    now = fs.as_of("tx").set_index("tx_id")
    assert now.loc[250, "amount_eur"] == 312.5 and now.loc[250, "n"] == 250.0 and "channel" not in now
    fs.add_features("tx", [Feature("channel", "String")])  # a new feature, not the dropped one come back
    assert fs.as_of("tx")["channel"].isna().all()
    pd.testing.assert_frame_equal(fs.dataset(fs.datasets()[0]["id"]).to_pandas(), before)
    fs.compact("tx")
    pd.testing.assert_frame_equal(fs.dataset(fs.datasets()[0]["id"]).to_pandas(), before)
    assert fs.as_of("tx").set_index("tx_id").loc[250, "amount_eur"] == 312.5
