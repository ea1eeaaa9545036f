"""Files between the browser and the store: uploads saved to disk under their own name (so
ingest and lineage see a real file), and built datasets turned into download bytes."""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:
    from streamlit.runtime.uploaded_file_manager import UploadedFile

    from store.dataset import Dataset

_UPLOADS = "_saved_uploads"


def saved_upload(uploaded: "UploadedFile | None", key: str) -> str | None:
    """The upload's path on disk, written once per upload (in 1 MB chunks, so large files do not
    double in memory) into a private temporary folder; the previous upload under ``key`` is removed."""
    saved: dict[str, tuple[str, str]] = st.session_state.setdefault(_UPLOADS, {})
    previous = saved.get(key)
    if uploaded is not None and previous and previous[0] == uploaded.file_id and os.path.exists(previous[1]):
        return previous[1]
    if previous:
        shutil.rmtree(os.path.dirname(previous[1]), ignore_errors=True)
        del saved[key]
    if uploaded is None:
        return None
    folder = tempfile.mkdtemp(prefix="featurestore-upload-")
    path = os.path.join(folder, os.path.basename(uploaded.name) or "upload.csv")
    uploaded.seek(0)
    with open(path, "wb") as fh:
        shutil.copyfileobj(uploaded, fh, 1 << 20)
    saved[key] = (uploaded.file_id, path)
    return path


def dataset_bytes(dataset: "Dataset", fmt: str) -> bytes:
    """The dataset as CSV or Parquet bytes, made once per dataset and format in this session."""
    cache: dict[tuple[str, str], bytes] = st.session_state.setdefault("_dataset_bytes", {})
    for stale in [k for k in cache if k[0] != dataset.id]:  # keep one dataset's bytes, not every build's
        del cache[stale]
    if (dataset.id, fmt) not in cache:
        with tempfile.TemporaryDirectory(prefix="featurestore-dataset-") as folder:
            path = os.path.join(folder, f"dataset.{fmt}")
            (dataset.to_parquet if fmt == "parquet" else dataset.to_csv)(path)
            with open(path, "rb") as fh:
                cache[(dataset.id, fmt)] = fh.read()
    return cache[(dataset.id, fmt)]
