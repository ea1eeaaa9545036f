"""Seed a store with the fraud / e-commerce sample data (``sample_data/``), so a fresh studio or
tutorial has real groups, history, deletes, a feature service, a point-in-time training set built
from it and a model to show.

Files are ingested by path so lineage records each CSV as a source; the generator lives in
``sample_data/generate.py``.

Studio-facing: a fresh studio seeds its own store with ``seed_if_empty``; the dataset builder offers
the sample entity files.
"""
from __future__ import annotations

import csv
import os
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .errors import Conflict
from .model.on_demand import OnDemandFeature
from .model.schema import Feature
from .common.timeutil import now_us

if TYPE_CHECKING:  # keeps ``import store.demo`` as light as the CLI needs
    from .featurestore import FeatureStore

DATA_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sample_data"))
DATASET_NAME = "fraud_training_v1"
MODEL_NAME = "fraud_model_v1"
SERVICE_NAME = "fraud_detection"
EVENT_TIME = Feature("event_time", "String", description="When this version took effect (ISO-8601 UTC).")


@dataclass(frozen=True)
class GroupSpec:
    """One sample feature group; ``<name>.csv`` in the data dir fills it."""

    name: str
    record_identifier: str
    description: str
    tags: dict[str, str]
    features: list[Feature]
    ttl: timedelta | None = None
    entity: str | None = None  # what its rows are about (see ENTITIES)


# What the sample rows are about: the dataset builder and entity lookups key groups by these.
ENTITIES = [
    ("customer", [Feature("customer_id", "Integral", description="Customer account number.")],
     "A card holder: the person paying, with a CRM profile and spending history.", {"domain": "payments"}),
    ("merchant", [Feature("merchant_id", "String", description="Merchant identifier, e.g. M0042.")],
     "A business accepting card payments through the acquirer.", {"domain": "payments"}),
]


def _f(name: str, type_: str, description: str, **parameters: str) -> Feature:
    return Feature(name, type_, description=description, parameters=parameters)


