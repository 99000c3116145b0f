"""Issue 18: a dataset larger than the memory budget is streamed (Parquet record batches, CSV and JSON Lines chunks)
and sampled by a seeded reservoir, holding a bounded number of rows whatever the file's size; a small file is read
exactly as before. The budget is made tiny here so that a file of a few hundred kilobytes counts as "large"."""
from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stresstests.engine import data_stream
from stresstests.engine.config import DataParams, RunConfig
from stresstests.engine.data import load_dataset
from stresstests.engine.data_stream import SOURCE_ROW_COUNT, StreamOptions, stream_sampling
from stresstests.engine.report import build_report
from stresstests.engine.runner import build_context, sample_seed
from stresstests.engine.vocabulary import MODEL_TASK_BINARY_CLASSIFICATION

ROWS, GROUP_ROWS = 60_000, 1_000   # sixty row groups
KEEP, BATCH = 3_000, 2_500
TINY = {"max_parquet_rows": 10_000}   # the footer's 60,000 rows are past it: streamed


def table(rows: int = ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(42)
    position = np.arange(rows)
    return pd.DataFrame({
        "row": position,
        "amount": rng.gamma(2.0, 50.0, rows),
        "city": np.asarray(["north", "south", "east", "west"], dtype=object)[rng.integers(0, 4, rows)],
        "label": (rng.random(rows) < 0.2).astype(int),
    })


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return table()


@pytest.fixture(scope="module")
def parquet_file(tmp_path_factory, frame):
    path = tmp_path_factory.mktemp("stream") / "big.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=GROUP_ROWS)
    assert pq.ParquetFile(path).metadata.num_row_groups == ROWS // GROUP_ROWS
    return path


def expected_rows(seed: int, rows: int = ROWS, keep: int = KEEP) -> np.ndarray:
    """The bottom-k sample by definition: one uniform key per row from the seeded generator, the `keep` smallest."""
    keys = np.random.default_rng(seed).random(rows)
    return np.sort(np.argsort(keys, kind="stable")[:keep])


def test_a_parquet_file_past_the_limits_is_streamed_by_batches_and_holds_a_bounded_number_of_rows(parquet_file):
    frame = load_dataset(parquet_file, **TINY, stream=StreamOptions(sample_rows=KEEP, batch_rows=BATCH, seed=7))
    streamed = stream_sampling(frame)
    assert (streamed["rows_read"], streamed["rows_kept"], streamed["method"]) == (ROWS, KEEP, "reservoir")
    assert streamed["batches"] >= ROWS // BATCH
    assert streamed["max_rows_held"] <= KEEP + BATCH            # the loader's own count of rows held at once
    assert frame.attrs[SOURCE_ROW_COUNT] == ROWS
    assert "60,000 rows read" in streamed["description"] and "3,000 kept by reservoir sampling (seed 7)" in \
        streamed["description"]
    # Unbiased and reproducible: exactly the rows with the KEEP smallest seeded keys, in file order.
    assert frame["row"].tolist() == expected_rows(7).tolist()


def test_the_sample_does_not_depend_on_the_batch_size_or_the_format(parquet_file, frame, tmp_path):
    by_parquet = load_dataset(parquet_file, **TINY, stream=StreamOptions(sample_rows=KEEP, batch_rows=777, seed=7))
    csv_path = tmp_path / "big.csv.gz"
    csv_path.write_bytes(gzip.compress(frame.to_csv(index=False).encode()))
    # CSV: streamed when its text (decompressed) times TEXT_EXPANSION passes the memory budget.
    by_csv = load_dataset(csv_path, max_parquet_memory_bytes=1024**2,
                          stream=StreamOptions(sample_rows=KEEP, batch_rows=BATCH, seed=7))
    assert stream_sampling(by_csv)["rows_read"] == ROWS and stream_sampling(by_csv)["max_rows_held"] <= KEEP + BATCH
    assert by_parquet["row"].tolist() == by_csv["row"].tolist() == expected_rows(7).tolist()
    assert by_csv["city"].tolist() == frame["city"].iloc[expected_rows(7)].tolist()
    other_seed = load_dataset(parquet_file, **TINY, stream=StreamOptions(sample_rows=KEEP, batch_rows=BATCH, seed=8))
    assert other_seed["row"].tolist() != by_parquet["row"].tolist()


def test_json_lines_are_streamed_in_chunks_too(frame, tmp_path):
    path = tmp_path / "big.jsonl"
    frame.head(20_000).to_json(path, orient="records", lines=True)
    loaded = load_dataset(path, max_parquet_memory_bytes=1024**2,
                          stream=StreamOptions(sample_rows=500, batch_rows=1_000, seed=3))
    streamed = stream_sampling(loaded)
    assert (streamed["rows_read"], len(loaded)) == (20_000, 500) and streamed["max_rows_held"] <= 1_500
    assert loaded["row"].tolist() == expected_rows(3, rows=20_000, keep=500).tolist()


def test_the_loader_never_holds_more_than_sample_plus_batch_rows(parquet_file, monkeypatch):
    """Counted independently of the loader's own figure: the rows of every frame the reservoir keeps alive."""
    alive = []
    original = data_stream.Reservoir._compact

    def counting_compact(self):
        alive.append(sum(len(f) for f in self.frames))
        original(self)

    monkeypatch.setattr(data_stream.Reservoir, "_compact", counting_compact)
    load_dataset(parquet_file, **TINY, stream=StreamOptions(sample_rows=KEEP, batch_rows=BATCH, seed=1))
    assert alive and max(alive) <= KEEP + BATCH


def test_nrows_reads_the_first_rows_of_a_streamed_file_and_stops(parquet_file):
    frame = load_dataset(parquet_file, nrows=4_321, max_parquet_rows=1_000,
                         stream=StreamOptions(batch_rows=BATCH))
    streamed = stream_sampling(frame)
    assert frame["row"].tolist() == list(range(4_321))
    assert (streamed["method"], streamed["rows_read"], streamed["batches"]) == ("first rows", 4_321, 2)


def test_a_file_within_the_limits_is_read_whole_exactly_as_before(parquet_file, frame, tmp_path):
    whole = load_dataset(parquet_file)
    assert stream_sampling(whole) is None and SOURCE_ROW_COUNT not in whole.attrs
    pd.testing.assert_frame_equal(whole, frame, check_dtype=False)
    csv_path = tmp_path / "small.csv"
    frame.to_csv(csv_path, index=False)
    pd.testing.assert_frame_equal(load_dataset(csv_path), pd.read_csv(csv_path))


def test_sampled_statistics_agree_with_the_whole_file(parquet_file, frame):
    sample = load_dataset(parquet_file, **TINY, stream=StreamOptions(sample_rows=KEEP, batch_rows=BATCH, seed=11))
    # 3,000 of 60,000 rows: the mean within 4 standard errors, proportions within 3 points, every city present.
    standard_error = frame["amount"].std() / np.sqrt(KEEP)
    assert abs(sample["amount"].mean() - frame["amount"].mean()) < 4 * standard_error
    assert abs(sample["label"].mean() - frame["label"].mean()) < 0.03
    shares = sample["city"].value_counts(normalize=True)
    whole = frame["city"].value_counts(normalize=True)
    assert set(shares.index) == set(whole.index)
    assert (shares - whole).abs().max() < 0.03
    # Spread over the whole file, not its head: rows from every tenth of it.
    assert set(sample["row"] // (ROWS // 10)) == set(range(10))


def test_the_report_states_how_a_streamed_dataset_was_sampled(parquet_file):
    config = RunConfig.from_dict({"categories": ["TEST_CATEGORY_TYPE_DATA_CLEANLINESS"], "random_seed": 5})
    streamed = load_dataset(parquet_file, **TINY, stream=StreamOptions(
        sample_rows=KEEP, batch_rows=BATCH, seed=sample_seed(config.random_seed, "evaluation")))
    reference = load_dataset(parquet_file, nrows=2_000)
    ctx, sampling = build_context(reference=reference, evaluation=streamed, config=config,
                                  data_params=DataParams(label_col="label"), model_task=MODEL_TASK_BINARY_CLASSIFICATION)
    report = build_report(ctx, [], sampling=sampling, duration_s=1.0, notes=[])
    evaluation = report["run"]["evaluation"]
    assert (evaluation["rows"], evaluation["sampled_rows"]) == (ROWS, KEEP)
    assert evaluation["sampling_rate"] == pytest.approx(KEEP / ROWS)
    assert evaluation["streamed"]["rows_read"] == ROWS and evaluation["streamed"]["seed"] == sample_seed(5, "evaluation")
    assert report["run"]["reference"]["streamed"] is None and report["run"]["reference"]["rows"] == 2_000


def test_a_csv_with_more_rows_than_can_be_streamed_is_refused_with_a_message(frame, tmp_path):
    path = tmp_path / "long.csv"
    frame.to_csv(path, index=False)
    from stresstests.engine.errors import DataLoadError

    with pytest.raises(DataLoadError, match=r"long.csv has more than 10,000 rows, too many to stream through"):
        load_dataset(path, max_parquet_memory_bytes=1024**2,
                     stream=StreamOptions(sample_rows=KEEP, batch_rows=BATCH, max_stream_rows=10_000))
