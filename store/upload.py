"""Files a user brings to the studio: a quick look at their head, a proposed schema, and ingest
with the file's columns mapped onto a group's features.

Ingest goes through the file's own path so lineage records the file (name, size, content hash);
the column mapping is applied by the engine as it reads. An uploaded file may expand to at most
``ingest.ReadLimits.for_uploads()`` (10M rows, 2 GiB as read, unless the environment says
otherwise): a small compressed file must not take the studio's memory.

Studio-facing: the studio imports ``store`` (its ``__all__``), this module and the few others
that say so in their docstrings (``store.demo``, ``store.snippets``, ``store.retrieval.browse``,
``store.retrieval.stats``, ``store.model.schema``/``rules``/``layout``, ``store.registry.lineage``,
``store.access.policy``), never the engine's rooms: what else its pages need of the engine is
named at the end of this module, so a refactor below changes one import here, not a page.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable

from .common.timeutil import format_example  # noqa: F401 - the studio shows a format by its example
from .ingest.files import read_table
from .ingest.infer import SAMPLE_ROWS, Proposal, TimeCheck, propose_file, time_check

# The engine's helpers the studio's pages show, named here so no page imports an engine room.
from .access.guard import default_principal  # noqa: F401 - whom a studio without sign-in acts as
from .access.policy import AccessFile, Principal  # noqa: F401 - what fs.policy() returns, for sign-in
from .ingest.infer import guess_time_column  # noqa: F401 - the dataset builder's entity file
from .ingest.prepare import IngestReport  # noqa: F401 - what validate and ingest return
from .offline.snapshot import to_pandas  # noqa: F401 - Arrow to pandas, integers kept exact
from .pipelines.spec import aggregates_in  # noqa: F401 - the Pipelines page's incremental-mode hint
from .quality.imports import convert as rules_from_document  # noqa: F401 - a rules file, previewed

if TYPE_CHECKING:
    import pandas as pd

    from .featurestore import FeatureStore
    from .model.schema import FeatureGroup


def peek(path: str, rows: int = 100) -> "pd.DataFrame":
    """The file's first rows as ingest would read them (CSV values as text)."""
    return to_pandas(read_table(path, rows=rows))


def file_format(path: str) -> str:
    """How the file is written, in words: 'Parquet', or 'CSV, UTF-8, comma-separated'."""
    from .ingest.files import is_parquet, sniff

    if is_parquet(path):
        return "Parquet"
    dialect = sniff(path)
    names = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
    encoding = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 with BOM", "utf-16": "UTF-16", "cp1252": "Windows-1252",
                "latin-1": "Latin-1"}.get(dialect.encoding, dialect.encoding)
    return f"CSV, {encoding}, {names[dialect.delimiter]}-separated"


def default_mapping(group: "FeatureGroup", columns: list[str]) -> dict[str, str | None]:
    """Each column onto the feature of its name, or of its sanitised name (as Create named it:
    'Order ID' -> Order_ID); None for columns that match no feature."""
    from .model.schema import feature_name

    features = set(group.feature_names)
    taken: set[str] = set()
    proposed = {c: feature_name(c, taken) for c in columns}
    return {c: c if c in features else proposed[c] if proposed[c] in features and proposed[c] not in columns else None
            for c in columns}


def propose(path: str, sample_rows: int = SAMPLE_ROWS) -> Proposal:
    """Feature names and types for the file's columns (types ingest accepts), and a guess at the
    identifier (an ``id``-like name, else the first column) and event time (a time-like name or
    values). See ``store.ingest.infer``."""
    return propose_file(path, sample_rows)


def event_time_check(path: str, column: str, time_format: str | None = None,
                     formats: list[str] | None = None) -> TimeCheck:
    """How the file's ``column`` reads as event times (in ``time_format``, else the format its
    values fit, of ``formats`` when given): the values it cannot read and a preview of the first
    ones read. Create refuses a column whose ``problem`` is set. Raises ValidationError."""
    return time_check(read_table(path, rows=SAMPLE_ROWS).column(column), column, time_format, formats)


def time_format_of(group: "FeatureGroup") -> str | None:
    """The time format kept with the group (how its files write event times), None for ISO-8601."""
    from .ingest.prepare import time_format_of as kept

    return kept(group)


def validate_file(fs: "FeatureStore", group: str, path: str, mapping: dict[str, str | None],
                  time_format: str | None = None) -> "IngestReport":
    """``FeatureStore.validate`` of the file with its columns mapped; writes nothing."""
    from .ingest.prepare import LimitedFile, ReadLimits

    return fs.validate(group, LimitedFile(path, ReadLimits.for_uploads()), columns=mapping, time_format=time_format)


def ingest_file(fs: "FeatureStore", group: str, path: str, mapping: dict[str, str | None], on_error: str = "reject",
                progress: Callable[[int, int], None] | None = None, source: str | None = None,
                time_format: str | None = None) -> "IngestReport":
    """``FeatureStore.ingest`` of the file with its columns mapped (event times read in
    ``time_format``, default the group's); lineage records it as ``source`` (default: the file name)."""
    from .ingest.prepare import LimitedFile, ReadLimits

    return fs.ingest(group, LimitedFile(path, ReadLimits.for_uploads()), on_error, progress,
                     source=source or os.path.basename(path), columns=mapping, time_format=time_format)