GROUPS = [
    GroupSpec(
        "customers", "customer_id",
        "Customer profiles from the CRM: demographics, credit limit, account status and KYC risk tier. "
        "A new version per profile change; closed accounts are soft-deleted.",
        {"team": "risk", "domain": "payments", "pii": "true", "source": "crm"},
        [_f("customer_id", "Integral", "Customer account number.", source="crm"),
         _f("age", "Integral", "Age at the time of the profile version.", unit="years", source="crm"),
         _f("country", "String", "Country of residence, ISO 3166-1 alpha-2.", source="crm"),
         _f("signup_channel", "String", "Where the account was opened: web, mobile_app, referral, partner, in_store.",
            source="crm"),
         _f("credit_limit", "Fractional", "Current credit limit.", unit="USD", source="credit-decisioning"),
         _f("account_status", "String", "active, review (under investigation) or suspended.", source="crm"),
         _f("risk_segment", "String", "KYC risk tier: low, medium or high.", source="kyc-scoring"),
         EVENT_TIME],
        entity="customer",
    ),
    GroupSpec(
        "merchants", "merchant_id",
        "Merchants we acquire for: category, country and the acquiring team's risk score, re-scored now and then.",
        {"team": "merchant-ops", "domain": "payments", "pii": "false", "source": "acquiring"},
        [_f("merchant_id", "String", "Merchant identifier, e.g. M0042.", source="acquiring"),
         _f("name", "String", "Trading name.", source="acquiring"),
         _f("category", "String", "Merchant category, e.g. grocery, travel, digital_goods.", source="acquiring"),
         _f("country", "String", "Country of the merchant, ISO 3166-1 alpha-2.", source="acquiring"),
         _f("risk_score", "Fractional", "Acquirer risk score; higher is riskier.", unit="score 0-1",
            source="merchant-risk-model"),
         EVENT_TIME],
        entity="merchant",
    ),
    GroupSpec(
        "transactions", "transaction_id",
        "Card transactions from the payments ledger, one row per authorisation.",
        {"team": "payments-platform", "domain": "payments", "pii": "false", "source": "ledger"},
        [_f("transaction_id", "String", "Ledger transaction id, e.g. T0000042.", source="ledger"),
         _f("customer_id", "Integral", "Paying customer (customers.customer_id).", source="ledger"),
         _f("merchant_id", "String", "Merchant paid (merchants.merchant_id).", source="ledger"),
         _f("amount", "Fractional", "Amount converted to USD at authorisation.", unit="USD", source="ledger"),
         _f("currency", "String", "Presentment currency, ISO 4217.", source="ledger"),
         _f("category", "String", "Merchant category at the time of the transaction.", source="ledger"),
         _f("channel", "String", "in_store, online or mobile_app.", source="ledger"),
         EVENT_TIME],
    ),
    GroupSpec(
        "customer_spend", "customer_id",
        "Rolling spend per customer from the daily 23:00 UTC batch, over transactions strictly before the run. "
        "Online values expire after 30 days: stale velocity is worse than none.",
        {"team": "risk", "domain": "payments", "pii": "false", "source": "spend-aggregation-job"},
        [_f("customer_id", "Integral", "Customer account number.", source="spend-aggregation-job"),
         _f("txn_count_7d", "Integral", "Transactions in the 7 days before the run.", unit="count",
            window="7d", source="spend-aggregation-job"),
         _f("spend_7d", "Fractional", "Total spent in the 7 days before the run.", unit="USD", window="7d",
            source="spend-aggregation-job"),
         _f("avg_amount_30d", "Fractional", "Mean transaction amount over 30 days.", unit="USD", window="30d",
            source="spend-aggregation-job"),
         _f("distinct_merchants_30d", "Integral", "Different merchants paid in 30 days.", unit="count",
            window="30d", source="spend-aggregation-job"),
         EVENT_TIME],
        ttl=timedelta(days=30), entity="customer",
    ),
]
COUNTRY = r"^[A-Z]{2}$"
MERCHANT_ID = r"^M[0-9]{4}$"
# Each group's validation rules, set before its file is ingested so the seed goes through them.
RULES: dict[str, list[dict[str, Any]]] = {
    "customers": [
        {"feature": "age", "check": "between", "min": 18, "max": 120},
        {"feature": "country", "check": "regex", "pattern": COUNTRY},
        {"feature": "credit_limit", "check": "between", "min": 0, "max": 100_000},
        {"feature": "account_status", "check": "in", "values": ["active", "review", "suspended"]},
        {"feature": "risk_segment", "check": "in", "values": ["low", "medium", "high"]},
    ],
    "merchants": [
        {"feature": "merchant_id", "check": "regex", "pattern": MERCHANT_ID},
        {"feature": "country", "check": "regex", "pattern": COUNTRY},
        {"feature": "risk_score", "check": "between", "min": 0, "max": 1},
    ],
    "transactions": [
        {"feature": "merchant_id", "check": "regex", "pattern": MERCHANT_ID},
        {"feature": "amount", "check": "not_null"},
        {"feature": "amount", "check": "between", "min": 0.01, "max": 50_000,
         "description": "Card limits cap one authorisation at 50,000 USD"},
        {"feature": "currency", "check": "in", "values": ["USD", "EUR", "GBP", "CAD", "BRL", "INR"]},
        {"feature": "channel", "check": "in", "values": ["in_store", "online", "mobile_app"]},
        {"feature": "transaction_id", "check": "unique"},
        {"check": "row_count", "min": 1},
        {"feature": "amount", "check": "mean", "min": 5, "max": 2_000, "severity": "warn"},
    ],
    "customer_spend": [
        {"feature": "txn_count_7d", "check": "between", "min": 1},
        {"feature": "spend_7d", "check": "between", "min": 0},
        {"check": "expression", "sql": "avg_amount_30d > 0", "name": "avg_amount_positive"},
        {"check": "null_fraction", "feature": "avg_amount_30d", "max": 0.01, "severity": "warn"},
    ],
}
# Monitors: freshness from each feed's cadence, drift on the features a model reads. PSI alone:
# the sample's days are small enough that a Jensen-Shannon threshold of 0.1 is sampling noise.
MONITORS: dict[str, dict[str, Any]] = {
    "transactions": {"expected_interval": timedelta(days=2), "drift": {"psi": 0.2},
                     "features": ["amount", "currency", "category", "channel"]},
    "customer_spend": {"expected_interval": timedelta(hours=26), "drift": {"psi": 0.2},
                       "features": ["txn_count_7d", "spend_7d", "avg_amount_30d", "distinct_merchants_30d"]},
    "customers": {"expected_interval": timedelta(days=3), "drift": {"psi": 0.2}, "window": timedelta(days=30),
                  "reference_window": timedelta(days=60),
                  "features": ["age", "country", "credit_limit", "account_status", "risk_segment"]},
}
# customer_spend is computed in the store: the daily 23:00 UTC job over the transactions strictly
# before each run, for every customer who paid in the day before it (what sample_data's
# make_spend computes from the CSV). Amounts are summed as decimals, so cents stay exact.
SPEND_SQL = """\
WITH runs AS (  -- one run per customer and 23:00 UTC run after each new transaction
    SELECT DISTINCT customer_id,
           time_bucket(INTERVAL 1 DAY, _event_time, TIMESTAMPTZ '2000-01-01 23:00:00+00') + INTERVAL 1 DAY AS run_at
    FROM transactions
    WHERE NOT is_deleted AND _event_time >= {{window_start}} AND _event_time < {{window_end}}
)
SELECT r.customer_id,
       count(*) FILTER (WHERE t._event_time >= r.run_at - INTERVAL 7 DAY) AS txn_count_7d,
       coalesce(sum(t.amount::DECIMAL(18, 2)) FILTER (WHERE t._event_time >= r.run_at - INTERVAL 7 DAY), 0)::DOUBLE
           AS spend_7d,
       ((2 * sum(round(t.amount * 100)::BIGINT) + count(*)) // (2 * count(*))) / 100 AS avg_amount_30d,  -- half up
       count(DISTINCT t.merchant_id) AS distinct_merchants_30d,
       r.run_at AS event_time
FROM runs r
JOIN transactions t ON t.customer_id = r.customer_id AND NOT t.is_deleted
     AND t._event_time >= r.run_at - INTERVAL {{days}} DAY AND t._event_time < r.run_at
GROUP BY r.customer_id, r.run_at
"""
PIPELINE: dict[str, Any] = {
    "name": "customer_spend_daily", "target": "customer_spend", "inputs": ["transactions"], "sql": SPEND_SQL,
    "params": {"days": 30}, "lookback": "30d", "schedule": "0 23 * * *",
    "description": "Rolling 7- and 30-day spend per customer, at 23:00 UTC each day, from the transactions "
                   "written since the last run (late ones included).",
    "tags": {"team": "risk", "owner": "spend-aggregation"},
}
DATASET_FEATURES = [
    "customers:age", "customers:country", "customers:signup_channel", "customers:credit_limit",
    "customers:account_status", "customers:risk_segment",
    "merchants:category", "merchants:country", "merchants:risk_score",
    "customer_spend:txn_count_7d", "customer_spend:spend_7d", "customer_spend:avg_amount_30d",
    "customer_spend:distinct_merchants_30d",
]
# The authorisation's amount against the customer's usual one: the amount is a request value (only
# the authorisation has it), the 30-day mean comes from customer_spend; offline the training set's
# entity table gives the amount, so the model trains on what serving computes.
ON_DEMAND = OnDemandFeature(
    "amount_vs_customer_avg", inputs=["customer_spend:avg_amount_30d"], request={"amount": "Fractional"},
    outputs=[Feature("amount_vs_avg_30d", "Fractional", description="Amount over the customer's 30-day mean amount."),
             Feature("amount_over_3x_avg", "Integral", description="1 when the amount is over 3 times the 30-day mean.")],
    sql={"amount_vs_avg_30d": "amount / NULLIF(avg_amount_30d, 0)",
         "amount_over_3x_avg": "CASE WHEN amount > 3 * avg_amount_30d THEN 1 WHEN amount <= 3 * avg_amount_30d "
                               "THEN 0 END"},
    description="How unusual the authorisation's amount is for this customer (null without 30-day history).")
