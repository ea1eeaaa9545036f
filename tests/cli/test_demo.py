"""Demo seeding end to end: the sample CSVs become groups, history, deletes, a dataset and a model."""
from __future__ import annotations

import os
import time
from datetime import timedelta

import pandas as pd
import pytest

from store import FeatureStore
from store.demo import (DATA_DIR, DATASET_FEATURES, DATASET_NAME, MODEL_NAME, ON_DEMAND, SERVICE_NAME, is_empty,
                        samples_dir, seed, seed_if_empty)

GROUPS = ["customers", "merchants", "transactions", "customer_spend"]
SEEDED: list[str] = []  # the seeded store's samples folder, once the fixture made it


def read(name: str) -> pd.DataFrame:
    """A sample file as the store was seeded with it (its timeline moved to now)."""
    return pd.read_csv(os.path.join(SEEDED[0], f"{name}.csv"))


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """One seeded store for the module: seeding takes seconds, and every test only reads."""
    fs = FeatureStore(tmp_path_factory.mktemp("demo") / "store")
    summary = seed(fs)
    SEEDED[:] = [samples_dir(fs)]
    yield fs, summary
    fs.close()


def test_groups_are_documented(seeded):
    fs, summary = seeded
    assert summary["groups"] == GROUPS
    assert sorted(g.name for g in fs.list_feature_groups()) == sorted(GROUPS)
    for name in GROUPS:
        group = fs.feature_group(name)
        assert group.description
        assert {"team", "domain", "pii"} <= set(group.tags)
        assert all(f.description for f in group.features)
    assert fs.feature_group("customer_spend").ttl_seconds == timedelta(days=30).total_seconds()
    assert fs.feature_group("transactions").feature("amount").parameters["unit"] == "USD"


def test_record_counts_match_the_csvs(seeded):
    fs, summary = seeded
    closed = set(read("deletes")["customer_id"])
    for name in GROUPS:
        frame, group = read(name), fs.feature_group(name)
        refused = frame["amount"] > 50_000 if name == "transactions" else pd.Series(False, index=frame.index)
        assert summary["rows_quarantined"][name] == refused.sum()
        frame = frame[~refused]
        latest = frame.groupby(group.record_identifier)["event_time"].max()
        if name == "customers":
            latest = latest.drop(index=list(closed))
        if group.ttl_seconds:
            expires = pd.to_datetime(latest, utc=True) + pd.Timedelta(seconds=group.ttl_seconds)
            latest = latest[expires > pd.Timestamp(time.time(), unit="s", tz="UTC")]
        described = fs.describe(name)
        assert summary["rows_ingested"][name] == len(frame)
        extra = {"customers": len(closed), "merchants": len(read("merchant_corrections"))}.get(name, 0)
        assert described["offline_rows"] == len(frame) + extra
        assert described["online_records"] == len(latest)


def test_dataset_has_one_row_per_label_in_order_and_is_point_in_time(seeded):
    fs, summary = seeded
    labels = read("labels")
    node = next(n for n in fs.lineage().nodes if n["id"] == f"dataset:{summary['dataset_id']}")
    definition = node["properties"]["definition"]
    assert node["name"] == DATASET_NAME and definition["rows"] == summary["dataset_rows"] == len(labels)

    rebuilt = fs.build_dataset(os.path.join(SEEDED[0], "labels.csv"), definition["features"],
                               definition["event_time_column"], definition["keys"], record=False).to_pandas()
    assert rebuilt["transaction_id"].tolist() == labels["transaction_id"].tolist()
    assert rebuilt["is_fraud"].tolist() == labels["is_fraud"].tolist()

    profiles = read("customers").assign(t=lambda d: pd.to_datetime(d["event_time"]))
    entities = labels.assign(t=pd.to_datetime(labels["event_time"]), row=range(len(labels)))
    expected = pd.merge_asof(entities.sort_values("t"), profiles[["customer_id", "t", "risk_segment"]].sort_values("t"),
                             on="t", by="customer_id").sort_values("row")
    assert rebuilt["risk_segment"].tolist() == expected["risk_segment"].tolist()


