"""Studio polish of issue 20, through AppTest: a key typed without a value (F2), the Schema tab's
add-features editor after an add (F19), a refused ingest's progress bar and wording (F11), the
last ingest on the Ingest page (F27) and the statistics in full (F25)."""
from __future__ import annotations

import pandas as pd
from studio_support import button, edits, fs, ok, page, seeded_template, studio_store, texts  # noqa: F401

from store import Feature

NOW = pd.Timestamp.now(tz="UTC").floor("s")
SKIP_CHOICE = "Write the valid rows, skip the invalid ones"


def stamp(hours: int) -> str:
    return (NOW + pd.Timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------- F2

def test_create_takes_a_tag_key_without_a_value(fs):
    at = page("create")
    at.text_input(key="create_name").set_value("tagged")
    at.selectbox(key="create_event_time_blank").set_value("event_time")
    at.session_state["create_tags"] = edits(added=[{"key": "team", "value": "ml"}, {"key": "draft"},
                                                   {"value": "orphan"}])
    at.run()
    ok(at)
    assert "`draft` has no value: kept with an empty value" in texts(at)
    assert "`orphan` has no key: ignored" in texts(at)
    ok(button(at, "Create feature group").click().run())
    assert fs.feature_group("tagged").tags == {"team": "ml", "draft": ""}


def test_overview_saves_a_tag_without_a_value_and_the_rest_of_the_form(fs):
    at = page("group", group="customers")
    at.text_area[0].set_value("Profiles, edited")
    at.session_state["tags_customers"] = edits(added=[{"key": "reviewed"}])
    at.number_input[0].set_value(30.0)
    ok(button(at, "Save changes").click().run())
    group = fs.feature_group("customers")
    assert group.tags["reviewed"] == "" and group.tags["team"] == "risk"
    assert group.description == "Profiles, edited" and group.ttl_seconds == 30 * 86400
    assert button(at, "Delete feature group")  # the page below the editor is still there


def test_schema_saves_a_parameter_without_a_value(fs):
    at = page("group", group="customers", tab="Schema")
    at.selectbox(key="schema_feature_customers").set_value("age").run()
    at.session_state["params_customers_age"] = edits(added=[{"key": "pii"}])
    ok(button(at, "Save feature").click().run())
    assert fs.feature_group("customers").feature("age").parameters["pii"] == ""
    assert button(at, "Add features") and button(at, "Save rules")


# --------------------------------------------------------------------------------------- F19

def test_add_features_clears_its_editor_after_an_add(fs):
    at = page("group", group="customers", tab="Schema")
    at.session_state["new_features_customers"] = edits(added=[{"name": "risk_flag", "type": "String"}])
    ok(button(at, "Add features").click().run())
    assert fs.feature_group("customers").feature("risk_flag").type == "String"
    editor = next(d for d in at.data_editor if d.key.startswith("new_features_customers"))
    assert len(editor.value) == 0  # nothing left to add twice
    assert [t.value for t in at.toast] == ["Added risk_flag to customers"]


# --------------------------------------------------------------------------------------- F11

def test_a_refused_ingest_leaves_no_progress_bar_and_names_the_studio_choice(fs):
    before = fs.describe("merchants")["offline_rows"]
    at = page("ingest", group="merchants")
    content = f"merchant_id,event_time,risk_score\nM0001,{stamp(0)},0.5\nM0003,yesterday,0.75\n".encode()
    at.file_uploader(key="ingest_file").upload("bad.csv", content, "text/csv").run()
    button(at, "Ingest").click().run()
    assert not at.exception
    message = at.error[0].value
    assert "Nothing was written to 'merchants'" in message and SKIP_CHOICE in message and "on_error" not in message
    assert not at.get("progress")  # no bar left at "Validating…"
    assert fs.describe("merchants")["offline_rows"] == before
    assert "refused, none of its 2 rows written" in texts(at)  # the refusal is the last ingest now


def test_the_api_keeps_its_own_wording(fs):
    frame = pd.DataFrame({"merchant_id": ["M1"], "event_time": ["yesterday"], "risk_score": [0.5]})
    try:
        fs.ingest("merchants", frame)
    except Exception as exc:  # noqa: BLE001 - checked just below
        assert "pass on_error='skip'" in str(exc) and exc.skippable and "on_error" not in exc.reason
    else:
        raise AssertionError("a bad row in reject mode must be refused")


# --------------------------------------------------------------------------------------- F27

def test_the_ingest_page_shows_the_last_ingest_of_any_session(fs):
    fs.ingest("merchants", pd.DataFrame({"merchant_id": ["M0001", "M0002"], "event_time": [stamp(0), stamp(1)],
                                         "risk_score": [0.1, 0.2]}), source="elsewhere.csv")
    at = ok(page("ingest", group="merchants"))  # a fresh session, as after a reload
    assert "Last ingest into **merchants** from `elsewhere.csv`: 2 of 2 rows written" in texts(at)
    assert "just now" in texts(at)


def test_a_group_never_ingested_says_so(fs):
    fs.create_feature_group("fresh", "id", "ts", [Feature("id", "Integral"), Feature("ts", "String")])
    at = ok(page("ingest", group="fresh"))
    assert "Nothing was ingested into **fresh** yet" in texts(at)


# --------------------------------------------------------------------------------------- F25

def test_statistics_show_amounts_in_full_and_epoch_times_as_dates(fs):
    fs.create_feature_group("bank_tx", "id", "booked", [Feature("id", "Integral"), Feature("booked", "Fractional"),
                                                        Feature("saldo", "Fractional"), Feature("ts_ms", "Integral"),
                                                        Feature("visits", "Integral")])
    booked = [1794000000.0, 1794086400.0, 1794172800.0]
    fs.ingest("bank_tx", pd.DataFrame({"id": [1, 2, 3], "booked": booked, "saldo": [24912.37, -352.18, 11100.5],
                                       "ts_ms": [int(b * 1000) for b in booked], "visits": [1200, 3, 7]}))
    at = ok(page("group", group="bank_tx", tab="Statistics"))
    table = at.dataframe[0].value.set_index("feature")
    assert table.loc["saldo", "max"] == "24,912.37" and table.loc["saldo", "min"] == "-352.18"
    assert table.loc["saldo", "mean"] == "11,886.9"
    assert table.loc["visits", "max"] == "1,200"
    assert table.loc["booked", "min"] == "2026-11-06 21:20:00 UTC"  # the event time, epoch seconds
    assert table.loc["ts_ms", "max"] == "2026-11-08 21:20:00 UTC"  # epoch milliseconds
    assert table.loc["booked", "std"] == "1.0 days"
    assert table.loc["saldo", "count"] == 3  # counts stay numbers


def test_the_last_ingest_shows_while_another_ingest_holds_the_write_lock(fs):
    """A reload during a long ingest (which writes in one transaction) must not wait for it."""
    import threading
    import time

    holding, release = threading.Event(), threading.Event()

    def long_ingest() -> None:
        with fs._ctx.db.write():  # what a streamed ingest holds from its first batch to its commit
            holding.set()
            release.wait(120)

    writer = threading.Thread(target=long_ingest)
    writer.start()
    try:
        assert holding.wait(10)
        started = time.monotonic()
        at = ok(page("ingest", group="merchants"))
        assert time.monotonic() - started < 20  # not the 120 s of busy_timeout, or a page that never loads
        assert "Last ingest into **merchants**" in texts(at)
    finally:
        release.set()
        writer.join()