DATASET_KEYS = {"customers": "customer_id", "merchants": "merchant_id", "customer_spend": "customer_id"}
# What the fraud model reads, once: served online by get_online_features, and the training set is
# built from the same service, so training and serving see the same columns.
SERVICE: dict[str, Any] = {
    "name": SERVICE_NAME, "features": [*DATASET_FEATURES, f"on_demand:{ON_DEMAND.name}"], "owner": "risk-ml",
    "description": "Features the card-fraud model scores an authorisation with: the paying customer's profile "
                   "and rolling spend, the merchant's risk, and the amount against the customer's 30-day mean. "
                   "Entity rows give customer_id and merchant_id; the request gives the amount.",
    "tags": {"team": "risk", "model": "fraud"},
}


def is_empty(fs: FeatureStore) -> bool:
    """True when the store has no feature groups, i.e. seeding cannot clobber anyone's work."""
    return not fs.list_feature_groups()


def seed_if_empty(fs: FeatureStore, data_dir: str | None = None) -> bool:
    """Seed a store that has no groups yet; True if this call seeded it.

    Two processes may race on a fresh store (e.g. two studio sessions): the loser's first
    create raises Conflict and it backs off, leaving the winner to finish.
    """
    if not is_empty(fs):
        return False
    try:
        seed(fs, data_dir)
    except Conflict:
        return False
    return True


