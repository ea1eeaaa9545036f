"""Choosing an online backend: kept in the store's config once its server answers, refused when
it does not (naming the server) or when the store already has another."""
from __future__ import annotations

import pytest

from store import FeatureStore, ValidationError


@pytest.mark.parametrize("url,says", [("redis://127.0.0.1:1/0", "Connection refused"),
                                      ("postgresql://nobody@127.0.0.1:1/x", "Connection refused")])
def test_a_server_that_does_not_answer_is_named_and_not_kept(tmp_path, url, says):
    with pytest.raises(ValidationError, match=f"Cannot reach the online store at .*127.0.0.1:1.*{says}"):
        FeatureStore(tmp_path / "s", online=url)
    assert not (tmp_path / "s" / "featurestore.yaml").exists()
    with pytest.raises(ValidationError, match="use sqlite \\(the default\\), redis://host:port/db or postgresql://"):
        FeatureStore(tmp_path / "s", online="mysql://x")


def test_a_store_keeps_its_online_backend(tmp_path, redis_server, postgres_server):
    with FeatureStore(tmp_path / "s", online=redis_server.url) as fs:
        assert fs.online_location == redis_server.url
    with FeatureStore(tmp_path / "s") as fs:  # the config says where
        assert fs.online_location == redis_server.url
    with pytest.raises(ValidationError, match="online store is redis://.*not postgresql://"):
        FeatureStore(tmp_path / "s", online=postgres_server.url)