def test_lineage_links_files_groups_dataset_and_model(seeded):
    fs, summary = seeded
    graph = fs.lineage()
    files = {n["id"]: n["properties"].get("file") for n in graph.nodes if n["kind"] == "source"}
    edges = {(e["src"], e["relation"], e["dst"]) for e in graph.edges}
    for name in ("customers", "merchants"):
        assert any(files.get(src) == f"{name}.csv" and rel == "ingested_into" and dst == f"feature_group:{name}"
                   for src, rel, dst in edges)
    monthly = {files.get(src) for src, rel, dst in edges if dst == "feature_group:transactions"}
    assert len(monthly - {None}) >= 3 and all(f.startswith("transactions-") for f in monthly - {None})
    assert ("feature_group:transactions", "read_by", "pipeline:customer_spend_daily") in edges
    assert ("pipeline:customer_spend_daily", "ingested_into", "feature_group:customer_spend") in edges
    assert (f"dataset:{summary['dataset_id']}", "trained", f"model:{MODEL_NAME}") in edges
    assert ("feature:customers.risk_segment", "used_by", f"dataset:{summary['dataset_id']}") in edges


def test_the_model_is_trained_on_a_dataset_built_from_the_fraud_service(seeded):
    fs, summary = seeded
    service = fs.feature_service(SERVICE_NAME)
    assert summary["service"] == SERVICE_NAME and service.refs == DATASET_FEATURES
    assert service.groups == ["customers", "merchants", "customer_spend"] and service.owner == "risk-ml"
    assert service.on_demand == ((ON_DEMAND.name, 1),) and summary["on_demand"] == ON_DEMAND.name
    dataset = fs.dataset(summary["dataset_id"])
    assert dataset.definition["service"] == {"name": SERVICE_NAME, "version": 1,
                                             "on_demand": [f"on_demand:{ON_DEMAND.name}@1"]}
    edges = {(e["src"], e["relation"], e["dst"]) for e in fs.lineage().edges}
    assert (f"feature_service:{SERVICE_NAME}", "used_by", f"dataset:{summary['dataset_id']}") in edges
    assert ("feature:customer_spend.spend_7d", "served_by", f"feature_service:{SERVICE_NAME}") in edges
    # groups -> on-demand -> service -> dataset -> model
    assert ("feature:customer_spend.avg_amount_30d", "computes", f"on_demand:{ON_DEMAND.name}") in edges
    assert (f"on_demand:{ON_DEMAND.name}", "served_by", f"feature_service:{SERVICE_NAME}") in edges

    # The training set computed the amount against the 30-day mean from the labels' amounts.
    table = dataset.to_pandas()
    assert table["amount"].tolist() == read("labels")["amount"].tolist()
    known = table.dropna(subset=["avg_amount_30d"])
    assert len(known) > len(table) // 2
    assert (known["amount_vs_avg_30d"] - known["amount"] / known["avg_amount_30d"]).abs().max() < 1e-9
    assert ((known["amount"] > 3 * known["avg_amount_30d"]).astype(int) == known["amount_over_3x_avg"]).all()
    assert table.loc[table["avg_amount_30d"].isna(), "amount_vs_avg_30d"].isna().all()

    labels = read("labels").tail(3)  # the latest labels: served online as the training set has them
    vector = fs.get_online_features(SERVICE_NAME, labels[["customer_id", "merchant_id", "amount"]].to_dict("records"))
    assert vector["customer_id"].tolist() == labels["customer_id"].tolist()
    assert {"risk_segment", "customers__country", "merchants__country", "spend_7d__status"} <= set(vector.columns)
    expected = labels["amount"].to_numpy() / vector["avg_amount_30d"].to_numpy()
    assert vector["amount_vs_avg_30d"].tolist() == pytest.approx(expected.tolist(), nan_ok=True)


def test_closed_customers_are_gone_online_but_keep_their_history(seeded):
    fs, _ = seeded
    closures = read("deletes")
    closed = set(closures["customer_id"])
    assert all(fs.get_record("customers", c) is None for c in closed)
    assert not closed & set(fs.as_of("customers")["customer_id"])
    before = pd.Timestamp(closures["event_time"].min()) - pd.Timedelta(seconds=1)
    assert closed <= set(fs.as_of("customers", before)["customer_id"])
    history = fs.history("customers", closures["customer_id"].iloc[0])
    assert history["is_deleted"].iloc[-1] and not history["is_deleted"].iloc[:-1].any()


