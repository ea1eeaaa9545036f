"""Deterministic fraud / e-commerce sample data for the feature store demo.

    python sample_data/generate.py [--scale N] [--out DIR]

Scale 1 (checked in next to this script) has ~600 customers, ~80 merchants and 12,000
transactions over the 90 days ending 2026-10-31T23:00:00Z; in its last day mobile-app amounts arrive
in cents (``in_cents``), the drift the sample monitors alert on. Dates are fixed rather than relative
to now, so the files, and every point-in-time answer built on them, are the same on every machine.

Fraud labels are drawn from the features *as they were at each transaction* (customer risk tier
and status, merchant risk, recent spend velocity, cross-border, channel, amount), so a model
trained on a point-in-time-correct dataset can learn them, and a leaky join would look better
than it should.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

SEED = 20261031
DAY = 86_400
END = int(pd.Timestamp("2026-10-31T23:00:00Z").timestamp())
START = END - 90 * DAY
BUCKET_OFFSET = 23 * 3600  # the daily spend job runs at 23:00 UTC, so END is a bucket end
MAX_AMOUNT = 50_000  # the ledger's rule (store/demo.py): larger amounts are refused into the quarantine
FRAUD_RATE = 0.025
HERE = os.path.dirname(os.path.abspath(__file__))

COUNTRIES = ["US", "GB", "DE", "FR", "ES", "IT", "NL", "CA", "BR", "IN"]
COUNTRY_WEIGHTS = [0.34, 0.14, 0.11, 0.09, 0.07, 0.06, 0.05, 0.06, 0.04, 0.04]
CURRENCY = {"US": "USD", "GB": "GBP", "CA": "CAD", "BR": "BRL", "IN": "INR"}  # the rest pay in EUR
# category -> (share of merchants, median amount in USD, base merchant risk)
CATEGORIES = {
    "grocery": (0.18, 45.0, 0.02), "restaurants": (0.15, 35.0, 0.03), "fuel": (0.08, 55.0, 0.03),
    "fashion": (0.14, 80.0, 0.05), "home": (0.09, 120.0, 0.04), "electronics": (0.12, 320.0, 0.10),
    "travel": (0.09, 450.0, 0.10), "digital_goods": (0.09, 25.0, 0.15), "gaming": (0.06, 30.0, 0.14),
}
ONLINE_ONLY = {"digital_goods", "gaming", "travel"}
SIGNUP_CHANNELS = ["web", "mobile_app", "referral", "partner", "in_store"]
SIGNUP_WEIGHTS = [0.38, 0.32, 0.12, 0.10, 0.08]
NAME_PREFIXES = ["Blue", "North", "Silver", "Urban", "Golden", "Rapid", "Bright", "Green", "Prime", "Metro",
                 "Lucky", "Summit", "Harbor", "Cedar", "Nova", "Atlas"]
NAME_SUFFIXES = {
    "grocery": ["Market", "Grocers", "Foods"], "restaurants": ["Kitchen", "Bistro", "Diner"],
    "fuel": ["Fuel", "Petrol", "Gas"], "fashion": ["Outfitters", "Apparel", "Boutique"],
    "home": ["Home", "Living", "Hardware"], "electronics": ["Electronics", "Tech", "Devices"],
    "travel": ["Travel", "Air", "Stays"], "digital_goods": ["Digital", "Downloads", "Codes"],
    "gaming": ["Games", "Arcade", "Play"],
}


@dataclass
class Customers:
    """Profile versions (the CSV, plus a hidden ``_risk``) and per-customer facts the CSVs don't show."""

    profiles: pd.DataFrame
    ids: np.ndarray
    country: np.ndarray
    signup: np.ndarray  # epoch seconds
    closed: np.ndarray  # epoch seconds of the account closure, END when still open
    spend_factor: np.ndarray
    cross_border: np.ndarray  # probability of paying a foreign merchant


