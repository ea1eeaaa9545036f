"""Feature services page: the list (with the models trained through each), defining a service from
the catalog, versions, trying it online with its code, and a training set built from it."""
from __future__ import annotations

import pytest
from studio_support import button, fs, ok, page, seeded_template, studio_store, texts  # noqa: F401

from store import Feature, on_demand

SPEND = ["txn_count_7d", "spend_7d", "avg_amount_30d", "distinct_merchants_30d"]


def define(at, name: str, description: str = ""):
    at.text_input(key="service_new_name").set_value(name)
    at.text_input(key="service_new_desc").set_value(description)
    return button(at, "Define service").click().run()


def test_the_list_shows_each_service_with_its_groups_and_models(studio_store):
    at = ok(page("services"))
    rows = at.dataframe[0].value.set_index("service")
    assert rows.loc["fraud_detection", "groups"] == "customers, merchants, customer_spend"
    assert rows.loc["fraud_detection", "features"] == 13 and rows.loc["fraud_detection", "owner"] == "risk-ml"
    assert rows.loc["fraud_detection", "models"] == "fraud_model_v1"


def test_define_a_service_from_a_whole_group_and_single_features(fs):
    at = ok(page("services"))
    at.text_input(key="service_new_search").set_value("risk").run()  # matches names and descriptions
    shown = {c.key for c in at.checkbox if c.key.startswith("service_new_feature_")}
    assert "service_new_feature_merchants_risk_score" in shown and "service_new_feature_customers_risk_segment" in shown
    assert "service_new_feature_transactions_amount" not in shown
    at.checkbox(key="service_new_feature_merchants_risk_score").check().run()
    at.text_input(key="service_new_search").set_value("").run()  # a feature hidden by a search stays chosen
    at.checkbox(key="service_new_all_customer_spend").check().run()
    assert all(at.checkbox(key=f"service_new_feature_customer_spend_{f}").value for f in SPEND)
    assert at.checkbox(key="service_new_feature_merchants_risk_score").value
    assert "5 features from 2 groups" in texts(at) and "`merchant_id` (String), `customer_id` (Integral)" in texts(at)
    ok(define(at, "checkout_risk", "Scores a checkout"))
    made = fs.feature_service("checkout_risk")
    assert made.refs == ["merchants:risk_score", *(f"customer_spend:{f}" for f in SPEND)]
    assert made.description == "Scores a checkout" and made.version == 1
    assert at.title[0].value == "Feature service checkout_risk" and at.query_params["service"] == "checkout_risk"


def test_definition_errors_are_messages_not_tracebacks(fs):
    at = ok(page("services"))
    at = define(at, "empty_one")
    assert not at.exception and "Pick at least one feature" in at.error[0].value
    at.checkbox(key="service_new_feature_customers_age").check().run()
    at = define(at, "fraud_detection")
    assert not at.exception and "fraud_detection" in at.error[0].value and "exist" in at.error[0].value
    at = define(at, "bad name!")
    assert not at.exception and at.error and "name" in at.error[0].value.lower()
    assert [s.name for s in fs.list_feature_services()] == ["fraud_detection"]


def test_a_missing_service_is_said_to_be_missing(studio_store):
    at = page("services", service="nope")
    assert not at.exception and "Feature service **nope** does not exist" in at.error[0].value


def test_a_new_version_keeps_the_history(fs):
    at = ok(page("services", service="fraud_detection", tab="New version"))
    assert at.checkbox(key="service_edit_fraud_detection_1_feature_customers_age").value  # starts from v1
    at.checkbox(key="service_edit_fraud_detection_1_feature_customers_age").uncheck()
    at.checkbox(key="service_edit_fraud_detection_1_feature_transactions_channel").check().run()
    at.text_area(key="service_edit_fraud_detection_1_desc").set_value("Adds the channel, drops age").run()
    ok(button(at, "Save as version 2").click().run())
    current = fs.feature_service("fraud_detection")
    assert current.version == 2 and "customers:age" not in current.refs and "transactions:channel" in current.refs
    assert fs.feature_service("fraud_detection", version=1).refs[0] == "customers:age"
    assert at.query_params["tab"] == "Versions"
    history = at.dataframe[0].value
    assert history["version"].tolist() == [2, 1]
    assert history["changes"].tolist() == ["+transactions:channel, −customers:age", "first version"]
    assert history["by"].tolist() == ["root", "root"] and history["features"].tolist() == [13, 13]
    at.selectbox(key="service_version_fraud_detection").set_value(1).run()
    assert at.dataframe[1].value["feature"].tolist()[0] == "age"


def try_it(at, customer, merchant: str, amount: float | None = None):
    at.number_input(key="service_try_fraud_detection_customer_id").set_value(customer)
    at.text_input(key="service_try_fraud_detection_merchant_id").set_value(merchant)
    if amount is not None:
        at.number_input(key="service_try_fraud_detection_request_amount").set_value(amount)
    return button(at, "Get online features").click().run()


