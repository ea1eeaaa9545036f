"""Feature services under an access policy: admins define them (and the audit log says so); a
principal who may not read one of a service's groups finds the service absent everywhere: shown,
listed, served online or used for a dataset, it is exactly a service that does not exist."""
from __future__ import annotations

import pandas as pd
import pytest

from access_support import public_and_secret
from store import AccessDenied, Feature, FeatureStore, NotFound, OnDemandFeature

ACCESS = """
users:
  - {name: root, roles: [{role: admin}]}
  - {name: vic, roles: [{role: viewer, groups: [public]}]}
  - {name: own, roles: [{role: owner, groups: [public, secret]}]}
  - {name: half, roles: [{role: owner, groups: [public]}, {role: editor, groups: [secret]}]}
  - {name: ed, roles: [{role: editor, groups: [public, secret]}]}
  - {name: pub, roles: [{role: owner, groups: [public]}]}
"""


@pytest.fixture
def store(tmp_path):
    path = public_and_secret(tmp_path, ACCESS, None)
    with FeatureStore(path, principal="root") as root:
        root.ingest("public", pd.DataFrame({"id": [f"p{i}" for i in range(500)],
                                            "ts": "2026-01-01T00:00:00Z", "v": [f"open{i}" for i in range(500)]}))
        root.create_feature_service("open", ["public"])
        root.create_feature_service("both", ["public:v", "secret:v"])
    return path


def test_a_service_over_a_group_the_principal_may_not_read_is_absent(store):
    with FeatureStore(store, principal="vic") as vic:
        assert [s.name for s in vic.list_feature_services()] == ["open"]
        assert vic.feature_service("open").refs == ["public:v"]
        got = vic.get_online_features("open", [{"id": "p7"}, {"id": "nope"}])
        assert got["v"].tolist()[0] == "open7" and got["v__status"].tolist() == ["present", "not_found"]
        for call in (lambda name: vic.feature_service(name), lambda name: vic.feature_service_history(name),
                     lambda name: vic.get_online_features(name, [{"id": "s1"}]),
                     lambda name: vic.build_dataset(pd.DataFrame({"id": ["s1"], "event_time": ["2026-02-01"]}),
                                                    f"service:{name}", record=False)):
            with pytest.raises(NotFound) as hidden:
                call("both")
            with pytest.raises(NotFound) as missing:
                call("nosuch")
            assert str(hidden.value).replace("both", "nosuch") == str(missing.value)
            assert "secret" not in str(hidden.value)


def test_only_admins_define_services_and_the_log_says_who(store):
    with FeatureStore(store, principal="own") as own:  # an owner of every group it reads is still no admin
        with pytest.raises(AccessDenied, match="admin"):
            own.create_feature_service("mine", ["public"])
        with pytest.raises(AccessDenied, match="admin"):
            own.update_feature_service("open", description="changed")
        with pytest.raises(AccessDenied, match="admin"):
            own.delete_feature_service("open")
        assert own.feature_service("both").version == 1  # it reads both groups: it may see it
    with FeatureStore(store, principal="root") as root:
        root.update_feature_service("open", description="Public features")
        root.delete_feature_service("both")
        log = root.audit()
        done = log[log["outcome"] == "ok"]
        assert {"create_feature_service", "update_feature_service", "delete_feature_service"} <= set(done["action"])
        refused = log[(log["principal"] == "own") & (log["outcome"] == "denied")]
        assert set(refused["action"]) >= {"create_feature_service", "update_feature_service", "delete_feature_service"}
        update = done[done["action"] == "update_feature_service"].iloc[0]
        assert update["principal"] == "root" and update["details"] == {"service": "open", "version": 2}


def shout(name: str, *groups: str) -> OnDemandFeature:
    return OnDemandFeature(name, inputs=[f"{g}:v" for g in groups],
                           outputs=[Feature(f"loud_{g}") for g in groups],
                           sql={f"loud_{g}": "upper(v)" if len(groups) == 1 else f"upper({g}__v)" for g in groups})


def test_only_owners_of_every_group_it_reads_register_on_demand_code_and_the_log_says_so(store):
    with FeatureStore(store, principal="ed") as ed:  # an editor writes records, but runs no code in the server
        with pytest.raises(AccessDenied, match="needs the owner role"):
            ed.register_on_demand(shout("loud", "public"))
    with FeatureStore(store, principal="half") as half:
        with pytest.raises(AccessDenied, match="needs the owner role on 'secret'"):
            half.register_on_demand(shout("both_loud", "public", "secret"))
        assert half.register_on_demand(shout("loud", "public")).version == 1
    with FeatureStore(store, principal="pub") as pub:  # may not see secret: it is missing, as a group never made
        with pytest.raises(NotFound) as hidden:
            pub.register_on_demand(shout("s_loud", "secret"))
        with pytest.raises(NotFound) as missing:
            pub.register_on_demand(shout("s_loud", "nosuch"))
        assert str(hidden.value).replace("secret", "nosuch") == str(missing.value)
    with FeatureStore(store, principal="vic") as vic:
        assert vic.on_demand_feature("loud").created_by == "half"
    with FeatureStore(store, principal="own") as own:
        own.register_on_demand(shout("secret_loud", "secret"))
    with FeatureStore(store, principal="vic") as vic:
        assert [f.name for f in vic.list_on_demand_features()] == ["loud"]
        with pytest.raises(NotFound, match="On-demand feature 'secret_loud' does not exist"):
            vic.on_demand_feature("secret_loud")
        assert "secret_loud" not in str(vic.lineage().nodes)
    with FeatureStore(store, principal="root") as root:
        log = root.audit()
        done = log[(log["action"] == "register_on_demand") & (log["outcome"] == "ok")]
        assert set(done["principal"]) == {"half", "own"}
        assert done[done["principal"] == "half"].iloc[0]["details"] == {"on_demand": "loud", "version": 1,
                                                                        "kind": "sql"}
        refused = log[(log["action"] == "register_on_demand") & (log["outcome"] == "denied")]
        assert set(refused["principal"]) == {"ed", "half", "pub"}


def test_a_services_history_leaves_out_the_versions_over_a_hidden_group(store):
    with FeatureStore(store, principal="root") as root:
        root.update_feature_service("both", features=["public:v"], description="Public only")
        root.update_feature_service("open", description="Public features")
        assert [s.version for s in root.feature_service_history("both")] == [1, 2]
    with FeatureStore(store, principal="vic") as vic:
        shown = vic.feature_service_history("both")  # version 1 read secret:v
        assert [(s.version, s.refs, s.description) for s in shown] == [(2, ["public:v"], "Public only")]
        assert [s.description for s in vic.feature_service_history("open")] == ["", "Public features"]
