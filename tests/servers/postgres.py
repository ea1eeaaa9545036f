"""A real PostgreSQL server for tests and benchmarks: Debian's ``postgresql`` binaries, a cluster
made by ``initdb`` in a temporary folder and started by ``pg_ctl`` on 127.0.0.1 and a free port
(as the ``postgres`` user when the tests run as root, which PostgreSQL refuses to run as)."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile

from store.server.process import free_port


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


class PostgresServer:
    """``with PostgresServer() as pg:`` a server at ``pg.url`` (``postgresql://postgres@127.0.0.1:PORT/postgres``)."""

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = _bin("initdb"), _bin("pg_ctl")
        if not self.initdb or not self.pg_ctl:
            raise RuntimeError("The PostgreSQL tests need its server: run `scripts/test` (it installs what the tests "
                               "need, then runs them), or `sudo apt-get install postgresql`")
        self.folder = tempfile.mkdtemp(prefix="pg-")
        self.data = os.path.join(self.folder, "data")
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, timeout=120)

    def __enter__(self) -> "PostgresServer":
        if self.as_root:
            shutil.chown(self.folder, "postgres", "postgres")
        self.port = free_port()
        self._run(self.initdb, "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self._pg_ctl("start")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        return self

    def _pg_ctl(self, action: str, *args: str) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off"
        self._run(self.pg_ctl, "-D", self.data, "-o", options, "-w", "-t", "60", "-l",
                  os.path.join(self.folder, "log"), *args, action)

    def restart(self) -> None:
        """Stop (ending every session, as a restart or failover does) and start again on the same port."""
        self._pg_ctl("restart", "-m", "fast")

    def __exit__(self, *exc: object) -> None:
        try:
            self._run(self.pg_ctl, "-D", self.data, "-m", "immediate", "stop")
        except (subprocess.SubprocessError, OSError):
            pass
        shutil.rmtree(self.folder, ignore_errors=True)
