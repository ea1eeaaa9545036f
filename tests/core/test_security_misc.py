"""Issue 19, the smaller holes: a stopped ``encrypt`` must not pass for done (D12), statistics
over feature names that collide with the engine's own aliases or with no numeric feature (D14),
and a user's SQL that reaches for a DuckDB extension refused as a ValidationError (D16)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from click.testing import CliRunner

from store import Conflict, Feature, FeatureStore, FeatureStoreError, ValidationError
from store.retrieval import stats
from store.storage import encryption as crypto
from store.access import rekey
from store.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# ---------------------------------------------------------------- D12: a stopped encrypt


def _plain_store(path) -> None:
    """A plain store with a few dozen Parquet files (one per day) and a buffered put."""
    with FeatureStore(path) as fs:
        fs.create_feature_group("g", "id", "ts", [Feature("id", "Integral"), Feature("ts"), Feature("secret")])
        for day in range(1, 25):
            fs.ingest("g", pd.DataFrame({"id": range(day * 100, day * 100 + 20),
                                         "ts": [f"2026-10-{day:02d}T00:00:00Z"] * 20, "secret": ["s"] * 20}))
        fs.put_record("g", {"id": 1, "ts": "2026-11-01T00:00:00Z", "secret": "buffered"})


def _leftovers(path) -> list[str]:
    """Every file an encrypt/rekey run writes beside the store's own (hidden temporary files too)."""
    found = []
    for folder, _dirs, names in os.walk(path):
        found += [os.path.join(folder, n) for n in names if ".rekey" in n or n in (crypto.LOCK, crypto.MARKER + ".tmp")]
    return found


def _encrypt_in_a_child(store, key_file, then: str) -> subprocess.Popen:
    """``featurestore encrypt`` in a child process that, once every Parquet copy is written and
    before the database export and the switch, does ``then`` (Python run inside the child)."""
    code = (
        "import os, signal, sys, time\n"
        "from store.access import rekey\n"
        "from store.cli import main\n"
        "def stop(*args, **kwargs):\n"
        f"    {then}\n"
        "rekey._export_database = stop\n"
        f"main(['--store', {str(store)!r}, 'encrypt', '--key-file', {str(key_file)!r}])\n"
    )
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def test_a_killed_encrypt_is_cleaned_up_and_its_key_refused_on_every_path(tmp_path, monkeypatch):
    store, key_file = tmp_path / "S", tmp_path / "S.key"
    _plain_store(store)
    # The child kills itself with SIGKILL mid-run: the state a `kill -9` of encrypt leaves.
    child = _encrypt_in_a_child(store, key_file, "os.kill(os.getpid(), signal.SIGKILL)")
    assert child.wait(120) == -signal.SIGKILL, child.stderr.read().decode()
    assert key_file.exists() and not crypto.is_encrypted(str(store))
    copies = [p for p in _leftovers(store) if p.endswith(".parquet.rekey")]
    assert len(copies) >= 24 and os.path.exists(store / crypto.LOCK)
    with open(store / "offline" / "g" / ".stray.parquet.rekey.tmp", "wb") as fh:  # a copy cut off mid-write
        fh.write(b"PAR1")

    # The key of the run that never switched opens nothing, however it is given: same refusal.
    monkeypatch.setenv(crypto.KEY_FILE_ENV, str(key_file))
    with pytest.raises(ValidationError, match=r"is not encrypted.*\$FEATURESTORE_KEY_FILE.*featurestore encrypt"):
        FeatureStore(store)
    assert _leftovers(store) == []  # the opener removed the copies, the temporary file and the lock
    monkeypatch.delenv(crypto.KEY_FILE_ENV)
    monkeypatch.setenv(crypto.KEY_ENV, key_file.read_text().strip())
    with pytest.raises(ValidationError, match=r"is not encrypted.*\$FEATURESTORE_KEY\).*featurestore encrypt"):
        FeatureStore(store)
    monkeypatch.delenv(crypto.KEY_ENV)
    with pytest.raises(ValidationError, match=r"is not encrypted.*key=.*featurestore encrypt"):
        FeatureStore(store, key=key_file.read_text())
    result = CliRunner().invoke(main, ["--store", str(store), "get", "g", "1"],
                                env={crypto.KEY_FILE_ENV: str(key_file)})
    assert result.exit_code == 1 and "is not encrypted" in result.output and "Traceback" not in result.output

    with FeatureStore(store) as fs:  # without a key: the plain store, nothing lost
        assert fs.query("SELECT count(*) AS n FROM g")["n"].iloc[0] == 24 * 20 + 1
        assert fs.get_record("g", 1)["secret"] == "buffered"

    # Encrypting again works even with the stale key still in the environment.
    new_key = tmp_path / "S2.key"
    result = CliRunner().invoke(main, ["--store", str(store), "encrypt", "--key-file", str(new_key)],
                                env={crypto.KEY_FILE_ENV: str(key_file)})
    assert result.exit_code == 0, result.output
    assert _leftovers(store) == []
    monkeypatch.setenv(crypto.KEY_FILE_ENV, str(new_key))
    with FeatureStore(store) as fs:
        assert fs.query("SELECT count(*) AS n FROM g")["n"].iloc[0] == 24 * 20 + 1


