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
from store.storage import encryption as crypto
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


def _plain_store(path) -> None:
    features = [Feature("id", "Integral"), Feature("ts", "String"), Feature("secret", "String"),
                Feature("amount", "Fractional")]
    with FeatureStore(path) as fs:
        fs.create_feature_group("g", "id", "ts", features)
        fs.ingest("g", frame(500))
        fs.put_record("g", {"id": 9999, "ts": "2026-11-01T00:00:00Z", "secret": "zebra-sapphire-buffered",
                            "amount": 2.0})  # still in the buffer when encryption starts


def _all_bytes(path) -> bytes:
    return b"".join(open(p, "rb").read() for p in glob.glob(f"{path}/**/*", recursive=True) if os.path.isfile(p)
                    and not p.endswith((".csv",)))


def test_an_existing_store_is_encrypted_then_rekeyed_and_nothing_is_lost(tmp_path, monkeypatch):
    store = tmp_path / "store"
    _plain_store(store)
    runner = CliRunner()
    result = runner.invoke(main, ["--store", str(store), "encrypt", "--key-file", str(tmp_path / "k1")])
    assert result.exit_code == 0, result.output
    assert b"zebra-sapphire" not in _all_bytes(store)
    monkeypatch.setenv(crypto.KEY_FILE_ENV, str(tmp_path / "k1"))
    with FeatureStore(store) as fs:
        assert fs.query("SELECT count(*) AS n FROM g")["n"].iloc[0] == 501
        assert fs.get_record("g", 9999)["secret"] == "zebra-sapphire-buffered"
    result = runner.invoke(main, ["--store", str(store), "rekey", "--key-file", str(tmp_path / "k2")])
    assert result.exit_code == 0, result.output
    with pytest.raises(ValidationError, match="does not open"):
        FeatureStore(store)  # k1 no longer opens it
    monkeypatch.setenv(crypto.KEY_FILE_ENV, str(tmp_path / "k2"))
    with FeatureStore(store) as fs:
        assert len(fs.as_of("g")) == 501 and fs.get_record("g", 3)["secret"] == "zebra-sapphire-0003"


def test_a_key_change_that_died_after_its_files_were_written_is_finished_on_open(tmp_path, monkeypatch):
    from store.access import rekey

    store = tmp_path / "store"
    _plain_store(store)
    with FeatureStore(store):
        pass  # flushed
    key = crypto.new_key()
    finish = rekey.finish
    monkeypatch.setattr(rekey, "finish", lambda path: None)  # the process dies right after the switch is marked
    rekey.rekey(str(store), key, None)
    monkeypatch.setattr(rekey, "finish", finish)
    assert glob.glob(f"{store}/**/*.rekey", recursive=True)
    with FeatureStore(store, key=key) as fs:  # whoever opens it next puts the new files in place
        assert fs.query("SELECT count(*) AS n FROM g")["n"].iloc[0] == 501
    assert not glob.glob(f"{store}/**/*.rekey", recursive=True)
