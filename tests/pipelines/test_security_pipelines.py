"""Pipelines under an access file (issue 19, D1 and D2): every input a pipeline reads (groups and
files) needs the acting principal's read grant at create, update, preview and every run; a
scheduled run acts as the pipeline's owner and is checked again each time; the SQL of a run or
preview reads its input groups' folders and input files only; file inputs come only from the
folders the access file allows. Each test runs as every role of the access file."""
from __future__ import annotations

import json
import os
import sqlite3

import pandas as pd
import pytest
from conftest import scheduler_of
from studio_support import button, ok, seeded_template, studio_store  # noqa: F401

from store import AccessDenied, Feature, FeatureStore, NotFound, ValidationError

FEATURES = [Feature("id"), Feature("ts"), Feature("v")]
ROLES = ["vic", "ed", "own", "root"]  # viewer, editor and owner of public; admin
ACCESS = """users:
- {{name: vic, roles: [{{role: viewer, groups: [public]}}]}}
- {{name: ed, roles: [{{role: editor, groups: [public]}}]}}
- {{name: own, roles: [{{role: owner, groups: [public]}}{extra}]}}
- {{name: root, roles: [{{role: admin}}]}}
{folders}"""
SECRET = "TOP-SECRET"


def write_access(store, allowed: list[str] | None, own_reads_secret: bool = False) -> None:
    folders = "" if allowed is None else f"pipeline_input_folders: {json.dumps(allowed)}\n"
    extra = ", {role: viewer, groups: [secret]}" if own_reads_secret else ""
    (store / "access.yaml").write_text(ACCESS.format(extra=extra, folders=folders))


@pytest.fixture
def site(tmp_path):
    """The report's store (public, and secret holding TOP-SECRET), a folder the access file
    allows (in.csv and a neighbour notes.txt) and a folder outside it (any.csv, notes.txt)."""
    store = tmp_path / "store"
    with FeatureStore(store) as fs:
        for g in ("public", "secret"):
            fs.create_feature_group(g, "id", "ts", FEATURES)
        fs.put_record("public", {"id": "p1", "ts": "2026-01-01T00:00:00Z", "v": "open"})
        fs.put_record("secret", {"id": "s1", "ts": "2026-01-01T00:00:00Z", "v": SECRET})
    for folder in ("allowed", "outside"):
        (tmp_path / folder).mkdir()
        pd.DataFrame({"id": ["f1"], "ts": ["2026-01-02T00:00:00Z"], "v": ["from-file"]}).to_csv(
            tmp_path / folder / ("in.csv" if folder == "allowed" else "any.csv"), index=False)
        (tmp_path / folder / "notes.txt").write_text(f"alice, hunter2 {SECRET}")
    write_access(store, [str(tmp_path / "allowed")])
    opened: list[FeatureStore] = []

    def open_as(who: str) -> FeatureStore:
        opened.append(FeatureStore(store, principal=who))
        return opened[-1]

    open_as.tmp, open_as.store = tmp_path, store
    yield open_as
    for fs in opened:
        fs.close()


def leaked(out: dict) -> bool:
    """Whether a preview's answer holds the secret anywhere (rows, problems or log)."""
    shown = "" if out["output"] is None else out["output"].to_csv()
    return SECRET in shown + " ".join(out["problems"]) + out.get("log", "")


@pytest.mark.parametrize("who", ROLES)
def test_a_preview_reads_only_groups_the_caller_may_read(site, who):
    fs = site(who)
    if who == "root":  # the admin may read secret, so its preview shows it
        out = fs.preview_pipeline(target="public", inputs=["secret"], sql="SELECT * FROM secret", mode="full")
        assert out["output"]["v"].tolist() == [SECRET]
        return
    with pytest.raises(ValidationError) as hidden:
        fs.preview_pipeline(target="public", inputs=["secret"], sql="SELECT * FROM secret", mode="full")
    with pytest.raises(ValidationError) as missing:
        fs.preview_pipeline(target="public", inputs=["nosuch"], sql="SELECT * FROM nosuch", mode="full")
    assert str(hidden.value) == str(missing.value).replace("nosuch", "secret")  # hidden reads as absent
    assert SECRET not in str(hidden.value)


