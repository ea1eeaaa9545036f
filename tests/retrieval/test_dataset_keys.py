"""Entity keys that cannot match are said, not joined silently: a group whose features reached no
entity row is a UserWarning (or, with ``require_coverage=``, an error that records nothing), text
keys whose conversion to Integral identifiers would merge two keys are refused, numbers joined to
String identifiers warn, and ``check_key`` tells the studio all this before a build. Rebuilds are
told apart from what they rebuild. Files like the walk's: an ``entities.csv`` of ``user_id,
label_time, churned`` against a group keyed ``customer_id`` and one keyed by zero-padded text."""
from __future__ import annotations

import warnings

import pandas as pd
import pytest

from store import Feature, ValidationError
from store.retrieval.dataset import check_key
from store.ingest.files import read_table

JAN = "2026-01-01T00:00:00Z"


@pytest.fixture
def store(fs):
    fs.create_feature_group("crm_customers", "customer_id", "event_time",
                            [Feature("customer_id", "Integral"), Feature("event_time", "String"), Feature("tier", "String")])
    fs.create_feature_group("bank_tx", "booking_no", "event_time",
                            [Feature("booking_no", "String"), Feature("event_time", "String"), Feature("amount", "Fractional")])
    fs.ingest("crm_customers", pd.DataFrame({"customer_id": [100001, 100002, 100003], "event_time": [JAN] * 3,
                                             "tier": ["gold", "silver", "gold"]}))
    fs.ingest("bank_tx", pd.DataFrame({"booking_no": ["000001", "000002", "000003"], "event_time": [JAN] * 3,
                                       "amount": [1.5, 2.5, 3.5]}))
    return fs


def entities(tmp_path, ids=range(1, 51)) -> str:
    """The walk's entity file: 50 users, none of them a crm customer, none written zero-padded."""
    path = tmp_path / "entities.csv"
    path.write_text("user_id,label_time,churned\n" + "".join(f"{i},2026-02-01T00:00:00Z,{i % 2}\n" for i in ids))
    return str(path)


def recorded(fs) -> int:
    return sum(1 for n in fs.lineage().nodes if n["kind"] == "dataset")


@pytest.mark.parametrize("group", ["crm_customers", "bank_tx"])
def test_keys_that_match_nothing_warn_naming_the_group_and_the_rows(store, tmp_path, group):
    with pytest.warns(UserWarning, match=rf"50 of 50 entity rows got no feature at all: '{group}' gave values to "
                                         r"0 of 50 rows \(key column 'user_id'") as caught:
        ds = store.build_dataset(entities(tmp_path), [group], "label_time", {group: "user_id"})
    assert caught[0].filename == __file__  # the warning points at the caller's line, not the store's
    assert ds.coverage["rows_without_any_feature"] == 50 and recorded(store) == 1  # the API still records it


@pytest.mark.parametrize("required", [True, 0.0, 0.5, 1])
def test_require_coverage_refuses_and_records_nothing(store, tmp_path, required):
    with pytest.raises(ValidationError, match=r"require_coverage wants .*'crm_customers' gave values to 0 of 50 rows"
                                              r".*Nothing was recorded") as raised:
        store.build_dataset(entities(tmp_path), ["crm_customers"], "label_time", {"crm_customers": "user_id"},
                            require_coverage=required)
    assert raised.value.context["coverage"]["groups"]["crm_customers"]["rows_with_values"] == 0
    assert recorded(store) == 0 and store.datasets() == []


def test_require_coverage_is_a_fraction_per_group(store, tmp_path):
    path = entities(tmp_path, ids=[100001, 100002, 7, 8])  # half of the rows are crm customers
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # partial coverage that was asked for is no warning
        ds = store.build_dataset(path, ["crm_customers"], "label_time", {"crm_customers": "user_id"},
                                 require_coverage=0.5, name="half")
    assert ds.coverage["groups"]["crm_customers"]["rows_with_values"] == 2 and recorded(store) == 1
    with pytest.raises(ValidationError, match=r"at least 75% of the rows from each group: 2 of 4 entity rows "
                                              r"got no feature at all: 'crm_customers' gave values to 2 of 4 rows"):
        store.build_dataset(path, ["crm_customers"], "label_time", {"crm_customers": "user_id"}, require_coverage=0.75)
    for bad in (1.5, -0.1, "yes"):
        with pytest.raises(ValidationError, match="require_coverage=.* must be a fraction from 0 to 1"):
            store.build_dataset(path, ["crm_customers"], "label_time", {"crm_customers": "user_id"},
                                require_coverage=bad)
    assert recorded(store) == 1


