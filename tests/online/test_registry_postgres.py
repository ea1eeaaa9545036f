"""A store's tables on PostgreSQL (``registry: postgresql://...``): where it is kept, what is
refused, names past PostgreSQL's 63-byte limit, stores sharing one database, and the CLI and
studio on such a store. The engine's own suites run on it too (modules marked ``registry``,
``storage`` and ``online``; see conftest)."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pandas as pd
import psycopg
import pytest
import yaml
from click.testing import CliRunner

from store import Feature, FeatureStore, ValidationError
from store.cli import main


def eventually(call, seconds: float = 10.0):
    """``call`` once it stops raising AccessDenied: another process's change reaches a store with
    the registry's notification, in milliseconds, asynchronously."""
    import time

    from store import AccessDenied

    deadline = time.monotonic() + seconds
    while True:
        try:
            return call()
        except AccessDenied:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture
def studio_cleanup():
    """Close the stores the studio pages opened (Streamlit caches one per location for the process)."""
    yield
    from app.ui import session

    session._open.clear()


def test_the_registry_is_kept_in_the_config_and_found_by_every_opener(tmp_path, postgres_server):
    with FeatureStore(tmp_path / "s", registry=postgres_server.url) as fs:
        assert fs.registry_location.startswith(postgres_server.url.replace("postgres@", ""))
        assert fs.online_location == fs.registry_location  # online rows in the registry, in its transactions
        fs.create_feature_group("g", "id", "ts", [Feature("id", "Integral"), Feature("ts", "Fractional")])
    assert not (tmp_path / "s" / "featurestore.db").exists()
    with FeatureStore(tmp_path / "s") as fs:
        assert fs.list_feature_groups()[0].name == "g"
    with FeatureStore(tmp_path / "s", registry=postgres_server.url) as fs:  # the same URL again is fine
        assert fs.registry_location.endswith(")")


def test_what_is_refused_says_why_and_keeps_nothing(tmp_path, postgres_server):
    with pytest.raises(ValidationError, match="Cannot reach the registry's PostgreSQL at postgresql://127.0.0.1:1/x"):
        FeatureStore(tmp_path / "a", registry="postgresql://nobody@127.0.0.1:1/x")
    assert not (tmp_path / "a" / "featurestore.yaml").exists()
    with pytest.raises(ValidationError, match="use sqlite \\(the default\\) or postgresql://"):
        FeatureStore(tmp_path / "a", registry="mysql://x")
    FeatureStore(tmp_path / "b").close()  # a store whose registry is its SQLite file keeps it there
    with pytest.raises(ValidationError, match="already keeps its registry in featurestore.db"):
        FeatureStore(tmp_path / "b", registry=postgres_server.url)
    FeatureStore(tmp_path / "c", registry=postgres_server.url).close()
    with pytest.raises(ValidationError, match="registry is postgresql://.*not postgresql://other"):
        FeatureStore(tmp_path / "c", registry="postgresql://other@127.0.0.1/x")
    result = CliRunner().invoke(main, ["--store", str(tmp_path / "d"), "init", "--encrypt", "--key-file",
                                       str(tmp_path / "key"), "--registry", postgres_server.url])
    assert result.exit_code != 0 and "server's encryption at rest" in result.output
    assert not (tmp_path / "key").exists()


def test_names_past_postgresql_limit_work_and_come_back_whole(tmp_path, postgres_server):
    """Group and feature names of 64 characters (SageMaker's limit), which table names lengthen."""
    group = "g" * 64
    rid, wide, accent = "record_identifier_" + "x" * 46, "f" * 64, "a-" * 31 + "zz"
    features = [Feature(rid, "String"), Feature("ts", "String"), Feature(wide, "Integral"),
                Feature(accent, "Fractional")]
    with FeatureStore(tmp_path / "s", registry=postgres_server.url) as fs:
        fs.create_feature_group(group, rid, "ts", features)
        fs.put_record(group, {rid: "a", "ts": "2026-11-01T00:00:00Z", wide: 1, accent: 0.5})
        frame = pd.DataFrame({rid: [f"r{i}" for i in range(2_000)], "ts": "2026-11-02T00:00:00Z",
                              wide: range(2_000), accent: 1.5})
        assert fs.ingest(group, frame).rows_written == 2_000
        fs.add_features(group, [Feature("n" * 64, "Integral")])
        fs.put_record(group, {rid: "a", "ts": "2026-11-03T00:00:00Z", wide: 2, accent: 2.5, "n" * 64: 7})
        assert fs.get_record(group, "a") == {rid: "a", "ts": "2026-11-03T00:00:00Z", wide: 2, accent: 2.5, "n" * 64: 7}
        assert fs.get_record(group, "r5")[wide] == 5
        history = fs.query(f'SELECT count(*) AS n FROM "{group}"')  # staged rows and files alike
        assert history["n"][0] == 2_002
        fs.flush()
        assert set(fs.as_of(group).columns) >= {rid, wide, accent, "n" * 64}
        assert fs.describe(group)["online_records"] == 2_001