def iso(seconds: np.ndarray | pd.Series) -> np.ndarray:
    """Epoch seconds as ISO-8601 UTC strings ending in 'Z', the store's String event-time form."""
    stamps = pd.to_datetime(np.asarray(seconds, dtype="int64"), unit="s", utc=True)
    return stamps.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy()


def risk_segment(risk: float, rng: np.random.Generator) -> str:
    """The KYC tier a noisy scoring model would assign to a latent risk."""
    observed = risk + rng.normal(0, 0.04)
    return "low" if observed < 0.12 else "medium" if observed < 0.25 else "high"


def account_status(risk: float, rng: np.random.Generator) -> str:
    """What investigators set after a profile change: risky accounts often go to review, some get suspended."""
    if risk > 0.45 and rng.random() < 0.35:
        return "suspended"
    if risk > 0.25 and rng.random() < 0.4:
        return "review"
    return "active"


def make_customers(rng: np.random.Generator, n: int) -> Customers:
    """Customers who sign up (most at the start), change profile 0-4 times, and a few close."""
    ids = 100_001 + np.arange(n)
    country = rng.choice(COUNTRIES, n, p=COUNTRY_WEIGHTS)
    channel = rng.choice(SIGNUP_CHANNELS, n, p=SIGNUP_WEIGHTS)
    age = np.clip(np.round(rng.normal(41, 13, n)), 18, 85).astype(int)
    risk = rng.beta(1.3, 9, n) + 0.06 * (channel == "partner") + 0.04 * (age < 25)
    early = rng.random(n) < 0.8
    signup = np.where(early, START + rng.integers(0, 2 * DAY, n), rng.integers(START + 2 * DAY, END - 10 * DAY, n))
    closed = np.full(n, END)
    leavers = rng.choice(np.flatnonzero(signup < END - 40 * DAY), max(3, round(n / 100)), replace=False)
    closed[leavers] = rng.integers(END - 30 * DAY, END - DAY, len(leavers))
    limit = np.clip(np.round(rng.lognormal(np.log(3000), 0.6, n) * (1 - risk), -2), 500, 25_000)
    updates = rng.choice(5, n, p=[0.3, 0.2, 0.25, 0.15, 0.1])

    rows = [row for i in range(n) for row in profile_versions(rng, (ids[i], age[i], country[i], channel[i]),
                                                              float(risk[i]), float(limit[i]), signup[i], closed[i],
                                                              updates[i])]
    profiles = pd.DataFrame(rows, columns=["customer_id", "t", "age", "country", "signup_channel", "credit_limit",
                                           "account_status", "risk_segment", "_risk"])
    return Customers(profiles.sort_values(["t", "customer_id"], ignore_index=True), ids, country, signup, closed,
                     rng.lognormal(0, 0.4, n), 0.08 + 0.5 * risk)


def profile_versions(rng: np.random.Generator, static: tuple, risk: float, limit: float, signup: int, closed: int,
                     updates: int) -> list[tuple]:
    """The signup profile, then ``updates`` changes on distinct later days, all before any closure.

    ``static`` is (customer_id, age, country, signup_channel); the latent risk drifts, and limit,
    status and tier follow it.
    """
    cid, *fixed = static
    rows = [(cid, signup, *fixed, limit, "active", risk_segment(risk, rng), risk)]
    first_day, last_day = (signup - START) // DAY + 1, (closed - START) // DAY
    days = np.sort(rng.choice(np.arange(first_day, last_day), min(updates, last_day - first_day), replace=False))
    for day in days:
        risk = float(np.clip(risk + rng.normal(0.01, 0.06), 0, 1))
        limit = float(np.clip(round(limit * rng.choice([0.7, 1.0, 1.25, 1.5]), -2), 500, 25_000))
        when = min(START + day * DAY + rng.integers(0, DAY), closed - 3600)
        rows.append((cid, when, *fixed, limit, account_status(risk, rng), risk_segment(risk, rng), risk))
    return rows


