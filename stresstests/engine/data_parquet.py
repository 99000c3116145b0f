"""Reading a Parquet dataset without letting its footer promise more than the worker can hold.

A Parquet file is a compressed, encoded container: 800 KB of zero row groups can declare 100 million rows, and reading
it whole (then keeping `nrows`) took the worker past 2 GB. So the footer is read first: the row groups needed for
`nrows` are chosen (all of them without `nrows`), and the file is refused before any data page is decoded when those
groups hold more than `max_rows` rows or their estimated size in memory (rows times the fixed width of each column,
plus the uncompressed size of variable-width columns) exceeds `max_memory_bytes`. Only the chosen groups are read.
A `.parquet.gz` is decompressed into memory first, at most `max_decompressed_bytes` of it, and checked the same way.
"""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path

import pandas as pd

from stresstests.engine.errors import DataLoadError

# Far more rows than a stress test samples (runs keep at most a few hundred thousand), far fewer than a bomb declares.
MAX_PARQUET_ROWS = 20_000_000
# What the chosen row groups may take in memory once decoded (pandas may briefly need about twice this).
MAX_PARQUET_MEMORY_BYTES = 2 * 1024**3
MAX_COLUMNS = 1000
_VARIABLE_WIDTH = 8  # an offset or a pointer per value, plus the uncompressed bytes counted separately


def read_parquet(path: Path, *, gzipped: bool, nrows: int | None, columns: list[str] | None = None,
                 max_rows: int = MAX_PARQUET_ROWS, max_memory_bytes: int = MAX_PARQUET_MEMORY_BYTES,
                 max_decompressed_bytes: int) -> pd.DataFrame:
    import pyarrow.parquet as pq

    source = _decompressed(path, max_decompressed_bytes) if gzipped else path
    try:
        parquet = pq.ParquetFile(source)
    except Exception as error:  # pyarrow's error types vary by version
        raise DataLoadError(f"{path.name} could not be read as PARQUET: {_first_line(error)}") from None
    _check_columns(path, len(parquet.schema_arrow.names))
    groups = _groups_for(parquet.metadata, nrows)
    _check_size(path, parquet, groups, columns, max_rows=max_rows, max_memory_bytes=max_memory_bytes)
    frame = parquet.read_row_groups(groups, columns=columns, use_pandas_metadata=True).to_pandas()
    return frame.head(nrows) if nrows is not None else frame


def _decompressed(path: Path, cap: int) -> io.BytesIO:
    try:
        with gzip.open(path, "rb") as handle:
            data = handle.read(cap + 1)  # never more than the cap in memory, whatever the file expands to
    except (OSError, EOFError, zlib.error) as error:
        raise DataLoadError(f"{path.name} looks gzip-compressed but cannot be decompressed: {error}.") from None
    if len(data) > cap:
        raise DataLoadError(f"{path.name} expands to more than {cap / 1024**2:,.0f} MB once decompressed, the limit "
                            "for a dataset file; it was refused (a gzip bomb?). Sample the data, or split it into "
                            "smaller files.")
    return io.BytesIO(data)


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


def _check_size(path: Path, parquet, groups: list[int], columns: list[str] | None, *, max_rows: int,
                max_memory_bytes: int) -> None:
    metadata = parquet.metadata
    rows = sum(metadata.row_group(index).num_rows for index in groups)
    if rows > max_rows:
        raise DataLoadError(f"{path.name} declares {rows:,} rows in the part that would be read; the limit is "
                            f"{max_rows:,}. Sample the data (or set a row count for the dataset), or split it.")
    estimate = _memory_estimate(parquet, groups, columns)
    if estimate > max_memory_bytes:
        raise DataLoadError(f"{path.name} would take about {estimate / 1024**2:,.0f} MB of memory once decoded; the "
                            f"limit is {max_memory_bytes / 1024**2:,.0f} MB. Sample the data (or set a row count for "
                            "the dataset), keep fewer columns, or split it.")


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
