"""Dates as other tools write them (issue 20, F1) and the Create/ingest findings around them
(F12, F13, F17, F28, F24): a bank's day-first Windows-1252 export is proposed with its event
time and format, the format is kept with the group, and the same export ingests again with no
choice; month-first and ambiguous files; values that do not read are refused per row, never guessed."""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from click.testing import CliRunner

from day_first_files import ambiguous_frame, bank_frame, write_bank
from store import FeatureStore
from store.model.coerce import ColumnProblem, coerce_column, coerce_scalar
from store.errors import IngestRejected, ValidationError
from store.ingest.infer import propose_data, propose_file
from store.model.schema import Feature

DAY_FIRST = "%d.%m.%Y %H:%M"
US = "%m/%d/%Y %I:%M %p"


@pytest.fixture
def store(tmp_path):
    fs = FeatureStore(tmp_path / "store")
    yield fs
    fs.close()


@pytest.fixture
def bank(tmp_path):
    frame = bank_frame()
    return frame, write_bank(tmp_path / "bank_export.csv", frame)


def iso(when: pd.Series) -> list[str]:
    return when.dt.strftime("%Y-%m-%dT%H:%M:%SZ").tolist()


def stored_times(fs: FeatureStore, group: str) -> list[str]:
    g = fs.feature_group(group)
    frame = fs.query(f'SELECT "{g.event_time}" AS t FROM "{group}" ORDER BY "{g.record_identifier}"')
    return frame["t"].tolist()


# ----------------------------------------------------------------------------- F1: proposing


def test_a_day_first_export_is_proposed_with_its_event_time_and_format(bank):
    _, path = bank
    proposal = propose_file(path)
    assert proposal.event_time == "Buchungsdatum"
    assert proposal.time_format == DAY_FIRST
    assert proposal.time_formats == {"Buchungsdatum": [DAY_FIRST]}
    assert proposal.event_time_problem is None
    types = {f["name"]: f["type"] for f in proposal.features}
    assert types["Buchungsdatum"] == "String" and types["Betrag"] == "Fractional"
    assert proposal.columns["Betrag (€)"] == "Betrag"


@pytest.mark.parametrize("fmt", [US, "%d/%m/%Y", "%m/%d/%Y %H:%M", "%d.%m.%Y"])
def test_month_first_and_date_only_exports_are_detected(tmp_path, fmt):
    frame = bank_frame(300)
    proposal = propose_file(write_bank(tmp_path / "export.csv", frame, fmt))
    assert (proposal.event_time, proposal.time_format) == ("Buchungsdatum", fmt)


def test_an_ambiguous_file_names_both_formats_and_asks(tmp_path):
    path = write_bank(tmp_path / "ambiguous.csv", ambiguous_frame(), "%d/%m/%Y")
    proposal = propose_file(path)
    assert proposal.event_time == "Buchungsdatum"
    assert proposal.time_format is None  # no silent guess
    assert proposal.time_formats["Buchungsdatum"] == ["%d/%m/%Y", "%m/%d/%Y"]
    with pytest.raises(ValidationError, match="day-first and month-first.*%d/%m/%Y.*%m/%d/%Y"):
        proposal.check_event_time()


# ----------------------------------------------------------------------------- F1: create and ingest


def test_create_keeps_the_format_and_the_same_export_ingests_with_no_choice(tmp_path, bank):
    frame, path = bank
    fs = FeatureStore(tmp_path / "store")
    g = fs.create_feature_group("bank_tx", None, None, dataframe=path)
    assert g.event_time == "Buchungsdatum" and g.extra["ingest"]["time_format"] == DAY_FIRST
    fs.close()
    fs = FeatureStore(tmp_path / "store")  # the registry kept it
    report = fs.ingest("bank_tx", path)
    assert (report.rows_written, report.rows_total) == (500, 500)
    assert stored_times(fs, "bank_tx") == iso(frame["when"])
    assert fs.get_record("bank_tx", "000001")["Betrag"] == frame["Betrag (€)"][0]
    fs.close()


def test_ambiguous_create_needs_a_time_format_then_reads_it(store, tmp_path):
    frame = ambiguous_frame()
    path = write_bank(tmp_path / "ambiguous.csv", frame, "%d/%m/%Y %H:%M")
    with pytest.raises(ValidationError, match="time_format"):
        store.create_feature_group("amb", None, None, dataframe=path)
    assert not [g.name for g in store.list_feature_groups()]
    store.create_feature_group("amb", None, None, dataframe=path, time_format="%d/%m/%Y %H:%M")
    assert store.ingest("amb", path).rows_written == len(frame)
    assert stored_times(store, "amb") == iso(frame["when"])  # day-first, as chosen


