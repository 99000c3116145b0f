"""Issue-19 follow-up: dataset files that are small on disk but cost the worker gigabytes or minutes to parse.

The files are cut-down versions of the outside tester's (/tmp/attack/mkdata.py): a Parquet file of zero row groups,
JSON Lines whose second line is very wide, a plain `.json` record with too many keys, and deeply nested JSON.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stresstests.engine.data import load_dataset
from stresstests.engine.errors import DataLoadError

GROUP_ROWS = 1_000_000


def zero_row_groups(path, groups: int) -> None:
    """`groups` row groups of a million zero rows: about 8 KB each on disk, 9 MB each once decoded."""
    table = pa.table({"a": np.zeros(GROUP_ROWS, dtype=np.int64), "label": np.zeros(GROUP_ROWS, dtype=np.int8)})
    with pq.ParquetWriter(path, table.schema, compression="zstd") as writer:
        for _ in range(groups):
            writer.write_table(table)


def test_a_parquet_bomb_is_refused_from_its_footer_by_its_declared_rows(tmp_path):
    path = tmp_path / "bomb.parquet"
    zero_row_groups(path, 25)
    assert path.stat().st_size < 2_000_000
    with pytest.raises(DataLoadError, match=r"bomb.parquet declares 25,000,000 rows .* the limit is 20,000,000"):
        load_dataset(path)


def test_a_parquet_file_is_refused_by_its_decoded_size_and_reads_only_the_row_groups_nrows_needs(tmp_path):
    path = tmp_path / "zeros.parquet"
    zero_row_groups(path, 6)  # about 54 MB decoded
    with pytest.raises(DataLoadError, match=r"would take about 5\d MB of memory once decoded; the limit is 20 MB"):
        load_dataset(path, max_parquet_memory_bytes=20 * 1024**2)
    # The first group alone (9 MB) holds the 1,000 rows asked for, so the same caps let the sample through.
    frame = load_dataset(path, nrows=1000, max_parquet_memory_bytes=20 * 1024**2, max_parquet_rows=GROUP_ROWS)
    assert frame.shape == (1000, 2) and frame["a"].sum() == 0


def test_a_gzipped_parquet_file_is_bounded_and_checked_like_a_plain_one(tmp_path):
    wide = pa.table({f"c{i}": [0] for i in range(2000)})
    plain = tmp_path / "wide.parquet"
    pq.write_table(wide, plain)
    packed = tmp_path / "wide.parquet.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    with pytest.raises(DataLoadError, match="has 2,000 columns; a stress test handles at most 1,000"):
        load_dataset(packed)
    with pytest.raises(DataLoadError, match="expands to more than 0 MB once decompressed"):
        load_dataset(packed, max_decompressed_bytes=1000)
    small = tmp_path / "small.parquet.gz"
    buffer = pa.BufferOutputStream()
    pq.write_table(pa.table({"x": [1, 2, 3]}), buffer)
    small.write_bytes(gzip.compress(buffer.getvalue().to_pybytes()))
    assert load_dataset(small)["x"].tolist() == [1, 2, 3]
