"""Files a user brings to the studio: a quick look at their head, a proposed schema, and ingest
with the file's columns mapped onto a group's features.

Ingest goes through the file's own path so lineage records the file (name, size, content hash);
the column mapping is applied by the engine as it reads.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from .errors import ValidationError
from .ingest import csv_header
from .schema import infer_features

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from .featurestore import FeatureStore
    from .ingest import IngestReport

PARQUET = (".parquet", ".pq", ".parq")
SAMPLE_ROWS = 10_000
_TIME_NAME = re.compile(r"(^|_)(event_?time|time(stamp)?|ts|date(time)?|updated_at|created_at)($|_)", re.I)


def _is_parquet(path: str) -> bool:
    return path.lower().endswith(PARQUET)


def _head(path: str, rows: int, infer_types: bool) -> "pa.Table":
    """The first ``rows`` rows without reading the rest of the file. CSV columns stay text unless
    ``infer_types``, as ingest reads them."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    name = os.path.basename(path)
    try:
        if _is_parquet(path):
            pf = pq.ParquetFile(path)
            batch = next(pf.iter_batches(batch_size=rows), None)
            return pa.Table.from_batches([batch]) if batch is not None else pf.schema_arrow.empty_table()
        header, delimiter = csv_header(path)
        types = {} if infer_types else {h: pa.string() for h in header}
        reader = pcsv.open_csv(path, parse_options=pcsv.ParseOptions(delimiter=delimiter), convert_options=pcsv.ConvertOptions(
            column_types=types, strings_can_be_null=True, null_values=[""], quoted_strings_can_be_null=False))
        batches, seen = [], 0
        for batch in reader:
            batches.append(batch)
            seen += batch.num_rows
            if seen >= rows:
                break
        table = pa.Table.from_batches(batches, reader.schema) if batches else reader.schema.empty_table()
        return table.slice(0, rows)
    except (pa.ArrowInvalid, UnicodeDecodeError, OSError) as exc:
        raise ValidationError(f"Cannot read {name!r}: {exc}") from None


def peek(path: str, rows: int = 100) -> "pd.DataFrame":
    """The file's first rows as ingest would read them (CSV values as text)."""
    from .query import to_pandas

    return to_pandas(_head(path, rows, infer_types=False))


@dataclass
class Proposal:
    """A schema proposed from a sample file, for the user to edit before creating a group."""

    features: list[dict[str, Any]]
    record_identifier: str
    event_time: str | None


def propose(path: str, sample_rows: int = SAMPLE_ROWS) -> Proposal:
    """Feature types inferred from the file's first rows, and a guess at the identifier (the
    first ``*_id``/``id`` column, else the first column) and event time (a time-like name)."""
    schema = _head(path, sample_rows, infer_types=True).schema
    names = schema.names
    if not names:
        raise ValidationError(f"{os.path.basename(path)!r} has no columns")
    ident = next((n for n in names if n.lower() == "id" or n.lower().endswith("_id")), names[0])
    event_time = next((n for n in names if n != ident and _TIME_NAME.search(n)), None)
    features = [f.to_dict() for f in infer_features(schema, event_time or "")]
    return Proposal(features, ident, event_time)


def validate_file(fs: "FeatureStore", group: str, path: str, mapping: dict[str, str | None]) -> "IngestReport":
    """``FeatureStore.validate`` of the file with its columns mapped; writes nothing."""
    return fs.validate(group, path, columns=mapping)


def ingest_file(fs: "FeatureStore", group: str, path: str, mapping: dict[str, str | None], on_error: str = "reject",
                progress: Callable[[int, int], None] | None = None, source: str | None = None) -> "IngestReport":
    """``FeatureStore.ingest`` of the file with its columns mapped; lineage records it as
    ``source`` (default: the file name)."""
    return fs.ingest(group, path, on_error, progress, source=source or os.path.basename(path), columns=mapping)
