"""Reading a Parquet dataset without letting its footer promise more than the worker can hold.

A Parquet file is a compressed, encoded container: 800 KB of zero row groups can declare 100 million rows, and reading
it whole (then keeping `nrows`) took the worker past 2 GB. So the footer is read first: the row groups needed for
`nrows` are chosen (all of them without `nrows`), and their rows and estimated size in memory (rows times the fixed
width of each column, plus the uncompressed size of variable-width columns) are compared with `max_rows` and
`max_memory_bytes`. Within them the groups are read whole, as always. Past them the file is not refused but streamed
(data_stream.py): record batches of `stream.batch_rows` rows, sampled into `stream.sample_rows` rows, so memory stays
bounded whatever the file's size. What still refuses a file from its footer: one row group whose decoded size alone
exceeds `max_memory_bytes` (a reader holds a row group's pages), and more than `stream.max_stream_rows` rows.
A `.parquet.gz` is decompressed into a temporary file on the worker's disk first, at most `max_decompressed_bytes` of
it (never into memory), and checked the same way.
"""

from __future__ import annotations

import contextlib
import gzip
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from stresstests.engine.data_stream import StreamOptions, attach, sample_batches
from stresstests.engine.errors import DataLoadError

# Above these the file is streamed and sampled rather than read whole (a run keeps at most a few hundred thousand rows).
MAX_PARQUET_ROWS = 20_000_000
# What the chosen row groups may take in memory once decoded (pandas may briefly need about twice this); also the
# largest single row group a streamed read accepts.
MAX_PARQUET_MEMORY_BYTES = 2 * 1024**3
MAX_COLUMNS = 1000
_READ_BUFFER_BYTES = 1024 * 1024   # a streamed read takes a column's pages this much at a time, not whole chunks
_VARIABLE_WIDTH = 8  # an offset or a pointer per value, plus the uncompressed bytes counted separately


def read_parquet(path: Path, *, gzipped: bool, nrows: int | None, columns: list[str] | None = None,
                 max_rows: int = MAX_PARQUET_ROWS, max_memory_bytes: int = MAX_PARQUET_MEMORY_BYTES,
                 max_decompressed_bytes: int, stream: StreamOptions | None = None) -> pd.DataFrame:
    import pyarrow.parquet as pq

    stream = stream or StreamOptions()
    with _decompressed(path, max_decompressed_bytes) if gzipped else contextlib.nullcontext(path) as source:
        try:
            parquet = pq.ParquetFile(source)
        except Exception as error:  # pyarrow's error types vary by version
            raise DataLoadError(f"{path.name} could not be read as PARQUET: {_first_line(error)}") from None
        _check_columns(path, len(parquet.schema_arrow.names))
        groups = _groups_for(parquet.metadata, nrows)
        if _fits(parquet, groups, columns, max_rows=max_rows, max_memory_bytes=max_memory_bytes):
            frame = parquet.read_row_groups(groups, columns=columns, use_pandas_metadata=True).to_pandas()
            return frame.head(nrows) if nrows is not None else frame
        _check_streamable(path, parquet, groups, columns, max_memory_bytes=max_memory_bytes, stream=stream)
        if hasattr(source, "seek"):
            source.seek(0)
        # pre_buffer (pyarrow's default) caches every row group read so far: 600 MB held for a 600 MB file.
        streamed = pq.ParquetFile(source, pre_buffer=False, buffer_size=_READ_BUFFER_BYTES)
        batches = _record_batches(streamed, groups, columns, stream.batch_rows)
        frame, stats = sample_batches(batches, stream, nrows=nrows)
        if frame is None:
            return parquet.schema_arrow.empty_table().to_pandas()
        return attach(frame, stats)


def _record_batches(parquet, groups: list[int], columns: list[str] | None, batch_rows: int):
    """(rows, take) per record batch; `take` converts only the chosen rows to pandas."""
    import pyarrow as pa

    for batch in parquet.iter_batches(batch_size=batch_rows, row_groups=groups, columns=columns,
                                      use_pandas_metadata=True, use_threads=False):
        yield batch.num_rows, (lambda positions, batch=batch: pa.Table.from_batches([batch]).take(
            pa.array(np.asarray(positions, dtype=np.int64))).to_pandas())


