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
from stresstests.engine.data_stream import SOURCE_ROW_COUNT, StreamOptions, stream_sampling
from stresstests.engine.errors import DataLoadError

GROUP_ROWS = 1_000_000


def zero_row_groups(path, groups: int) -> None:
    """`groups` row groups of a million zero rows: about 8 KB each on disk, 9 MB each once decoded."""
    table = pa.table({"a": np.zeros(GROUP_ROWS, dtype=np.int64), "label": np.zeros(GROUP_ROWS, dtype=np.int8)})
    with pq.ParquetWriter(path, table.schema, compression="zstd") as writer:
        for _ in range(groups):
            writer.write_table(table)


def test_a_parquet_bomb_is_streamed_in_bounded_memory_rather_than_read_whole(tmp_path):
    """Past the footer limits the file is sampled batch by batch: never more than sample + batch rows held."""
    path = tmp_path / "bomb.parquet"
    zero_row_groups(path, 25)
    assert path.stat().st_size < 2_000_000
    frame = load_dataset(path, stream=StreamOptions(sample_rows=5_000, batch_rows=50_000))
    streamed = stream_sampling(frame)
    assert len(frame) == 5_000 and streamed["rows_read"] == 25_000_000 and streamed["max_rows_held"] <= 55_000
    assert frame.attrs[SOURCE_ROW_COUNT] == 25_000_000


def test_a_parquet_bomb_declaring_more_rows_than_can_be_streamed_is_refused_from_its_footer(tmp_path, monkeypatch):
    path = tmp_path / "bomb.parquet"
    zero_row_groups(path, 25)
    monkeypatch.setattr(pq.ParquetFile, "iter_batches", refuse_to_parse)
    with pytest.raises(DataLoadError, match=r"bomb.parquet declares 25,000,000 rows .* the limit is 20,000,000"):
        load_dataset(path, stream=StreamOptions(max_stream_rows=20_000_000))


def test_a_parquet_row_group_too_large_for_memory_is_refused_and_nrows_reads_only_the_groups_it_needs(tmp_path):
    path = tmp_path / "zeros.parquet"
    zero_row_groups(path, 6)  # about 54 MB decoded, 9 MB a row group
    with pytest.raises(DataLoadError, match=r"its row group 0 alone would take about \d+ MB of memory once decoded; "
                                            r"the limit is 5 MB"):
        load_dataset(path, max_parquet_memory_bytes=5 * 1024**2)
    assert stream_sampling(load_dataset(path, max_parquet_memory_bytes=20 * 1024**2)) is not None  # streamed
    # The first group alone (9 MB) holds the 1,000 rows asked for, so the same caps read it whole.
    frame = load_dataset(path, nrows=1000, max_parquet_memory_bytes=20 * 1024**2, max_parquet_rows=GROUP_ROWS)
    assert frame.shape == (1000, 2) and frame["a"].sum() == 0 and stream_sampling(frame) is None


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


def refuse_to_parse(*args, **kwargs):
    raise AssertionError("the whole-file parser ran; the cheap checks should have refused the file first")


def test_a_wide_jsonl_line_after_the_first_is_refused_before_pandas_parses_the_file(tmp_path, monkeypatch):
    """The reported file: a narrow first line, then one with 300,000 keys (68 s of CPU in pandas); 5,000 here."""
    path = tmp_path / "wide2.jsonl"
    path.write_text(json.dumps({"a": 1}) + "\n" + json.dumps({f"c{i}": 0 for i in range(5000)}) + "\n")
    monkeypatch.setattr("stresstests.engine.data.pd.read_json", refuse_to_parse)
    with pytest.raises(DataLoadError, match="wide2.jsonl has a record with more than 1,000 keys"):
        load_dataset(path)


def test_a_wide_line_cut_by_the_first_mib_is_refused_too(tmp_path, monkeypatch):
    path = tmp_path / "cut.jsonl"
    wide = json.dumps({f"column_{i}": "x" * 40 for i in range(30_000)})  # about 1.6 MB: cut by the head
    path.write_text('{"a": 1}\n' * 100 + wide + "\n")
    monkeypatch.setattr("stresstests.engine.data.pd.read_json", refuse_to_parse)
    with pytest.raises(DataLoadError, match="has a record with more than 1,000 keys"):
        load_dataset(path)


@pytest.mark.parametrize("gz", [False, True])
def test_a_json_record_with_too_many_keys_is_refused_before_json_load(tmp_path, monkeypatch, gz):
    """The reported `.json` was [{300k keys}] (10 s); a top-level array of records and a single record."""
    path = tmp_path / ("wide.json" + (".gz" if gz else ""))
    text = json.dumps([{"a": 1}, {f"c{i}": 0 for i in range(5000)}])
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    monkeypatch.setattr("stresstests.engine.data.json.load", refuse_to_parse)
    with pytest.raises(DataLoadError, match="has a record with more than 1,000 keys"):
        load_dataset(path)


def test_json_records_with_nested_values_and_braces_in_strings_still_load(tmp_path):
    records = [{"id": i, "text": 'a "quoted" {brace} [and] key: value', "tags": {"x": [1, 2]}} for i in range(3)]
    path = tmp_path / "ok.json"
    path.write_text(json.dumps(records))
    assert load_dataset(path)["id"].tolist() == [0, 1, 2]
    lines = tmp_path / "ok.jsonl"
    lines.write_text("\n".join(json.dumps(record) for record in records) + "\n")
    assert load_dataset(lines)["id"].tolist() == [0, 1, 2]


@pytest.mark.parametrize("name", ["deep.json", "deep.jsonl"])
def test_deeply_nested_json_gets_a_clean_message(tmp_path, name):
    """The reported file was 200,000 brackets deep and surfaced a raw RecursionError."""
    nested = "[" * 200_000 + "]" * 200_000
    path = tmp_path / name
    path.write_text(nested if name == "deep.json" else '{"a": 1}\n{"a": ' + nested + "}\n")
    with pytest.raises(DataLoadError, match=rf"{name} nests arrays or objects more than 64 levels deep"):
        load_dataset(path)


def test_deep_nesting_past_the_checked_head_is_still_a_clean_message(tmp_path):
    path = tmp_path / "late.json"
    path.write_text("[" + '{"a": 1},' * 150_000 + '{"a": ' + "[" * 200_000 + "]" * 200_000 + "}]")
    with pytest.raises(DataLoadError, match="late.json nests arrays or objects too deeply to be read as JSON"):
        load_dataset(path)