def test_time_format_on_ingest_overrides_and_iso_is_always_read(store, tmp_path):
    frame = bank_frame(200)
    us_path = write_bank(tmp_path / "us.csv", frame, US)
    store.create_feature_group("tx", None, None, dataframe=write_bank(tmp_path / "iso.csv", frame, "%Y-%m-%d %H:%M"))
    assert "ingest" not in store.feature_group("tx").extra  # ISO: nothing to keep
    with pytest.raises(IngestRejected) as refused:
        store.ingest("tx", us_path)
    assert refused.value.report.rows_rejected == 200
    report = store.ingest("tx", us_path, time_format=US)
    assert report.rows_written == 200
    assert stored_times(store, "tx") == iso(frame["when"])
    # A group keeping a format still reads ISO-8601, which cannot be misread.
    store.create_feature_group("tx2", None, None, dataframe=us_path)
    assert store.ingest("tx2", write_bank(tmp_path / "iso2.csv", frame, "%Y-%m-%dT%H:%M:%SZ")).rows_written == 200


def test_values_not_in_the_format_are_refused_per_row_with_line_and_reason(store, tmp_path, bank):
    frame, path = bank
    store.create_feature_group("bank_tx", None, None, dataframe=path)
    text = open(path, encoding="cp1252").read().split("\n")
    text[3] = text[3].replace(text[3].split(";")[1], "gestern 12:00")
    text[5] = text[5].replace(text[5].split(";")[1], "29.02.2025 10:00")  # no such day: never rolled over
    text[7] = text[7].replace(text[7].split(";")[1], "01.01.1500 10:00")  # out of the supported range
    bad = tmp_path / "bank_bad.csv"
    bad.write_text("\n".join(text), encoding="cp1252")
    report = store.ingest("bank_tx", str(bad), on_error="skip")
    assert (report.rows_written, report.rows_rejected) == (497, 3)
    errors = report.errors.set_index("line")
    assert errors.loc[4, "value"] == "gestern 12:00"
    assert errors.loc[4, "reason"] == "does not match the time format %d.%m.%Y %H:%M (like 31.12.2025 14:05)"
    assert errors.loc[6, "value"] == "29.02.2025 10:00" and "does not match" in errors.loc[6, "reason"]
    assert "outside the supported time range" in errors.loc[8, "reason"]


def test_create_refuses_an_event_time_whose_sample_does_not_parse(store, bank, tmp_path):
    _, path = bank
    with pytest.raises(ValidationError, match="Empfänger.*500 of 500 values are not a date and time"):
        store.create_feature_group("g1", "Buchungs-Nr", "Empfänger", dataframe=path)
    with pytest.raises(ValidationError, match="do not match the time format %m/%d/%Y"):
        store.create_feature_group("g2", None, None, dataframe=path, time_format="%m/%d/%Y %H:%M")
    with pytest.raises(ValidationError, match="not a valid format"):
        store.create_feature_group("g3", None, None, dataframe=path, time_format="%d.%m.%Y %Q")
    with pytest.raises(ValidationError, match="does not name a day, a month and a year"):
        store.create_feature_group("g4", None, None, dataframe=path, time_format="%H:%M")
    assert store.list_feature_groups() == []


def test_a_few_unreadable_event_times_are_a_note_not_a_refusal(store, tmp_path):
    frame = bank_frame(100)
    path = write_bank(tmp_path / "export.csv", frame)
    text = open(path, encoding="cp1252").read().split("\n")
    text[2] = text[2].replace(text[2].split(";")[1], "yesterday")
    (tmp_path / "export.csv").write_text("\n".join(text), encoding="cp1252")
    proposal = propose_file(path)
    assert proposal.time_format == DAY_FIRST and proposal.event_time_problem is None
    assert "1 value does not match" in proposal.notes["Buchungsdatum"] and "`yesterday`" in proposal.notes[
        "Buchungsdatum"]


