"""A real Redis server for tests and benchmarks: Debian's ``redis-server`` on 127.0.0.1 and a free
port, in a temporary folder, with nothing saved to disk."""
from __future__ import annotations

import shutil
import subprocess
import tempfile

from servers.listening import wait_listening
from store.server.process import free_port


class RedisServer:
    """``with RedisServer() as r:`` a server at ``r.url`` (``redis://127.0.0.1:PORT/0``)."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise RuntimeError("The Redis tests need redis-server: run `scripts/test` (it installs what the tests "
                               "need, then runs them), or `sudo apt-get install redis-server`")
        self.folder = tempfile.mkdtemp(prefix="redis-")
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "RedisServer":
        self.port = free_port()
        self.proc = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", self.folder, "--save", "",
             "--appendonly", "no", "--protected-mode", "yes"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        try:
            wait_listening(self.proc, self.port, "redis-server")
        except RuntimeError:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
