"""The README's Python blocks run, so the README cannot drift from the code (as sqlite-utils'
``tests/test_docs.py`` keeps its docs honest).

The blocks read as one user session: the first opens ``fs`` on ``./.featurestore``; the later
sections go on using ``fs`` and the groups of the sample story (``transactions``,
``customer_spend``). So every block runs in order, in one namespace, in a fresh temporary folder
(the working directory, with ``$FEATURESTORE_HOME`` pointing at its ``.featurestore``), with
tracebacks pointing at README lines.

What a block leaves to the reader (a file of theirs, a DataFrame, a group it mentions) is
supplied before it by the ``SETUP`` function for its section, never by editing the block; each
setup's docstring lists what it supplies. A block that cannot run here at all is listed in
``NOT_RUN`` with why; it is still compiled, so its syntax is checked.
"""
from __future__ import annotations

import ast
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

# Section heading -> why its Python block is not run (its syntax is still checked).
NOT_RUN = {
    "Streaming from Kafka": "needs a Kafka broker; tests/streams/test_consume.py runs the same calls against one "
                            "(Tansu)",
    "Scaling out: Spark, object storage, PostgreSQL and Redis":
        "needs a Spark session (pyspark and Java 17+) and the ./shared store on S3 the bash block above makes; "
        "the Spark engine's answers are held to DuckDB's by tests/engines/test_engine_spark.py",
}


def python_blocks() -> list[tuple[str, int, str]]:
    """(section heading, line of the block's first code line, code) of every ```python block."""
    blocks, heading = [], ""
    lines = README.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.strip() == "```python":
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
            blocks.append((heading, i + 2, "\n".join(lines[i + 1:end]) + "\n"))
            i = end
        i += 1
    return blocks


def compiled(line: int, code: str) -> Any:
    """The block compiled with README.md's line numbers, so a traceback names the README line."""
    tree = ast.parse(code, filename=str(README))
    ast.increment_lineno(tree, line - 1)
    return compile(tree, str(README), "exec")


# ----------------------------------------------------------------------------- what the blocks assume

TRANSACTION_FEATURES = [
    ("transaction_id", "String"), ("customer_id", "Integral"), ("merchant_id", "String"), ("amount", "Fractional"),
    ("refund_amount", "Fractional"), ("currency", "String"), ("email", "String"), ("country", "String"),
    ("event_time", "String"),
]


def _transactions(n: int, start: str = "2026-09-01T00:00:00Z") -> pd.DataFrame:
    times = pd.date_range(start, periods=n, freq="3h")
    return pd.DataFrame({
        "transaction_id": [f"T{i:05d}" for i in range(n)],
        "customer_id": [100 + i % 7 for i in range(n)],
        "merchant_id": [f"M{i % 5:04d}" for i in range(n)],
        "amount": [round(5 + (i * 37) % 400 + 0.25, 2) for i in range(n)],
        "refund_amount": [0.0] * n,
        "currency": [("USD", "EUR", "GBP")[i % 3] for i in range(n)],
        "email": [f"c{i % 7}@example.com" for i in range(n)],
        "country": [("US", "DE", "GB")[i % 3] for i in range(n)],
        "event_time": times.strftime("%Y-%m-%dT%H:%M:%SZ"),
    })


def python_api(ns: dict[str, Any], folder: Path) -> None:
    """Supplies ``customers.csv`` (its second row has an age that is no integer, so
    ``on_error="skip"`` has something to skip), ``orders_df``, ``labels_df`` (customer and merchant
    keys with event times), ``df`` (the clicks), and a ``merchants`` group with ``risk_score``,
    which ``build_dataset`` names."""
    from store import FeatureStore

    (folder / "customers.csv").write_text(
        "customer_id,event_time,age,country,credit_limit,segments\n"
        '43,2026-10-01T12:00:00Z,52,DE,1500.0,"[""new""]"\n'
        "44,2026-10-01T12:00:00Z,forty,US,900.0,\n", encoding="utf-8")
    ns["orders_df"] = pd.DataFrame({"order_id": [1, 2], "ts": ["2026-10-01T08:00:00Z", "2026-10-01T09:30:00Z"],
                                    "amount": [19.99, 5.0]})
    ns["labels_df"] = pd.DataFrame({"customer_id": [42, 43], "merchant_id": ["M0001", "M0002"],
                                    "event_time": ["2026-10-03T00:00:00Z"] * 2, "is_fraud": [0, 1]})
    ns["df"] = pd.DataFrame({"id": [1, 2], "ts": ["2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z"],
                             "page": ["home", "cart"]})
    merchants = pd.DataFrame({"merchant_id": ["M0001", "M0002"], "risk_score": [0.12, 0.4],
                              "event_time": ["2026-09-01T00:00:00Z"] * 2})
    with FeatureStore(folder / ".featurestore") as fs:
        fs.create_feature_group("merchants", "merchant_id", "event_time", dataframe=merchants)
        fs.ingest("merchants", merchants)


