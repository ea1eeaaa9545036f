"""On-demand features: SQL expressions and Python functions (pandas and plain-Python modes) over
group features and request values, registered with their source and versions, computed by the
same definition in a service's online vector and in ``build_dataset``; typed and checked, an error
naming the function and the entity row, never a silent null.

The store: ``customers`` (age, segment) and ``customer_spend`` (a 30-day average amount, a TTL of
ten days) with months of history for 200 customers; transactions carry the request's amount."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from store import Conflict, Feature, FeatureStore, NotFound, OnDemandFeature, ValidationError, on_demand

pytestmark = [pytest.mark.online]

CUSTOMERS = 200


@on_demand(inputs=["customer_spend:avg_amount_30d", "customers:age"], request={"amount": "Fractional"},
           outputs=[Feature("amount_z", "Fractional"), Feature("young_big_spender", "Integral")],
           description="How far this amount is from the customer's usual")
def spend_shape(df):
    ratio = df["amount"] / df["avg_amount_30d"]
    return pd.DataFrame({"amount_z": ratio.round(4),
                         "young_big_spender": ((df["age"] < 30) & (ratio > 3)).astype("Int64")})


@on_demand(inputs=["customers:segment"], outputs=[Feature("segment_code", "Integral")], mode="python")
def segment_code(batch):
    codes = {"gold": 2, "silver": 1}
    return {"segment_code": [None if s is None else codes.get(s, 0) for s in batch["segment"]]}


AMOUNT_VS_AVG = OnDemandFeature(
    "amount_vs_avg", inputs=["customer_spend:avg_amount_30d"], request={"amount": "Fractional"},
    outputs=[Feature("amount_vs_avg_30d", "Fractional"), Feature("over_double", "Integral"),
             Feature("size", "String")],
    sql={"amount_vs_avg_30d": "amount / NULLIF(avg_amount_30d, 0)",
         "over_double": "CASE WHEN amount > 2 * avg_amount_30d THEN 1 ELSE 0 END",
         "size": "CASE WHEN amount >= 1000 THEN 'large' WHEN amount >= 100 THEN 'medium' ELSE 'small' END"})


def make(fs: FeatureStore) -> pd.Timestamp:
    fs.create_feature_group("customers", "customer_id", "ts", [
        Feature("customer_id", "Integral"), Feature("ts"), Feature("age", "Integral"), Feature("segment")])
    fs.create_feature_group("customer_spend", "customer_id", "ts", [
        Feature("customer_id", "Integral"), Feature("ts"), Feature("avg_amount_30d", "Fractional")],
        ttl=10 * 86400)
    rng = np.random.default_rng(11)
    now = pd.Timestamp.now(tz="UTC").floor("s")
    n = 3000
    ts = lambda: (now - pd.to_timedelta(rng.integers(3600, 90 * 86400, n), unit="s")).strftime("%Y-%m-%dT%H:%M:%SZ")
    fs.ingest("customers", pd.DataFrame({"customer_id": rng.integers(1, CUSTOMERS, n), "ts": ts(),
                                         "age": rng.integers(18, 80, n),
                                         "segment": rng.choice(["gold", "silver", "bronze", "ünï"], n)}))
    avg = rng.gamma(2.0, 40.0, n).round(2)
    avg[rng.random(n) < 0.05] = 0.0  # a zero average: NULLIF gives null, pandas gives inf
    fs.ingest("customer_spend", pd.DataFrame({"customer_id": rng.integers(1, CUSTOMERS, n), "ts": ts(),
                                              "avg_amount_30d": avg}))
    for feature in (spend_shape, segment_code, AMOUNT_VS_AVG):
        fs.register_on_demand(feature)
    fs.create_feature_service("fraud", ["customers:age", "customer_spend:*", "on_demand:spend_shape",
                                        "on_demand:segment_code", "on_demand:amount_vs_avg"])
    return now


@pytest.fixture
def fs(tmp_path):
    with FeatureStore(str(tmp_path / "store")) as store:
        make(store)
        yield store


def entity_frame(n: int, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, CUSTOMERS + 20, n)  # some never written
    amounts = rng.gamma(2.0, 150.0, n).round(2)
    amounts[::13] *= 20  # some large ones
    return pd.DataFrame({"customer_id": ids, "amount": amounts})


def test_online_vector_equals_the_dataset_row_on_demand_included(fs):
    entity = entity_frame(300)
    online = fs.get_online_features("fraud", entity.to_dict("records"))
    entity["event_time"] = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    offline = fs.build_dataset(entity, "service:fraud", record=False).to_pandas()
    columns = ["age", "avg_amount_30d", "amount_z", "young_big_spender", "segment_code", "amount_vs_avg_30d",
               "over_double", "size"]
    assert [c for c in online.columns if not c.endswith("__status") and c != "customer_id"] == \
        ["age", "segment", "avg_amount_30d", "amount_z", "young_big_spender", "segment_code",
         "amount_vs_avg_30d", "over_double", "size"]
    pd.testing.assert_frame_equal(online[columns].reset_index(drop=True), offline[columns].reset_index(drop=True),
                                  check_dtype=True)
    assert online["amount_vs_avg_30d"].notna().sum() > 100 and online["amount_vs_avg_30d"].isna().sum() > 10
    assert np.isinf(online["amount_z"].astype(float)).sum() >= 1  # pandas: x / 0.0 is inf, on both paths
    assert set(online["size"].dropna()) == {"small", "medium", "large"}


def test_one_row_fast_path_and_the_batch_path_agree(fs):
    entity = entity_frame(60, seed=8)
    rows = entity.to_dict("records")
    batch = fs.get_online_features("fraud", rows, as_dict=True)
    for i, row in enumerate(rows):
        one = fs.get_online_features("fraud", [row], as_dict=True)
        for column in batch["features"]:
            a, b = one["values"][column][0], batch["values"][column][i]
            assert a == b or (a != a and b != b), (column, row, a, b)
            assert one["statuses"][column][0] == batch["statuses"][column][i]


def test_as_dict_gives_values_statuses_and_event_times(fs):
    got = fs.get_online_features("fraud", [{"customer_id": 3}, {"customer_id": 10_000}], request={"amount": 50.0},
                                 as_dict=True)
    assert got["keys"] == ["customer_id"] and got["values"]["customer_id"] == [3, 10_000]
    assert got["statuses"]["age"] == ["present", "not_found"]
    assert got["statuses"]["segment_code"] == ["present", "not_found"]  # the worst of its inputs
    assert got["values"]["age"][1] is None and got["values"]["segment_code"][1] is None
    assert got["event_times"]["age"][0] > 1_700_000_000_000_000 and got["event_times"]["age"][1] is None
    assert got["values"]["size"] == ["small", "small"]  # computed from the request alone


def test_request_values_per_row_from_the_rows_or_a_list(fs):
    rows = [{"customer_id": 3, "amount": 2000}, {"customer_id": 4}]
    got = fs.get_online_features("fraud", rows, request=[{}, {"amount": "150.5"}], as_dict=True)
    assert got["values"]["size"] == ["large", "medium"]  # 2000 (an int) and "150.5" (text) as Fractional
    with pytest.raises(ValidationError, match=r"needs request value 'amount' \(Fractional\) for entity_rows\[1\]"):
        fs.get_online_features("fraud", rows)
    with pytest.raises(ValidationError, match="Request value 'amount' must be Fractional"):
        fs.get_online_features("fraud", [{"customer_id": 3}], request={"amount": "lots"})
    with pytest.raises(ValidationError, match="a list of 2 dicts, one per entity row"):
        fs.get_online_features("fraud", rows, request=[{"amount": 1}])
    entity = pd.DataFrame({"customer_id": [3], "event_time": ["2030-01-01T00:00:00Z"]})
    with pytest.raises(ValidationError, match="add a column 'amount' to the entity table"):
        fs.build_dataset(entity, "service:fraud", record=False)


def test_definitions_are_versioned_with_their_source_and_services_pin_a_version(fs):
    first = fs.on_demand_feature("segment_code")
    assert first.version == 1 and first.kind == "python" and "codes = {" in first.source
    assert first.source.startswith("def segment_code(batch):")  # the decorator is not part of it
    assert fs.register_on_demand(segment_code).version == 1  # unchanged: no new version

    @on_demand(inputs=["customers:segment"], outputs=[Feature("segment_code", "Integral")], mode="python",
               name="segment_code")
    def segment_code_v2(batch):
        return {"segment_code": [None if s is None else len(s) for s in batch["segment"]]}

    assert fs.register_on_demand(segment_code_v2).version == 2
    row = [{"customer_id": 3, "amount": 10.0}]
    segment = fs.get_online_features("fraud", row, as_dict=True)["values"]["segment"][0]
    assert fs.get_online_features("fraud", row, as_dict=True)["values"]["segment_code"][0] == \
        {"gold": 2, "silver": 1}.get(segment, 0)  # the service still runs version 1
    fs.update_feature_service("fraud", features=["customers:age", "customer_spend:*", "on_demand:spend_shape",
                                                 "on_demand:segment_code", "on_demand:amount_vs_avg"])
    assert fs.feature_service("fraud").on_demand_refs[1] == "on_demand:segment_code@2"
    assert fs.get_online_features("fraud", row, as_dict=True)["values"]["segment_code"][0] == len(segment)
    assert fs.feature_service("fraud", version=1).on_demand_refs[1] == "on_demand:segment_code@1"
    assert fs.on_demand_feature("segment_code", version=1).source == first.source
    assert [f.name for f in fs.list_on_demand_features()] == ["amount_vs_avg", "segment_code", "spend_shape"]


def test_the_stored_text_runs_not_the_notebook_globals(fs):
    threshold = 3  # noqa: F841 (a closure the stored text cannot see)

    @on_demand(inputs=["customers:age"], outputs=[Feature("older", "Integral")], mode="python")
    def older(batch):
        return {"older": [int(a > threshold) for a in batch["age"]]}  # noqa: F821

    # An empty batch runs nothing; the first real row fails, naming the function and the row.
    fs.register_on_demand(older)
    fs.create_feature_service("olds", ["customers:age", "on_demand:older"])
    with pytest.raises(ValidationError, match=r"'older' \(version 1\) failed on entity_rows\[0\] \(customer_id=3\): "
                                              r"NameError: name 'threshold' is not defined"):
        fs.get_online_features("olds", [{"customer_id": 3}])


def test_an_error_names_the_function_and_the_entity_row(fs):
    @on_demand(inputs=["customers:age"], outputs=[Feature("inverse_gap", "Fractional")], mode="python")
    def inverse_gap(batch):
        return {"inverse_gap": [None if a is None else 1 / (a - 40) for a in batch["age"]]}

    fs.register_on_demand(inverse_gap)
    fs.create_feature_service("gaps", ["customers:age", "on_demand:inverse_gap"])
    ages = fs.get_online_features("fraud", [{"customer_id": i, "amount": 1.0} for i in range(1, CUSTOMERS)],
                                  as_dict=True)
    forty = [i for i, a in zip(range(1, CUSTOMERS), ages["values"]["age"]) if a == 40]
    assert forty, "the history has a customer aged 40"
    with pytest.raises(ValidationError, match=rf"'inverse_gap' \(version 1\) failed on entity_rows\[0\] "
                                              rf"\(customer_id={forty[0]}\): ZeroDivisionError"):
        fs.get_online_features("gaps", [{"customer_id": forty[0]}])
    entity = pd.DataFrame({"customer_id": [1, 2, forty[0]], "event_time": ["2099-01-01T00:00:00Z"] * 3})
    with pytest.raises(ValidationError, match=r"'inverse_gap' \(version 1\) failed on entity row 2: ZeroDivision"):
        fs.build_dataset(entity, "service:gaps", record=False)


def test_outputs_are_typed_and_a_value_the_type_cannot_hold_is_an_error(fs):
    halves = OnDemandFeature("halves", inputs=["customers:age"], outputs=[Feature("half_age", "Integral")],
                             sql="age / 2")
    fs.register_on_demand(halves)
    fs.create_feature_service("halves", ["customers:age", "on_demand:halves"])
    rows = [{"customer_id": i} for i in range(1, 60)]
    ages = fs.get_online_features("fraud", rows, request={"amount": 1.0}, as_dict=True)["values"]["age"]
    odd = next(i for i, a in enumerate(ages) if a is not None and a % 2)
    with pytest.raises(ValidationError, match=rf"output 'half_age' on entity_rows\[{odd}\] .* cannot be Integral"):
        fs.get_online_features("halves", rows)
    even = [r for r, a in zip(rows, ages) if a is not None and a % 2 == 0]
    assert fs.get_online_features("halves", even, as_dict=True)["values"]["half_age"] == \
        [a // 2 for a in ages if a is not None and a % 2 == 0]  # 21.0 is Integral 21
    with pytest.raises(ValidationError, match="output 'x' is Fractional but its expression gives text"):
        fs.register_on_demand(OnDemandFeature("texty", inputs=["customers:segment"],
                                              outputs=[Feature("x", "Fractional")], sql="segment || '!'"))


@pytest.mark.parametrize("feature, message", [
    (OnDemandFeature("bad", inputs=["customers:nope"], outputs=[Feature("y")], sql="'a'"), "nope"),
    (OnDemandFeature("bad", inputs=["customers:age"], outputs=[Feature("y", "Integral")], sql="agee + 1"),
     "reads 'agee', which is not an input; it may read age"),
    (OnDemandFeature("bad", inputs=["customers:age"], request={"age": "Integral"}, outputs=[Feature("y", "Integral")],
                     sql="age"), "request field 'age' has an input's name"),
    (OnDemandFeature("bad", inputs=["customers:age"], outputs=[Feature("age", "Integral")], sql="age"),
     "output 'age' has an input's name"),
    (OnDemandFeature("bad", inputs=["customers:age"], outputs=[Feature("y", "Integral")],
                     sql="9223372036854775807 * (age * 2)"),  # DuckDB folds the two constants
     "fails in DuckDB even on a row of nulls, so it would fail on every row: .*Overflow"),
])
def test_bad_definitions_are_refused_naming_the_field(fs, feature, message):
    with pytest.raises((ValidationError, NotFound), match=message):
        fs.register_on_demand(feature)
    with pytest.raises(NotFound):
        fs.on_demand_feature("bad")


def test_refused_shapes_of_a_definition():
    with pytest.raises(ValidationError, match="exactly one of sql= or a Python function"):
        OnDemandFeature("x", inputs=["g:f"], outputs=[Feature("y")])
    with pytest.raises(ValidationError, match="give sql as a dict"):
        OnDemandFeature("x", inputs=["g:f"], outputs=[Feature("y"), Feature("z")], sql="f")
    with pytest.raises(ValidationError, match="must name one feature as 'group:feature'"):
        OnDemandFeature("x", inputs=["g:*"], outputs=[Feature("y")], sql="f")
    with pytest.raises(ValidationError, match="not a lambda"):
        on_demand(inputs=["g:f"], outputs=[Feature("y")])(lambda df: df)


def test_a_service_refuses_an_output_that_takes_a_column_name(fs):
    clash = OnDemandFeature("clash", inputs=["customers:age"], outputs=[Feature("avg_amount_30d", "Fractional")],
                            sql="age * 1.0")
    fs.register_on_demand(clash)
    with pytest.raises(ValidationError, match="computes 'avg_amount_30d', which is already a column of the service"):
        fs.create_feature_service("clashing", ["customer_spend:*", "on_demand:clash"])
    with pytest.raises(NotFound):
        fs.feature_service("clashing")


def test_deleting_one_a_service_uses_is_refused(fs):
    with pytest.raises(Conflict, match="used by feature service"):
        fs.delete_on_demand_feature("segment_code")
    fs.delete_feature_service("fraud")
    fs.delete_on_demand_feature("segment_code")
    with pytest.raises(NotFound):
        fs.on_demand_feature("segment_code")
    assert fs.on_demand_feature("segment_code", version=1).version == 1  # versions stay


def test_lineage_shows_inputs_the_function_and_the_service(fs):
    graph = fs.lineage()
    edges = {(e["src"], e["dst"]) for e in graph.edges}
    assert ("feature:customers.segment", "on_demand:segment_code") in edges
    assert ("on_demand:segment_code", "feature_service:fraud") in edges


def test_a_service_with_on_demand_features_builds_the_same_dataset_on_spark_columns(fs):
    entity = entity_frame(40)
    entity["event_time"] = "2099-01-01T00:00:00Z"
    got = fs.build_dataset(entity, "service:fraud", record=True)
    assert got.definition["service"] == {"name": "fraud", "version": 1,
                                         "on_demand": ["on_demand:spend_shape@1", "on_demand:segment_code@1",
                                                       "on_demand:amount_vs_avg@1"]}
    assert {"amount_z", "segment_code", "size"} <= set(got.to_pandas().columns)


def test_a_feature_an_on_demand_feature_reads_cannot_be_renamed_or_dropped_from_under_it(fs):
    fs.delete_feature_service("fraud")  # so only the on-demand features hold segment
    with pytest.raises(ValidationError, match=r"On-demand feature\(s\) segment_code read segment of 'customers'"):
        fs.change_features("customers", rename={"segment": "tier"})
    with pytest.raises(ValidationError, match=r"segment_code read segment"):
        fs.change_features("customers", drop=["segment"])
    assert "segment" in fs.feature_group("customers").feature_names  # nothing changed
    fs.delete_on_demand_feature("segment_code")
    fs.change_features("customers", rename={"segment": "tier"})


def test_a_store_from_before_on_demand_features_opens_with_its_services(tmp_path):
    """A store of schema version 10 (services without on-demand features) opens, gains the tables
    and the column, and its services read as before, computing nothing."""
    import sqlite3

    path = tmp_path / "old"
    with FeatureStore(str(path)) as fs:
        fs.create_feature_group("customers", "customer_id", "ts", [Feature("customer_id", "Integral"), Feature("ts"),
                                                                   Feature("age", "Integral")])
        fs.put_record("customers", {"customer_id": 1, "ts": "2026-12-01T00:00:00Z", "age": 33})
        fs.create_feature_service("ages", ["customers:age"])
    con = sqlite3.connect(path / "featurestore.db")
    con.executescript("""
        DROP TABLE on_demand_features; DROP TABLE on_demand_versions;
        CREATE TABLE old_versions AS SELECT name, version, features, description, tags, owner, created_us, created_by
            FROM feature_service_versions;
        DROP TABLE feature_service_versions;
        ALTER TABLE old_versions RENAME TO feature_service_versions;
        PRAGMA user_version = 10;
    """)
    con.close()
    with FeatureStore(str(path)) as fs:
        assert fs.feature_service("ages").on_demand == ()
        assert fs.get_online_features("ages", [{"customer_id": 1}], as_dict=True)["values"]["age"] == [33]
        fs.register_on_demand(OnDemandFeature("older", inputs=["customers:age"], outputs=[Feature("next_age", "Integral")],
                                              sql="age + 1"))
        fs.update_feature_service("ages", features=["customers:age", "on_demand:older"])
        assert fs.get_online_features("ages", [{"customer_id": 1}], as_dict=True)["values"]["next_age"] == [34]


def test_a_second_handle_serves_what_another_registered(tmp_path):
    """Registered in one process's handle, served by another already open (a server): its plan
    follows the registry, and it runs the stored text."""
    path = str(tmp_path / "shared")
    with FeatureStore(path) as writer, FeatureStore(path) as server:
        make(writer)
        rows = [{"customer_id": 3, "amount": 99.0}]
        first = server.get_online_features("fraud", rows, as_dict=True)
        assert first["values"] == writer.get_online_features("fraud", rows, as_dict=True)["values"]

        @on_demand(inputs=["customers:segment"], outputs=[Feature("segment_code", "Integral")], mode="python",
                   name="segment_code")
        def segment_code_v2(batch):
            return {"segment_code": [-1 for _ in batch["segment"]]}

        writer.register_on_demand(segment_code_v2)
        writer.update_feature_service("fraud", features=["customers:age", "customer_spend:*", "on_demand:spend_shape",
                                                         "on_demand:segment_code", "on_demand:amount_vs_avg"])
        assert server.get_online_features("fraud", rows, as_dict=True)["values"]["segment_code"] == [-1]


def test_a_recorded_service_dataset_reproduces_and_rebuilds_its_on_demand_columns(fs):
    entity = entity_frame(40)
    entity["event_time"] = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    built = fs.build_dataset(entity, "service:fraud", name="fraud_train", record=True).to_pandas()
    again = fs.dataset("fraud_train").to_pandas()  # reproduced from the saved entity table
    pd.testing.assert_frame_equal(again, built)
    rebuilt = fs.rebuild_dataset("fraud_train").to_pandas()
    assert list(rebuilt.columns) == list(built.columns) and {"amount_z", "segment_code", "size"} <= set(rebuilt.columns)


def test_rules_judge_computed_values_online_and_offline_alike(fs):
    checked = OnDemandFeature(
        "checked_ratio", inputs=["customer_spend:avg_amount_30d"], request={"amount": "Fractional"},
        outputs=[Feature("ratio", "Fractional"), Feature("band")],
        sql={"ratio": "amount / NULLIF(avg_amount_30d, 0)",
             "band": "CASE WHEN amount > 500 THEN 'high' ELSE 'low' END"},
        rules=[{"feature": "ratio", "check": "between", "max": 50},
               {"feature": "band", "check": "in", "values": ["low"], "severity": "warn"}])
    fs.register_on_demand(checked)
    assert fs.on_demand_feature("checked_ratio").rules == checked.rules
    fs.create_feature_service("checked", ["customer_spend:*", "on_demand:checked_ratio"])
    avg = fs.get_online_features("checked", [{"customer_id": i, "amount": 1.0} for i in range(1, CUSTOMERS)],
                                 as_dict=True)["values"]["avg_amount_30d"]
    small = next(i + 1 for i, a in enumerate(avg) if a and a < 20)
    large = next(i + 1 for i, a in enumerate(avg) if a and a > 100)
    with pytest.raises(ValidationError, match=rf"'checked_ratio' \(version 1\) computed on entity_rows\[0\] "
                                              rf"\(customer_id={small}\) a value that breaks rule ratio_between"):
        fs.get_online_features("checked", [{"customer_id": small, "amount": 2000.0}])
    now = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # within the 10-day TTL, as online
    entity = pd.DataFrame({"customer_id": [small, small], "amount": [1.0, 2000.0], "event_time": [now] * 2})
    with pytest.raises(ValidationError, match=r"computed on entity row 1 a value that breaks rule ratio_between"):
        fs.build_dataset(entity, "service:checked", record=False)
    with pytest.warns(UserWarning, match=r"1 of 1 rows break rule band_in \(severity warn: kept\)"):
        got = fs.get_online_features("checked", [{"customer_id": large, "amount": 600.0}], as_dict=True)
    assert got["values"]["band"] == ["high"]
    with pytest.warns(UserWarning, match=r"1 of 2 rows break rule band_in"):
        fs.build_dataset(entity.assign(customer_id=large, amount=[1.0, 600.0]), "service:checked", record=False)
    with pytest.raises(ValidationError, match="judges a batch or uniqueness"):
        OnDemandFeature("x", inputs=["g:f"], outputs=[Feature("y")], sql="f", rules=[{"feature": "y", "check": "unique"}])
    with pytest.raises(ValidationError, match=r"'x': a rule names a feature that is not one of its outputs \(y\)"):
        OnDemandFeature("x", inputs=["g:f"], outputs=[Feature("y")], sql="f", rules=[{"feature": "nope",
                                                                                      "check": "not_null"}])
