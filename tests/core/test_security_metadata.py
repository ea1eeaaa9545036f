"""Metadata of hidden groups (issue 19, D10): a group a principal may not see is absent from every
answer and error, as one that does not exist. Lineage drops the nodes that name it (its dataset,
pipeline, source file and model nodes), runs and run logs of pipelines over it are gone,
``usage()`` names no dataset or model built on it, and ``build_dataset`` answers as for a
missing group. Each test runs as every role of the access file."""
from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from store import Feature, FeatureStore, NotFound, ValidationError
from store.cli import main

FEATURES = [Feature("id"), Feature("ts"), Feature("v")]
ROLES = ["vic", "ed", "own", "root"]  # viewer, editor and owner of public; admin
ACCESS = """users:
- {name: vic, roles: [{role: viewer, groups: [public]}]}
- {name: ed, roles: [{role: editor, groups: [public]}]}
- {name: own, roles: [{role: owner, groups: [public]}]}
- {name: root, roles: [{role: admin}]}
"""
ENTITY = pd.DataFrame({"id": ["s1"], "event_time": pd.to_datetime(["2026-02-01"], utc=True)})


@pytest.fixture
def site(tmp_path):
    """The report's store, with an admin's metadata over the hidden group: a file ingested into
    secret, a pipeline reading it (spill) and one writing it (feed), each run; a dataset on
    secret alone, one on public and secret, one on public alone, and models trained on each."""
    store = tmp_path / "store"
    with FeatureStore(store) as root:
        for g in ("public", "secret"):
            root.create_feature_group(g, "id", "ts", FEATURES)
        root.put_record("public", {"id": "s1", "ts": "2026-01-01T00:00:00Z", "v": "open"})
        pd.DataFrame({"id": ["s1"], "ts": ["2026-01-01T00:00:00Z"], "v": ["TOP-SECRET"]}).to_csv(
            tmp_path / "secret-ledger.csv", index=False)
        root.ingest("secret", str(tmp_path / "secret-ledger.csv"))
        root.create_pipeline("spill", target="public", inputs=["secret"], mode="full",
                             sql="SELECT 'x' || id AS id, ts, v FROM secret")
        root.create_pipeline("feed", target="secret", inputs=["public"], mode="full",
                             sql="SELECT 'y' || id AS id, ts, v FROM public")
        root.create_pipeline("mirror", target="public", inputs=["public"], mode="full",
                             sql="SELECT id, ts, v FROM public")
        for name in ("spill", "feed", "mirror"):
            assert root.run_pipeline(name)["status"] == "succeeded"
        hidden = root.build_dataset(ENTITY, ["secret"], name="d_hidden")
        mixed = root.build_dataset(ENTITY, ["public", "secret"], name="d_mixed")
        shown = root.build_dataset(ENTITY, ["public"], name="d_public")
        root.register_model("m_hidden", [hidden.id])
        root.register_model("m_mixed", [mixed.id])
        root.register_model("m_public", [shown.id])
    (store / "access.yaml").write_text(ACCESS)
    opened: list[FeatureStore] = []

    def open_as(who: str) -> FeatureStore:
        opened.append(FeatureStore(store, principal=who))
        return opened[-1]

    open_as.store = store
    yield open_as
    for fs in opened:
        fs.close()


def mentions_secret(value) -> bool:
    return "secret" in repr(value).lower() or "d_hidden" in repr(value) or "d_mixed" in repr(value)


@pytest.mark.parametrize("who", ROLES)
def test_lineage_shows_nothing_of_a_hidden_group(site, who):
    fs = site(who)
    graph = fs.lineage()
    names = {n["name"] for n in graph.nodes}
    if who == "root":
        assert {"secret", "spill", "feed", "d_hidden", "d_mixed", "m_hidden", "m_mixed"} <= names
        assert any(n["kind"] == "source" and "secret-ledger" in n["name"] for n in graph.nodes)
        return
    assert not mentions_secret(graph.nodes) and not mentions_secret(graph.edges)
    assert {"public", "mirror", "d_public", "m_public"} <= names
    assert not {"spill", "feed", "m_hidden", "m_mixed"} & names
    ids = {n["id"] for n in graph.nodes}
    assert all(e["src"] in ids and e["dst"] in ids for e in graph.edges)
    near = fs.lineage("feature_group:public", depth=3)
    assert not mentions_secret(near.nodes) and "pipeline:mirror" in near.node_ids()
    for node in ("model:m_hidden", "pipeline:spill", "feature_group:secret"):  # as a node that never was
        with pytest.raises(NotFound) as hidden:
            fs.lineage(node)
        with pytest.raises(NotFound) as missing:
            fs.lineage(node + "zz")
        assert str(hidden.value) == str(missing.value).replace(node + "zz", node)
    assert {d["name"] for d in fs.datasets()} == {"d_public"}