def test_stores_sharing_a_database_stay_apart(tmp_path, postgres_server):
    one = FeatureStore(tmp_path / "one", registry=postgres_server.url)
    two = FeatureStore(tmp_path / "two", registry=postgres_server.url)
    try:
        for fs, n in ((one, 1), (two, 2)):
            fs.create_feature_group("g", "id", "ts", [Feature("id", "Integral"), Feature("ts", "Fractional"),
                                                      Feature("n", "Integral")])
            fs.put_record("g", {"id": 1, "ts": 1.0, "n": n})
        assert one.get_record("g", 1)["n"] == 1 and two.get_record("g", 1)["n"] == 2
        two.delete_feature_group("g")
        assert one.get_record("g", 1)["n"] == 1
    finally:
        one.close()
        two.close()
    with psycopg.connect(postgres_server.url) as conn:  # each a schema of its own, named in its config
        schemas = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'fs\\_%'")}
    assert {one._ctx.db.schema, two._ctx.db.schema} <= schemas and one._ctx.db.schema != two._ctx.db.schema


def test_a_write_failing_inside_its_transaction_leaves_nothing_half_done(tmp_path, postgres_server):
    """The online table is dropped behind the store's back, so an ingest fails after writing its
    Parquet files and staging its manifest rows: PostgreSQL rolls all of it back, and the files go."""
    from conftest import offline_files

    with FeatureStore(tmp_path / "s", registry=postgres_server.url) as fs:
        fs.create_feature_group("g", "id", "ts", [Feature("id", "Integral"), Feature("ts", "Fractional"),
                                                  Feature("n", "Integral")])
        fs.ingest("g", pd.DataFrame({"id": range(1_000), "ts": 1.0, "n": 1}))
        before = offline_files(fs, "g", "data")
        with psycopg.connect(postgres_server.url, autocommit=True) as conn:
            conn.execute(f'DROP TABLE "{fs._ctx.db.schema}"."online:g"')
        with pytest.raises(psycopg.errors.UndefinedTable):
            fs.ingest("g", pd.DataFrame({"id": range(1_000, 3_000), "ts": 2.0, "n": 2}))
        assert offline_files(fs, "g", "data") == before
        assert fs.query("SELECT count(*) AS n, max(n) AS top FROM g").values.tolist() == [[1_000, 1]]
        assert fs._ctx.db.get().execute("SELECT count(*) FROM offline_files").fetchone()[0] == len(before)


def test_a_put_whose_rows_fail_with_the_commit_changes_nothing(tmp_path, postgres_server):
    """A put's online and staging rows go to the server with its COMMIT (one round trip): a check
    added to the staging table behind the store's back refuses one there; the online row keeps its
    old value, the write counter its old count, and the next put on the same connection works."""
    with FeatureStore(tmp_path / "s", registry=postgres_server.url) as fs:
        fs.create_feature_group("g", "id", "ts", [Feature("id", "Integral"), Feature("ts", "Fractional"),
                                                  Feature("n", "Integral")])
        fs.put_record("g", {"id": 1, "ts": 1.0, "n": 1})
        seq = fs._ctx.db.get().execute("SELECT seq FROM group_state WHERE group_name = 'g'").fetchone()[0]
        with psycopg.connect(postgres_server.url, autocommit=True) as conn:
            conn.execute(f'ALTER TABLE "{fs._ctx.db.schema}"."staging:g" ADD CONSTRAINT small CHECK (n < 100)')
        with pytest.raises(psycopg.errors.CheckViolation):
            fs.put_record("g", {"id": 1, "ts": 2.0, "n": 500})
        assert fs.get_record("g", 1) == {"id": 1, "ts": 1.0, "n": 1}
        assert fs._ctx.db.get().execute("SELECT seq FROM group_state WHERE group_name = 'g'").fetchone()[0] == seq
        fs.put_record("g", {"id": 2, "ts": 1.0, "n": 3})
        assert fs.get_record("g", 2) == {"id": 2, "ts": 1.0, "n": 3}
        assert fs.query("SELECT count(*) AS n FROM g")["n"][0] == 2