@pytest.mark.parametrize("who", ROLES)
def test_a_preview_cannot_read_other_groups_folders_or_files_beside_its_inputs(site, who):
    fs = site(who)
    secret_files = os.path.join(site.store, "offline", "secret", "**", "*.parquet")
    site("root").flush()
    out = fs.preview_pipeline(target="public", inputs=["public"], mode="full",
                              sql=f"SELECT v FROM read_parquet('{secret_files}')")
    assert out["output"] is None and "file system operations are disabled" in out["problems"][0]
    assert not leaked(out)
    allowed = site.tmp / "allowed"
    out = fs.preview_pipeline(target="public", inputs={"x": str(allowed / "in.csv")}, mode="full",
                              sql=f"SELECT content AS v, 'a' AS id, '2026-01-01T00:00:00Z' AS ts "
                                  f"FROM read_text('{allowed / 'notes.txt'}')")
    assert out["output"] is None and not leaked(out)
    out = fs.preview_pipeline(target="public", inputs={"x": str(allowed / "in.csv")}, mode="full",
                              sql="SELECT * FROM x")
    assert out["output"]["v"].tolist() == ["from-file"]  # the input file itself is read


@pytest.mark.parametrize("who", ROLES)
def test_file_inputs_come_only_from_folders_the_access_file_allows(site, who):
    fs = site(who)
    outside = str(site.tmp / "outside" / "any.csv")
    with pytest.raises(AccessDenied, match=r"outside the folders .*pipeline_input_folders"):
        fs.preview_pipeline(target="public", inputs={"x": outside}, mode="full", sql="SELECT * FROM x")
    with pytest.raises(AccessDenied, match="outside the folders"):  # a glob reaching out of the folder
        fs.preview_pipeline(target="public", inputs={"x": str(site.tmp / "*" / "any.csv")}, sql="SELECT * FROM x")
    (site.tmp / "allowed" / "link.csv").symlink_to(outside)  # a link inside pointing outside
    with pytest.raises(AccessDenied, match="outside the folders"):
        fs.preview_pipeline(target="public", inputs={"x": str(site.tmp / "allowed" / "link.csv")},
                            sql="SELECT * FROM x")
    if who in ("own", "root"):
        with pytest.raises(AccessDenied, match="outside the folders"):
            fs.create_pipeline("raw", target="public", inputs={"x": outside}, sql="SELECT * FROM x")
        assert "raw" not in {p["name"] for p in site("root").list_pipelines()}


def test_without_allowed_folders_file_inputs_are_refused_saying_how_to_allow_one(site):
    write_access(site.store, None)
    for who in ROLES:
        with pytest.raises(AccessDenied, match=r"allows pipelines no input files; an admin allows a folder with "
                                               r"`pipeline_input_folders: \[/path/to/folder\]`"):
            site(who).preview_pipeline(target="public", inputs={"x": str(site.tmp / "allowed" / "in.csv")},
                                       sql="SELECT * FROM x")


def test_an_open_store_reads_files_anywhere_but_not_their_neighbours(site):
    os.remove(site.store / "access.yaml")
    fs = site("anyone")
    outside = site.tmp / "outside"
    out = fs.preview_pipeline(target="public", inputs={"x": str(outside / "any.csv")}, sql="SELECT * FROM x")
    assert out["output"]["v"].tolist() == ["from-file"]
    out = fs.preview_pipeline(target="public", inputs={"x": str(outside / "any.csv")},
                              sql=f"SELECT content FROM read_text('{outside / 'notes.txt'}')")
    assert out["output"] is None and not leaked(out)


