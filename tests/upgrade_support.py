"""A store exactly as the previous release wrote it (``fixtures/legacy_store.tar.gz``, made by
``fixtures/make_legacy_store.py`` with that release's code): group ``tx`` keyed by ``tx_id``
(Integral), features ``amount`` (Fractional), ``n`` (Integral) and ``channel`` (String, added after
the first files were written), 399 live records, a recorded dataset and a rule."""
from __future__ import annotations

import os
import tarfile

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "legacy_store.tar.gz")


def legacy_store(folder) -> str:
    """Unpack the store into ``folder``; returns its path."""
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(folder, filter="data")
    return os.path.join(os.fspath(folder), "store")
