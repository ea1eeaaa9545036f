"""Waiting for a test server started as a subprocess to accept connections on its port."""
from __future__ import annotations

import socket
import subprocess
import time


def wait_listening(proc: subprocess.Popen, port: int, what: str, seconds: float = 20) -> None:
    """Return once 127.0.0.1:``port`` accepts a connection; RuntimeError naming ``what`` if the
    process ends first or ``seconds`` pass (the caller stops the process)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.05)
