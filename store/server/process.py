"""The server in a child process on a free loopback port, for tests and benchmarks.

    with LocalServer(tmp_path / "store") as server:
        runtime = server.client("sagemaker-featurestore-runtime")
"""
from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalServer:
    """``featurestore serve`` on 127.0.0.1 until the ``with`` block ends (then stopped gracefully,
    so buffered rows reach Parquet)."""

    def __init__(self, store_path: str | os.PathLike, keys_path: str | os.PathLike | None = None, workers: int = 1,
                 startup_timeout: float = 30.0, tls: tuple[str, str] | None = None) -> None:
        self.store_path, self.keys_path, self.workers = os.fspath(store_path), keys_path, workers
        self.tls = tls  # (certfile, keyfile): serve HTTPS
        self.startup_timeout = startup_timeout
        self.port = 0
        self._process: subprocess.Popen | None = None
        self._log = tempfile.TemporaryFile(mode="w+")

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server process's id while it runs (benchmarks read its CPU time)."""
        return None if self._process is None else self._process.pid

    def __enter__(self) -> "LocalServer":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(self) -> None:
        """Start the server and wait until it answers /ping. Raises RuntimeError with its output if it cannot."""
        self.port = free_port()
        cmd = [sys.executable, "-m", "store.cli", "--store", self.store_path, "serve", "--port", str(self.port),
               "--workers", str(self.workers), "--no-access-log"]
        if self.keys_path:
            cmd += ["--keys", os.fspath(self.keys_path)]
        if self.tls:
            cmd += ["--certfile", self.tls[0], "--keyfile", self.tls[1]]
        env = {**os.environ, "PYTHONUNBUFFERED": "1",
               "PYTHONPATH": os.pathsep.join(filter(None, [_PACKAGE_ROOT, os.environ.get("PYTHONPATH")]))}
        self._process = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + self.startup_timeout
        while not self._answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"The server did not start:\n{self.output()}")
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            if self.tls:
                import ssl

                context = ssl.create_default_context(cafile=self.tls[0])
                conn: http.client.HTTPConnection = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=1,
                                                                                context=context)
            else:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
            try:
                conn.request("GET", "/ping")
                return conn.getresponse().status == 200
            finally:
                conn.close()  # an idle kept-alive connection would hold up a graceful stop
        except OSError:
            return False

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def output(self) -> str:
        """What the server printed so far."""
        self._log.flush()
        self._log.seek(0)
        return self._log.read()

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client for ``service`` pointed at this server (dummy credentials unless given)."""
        import boto3

        options = {"region_name": "us-east-1", "aws_access_key_id": "local", "aws_secret_access_key": "local-secret",
                   **kwargs}
        return boto3.session.Session().client(service, endpoint_url=self.url, **options)
