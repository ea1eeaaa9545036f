"""Deterministic, seeded benchmark inputs, written once to ``bench/data/<size>/`` and reused.

* ``driver_stats.parquet``: driver_id (int64), event_time (timestamp[us, UTC], second
  resolution, October 2026, sorted), 8 float64, 1 int64 and 1 string (city code) features.
  Every driver appears at least once; 0.5 % of the rows repeat another row's (id, event time)
  with different values, so the (id, event time) tie-break is exercised.
* ``customer_profile.parquet``: customer_id, event_time, 3 float64, 1 int64, 1 string.
* ``entity.parquet``: driver_id, customer_id, request_time (Oct 1 - Nov 8 2026, unsorted),
  label; ~1 % of each id column is unknown to the store.

Columns are generated one at a time from seeded generators, so the same size always yields
byte-identical values whatever the numpy version's bulk ordering.
"""
from __future__ import annotations

import os

from .common import (CUSTOMER_ID_BASE, DATA_VERSION, DAY_S, DRIVER_ID_BASE, ENTITY_EXTRA_DAYS, PERIOD_DAYS, SEED,
                     SIZES, START_S, UNKNOWN_ID_BASE, Size, data_dir, input_path, read_json, size_dict, write_json)

DRIVER_FLOATS = ["conv_rate", "acc_rate", "avg_speed_kmh", "rating", "earnings_7d", "cancel_rate",
                 "online_hours", "distance_km"]
CUSTOMER_FLOATS = ["lifetime_value", "avg_rating_given", "tip_rate"]


def _rng(*key: int):
    import numpy as np

    return np.random.default_rng([SEED, *key])


def _ids_and_times(n_ids: int, n_rows: int, base: int, key: int):
    """Ids (each at least once) and second-resolution event times over the period, 0.5 % (id, time) repeats."""
    import numpy as np

    rng = _rng(key, 1)
    ids = np.concatenate([rng.permutation(n_ids), rng.integers(0, n_ids, n_rows - n_ids)]).astype("int64") + base
    secs = START_S + rng.integers(0, PERIOD_DAYS * DAY_S, n_rows).astype("int64")
    dup = rng.choice(n_rows, size=n_rows // 200, replace=False)
    src = rng.integers(0, n_rows, len(dup))
    ids[dup], secs[dup] = ids[src], secs[src]
    order = np.argsort(secs, kind="stable")
    return ids[order], secs[order]


def _timestamps(secs):
    import pandas as pd

    return pd.Series((secs * 1_000_000).astype("datetime64[us]")).dt.tz_localize("UTC")


def drivers(size: Size):
    import numpy as np
    import pandas as pd

    n = size.driver_rows
    ids, secs = _ids_and_times(size.drivers, n, DRIVER_ID_BASE, 1)
    cols = {"driver_id": ids, "event_time": _timestamps(secs)}
    gens = {
        "conv_rate": lambda r: r.random(n),
        "acc_rate": lambda r: r.random(n),
        "avg_speed_kmh": lambda r: r.normal(35.0, 8.0, n),
        "rating": lambda r: r.uniform(3.0, 5.0, n),
        "earnings_7d": lambda r: r.gamma(4.0, 120.0, n),
        "cancel_rate": lambda r: r.beta(2.0, 30.0, n),
        "online_hours": lambda r: r.uniform(0.0, 12.0, n),
        "distance_km": lambda r: r.exponential(20.0, n),
    }
    for i, name in enumerate(DRIVER_FLOATS):
        cols[name] = gens[name](_rng(1, 10 + i)).astype("float64")
    cols["trips_today"] = _rng(1, 30).poisson(12.0, n).astype("int64")
    cities = np.array([f"C{i:03d}" for i in range(50)], dtype=object)
    cols["city"] = pd.array(cities[_rng(1, 31).integers(0, 50, n)], dtype="str")
    return pd.DataFrame(cols)


def customers(size: Size):
    import numpy as np
    import pandas as pd

    n = size.customer_rows
    ids, secs = _ids_and_times(size.customers, n, CUSTOMER_ID_BASE, 2)
    cols = {"customer_id": ids, "event_time": _timestamps(secs)}
    cols["lifetime_value"] = _rng(2, 10).gamma(2.0, 400.0, n)
    cols["avg_rating_given"] = _rng(2, 11).uniform(1.0, 5.0, n)
    cols["tip_rate"] = _rng(2, 12).beta(2.0, 8.0, n)
    cols["trips_total"] = _rng(2, 13).poisson(80.0, n).astype("int64")
    tiers = np.array(["bronze", "silver", "gold", "platinum"], dtype=object)
    cols["tier"] = pd.array(tiers[_rng(2, 14).integers(0, 4, n)], dtype="str")
    return pd.DataFrame(cols)


def entities(size: Size):
    import pandas as pd

    n = size.entity_rows
    rng = _rng(3, 1)

    def ids(n_ids: int, base: int, unknown_base: int):
        out = rng.integers(0, n_ids, n).astype("int64") + base
        unknown = rng.random(n) < 0.01
        out[unknown] = unknown_base + rng.integers(0, 1_000_000, int(unknown.sum()))
        return out

    driver = ids(size.drivers, DRIVER_ID_BASE, UNKNOWN_ID_BASE)
    customer = ids(size.customers, CUSTOMER_ID_BASE, UNKNOWN_ID_BASE + 5_000_000)
    secs = START_S + rng.integers(0, (PERIOD_DAYS + ENTITY_EXTRA_DAYS) * DAY_S, n).astype("int64")
    return pd.DataFrame({
        "driver_id": driver, "customer_id": customer, "request_time": _timestamps(secs),
        "label": (rng.random(n) < 0.3).astype("int64"),
    })


def meta(size: Size) -> dict:
    return {"version": DATA_VERSION, "seed": SEED, "size": size_dict(size)}


def ensure(size_name: str) -> dict:
    """Generate the inputs for ``size_name`` unless an identical set is already on disk."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    size = SIZES[size_name]
    folder = data_dir(size_name)
    meta_file = os.path.join(folder, "meta.json")
    wanted = meta(size)
    names = ("driver_stats", "customer_profile", "entity")
    if os.path.exists(meta_file) and all(os.path.exists(input_path(size_name, n)) for n in names):
        if read_json(meta_file) == wanted:
            return {"generated": False}
    os.makedirs(folder, exist_ok=True)
    for name, make in zip(names, (drivers, customers, entities)):
        table = pa.Table.from_pandas(make(size), preserve_index=False)
        pq.write_table(table, input_path(size_name, name))
        del table
    write_json(meta_file, wanted)
    return {"generated": True}
