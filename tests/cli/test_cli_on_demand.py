"""The CLI of on-demand features: register the features a Python file defines (a SQL one and a
pandas function), list and show them with their source, register one from SQL options, read a
service's vector with request values, and the refusals: each one line naming what is wrong,
exit code != 0, no traceback.

The store: ``customers`` (age) and ``customer_spend`` (a 30-day average amount) for 40 customers;
the request carries a transaction's amount (the fraud example: amount against the usual)."""
from __future__ import annotations

import json
import textwrap

import pandas as pd
import pytest
from cli_support import run  # noqa: F401

FEATURES_PY = '''
import pandas as pd

from store import Feature, OnDemandFeature, on_demand

RATIO_DIGITS = 4  # not a feature: left alone

AMOUNT_VS_AVG = OnDemandFeature(
    "amount_vs_avg", inputs=["customer_spend:avg_amount_30d"], request={"amount": "Fractional"},
    outputs=[Feature("amount_vs_avg_30d", "Fractional")], sql="amount / NULLIF(avg_amount_30d, 0)",
    description="The amount against the customer's 30-day average")


@on_demand(inputs=["customers:age", "customer_spend:avg_amount_30d"], request={"amount": "Fractional"},
           outputs=[Feature("young_big_spender", "Integral")])
def young_big_spender(df):
    big = df["amount"] > 3 * df["avg_amount_30d"]
    return pd.DataFrame({"young_big_spender": ((df["age"] < 30) & big).astype("Int64")})
'''


@pytest.fixture
def store_files(tmp_path):
    """customers.csv and spend.csv: customer c (1..40) is 18 + c years old, its average amount 10 * c
    (the newest of two days' rows)."""
    ids = list(range(1, 41))
    customers = tmp_path / "customers.csv"
    pd.DataFrame({"customer_id": ids, "ts": ["2026-11-30T08:00:00Z"] * 40,
                  "age": [18 + c for c in ids]}).to_csv(customers, index=False)
    spend = tmp_path / "spend.csv"
    pd.DataFrame({"customer_id": ids * 2,
                  "ts": ["2026-11-29T00:00:00Z"] * 40 + ["2026-11-30T00:00:00Z"] * 40,
                  "avg_amount_30d": [1.0] * 40 + [10.0 * c for c in ids]}).to_csv(spend, index=False)
    features = tmp_path / "fraud_features.py"
    features.write_text(FEATURES_PY, encoding="utf-8")
    return {"customers": str(customers), "spend": str(spend), "features": str(features)}


def make_groups(run, files):
    for name, path in (("customers", files["customers"]), ("customer_spend", files["spend"])):
        r = run("create", "--from-file", path, "--name", name, "--id", "customer_id", "--event-time", "ts", "--ingest")
        assert r.exit_code == 0, r.output


