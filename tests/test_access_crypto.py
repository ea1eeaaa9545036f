"""Encryption at rest of the offline store: an encrypted store's Parquet files hold no plaintext
feature values, the engine reads and compacts them with the key (DuckDB given it), another
engine reads them only with the key, and opening without it, or with another, fails clearly."""
from __future__ import annotations

import base64
import glob
import os

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

from store import Feature, FeatureStore, ValidationError
from store.access import crypto
from store.cli import main

SECRET_WORDS = ["zebra-sapphire-%04d" % i for i in range(3000)]


def frame(n: int = 3000) -> pd.DataFrame:
    return pd.DataFrame({"id": range(n), "ts": [f"2026-10-{1 + i % 28:02d}T00:00:00Z" for i in range(n)],
                         "secret": SECRET_WORDS[:n], "amount": [1234.5 + i for i in range(n)]})


@pytest.fixture
def encrypted(tmp_path, monkeypatch):
    store, key_file = tmp_path / "store", tmp_path / "store.key"
    result = CliRunner().invoke(main, ["--store", str(store), "init", "--encrypt", "--key-file", str(key_file)])
    assert result.exit_code == 0, result.output
    assert oct(os.stat(key_file).st_mode & 0o777) == "0o600"
    monkeypatch.setenv(crypto.KEY_FILE_ENV, str(key_file))
    return store, base64.b64decode(key_file.read_text().strip())


def test_an_encrypted_store_writes_no_plaintext_and_reads_with_its_key(encrypted):
    store, key = encrypted
    features = [Feature("id", "Integral"), Feature("ts", "String"), Feature("secret", "String"),
                Feature("amount", "Fractional")]
    with FeatureStore(store) as fs:
        fs.create_feature_group("g", "id", "ts", features)
        fs.ingest("g", frame())
        for i in range(5):
            fs.put_record("g", {"id": 10_000 + i, "ts": "2026-11-01T00:00:00Z", "secret": "zebra-sapphire-late",
                                "amount": 1.0})
        fs.flush()
        fs.compact("g")
        assert fs.query("SELECT count(*) AS n FROM g")["n"].iloc[0] == 3005
        assert fs.get_record("g", 7)["secret"] == "zebra-sapphire-0007"
        assert len(fs.as_of("g")) == 3005
        ds = fs.build_dataset(pd.DataFrame({"id": [1, 2], "event_time": ["2026-12-01T00:00:00Z"] * 2}), ["g"])
        assert ds.to_pandas()["secret"].tolist() == ["zebra-sapphire-0001", "zebra-sapphire-0002"]
        assert fs.dataset(ds.id).num_rows == 2  # the saved entity copy is encrypted and read back
    files = glob.glob(f"{store}/offline/**/*.parquet", recursive=True) + glob.glob(f"{store}/datasets/**/*.parquet",
                                                                                 recursive=True)
    assert files
    for path in files:
        data = open(path, "rb").read()
        assert data[:4] == data[-4:] == b"PARE"  # Parquet's magic for a file with an encrypted footer
        assert b"zebra" not in data and b"sapphire" not in data and b"secret" not in data  # values and names
    everything = b"".join(open(p, "rb").read() for p in glob.glob(f"{store}/**/*", recursive=True)
                          if os.path.isfile(p))
    assert b"zebra-sapphire" not in everything and b"SQLite format 3" not in everything  # the database too
    con = duckdb.connect()
    pattern = f"{store}/offline/g/data/**/*.parquet"
    with pytest.raises(duckdb.Error, match="encrypted"):
        con.sql(f"SELECT count(*) FROM read_parquet('{pattern}')").fetchall()
    con.execute(f"PRAGMA add_parquet_key('k', '{base64.b64encode(key).decode()}')")
    rows = con.sql(f"SELECT count(*) FROM read_parquet('{pattern}', encryption_config = {{footer_key: 'k'}})").fetchall()
    assert rows[0][0] == 3005


def test_opening_without_the_key_or_with_another_fails_clearly(encrypted, monkeypatch):
    store, _ = encrypted
    monkeypatch.delenv(crypto.KEY_FILE_ENV)
    with pytest.raises(ValidationError, match="is encrypted: give its key"):
        FeatureStore(store)
    with pytest.raises(ValidationError, match="does not open the store"):
        FeatureStore(store, key=crypto.new_key())
    with pytest.raises(ValidationError, match="is not encrypted"):
        FeatureStore(store.parent / "plain", key=crypto.new_key())
