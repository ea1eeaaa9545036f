"""Errors from the object store holding the offline files (endpoint down, credentials refused)
are the store's own StorageUnavailable (503), naming the location and what to do, for reads,
writes, maintenance and opening alike; nothing stored is lost or half-written, and everything
works again once the endpoint is back. The outage is a TCP relay in front of the test S3 server
that the test cuts and restores (issue 20: these surfaced as a bare pyarrow OSError)."""
from __future__ import annotations

import socket
import threading
import uuid

import pandas as pd
import pytest

from conftest import S3_BUCKET, offline_files
from store import Feature, FeatureStore, FeatureStoreError
from store.errors import StorageUnavailable
from store.server.errors import code_of
from store.server.vendor import RUNTIME

FEATURES = [Feature("id", "Integral"), Feature("ts", "String"), Feature("v", "Fractional")]


class Relay:
    """A TCP relay to ``target``: ``cut()`` drops every connection and refuses new ones (an
    endpoint gone down), ``restore()`` listens again on the same port. It cuts itself once the
    bytes sent upstream pass ``budget``, or a request starting with ``cut_on`` arrives (an
    endpoint dying mid-write)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target, self.port = target, 0
        self.upstream_bytes = 0
        self.budget: int | None = None
        self.cut_on: bytes | None = None
        self.cuts = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def restore(self) -> "Relay":
        if self._listener is not None:
            return self
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port, self._listener = listener.getsockname()[1], listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def cut(self) -> None:
        with self._lock:
            self.cuts += 1
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, []
        for s in ([listener] if listener else []) + sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # cut
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                if self._listener is not listener:
                    client.close(), upstream.close()
                    return
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, up: bool) -> None:
        try:
            while data := src.recv(65536):
                if up:
                    with self._lock:
                        self.upstream_bytes += len(data)
                        over = ((self.budget is not None and self.upstream_bytes > self.budget)
                                or (self.cut_on is not None and data.startswith(self.cut_on)))
                        if over:  # once: the outage lasts until restore()
                            self.budget = self.cut_on = None
                    if over:
                        self.cut()
                        return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def relay(s3_server, monkeypatch):
    """The test S3 server behind a relay; the AWS variables point at the relay."""
    host, port = s3_server.endpoint.rsplit("//", 1)[1].split(":")
    relay = Relay((host, int(port))).restore()
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", relay.endpoint)
    yield relay
    relay.cut()


@pytest.fixture
def store(tmp_path, relay):
    location = f"s3://{S3_BUCKET}/{uuid.uuid4().hex[:12]}"
    fs = FeatureStore(tmp_path / "store", offline=location)
    fs.create_feature_group("g", "id", "ts", FEATURES)
    yield fs, location
    relay.restore()
    fs.close()


def rows(n: int, first: int = 0, days: int = 1) -> pd.DataFrame:
    return pd.DataFrame({"id": range(first, first + n), "v": [float(i) for i in range(n)],
                         "ts": [f"2026-10-{1 + i % days:02d}T00:00:00Z" for i in range(n)]})


def listed(fs: FeatureStore) -> list[str]:
    with fs._ctx.db.read() as conn:
        return sorted(fs._ctx.files.storage.full(p) for (p,) in
                      conn.execute("SELECT path FROM offline_files WHERE group_name = 'g'"))


def unavailable(location: str, relay: Relay, doing: str = "") -> str:
    """What the error must say: the location, the endpoint, that it does not answer, what to do."""
    return rf"\({location} at {relay.endpoint}\) does not answer while {doing}.*start it, or fix endpoint_url"


def test_an_endpoint_down_fails_reads_writes_and_opening_with_the_stores_error(store, relay, tmp_path):
    fs, location = store
    fs.ingest("g", rows(2))
    fs.put_record("g", {"id": 7, "ts": "2026-10-02T00:00:00Z", "v": 7.0})  # buffered, not yet in a file
    relay.cut()
    for call in (lambda: fs.ingest("g", rows(3, 10)), fs.flush, lambda: fs.compact("g"),
                 lambda: fs.as_of("g"), lambda: fs.query("SELECT count(*) FROM g"),
                 lambda: fs.build_dataset(pd.DataFrame({"id": [1], "event_time": ["2026-12-01T00:00:00Z"]}), ["g"]),
                 lambda: FeatureStore(tmp_path / "store")):
        with pytest.raises(StorageUnavailable, match=unavailable(location, relay)) as caught:
            call()
        assert isinstance(caught.value, FeatureStoreError) and caught.value.status == 503
    assert code_of(caught.value, RUNTIME) == ("ServiceUnavailable", 503)
    assert fs.get_record("g", 7)["v"] == 7.0  # the online store is elsewhere and still answers
    info = fs.describe("g")
    assert (info["offline_rows"], info["offline_files"], info["staged_rows"]) == (3, 1, 1)  # nothing lost or half-written

    relay.restore()
    assert fs.flush() == 1
    assert sorted(fs.as_of("g")["id"]) == [0, 1, 7]
    assert offline_files(fs, "g", "data") == listed(fs)
    FeatureStore(tmp_path / "store").close()


def test_an_endpoint_dying_mid_ingest_leaves_nothing_half_written(store, relay):
    fs, _ = store
    start = relay.upstream_bytes
    fs.ingest("g", rows(300, 0, days=30))  # thirty files, one per day
    size = relay.upstream_bytes - start
    before = sorted(fs.as_of("g")["id"])
    relay.budget = relay.upstream_bytes + size // 2  # the same ingest, cut halfway through its uploads
    with pytest.raises(StorageUnavailable, match="does not answer while"):
        fs.ingest("g", rows(300, 1000, days=30))
    assert relay.cuts == 1
    relay.restore()
    assert set(offline_files(fs, "g", "data")) > set(listed(fs))  # uploads it made before the cut, unlisted
    assert fs.describe("g")["offline_rows"] == 300
    assert sorted(fs.as_of("g")["id"]) == before
    fs.ingest("g", rows(5, 5000))  # the next writer clears what the cut ingest left
    assert fs.describe("g")["offline_rows"] == 305
    assert offline_files(fs, "g", "data") == listed(fs)


def test_credentials_refused_are_named(store, relay, tmp_path, monkeypatch):
    fs, location = store
    fs.ingest("g", rows(2))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(StorageUnavailable, match=rf"\({location} at .*\) refused this process's credentials while "
                                                 r"opening.*check \$AWS_ACCESS_KEY_ID"):
        FeatureStore(tmp_path / "store")


def test_a_committed_ingest_is_not_reported_failed_when_the_endpoint_dies_after_it(store, relay):
    """Its last request (clearing the in-flight marker) comes after the commit: failing it must not
    make the caller retry, and so store the rows twice."""
    fs, location = store
    fs.ingest("g", rows(20, 0, days=2))
    relay.cut_on = f"DELETE /{location[len('s3://'):]}/_inflight/g ".encode()
    fs.ingest("g", rows(20, 100, days=2))
    assert relay.cuts == 1
    relay.restore()
    assert sorted(fs.as_of("g")["id"]) == [*range(20), *range(100, 120)]
    fs.ingest("g", rows(1, 500))
    assert offline_files(fs, "g", "data") == listed(fs)


def test_an_endpoint_dying_as_a_read_fetches_its_files_says_so(store, relay):
    """Listing answers, then the first request for a data file is cut: each read still raises
    StorageUnavailable naming the file, and reads again once the endpoint is back."""
    fs, location = store
    fs.ingest("g", rows(10))
    reads = (lambda: fs.as_of("g"), lambda: fs.query("SELECT count(*) AS n FROM g"),
             lambda: fs.build_dataset(pd.DataFrame({"id": [1], "event_time": ["2026-12-01T00:00:00Z"]}), ["g"]))
    for read in reads:
        relay.restore()
        relay.cut_on, relay.cuts = f"GET /{location[len('s3://'):]}/g/data/".encode(), 0
        with pytest.raises(StorageUnavailable, match=r"does not answer while reading .*/g/data/.*\.parquet"):
            read()
        assert relay.cuts == 1
    relay.restore()
    assert len(fs.as_of("g")) == 10 and fs.query("SELECT count(*) AS n FROM g")["n"][0] == 10
