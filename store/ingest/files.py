"""Reading the files users bring, as the tools that wrote them meant them.

CSV: the encoding is detected (UTF-8, UTF-8 or UTF-16 with a byte-order mark, else Windows-1252,
else Latin-1, which decodes any byte), the delimiter is taken from the header (',', ';', tab or
'|', whichever splits it most), and values stay text until a feature type is applied, so '007'
stays '007'. In a file not delimited by commas, a column of numbers written with a decimal comma
('1,5', '1.234,5') is read as numbers. Parquet is read as it is. Every failure is a ValidationError naming the file.
"""
from __future__ import annotations

import codecs
import csv
import gzip
import io
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Iterable, Iterator

from ..errors import ValidationError

if TYPE_CHECKING:
    import pyarrow as pa

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".txt")
DELIMITERS = (",", ";", "\t", "|")
# Bytes Windows-1252 leaves undefined; a file holding one is read as Latin-1 instead.
_CP1252_HOLES = frozenset(b"\x81\x8d\x8f\x90\x9d")


@dataclass(frozen=True)
class Dialect:
    """How a CSV file is written: its encoding (a Python codec name), delimiter and header."""

    encoding: str
    delimiter: str
    header: tuple[str, ...]


def is_parquet(path: str) -> bool:
    return path.lower().endswith(PARQUET_SUFFIXES)


def is_csv(path: str) -> bool:
    return path.lower().endswith(CSV_SUFFIXES)


def _open_binary(path: str):
    return gzip.open(path, "rb") if path.lower().endswith(".gz") else open(path, "rb")


def detect_encoding(path: str) -> str:
    """The file's text encoding; the whole file is checked, so a stray byte late in it counts."""
    with _open_binary(path) as fh:
        start = fh.read(4)
        if start.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        holes = False
        utf8 = True
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            if utf8:
                try:
                    decoder.decode(chunk)
                    continue
                except UnicodeDecodeError:
                    utf8 = False
            holes = holes or not _CP1252_HOLES.isdisjoint(chunk)
        if utf8:
            try:
                decoder.decode(b"", final=True)
                return "utf-8"
            except UnicodeDecodeError:
                pass
    if holes:
        return "latin-1"
    # The chunks before the first bad one were not checked for holes: check the whole file once.
    with _open_binary(path) as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            if not _CP1252_HOLES.isdisjoint(chunk):
                return "latin-1"
    return "cp1252"


# What a binary file renamed to .csv most often is, by its first bytes.
_BINARY_KINDS = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image",
                 b"%PDF": "a PDF document", b"PK\x03\x04": "a ZIP archive (an .xlsx workbook is one)",
                 b"PAR1": "a Parquet file", b"\xd0\xcf\x11\xe0": "an old Excel/Office document"}


def _check_text(path: str, encoding: str) -> None:
    """Refuse a binary file: a NUL byte in its first 64 KB (no text encoding but UTF-16 has one)
    or a known binary signature. Its bytes are never echoed: they are no message."""
    if encoding == "utf-16":
        return
    with _open_binary(path) as fh:
        head = fh.read(1 << 16)
    kind = next((k for magic, k in _BINARY_KINDS.items() if head.startswith(magic)), None)
    if kind or b"\x00" in head:
        raise ValidationError(
            f"{os.path.basename(path)!r} is not a text/CSV file (it holds binary data"
            + (f": it looks like {kind}" if kind else "") + "); export it as CSV or Parquet and upload that",
            path=path)


@lru_cache(maxsize=64)
def _sniff(path: str, _mtime_ns: int, _size: int) -> Dialect:
    encoding = detect_encoding(path)
    _check_text(path, encoding)
    # TextIOWrapper, not codecs' reader, whose readline is quadratic in the line's length (a
    # header of a million columns took minutes); newline="" splits on CSV's line ends only.
    with _open_binary(path) as raw, io.TextIOWrapper(raw, encoding=encoding, newline="") as text:
        first = text.readline()
    first = first.rstrip("\r\n")
    delimiter = max(DELIMITERS, key=first.count)
    header = next(csv.reader([first], delimiter=delimiter), None)
    if not header or header == [""]:
        raise ValidationError(f"CSV file {os.path.basename(path)!r} is empty; it needs a header row", path=path)
    if len(header) > CSV_MAX_COLUMNS:
        raise ValidationError(
            f"CSV file {os.path.basename(path)!r} has {len(header):,} columns in its header; the store reads at most "
            f"{CSV_MAX_COLUMNS:,} (a group has at most 2,500 features): keep only the columns to ingest", path=path)
    return Dialect(encoding, delimiter, tuple(header))


