"""Shared fixtures: a fresh store in tmp_path and a typical feature group.

Backends are axes of the tests that ask for ``fs`` (or a ``*_location``), chosen by the module's
markers, against real servers started once per test session (see ``s3_server``,
``redis_server``, ``postgres_server``):

- ``storage``: offline files on a local folder and on S3 (SeaweedFS on 127.0.0.1);
- ``online``: online records in the store's database, in Redis and in PostgreSQL;
- ``registry``: the store's tables in its SQLite file and in a PostgreSQL schema.

Modules with several markers run a chosen set of combinations (see COMBINATIONS), not every
product: each backend with the defaults, plus the shared deployment (registry on PostgreSQL,
files on S3, online in the registry or in Redis)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid

import pytest

# Tests mirror the store's rooms (tests/core/, tests/app/, ...), and a few reuse another room's
# helpers by module name (the Spark tests run the property harness of tests/core/, several rooms
# sign in to the studio as tests/app/ does): every room's folder is importable, whichever file runs.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[1:1] = [os.path.join(_HERE, d) for d in sorted(os.listdir(_HERE))
                 if os.path.isdir(os.path.join(_HERE, d)) and d not in ("__pycache__", "servers")]
from install_support import missing, need

from store import Feature, FeatureStore

S3_BUCKET = "featurestore-tests"

CUSTOMER_FEATURES = [
    Feature("customer_id", "Integral"),
    Feature("event_time", "String"),
    Feature("age", "Integral"),
    Feature("score", "Fractional"),
    Feature("name", "String"),
    Feature("tags", "String", collection="List"),
]


# (storage, registry, online) per set of markers; a marker left out takes its default. Online "sqlite"
# means the default: the rows in the store's own database, SQLite or PostgreSQL as the registry is.
COMBINATIONS = {
    ("storage",): [("local", "sqlite", "sqlite"), ("s3", "sqlite", "sqlite"), ("s3", "postgresql", "sqlite")],
    ("online",): [("local", "sqlite", "sqlite"), ("local", "sqlite", "redis"), ("local", "sqlite", "postgresql"),
                  ("local", "postgresql", "sqlite")],
    ("registry",): [("local", "sqlite", "sqlite"), ("local", "postgresql", "sqlite")],
    ("online", "storage"): [("local", "sqlite", "sqlite"), ("s3", "sqlite", "sqlite"), ("local", "sqlite", "redis"),
                            ("local", "sqlite", "postgresql"), ("s3", "postgresql", "sqlite"), ("s3", "postgresql", "redis")],
}
AXES = {"storage": "offline_location", "online": "online_location", "registry": "registry_location"}


def pytest_generate_tests(metafunc):
    used = set(metafunc.fixturenames)
    markers = tuple(sorted(m for m, fixture in AXES.items()
                           if metafunc.definition.get_closest_marker(m) and {"fs", fixture} & used))
    if not markers:
        return
    kinds = [i for i, kind in enumerate(("storage_kind", "registry_kind", "online_kind")) if kind in used]
    combos = list(dict.fromkeys(tuple(c[i] for i in kinds) for c in COMBINATIONS[markers]))
    metafunc.parametrize([("storage_kind", "registry_kind", "online_kind")[i] for i in kinds], combos, indirect=True,
                         ids=["-".join(c) for c in combos])


@pytest.fixture(scope="session")
def kafka_server():
    from servers.kafka import KafkaServer

    with KafkaServer() as server:
        yield server


@pytest.fixture(scope="session")
def redis_server():
    from servers.redis import RedisServer

    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server():
    from servers.postgres import PostgresServer

    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def online_kind(request):
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="session")  # hypothesis tests take it: one value per run
def online_location(online_kind, request):
    """None (the store's own database), or the test session's Redis or PostgreSQL server."""
    if online_kind == "sqlite":
        return None
    return request.getfixturevalue("redis_server" if online_kind == "redis" else "postgres_server").url


@pytest.fixture(scope="session")
def registry_kind(request):
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="session")  # hypothesis tests take it: one value per run
def registry_location(registry_kind, request):
    """None (the store's SQLite file), or the test session's PostgreSQL server (each store makes
    a schema of its own in it)."""
    return None if registry_kind == "sqlite" else request.getfixturevalue("postgres_server").url


def java_17_or_later() -> None:
    """Spark 4 needs Java 17 or later: fail saying how to get it, rather than in Spark's gateway."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.path.exists(java):
        missing("The Spark engine tests need Java 17 or later", apt="openjdk-17-jre-headless")
    banner = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60).stderr
    major = re.search(r'version "(1\.)?(\d+)', banner)
    if major is None or int(major.group(2)) < 17:
        first = (banner.strip().splitlines() or ["unknown"])[0]
        missing(f"The Spark engine tests need Java 17 or later; {java} is {first!r}", apt="openjdk-17-jre-headless")


@pytest.fixture(scope="session")
def spark():
    """One local Spark session (2 cores) for the whole test run: a session takes seconds to start."""
    need("pyspark", "The Spark engine tests")
    java_17_or_later()
    from pyspark.sql import SparkSession

    from store.engines.spark import local_builder

    session = local_builder(SparkSession.builder, "local[2]").config("spark.sql.shuffle.partitions", "4").getOrCreate()
    yield session
    session.stop()


@pytest.fixture(scope="session")
def s3_server():
    from servers.s3 import SeaweedS3

    with SeaweedS3() as s3:
        s3.bucket(S3_BUCKET)
        yield s3


@pytest.fixture
def storage_kind(request):
    return getattr(request, "param", "local")


@pytest.fixture
def offline_location(storage_kind, request, monkeypatch):
    """None (the store's own folder), or a fresh prefix on the S3 server, whose endpoint and key
    the standard AWS variables then carry."""
    if storage_kind == "local":
        return None
    s3 = request.getfixturevalue("s3_server")
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    return f"s3://{S3_BUCKET}/{uuid.uuid4().hex[:12]}"


@pytest.fixture
def fs(tmp_path, offline_location, online_location, registry_location):
    store = FeatureStore(tmp_path / "store", offline=offline_location, online=online_location,
                         registry=registry_location)
    yield store
    store.close()


@pytest.fixture
def customers(fs):
    fs.create_feature_group("customers", "customer_id", "event_time", CUSTOMER_FEATURES,
                            description="Customer profiles", tags={"team": "risk"})
    return "customers"


def offline_files(fs, *parts: str, suffix: str = ".parquet") -> list[str]:
    """Full paths of the files under a folder of the store's offline location, wherever it is."""
    storage = fs._ctx.files.storage
    return sorted(f.path for f in storage.files(storage.join(storage.base, *parts)) if f.path.endswith(suffix))


def read_as_is(fs, *parts: str):
    """A folder of the offline location as another engine reads it: a Hive-partitioned Parquet
    dataset through pyarrow's filesystem (local or S3)."""
    import pyarrow.dataset as ds

    storage = fs._ctx.files.storage
    return ds.dataset(storage.join(storage.base, *parts), filesystem=storage.fs, format="parquet",
                      partitioning="hive")


def t(day: int, hour: int = 0) -> str:
    """An ISO event time on day ``day`` of January 2024."""
    return f"2024-01-{day:02d}T{hour:02d}:00:00Z"


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    """The HTTP server in a child process on a free port, with a store of its own, per test module."""
    from store.server.process import LocalServer

    with LocalServer(tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]) / "store") as srv:
        yield srv


@pytest.fixture(scope="module")
def sm(server):
    """A boto3 SageMaker control-plane client of the module's server."""
    return server.client("sagemaker")


@pytest.fixture(scope="module")
def rt(server):
    """A boto3 Feature Store runtime client of the module's server."""
    return server.client("sagemaker-featurestore-runtime")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell a failed test (the browser
    tests then leave a screenshot of the page as it failed)."""
    outcome = yield
    setattr(item, f"rep_{call.when}", outcome.get_result())


def scheduler_of(fs, **options):
    """The pipeline scheduler as ``fs.run_scheduler`` builds it (each run acts as its pipeline's
    owner), for tests that step it with ``run_due``."""
    from store.pipelines.schedule import Scheduler

    return Scheduler(fs._ctx, lambda owner: fs.with_principal(owner)._ctx, **options)