def test_dataframes_take_the_same_time_format(store):
    df = pd.DataFrame({"id": [1, 2], "booked": ["31/12/2025 14:05", "01/02/2026 09:00"], "x": [1.5, 2.5]})
    g = store.create_feature_group("df_group", None, None, dataframe=df)
    assert g.event_time == "booked" and g.extra["ingest"]["time_format"] == "%d/%m/%Y %H:%M"
    assert store.ingest("df_group", df).rows_written == 2
    assert store.get_record("df_group", 2)["booked"] == "2026-02-01T09:00:00Z"
    explicit = store.create_feature_group("explicit", "id", "booked", [Feature("id", "Integral"),
                                                                       Feature("booked", "String")],
                                          time_format="%d/%m/%Y %H:%M")
    assert explicit.extra["ingest"]["time_format"] == "%d/%m/%Y %H:%M"
    with pytest.raises(ValidationError, match="not a valid format"):
        store.ingest("df_group", df, time_format="%d/%m/%Y %Q")


def test_parsing_is_vectorised_and_fast(store, tmp_path):
    frame = bank_frame(200_000, days=3000)
    path = write_bank(tmp_path / "big.csv", frame)
    import time

    started = time.perf_counter()
    proposal = propose_file(path)
    assert proposal.time_format == DAY_FIRST
    store.create_feature_group("big", None, None, dataframe=path)
    report = store.validate("big", path)
    assert report.rows_rejected == 0
    assert time.perf_counter() - started < 30  # a per-row Python parse of 400k values would take far longer


# ----------------------------------------------------------------------------- CLI


@pytest.fixture
def run(tmp_path):
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main_cli(), ["--store", str(tmp_path / "cli_store"), *args], catch_exceptions=False)

    return invoke


def main_cli():
    from store.cli import main

    return main


def test_cli_create_from_file_shows_and_keeps_the_format(run, bank, tmp_path):
    _, path = bank
    r = run("create", "--from-file", path, "--name", "bank_tx", "--id", "Buchungs-Nr", "--event-time", "Buchungsdatum")
    assert r.exit_code == 0, r.output
    assert "read with the time format %d.%m.%Y %H:%M" in r.output
    r = run("ingest", "bank_tx", path)
    assert r.exit_code == 0 and "wrote 500 of 500 rows" in r.output
    amb = write_bank(tmp_path / "amb.csv", ambiguous_frame(), "%d/%m/%Y")
    r = run("create", "--from-file", amb, "--name", "amb", "--id", "Buchungs-Nr", "--event-time", "Buchungsdatum")
    assert r.exit_code == 1 and "day-first and month-first" in r.output
    r = run("create", "--from-file", amb, "--name", "amb", "--id", "Buchungs-Nr", "--event-time", "Buchungsdatum",
            "--time-format", "%m/%d/%Y")
    assert r.exit_code == 0, r.output
    us = write_bank(tmp_path / "us.csv", bank_frame(50), US)
    r = run("ingest", "amb", us)
    assert r.exit_code == 1
    r = run("ingest", "amb", us, "--time-format", US)
    assert r.exit_code == 0 and "wrote 50 of 50 rows" in r.output


# ----------------------------------------------------------------------------- F12, F13


def messy_customers() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 203
    score = rng.integers(300, 850, n).astype(str).astype(object)
    score[[10, 50]] = ["n/a", "seven hundred"]
    income = rng.integers(1000, 9000, n).astype(str).astype(object)
    income[7] = "3.5k"
    return pd.DataFrame({"customer_id": [str(i) for i in range(n)], "credit_score": score, "monthly_income": income,
                         "updated_at": ["2026-01-01T00:00:00Z"] * n, "notes": ["x", "7"] * 101 + ["y"]})


def test_a_few_misfits_keep_the_number_type_with_a_note(store, tmp_path):
    path = tmp_path / "customers_messy.csv"
    messy_customers().to_csv(path, index=False)
    proposal = propose_file(str(path))
    types = {f["name"]: f["type"] for f in proposal.features}
    assert types["credit_score"] == "Integral" and types["monthly_income"] == "Integral"
    assert proposal.notes["credit_score"] == ("Integral; 2 values don't fit (`n/a`, `seven hundred`): they will be "
                                              "rejected on ingest")
    assert proposal.notes["monthly_income"] == "Integral; 1 value doesn't fit (`3.5k`): it will be rejected on ingest"
    assert types["notes"] == "String" and "notes" not in proposal.notes
    store.create_feature_group("crm", None, None, dataframe=str(path))
    report = store.ingest("crm", str(path), on_error="skip")
    assert (report.rows_written, report.rows_rejected) == (200, 3)
    r = CliRunner().invoke(main_cli(), ["--store", str(tmp_path / "s2"), "create", "--from-file", str(path), "--name",
                                        "crm", "--id", "customer_id", "--event-time", "updated_at"])
    assert r.exit_code == 0 and "credit_score: Integral; 2 values don't fit (`n/a`, `seven hundred`)" in r.output