def test_an_encrypt_still_running_is_left_alone_by_openers(tmp_path):
    store, key_file = tmp_path / "S", tmp_path / "S.key"
    _plain_store(store)
    ready = tmp_path / "ready"
    child = _encrypt_in_a_child(store, key_file, f"open({str(ready)!r}, 'w').close(); time.sleep(600)")
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert child.poll() is None and time.monotonic() < deadline, child.stderr.read().decode()
            time.sleep(0.05)
        copies = _leftovers(store)
        with pytest.raises(Conflict, match="featurestore encrypt or rekey.*is running"):
            FeatureStore(store)
        assert _leftovers(store) == copies  # nothing of the running encrypt was removed
        with pytest.raises(Conflict, match="is running"):
            rekey.rekey(str(store), crypto.new_key(), None)  # nor may a second run start
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(60)
    with FeatureStore(store) as fs:  # once it died, the next opener cleans up
        assert fs.query("SELECT count(*) AS n FROM g")["n"].iloc[0] == 24 * 20 + 1
    assert _leftovers(store) == []


def test_a_rekey_that_fails_before_its_switch_leaves_no_copies(tmp_path, monkeypatch):
    store = tmp_path / "S"
    _plain_store(store)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rekey, "_export_database", full_disk)
    with pytest.raises(OSError):
        rekey.rekey(str(store), crypto.new_key(), None)
    assert _leftovers(store) == [] and not crypto.is_encrypted(str(store))


def test_a_new_store_with_a_key_in_the_environment_is_refused_as_with_key(tmp_path, monkeypatch):
    monkeypatch.setenv(crypto.KEY_ENV, crypto.encode(crypto.new_key()))
    with pytest.raises(ValidationError, match=r"not encrypted.*unset \$FEATURESTORE_KEY"):
        FeatureStore(tmp_path / "new")
    runner = CliRunner()
    result = runner.invoke(main, ["--store", str(tmp_path / "enc"), "init", "--encrypt", "--key-file",
                                  str(tmp_path / "enc.key")])
    assert result.exit_code == 0, result.output
    assert crypto.KEY_FILE_ENV not in os.environ  # init no longer sets it for the rest of the process


# ---------------------------------------------------------------- D14: statistics over any names

# Every alias the statistics SQL uses (stats.py, the DuckDB engine's summary, quality.monitor),
# as feature names of every type: a name must never be taken for the alias, nor the reverse.
ALIASES = ["v", "n", "x", "k", "t", "value", "count", "c2", "d2", "lo2", "hi2", "m2", "q2", "s2", "t2", "bucket",
           "rows", "deletes", "mean", "min", "max", "non_null", "distinct", "start", "end", "upper", "reference",
           "current", "p05", "p95"]
TYPES = ["String", "Integral", "Fractional"]