@pytest.mark.parametrize("who", ROLES)
def test_a_stored_pipeline_over_a_hidden_group_is_missing_for_a_preview_or_run(site, who):
    site("root").create_pipeline("spill", target="public", inputs=["secret"], mode="full",
                                 sql="SELECT 'x' || id AS id, ts, v FROM secret")
    fs = site(who)
    if who == "root":
        assert fs.preview_pipeline("spill")["output"]["v"].tolist() == [SECRET]
        return
    for call in (lambda n: fs.preview_pipeline(n), lambda n: fs.run_pipeline(n), lambda n: fs.pipeline(n)):
        with pytest.raises(NotFound) as hidden:
            call("spill")
        with pytest.raises(NotFound) as missing:
            call("nosuch")
        assert str(hidden.value) == str(missing.value).replace("nosuch", "spill")
    assert site("root").pipeline_runs("spill").empty


@pytest.mark.parametrize("who", ROLES)
def test_an_owner_cannot_copy_a_hidden_group_into_its_own(site, who):
    fs = site(who)
    sql = "SELECT 'x' || id AS id, ts, v FROM secret"
    if who in ("vic", "ed"):  # no owner role on the target: refused before any input is looked at
        with pytest.raises(AccessDenied, match="may not create_pipeline on feature group 'public'"):
            fs.create_pipeline("copy", target="public", inputs=["secret"], mode="full", sql=sql)
        return
    if who == "own":
        with pytest.raises(ValidationError, match="input 'secret' is neither a feature group nor an existing file"):
            fs.create_pipeline("copy", target="public", inputs=["secret"], mode="full", sql=sql)
        fs.create_pipeline("copy", target="public", inputs=["public"], mode="full", sql="SELECT id, ts, v FROM public")
        with pytest.raises(ValidationError, match="input 'secret' is neither"):
            fs.update_pipeline("copy", inputs=["secret"], sql=sql)
        with pytest.raises(AccessDenied, match="may not update_pipeline on feature group 'secret'"):
            fs.update_pipeline("copy", target="secret")
        assert fs.pipeline("copy")["inputs"] == {"public": "public"}  # nothing changed
        assert fs.run_pipeline("copy")["status"] == "succeeded"
    else:
        fs.create_pipeline("copy", target="public", inputs=["secret"], mode="full", sql=sql)
        assert fs.run_pipeline("copy")["status"] == "succeeded"
    got = site("root").query("SELECT v FROM public WHERE id LIKE 'x%'")["v"].tolist()
    assert got == ([SECRET] if who == "root" else [])
    denied = site("root").audit(principal="own", action="create_pipeline")
    assert who != "own" or "denied" in denied["outcome"].tolist()


def test_a_scheduled_run_acts_as_the_owner_and_stops_once_its_grant_is_revoked(site):
    write_access(site.store, [str(site.tmp / "allowed")], own_reads_secret=True)
    own = site("own")
    own.create_pipeline("copy", target="public", inputs=["secret"], trigger="on_change",
                        sql="SELECT 'x' || id AS id, ts, v FROM secret")
    assert own.pipeline("copy")["owner"] == "own"
    [run] = scheduler_of(site("root")).run_due()
    assert run["status"] == "succeeded" and run["rows_out"] == 1  # own may read secret: copied
    audit = site("root").audit(action="run_pipeline")
    assert audit["principal"].iloc[0] == "own" and audit["details"].iloc[0]["scheduler"] == "root"
    assert site("root").audit(action="ingest").empty  # the run's write is the run's one entry, as by hand

    write_access(site.store, [str(site.tmp / "allowed")])  # own's read grant on secret is gone
    site("root").put_record("secret", {"id": "s2", "ts": "2026-01-03T00:00:00Z", "v": "NEWER-SECRET"})
    [run] = scheduler_of(site("root")).run_due()  # run by an admin, acting as own
    assert run["status"] == "failed" and run["rows_out"] == 0
    assert "'own' may not run_pipeline on feature group 'secret'" in run["error"]
    assert "AccessDenied" in run["traceback"]
    assert site("root").query("SELECT v FROM public WHERE id = 'xs2'").empty
    with pytest.raises(NotFound):  # for own the pipeline now reads a hidden group: it is gone
        site("own").run_pipeline("copy")