def sniff(path: str) -> Dialect:
    """The CSV file's dialect (cached while the file is unchanged). Raises ValidationError."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ValidationError(f"Cannot read {os.path.basename(path)!r}: {exc.strerror}", path=path) from None
    return _sniff(os.path.abspath(path), st.st_mtime_ns, st.st_size)


def read_table(path: str, *, rows: int | None = None, typed: bool = False,
               text_columns: Iterable[str] = ()) -> "pa.Table":
    """A CSV or Parquet file as Arrow, or its first ``rows`` rows without reading the rest.

    CSV columns are text unless ``typed``, where pyarrow infers each column's type except for the
    ``text_columns``. Empty CSV fields are null. Raises ValidationError naming the file.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = os.path.basename(path)
    _check_file(path)
    try:
        if is_parquet(path):
            if rows is None:
                return pq.read_table(path)
            pf = pq.ParquetFile(path)
            batch = next(pf.iter_batches(batch_size=rows), None)
            return pa.Table.from_batches([batch]) if batch is not None else pf.schema_arrow.empty_table()
        dialect = sniff(path)
        text = set(dialect.header) if not typed else set(text_columns) & set(dialect.header)
        if rows is None and typed:  # types inferred over the whole file, not its first block
            table = _read_csv_whole(path, dialect, text)
        else:
            batches, seen, schema = [], 0, None
            for batch, schema in _csv_batches(path, dialect, text):
                batches.append(batch)
                seen += batch.num_rows
                if rows is not None and seen >= rows:
                    break
            table = pa.Table.from_batches(batches, schema) if batches else _empty(dialect, schema)
            if rows is not None:
                table = table.slice(0, rows)
        return decimal_commas(table, typed, text) if dialect.delimiter != "," else table
    except (pa.ArrowInvalid, UnicodeDecodeError, OSError, EOFError) as exc:
        raise ValidationError(f"Cannot read {name!r}: {_plain(str(exc))}", path=path) from None