def seed(fs: FeatureStore, data_dir: str | None = None) -> dict[str, Any]:
    """Create the sample groups with their validation rules and monitors and fill them (the rows
    the rules refuse go to the quarantine): customer_spend by its pipeline over transactions,
    run after each monthly transactions file; apply the account closures and the late
    merchant-score corrections, register the on-demand amount feature, define the fraud model's
    feature service, build the training set from it (the labels give each transaction's amount)
    and register the model trained on it.
    Raises Conflict if a sample group already exists.

    The sample files have fixed dates; their whole timeline (labels included) is moved by whole
    days so that the last event falls in the day before now, keeping order, gaps and the daily
    23:00 UTC runs: TTLs, freshness and time travel look alive on any day. The moved files are
    kept in ``<store>/samples/`` and ingested from there, so lineage names them."""
    source = data_dir or DATA_DIR
    started = time.perf_counter()
    data_dir, shift_days = shift_samples(source, samples_dir(fs), now_us())
    existing = {e.name for e in fs.list_entities()}  # a store seeded with --force may have them
    for name, keys, description, tags in ENTITIES:
        if name not in existing:
            fs.create_entity(name, keys, description, tags)
    for spec in GROUPS:
        _create(fs, spec)
        fs.set_rules(spec.name, RULES[spec.name])
        if spec.name in MONITORS:
            fs.set_monitor(spec.name, **MONITORS[spec.name])
    fs.create_pipeline(**PIPELINE)
    rows = {"customer_spend": 0}
    quarantined = {"customer_spend": 0}
    for name in ("customers", "merchants"):
        report = fs.ingest(name, os.path.join(data_dir, f"{name}.csv"), on_error="skip")
        rows[name], quarantined[name] = report.rows_written, report.rows_rejected
    rows["transactions"] = quarantined["transactions"] = 0
    for part in split_by_month(os.path.join(data_dir, "transactions.csv")):  # the ledger's monthly exports
        report = fs.ingest("transactions", part, on_error="skip")
        rows["transactions"] += report.rows_written
        quarantined["transactions"] += report.rows_rejected
        run = fs.run_pipeline(PIPELINE["name"], trigger="schedule")
        rows["customer_spend"] += run["rows_out"]
        quarantined["customer_spend"] += run["rows_rejected"]
    deleted = _close_accounts(fs, os.path.join(data_dir, "deletes.csv"))
    # A second, later write of past event times, so "known at" time travel shows what changed.
    corrected = fs.ingest("merchants", os.path.join(data_dir, "merchant_corrections.csv"),
                          source="merchant_corrections.csv").rows_written
    fs.register_on_demand(ON_DEMAND)
    fs.create_feature_service(**SERVICE)
    dataset = fs.build_dataset(os.path.join(data_dir, "labels.csv"), f"service:{SERVICE_NAME}", "event_time",
                               DATASET_KEYS, name=DATASET_NAME)
    labels = dataset.table.column("is_fraud").to_pylist()
    fs.register_model(
        MODEL_NAME, [dataset.id], "Card-fraud classifier trained on the point-in-time training set.",
        {"target": "is_fraud", "features": len(DATASET_FEATURES) + len(ON_DEMAND.outputs), "rows": len(labels),
         "positive_rate": round(sum(labels) / len(labels), 4)},
    )
    return {"groups": [spec.name for spec in GROUPS], "rows_ingested": rows, "rows_quarantined": quarantined,
            "records_deleted": deleted,
            "merchant_versions_corrected": corrected, "timeline_shift_days": shift_days,
            "service": SERVICE_NAME, "on_demand": ON_DEMAND.name, "dataset_id": dataset.id, "dataset_name": DATASET_NAME,
            "dataset_rows": dataset.num_rows, "model": MODEL_NAME, "seconds": round(time.perf_counter() - started, 2)}


