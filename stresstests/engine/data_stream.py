"""Reading a dataset larger than memory: streamed in batches and sampled, so memory stays bounded by the sample.

Method. A file whose rows would not fit the memory budget (a Parquet file whose footer declares more rows or more
decoded bytes than the limits, a CSV or JSON Lines file whose text is larger than the budget allows) is not refused
and not read whole: it is read one batch at a time (Parquet record batches within row groups, CSV and JSON Lines
chunks), and a fixed number of rows is kept by bottom-k reservoir sampling. Every row gets a uniform random key from
a generator seeded with the run's seed, drawn in file order, and the rows with the `sample_rows` smallest keys are kept:
an unbiased sample without replacement, the same one for the same seed and file whatever the batch size (keys are
drawn row by row, in order). A batch's rows whose key is above the current k-th smallest are dropped before they are
decoded into pandas, so the loader holds at most `sample_rows + batch_rows` rows at once (StreamStats.max_rows_held
counts it). The kept rows come back in file order (their positions ascending), so time order survives.

With `nrows` the first `nrows` rows are read (as for small files), batch by batch, stopping there.

Bomb protection stays: a Parquet row group whose decoded size alone exceeds the budget is refused (it would be held
whole), as is a file declaring more than `max_stream_rows` rows (streaming it would take hours); gzip caps stay in
data.py.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

# frame.attrs keys: the rows in the source (validation records it) and how the frame was sampled while read.
SOURCE_ROW_COUNT = "source_row_count"
SOURCE_BYTES = "source_bytes"   # a streamed file's size on disk (the frame holds only its sample)
STREAM_SAMPLING = "stream_sampling"
DEFAULT_SAMPLE_ROWS = 200_000   # as SamplingConfig.max_rows: what a run keeps anyway
DEFAULT_BATCH_ROWS = 65_536
# Streaming a file declaring more rows than this would take hours: refused from the footer (or when counted).
MAX_STREAM_ROWS = 2_000_000_000
METHOD_RESERVOIR = "reservoir"
METHOD_HEAD = "first rows"


@dataclass(frozen=True)
class StreamOptions:
    """How a streamed read samples: rows kept, rows decoded at once, the seed of the keys, and the row ceiling."""

    sample_rows: int = DEFAULT_SAMPLE_ROWS
    batch_rows: int = DEFAULT_BATCH_ROWS
    seed: int = 0
    max_stream_rows: int = MAX_STREAM_ROWS


@dataclass
class StreamStats:
    rows_read: int = 0
    rows_kept: int = 0
    batches: int = 0
    max_rows_held: int = 0
    method: str = METHOD_RESERVOIR
    seed: int = 0
    batch_rows: int = DEFAULT_BATCH_ROWS

    def as_dict(self) -> dict:
        return {**asdict(self), "description": self.description()}

    def description(self) -> str:
        if self.method == METHOD_HEAD:
            return (f"streamed: the first {self.rows_kept:,} rows, read in {self.batches:,} batches of at most "
                    f"{self.batch_rows:,} rows")
        return (f"streamed: {self.rows_read:,} rows read in {self.batches:,} batches of at most {self.batch_rows:,} "
                f"rows; {self.rows_kept:,} kept by reservoir sampling (seed {self.seed})")


class Reservoir:
    """Bottom-k sampling over batches: each row a seeded uniform key, the `size` smallest keys kept.

    `add(rows, take)` is given a batch's row count and a function returning those of its rows (by position within the
    batch) as a DataFrame, so rows that cannot be kept are never converted."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = max(int(size), 1)
        self.rng = np.random.default_rng(seed)
        self.keys = np.empty(0)
        self.frames: list[pd.DataFrame] = []   # kept rows, in file order once compacted
        self.held = 0
        self.stats = StreamStats(seed=seed)

    def add(self, rows: int, take: Callable[[np.ndarray], pd.DataFrame]) -> None:
        keys = self.rng.random(rows)   # drawn for every row, in order: the sample does not depend on batch sizes
        self.stats.rows_read += rows
        self.stats.batches += 1
        if len(self.keys) >= self.size:
            threshold = np.partition(self.keys, self.size - 1)[self.size - 1]
            chosen = np.flatnonzero(keys < threshold)
        else:
            chosen = np.arange(rows)
        if not len(chosen):
            return
        batch = take(chosen).reset_index(drop=True)
        self.frames.append(batch)
        self.keys = np.concatenate([self.keys, keys[chosen]])
        self.held += len(batch)
        self.stats.max_rows_held = max(self.stats.max_rows_held, self.held)
        if len(self.keys) > self.size:
            self._compact()

    def _compact(self) -> None:
        keep = np.sort(np.argpartition(self.keys, self.size - 1)[:self.size])   # ascending: file order kept
        frame = pd.concat(self.frames, ignore_index=True) if len(self.frames) > 1 else self.frames[0]
        self.frames = [frame.iloc[keep].reset_index(drop=True)]
        self.keys = self.keys[keep]
        self.held = len(self.frames[0])

    def result(self) -> tuple[pd.DataFrame | None, StreamStats]:
        if len(self.keys) > self.size or len(self.frames) > 1:
            self._compact()
        self.stats.rows_kept = self.held
        return (self.frames[0] if self.frames else None), self.stats


