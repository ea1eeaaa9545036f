"""Realistic files for the studio and ingest tests, made the way other tools write them: many
days and partitions, thousands of rows, booleans, epochs, offsets, unicode, Windows encodings."""
from __future__ import annotations

import numpy as np
import pandas as pd

START = pd.Timestamp("2026-09-01T00:00:00Z")


def transactions(n: int = 5000, days: int = 30, seed: int = 7) -> pd.DataFrame:
    """Rows for the sample ``transactions`` group spread over ``days`` days (every hour has some)."""
    rng = np.random.default_rng(seed)
    hours = days * 24
    when = START + pd.to_timedelta(np.sort(np.concatenate([np.arange(hours), rng.integers(0, hours, n - hours)])),
                                   unit="h") + pd.to_timedelta(rng.integers(0, 3600, n), unit="s")
    return pd.DataFrame({
        "transaction_id": [f"X{i:07d}" for i in range(n)],
        "customer_id": rng.integers(100_001, 100_600, n),
        "merchant_id": [f"M{m:04d}" for m in rng.integers(1, 80, n)],
        "amount": np.round(rng.lognormal(3.5, 1.0, n), 2),
        "currency": rng.choice(["USD", "EUR", "GBP"], n),
        "category": rng.choice(["grocery", "travel", "gaming"], n),
        "channel": rng.choice(["online", "in_store"], n),
        "event_time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
    })


def devices(n: int = 200, seed: int = 3) -> pd.DataFrame:
    """A device inventory as an app exports it: booleans as true/false, a time column named
    ``seen_at`` with offsets, an epoch column, leading-zero codes, unicode text and JSON lists."""
    rng = np.random.default_rng(seed)
    offsets = rng.choice(["+00:00", "+02:00", "-05:00", "Z"], n)
    seen = START + pd.to_timedelta(rng.integers(0, 20 * 86400, n), unit="s")
    return pd.DataFrame({
        "device_id": [f"dev-{i:05d}" for i in range(n)],
        "active": rng.choice(["true", "false"], n),
        "rooted": rng.choice(["True", "FALSE"], n),
        "battery_pct": rng.integers(0, 101, n),
        "temperature": np.round(rng.normal(31, 4, n), 1),
        "zip_code": [f"{z:05d}" for z in rng.integers(100, 99999, n)],
        "owner": rng.choice(["Zoë", "José", "Søren", "李雷", "Ana"], n),
        "apps": [f"[{', '.join(str(int(a)) for a in rng.integers(1, 50, rng.integers(0, 4)))}]" for _ in range(n)],
        "last_boot": (seen - pd.Timedelta(hours=3)).astype("int64") // 10**9,
        "seen_at": [t.strftime("%Y-%m-%d %H:%M:%S") + o for t, o in zip(seen, offsets)],
    })


def odd_headers(n: int = 300, seed: int = 5) -> pd.DataFrame:
    """Column names that are not valid feature names: spaces, accents, a reserved name."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "Order ID": np.arange(1, n + 1),
        "Prénom client": rng.choice(["Zoé", "Hélène", "François"], n),
        "Montant (€)": np.round(rng.lognormal(3, 0.5, n), 2),
        "year": rng.choice([2025, 2026], n),
        "Horodatage": (START + pd.to_timedelta(rng.integers(0, 86400 * 10, n), unit="s")).strftime("%Y-%m-%dT%H:%M:%SZ"),
    })


def write_csv(frame: pd.DataFrame, path, encoding: str = "utf-8", sep: str = ",") -> str:
    frame.to_csv(path, index=False, encoding=encoding, sep=sep, lineterminator="\n")
    return str(path)