def read_batches(path: str, max_rows: int) -> "Iterator[pa.Table]":
    """A CSV or Parquet file as tables of at most ``max_rows`` rows each, read as they are
    needed, so memory stays bounded by one batch whatever the file expands to (a Parquet row
    group is read in slices too). CSV values are text, as ``read_table`` gives them; a column
    of decimal commas is recognised in the first batch and read so in every batch. Raises
    ValidationError naming the file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = os.path.basename(path)
    _check_file(path)
    try:
        if is_parquet(path):
            pf = pq.ParquetFile(path)
            empty = True
            for batch in pf.iter_batches(batch_size=max_rows):
                empty = False
                yield pa.Table.from_batches([batch])
            if empty:
                yield pf.schema_arrow.empty_table()
            return
        dialect = sniff(path)
        text = set(dialect.header)
        pending: list = []
        pending_rows = 0
        commas: set[str] | None = None if dialect.delimiter != "," else set()
        schema = None
        yielded = False
        for batch, schema in _csv_batches(path, dialect, text):
            while batch.num_rows:  # blocks are a few MB each; gather them into batches of max_rows
                take = min(batch.num_rows, max_rows - pending_rows)
                pending.append(batch.slice(0, take))
                pending_rows += take
                batch = batch.slice(take)
                if pending_rows == max_rows:
                    table, commas = _decimal_commas_kept(pa.Table.from_batches(pending, schema), text, commas)
                    yield table
                    pending, pending_rows, yielded = [], 0, True
        if pending or not yielded:
            table = pa.Table.from_batches(pending, schema) if pending else _empty(dialect, schema)
            yield _decimal_commas_kept(table, text, commas)[0]
    except (pa.ArrowInvalid, UnicodeDecodeError, OSError, EOFError) as exc:
        raise ValidationError(f"Cannot read {name!r}: {_plain(str(exc))}", path=path) from None


def _decimal_commas_kept(table: "pa.Table", text: set[str], commas: set[str] | None) -> "tuple[pa.Table, set[str]]":
    """``decimal_commas`` decided on the first batch (``commas`` is None) and applied to the same
    columns of later batches: a batch must not read '1.234' as 1.234 where an earlier one read
    it as 1234. A later batch's value that is no such number is left as written (and so refused
    by a numeric feature, never silently changed)."""
    import pyarrow.compute as pc

    if commas is None:
        converted = decimal_commas(table, False, text)
        commas = {n for n in table.column_names if not converted.column(n).equals(table.column(n))}
        return converted, commas
    for name in commas:
        i = table.schema.get_field_index(name)
        col = table.column(i)
        values = pc.drop_null(col)
        if len(values) and pc.all(pc.match_substring_regex(values, DECIMAL_COMMA)).as_py():
            table = table.set_column(i, name, pc.replace_substring(
                pc.replace_substring(pc.utf8_trim_whitespace(col), ".", ""), ",", "."))
    return table, commas


def raw_rows(path: str, rows: "Iterable[int]") -> "pa.Table":
    """The CSV file's data rows at the 0-based positions ``rows`` (ascending), each field's text
    as written (no decimal commas read as numbers): what a user gets back to fix."""
    import numpy as np
    import pyarrow as pa

    dialect = sniff(path)
    wanted = np.asarray(rows, dtype="int64")
    taken, start, schema = [], 0, None
    for batch, schema in _csv_batches(path, dialect, set(dialect.header)):
        inside = wanted[(wanted >= start) & (wanted < start + batch.num_rows)] - start
        if len(inside):
            taken.append(batch.take(pa.array(inside)))
        start += batch.num_rows
        if start > wanted.max(initial=-1):
            break
    return pa.Table.from_batches(taken, schema) if taken else _empty(dialect, schema)


def _check_file(path: str) -> None:
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise ValidationError(f"File {path!r} does not exist; give a CSV or Parquet file path", path=path)
    if not is_parquet(path) and not is_csv(path):
        raise ValidationError(f"File {name!r} is neither .csv nor .parquet; convert it first", path=path)


# pyarrow reads a CSV file in blocks and a row must fit in one: start at a few MB (a header
# wider than that starts bigger), and grow the block when a row straddles two, up to a limit
# well above the largest value a put accepts.
CSV_BLOCK_BYTES = 4 << 20
CSV_MAX_BLOCK_BYTES = 1 << 30
# Wider than any group (2,500 features) with room for columns a mapping drops; a header of a
# million columns would otherwise take hundreds of MB before anything is checked.
CSV_MAX_COLUMNS = 10_000


def _csv_options(dialect: Dialect, text: set[str], block: int) -> dict:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    return dict(
        read_options=pcsv.ReadOptions(encoding=dialect.encoding, block_size=block),
        parse_options=pcsv.ParseOptions(delimiter=dialect.delimiter, newlines_in_values=True),
        convert_options=pcsv.ConvertOptions(column_types={c: pa.string() for c in text},
                                            strings_can_be_null=True, null_values=[""],
                                            quoted_strings_can_be_null=False),
    )


def _first_block(dialect: Dialect) -> int:
    header_bytes = len(dialect.delimiter.join(dialect.header).encode(dialect.encoding.replace("-sig", "")))
    return max(CSV_BLOCK_BYTES, 2 * header_bytes)


def _straddles(exc: Exception) -> bool:
    return "straddl" in str(exc)


def _csv_batches(path: str, dialect: Dialect, text: set[str]) -> "Iterator[tuple[pa.RecordBatch, pa.Schema]]":
    """The file's record batches (each with the reader's schema), read block by block; when a
    row is longer than the block, reading starts again with a bigger block and skips the rows
    already given."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    block = _first_block(dialect)
    given = 0
    while True:
        seen = 0
        try:
            reader = pcsv.open_csv(path, **_csv_options(dialect, text, block))
            for batch in reader:
                skip = min(batch.num_rows, max(given - seen, 0))
                seen += batch.num_rows
                if skip < batch.num_rows:
                    given += batch.num_rows - skip
                    yield batch.slice(skip), reader.schema
            return
        except pa.ArrowInvalid as exc:
            if not _straddles(exc) or block >= CSV_MAX_BLOCK_BYTES:
                if _straddles(exc):
                    raise ValidationError(
                        f"A row of {os.path.basename(path)!r} is longer than {CSV_MAX_BLOCK_BYTES >> 20} MB; "
                        f"split its values or write the file as Parquet", path=path) from None
                raise
            block = min(block * 4, CSV_MAX_BLOCK_BYTES)


