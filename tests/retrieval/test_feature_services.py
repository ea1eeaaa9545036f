"""Feature services: a named, versioned list of group features whose online vector
(``get_online_features``) and training rows (``build_dataset(entity_df, "service:NAME")``) have the
same columns and, at the entity rows' time "now", the same values and nulls.

The store: a ``customer`` entity; ``customers`` keyed by ``cust_id`` (the entity's ``customer_id``),
``customer_spend`` keyed by ``customer_id`` without an entity and with a 10-day TTL, and
``customer_merchant`` keyed by two columns (customer_id, merchant_id); thousands of versions over
60 days up to an hour ago."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from store import Conflict, Feature, FeatureStore, NotFound, ValidationError

pytestmark = [pytest.mark.online]

DAYS = 60
CUSTOMERS = 300
MERCHANTS = 12
TTL_DAYS = 10


def define(fs) -> None:
    fs.create_entity("customer", keys=[Feature("customer_id", "Integral")], description="A card holder")
    fs.create_feature_group("customers", "cust_id", "ts", [
        Feature("cust_id", "Integral"), Feature("ts"), Feature("age", "Integral"), Feature("segment"),
        Feature("txn_count", "Integral")], entity="customer", entity_keys={"cust_id": "customer_id"})
    fs.create_feature_group("customer_spend", "customer_id", "ts", [
        Feature("customer_id", "Integral"), Feature("ts"), Feature("spend_30d", "Fractional"),
        Feature("txn_count", "Integral")], ttl=TTL_DAYS * 86400)
    fs.create_feature_group("customer_merchant", ["customer_id", "merchant_id"], "ts", [
        Feature("customer_id", "Integral"), Feature("merchant_id"), Feature("ts"), Feature("visits", "Integral"),
        Feature("last_amount", "Fractional")])


def _times(rng: np.random.Generator, n: int, now: pd.Timestamp) -> pd.Series:
    """``n`` distinct event times over the last DAYS days, the newest an hour ago."""
    seconds = rng.choice(DAYS * 86400, n, replace=False) + 3600
    return pd.Series((now - pd.to_timedelta(seconds, unit="s")).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


def history(fs, seed: int = 3) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    now = pd.Timestamp.now(tz="UTC")
    n = 4000
    data = {
        "customers": pd.DataFrame({"cust_id": rng.integers(1, CUSTOMERS, n), "ts": _times(rng, n, now),
                                   "age": rng.integers(18, 90, n), "segment": rng.choice(["gold", "silver"], n),
                                   "txn_count": rng.integers(0, 500, n)}),
        "customer_spend": pd.DataFrame({"customer_id": rng.integers(1, CUSTOMERS, n), "ts": _times(rng, n, now),
                                        "spend_30d": rng.gamma(2.0, 80.0, n).round(2),
                                        "txn_count": rng.integers(0, 90, n)}),
        "customer_merchant": pd.DataFrame({"customer_id": rng.integers(1, CUSTOMERS, n),
                                           "merchant_id": [f"m{i}" for i in rng.integers(0, MERCHANTS, n)],
                                           "ts": _times(rng, n, now), "visits": rng.integers(1, 40, n),
                                           "last_amount": rng.gamma(2.0, 20.0, n).round(2)}),
    }
    for group, frame in data.items():
        fs.ingest(group, frame)
    return data


FEATURES = ["customers:age", "customers:segment", "customer_spend:*", "customer_merchant", "customers:txn_count"]
COLUMNS = ["customer_id", "merchant_id", "age", "segment", "customers__txn_count", "spend_30d",
           "customer_spend__txn_count", "visits", "last_amount"]


def expected(data: dict[str, pd.DataFrame], rows: list[dict], now: pd.Timestamp) -> pd.DataFrame:
    """The brute-force vector: per entity row and group, the newest version (by event time), nulled
    when its TTL has passed."""
    keys = {"customers": ["cust_id"], "customer_spend": ["customer_id"], "customer_merchant": ["customer_id", "merchant_id"]}
    row_keys = {"customers": ["customer_id"], "customer_spend": ["customer_id"],
                "customer_merchant": ["customer_id", "merchant_id"]}
    latest = {}
    for group, frame in data.items():
        f = frame.assign(t=pd.to_datetime(frame["ts"], utc=True)).sort_values("t")
        latest[group] = {tuple(k if isinstance(k, tuple) else (k,)): r for k, r in
                         f.groupby(keys[group]).tail(1).set_index(keys[group]).iterrows()}
    out = []
    for row in rows:
        got: dict = {"customer_id": row["customer_id"], "merchant_id": row["merchant_id"]}
        for group, feats, names in (("customers", ["age", "segment", "txn_count"], ["age", "segment",
                                                                                     "customers__txn_count"]),
                                    ("customer_spend", ["spend_30d", "txn_count"], ["spend_30d",
                                                                                    "customer_spend__txn_count"]),
                                    ("customer_merchant", ["visits", "last_amount"], ["visits", "last_amount"])):
            hit = latest[group].get(tuple(row[k] for k in row_keys[group]))
            expired = hit is not None and group == "customer_spend" and hit["t"] <= now - pd.Timedelta(days=TTL_DAYS)
            status = "not_found" if hit is None else "outside_ttl" if expired else "present"
            for f, name in zip(feats, names):
                got[name] = hit[f] if status == "present" else None
                got[f"{name}__status"] = status
        out.append(got)
    return pd.DataFrame(out)


@pytest.fixture
def fraud(fs):
    define(fs)
    data = history(fs)
    fs.create_feature_service("fraud", FEATURES, description="Card fraud v1", tags={"team": "risk"})
    return fs, data


def test_service_definitions_are_versioned_and_expanded(fs):
    define(fs)
    svc = fs.create_feature_service("fraud", FEATURES, description="Card fraud", tags={"team": "risk"},
                                    owner="risk-team")
    assert svc.version == 1 and svc.owner == "risk-team" and svc.tags == {"team": "risk"}
    # Each group's features together, where the group first appears: the order of the vector's columns.
    assert svc.refs == ["customers:age", "customers:segment", "customers:txn_count", "customer_spend:spend_30d",
                        "customer_spend:txn_count", "customer_merchant:visits", "customer_merchant:last_amount"]
    assert svc.groups == ["customers", "customer_spend", "customer_merchant"]
    # A feature added to a group later does not silently join the service.
    fs.add_features("customer_spend", [Feature("refunds", "Integral")])
    assert fs.feature_service("fraud").refs == svc.refs
    v2 = fs.update_feature_service("fraud", features=["customer_spend:*", "customers:age"])
    assert v2.version == 2 and v2.refs == ["customer_spend:spend_30d", "customer_spend:txn_count",
                                           "customer_spend:refunds", "customers:age"]
    assert v2.description == "Card fraud" and v2.owner == "risk-team"
    v3 = fs.update_feature_service("fraud", description="Card fraud, spend only")
    assert v3.version == 3 and v3.refs == v2.refs and v3.description == "Card fraud, spend only"
    assert fs.feature_service("fraud", version=1).refs == svc.refs
    assert fs.feature_service("fraud").version == 3
    history = fs.feature_service_history("fraud")  # every version, oldest first
    assert [(s.version, s.refs, s.description) for s in history] == [
        (1, svc.refs, "Card fraud"), (2, v2.refs, "Card fraud"), (3, v2.refs, "Card fraud, spend only")]
    assert [s.name for s in fs.list_feature_services()] == ["fraud"]
    with pytest.raises(NotFound, match="no version 9"):
        fs.feature_service("fraud", version=9)
    fs.delete_feature_service("fraud")
    assert fs.list_feature_services() == []
    with pytest.raises(NotFound, match="list_feature_services"):
        fs.feature_service("fraud")
    # Versions are kept forever: a service made again under the name continues the numbering.
    with pytest.raises(NotFound, match="list_feature_services"):
        fs.feature_service_history("fraud")
    again = fs.create_feature_service("fraud", ["customers:age"])
    assert again.version == 4 and again.created_by
    assert [s.version for s in fs.feature_service_history("fraud")] == [1, 2, 3, 4]


def test_refusals(fs):
    define(fs)
    fs.create_feature_service("fraud", ["customers:age"])
    with pytest.raises(Conflict, match="already exists"):
        fs.create_feature_service("fraud", ["customers:age"])
    with pytest.raises(ValidationError, match="only in letter case"):
        fs.create_feature_service("FRAUD", ["customers:age"])
    with pytest.raises(NotFound, match="nope"):
        fs.create_feature_service("other", ["nope:age"])
    with pytest.raises(NotFound, match="height"):
        fs.create_feature_service("other", ["customers:height"])
    with pytest.raises(ValidationError, match="non-empty list"):
        fs.create_feature_service("other", [])
    with pytest.raises(ValidationError, match="non-empty list"):
        fs.create_feature_service("other", "customers:age")
    with pytest.raises(ValidationError, match="key or event time"):
        fs.create_feature_service("other", ["customers:cust_id"])
    with pytest.raises(ValidationError, match="name 'bad name' is invalid"):
        fs.create_feature_service("bad name", ["customers:age"])
    with pytest.raises(NotFound):
        fs.update_feature_service("missing", description="x")
    with pytest.raises(NotFound):
        fs.delete_feature_service("missing")
    assert [s.name for s in fs.list_feature_services()] == ["fraud"]


def test_online_vector_matches_the_brute_force_vector(fraud, online_kind):
    fs, data = fraud
    rng = np.random.default_rng(11)
    rows = [{"customer_id": int(c), "merchant_id": f"m{m}"}
            for c, m in zip(rng.integers(1, CUSTOMERS + 40, 800), rng.integers(0, MERCHANTS + 2, 800))]
    got = fs.get_online_features("fraud", rows)
    now = pd.Timestamp.now(tz="UTC")
    want = expected(data, rows, now)
    assert list(got.columns) == COLUMNS + [f"{c}__status" for c in COLUMNS[2:]]
    want = want[list(got.columns)]
    if online_kind == "redis":  # Redis drops a record its TTL has passed: it reads as never written
        want = want.replace("outside_ttl", "not_found")
    assert len(got) == len(rows)
    for column in got.columns:
        assert [None if pd.isna(v) else v for v in got[column]] == [None if pd.isna(v) else v
                                                                    for v in want[column]], column
    statuses = set(got["spend_30d__status"])
    assert statuses == {"present", "not_found"} | ({"outside_ttl"} if online_kind != "redis" else set())
    assert set(got["visits__status"]) == {"present", "not_found"}
    assert str(got["age"].dtype) == "Int64" and str(got["spend_30d"].dtype) == "float64"


def test_entity_rows_are_checked(fraud):
    fs, _ = fraud
    with pytest.raises(ValidationError, match="entity_rows\\[1\\] has no key column 'merchant_id'"):
        fs.get_online_features("fraud", [{"customer_id": 1, "merchant_id": "m1"}, {"customer_id": 2}])
    with pytest.raises(ValidationError, match="entity_rows\\[0\\]"):
        fs.get_online_features("fraud", [{"customer_id": "seven", "merchant_id": "m1"}])
    with pytest.raises(ValidationError, match="list of dicts"):
        fs.get_online_features("fraud", {"customer_id": 1, "merchant_id": "m1"})
    with pytest.raises(NotFound):
        fs.get_online_features("missing", [{"customer_id": 1}])
    # A DataFrame of entity rows, and a null key, which finds nothing.
    frame = pd.DataFrame({"customer_id": [5, None], "merchant_id": ["m1", "m2"]}).astype({"customer_id": "Int64"})
    got = fs.get_online_features("fraud", frame.astype(object).where(frame.notna(), None))
    assert list(got["age__status"])[1] == "not_found" and list(got["visits__status"])[1] == "not_found"
    assert fs.get_online_features("fraud", []).empty


def test_training_rows_equal_the_online_vector_now(fraud):
    fs, data = fraud
    rng = np.random.default_rng(5)
    rows = [{"customer_id": int(c), "merchant_id": f"m{m}"}
            for c, m in zip(rng.integers(1, CUSTOMERS + 10, 600), rng.integers(0, MERCHANTS + 1, 600))]
    online = fs.get_online_features("fraud", rows)
    entity = pd.DataFrame(rows).assign(event_time=pd.Timestamp.now(tz="UTC"))
    ds = fs.build_dataset(entity, "service:fraud", name="fraud-train")
    offline = ds.to_pandas()
    features = [c for c in online.columns if c not in ("customer_id", "merchant_id") and not c.endswith("__status")]
    assert offline.columns.tolist() == ["customer_id", "merchant_id", "event_time"] + features
    for column in features:
        assert offline[column].dtype == online[column].dtype, column
        assert [None if pd.isna(v) else v for v in offline[column]] == \
               [None if pd.isna(v) else v for v in online[column]], column
    assert ds.definition["service"] == {"name": "fraud", "version": 1}
    graph = fs.lineage("feature_service:fraud", depth=1)
    assert f"dataset:{ds.id}" in {n["id"] for n in graph.nodes}
    # A version may be named, and rebuilding the dataset reads the same features.
    assert fs.build_dataset(entity, "service:fraud@1", record=False).columns == ds.columns
    assert fs.rebuild_dataset(ds.id).columns == ds.columns


def test_every_group_is_read_batched_and_in_one_snapshot(fraud, online_kind, monkeypatch):
    """One ``many_groups`` call reads every group for all entity rows. Where the online rows live in
    the store's database, it runs inside one read transaction, one batch read per group (and one
    more for the keys found nothing, to tell an expired record); a Redis or PostgreSQL online store
    makes the snapshot itself (tests/retrieval/test_feature_services_snapshot.py shows how)."""
    from contextlib import contextmanager

    from store.online import base, sqlite

    fs, _ = fraud
    db = fs._ctx.db
    seen = {"open": 0, "depth": 0, "reads": [], "calls": []}
    real = db.read

    @contextmanager
    def read():
        seen["open"] += 1
        seen["depth"] += 1
        try:
            with real() as conn:
                yield conn
        finally:
            seen["depth"] -= 1

    def spy(original):
        def many(self, ids, now):
            seen["reads"].append((self.group.name, len(ids), seen["depth"]))
            return original(self, ids, now)
        return many

    backend = fs._ctx.online
    real_groups = backend.many_groups

    def many_groups(requests, now):
        seen["calls"].append(([(r.group.name, len(ids)) for r, ids in requests], seen["depth"]))
        return real_groups(requests, now)

    monkeypatch.setattr(db, "read", read)
    monkeypatch.setattr(backend, "many_groups", many_groups)
    monkeypatch.setattr(base.Reader, "many", spy(base.Reader.many))
    monkeypatch.setattr(sqlite.DatabaseReader, "many", spy(sqlite.DatabaseReader.many))
    rows = [{"customer_id": c, "merchant_id": f"m{c % MERCHANTS}"} for c in range(1, 2 * CUSTOMERS, 2)]
    got = fs.get_online_features("fraud", rows)
    assert len(got) == len(rows) and (got["age__status"] == "present").sum() > 50
    assert len(seen["calls"]) == 1
    asked, depth = seen["calls"][0]
    assert asked == [("customers", len(rows)), ("customer_spend", len(rows)), ("customer_merchant", len(rows))]
    if online_kind == "sqlite":  # the rows are in the store's own database (SQLite or PostgreSQL)
        groups = [g for g, _, _ in seen["reads"]]
        assert sorted(set(groups)) == ["customer_merchant", "customer_spend", "customers"]
        assert all(groups.count(g) <= 2 for g in set(groups))  # batched: not one read per entity row
        assert seen["open"] == 1 and depth == 1 and all(d == 1 for _, _, d in seen["reads"])
    else:  # a Redis or PostgreSQL online store: no group read on its own, no store transaction held
        assert seen["reads"] == [] and depth == 0


def test_a_service_names_what_its_groups_no_longer_have(fraud):
    fs, _ = fraud
    entity = pd.DataFrame({"customer_id": [5], "merchant_id": ["m1"], "event_time": [pd.Timestamp.now(tz="UTC")]})
    with pytest.raises(NotFound, match="no version 7"):
        fs.build_dataset(entity, "service:fraud@7", record=False)
    with pytest.raises(ValidationError, match="whole number"):
        fs.build_dataset(entity, "service:fraud@latest", record=False)
    with pytest.raises(ValidationError, match="prefix_features"):
        fs.build_dataset(entity, "service:fraud", record=False, prefix_features=True)
    with pytest.raises(ValidationError, match="Feature service.s. fraud read visits of 'customer_merchant'"):
        fs.change_features("customer_merchant", rename={"visits": "visit_count"})
    fs.update_feature_service("fraud", features=FEATURES[:3])  # version 2 leaves visits out: the rename may go
    fs.change_features("customer_merchant", rename={"visits": "visit_count"})
    for call in (lambda: fs.get_online_features("fraud", [{"customer_id": 5, "merchant_id": "m1"}], version=1),
                 lambda: fs.build_dataset(entity, "service:fraud@1", record=False)):
        with pytest.raises(ValidationError, match="reads customer_merchant:visits, which 'customer_merchant' no "
                                                  "longer has; update the service"):
            call()
    fs.update_feature_service("fraud", features=[*FEATURES[:3], "customer_merchant:visit_count"])
    got = fs.get_online_features("fraud", [{"customer_id": 5, "merchant_id": "m1"}])
    assert "visit_count" in got.columns and "visits" not in got.columns


def test_keys_come_back_typed_as_the_groups_key_them(fraud):
    fs, _ = fraud
    frame = pd.DataFrame({"customer_id": [5, 6, 7], "merchant_id": ["m1", "m2", "m3"]})  # numpy int64 keys
    got = fs.get_online_features("fraud", frame)
    assert got["customer_id"].tolist() == [5, 6, 7] and str(got["customer_id"].dtype) == "Int64"
    as_text = fs.get_online_features("fraud", [{"customer_id": "5", "merchant_id": "m1"}])
    assert as_text["customer_id"].tolist() == [5]  # converted as the identifier is, as a dataset converts it
    assert as_text.drop(columns="customer_id").equals(got.head(1).drop(columns="customer_id"))
    partial = fs.get_online_features("fraud", [{"customer_id": None, "merchant_id": "m1"}])
    assert partial["merchant_id"].tolist() == ["m1"] and pd.isna(partial["customer_id"].iloc[0])
    assert partial["visits__status"].tolist() == ["not_found"]


def test_a_feature_a_service_reads_cannot_be_dropped_or_renamed_from_under_it(tmp_path):
    fs = FeatureStore(str(tmp_path / "s"))
    fs.create_feature_group("g", "id", "ts", [Feature("id", "Integral"), Feature("ts", "String"),
                                               Feature("a", "Integral"), Feature("b", "Integral")])
    fs.create_feature_service("svc", ["g:a"])
    for change in (dict(drop=["a"]), dict(rename={"a": "aa"})):
        with pytest.raises(ValidationError, match="Feature service.s. svc read a of 'g'"):
            fs.change_features("g", **change)
    fs.change_features("g", rename={"b": "bb"})  # a feature no service reads changes freely
    fs.delete_feature_service("svc")
    fs.delete_feature_group("g")
    fs.close()