def test_a_scheduled_pipeline_without_a_recorded_owner_is_refused(site):
    root = site("root")
    root.create_feature_group("feed", "id", "ts", FEATURES)  # not public itself: on_change over its target loops
    root.put_record("feed", {"id": "f1", "ts": "2026-01-01T00:00:00Z", "v": "fed"})
    root.create_pipeline("legacy", target="public", inputs=["feed"], trigger="on_change", sql="SELECT id, ts, v FROM feed")
    with sqlite3.connect(site.store / "featurestore.db") as db:  # as stored before owners were kept
        spec = json.loads(db.execute("SELECT spec FROM pipelines WHERE name = 'legacy'").fetchone()[0])
        del spec["_owner"]
        db.execute("UPDATE pipelines SET spec = ? WHERE name = 'legacy'", (json.dumps(spec),))
    [run] = scheduler_of(site("root")).run_due()
    assert run["status"] == "failed" and "has no recorded owner" in run["error"] and "update_pipeline" in run["error"]
    assert root.run_pipeline("legacy")["status"] == "succeeded"  # by hand it acts as the caller
    root.update_pipeline("legacy", description="saved again")
    assert root.pipeline("legacy")["owner"] == "root"


@pytest.mark.parametrize("who", ["ed", "own", "root"])
def test_a_run_reads_files_only_while_their_folder_is_allowed(site, who):
    allowed = site.tmp / "allowed"
    site("root").create_pipeline("files", target="public", inputs={"x": str(allowed / "in.csv")}, mode="full",
                                 sql="SELECT * FROM x")
    assert site(who).run_pipeline("files")["status"] == "succeeded"
    write_access(site.store, [str(site.tmp / "outside")])
    run = site(who).run_pipeline("files")
    assert run["status"] == "failed" and "outside the folders" in run["error"]


def test_the_studio_form_shows_a_refused_preview_as_an_error(studio_store, monkeypatch, tmp_path):
    from access_support import write_access as write_users
    from test_app_access import sign_in

    from app.ui import auth

    write_users(studio_store)
    monkeypatch.setenv("FEATURESTORE_UI_AUTH", "password")
    auth._failures.clear()
    outside = tmp_path / "any.csv"
    outside.write_text("merchant_id,event_time\nM1,2026-01-01T00:00:00Z\n")
    at = ok(sign_in("olga", "ed-password"))  # owner of merchants: the form is shown
    at.switch_page("app_pages/pipelines.py").run()
    at.selectbox(key="new_pipeline_target").set_value("merchants")
    at.multiselect(key="new_pipeline_inputs").set_value([])
    at.text_input(key="new_pipeline_files").set_value(f"x={outside}")
    at.text_area(key="new_pipeline_sql").set_value("SELECT * FROM x")
    ok(at.run())
    at = button(at, "Preview").click().run()
    assert any("allows pipelines no input files" in e.value for e in at.error)
    assert not at.exception


@pytest.mark.parametrize("who", ROLES)
def test_a_function_pipeline_is_an_admins_under_a_policy(site, who, tmp_path, monkeypatch):
    # A function pipeline runs Python code in whichever process runs it (the scheduler, the studio,
    # a server), past every grant: under a policy only an admin may define, preview or run one.
    (tmp_path / "shell_job.py").write_text("import os\n\ndef run(ctx):\n    return os.environ\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    fs = site(who)
    if who == "root":
        fs.create_pipeline("fn", target="public", inputs=["public"], function="shell_job:run")
        assert fs.pipeline("fn")["function"] == "shell_job:run"
        return
    with pytest.raises(AccessDenied, match="only an admin may define or run one" if who == "own" else "owner role"):
        fs.create_pipeline("fn", target="public", inputs=["public"], function="shell_job:run")
    with pytest.raises(AccessDenied, match="only an admin"):
        fs.preview_pipeline(target="public", inputs=["public"], function="shell_job:run", mode="full")
    assert "fn" not in [p["name"] for p in site("root").list_pipelines()]
    # one an admin made, then run by its owner after losing the admin grant: refused at the run
    site("root").create_pipeline("fn", target="public", inputs=["public"], function="shell_job:run")
    if who in ("ed", "own"):
        run = fs.run_pipeline("fn")
        assert run["status"] == "failed" and "only an admin" in run["error"]
