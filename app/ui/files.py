"""Files between the browser and the store: uploads saved to disk under their own name (so
ingest and lineage see a real file), removed when the browser session ends."""
from __future__ import annotations

import os
import shutil
import tempfile
import time
import weakref
from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:
    from streamlit.runtime.uploaded_file_manager import UploadedFile

_UPLOADS = "_saved_uploads"
_FOLDER = "_upload_folder"
STALE_SECONDS = 24 * 3600  # folders a crashed studio left behind are removed after a day


class _SessionFolder:
    """A private folder for one browser session's uploads; it is deleted when the session's state
    is (Streamlit drops it when the session ends), or by the next studio after a crash."""

    def __init__(self) -> None:
        root = os.path.join(tempfile.gettempdir(), "featurestore-uploads")
        os.makedirs(root, exist_ok=True)
        _remove_stale(root)
        self.path = tempfile.mkdtemp(dir=root)
        weakref.finalize(self, shutil.rmtree, self.path, True)


def _remove_stale(root: str) -> None:
    cutoff = time.time() - STALE_SECONDS
    for name in os.listdir(root):
        path = os.path.join(root, name)
        try:
            if os.path.getmtime(path) < cutoff:
                shutil.rmtree(path, ignore_errors=True)
        except FileNotFoundError:
            pass


def saved_upload(uploaded: "UploadedFile | None", key: str) -> str | None:
    """The upload's path on disk, written once per upload (in 1 MB chunks, so large files do not
    double in memory) into the session's folder; the previous upload under ``key`` is removed."""
    saved: dict[str, tuple[str, str]] = st.session_state.setdefault(_UPLOADS, {})
    previous = saved.get(key)
    if uploaded is not None and previous and previous[0] == uploaded.file_id and os.path.exists(previous[1]):
        return previous[1]
    if previous:
        shutil.rmtree(os.path.dirname(previous[1]), ignore_errors=True)
        saved.pop(key, None)  # a run this one replaced may have removed it already
    if uploaded is None:
        return None
    if _FOLDER not in st.session_state:
        st.session_state[_FOLDER] = _SessionFolder()
    session: _SessionFolder = st.session_state[_FOLDER]
    folder = tempfile.mkdtemp(dir=session.path)
    path = os.path.join(folder, os.path.basename(uploaded.name) or "upload.csv")
    uploaded.seek(0)
    with open(path, "wb") as fh:
        shutil.copyfileobj(uploaded, fh, 1 << 20)
    saved[key] = (uploaded.file_id, path)
    return path