def data_quality(ns: dict[str, Any], folder: Path) -> None:
    """Supplies a ``transactions`` group with every feature the rules name, holding three weeks
    of rows and six rows quarantined for an amount that is no number (``ids``, among them the 7
    that ``corrected=`` fixes); ``df`` (new rows to validate); ``suite.json`` (a Great
    Expectations suite); ``t0 < t1 < t2`` (the drift windows' bounds) and ``timedelta``."""
    from store import Feature

    fs = ns["fs"]
    fs.create_feature_group("transactions", "transaction_id", "event_time",
                            [Feature(name, kind) for name, kind in TRANSACTION_FEATURES])
    fs.ingest("transactions", _transactions(168))
    bad = _transactions(6, "2026-09-22T00:00:00Z").astype({"amount": str})
    bad["transaction_id"] = [f"B{i}" for i in range(6)]
    bad["amount"] = "n/a"
    fs.ingest("transactions", bad, on_error="skip")
    ns["ids"] = sorted(int(i) for i in fs.quarantine("transactions")["id"])
    assert 7 in ns["ids"], f"the README requeues entry 7 of the quarantine; the setup made {ns['ids']}"
    ns["df"] = _transactions(5, "2026-09-23T00:00:00Z")
    (folder / "suite.json").write_text(json.dumps({"expectation_suite_name": "transactions", "expectations": [
        {"expectation_type": "expect_column_values_to_not_be_null", "kwargs": {"column": "amount"}}]}))
    ns.update(t0="2026-09-01T00:00:00Z", t1="2026-09-11T00:00:00Z", t2="2026-09-22T00:00:00Z", timedelta=timedelta)


def on_demand_features(ns: dict[str, Any], folder: Path) -> None:
    """Supplies the ``customer_spend`` group the Pipelines section's pipeline writes (its features
    as the sample store has them), with customer 43's 30-day average amount, 96.0, so an amount of
    480.0 is five times it."""
    from store import Feature

    fs = ns["fs"]
    fs.create_feature_group("customer_spend", "customer_id", "event_time", [
        Feature("customer_id", "Integral"), Feature("txn_count_7d", "Integral"), Feature("spend_7d", "Fractional"),
        Feature("avg_amount_30d", "Fractional"), Feature("distinct_merchants_30d", "Integral"),
        Feature("event_time", "String")])
    fs.put_record("customer_spend", {"customer_id": 43, "txn_count_7d": 4, "spend_7d": 310.0, "avg_amount_30d": 96.0,
                                     "distinct_merchants_30d": 3, "event_time": "2026-10-01T23:00:00Z"})


def pipelines(ns: dict[str, Any], folder: Path) -> None:
    """Supplies ``spend.sql`` (the sample store's own spend SQL, ``store.demo.SPEND_SQL``) and
    ``my_jobs.py`` with the ``score`` function the comment sketches (importable: the folder is on
    ``sys.path``); the ``customer_spend`` group it writes is the On-demand features section's."""
    from store.demo import SPEND_SQL

    (folder / "spend.sql").write_text(SPEND_SQL, encoding="utf-8")
    (folder / "my_jobs.py").write_text(
        "def score(ctx):\n    return ctx.sql('SELECT merchant_id, risk_score, event_time FROM merchants')\n")


def vectors_over_http(ns: dict[str, Any], folder: Path) -> None:
    """Supplies ``featurestore serve`` over the session's store (open: it takes any signature),
    its URL in ``$AWS_ENDPOINT_URL_SAGEMAKER``; both are undone when the session ends."""
    import os

    from store.server.process import LocalServer

    server = LocalServer(folder / ".featurestore")
    server.start()
    before = os.environ.get("AWS_ENDPOINT_URL_SAGEMAKER")
    os.environ["AWS_ENDPOINT_URL_SAGEMAKER"] = server.url

    def undo() -> None:
        server.stop()
        if before is None:
            os.environ.pop("AWS_ENDPOINT_URL_SAGEMAKER", None)
        else:
            os.environ["AWS_ENDPOINT_URL_SAGEMAKER"] = before
    ns.setdefault("__cleanups__", []).append(undo)


SETUP: dict[str, Callable[[dict[str, Any], Path], None]] = {
    "Python API": python_api,
    "On-demand features": on_demand_features,
    "Data quality": data_quality,
    "Pipelines": pipelines,
    "Feature vectors over HTTP": vectors_over_http,
}


# ----------------------------------------------------------------------------- the tests


def test_every_block_compiles_and_every_listed_section_has_one():
    blocks = python_blocks()
    assert blocks, "README.md has no ```python blocks"
    for heading, line, code in blocks:
        compiled(line, code)
    headings = {heading for heading, _, _ in blocks}
    stale = sorted((set(SETUP) | set(NOT_RUN)) - headings)
    assert not stale, f"SETUP/NOT_RUN name sections without a Python block in README.md: {stale}"


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FEATURESTORE_HOME", str(tmp_path / ".featurestore"))
    for name in ("FEATURESTORE_KEY", "FEATURESTORE_KEY_FILE", "FEATURESTORE_PRINCIPAL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    ns: dict[str, Any] = {"__name__": "readme"}
    try:
        for heading, line, code in python_blocks():
            if heading in NOT_RUN:
                continue
            if heading in SETUP:
                SETUP[heading](ns, tmp_path)
            try:
                exec(compiled(line, code), ns)
            except Exception as exc:  # noqa: BLE001 - said with the README line, then re-raised
                raise AssertionError(f"README.md block at line {line} ({heading!r}) failed: "
                                     f"{type(exc).__name__}: {exc}") from exc
    finally:
        for undo in ns.get("__cleanups__", []):
            undo()
        if ns.get("fs") is not None:
            ns["fs"].close()
        sys.modules.pop("my_jobs", None)