def test_cli_init_and_a_second_machine_with_the_config_only(tmp_path, postgres_server):
    runner = CliRunner()
    store = str(tmp_path / "s")
    result = runner.invoke(main, ["--store", store, "init", "--registry", postgres_server.url])
    assert result.exit_code == 0 and "registry at postgresql://127.0.0.1" in result.output, result.output
    assert runner.invoke(main, ["--store", store, "demo"]).exit_code == 0
    with FeatureStore(store) as fs:
        some = fs.query("SELECT customer_id AS c FROM customers LIMIT 1")["c"][0]
        expected = fs.get_record("customers", some)
        built = fs.build_dataset(fs.query("SELECT customer_id, _event_time AS event_time FROM customers LIMIT 50"),
                                 ["customers"], name="train")
    elsewhere = tmp_path / "elsewhere"  # the config names the first folder's offline/ (mounted there, as it were)
    elsewhere.mkdir()
    shutil.copy(tmp_path / "s" / "featurestore.yaml", elsewhere)
    assert yaml.safe_load((elsewhere / "featurestore.yaml").read_text())["offline"] == str(tmp_path / "s" / "offline")
    with FeatureStore(elsewhere) as fs:  # the groups and online records are found from the config alone
        assert "transactions" in [g.name for g in fs.list_feature_groups()]
        assert fs.get_record("customers", some) == expected and expected
        assert fs.datasets()[0]["rebuildable"]  # its entity copy is with the offline files, not in folder s
        assert fs.dataset("train").table.equals(built.table)