def _decompressed(path: Path, cap: int):
    """The decompressed file in a temporary file on disk (removed on close), at most `cap` bytes of it."""
    handle = tempfile.TemporaryFile(prefix="rime-parquet-")
    written = 0
    try:
        with gzip.open(path, "rb") as compressed:
            while chunk := compressed.read(1024 * 1024):
                written += len(chunk)
                if written > cap:  # never more than the cap on disk, whatever the file expands to
                    raise DataLoadError(f"{path.name} expands to more than {cap / 1024**2:,.0f} MB once decompressed, "
                                        "the limit for a dataset file; it was refused (a gzip bomb?). Sample the "
                                        "data, or split it into smaller files.")
                handle.write(chunk)
    except (OSError, EOFError, zlib.error) as error:
        handle.close()
        raise DataLoadError(f"{path.name} looks gzip-compressed but cannot be decompressed: {error}.") from None
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    return handle


def _check_columns(path: Path, count: int) -> None:
    if count > MAX_COLUMNS:
        raise DataLoadError(f"{path.name} has {count:,} columns; a stress test handles at most {MAX_COLUMNS:,}. "
                            "Keep the columns the model uses (and the label), or split the data.")


def _groups_for(metadata, nrows: int | None) -> list[int]:
    """The first row groups that together hold `nrows` rows (every group when nrows is None)."""
    groups, rows = [], 0
    for index in range(metadata.num_row_groups):
        if nrows is not None and rows >= nrows:
            break
        groups.append(index)
        rows += metadata.row_group(index).num_rows
    return groups


def _fits(parquet, groups: list[int], columns: list[str] | None, *, max_rows: int, max_memory_bytes: int) -> bool:
    """Whether the chosen groups may be read whole: within the row and decoded-size limits."""
    rows = sum(parquet.metadata.row_group(index).num_rows for index in groups)
    return rows <= max_rows and _memory_estimate(parquet, groups, columns) <= max_memory_bytes


def _check_streamable(path: Path, parquet, groups: list[int], columns: list[str] | None, *, max_memory_bytes: int,
                      stream: StreamOptions) -> None:
    rows = sum(parquet.metadata.row_group(index).num_rows for index in groups)
    if rows > stream.max_stream_rows:
        raise DataLoadError(f"{path.name} declares {rows:,} rows in the part that would be read; the limit is "
                            f"{stream.max_stream_rows:,}. Sample the data (or set a row count for the dataset), or "
                            "split it.")
    for index in groups:
        estimate = _memory_estimate(parquet, [index], columns)
        if estimate > max_memory_bytes:
            raise DataLoadError(f"{path.name}: its row group {index} alone would take about "
                                f"{estimate / 1024**2:,.0f} MB of memory once decoded; the limit is "
                                f"{max_memory_bytes / 1024**2:,.0f} MB. Write the file with smaller row groups, keep "
                                "fewer columns, or split it.")


def _memory_estimate(parquet, groups: list[int], columns: list[str] | None) -> int:
    """Bytes the chosen groups take as Arrow arrays, from the footer alone: encodings and compression cannot hide
    the row count, which is what a run of zeros shrinks away."""
    import pyarrow as pa

    wanted = set(columns) if columns else None
    widths: dict[int, int] = {}
    for position, field in enumerate(parquet.schema_arrow):
        if wanted is not None and field.name not in wanted:
            continue
        try:
            widths[position] = max(field.type.bit_width // 8, 1)
        except ValueError:  # strings, lists, structs: no fixed width
            widths[position] = _VARIABLE_WIDTH
        if pa.types.is_boolean(field.type):
            widths[position] = 1
    total = 0
    metadata = parquet.metadata
    for index in groups:
        group = metadata.row_group(index)
        total += group.num_rows * (sum(widths.values()) + 1)  # + a validity byte, rounded up
        for column in range(group.num_columns):
            chunk = group.column(column)
            top = chunk.path_in_schema.split(".")[0]
            if _variable(parquet.schema_arrow, top, wanted):
                total += chunk.total_uncompressed_size
    return total


def _variable(schema, name: str, wanted: set[str] | None) -> bool:
    if wanted is not None and name not in wanted:
        return False
    index = schema.get_field_index(name)
    if index < 0:
        return False
    try:
        schema.field(index).type.bit_width
    except ValueError:
        return True
    return False


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
