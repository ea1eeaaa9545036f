"""Schema proposals: a group created from a file always ingests that same file, whatever the file
holds (booleans, epochs, offsets, lists, unicode, nulls, odd column names)."""
from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from datafiles import devices, odd_headers, write_csv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store import FeatureStore, ValidationError
from store.ingest.infer import propose, propose_file
from store.model.schema import feature_name

TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff"), min_size=1, max_size=12)
OFFSETS = ["Z", "+00:00", "+05:30", "-08:00", ""]


@st.composite
def frames(draw):
    """A DataFrame of random columns (and which of them is the event time, in which form)."""
    n = draw(st.integers(1, 40))
    columns: dict[str, list] = {"record_id": list(range(1, n + 1))}
    kinds = draw(st.lists(st.sampled_from(["int", "float", "bool", "text", "list", "epoch", "code"]),
                          min_size=1, max_size=6))
    for i, kind in enumerate(kinds):
        nullable = draw(st.booleans())

        def cell(strategy):
            return st.one_of(st.none(), strategy) if nullable else strategy

        if kind == "int":
            values = draw(st.lists(cell(st.integers(-(2**62), 2**62)), min_size=n, max_size=n))
        elif kind == "float":
            values = draw(st.lists(cell(st.floats(-1e12, 1e12, allow_nan=False).map(lambda f: round(f, 6))),
                                   min_size=n, max_size=n))
        elif kind == "bool":
            values = draw(st.lists(cell(st.booleans()), min_size=n, max_size=n))
        elif kind == "text":
            values = draw(st.lists(cell(TEXT), min_size=n, max_size=n))
        elif kind == "list":
            values = draw(st.lists(cell(st.lists(st.integers(-1000, 1000), max_size=4)), min_size=n, max_size=n))
        elif kind == "epoch":
            values = draw(st.lists(cell(st.integers(0, 4_000_000_000)), min_size=n, max_size=n))
        else:  # codes with leading zeros
            values = draw(st.lists(cell(st.integers(0, 9999).map(lambda v: f"0{v:04d}")), min_size=n, max_size=n))
        columns[f"{kind} {i}" if draw(st.booleans()) else f"{kind}_{i}"] = values
    seconds = draw(st.lists(st.integers(0, 3_000_000_000), min_size=n, max_size=n))
    form = draw(st.sampled_from(["iso", "epoch", "naive", "timestamp"]))
    if form == "iso":
        offsets = draw(st.lists(st.sampled_from(OFFSETS), min_size=n, max_size=n))
        stamps = pd.to_datetime(seconds, unit="s", utc=True)
        columns["event_time"] = [t.strftime("%Y-%m-%dT%H:%M:%S") + o for t, o in zip(stamps, offsets)]
        # The text names a local time at that offset: the instant is that local time minus it.
        seconds = [int(pd.Timestamp(text if o else text + "Z").timestamp()) for text, o in zip(columns["event_time"], offsets)]
    elif form == "naive":
        columns["updated_at"] = list(pd.to_datetime(seconds, unit="s").strftime("%Y-%m-%d %H:%M:%S"))
    elif form == "epoch":
        columns["ts"] = seconds
    else:
        columns["event_time"] = list(pd.to_datetime(seconds, unit="s", utc=True))
    return pd.DataFrame(columns), seconds


def _write(frame: pd.DataFrame, path: str, as_parquet: bool) -> str:
    if as_parquet:
        out = frame.copy()
        for name in out.columns:
            if name.startswith(("bool", "int", "epoch")) and out[name].isna().any():
                out[name] = out[name].astype("boolean" if name.startswith("bool") else "Int64")
        out.to_parquet(path, index=False)
        return path
    out = frame.copy()
    for name in out.columns:
        if name.startswith("list"):
            out[name] = [None if v is None else "[" + ", ".join(map(str, v)) + "]" for v in out[name]]
        elif name.startswith("bool"):
            out[name] = [None if v is None else ("true" if v else "false") for v in out[name]]
        elif name.startswith(("int", "epoch")):
            out[name] = [None if v is None or (isinstance(v, float) and math.isnan(v)) else str(int(v)) for v in out[name]]
    if "event_time" in out.columns and not isinstance(out["event_time"].iloc[0], str):
        return ""  # timestamps are a Parquet form
    write_csv(out, path)
    return path


@settings(max_examples=int(os.environ.get("ROUNDTRIP_EXAMPLES", 60)), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=frames(), as_parquet=st.booleans())
def test_a_group_created_from_a_file_ingests_that_file(tmp_path_factory, data, as_parquet):
    frame, seconds = data
    folder = tmp_path_factory.mktemp("roundtrip")
    path = _write(frame, str(folder / ("data.parquet" if as_parquet else "data.csv")), as_parquet)
    if not path:
        return
    proposal = propose_file(path)
    assert proposal.record_identifier == "record_id" and proposal.event_time is not None
    with FeatureStore(folder / "store") as fs:
        group = fs.create_feature_group("g", "record_id", proposal.event_time, dataframe=path)
        report = fs.ingest("g", path)
        assert report.rows_rejected == 0 and report.rows_written == len(frame)
        back = fs.as_of("g", include_metadata=True).set_index("record_id").loc[frame["record_id"]]
        events = fs.query("SELECT record_id, epoch_us(_event_time) AS us FROM g ORDER BY record_id")["us"].tolist()
        assert events == [s * 1_000_000 for s in seconds]
        for column in frame.columns:
            name = proposal.features[proposal.source_columns.index(column)]["name"]
            if name not in (proposal.event_time, "record_id"):
                _same(frame[column].tolist(), back[name].tolist(), group.feature(name).type, column)