def _aliased_group(fs: FeatureStore) -> list[Feature]:
    features = [Feature("id"), Feature("ts")] + [Feature(n, TYPES[i % 3]) for i, n in enumerate(ALIASES)]
    features.append(Feature("tags", "String", collection="List"))
    fs.create_feature_group("w", "id", "ts", features)
    rows = []
    for r in range(6):
        row = {"id": f"r{r}", "ts": f"2026-01-0{1 + r}T00:00:00Z", "tags": ["a", "b"][: r % 3]}
        for i, n in enumerate(ALIASES):
            row[n] = [f"{n}-{r % 2}", r % 3, r / 2][i % 3]
        rows.append(row)
    fs.ingest("w", pd.DataFrame(rows))
    fs.put_record("w", {**rows[0], "ts": "2026-01-09T00:00:00Z"})  # one staged row too
    return features


def test_statistics_over_feature_names_that_are_aliases(fs):
    features = _aliased_group(fs)
    for scope in ("history", "latest"):
        table = fs.statistics("w", scope)
        assert table["feature"].tolist() == [f.name for f in features]
        by = table.set_index("feature")
        assert by.loc["v", "top_values"] == "v-0, v-1"  # the feature's values, not another column's
        assert by.loc["n", "top_values"].split(", ")[0] == "0"
        assert by.loc["x", "mean"] == pytest.approx(sum(r / 2 for r in range(6)) / 6 if scope == "latest"
                                                    else (sum(r / 2 for r in range(6)) + 0) / 7)
    for f in features:
        assert stats.distribution(fs._ctx, "w", f.name).values > 0
        assert stats.over_time(fs._ctx, "w", f.name).table["rows"].sum() == 7
        if not f.is_collection:
            shares = fs.distributions("w", f.name, ("2026-01-01", "2026-01-04"), ("2026-01-04", "2026-01-10"))
            assert shares["reference"].sum() == pytest.approx(1) and shares["current"].sum() == pytest.approx(1)
    assert set(fs.drift("w", ("2026-01-01", "2026-01-04"), ("2026-01-04", "2026-01-10"))["feature"]) \
        == {f.name for f in features[2:]}


def test_statistics_of_a_group_without_numeric_features(fs):
    fs.create_feature_group("s", "id", "ts", [Feature("id"), Feature("ts")])  # the report's repro
    for k in range(3):
        fs.put_record("s", {"id": f"r{k}", "ts": "2026-01-01T00:00:00Z"})
    table = fs.statistics("s")
    assert table["count"].tolist() == [3, 3] and table["distinct"].tolist() == [3, 1]
    assert table["std"].isna().all() and table["mean"].isna().all()
    fs.add_features("s", [Feature("colour")])
    fs.put_record("s", {"id": "r9", "ts": "2026-01-02T00:00:00Z", "colour": "red"})
    table = fs.statistics("s", "latest")
    assert table["count"].tolist() == [4, 4, 1] and table["top_values"].isna().tolist() == [True, True, False]
    assert table["top_values"].iloc[2] == "red"


# ---------------------------------------------------------------- D16: no raw DuckDB error from SQL


@pytest.mark.parametrize("sql, words", [
    ("SELECT * FROM sqlite_scan('featurestore.db', 'audit_log')", "sqlite_scan comes from DuckDB's sqlite"),
    ("SELECT * FROM SQLITE_SCAN('../featurestore.db', 'audit_log')", "comes from DuckDB's sqlite"),
    ("SELECT * FROM sqlite_attach('featurestore.db')", "sqlite_attach comes from DuckDB's sqlite"),
    ("SELECT * FROM read_xlsx('x.xlsx')", "read_xlsx comes from DuckDB's excel"),
    ("SELECT st_point(1, 2)", "st_point comes from DuckDB's spatial"),
    ("SELECT 9223372036854775807::BIGINT + 1", "Overflow"),
    ("SELECT * FROM g WHERE id = ?", "parameters"),
])
def test_duckdb_errors_of_a_query_are_validation_errors(fs, sql, words):
    fs.create_feature_group("g", "id", "ts", [Feature("id"), Feature("ts")])
    with pytest.raises(ValidationError, match=words) as caught:
        fs.query(sql)
    assert isinstance(caught.value, FeatureStoreError) and "INSTALL" not in str(caught.value)