def test_seed_if_empty_only_seeds_empty_stores(seeded, tmp_path):
    fs, _ = seeded
    assert not is_empty(fs) and seed_if_empty(fs) is False
    with FeatureStore(tmp_path / "fresh") as fresh:
        assert is_empty(fresh)


def test_the_timeline_is_moved_to_end_just_before_now_keeping_its_shape(seeded):
    fs, summary = seeded
    for name in ("customers", "transactions", "labels", "customer_spend"):
        original = pd.to_datetime(pd.read_csv(os.path.join(DATA_DIR, f"{name}.csv"))["event_time"])
        moved = pd.to_datetime(read(name)["event_time"])
        assert ((moved - original) == pd.Timedelta(days=summary["timeline_shift_days"])).all(), name
    last = pd.to_datetime(read("customer_spend")["event_time"]).max()
    assert pd.Timedelta(hours=1) <= pd.Timestamp.now(tz="UTC") - last <= pd.Timedelta(days=1, hours=1)
    assert last.hour == 23  # the daily 23:00 UTC runs stay at 23:00
    assert fs.describe("customer_spend")["online_records"] > 400  # the 30-day TTL has not expired them


def test_seeding_years_ahead_still_looks_alive(tmp_path, monkeypatch):
    ahead = 5 * 365 * 86400
    real_ns, real = time.time_ns, time.time
    monkeypatch.setattr(time, "time_ns", lambda: real_ns() + ahead * 10**9)
    monkeypatch.setattr(time, "time", lambda: real() + ahead)
    with FeatureStore(tmp_path / "store") as fs:
        summary = seed(fs)
        assert summary["timeline_shift_days"] > 5 * 365
        assert fs.describe("customer_spend")["online_records"] > 400
        # The latest event of all the samples (a spend run) lands 1 to 25 hours before the seed.
        last = max(fs.describe(g)["last_event_us"] for g in ("transactions", "customer_spend", "customers"))
        assert 3_600_000_000 <= time.time_ns() // 1000 - last < 86_400_000_000 + 3_600_000_000 + 600_000_000


def test_first_start_shows_the_quarantine_and_the_drifted_day(seeded):
    """The sample's last day has mobile-app amounts in cents: the rules refuse the ones past the
    card limit (kept in the quarantine with their lines), the monitors alert on the rest."""
    fs, _ = seeded
    frame = read("transactions")
    refused = frame[frame["amount"] > 50_000]
    kept = fs.quarantine("transactions")
    assert sorted(r["transaction_id"] for r in kept["record"]) == sorted(refused["transaction_id"])
    [source] = set(kept["source"])  # the last monthly export, as the store seeded it
    assert set(kept["rules"]) == {"amount_between"} and source.startswith("transactions-")
    part = pd.read_csv(os.path.join(fs.path, "samples", source))
    lines = part.index[part["transaction_id"].isin(refused["transaction_id"])]
    assert sorted(kept["position"]) == sorted(f"line {i + 2}" for i in lines)
    alerts = fs.check_monitors()
    assert {(a["group"], a["feature"]) for a in alerts if a["status"] == "alert"} >= {
        ("transactions", "amount"), ("customer_spend", "spend_7d")}
    assert not [a for a in alerts if a["group"] == "transactions" and a["feature"] in ("currency", "channel")]
    assert {fs.freshness(g)["status"] for g in ("transactions", "customer_spend", "customers")} == {"ok"}
    assert fs.freshness("merchants")["status"] == "unknown"
    timeline = fs.drift_timeline("transactions")
    last = timeline[timeline["window_end"] == timeline["window_end"].max()].set_index("feature")
    assert last.loc["amount", "status"] == "alert"
    earlier = timeline[timeline["window_end"] < timeline["window_end"].max() - pd.Timedelta(days=1)]
    assert not (earlier["status"] == "alert").any()  # the days before the bug look like each other