def test_register_a_file_list_show_and_serve_with_request_values(run, store_files):
    make_groups(run, store_files)
    r = run("on-demand", "list")
    assert r.exit_code == 0 and "No on-demand features yet" in r.output

    r = run("on-demand", "register", store_files["features"])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == ["Registered amount_vs_avg@1 (sql): amount_vs_avg_30d:Fractional",
                                     "Registered young_big_spender@1 (python): young_big_spender:Integral"]
    r = run("on-demand", "register", store_files["features"])  # unchanged: the same versions
    assert "amount_vs_avg@1" in r.output and "young_big_spender@1" in r.output

    r = run("on-demand", "list")
    assert r.exit_code == 0
    assert r.output.splitlines() == [
        "amount_vs_avg\tv1\tsql\toutputs: amount_vs_avg_30d:Fractional\tinputs: customer_spend:avg_amount_30d\t"
        "request: amount:Fractional",
        "young_big_spender\tv1\tpython\toutputs: young_big_spender:Integral\t"
        "inputs: customers:age, customer_spend:avg_amount_30d\trequest: amount:Fractional"]
    listed = json.loads(run("on-demand", "list", "--json").output)
    assert [f["name"] for f in listed] == ["amount_vs_avg", "young_big_spender"]

    r = run("on-demand", "show", "young_big_spender")
    assert r.exit_code == 0, r.output
    assert r.output.startswith("young_big_spender@1 (python, mode pandas)\n")
    assert "inputs:  customers:age, customer_spend:avg_amount_30d\n" in r.output
    # The source the store keeps and runs: the function from its def line, decorator dropped.
    assert "source:\ndef young_big_spender(df):\n    big = df[\"amount\"] > 3 * df[\"avg_amount_30d\"]\n" in r.output
    assert "@on_demand" not in r.output
    r = run("on-demand", "show", "amount_vs_avg")
    assert "source:\n  amount_vs_avg_30d = amount / NULLIF(avg_amount_30d, 0)\n" in r.output
    assert "description: The amount against the customer's 30-day average" in r.output
    shown = json.loads(run("on-demand", "show", "amount_vs_avg", "--version", "1", "--json").output)
    assert shown["sql"] == {"amount_vs_avg_30d": "amount / NULLIF(avg_amount_30d, 0)"} and shown["kind"] == "sql"

    r = run("create-service", "fraud", "--feature", "customers:age", "--feature", "on_demand:amount_vs_avg",
            "--feature", "on_demand:young_big_spender")
    assert r.exit_code == 0, r.output
    # Customer 7: 25 years old, an average of 70.0; an amount of 350.0 is 5 times that.
    vector = json.loads(run("service", "fraud", "--lookup", "customer_id=7", "--request", "amount=350").output)
    assert vector == {
        "customer_id": 7, "age": 25, "avg_amount_30d": 70.0, "amount_vs_avg_30d": 5.0, "young_big_spender": 1,
        "age__status": "present", "avg_amount_30d__status": "present", "amount_vs_avg_30d__status": "present",
        "young_big_spender__status": "present", "age__event_time": "2026-11-30T08:00:00Z",
        "avg_amount_30d__event_time": "2026-11-30T00:00:00Z", "amount_vs_avg_30d__event_time": None,
        "young_big_spender__event_time": None}
    # Customer 30 is 48: not young, whatever the amount; 150.0 is half its average of 300.0.
    vector = json.loads(run("service", "fraud", "--lookup", "customer_id=30", "--request", "amount=150.0").output)
    assert vector["amount_vs_avg_30d"] == 0.5 and vector["young_big_spender"] == 0
    # No record: each output has its inputs' worst status. SQL's NULL in is NULL out; the pandas
    # function sees NaN, where its comparisons are False, and answers 0: the status says why.
    vector = json.loads(run("service", "fraud", "--lookup", "customer_id=999", "--request", "amount=10").output)
    assert vector["amount_vs_avg_30d"] is None and vector["amount_vs_avg_30d__status"] == "not_found"
    assert vector["young_big_spender"] == 0 and vector["young_big_spender__status"] == "not_found"

    r = run("service", "fraud", "--lookup", "customer_id=7")
    assert r.exit_code == 1 and "needs request value 'amount'" in r.output
    r = run("service", "fraud", "--lookup", "customer_id=7", "--request", "amount=lots")
    assert r.exit_code == 1 and "Request value 'amount' must be Fractional" in r.output
    assert "Traceback" not in r.output
    r = run("service", "fraud", "--request", "amount=1")
    assert r.exit_code == 2 and "give the entity row with --lookup" in r.output

    # In use by a service: the delete is refused, naming the service; after the service goes, it goes.
    r = run("on-demand", "delete", "amount_vs_avg")
    assert r.exit_code == 1 and "used by feature service(s) fraud" in r.output
    assert run("on-demand", "show", "amount_vs_avg").exit_code == 0


