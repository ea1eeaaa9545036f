"""On-demand features page: the list (kind, inputs, outputs, version, owner, services), one feature's
definition and version history, registering a SQL one from the catalog (errors as messages, a
non-owner refused), and the example for Python ones."""
from __future__ import annotations

import pytest
from studio_support import button, fs, ok, page, seeded_template, studio_store, texts  # noqa: F401
from test_app_access import secured, sign_in  # noqa: F401 (secured: the signed-in studio's fixture)

from store import Feature, OnDemandFeature


def fill(at, name: str, inputs: list[str], request: dict[str, str], outputs: list[tuple[str, str, str]]):
    at.text_input(key="od_new_name").set_value(name)
    at.multiselect(key="od_new_inputs").set_value(inputs)
    at.number_input(key="od_new_request_n").set_value(len(request)).run()
    for i, (field, kind) in enumerate(request.items()):
        at.text_input(key=f"od_new_request_{i}").set_value(field)
        at.selectbox(key=f"od_new_request_type_{i}").set_value(kind)
    at.number_input(key="od_new_output_n").set_value(len(outputs)).run()
    for i, (out, kind, sql) in enumerate(outputs):
        at.text_input(key=f"od_new_output_{i}").set_value(out)
        at.selectbox(key=f"od_new_output_type_{i}").set_value(kind)
        at.text_input(key=f"od_new_sql_{i}").set_value(sql)
    return button(at, "Register on-demand feature").click().run()


def test_the_list_shows_kind_inputs_outputs_and_the_services(studio_store):
    at = ok(page("on_demand"))
    row = at.dataframe[0].value.set_index("name").loc["amount_vs_customer_avg"]
    assert row["kind"] == "SQL" and row["version"] == 1 and row["owner"] == "root"
    assert row["inputs"] == "customer_spend:avg_amount_30d" and row["request"] == "amount (Fractional)"
    assert row["outputs"] == "amount_vs_avg_30d (Fractional), amount_over_3x_avg (Integral)"
    assert row["services"] == "fraud_detection"
    python = next(c for c in at.code if c.language == "python")
    assert "@on_demand(inputs=[" in python.value and "fs.register_on_demand(amount_vs_avg)" in python.value
    assert "registered from code" in texts(at)
    at.session_state["on_demand_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert at.title[0].value == "On-demand feature amount_vs_customer_avg"


def test_the_detail_shows_the_source_and_every_version(fs):
    fs.register_on_demand(OnDemandFeature(
        "amount_vs_customer_avg", inputs=["customer_spend:avg_amount_30d"], request={"amount": "Fractional"},
        outputs=[Feature("amount_vs_avg_30d", "Fractional")], sql="amount / NULLIF(avg_amount_30d, 0) - 1"))
    at = ok(page("on_demand", feature="amount_vs_customer_avg"))
    assert "amount / NULLIF(avg_amount_30d, 0) - 1" in at.code[0].value and at.code[0].language == "sql"
    versions = at.dataframe[0].value
    assert versions["version"].tolist() == [2, 1]
    assert versions["outputs"].tolist() == ["amount_vs_avg_30d (Fractional)",
                                            "amount_vs_avg_30d (Fractional), amount_over_3x_avg (Integral)"]
    at.selectbox(key="od_version").set_value(1).run()
    assert "CASE WHEN amount > 3 * avg_amount_30d" in at.code[1].value
    assert "fraud_detection (pins v1)" in texts(at)
    ok(button(at, "Open service fraud_detection").click().run())
    assert at.title[0].value == "Feature service fraud_detection"


def test_register_a_sql_feature_from_the_catalog(fs):
    at = ok(page("on_demand"))
    at = ok(fill(at, "risk_per_dollar", ["merchants:risk_score"], {"amount": "Fractional"},
                 [("risk_per_dollar", "Fractional", "risk_score / NULLIF(amount, 0)"),
                  ("large", "Integral", "CASE WHEN amount >= 1000 THEN 1 ELSE 0 END")]))
    made = fs.on_demand_feature("risk_per_dollar")
    assert made.kind == "sql" and made.inputs == ("merchants:risk_score",) and made.request == {"amount": "Fractional"}
    assert made.sql == {"risk_per_dollar": "risk_score / NULLIF(amount, 0)",
                        "large": "CASE WHEN amount >= 1000 THEN 1 ELSE 0 END"}
    assert at.title[0].value == "On-demand feature risk_per_dollar" and at.query_params["feature"] == "risk_per_dollar"


@pytest.mark.parametrize("outputs, message", [
    ([("ratio", "Fractional", "risk_scor / 2")], "risk_scor"),  # a misspelt input
    ([("ratio", "Fractional", "")], "one expression per output"),
    ([("ratio", "String", "risk_score * 2")], "CAST it or change the type"),
])
def test_registration_errors_are_messages(fs, outputs, message):
    at = fill(page("on_demand"), "ratio_check", ["merchants:risk_score"], {}, outputs)
    assert not at.exception and len(at.error) == 1 and message in at.error[0].value
    assert "ratio_check" not in {f.name for f in fs.list_on_demand_features()}


def test_a_non_owner_is_refused_with_the_reason_and_an_owner_registers(secured, fs):
    at = ok(sign_in("ed", "ed-password"))  # editor of merchants, viewer elsewhere
    at.switch_page("app_pages/on_demand.py").run()
    assert "needs the owner role on every group" in texts(at)
    at = fill(at, "risk_doubled", ["merchants:risk_score"], {}, [("risk_doubled", "Fractional", "risk_score * 2")])
    assert not at.exception and len(at.error) == 1
    assert at.error[0].value.startswith("Access denied: 'ed' may not register_on_demand; it needs the owner role")
    assert "risk_doubled" not in {f.name for f in fs.list_on_demand_features()}

    at = ok(sign_in("olga", "ed-password"))  # owner of merchants
    at.switch_page("app_pages/on_demand.py").run()
    ok(fill(at, "risk_doubled", ["merchants:risk_score"], {}, [("risk_doubled", "Fractional", "risk_score * 2")]))
    assert fs.on_demand_feature("risk_doubled").created_by == "olga"
