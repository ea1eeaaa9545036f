"""A store's config, ``featurestore.yaml`` in its folder: where its tables, offline files and
online records live.

    registry: postgresql://fs@db.internal:5432/features   # default: sqlite (featurestore.db here)
    registry_schema: fs_1a2b3c4d5e6f   # written with registry:, so stores can share a database
    offline: s3://bucket/prefix        # or a folder; default: <store>/offline
    online: redis://127.0.0.1:6379/0   # default: the registry's database (in its transactions)
    online_prefix: "fs:1a2b3c4d:"      # written with online:, so stores can share a Redis database
    s3:                                # optional; else the standard AWS variables
      endpoint_url: http://127.0.0.1:8333   # else $AWS_ENDPOINT_URL_S3 / $AWS_ENDPOINT_URL
      region: us-east-1                     # else $AWS_REGION / $AWS_DEFAULT_REGION

Credentials come from the AWS SDK's usual chain ($AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY,
a profile, an instance role), and PostgreSQL passwords from its own ($PGPASSWORD, ~/.pgpass)
unless the URL holds one, so the file can be copied to every machine sharing the store.
The location is written once, when the store is made: every later opener reads the same place.
"""
from __future__ import annotations

import os
from typing import Any

from ..errors import ValidationError
from .files import Storage, unavailable

CONFIG_FILE = "featurestore.yaml"
S3_KEYS = ("endpoint_url", "region")


def read(store_path: str) -> dict[str, Any]:
    import yaml

    path = os.path.join(store_path, CONFIG_FILE)
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as fh:
        try:
            config = yaml.safe_load(fh) or {}
        except yaml.YAMLError as exc:
            raise ValidationError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(config, dict):
        raise ValidationError(f"{path} must be a mapping of settings (offline:, s3:)")
    unknown = set(config) - {"registry", "registry_schema", "offline", "s3", "online", "online_prefix"}
    if unknown:
        raise ValidationError(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}; use registry:, offline:, "
                              "s3:, online: and their _schema/_prefix")
    return config


def write(store_path: str, config: dict[str, Any]) -> None:
    import yaml

    path = os.path.join(store_path, CONFIG_FILE)
    tmp = f"{path}.{os.getpid()}.tmp"  # several processes may write the same (a URL's folder)
    with open(tmp, "w", encoding="utf-8") as fh:
        yaml.safe_dump(config, fh, sort_keys=False)
    os.replace(tmp, path)


def open_storage(store_path: str, offline: str | None = None, pin: bool = False) -> Storage:
    """The store's offline storage. ``offline`` given for a store that has no config yet is
    recorded in its ``featurestore.yaml`` once the location answers; given for one whose config
    says otherwise, refused. ``pin`` records the default location too (as an absolute path), for
    a store whose config other machines copy."""
    config = read(store_path)
    record = False
    if pin and offline is None and not config.get("offline"):
        config, record = {**config, "offline": os.path.abspath(os.path.join(store_path, "offline"))}, True
    if offline is not None:
        offline = _normalise(offline)
        if config.get("offline") and _normalise(config["offline"]) != offline:
            raise ValidationError(
                f"This store's offline files are at {config['offline']} (its {CONFIG_FILE}), not {offline}; "
                "open it without offline=, or use another store folder", offline=offline)
        if not config.get("offline") and offline != _normalise(os.path.join(store_path, "offline")):
            if _has_local_files(store_path):
                raise ValidationError(
                    f"This store already keeps offline files in {os.path.join(store_path, 'offline')}; a store's "
                    "offline location is chosen when it is made (start a new store folder for it)", offline=offline)
            config, record = {**config, "offline": offline}, True
    storage = _open(store_path, config)  # raises, recording nothing, for a bucket that does not answer
    if record:
        write(store_path, config)
    return storage


def _open(store_path: str, config: dict[str, Any]) -> Storage:
    location = config.get("offline") or os.path.join(store_path, "offline")
    if location.startswith("s3://"):
        return _s3(location, config.get("s3") or {})
    location = location[len("file://"):] if location.startswith("file://") else location
    folder = os.path.abspath(os.path.join(store_path, os.path.expanduser(location)))
    os.makedirs(folder, exist_ok=True)
    import pyarrow.fs as pafs

    return Storage(pafs.LocalFileSystem(), folder, folder)


def _normalise(location: str) -> str:
    location = str(location).strip()
    if location.startswith("s3://"):
        return location.rstrip("/")
    if location.startswith(("s3a://", "s3n://", "gs://", "abfs://", "hdfs://")):
        raise ValidationError(f"offline={location!r}: use a folder or s3://bucket/prefix (for S3-compatible "
                              "servers too; set their endpoint_url)", offline=location)
    return os.path.abspath(location[len("file://"):] if location.startswith("file://") else location)


def _has_local_files(store_path: str) -> bool:
    for _dirpath, _dirs, files in os.walk(os.path.join(store_path, "offline")):
        if any(f.endswith(".parquet") for f in files):
            return True
    return False


def _s3(location: str, options: dict[str, Any]) -> Storage:
    import pyarrow.fs as pafs

    unknown = set(options) - set(S3_KEYS)
    if unknown:
        raise ValidationError(f"s3: unknown setting(s) {', '.join(sorted(unknown))}; use {', '.join(S3_KEYS)} "
                              "(credentials come from the AWS variables or profile)")
    bucket, _, prefix = location[len("s3://"):].partition("/")
    if not bucket:
        raise ValidationError(f"offline={location!r}: name a bucket, as s3://bucket/prefix", offline=location)
    endpoint = options.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    region = options.get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    kwargs: dict[str, Any] = {"region": region, "connect_timeout": 5, "request_timeout": 60}
    if endpoint:
        kwargs["endpoint_override"] = endpoint
    fs = pafs.S3FileSystem(**kwargs)
    try:
        info = fs.get_file_info(bucket)
    except OSError as exc:
        raise unavailable(exc, location, endpoint, f"opening the bucket {bucket!r}") from None
    if info.type == pafs.FileType.NotFound:
        raise ValidationError(f"The bucket {bucket!r} does not exist{' at ' + endpoint if endpoint else ''}; create "
                              "it first (e.g. `aws s3 mb s3://" + bucket + "`)", offline=location)
    return Storage(fs, f"{bucket}/{prefix}".rstrip("/"), location, kwargs)