def test_a_column_of_mostly_words_stays_string_and_says_why():
    values = ["1", "2", "3", "x", "y", "z", "4", "5"]
    proposal = propose_data(pd.DataFrame({"id": list("abcdefgh"), "ts": ["2026-01-01T00:00:00Z"] * 8,
                                          "v": values}))
    assert {f["name"]: f["type"] for f in proposal.features}["v"] == "String"
    assert proposal.notes["v"] == "String: 3 values of 8 are not numbers (`x`, `y`, `z`)"


def test_the_decimal_point_hint_is_given_only_for_decimals():
    problems: list[ColumnProblem] = []
    coerce_column(Feature("score", "Integral"), pa.array(["seven hundred", "n/a", "7.0", "7"]), problems)
    reasons = {p.reason: list(np.flatnonzero(p.mask)) for p in problems}
    assert reasons == {"is not an integer": [0, 1], "is not an integer (write it without a decimal point)": [2]}
    with pytest.raises(ValueError, match=r"^is not an integer$"):
        coerce_scalar("Integral", "many")
    with pytest.raises(ValueError, match="decimal point"):
        coerce_scalar("Integral", "7.0")


# ----------------------------------------------------------------------------- F17, F28, F24


def test_rejected_rows_come_back_as_they_were_in_the_file(store, bank, tmp_path):
    frame, path = bank
    store.create_feature_group("bank_tx", None, None, dataframe=path)
    raw = open(path, "rb").read().split(b"\n")
    original = raw[3]
    raw[3] = raw[3].replace(raw[3].split(b";")[1], b"gestern")
    (tmp_path / "bad.csv").write_bytes(b"\n".join(raw))
    report = store.validate("bank_tx", str(tmp_path / "bad.csv"))
    data = report.rejected_csv()
    text = data.decode("cp1252")  # the file's encoding
    header, row = text.splitlines()[:2]
    assert header == "line;Buchungs-Nr;Buchungsdatum;Empfänger;Verwendungszweck;Betrag (€);Saldo;error"
    fields, written = row.split(";"), original.decode("cp1252").split(";")
    assert fields[0] == "4" and fields[2] == "gestern"
    assert [fields[1], *fields[3:7]] == [written[0], *written[2:6]]  # '-1.379,15' as written, not -1379.15
    assert "," in fields[5] and fields[-1].startswith("Buchungsdatum does not match the time format")
    # the CLI writes the same bytes
    r = CliRunner().invoke(main_cli(), ["--store", str(tmp_path / "store"), "ingest", "bank_tx",
                                        str(tmp_path / "bad.csv"), "--rejected", str(tmp_path / "rejected.csv")])
    assert r.exit_code == 1
    assert (tmp_path / "rejected.csv").read_bytes() == data


def test_rejected_rows_of_a_dataframe_stay_utf8_commas(store):
    store.create_feature_group("g", "id", "t", [Feature("id", "Integral"), Feature("t", "String"),
                                                Feature("v", "Integral")])
    report = store.validate("g", pd.DataFrame({"id": [1], "t": ["2026-01-01T00:00:00Z"], "v": ["Zoë"]}))
    assert report.rejected_csv().decode("utf-8").splitlines()[0] == "row,id,t,v,error"


def test_a_binary_file_named_csv_is_refused_without_its_bytes(store, tmp_path):
    png = tmp_path / "not_really.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x04\x00\x00\x00\x01\x08\x02\x00\x00\x00"
                    + bytes(range(256)) * 4)
    for attempt in (lambda: propose_file(str(png)), lambda: store.create_feature_group(
            "g", None, None, dataframe=str(png))):
        with pytest.raises(ValidationError) as refused:
            attempt()
        message = refused.value.message
        assert message.startswith("'not_really.csv' is not a text/CSV file") and "PNG image" in message
        assert all(c.isprintable() for c in message)
    blob = tmp_path / "blob.csv"
    blob.write_bytes(b"a,b\n" + b"\x00\x01\x02" * 100)
    with pytest.raises(ValidationError, match="is not a text/CSV file"):
        propose_file(str(blob))


def test_file_sizes_use_the_upload_chips_decimal_units():
    from app.ui.formats import size

    assert size(55_200_000) == "55.2 MB"
    assert size(999) == "999 B" and size(1_500) == "1.5 KB"