def test_try_it_reads_the_vector_with_latency_freshness_and_code(fs):
    customer = int(fs.as_of("customer_spend")["customer_id"].iloc[0])
    at = ok(page("services", service="fraud_detection", tab="Try it"))
    assert "the request values `amount` (Fractional)" in texts(at)
    ok(try_it(at, customer, "M0011", 450.0))
    vector = at.dataframe[0].value.set_index("feature")
    assert len(vector) == 15 and set(vector["status"]) == {"present"}
    assert vector.loc["merchants:country", "column"] == "merchants__country"
    expected = fs.get_record("customers", customer)
    assert vector.loc["customers:risk_segment", "value"] == expected["risk_segment"]
    spend = fs.get_record("customer_spend", customer)
    ratio = float(vector.loc["on_demand:amount_vs_customer_avg.amount_vs_avg_30d", "value"])
    assert ratio == pytest.approx(450.0 / spend["avg_amount_30d"])
    assert vector.loc["on_demand:amount_vs_customer_avg.amount_over_3x_avg", "value"] == \
        str(int(450.0 > 3 * spend["avg_amount_30d"]))
    # Freshness: the spend run's event time and its age; on-demand outputs are computed now.
    assert vector.loc["customer_spend:avg_amount_30d", "event time"].startswith(spend["event_time"][:10])
    assert vector.loc["customer_spend:avg_amount_30d", "age"].endswith(" ago")
    assert vector.loc["on_demand:amount_vs_customer_avg.amount_vs_avg_30d", "event time"] == "computed now"
    assert "15 of 15 features present" in texts(at) and " ms**" in texts(at) and "amount 450.0" in texts(at)
    code = "\n".join(c.value for c in at.code)
    assert f"get_online_features('fraud_detection', entity_rows=[{{'customer_id': {customer}, " in code
    assert "request={'amount': 450.0}" in code and '"Request": {"amount": 450.0}' in code
    assert "/FeatureServices/fraud_detection/OnlineFeatures" in code and "SigV4Auth" in code
    assert "curl -s -X POST" in code and "--aws-sigv4" in code


def test_try_it_says_what_is_missing(studio_store):
    at = ok(page("services", service="fraud_detection", tab="Try it"))
    at.number_input(key="service_try_fraud_detection_customer_id").set_value(1)
    button(at, "Get online features").click().run()
    assert not at.exception and "Give a value for each key column: merchant_id." in at.error[0].value
    try_it(at, 1, "M9999")
    assert not at.exception and "Give a value for each request field: amount." in at.error[0].value
    ok(try_it(at, 1, "M9999", 20.0))
    assert set(at.dataframe[0].value["status"]) == {"not found"} and "0 of 15 features present" in texts(at)
    assert set(at.dataframe[0].value["age"]) == {"—"}
    at.text_input(key="service_try_fraud_detection_merchant_id").set_value("nope")
    ok(button(at, "Get online features").click().run())  # a key of the wrong shape is still just "not found": no rule checks keys


def test_build_a_training_set_from_the_service(fs):
    at = ok(page("services", service="fraud_detection"))
    ok(button(at, "Build a training set").click().run())
    assert at.title[0].value == "Dataset builder" and at.query_params["service"] == "fraud_detection"
    at.switch_page("app_pages/dataset.py")  # AppTest reruns the page it was given otherwise
    at.segmented_control(key="entity_source").set_value("Sample label file").run()
    assert at.segmented_control(key="dataset_pick").value == "A feature service"
    assert at.selectbox(key="dataset_service").value == "fraud_detection"
    assert at.toggle(key="dataset_prefix").disabled
    assert "the entity table gives the request values as columns `amount` (Fractional)" in texts(at)
    preview = at.dataframe[-1].value  # the columns the dataset will have, the on-demand outputs last
    assert preview["column"].tolist()[-2:] == ["amount_vs_avg_30d", "amount_over_3x_avg"]
    assert preview["group"].tolist()[-1] == "on_demand:amount_vs_customer_avg@1"
    at.text_input(key="dataset_name").set_value("fraud_training_v2")
    ok(button(at, "Build dataset").click().run())
    built = at.session_state["dataset"]
    assert built.definition["service"] == {"name": "fraud_detection", "version": 1,
                                           "on_demand": ["on_demand:amount_vs_customer_avg@1"]}
    assert {"customers__country", "merchants__country", "spend_7d", "amount", "amount_vs_avg_30d"} <= set(built.columns)
    edges = {(e["src"], e["dst"]) for e in fs.lineage().edges}
    assert ("feature_service:fraud_detection", f"dataset:{built.id}") in edges