def samples_dir(fs: FeatureStore) -> str:
    """Where a seeded store keeps the sample files as it ingested them (timeline moved)."""
    return os.path.join(fs.path, "samples")


def shift_samples(source: str, out: str, now: int) -> tuple[str, int]:
    """Copy the sample CSVs to ``out`` with every ``event_time`` moved by the whole number of days
    that puts the latest one within the day before ``now``; returns (``out``, days moved)."""
    import pandas as pd

    names = sorted(f for f in os.listdir(source) if f.endswith(".csv"))
    frames = {n: pd.read_csv(os.path.join(source, n), dtype=str, keep_default_na=False) for n in names}
    latest = max(pd.to_datetime(f["event_time"], utc=True).max() for f in frames.values() if "event_time" in f)
    days = int((pd.Timestamp(now * 1000, tz="UTC") - pd.Timedelta(hours=1) - latest) // pd.Timedelta(days=1))
    os.makedirs(out, exist_ok=True)
    for name, frame in frames.items():
        if "event_time" in frame:
            moved = pd.to_datetime(frame["event_time"], utc=True) + pd.Timedelta(days=days)
            frame["event_time"] = moved.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        frame.to_csv(os.path.join(out, name), index=False, lineterminator="\n")
    return out, days


def split_by_month(path: str) -> list[str]:
    """The transactions file cut into monthly exports next to it: one per 30 days of the 23:00 UTC
    spend runs that count its rows, counted back from the last run and named by their last run's
    day (``transactions-2026-10-31.csv``, ...), so each run's days are whole. Not calendar months:
    the timeline moves with the day the demo is seeded, and the last export must hold the same
    30 days (the drifted last day among normal ones) whatever that day is."""
    import pandas as pd

    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    at = pd.to_datetime(frame["event_time"], utc=True)
    run = (at - pd.Timedelta(hours=23)).dt.floor("D") + pd.Timedelta(hours=47)
    period = (run.max() - run) // pd.Timedelta(days=30)
    last_run = run.groupby(period).transform("max")
    stem = os.path.splitext(path)[0]
    parts = []
    for day, part in frame.groupby(last_run.dt.strftime("%Y-%m-%d"), sort=True):
        parts.append(f"{stem}-{day}.csv")
        part.to_csv(parts[-1], index=False, lineterminator="\n")
    return parts


def _create(fs: FeatureStore, spec: GroupSpec) -> None:
    fs.create_feature_group(spec.name, spec.record_identifier, EVENT_TIME.name, spec.features,
                            description=spec.description, tags=spec.tags, ttl=spec.ttl, entity=spec.entity)


def _close_accounts(fs: FeatureStore, path: str) -> int:
    """Soft-delete each closed customer at its closure time, so history before it stays queryable."""
    with open(path, newline="", encoding="utf-8") as fh:
        closures = list(csv.DictReader(fh))
    for row in closures:
        fs.delete_record("customers", int(row["customer_id"]), row["event_time"])
    return len(closures)