def _read_csv_whole(path: str, dialect: Dialect, text: set[str]) -> "pa.Table":
    """The whole file at once (pyarrow infers types over all of it), growing the block as
    ``_csv_batches`` does."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    block = _first_block(dialect)
    while True:
        try:
            return pcsv.read_csv(path, **_csv_options(dialect, text, block))
        except pa.ArrowInvalid as exc:
            if not _straddles(exc) or block >= CSV_MAX_BLOCK_BYTES:
                raise
            block = min(block * 4, CSV_MAX_BLOCK_BYTES)


def _empty(dialect: Dialect, schema: "pa.Schema | None") -> "pa.Table":
    import pyarrow as pa

    if schema is not None:
        return schema.empty_table()
    return pa.schema([(c, pa.string()) for c in dialect.header]).empty_table()


# '1,5', '-0,25', '1.234,5': a decimal comma, with dots between thousands.
DECIMAL_COMMA = r"^\s*[+-]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?\s*$"


def decimal_commas(table: "pa.Table", typed: bool, keep: set[str]) -> "pa.Table":
    """Text columns of a file delimited by ';', tab or '|' whose every value is a number with a
    decimal comma (and at least one has one), as numbers with a decimal point: text again ('1.5')
    so types are applied as usual, or float64 when ``typed`` (except the ``keep`` columns)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, name in enumerate(table.column_names):
        col = table.column(i)
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)) or (typed and name in keep):
            continue
        values = pc.drop_null(col)
        if not len(values) or not pc.any(pc.match_substring(values, ",")).as_py() or not pc.all(
                pc.match_substring_regex(values, DECIMAL_COMMA)).as_py():
            continue
        fixed = pc.replace_substring(pc.replace_substring(pc.utf8_trim_whitespace(col), ".", ""), ",", ".")
        table = table.set_column(i, name, fixed.cast(pa.float64()) if typed else fixed)
    return table


def _plain(message: str) -> str:
    """pyarrow's parser message without its internal prefixes."""
    for prefix in ("CSV parse error: ", "In CSV column #"):
        message = message.replace(prefix, "")
    # The parser quotes the offending row: keep it short and printable.
    message = "".join(c if c.isprintable() or c in "\n" else "\N{REPLACEMENT CHARACTER}" for c in message.strip())
    return message if len(message) <= 300 else message[:300] + "…"


def newlines_before(table: "pa.Table") -> "pa.Array":
    """For each row, how many line breaks the rows before it hold inside quoted values: a CSV
    row's line in the file is ``row + 2 + newlines_before[row]`` (the header is line 1)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    inside = np.zeros(table.num_rows, dtype="int64")
    for col in table.columns:
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            inside += pc.count_substring(col, "\n").fill_null(0).to_numpy()
    return pa.array(np.concatenate(([0], np.cumsum(inside)[:-1])) if len(inside) else inside)


def newlines_in(table: "pa.Table") -> int:
    """Line breaks inside the values of ``table``'s text columns (quoted in the CSV file)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return sum(int(pc.sum(pc.count_substring(col, "\n")).as_py() or 0) for col in table.columns
               if pa.types.is_string(col.type) or pa.types.is_large_string(col.type))
