"""Data model v2 in a real Chromium on realistic data: an entity keyed by two columns (merchant_id,
terminal_id) over three groups holding 100,000 records between them, one of which names its key
columns its own way. The entity view looks one terminal up across all three groups; a feature
renamed and another widened on the Schema tab show up in the Overview's definition history with
their diffs, and in the same lookup under the new names."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from e2e_support import browser, seed, choose, expect, page, pytestmark, settle, shot, studio, studio_server  # noqa: F401

from store import Feature, FeatureStore

MERCHANTS, TERMINALS = 500, 20  # 10,000 terminals
START = pd.Timestamp("2026-10-01", tz="UTC")


def _events(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    merchants = rng.integers(0, MERCHANTS, n)
    terminals = rng.integers(1, TERMINALS + 1, n)
    seconds = rng.integers(0, 60 * 86_400, n)  # two months of events
    times = (START + pd.to_timedelta(seconds, unit="s")).strftime("%Y-%m-%dT%H:%M:%SZ").tolist()
    return np.array([f"M{m:04d}" for m in merchants]), terminals, times


@pytest.fixture(scope="module")
def terminals(studio_server, browser):
    seed(browser, studio_server)  # the first load seeds the store
    rng = np.random.default_rng(22)
    with FeatureStore(studio_server.store) as fs:
        fs.create_entity("terminal", keys=[Feature("merchant_id", "String"), Feature("terminal_id", "Integral")],
                         description="A card terminal of a merchant")
        fs.create_feature_group(
            "terminal_activity", ["merchant_id", "terminal_id"], "ts",
            [Feature("merchant_id", "String"), Feature("terminal_id", "Integral"), Feature("ts", "String"),
             Feature("tx_count_1d", "Integral"), Feature("declines_1d", "Integral"), Feature("amount_1d", "Fractional")],
            entity="terminal", description="Daily terminal activity")
        merchant, terminal, ts = _events(rng, 60_000)
        fs.ingest("terminal_activity", pd.DataFrame({
            "merchant_id": merchant, "terminal_id": terminal, "ts": ts, "tx_count_1d": rng.integers(0, 400, 60_000),
            "declines_1d": rng.integers(0, 20, 60_000), "amount_1d": rng.gamma(2.0, 900.0, 60_000).round(2)}))
        fs.create_feature_group(
            "terminal_config", ["mid", "tid"], "updated_at",
            [Feature("mid", "String"), Feature("tid", "Integral"), Feature("updated_at", "String"),
             Feature("model", "String"), Feature("contactless", "Integral"), Feature("firmware", "Integral")],
            entity="terminal", entity_keys={"mid": "merchant_id", "tid": "terminal_id"},
            description="Terminal hardware and settings, named as the acquirer's system names them")
        merchant, terminal, ts = _events(rng, 20_000)
        fs.ingest("terminal_config", pd.DataFrame({
            "mid": merchant, "tid": terminal, "updated_at": ts,
            "model": rng.choice(["Ingenico Move/5000", "Verifone V200c", "PAX A920 Pro", "SumUp Solo"], 20_000),
            "contactless": rng.integers(0, 2, 20_000), "firmware": rng.integers(300, 420, 20_000)}))
        fs.create_feature_group(
            "terminal_risk", ["merchant_id", "terminal_id"], "scored_at",
            [Feature("merchant_id", "String"), Feature("terminal_id", "Integral"), Feature("scored_at", "String"),
             Feature("score", "Integral"), Feature("band", "String")],
            entity="terminal", description="The fraud team's terminal risk score")
        merchant, terminal, ts = _events(rng, 20_000)
        scores = rng.integers(0, 1000, 20_000)
        fs.ingest("terminal_risk", pd.DataFrame({
            "merchant_id": merchant, "terminal_id": terminal, "scored_at": ts, "score": scores,
            "band": np.where(scores > 800, "high", np.where(scores > 400, "medium", "low"))}))
        assert sum(fs.describe(g)["offline_rows"] for g in ("terminal_activity", "terminal_config", "terminal_risk")) \
            == 100_000
        known = fs.as_of("terminal_risk").merge(fs.as_of("terminal_config"), left_on=["merchant_id", "terminal_id"],
                                                right_on=["mid", "tid"])
        known = known.merge(fs.as_of("terminal_activity"), on=["merchant_id", "terminal_id"])
        probe = known.iloc[0]
    return studio_server, (str(probe["merchant_id"]), int(probe["terminal_id"]))


def test_one_terminal_across_its_three_groups_then_a_renamed_and_widened_feature(page, terminals):
    studio_server, (merchant, terminal) = terminals
    with FeatureStore(studio_server.store) as fs:
        risk = fs.get_record("terminal_risk", (merchant, terminal))
        config = fs.get_record("terminal_config", (merchant, terminal))

    page.goto("/entities?entity=terminal")
    settle(page, "Entity terminal")
    for group in ("terminal_activity", "terminal_config", "terminal_risk"):
        expect(page.get_by_role("link", name=re.compile(f"^{group} ")).first).to_be_visible()
    page.get_by_role("textbox", name="merchant_id").fill(merchant)
    page.get_by_role("textbox", name="terminal_id").fill(str(terminal))
    page.get_by_role("button", name="Look up").click()
    settle(page, "Everything we know about terminal")
    expect(page.get_by_text("found in", exact=False)).to_contain_text("found in 3 of 3 groups")
    cells = page.locator("td[role=gridcell]")
    expect(cells.filter(has_text=re.compile(f"^{re.escape(config['model'])}$")).first).to_be_attached()
    expect(cells.filter(has_text=re.compile(f"^{risk['band']}$")).first).to_be_attached()
    page.wait_for_timeout(1000)
    shot(page, "data_model_entity_lookup", full_page=True)
    lookup = page.url

    # The risk team renames score and widens it to Fractional, on the Schema tab.
    page.goto("/group?group=terminal_risk&tab=Schema")
    settle(page, "Validation rules")
    page.get_by_text("Drop, rename or widen features").click()
    settle(page)
    choose(page, page.get_by_role("combobox", name="Rename"), "score")
    page.get_by_role("textbox", name="New name").fill("risk_score")
    page.get_by_role("button", name="Rename feature").click()
    settle(page, "Renamed score to risk_score: now definition v2")  # the expander stays open
    choose(page, page.get_by_role("combobox", name="Widen"), "risk_score (Integral)")
    choose(page, page.get_by_role("combobox", name="To type"), "Fractional")
    page.get_by_role("button", name="Widen feature").click()
    settle(page, "risk_score is now Fractional")
    shot(page, "data_model_schema_changed", full_page=True)

    page.get_by_role("tab", name="Overview").click()
    settle(page, "Definition history")
    history = page.get_by_test_id("stDataFrame").filter(has_text="changes")
    expect(history.locator("td[role=gridcell]").filter(has_text="renamed score -> risk_score").first).to_be_attached()
    expect(history.locator("td[role=gridcell]").filter(has_text="risk_score Integral -> Fractional").first) \
        .to_be_attached()
    page.wait_for_timeout(1000)
    shot(page, "data_model_definition_history", full_page=True)

    page.goto(lookup)  # the same link: the renamed feature answers under its new name, widened
    settle(page, "Everything we know about terminal")
    cells = page.locator("td[role=gridcell]")
    expect(cells.filter(has_text=re.compile("^risk_score$")).first).to_be_attached()
    with FeatureStore(studio_server.store) as fs:
        assert fs.get_record("terminal_risk", (merchant, terminal))["risk_score"] == float(risk["score"])
    shot(page, "data_model_lookup_after_change", full_page=True)