def test_register_sql_from_options_new_version_and_delete(run, store_files):
    make_groups(run, store_files)
    r = run("on-demand", "register-sql", "spend_band", "--input", "customer_spend:avg_amount_30d",
            "--request", "amount=Fractional", "--output", "band=String", "--output", "over=Integral",
            "--sql", "band=CASE WHEN avg_amount_30d >= 200 THEN 'high' ELSE 'low' END",
            "--sql", "over=CASE WHEN amount > avg_amount_30d THEN 1 ELSE 0 END")
    assert r.exit_code == 0, r.output
    assert r.output.strip() == "Registered spend_band@1 (sql): band:String, over:Integral"
    r = run("on-demand", "register-sql", "spend_band", "--input", "customer_spend:avg_amount_30d",
            "--request", "amount=Fractional", "--output", "band=String", "--output", "over=Integral",
            "--sql", "band=CASE WHEN avg_amount_30d >= 250 THEN 'high' ELSE 'low' END",
            "--sql", "over=CASE WHEN amount > avg_amount_30d THEN 1 ELSE 0 END")
    assert r.output.strip() == "Registered spend_band@2 (sql): band:String, over:Integral"
    assert "avg_amount_30d >= 200" in run("on-demand", "show", "spend_band", "--version", "1").output
    assert "avg_amount_30d >= 250" in run("on-demand", "show", "spend_band").output

    # One output: --sql is its expression as it stands.
    r = run("on-demand", "register-sql", "age_next_year", "--input", "customers:age", "--output", "age_next=Integral",
            "--sql", "age + 1")
    assert r.exit_code == 0 and "age_next_year@1" in r.output
    assert run("create-service", "ages", "--feature", "on_demand:age_next_year").exit_code == 0
    vector = json.loads(run("service", "ages", "--lookup", "customer_id=2").output)
    assert vector["age"] == 20 and vector["age_next"] == 21

    r = run("on-demand", "delete", "spend_band")
    assert r.exit_code == 0 and "Deleted on-demand feature spend_band" in r.output
    r = run("on-demand", "show", "spend_band")
    assert r.exit_code == 1 and "spend_band" in r.output and "Traceback" not in r.output
    assert [f["name"] for f in json.loads(run("on-demand", "list", "--json").output)] == ["age_next_year"]


def test_refusals_are_one_line_naming_the_fault(run, store_files, tmp_path):
    make_groups(run, store_files)

    def fails(*args: str, code: int = 1) -> str:
        r = run(*args)
        assert r.exit_code == code, r.output
        assert "Traceback" not in r.output
        return r.output

    empty = tmp_path / "nothing_here.py"
    empty.write_text("RATE = 0.5\n\ndef helper(x):\n    return x\n", encoding="utf-8")
    out = fails("on-demand", "register", str(empty))
    assert "nothing_here.py defines no on-demand feature" in out

    broken = tmp_path / "broken.py"
    broken.write_text("import pandas as pd\n\nx = 1 / 0\n", encoding="utf-8")
    out = fails("on-demand", "register", str(broken))
    assert "Cannot import" in out and "broken.py, line 3: ZeroDivisionError" in out

    syntax = tmp_path / "syntax.py"
    syntax.write_text("def f(:\n    pass\n", encoding="utf-8")
    assert "syntax.py, line 1: SyntaxError" in fails("on-demand", "register", str(syntax))

    # The store refuses a definition while the file imports: the file and the store's reason.
    bad_output = tmp_path / "bad_output.py"
    bad_output.write_text(textwrap.dedent('''
        from store import Feature, on_demand

        @on_demand(inputs=["customers:age"], outputs=[Feature("age_days", "Decimal")])
        def age_days(df):
            return {"age_days": df["age"] * 365}
    '''), encoding="utf-8")
    out = fails("on-demand", "register", str(bad_output))
    assert "bad_output.py" in out and "Decimal" in out

    # An input that is no feature of its group: NotFound from the store, nothing registered.
    wrong_input = tmp_path / "wrong_input.py"
    wrong_input.write_text(FEATURES_PY.replace("customers:age", "customers:height"), encoding="utf-8")
    out = fails("on-demand", "register", str(wrong_input))
    assert "height" in out
    assert "No on-demand features yet" not in run("on-demand", "list").output  # the SQL one, before it, went in

    out = fails("on-demand", "register-sql", "ratio", "--input", "customer_spend:avg_amount_30d",
                "--output", "r=Fractional", "--sql", "amount / avg_amount_30d")
    assert "'amount'" in out and "not an input" in out
    out = fails("on-demand", "register-sql", "two", "--input", "customers:age", "--output", "a=Integral",
                "--output", "b=Integral", "--sql", "age + 1", code=2)
    assert "OUTPUT=EXPR" in out
    out = fails("on-demand", "register-sql", "x", "--input", "customers:age", "--output", "a", "--sql", "age",
                code=2)
    assert "--output 'a' must look like name=Type" in out
    assert "does not exist" in fails("on-demand", "show", "nosuch")
    assert "does not exist" in fails("on-demand", "delete", "nosuch")
    assert "not a Python file" in fails("on-demand", "register", store_files["customers"], code=2)