def _same(sent: list, stored: list, kind: str, column: str) -> None:
    for a, b in zip(sent, stored):
        if a is None or (isinstance(a, float) and math.isnan(a)):
            assert b is None or b is pd.NA or (isinstance(b, float) and math.isnan(b)), column
        elif column.startswith("bool"):
            assert b == int(a), column
        elif column.startswith("list"):
            assert list(b) == list(a), column
        elif kind == "Integral":
            text = isinstance(a, str)
            assert b == (int(a) if not text else {"true": 1, "false": 0}.get(a.strip().lower(), None)
                         if a.strip().lower() in ("true", "false", "yes", "no") else int(a.strip())), column
        elif kind == "Fractional":
            assert b == pytest.approx(float(a)), column
        else:
            assert b == str(a), column


def test_devices_file_proposal_and_round_trip(tmp_path):
    path = write_csv(devices(), tmp_path / "devices.csv")
    proposal = propose_file(path)
    types = {f["name"]: (f["type"], f.get("collection")) for f in proposal.features}
    assert proposal.record_identifier == "device_id" and proposal.event_time == "seen_at"
    assert types["active"] == types["rooted"] == ("Integral", None)  # true/false -> 1/0
    assert types["zip_code"] == ("String", None) and types["apps"] == ("Integral", "List")
    assert types["seen_at"] == ("String", None) and types["last_boot"] == ("Integral", None)
    with FeatureStore(tmp_path / "s") as fs:
        fs.create_feature_group("devices", proposal.record_identifier, proposal.event_time, dataframe=path)
        report = fs.ingest("devices", path)
        assert report.rows_written == 200 and report.rows_rejected == 0
        one = fs.get_record("devices", "dev-00000")
        frame = devices()
        assert one["active"] == (frame["active"][0] == "true") and one["zip_code"] == frame["zip_code"][0]
        assert one["seen_at"].endswith("Z")  # stored in the canonical form, converted to UTC


def test_invalid_column_names_get_feature_names_and_ingest_maps_them(tmp_path):
    path = write_csv(odd_headers(), tmp_path / "commandes.csv", encoding="cp1252", sep=";")
    proposal = propose_file(path)
    assert proposal.columns == {"Order ID": "Order_ID", "Prénom client": "Prenom_client",
                                "Montant (€)": "Montant", "year": "year_value"}
    assert proposal.event_time == "Horodatage" and proposal.record_identifier == "Order_ID"
    with FeatureStore(tmp_path / "s") as fs:
        g = fs.create_feature_group("orders", "Order ID", "Horodatage", dataframe=path)
        assert g.record_identifier == "Order_ID"
        report = fs.ingest("orders", path)  # no mapping given: the sanitised names are found
        assert report.rows_written == 300 and fs.get_record("orders", 1)["Prenom_client"] in {"Zoé", "Hélène", "François"}


def test_feature_names_are_valid_unique_and_stable():
    taken: set[str] = set()
    names = [feature_name(c, taken) for c in ["a b", "a_b", "ünïcode", "名前", "-x-", "hour", "ok", "a b"]]
    assert names == ["a_b", "a_b_2", "unicode", "column", "x", "hour_value", "ok", "a_b_3"]
    assert feature_name("x" * 80, set()) == "x" * 64


def test_typed_columns_keep_their_types_and_impossible_ones_are_named():
    table = pa.table({"id": [1, 2], "when": pa.array([1, 2], pa.timestamp("s", "UTC")), "birthday": pa.array([1, 2], pa.date32()),
                      "flag": [True, False], "vec": [[1.0], [2.0]]})
    proposal = propose(table)
    types = {f["name"]: (f["type"], f.get("collection")) for f in proposal.features}
    assert proposal.event_time == "when" and types["when"] == ("String", None) and types["birthday"] == ("String", None)
    assert types["flag"] == ("Integral", None) and types["vec"] == ("Fractional", "List")
    with pytest.raises(ValidationError, match="'blob'.*no feature type"):
        propose(pa.table({"id": [1], "blob": pa.array([{"a": 1}])}))


def test_a_time_named_column_with_a_few_bad_values_is_still_guessed(tmp_path):
    rows = [f"{i},2026-11-0{1 + i % 9}T10:00:00Z" for i in range(40)] + ["41,not a time"]
    path = tmp_path / "t.csv"
    path.write_text("id,seen_at\n" + "\n".join(rows) + "\n")
    assert propose_file(str(path)).event_time == "seen_at"


def test_numbers_with_leading_zeros_stay_text_and_large_files_are_sampled(tmp_path):
    n = 50_000
    frame = pd.DataFrame({"id": np.arange(n), "code": [f"{i % 1000:04d}" for i in range(n)],
                          "ts": 1_700_000_000 + np.arange(n)})
    path = write_csv(frame, tmp_path / "big.csv")
    proposal = propose_file(path, sample_rows=1000)
    assert [f["type"] for f in proposal.features] == ["Integral", "String", "Fractional"]
    assert os.path.getsize(path) > 1_000_000
