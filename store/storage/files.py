"""Where a store's offline files live: a local folder or an object-store prefix (S3 or any
S3-compatible server), both through ``pyarrow.fs`` so every caller uses one small interface.

Paths handed out are full paths in the storage's filesystem: an absolute path on disk, or
``bucket/prefix/...`` on S3. The manifest keeps paths relative to the store (``offline/<group>/...``);
``full`` maps them onto the storage.

Why two write paths: on disk a file is written under a temporary name, fsynced and renamed, so a
crash never leaves half a file under its final name. An object store has no rename but makes an
object visible only when its upload completes, so a file is encoded in memory first (an encoding
error never reaches the store) and then uploaded in one request.

Every call to an object store goes through a ``Storage`` method, which turns pyarrow's bare
OSError (endpoint down, bucket missing, credentials refused) into ``StorageUnavailable`` naming
the location and what to do; a missing file stays FileNotFoundError, which callers expect.
"""
from __future__ import annotations

import functools
import os
import posixpath
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from ..errors import StorageUnavailable

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

MANIFEST_PREFIX = "offline/"
_Method = TypeVar("_Method", bound=Callable[..., Any])

# What an object store's refusal means, by the words pyarrow's (AWS SDK's) message uses, and what to do.
_CAUSES = (
    (("NETWORK_CONNECTION", "curlCode", "Could not connect", "Connection refused", "timed out", "Timeout"),
     "does not answer", "start it, or fix endpoint_url (featurestore.yaml s3:, or $AWS_ENDPOINT_URL_S3), then try "
     "again"),
    (("ACCESS_DENIED", "INVALID_ACCESS_KEY_ID", "SIGNATURE_DOES_NOT_MATCH", "AccessDenied", "InvalidAccessKeyId",
      "SignatureDoesNotMatch", "HTTP status 403"),
     "refused this process's credentials", "check $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY (or the AWS "
     "profile) and the bucket's policy"),
    (("NO_SUCH_BUCKET", "NoSuchBucket"),
     "has no such bucket", "create the bucket (e.g. `aws s3 mb s3://BUCKET`) or fix offline: in featurestore.yaml"),
)


def unavailable(exc: OSError, uri: str, endpoint: str | None, doing: str) -> StorageUnavailable:
    """The StorageUnavailable error for an object store's ``exc`` raised while ``doing``."""
    text = str(exc)
    detail = text[text.find("AWS Error"):] if "AWS Error" in text else text
    detail = detail.splitlines()[0][:300] if detail else type(exc).__name__
    problem, fix = "failed", "check the object store and try again"
    for words, what, advice in _CAUSES:
        if any(w in text for w in words):
            problem, fix = what, advice.replace("BUCKET", uri[len("s3://"):].split("/", 1)[0])
            break
    where = f" at {endpoint}" if endpoint else ""
    return StorageUnavailable(f"The object store holding the offline files ({uri}{where}) {problem} while {doing} "
                              f"({detail}): {fix}", location=uri)