def sample_batches(batches: Iterable[tuple[int, Callable[[np.ndarray], pd.DataFrame]]], options: StreamOptions,
                   *, nrows: int | None = None, on_too_many: Callable[[int], Exception] | None = None
                   ) -> tuple[pd.DataFrame | None, StreamStats]:
    """The rows of (row count, take) batches: the first `nrows`, or a reservoir sample of `options.sample_rows`."""
    if nrows is not None:
        return _head(batches, nrows, options)
    reservoir = Reservoir(options.sample_rows, options.seed)
    reservoir.stats.batch_rows = options.batch_rows
    for rows, take in batches:
        reservoir.add(rows, take)
        if reservoir.stats.rows_read > options.max_stream_rows and on_too_many is not None:
            raise on_too_many(reservoir.stats.rows_read)
    return reservoir.result()


def _head(batches, nrows: int, options: StreamOptions) -> tuple[pd.DataFrame | None, StreamStats]:
    stats = StreamStats(method=METHOD_HEAD, seed=options.seed, batch_rows=options.batch_rows)
    frames: list[pd.DataFrame] = []
    for rows, take in batches:
        wanted = min(rows, nrows - stats.rows_kept)
        frames.append(take(np.arange(wanted)).reset_index(drop=True))
        stats.rows_read += wanted
        stats.rows_kept += wanted
        stats.batches += 1
        stats.max_rows_held = stats.rows_kept
        if stats.rows_kept >= nrows:
            break
    frame = pd.concat(frames, ignore_index=True) if frames else None
    return frame, stats


def frame_batches(chunks: Iterable[pd.DataFrame]) -> Iterable[tuple[int, Callable[[np.ndarray], pd.DataFrame]]]:
    """pandas chunks (CSV, JSON Lines) as (row count, take) batches."""
    for chunk in chunks:
        yield len(chunk), (lambda positions, chunk=chunk: chunk.iloc[positions])


def attach(frame: pd.DataFrame, stats: StreamStats) -> pd.DataFrame:
    """The sample, marked with how it was read (the runner puts it in the report; validation records the rows)."""
    frame.attrs[SOURCE_ROW_COUNT] = stats.rows_read if stats.method == METHOD_RESERVOIR else stats.rows_kept
    frame.attrs[STREAM_SAMPLING] = stats.as_dict()
    return frame


def stream_sampling(frame: pd.DataFrame) -> dict | None:
    """How `frame` was sampled while read, or None when it was read whole."""
    return frame.attrs.get(STREAM_SAMPLING)


def predictions_refused(role: str, frame: pd.DataFrame) -> str | None:
    """Why separate predictions cannot go with a streamed dataset (they are one per row of the whole file), or None."""
    streamed = stream_sampling(frame)
    if not streamed:
        return None
    return (f"The {role} dataset is too large for memory, so it was sampled while read ({streamed['description']}); "
            "its separate predictions cannot be matched to those rows. Put the predictions in a column of the dataset "
            "(pred_col), or set nrows.")