@pytest.mark.parametrize("who", ROLES)
def test_usage_names_no_dataset_or_model_built_on_a_hidden_group(site, who):
    usage = site(who).usage()
    if who == "root":
        assert usage["public"] == {"datasets": ["d_mixed", "d_public"], "models": ["m_mixed", "m_public"]}
        assert usage["secret"]["models"] == ["m_hidden", "m_mixed"]
        return
    assert usage == {"public": {"datasets": ["d_public"], "models": ["m_public"]}}


@pytest.mark.parametrize("who", ROLES)
def test_runs_of_pipelines_over_a_hidden_group_are_gone(site, who):
    fs = site(who)
    runs = fs.pipeline_runs()
    listed = {p["name"] for p in fs.list_pipelines()}
    if who == "root":
        assert set(runs["pipeline"]) == listed == {"spill", "feed", "mirror"}
        return
    assert set(runs["pipeline"]) == listed == {"mirror"}
    assert not mentions_secret(runs.to_dict())
    hidden_ids = site("root").pipeline_runs().query("pipeline != 'mirror'")["id"].tolist()
    for run_id in hidden_ids:
        with pytest.raises(NotFound) as hidden:
            fs.pipeline_run(run_id)
        with pytest.raises(NotFound) as missing:
            fs.pipeline_run(9999)
        assert str(hidden.value) == str(missing.value).replace("9999", str(run_id))
    for name in ("spill", "feed"):
        with pytest.raises(NotFound) as hidden:
            fs.pipeline(name)
        with pytest.raises(NotFound) as missing:
            fs.pipeline("nosuch")
        assert str(hidden.value) == str(missing.value).replace("nosuch", name)
        with pytest.raises(NotFound):
            fs.pipeline_runs(name)
    assert fs.pipeline_run(int(fs.pipeline_runs("mirror")["id"].iloc[0]))["pipeline"] == "mirror"


@pytest.mark.parametrize("who", ROLES)
def test_a_dataset_over_a_hidden_group_fails_as_over_a_missing_one(site, who):
    fs = site(who)
    entity = pd.DataFrame({"id": ["p1"], "event_time": pd.to_datetime(["2026-02-01"], utc=True)})
    if who == "root":
        with pytest.raises(NotFound, match="has no feature 'nope'; it has: id, ts, v"):
            fs.build_dataset(entity, ["secret:nope"])
        return
    for features in (["secret:nope"], ["secret"], ["public", "secret:v"]):
        with pytest.raises(NotFound) as hidden:
            fs.build_dataset(entity, features)
        with pytest.raises(NotFound) as missing:
            fs.build_dataset(entity, [f.replace("secret", "nosuch") for f in features])
        assert str(hidden.value) == str(missing.value).replace("nosuch", "secret")
        assert "ts, v" not in str(hidden.value)
    assert "denied" in site("root").audit(principal=who, group="secret")["outcome"].tolist()


@pytest.mark.parametrize("who", ["vic", "root"])
def test_the_cli_lineage_prints_nothing_of_a_hidden_group(site, who):
    result = CliRunner().invoke(main, ["--store", str(site.store), "--as", who, "lineage"])
    assert result.exit_code == 0, result.output
    assert ("m_hidden" in result.output) == (who == "root") and ("secret" in result.output) == (who == "root")
    assert "m_public" in result.output


@pytest.mark.parametrize("who", ROLES)
def test_a_dataset_built_on_a_hidden_group_is_missing(site, who):
    fs = site(who)
    ids = {d["name"]: d["id"] for d in site("root").datasets()}
    if who == "root":
        assert fs.dataset(ids["d_hidden"]).to_pandas()["v"].tolist() == ["TOP-SECRET"]
        return
    calls = [fs.dataset, fs.rebuild_dataset] + ([lambda d: fs.register_model("m2", [d])] if who != "vic" else [])
    for call in calls:
        for dataset in (ids["d_hidden"], ids["d_mixed"], "d_mixed"):
            with pytest.raises(NotFound) as hidden:
                call(dataset)
            with pytest.raises(NotFound) as missing:
                call("nosuch")
            assert str(hidden.value) == str(missing.value).replace("nosuch", dataset)
    assert fs.dataset("d_public").to_pandas()["v"].tolist() == ["open"]


def test_a_case_twin_of_a_hidden_group_is_refused_without_its_name(tmp_path):
    # An admin of team_* may create groups there; a hidden 'Team_payroll' still takes the name
    # 'team_payroll' (SQL does not tell case apart), but the refusal must not spell it out.
    (tmp_path / "access.yaml").write_text("users:\n- {name: ana, roles: [{role: admin, groups: ['team_*']}]}\n"
                                          "- {name: root, roles: [{role: admin}]}\n")
    feats = [Feature("id"), Feature("ts")]
    with FeatureStore(tmp_path, principal="root") as root:
        root.create_feature_group("Team_payroll", "id", "ts", feats)
    with FeatureStore(tmp_path, principal="ana") as ana:
        assert ana.list_feature_groups() == []
        with pytest.raises(ValidationError) as refused:
            ana.create_feature_group("team_payroll", "id", "ts", feats)
        assert "Team_payroll" not in str(refused.value) and "is taken" in str(refused.value)