def test_another_machine_opens_the_store_by_its_url_alone(tmp_path, postgres_server, monkeypatch):
    """No file is copied: the URL `init` prints (the server and the store's schema) is enough for
    the CLI, a server and the Python API; the settings every machine needs are in the store's tables."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    runner = CliRunner()
    made = runner.invoke(main, ["--store", str(tmp_path / "s"), "init", "--registry", postgres_server.url])
    assert made.exit_code == 0, made.output
    url = made.output.split("--store '")[1].split("'")[0]
    assert url.startswith("postgresql://postgres@127.0.0.1:") and "?schema=fs_" in url
    with FeatureStore(tmp_path / "s") as fs:
        assert fs.shared_url == url
        fs.create_feature_group("g", "id", "ts", [Feature("id", "Integral"), Feature("ts", "Fractional"),
                                                  Feature("n", "Integral")])
        fs.ingest("g", pd.DataFrame({"id": range(3_000), "ts": 1.0, "n": range(3_000)}))
        built = fs.build_dataset(pd.DataFrame({"id": [5, 7], "event_time": [2.0, 2.0]}), ["g"], name="d")
        schema = fs._ctx.db.schema
    listed = runner.invoke(main, ["--store", url, "list"])
    assert listed.exit_code == 0 and listed.output.startswith("g\t3 features"), listed.output
    with FeatureStore(url) as fs:
        assert fs.path == str(tmp_path / "cache" / "featurestore" / schema)
        assert fs.offline_location == str(tmp_path / "s" / "offline")  # where the files were made
        assert fs.get_record("g", 2_999)["n"] == 2_999 and fs.dataset("d").table.equals(built.table)
        fs.put_record("g", {"id": 1, "ts": 3.0, "n": -1})
    with FeatureStore(tmp_path / "s") as fs:
        assert fs.get_record("g", 1)["n"] == -1


def test_a_url_names_one_store_of_the_database(tmp_path, postgres_server, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE one_store")
    server = postgres_server.url.rsplit("/", 1)[0] + "/one_store"
    with pytest.raises(ValidationError, match="Name the store in .*/one_store: it holds none"):
        FeatureStore(server)
    with FeatureStore(tmp_path / "a", registry=server) as fs:
        fs.create_feature_group("g", "id", "ts", [Feature("id", "Integral"), Feature("ts", "Fractional")])
        first = fs._ctx.db.schema
    with FeatureStore(server) as fs:  # the database's only store needs no ?schema=
        assert fs.list_feature_groups()[0].name == "g" and fs._ctx.db.schema == first
    FeatureStore(tmp_path / "b", registry=server).close()
    with pytest.raises(ValidationError, match=f"it holds 2: .*{first}.*Add \\?schema=<name>"):
        FeatureStore(server)
    with pytest.raises(ValidationError, match="There is no feature store 'fs_nope' in .*one_store"):
        FeatureStore(server + "?schema=fs_nope")
    with pytest.raises(ValidationError, match="schema='x;y' in the store's URL is not a schema name"):
        FeatureStore(server + "?schema=x;y")
    with pytest.raises(ValidationError, match="pass the URL as the store"):
        FeatureStore(tmp_path / "c", registry=server + f"?schema={first}")
    with pytest.raises(ValidationError, match="leave out registry="):
        FeatureStore(server + f"?schema={first}", registry=server)


def test_a_store_made_before_urls_publishes_its_settings_when_next_opened(tmp_path, postgres_server, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with FeatureStore(tmp_path / "s", registry=postgres_server.url) as fs:
        fs.create_feature_group("g", "id", "ts", [Feature("id", "Integral"), Feature("ts", "Fractional")])
        fs.ingest("g", pd.DataFrame({"id": range(10), "ts": 1.0}))
        url = fs.shared_url
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        conn.execute(f'DROP TABLE "{fs._ctx.db.schema}".shared_config')
    with pytest.raises(ValidationError, match="There is no feature store"):
        FeatureStore(url)
    FeatureStore(tmp_path / "s").close()  # its own folder's config, published
    with FeatureStore(url) as fs:
        assert fs.query("SELECT count(*) AS n FROM g")["n"][0] == 10
    elsewhere = tmp_path / "mounted-elsewhere"  # this machine sees the files at another path
    shutil.copytree(tmp_path / "s" / "offline", elsewhere)
    with FeatureStore(url, offline=str(elsewhere)) as fs:
        assert fs.offline_location == str(elsewhere) and fs.query("SELECT count(*) AS n FROM g")["n"][0] == 10
    with pytest.raises(ValidationError, match=r"not at .*empty as seen from this machine.*FeatureStore\(URL, offline="):
        FeatureStore(url, offline=str(tmp_path / "empty"))


def test_a_machine_that_does_not_see_the_offline_files_is_told_before_it_reads_or_writes(tmp_path, postgres_server):
    with FeatureStore(tmp_path / "a", registry=postgres_server.url) as fs:
        fs.create_feature_group("g", "id", "ts", [Feature("id", "Integral"), Feature("ts", "Fractional")])
        fs.ingest("g", pd.DataFrame({"id": range(100), "ts": [1.0] * 100}))
    config = yaml.safe_load((tmp_path / "a" / "featurestore.yaml").read_text())
    unmounted = tmp_path / "b"  # the config without the offline location: b's own empty offline/
    unmounted.mkdir()
    (unmounted / "featurestore.yaml").write_text(yaml.safe_dump({k: v for k, v in config.items() if k != "offline"}))
    with pytest.raises(ValidationError, match=r"offline files are not at .*b/offline as seen from this machine.*"
                                              r"set `offline:`") as refused:
        FeatureStore(unmounted)
    assert refused.value.context == {"offline": str(unmounted / "offline")}
    assert not (unmounted / "offline" / "_store").exists()  # nothing was claimed or written there
    with pytest.raises(ValidationError, match=r"offline files at .*a/offline belong to another store"):
        FeatureStore(tmp_path / "c", registry=postgres_server.url, offline=str(tmp_path / "a" / "offline"))
    with FeatureStore(tmp_path / "a") as fs:  # a itself is untouched
        assert fs.query("SELECT count(*) AS n FROM g")["n"][0] == 100


@pytest.mark.slow
def test_the_studio_shows_where_the_store_is(tmp_path, postgres_server, monkeypatch, studio_cleanup):
    from store.demo import seed
    from tests.studio_support import ok, page, texts

    store = str(tmp_path / "s")
    with FeatureStore(store, registry=postgres_server.url) as fs:
        seed(fs)
        url = fs.shared_url
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("FEATURESTORE_HOME", url)  # a studio on another machine, given the URL alone
    at = ok(page("group", group="transactions"))
    sidebar = " ".join(c.value for c in at.sidebar.caption)
    assert f"Store `{url}`" in sidebar and "Online store" not in sidebar  # online rows live in the registry
    assert f"Offline files `{store}/offline`" in sidebar
    assert "transactions" in texts(at)
    at = ok(page("lineage"))
    at = ok(page("storage"))
    assert "transactions" in at.dataframe[0].value.to_string()
    with FeatureStore(tmp_path / "empty", registry=postgres_server.url) as fs:
        monkeypatch.setenv("FEATURESTORE_HOME", fs.shared_url)
    ok(page("catalog"))
    with FeatureStore(tmp_path / "empty") as fs:  # a store others share gets no sample data
        assert fs.list_feature_groups() == []


def test_a_definition_changed_elsewhere_is_seen_by_every_opener(tmp_path, postgres_server):
    """Each process keeps the registry's change counter from PostgreSQL's notifications (so reads
    need no extra round trip); a change through another opener reaches it at once, and with its
    listener cut off every check reads the counter instead."""
    import time

    features = [Feature("id", "Integral"), Feature("ts", "Fractional")]
    with FeatureStore(tmp_path / "s", registry=postgres_server.url) as one, FeatureStore(tmp_path / "s") as two:
        one.create_feature_group("g", "id", "ts", features)
        one.put_record("g", {"id": 1, "ts": 1.0})
        assert two.get_record("g", 1) == {"id": 1, "ts": 1.0}

        def seen(name: str) -> bool:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                if name in two.feature_group("g").feature_names:
                    return True
                time.sleep(0.01)
            return False

        one.add_features("g", [Feature("x", "Integral")])
        assert seen("x")
        two.put_record("g", {"id": 2, "ts": 1.0, "x": 5})
        assert one.get_record("g", 2) == {"id": 2, "ts": 1.0, "x": 5}
        with psycopg.connect(postgres_server.url, autocommit=True) as admin:  # cut every listener off
            assert admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                 "WHERE application_name = 'featurestore-listener'").fetchone()[0] >= 1
        one.add_features("g", [Feature("y", "Integral")])
        assert seen("y")
        two.put_record("g", {"id": 3, "ts": 1.0, "y": 7})
        assert one.get_record("g", 3) == {"id": 3, "ts": 1.0, "y": 7}


def test_the_sql_bridge_keeps_literals_quoted_names_and_parameter_order():
    from store.databases.postgres_db import translate

    text, order, _ = translate("SELECT '%s?', ? FROM \"a?%\" WHERE b LIKE '50%' AND c % 2 = ?2 AND d = ?1")
    assert text == "SELECT '%%s?', %s FROM \"a?%%\" WHERE b LIKE '50%%' AND c %% 2 = %s AND d = %s" and order == (0, 1, 0)
    assert translate("SELECT '50%' FROM t")[0] == "SELECT '50%' FROM t"  # no parameters: % is plain
    text, _, shortened = translate('CREATE TABLE "' + "x" * 70 + '" (id INTEGER PRIMARY KEY AUTOINCREMENT, "REAL" REAL)')
    assert text.endswith('(id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "REAL" DOUBLE PRECISION)')
    assert len(shortened[0][0].encode()) == 63 and shortened[0][1] == "x" * 70


def test_a_published_access_policy_holds_on_every_machine(tmp_path, postgres_server, monkeypatch, studio_cleanup):
    """Without it, a machine opening the store by URL (no access.yaml there) would be open to all."""
    from access_support import write_access
    from click.testing import CliRunner

    from store import AccessDenied

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    policy_dir = tmp_path / "policy"
    policy_dir.mkdir()
    write_access(policy_dir)  # root: admin; vera: viewer of merchants; ed: editor of merchants
    policy = str(policy_dir / "access.yaml")
    with FeatureStore(tmp_path / "s", registry=postgres_server.url, principal="vera") as fs:
        fs.create_feature_group("merchants", "id", "ts", [Feature("id", "Integral"), Feature("ts", "Fractional")])
        fs.put_record("merchants", {"id": 1, "ts": 1.0})
        url = fs.shared_url
        with pytest.raises(ValidationError, match="does not make 'vera' an admin .* lock you out"):
            fs.publish_access(policy)
    with FeatureStore(tmp_path / "plain") as plain:
        with pytest.raises(ValidationError, match="reads its access file there"):
            plain.publish_access(policy)
    runner = CliRunner()
    done = runner.invoke(main, ["--store", url, "--as", "root", "access", "publish", policy])
    assert done.exit_code == 0 and "Published" in done.output, done.output
    with FeatureStore(url, principal="vera") as fs:  # another machine, no access file of its own
        assert fs.get_record("merchants", 1) == {"id": 1, "ts": 1.0}
        with pytest.raises(AccessDenied, match="'vera' may not"):
            fs.put_record("merchants", {"id": 2, "ts": 1.0})
        with pytest.raises(AccessDenied, match="'vera' may not publish_access; it needs an admin grant"):
            fs.publish_access(None)
    with FeatureStore(url, principal="mallory") as fs, pytest.raises(AccessDenied):
        fs.get_record("merchants", 1)
    with FeatureStore(url, principal="ed") as fs:
        fs.put_record("merchants", {"id": 2, "ts": 1.0})
    (tmp_path / "s" / "access.yaml").write_text("users:\n  - name: vera\n    roles: [{role: admin}]\n")
    with pytest.raises(ValidationError, match="published in its tables, and .*s/access.yaml differs"):
        FeatureStore(tmp_path / "s", principal="vera")
    (tmp_path / "s" / "access.yaml").unlink()
    from app.ui import auth
    from test_app_access import sign_in
    from tests.studio_support import texts

    monkeypatch.setenv("FEATURESTORE_HOME", url)  # a studio on another machine signs users in with the policy
    monkeypatch.setenv("FEATURESTORE_UI_AUTH", "password")
    auth._failures.clear()
    at = sign_in("vera", "vera-password")
    assert not at.exception and "Signed in as **vera**" in texts(at)
    assert sign_in("vera", "wrong").error[0].value == "Wrong user name or password."
    with FeatureStore(url, principal="root") as admin, FeatureStore(url, principal="vera") as vera:
        entries = admin.audit(action="access_file")
        assert entries["outcome"].tolist() == ["published"] and entries["principal"].tolist() == ["root"]
        promoted = policy_dir / "promoted.yaml"  # vera made an editor of merchants
        promoted.write_text(Path(policy).read_text().replace("{role: viewer, groups: [merchants, transactions]}",
                                                             "{role: editor, groups: [merchants]}"))
        admin.publish_access(str(promoted))
        eventually(lambda: vera.put_record("merchants", {"id": 3, "ts": 1.0}))  # no reopening: at its next call
        admin.publish_access(None)
        with FeatureStore(url, principal="mallory") as fs:  # withdrawn: no policy here any more
            assert fs.get_record("merchants", 2) == {"id": 2, "ts": 1.0}
        eventually(lambda: vera.delete_feature_group("merchants"))  # withdrawn for open stores too


def test_a_server_given_only_the_url_checks_signatures_with_the_published_keys(tmp_path, postgres_server,
                                                                               monkeypatch):
    from botocore.exceptions import ClientError
    from test_access_http import ACCESS, record

    from store.server.process import LocalServer

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "access.yaml").write_text(ACCESS)
    with FeatureStore(tmp_path / "s", registry=postgres_server.url, principal="root") as fs:
        fs.create_feature_group("orders", "id", "ts", [Feature("id", "Integral"), Feature("ts", "String")])
        fs.publish_access(str(tmp_path / "access.yaml"))
        url = fs.shared_url
    with LocalServer(url) as srv:
        def runtime(key: str, secret: str):
            return srv.client("sagemaker-featurestore-runtime", aws_access_key_id=key, aws_secret_access_key=secret)

        with pytest.raises(ClientError, match="security token included in the request is invalid"):
            runtime("local", "local-secret").get_record(FeatureGroupName="orders", RecordIdentifierValueAsString="1")
        with pytest.raises(ClientError, match="signature"):  # a known key with the wrong secret
            runtime("AKIDEDITOR000001", "wrong").put_record(FeatureGroupName="orders", Record=record(1))
        runtime("AKIDEDITOR000001", "editor-secret-1").put_record(FeatureGroupName="orders", Record=record(1))
        viewer = runtime("AKIDVIEWER000001", "viewer-secret-1")
        assert viewer.get_record(FeatureGroupName="orders", RecordIdentifierValueAsString="1")["Record"] == record(1)
        with pytest.raises(ClientError, match="may not put_record on feature group 'orders'"):
            viewer.put_record(FeatureGroupName="orders", Record=record(2))
        with FeatureStore(url, principal="root") as fs:  # the editor key revoked: the running server follows
            (tmp_path / "revoked.yaml").write_text(ACCESS.replace("AKIDEDITOR000001", "AKIDEDITOR000002"))
            fs.publish_access(str(tmp_path / "revoked.yaml"))
        editor = runtime("AKIDEDITOR000001", "editor-secret-1")
        deadline = time.monotonic() + 10
        while True:
            try:
                editor.get_record(FeatureGroupName="orders", RecordIdentifierValueAsString="1")
            except ClientError as exc:
                assert "security token included in the request is invalid" in str(exc)
                break
            assert time.monotonic() < deadline, "the revoked key still signs requests"
            time.sleep(0.05)
        runtime("AKIDEDITOR000002", "editor-secret-1").put_record(FeatureGroupName="orders", Record=record(3))


def test_a_server_follows_a_published_policy_even_when_it_starts_withdrawn(tmp_path, postgres_server, monkeypatch):
    # Found in review: the server decided whether to follow the published keys from the file in force
    # when it started; a store opened under a published policy that was withdrawn meanwhile would then
    # have served unsigned requests after the policy was published again.
    from test_access_http import ACCESS

    from store.server.app import _published

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "access.yaml").write_text(ACCESS)
    with FeatureStore(tmp_path / "s", registry=postgres_server.url, principal="root") as fs:
        fs.publish_access(str(tmp_path / "access.yaml"))
        url = fs.shared_url
    with FeatureStore(url, principal="root") as server_store, FeatureStore(url, principal="root") as admin:
        assert _published(server_store)
        admin.publish_access(None)
        deadline = time.monotonic() + 10
        while server_store.policy() is not None:  # the withdrawal reaches the open store
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert _published(server_store)  # still followed: publishing again brings the keys back
    local = tmp_path / "local"
    local.mkdir()
    (local / "access.yaml").write_text(ACCESS)
    with FeatureStore(local, principal="root") as fs:
        assert not _published(fs)  # a folder's own file: the --keys file or none
    with FeatureStore(tmp_path / "open") as fs:
        assert not _published(fs)


def test_a_server_restart_costs_no_failed_call(tmp_path):
    """Connections the server dropped while idle (a restart, a failover) are replaced on their
    next use, before anything is sent that could take effect: no call fails, none is lost."""
    from servers.postgres import PostgresServer

    with PostgresServer() as pg, FeatureStore(tmp_path / "s", registry=pg.url) as fs:
        fs.create_feature_group("g", "id", "ts", [Feature("id", "Integral"), Feature("ts", "Fractional"),
                                                  Feature("n", "Integral")])
        fs.put_record("g", {"id": 1, "ts": 1.0, "n": 1})
        pg.restart()
        fs.put_record("g", {"id": 1, "ts": 2.0, "n": 2})  # a write first
        pg.restart()
        assert fs.get_record("g", 1) == {"id": 1, "ts": 2.0, "n": 2}  # a read first
        pg.restart()
        assert fs.query("SELECT count(*) AS n FROM g")["n"][0] == 2 and fs.describe("g")["online_records"] == 1
        pg.restart()
        fs.ingest("g", pd.DataFrame({"id": range(100), "ts": 3.0, "n": 3}))
        assert fs.get_record("g", 99)["n"] == 3


def test_online_records_on_postgresql_survive_dropped_connections(tmp_path, postgres_server):
    """With the registry in SQLite and the online rows on PostgreSQL (its own pool): connections
    the server ends (as a restart or failover does) are replaced, and no read or write fails."""
    with FeatureStore(tmp_path / "s", online=postgres_server.url) as fs:
        fs.create_feature_group("g", "id", "ts", [Feature("id", "Integral"), Feature("ts", "Fractional"),
                                                  Feature("n", "Integral")])
        fs.put_record("g", {"id": 1, "ts": 1.0, "n": 1})
        fs.batch_get_records("g", [1, 2])  # more than one connection in the pool, perhaps

        def drop_every_connection() -> None:
            with psycopg.connect(postgres_server.url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = "
                              "'client backend' AND pid <> pg_backend_pid()")

        drop_every_connection()
        assert fs.get_record("g", 1) == {"id": 1, "ts": 1.0, "n": 1}
        drop_every_connection()
        fs.put_record("g", {"id": 1, "ts": 2.0, "n": 2})
        drop_every_connection()
        assert fs.batch_get_records("g", [1]) == [{"id": 1, "ts": 2.0, "n": 2}] and fs.describe("g")["online_records"] == 1