def test_a_group_that_reaches_no_row_warns_even_when_another_does(store, tmp_path):
    path = tmp_path / "both.csv"
    path.write_text("customer_id,booking_no,label_time\n100001,1,2026-02-01T00:00:00Z\n100002,2,2026-02-01T00:00:00Z\n")
    with pytest.warns(UserWarning, match=r"^'bank_tx' gave values to 0 of 2 rows \(key column 'booking_no'") as caught:
        ds = store.build_dataset(str(path), ["crm_customers", "bank_tx"], "label_time")
    assert len(caught) == 1 and ds.coverage["rows_without_any_feature"] == 0


def test_zero_padded_text_keys_convert_to_integral_identifiers_unless_two_become_one(store, tmp_path):
    path = tmp_path / "padded.csv"
    path.write_text("user_id,label_time\n0100001,2026-02-01T00:00:00Z\n100002,2026-02-01T00:00:00Z\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = store.build_dataset(str(path), ["crm_customers"], "label_time", {"crm_customers": "user_id"})
    assert ds.to_pandas()["tier"].tolist() == ["gold", "silver"]
    path.write_text("user_id,label_time\n0100001,2026-02-01T00:00:00Z\n100001,2026-02-01T00:00:00Z\n")
    with pytest.raises(ValidationError, match=r"Entity column 'user_id' holds '0100001' and '100001', which are the "
                                              r"same 'crm_customers' identifier 100001"):
        store.build_dataset(str(path), ["crm_customers"], "label_time", {"crm_customers": "user_id"})
    assert recorded(store) == 1


def test_numbers_joined_to_string_identifiers_warn_about_the_types(store):
    frame = pd.DataFrame({"user_id": [1, 2, 3], "label_time": ["2026-02-01T00:00:00Z"] * 3})
    with pytest.warns(UserWarning) as caught:
        store.build_dataset(frame, ["bank_tx"], "label_time", {"bank_tx": "user_id"}, record=False)
    messages = [str(w.message) for w in caught]
    assert messages[0].startswith("Entity column 'user_id' holds numbers (int64) but 'bank_tx' identifiers are "
                                  "String: they are joined as text written plainly ('1', '2', '3')")
    assert "'bank_tx' gave values to 0 of 3 rows" in messages[1]
    text = frame.assign(user_id=["000001", "000002", "000009"])  # written like the identifiers: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = store.build_dataset(text, ["bank_tx"], "label_time", {"bank_tx": "user_id"}, record=False)
    assert ds.to_pandas()["amount"].tolist()[:2] == [1.5, 2.5]


def test_check_key_says_before_a_build_what_the_join_would_do(store, tmp_path):
    head = read_table(entities(tmp_path), rows=1000)  # as the studio previews it: CSV columns as text
    assert check_key(store._ctx, head, "user_id", "crm_customers").problem is None  # numbers as numbers: only coverage can tell
    padded = check_key(store._ctx, head, "user_id", "bank_tx")
    assert padded.problem == ("'user_id' holds keys like '1', but 'bank_tx' identifiers are zero-padded to 6 digits "
                              "('000001', '000002', '000003'): as they are, such keys match no identifier; padded "
                              "with zeros, '1' becomes '000001'")
    assert padded.pad_to == 6 and padded.conversion[0] == {"in the file": "1", "joined as": "000001"}
    too_long = check_key(store._ctx, pd_table({"user_id": ["1", "1234567"]}), "user_id", "bank_tx")
    assert too_long.pad_to is None and "'1234567' cannot be padded to 6 digits" in too_long.problem
    numbers = check_key(store._ctx, pd_table({"user_id": [1, 2]}), "user_id", "bank_tx")
    assert numbers.pad_to == 6 and numbers.conversion[0] == {"in the file": 1, "joined as": "000001"}
    store.create_feature_group("codes", "code", "event_time", [Feature("code", "String"), Feature("event_time", "String")])
    store.ingest("codes", pd.DataFrame({"code": ["7", "x9"], "event_time": [JAN] * 2}))
    numbers = check_key(store._ctx, pd_table({"user_id": [1, 2]}), "user_id", "codes")
    assert "holds numbers (int64), but 'codes' identifiers are text ('7', 'x9')" in numbers.problem
    assert numbers.conversion == [{"in the file": 1, "joined as": "1"}, {"in the file": 2, "joined as": "2"}]
    zeros = check_key(store._ctx, pd_table({"user_id": ["0100001", "100002"]}), "user_id", "crm_customers")
    assert "holds text like '0100001'" in zeros.problem and zeros.conversion == [
        {"in the file": "0100001", "joined as": 100001}] and zeros.refused is None
    merged = check_key(store._ctx, pd_table({"user_id": ["0100001", "100001"]}), "user_id", "crm_customers")
    assert "which are the same 'crm_customers' identifier 100001" in merged.refused
    words = check_key(store._ctx, pd_table({"user_id": ["abc"]}), "user_id", "crm_customers")
    assert "'abc' is not an integer" in words.refused


def pd_table(columns: dict):
    import pyarrow as pa

    return pa.table(columns)


def test_a_rebuild_is_told_apart_and_keeps_the_original_source(store, tmp_path):
    path = entities(tmp_path, ids=[100001, 100002])
    ds = store.build_dataset(path, ["crm_customers"], "label_time", {"crm_customers": "user_id"},
                             name="churn_training_v1")
    fresh = store.rebuild_dataset(ds.id)
    assert fresh.name.startswith("churn_training_v1 (rebuilt 20") and fresh.name != ds.name
    listed = {d["id"]: d for d in store.datasets()}
    assert listed[fresh.id]["entity_source"] == "entities.csv"  # not "Arrow table", the copy it was rebuilt from
    assert listed[fresh.id]["rebuild_of"] == ds.id and listed[ds.id]["rebuild_of"] is None
    assert fresh.definition["rebuild_of"] == ds.id and fresh.definition["entity_source"] == "entities.csv"
    sources = {n["name"] for n in store.lineage(f"dataset:{fresh.id}", 1).nodes if n["kind"] == "source"}
    assert sources == {"entities.csv"}
    again = store.rebuild_dataset(fresh.id)
    assert again.name.startswith("churn_training_v1 (rebuilt 20") and again.name.count("rebuilt") == 1
    assert again.definition["rebuild_of"] == fresh.id
    assert store.rebuild_dataset(ds.id, name="v2").name == "v2"
    assert store.dataset("churn_training_v1").id == ds.id  # the name still finds the original


def test_the_group_lineage_does_not_walk_through_a_shared_writer(store):
    store.put_record("crm_customers", {"customer_id": 5, "event_time": JAN, "tier": "gold"})
    store.put_record("bank_tx", {"booking_no": "000009", "event_time": JAN, "amount": 1.0})
    ids = store.lineage("feature_group:crm_customers", depth=3).node_ids()
    assert f"writer:{store.writer}" in ids and "feature_group:bank_tx" not in ids
    assert "feature_group:bank_tx" in store.lineage(f"writer:{store.writer}", depth=1).node_ids()


def test_the_cli_warns_on_stderr_and_can_require_coverage(store, tmp_path):
    from click.testing import CliRunner

    from store.cli import main

    runner = CliRunner()
    args = ["--store", store.path, "dataset", entities(tmp_path), "-f", "crm_customers", "-k", "crm_customers=user_id",
            "--event-time-column", "label_time", "-o", str(tmp_path / "d.parquet")]
    result = runner.invoke(main, args)
    assert result.exit_code == 0 and "Warning: 50 of 50 entity rows got no feature at all" in result.stderr
    result = runner.invoke(main, [*args, "--require-coverage", "0.5"])
    assert result.exit_code == 1 and "require_coverage wants at least 50% of the rows" in result.output
    assert recorded(store) == 1


def test_pad_keys_joins_numbers_zero_padded_like_the_identifiers(store, tmp_path):
    path = entities(tmp_path, ids=[1, 2, 9])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = store.build_dataset(path, ["bank_tx"], "label_time", {"bank_tx": "user_id"}, pad_keys={"bank_tx": 6},
                                 name="padded")
    frame = ds.to_pandas()
    assert frame["amount"].tolist()[:2] == [1.5, 2.5] and pd.isna(frame["amount"][2])
    assert frame["user_id"].tolist() == ["1", "2", "9"]  # the entity column as given; only the join pads
    ints = pd.DataFrame({"user_id": [1, 3], "label_time": ["2026-02-01T00:00:00Z"] * 2})
    assert store.build_dataset(ints, ["bank_tx"], "label_time", {"bank_tx": "user_id"}, pad_keys={"bank_tx": 6},
                               record=False).to_pandas()["amount"].tolist() == [1.5, 3.5]
    assert store.rebuild_dataset(ds.id).to_pandas()["amount"].tolist()[:2] == [1.5, 2.5]  # the rebuild pads too
    refusals = [({"bank_tx": 0}, "must be a number of digits from 1 to 64"),
                ({"crm_customers": 6}, "'crm_customers' identifiers are Integral"),
                ({"bank_tx": 6}, r"row 1 = 'x1' cannot be padded to 6 digits"),
                ({"bank_tx": 2}, r"row 0 = '100' cannot be padded to 2 digits"),
                ({"bank_tx": 6, "nope": 3}, r"pad_keys names \['nope'\], which the features do not join")]
    for pad, message in refusals:
        frame = pd.DataFrame({"user_id": ["100", "x1"] if "x1" in message else ["100", "1"],
                              "label_time": ["2026-02-01T00:00:00Z"] * 2})
        group = next(g for g in pad if g != "nope")
        with pytest.raises(ValidationError, match=message):
            store.build_dataset(frame, [group], "label_time", {group: "user_id"}, pad_keys=pad, record=False)