def _answered(doing: str) -> Callable[[_Method], _Method]:
    """A Storage method whose object-store errors become StorageUnavailable (see the module docstring)."""
    def wrap(method: _Method) -> _Method:
        @functools.wraps(method)
        def call(self: "Storage", *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except (FileNotFoundError, StorageUnavailable):
                raise
            except OSError as exc:
                if self.local:  # a disk's errors (full, read-only) are handled where they mean something
                    raise
                path = next((a for a in args if isinstance(a, str)), "")
                raise unavailable(exc, self.uri, self.s3_options.get("endpoint_override"),
                                  f"{doing} {path}".rstrip()) from exc
        return call  # type: ignore[return-value]
    return wrap


@dataclass(frozen=True)
class FileInfo:
    path: str
    size: int
    mtime: float  # seconds since the epoch


class Storage:
    """A folder of offline files, on disk or in an object store."""

    def __init__(self, fs: "pafs.FileSystem", base: str, uri: str, s3_options: dict[str, Any] | None = None) -> None:
        import pyarrow.fs as pafs

        self.fs = fs
        self.s3_options = s3_options or {}  # how the S3 filesystem was made (no credentials)
        self.base = base.rstrip("/") if not isinstance(fs, pafs.LocalFileSystem) else base.rstrip(os.sep)
        self.uri = uri  # the location as a user writes it: /path or s3://bucket/prefix
        self.local = isinstance(fs, pafs.LocalFileSystem)
        self.sep = os.sep if self.local else "/"

    def __repr__(self) -> str:
        return f"Storage({self.uri!r})"

    def portable(self) -> "Storage":
        """This storage for other processes (Spark executors): on S3 with the credentials this
        process resolves now (environment, profile or instance role) written into it, as those
        processes may not have the same environment."""
        if self.local:
            return self
        import botocore.session
        import pyarrow.fs as pafs

        options = dict(self.s3_options)
        credentials = botocore.session.get_session().get_credentials()
        if credentials is not None:
            frozen = credentials.get_frozen_credentials()
            options.update(access_key=frozen.access_key, secret_key=frozen.secret_key, session_token=frozen.token)
        return Storage(pafs.S3FileSystem(**options), self.base, self.uri, self.s3_options)

    # -- naming ------------------------------------------------------------------------------

    def join(self, *parts: str) -> str:
        return os.path.join(*parts) if self.local else posixpath.join(*parts)

    def full(self, rel: str) -> str:
        """The full path of a manifest path (``offline/<group>/...``)."""
        rel = rel.replace(os.sep, "/")
        if rel.startswith(MANIFEST_PREFIX):
            rel = rel[len(MANIFEST_PREFIX):]
        return self.join(self.base, *rel.split("/"))

    def url(self, path: str) -> str:
        """A full path as a URL other tools take (file:///... or s3://bucket/...)."""
        return "file://" + path if self.local else "s3://" + path

    def spark_url(self, path: str) -> str:
        """A full path as Spark's Hadoop filesystems name it (s3a:// for S3)."""
        return path if self.local else "s3a://" + path

    # -- writing -----------------------------------------------------------------------------

    @_answered("writing")
    def write_parquet(self, table: "pa.Table", path: str, **options: Any) -> int:
        """Write a Parquet file atomically (see the module docstring); returns its size in bytes."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.local:
            return write_local(table, path, **options)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, **options)
        data = sink.getvalue()
        with self.fs.open_output_stream(path) as out:
            out.write(data)
        return data.size

    @_answered("writing")
    def write_text(self, path: str, text: str) -> None:
        if self.local:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
            return
        with self.fs.open_output_stream(path) as out:
            out.write(text.encode())

    @_answered("moving")
    def move(self, src: str, dst: str) -> None:
        """Move one file (a server-side copy and delete on an object store); a missing source is skipped."""
        if self.local:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            try:
                os.replace(src, dst)
            except FileNotFoundError:
                pass
            return
        try:
            self.fs.move(src, dst)
        except FileNotFoundError:
            pass

    def sync_folders(self, folders: set[str]) -> None:
        """Make renames into ``folders`` durable (disk only; an object store's writes already are)."""
        if self.local:
            for folder in folders:
                fsync_folder(folder)

    @_answered("removing")
    def remove(self, path: str) -> None:
        try:
            self.fs.delete_file(path)
        except FileNotFoundError:
            pass

    @_answered("removing")
    def remove_tree(self, folder: str) -> None:
        try:
            self.fs.delete_dir(folder)
        except FileNotFoundError:
            pass

    @_answered("moving")
    def move_tree(self, src: str, dst: str) -> bool:
        """Move a folder and everything under it; False when there is nothing to move."""
        if self.local:
            if not os.path.exists(src):
                return False
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            os.replace(src, dst)
            return True
        files = self.files(src)
        for f in files:
            self.fs.move(f.path, dst + f.path[len(src):])
        return bool(files)

    def prune_empty(self, folder: str) -> None:
        """Remove empty folders under ``folder`` (deepest first); an object store has none to remove."""
        if not self.local:
            return
        for dirpath, _dirs, _files in sorted(os.walk(folder), key=lambda w: -w[0].count(os.sep)):
            if dirpath != folder:
                try:
                    os.rmdir(dirpath)
                except OSError:  # not empty
                    pass

    # -- reading -----------------------------------------------------------------------------

    @_answered("looking for")
    def exists(self, path: str) -> bool:
        import pyarrow.fs as pafs

        if self.local:
            return os.path.exists(path)
        return self.fs.get_file_info(path).type != pafs.FileType.NotFound

    @_answered("looking for")
    def size(self, path: str) -> int:
        """A file's size in bytes (FileNotFoundError if it is gone)."""
        if self.local:
            return os.path.getsize(path)
        import pyarrow.fs as pafs

        info = self.fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            raise FileNotFoundError(path)
        return info.size

    @_answered("listing")
    def files(self, folder: str) -> list[FileInfo]:
        """Every file under ``folder``, recursively ([] if it does not exist)."""
        import pyarrow.fs as pafs

        infos = self.fs.get_file_info(pafs.FileSelector(folder, recursive=True, allow_not_found=True))
        return [FileInfo(i.path, i.size or 0, i.mtime.timestamp() if i.mtime else time.time())
                for i in infos if i.type == pafs.FileType.File]

    @_answered("listing")
    def names(self, folder: str) -> list[str]:
        """The names directly under ``folder`` ([] if it does not exist)."""
        import pyarrow.fs as pafs

        infos = self.fs.get_file_info(pafs.FileSelector(folder, recursive=False, allow_not_found=True))
        return [i.base_name for i in infos]

    @_answered("reading")
    def read_text(self, path: str) -> str | None:
        """A small text file's content, or None if it does not exist."""
        try:
            with self.fs.open_input_stream(path) as fh:
                return fh.read().decode()
        except FileNotFoundError:
            return None

    @_answered("reading")
    def read_table(self, path: str, **options: Any) -> "pa.Table":
        import pyarrow.parquet as pq

        if self.local:
            return pq.read_table(path, **options)
        return pq.read_table(path, filesystem=self.fs, **options)

    def dataset(self, paths: list[str], schema: "pa.Schema", decryption: Any = None) -> "ds.Dataset":
        """The files as one lazily scanned dataset of ``schema``, built from the names alone (no
        request per file until the scan reads it)."""
        import pyarrow.dataset as ds

        fmt = ds.ParquetFileFormat(default_fragment_scan_options=ds.ParquetFragmentScanOptions(
            decryption_properties=decryption)) if decryption is not None else ds.ParquetFileFormat()
        return ds.FileSystemDataset.from_paths(paths, schema=schema, format=fmt, filesystem=self.fs)


def write_local(table: "pa.Table", final: str, **options: Any) -> int:
    """To a temporary name, fsynced, renamed, and its folder fsynced, so neither a killed process
    nor a power cut leaves half a file under the final name or loses one a manifest lists."""
    import pyarrow.parquet as pq

    folder = os.path.dirname(final)
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(final)}.tmp")
    try:
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh, **options)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    fsync_folder(folder)
    return os.path.getsize(final)


def fsync_folder(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