def test_lineage_draws_groups_service_dataset_and_model(studio_store):
    at = ok(page("lineage"))
    spec = at.get("graphviz_chart")[0].proto.spec
    assert 'URL="services?service=fraud_detection"' in spec
    assert '"feature_group:customers" -> "feature_service:fraud_detection"' in spec
    assert '"feature_service:fraud_detection" -> "dataset:' in spec
    assert '"feature_group:customers" -> "dataset:' not in spec  # shown once, through the service
    # groups -> on-demand -> service: the on-demand node drawn in its own shape, linked to its page
    assert 'URL="on_demand?feature=amount_vs_customer_avg"' in spec and "shape=parallelogram" in spec
    assert '"feature_group:customer_spend" -> "on_demand:amount_vs_customer_avg"' in spec
    assert '"on_demand:amount_vs_customer_avg" -> "feature_service:fraud_detection"' in spec
    at = ok(page("lineage", node="feature_service:fraud_detection"))
    ok(button(at, "Open fraud_detection").click().run())
    assert at.title[0].value == "Feature service fraud_detection"
    at = ok(page("lineage", node="on_demand:amount_vs_customer_avg"))
    assert at.subheader[0].value == "On-demand feature: amount_vs_customer_avg"
    ok(button(at, "Open amount_vs_customer_avg").click().run())
    assert at.title[0].value == "On-demand feature amount_vs_customer_avg"


@on_demand(inputs=["customer_spend:avg_amount_30d"], request={"amount": "Fractional"},
           outputs=[Feature("amount_band", "Fractional")], mode="python")
def strict_band(columns):
    if any(a > 10_000 for a in columns["amount"]):
        raise ValueError("amounts over 10,000 USD go to manual review")
    return {"amount_band": [a // 100 for a in columns["amount"]]}


@on_demand(inputs=["customer_spend:avg_amount_30d"], request={"amount": "Fractional"},
           outputs=[Feature("amount_label", "Fractional")], mode="python")
def texty_label(columns):
    return {"amount_label": ["high" if a > 100 else 1.0 for a in columns["amount"]]}


def serve_with(fs, feature) -> None:
    fs.register_on_demand(feature)
    fs.update_feature_service("fraud_detection", [*fs.feature_service("fraud_detection").refs,
                                                  "on_demand:amount_vs_customer_avg", f"on_demand:{feature.name}"])


@pytest.mark.parametrize("feature, amount, message", [
    (strict_band, 20_000.0, "amounts over 10,000 USD go to manual review"),
    (texty_label, 450.0, "amount_label"),  # a text where the output is Fractional
])
def test_try_it_shows_a_failing_on_demand_feature_as_a_message(fs, feature, amount, message):
    serve_with(fs, feature)
    customer = int(fs.as_of("customer_spend")["customer_id"].iloc[0])
    at = ok(page("services", service="fraud_detection", tab="Try it"))
    at = try_it(at, customer, "M0011", amount)
    assert not at.exception and len(at.error) == 1 and message in at.error[0].value
    assert "Traceback" not in at.error[0].value and not at.dataframe  # no vector shown


def test_the_features_tab_shows_on_demand_features_with_their_sql(studio_store):
    at = ok(page("services", service="fraud_detection"))
    features = at.dataframe[0].value
    computed = features[features["group"] == "on_demand:amount_vs_customer_avg@1"]
    assert computed["feature"].tolist() == ["amount_vs_avg_30d", "amount_over_3x_avg"]
    assert computed["type"].tolist() == ["Fractional", "Integral"]
    listed = at.dataframe[1].value.iloc[0]
    assert listed["on-demand feature"] == "amount_vs_customer_avg@1" and listed["kind"] == "SQL"
    assert listed["inputs"] == "customer_spend:avg_amount_30d" and listed["request"] == "amount (Fractional)"
    assert listed["outputs"] == "amount_vs_avg_30d (Fractional), amount_over_3x_avg (Integral)"
    assert "amount / NULLIF(avg_amount_30d, 0)" in at.code[0].value and at.code[0].language == "sql"
    assert "Request gives" in texts(at) and "`amount` (Fractional)" in texts(at)


def test_define_a_service_with_an_on_demand_feature_and_version_it_with_python(fs):
    at = ok(page("services"))
    choice = at.multiselect(key="service_new_on_demand")
    assert "reads customer_spend:avg_amount_30d + request amount (Fractional)" in choice.options[0]
    choice.select("amount_vs_customer_avg").run()
    assert "Callers will also give the request values `amount` (Fractional)." in texts(at)
    ok(define(at, "amount_check"))  # no group feature picked: the on-demand feature's input is served
    made = fs.feature_service("amount_check")
    assert made.refs == ["customer_spend:avg_amount_30d"] and made.on_demand == (("amount_vs_customer_avg", 1),)

    fs.register_on_demand(strict_band)
    at = ok(page("services", service="amount_check", tab="New version"))
    at.multiselect(key="service_edit_amount_check_1_on_demand").select("strict_band").run()
    ok(button(at, "Save as version 2").click().run())
    assert fs.feature_service("amount_check").on_demand == (("amount_vs_customer_avg", 1), ("strict_band", 1))
    history = at.dataframe[0].value
    assert history["changes"].tolist()[0] == "+on_demand:strict_band@1"
    at.selectbox(key="service_version_amount_check").set_value(2).run()
    code = [c for c in at.code if c.language == "python"]
    assert code and "def strict_band(columns):" in code[0].value