def make_merchants(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Merchants onboarded in the first hour, every country covered; ~12% get re-scored later."""
    names = list(CATEGORIES)
    category = rng.choice(names, n, p=[CATEGORIES[c][0] for c in names])
    covered = np.resize(COUNTRIES, min(n, 2 * len(COUNTRIES)))
    country = np.concatenate([covered, rng.choice(COUNTRIES, n - len(covered), p=COUNTRY_WEIGHTS)])
    base = np.array([CATEGORIES[c][2] for c in category])
    risk = np.round(np.clip(base + rng.beta(1.2, 12, n), 0, 1), 3)
    width = max(4, len(str(n)))
    frame = pd.DataFrame({
        "merchant_id": [f"M{i + 1:0{width}d}" for i in range(n)],
        "t": START + rng.integers(0, 3600, n),
        "name": [f"{rng.choice(NAME_PREFIXES)} {rng.choice(NAME_SUFFIXES[c])}" for c in category],
        "category": category, "country": country, "risk_score": risk,
    })
    rescored = frame.sample(frac=0.12, random_state=rng).copy()
    rescored["t"] = rng.integers(START + 10 * DAY, END - 5 * DAY, len(rescored))
    drift = rng.normal(0.12, 0.1, len(rescored))  # re-scoring mostly follows complaints, so risk rises
    rescored["risk_score"] = np.round(np.clip(rescored["risk_score"] + drift, 0, 1), 3)
    return pd.concat([frame, rescored]).sort_values(["t", "merchant_id"], ignore_index=True)


def pick_merchants(rng: np.random.Generator, home: np.ndarray, foreign: np.ndarray,
                   merchants: pd.DataFrame) -> np.ndarray:
    """A merchant index per transaction: popular merchants more often, domestic unless ``foreign``."""
    popularity = 1 / (rng.permutation(len(merchants)) + 5.0) ** 0.8
    country = merchants["country"].to_numpy()
    picked = np.empty(len(home), dtype=int)
    for c in COUNTRIES:
        for away in (False, True):
            rows = np.flatnonzero((home == c) & (foreign == away))
            pool = np.flatnonzero((country != c) if away else (country == c))
            if len(rows):
                picked[rows] = rng.choice(pool, len(rows), p=popularity[pool] / popularity[pool].sum())
    return picked


def make_transactions(rng: np.random.Generator, cust: Customers, merchants: pd.DataFrame, n: int) -> pd.DataFrame:
    """``n`` transactions spread over customers by activity, each between signup and closure."""
    opens = cust.signup + 2 * 3600
    span = cust.closed - opens
    activity = rng.gamma(2.0, 1.0, len(span)) * span
    per_customer = rng.multinomial(n, activity / activity.sum())
    who = np.repeat(np.arange(len(span)), per_customer)
    when = opens[who] + (rng.random(n) * span[who]).astype("int64")
    home = cust.country[who]
    shop = merchants.drop_duplicates("merchant_id").reset_index(drop=True)
    m = pick_merchants(rng, home, rng.random(n) < cust.cross_border[who], shop)
    category = shop["category"].to_numpy()[m]
    median = np.array([CATEGORIES[c][1] for c in category])
    amount = np.maximum(1.0, np.round(median * cust.spend_factor[who] * rng.lognormal(0, 0.6, n), 2))
    m_country = shop["country"].to_numpy()[m]
    online_only = np.isin(category, list(ONLINE_ONLY))
    channel = np.where(online_only | (m_country != home), rng.choice(["online", "mobile_app"], n, p=[0.6, 0.4]),
                       rng.choice(["in_store", "online", "mobile_app"], n, p=[0.55, 0.25, 0.2]))
    frame = pd.DataFrame({
        "customer_id": cust.ids[who], "merchant_id": shop["merchant_id"].to_numpy()[m], "amount": amount,
        "currency": [CURRENCY.get(c, "EUR") for c in m_country], "category": category, "channel": channel, "t": when,
    }).sort_values(["t", "customer_id"], ignore_index=True)
    width = max(7, len(str(n)))
    frame.insert(0, "transaction_id", [f"T{i + 1:0{width}d}" for i in range(n)])
    return frame


def in_cents(txns: pd.DataFrame) -> pd.DataFrame:
    """The drifted window the monitors catch: in the last day a mobile-app release reports amounts
    in cents, so its amounts are 100 times too large (and the spend job sums them as they come)."""
    bug = (txns["t"] > END - DAY) & (txns["channel"] == "mobile_app")
    return txns.assign(amount=txns["amount"].where(~bug, np.round(txns["amount"] * 100, 2)))


def make_spend(txns: pd.DataFrame) -> pd.DataFrame:
    """One row per customer and day with activity: 7- and 30-day aggregates at the 23:00 UTC run
    (what the sample store's ``customer_spend_daily`` pipeline computes; a test holds them equal).

    A row's event time is its run and it covers transactions strictly before that instant, so a
    point-in-time join never hands a transaction an aggregate that already counts it.
    """
    txns = txns.sort_values(["customer_id", "t"], kind="stable")
    cust, t = txns["customer_id"].to_numpy(), txns["t"].to_numpy()
    merchant = pd.factorize(txns["merchant_id"])[0]
    key = cust * 10**11 + t  # (customer, time) in one sortable int64; epoch seconds stay below 1e11
    runs = pd.DataFrame({"customer_id": cust, "t": ((t - BUCKET_OFFSET) // DAY + 1) * DAY + BUCKET_OFFSET})
    runs = runs.drop_duplicates(ignore_index=True)
    run_key = runs["customer_id"].to_numpy() * 10**11 + runs["t"].to_numpy()
    hi = np.searchsorted(key, run_key)
    lo7, lo30 = np.searchsorted(key, run_key - 7 * DAY), np.searchsorted(key, run_key - 30 * DAY)
    cents = np.concatenate([[0], np.cumsum(np.round(txns["amount"].to_numpy() * 100).astype("int64"))])  # exact
    runs["txn_count_7d"] = hi - lo7
    runs["spend_7d"] = (cents[hi] - cents[lo7]) / 100
    n30 = hi - lo30
    runs["avg_amount_30d"] = (2 * (cents[hi] - cents[lo30]) + n30) // (2 * n30) / 100  # half up, to the cent
    runs["distinct_merchants_30d"] = [len(set(merchant[a:b])) for a, b in zip(lo30, hi)]
    return runs.sort_values(["t", "customer_id"], ignore_index=True)


def make_corrections(rng: np.random.Generator, merchants: pd.DataFrame) -> pd.DataFrame:
    """Late corrections: the acquirer re-ran its risk model and re-stated ~20% of the merchant
    versions at their own event times. Seeded after the first load, they make "known at" matter:
    as the store knew it before them, those scores were different."""
    fixed = merchants.sample(frac=0.2, random_state=rng).copy()
    fixed["risk_score"] = np.round(np.clip(fixed["risk_score"] + rng.normal(0, 0.04, len(fixed)), 0, 1), 3)
    return fixed.sort_values(["t", "merchant_id"], ignore_index=True)


def calibrate(score: np.ndarray, rate: float) -> float:
    """The intercept that makes the mean fraud probability ``rate``, so the positive share is stable."""
    lo, hi = -30.0, 10.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if np.mean(1 / (1 + np.exp(-(mid + score)))) < rate else (lo, mid)
    return (lo + hi) / 2


def label_fraud(rng: np.random.Generator, txns: pd.DataFrame, cust: Customers, merchants: pd.DataFrame,
                spend: pd.DataFrame) -> np.ndarray:
    """0/1 per transaction, drawn from the features as of the transaction (a backward as-of join)."""
    def as_of(left: pd.DataFrame, right: pd.DataFrame, by: str) -> pd.DataFrame:
        return pd.merge_asof(left, right.sort_values("t", kind="stable"), on="t", by=by, direction="backward")

    profile = cust.profiles[["customer_id", "t", "country", "risk_segment", "account_status", "_risk"]]
    x = as_of(txns, profile, "customer_id")
    x = as_of(x, merchants[["merchant_id", "t", "country", "risk_score"]].rename(columns={"country": "m_country"}),
              "merchant_id")
    x = as_of(x, spend[["customer_id", "t", "txn_count_7d"]], "customer_id")
    x = x.set_index("transaction_id").loc[txns["transaction_id"]]
    median = x["category"].map(lambda c: CATEGORIES[c][1])
    account_days = (x["t"] - x["customer_id"].map(dict(zip(cust.ids, cust.signup)))) / DAY
    score = (1.3 * (x["risk_segment"] == "high") + 0.6 * (x["risk_segment"] == "medium")
             + 1.0 * (x["account_status"] != "active") + 2.0 * x["_risk"] + 4.0 * x["risk_score"]
             + 0.8 * (x["channel"] != "in_store") + 0.9 * (x["country"] != x["m_country"])
             + 0.5 * np.clip(np.log(x["amount"] / median), -2, 3) + 0.9 * (account_days < 14)
             + 0.4 * np.log1p(x["txn_count_7d"].fillna(0))).to_numpy(dtype=float)
    p = 1 / (1 + np.exp(-(calibrate(score, FRAUD_RATE) + score)))
    return (rng.random(len(p)) < p).astype(int)


def generate(scale: int = 1) -> dict[str, pd.DataFrame]:
    """Every sample table, as written to CSV, keyed by file stem."""
    rng = np.random.default_rng([SEED, scale])
    cust = make_customers(rng, 600 * scale)
    merchants = make_merchants(rng, 80 * scale)
    txns = in_cents(make_transactions(rng, cust, merchants, 12_000 * scale))
    spend = make_spend(txns[txns["amount"] <= MAX_AMOUNT])  # the spend pipeline sees what the store accepted
    labels = txns[["transaction_id", "customer_id", "merchant_id", "amount", "t"]].assign(
        is_fraud=label_fraud(rng, txns, cust, merchants, spend))
    gone = cust.closed < END
    deletes = pd.DataFrame({"customer_id": cust.ids[gone], "t": cust.closed[gone]}).sort_values("t", ignore_index=True)
    tables = {"customers": cust.profiles.drop(columns="_risk"), "merchants": merchants, "transactions": txns,
              "customer_spend": spend, "labels": labels, "deletes": deletes,
              "merchant_corrections": make_corrections(rng, merchants)}
    return {name: with_event_time(frame) for name, frame in tables.items()}


def with_event_time(frame: pd.DataFrame) -> pd.DataFrame:
    """Replace epoch column ``t`` by an ISO-8601 ``event_time`` (last, except in labels' key block)."""
    out = frame.drop(columns="t")
    at = out.columns.get_loc("is_fraud") if "is_fraud" in out else len(out.columns)
    out.insert(at, "event_time", iso(frame["t"]))
    return out


def write(tables: dict[str, pd.DataFrame], out: str) -> dict[str, str]:
    os.makedirs(out, exist_ok=True)
    paths = {}
    for name, frame in tables.items():
        paths[name] = os.path.join(out, f"{name}.csv")
        frame.to_csv(paths[name], index=False, lineterminator="\n")
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the fraud / e-commerce sample CSVs (deterministic).")
    parser.add_argument("--scale", type=int, default=1, help="multiplies customers, merchants and transactions")
    parser.add_argument("--out", help="output folder; default sample_data/ at scale 1, sample_data/large/scale-N above")
    args = parser.parse_args(argv)
    if args.scale < 1:
        parser.error("--scale must be 1 or more")
    out = args.out or (HERE if args.scale == 1 else os.path.join(HERE, "large", f"scale-{args.scale}"))
    tables = generate(args.scale)
    for name, path in write(tables, out).items():
        print(f"{path}: {len(tables[name]):,} rows, {os.path.getsize(path) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
