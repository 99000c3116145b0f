"""Loading datasets and predictions, recognised by content as well as extension, with messages a user can act on.

Cheap checks come first: the format is recognised from the first bytes, user-given options are checked against an
allow-list (loader_options), and a CSV's or JSON Lines' column count and line length are read from the first
MAX_LINE_BYTES (every JSON Lines line there, and a `.json` file's records and nesting depth: data_json_checks.py),
a Parquet file's rows and decoded size from its footer (data_parquet.py), before any parser runs over the whole file.

A file too large for memory is streamed and sampled rather than refused (data_stream.py): Parquet past the footer's
limits, CSV and JSON Lines whose text (decompressed) is larger than the memory budget divided by TEXT_EXPANSION.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from stresstests.engine.vocabulary import MULTICLASS_TASKS
from stresstests.engine.errors import DataLoadError
from stresstests.engine.data_parquet import MAX_PARQUET_MEMORY_BYTES, MAX_PARQUET_ROWS, read_parquet
from stresstests.engine.data_stream import (SOURCE_BYTES, STREAM_SAMPLING, StreamOptions, attach, frame_batches,
                                            sample_batches)
from stresstests.engine.data_json_checks import check_json_head, check_json_lines_head
from stresstests.engine.loader_options import check_loader_options

FORMATS = ("csv", "parquet", "json", "jsonl")
_SNIFF_BYTES = 64 * 1024
# A gzip bomb (kilobytes that expand to gigabytes) is refused by this cap before any reader holds it in memory.
MAX_DECOMPRESSED_BYTES = 2 * 1024**3
_DECOMPRESS_CHUNK = 1024 * 1024
# Tests loop over the features: far past this many columns a run takes hours, so such a file is refused at once.
MAX_COLUMNS = 1000
# No line of a table a stress test can use is this long; a longer first line is refused before any parse.
MAX_LINE_BYTES = 1024 * 1024
# A table's text takes up to this many times its size once parsed (strings are Python objects): a CSV or JSON Lines
# file larger than the memory budget divided by this is streamed in chunks and sampled.
TEXT_EXPANSION = 4
_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"


def detect_format(path: str | Path, *, encoding: str = "utf-8") -> tuple[str, bool]:
    """(format, gzipped) from the file's first bytes; the extension only breaks ties (e.g. a one-record JSONL)."""
    path = Path(path)
    raw = _read_head(path)
    gzipped = raw.startswith(_GZIP_MAGIC)
    head = _gunzip_head(path) if gzipped else raw
    if head.startswith(_PARQUET_MAGIC):
        return "parquet", gzipped
    if b"\x00" in head[:8192]:
        raise DataLoadError(f"{path.name} is a binary file, not CSV, JSON, JSON Lines or Parquet.")
    text = _decode_head(path, head, encoding)
    stripped = text.lstrip("\ufeff \t\r\n")
    if not stripped:
        raise DataLoadError(f"{path.name} is empty: it has no header and no rows.")
    if stripped[0] == "[":
        return "json", gzipped
    if stripped[0] == "{":
        return ("jsonl" if _looks_like_json_lines(stripped, path) else "json"), gzipped
    return "csv", gzipped


def load_dataset(path: str | Path, *, nrows: int | None = None, loading_kwargs: dict | None = None,
                 max_decompressed_bytes: int | None = None, max_parquet_rows: int | None = None,
                 max_parquet_memory_bytes: int | None = None, stream: StreamOptions | None = None) -> pd.DataFrame:
    """Read csv, csv.gz, parquet, json, json.gz, jsonl or jsonl.gz into a DataFrame with string column names.
    A .gz file expanding past `max_decompressed_bytes` (default MAX_DECOMPRESSED_BYTES) is refused unread. A file
    larger than the memory budget (`max_parquet_rows`, `max_parquet_memory_bytes`: a Parquet footer's rows and
    decoded size; the text size times TEXT_EXPANSION for CSV and JSON Lines) is streamed and sampled as `stream`
    says (data_stream.py); the frame's attrs then say how."""
    path = Path(path)
    kwargs = check_loader_options(loading_kwargs)
    encoding = str(kwargs.pop("encoding", "utf-8"))
    fmt, gzipped = detect_format(path, encoding=encoding)
    check_loader_options({**kwargs, **({"encoding": encoding} if encoding != "utf-8" else {})}, fmt=fmt)
    _cheap_checks(path, fmt, gzipped, encoding, kwargs)
    memory_bytes = max_parquet_memory_bytes or MAX_PARQUET_MEMORY_BYTES
    text_bytes = decompressed_size(path, max_decompressed_bytes or MAX_DECOMPRESSED_BYTES) if gzipped else None
    if fmt != "parquet":
        kwargs["encoding"] = encoding
    try:
        if fmt == "parquet":
            frame = read_parquet(path, gzipped=gzipped, nrows=nrows, columns=kwargs.get("columns"),
                                 max_rows=max_parquet_rows or MAX_PARQUET_ROWS, max_memory_bytes=memory_bytes,
                                 max_decompressed_bytes=max_decompressed_bytes or MAX_DECOMPRESSED_BYTES,
                                 stream=stream)
        elif fmt in _CHUNKED and nrows is None and (text_bytes or path.stat().st_size) * TEXT_EXPANSION > memory_bytes:
            frame = _read_streamed(path, fmt, gzipped, kwargs, stream or StreamOptions())
        else:
            frame = _READERS[fmt](path, gzipped, nrows, kwargs)
    except DataLoadError:
        raise
    except UnicodeDecodeError:
        raise DataLoadError(_not_encoded(path, encoding)) from None
    except RecursionError:  # nesting deeper than the cheap checks' head showed
        raise DataLoadError(f"{path.name} nests arrays or objects too deeply to be read as {fmt.upper()}; a dataset "
                            "is a table of records. Flatten the data.") from None
    except (ValueError, pd.errors.ParserError, OSError) as error:
        raise DataLoadError(f"{path.name} could not be read as {fmt.upper()}: {_first_line(error)}") from None
    if STREAM_SAMPLING in frame.attrs:
        frame.attrs[SOURCE_BYTES] = path.stat().st_size
    return _checked_frame(frame, path, fmt)


def _read_streamed(path: Path, fmt: str, gzipped: bool, kwargs: dict, stream: StreamOptions) -> pd.DataFrame:
    """A CSV or JSON Lines file in chunks of `stream.batch_rows` rows, sampled (data_stream.py)."""
    with _CHUNKED[fmt](path, gzipped, stream.batch_rows, kwargs) as chunks:
        frame, stats = sample_batches(frame_batches(chunks), stream, on_too_many=lambda rows: DataLoadError(
            f"{path.name} has more than {stream.max_stream_rows:,} rows, too many to stream through; sample the "
            "data, or split it."))
    if frame is None:
        return pd.DataFrame()
    return attach(frame, stats)


def _read_head(path: Path) -> bytes:
    if not path.exists():
        raise DataLoadError(f"Data file {path} does not exist.")
    if path.is_dir():
        raise DataLoadError(f"{path} is a folder; give the path of a data file.")
    try:
        with path.open("rb") as handle:
            raw = handle.read(_SNIFF_BYTES)
    except OSError as error:
        raise DataLoadError(f"{path.name} cannot be read: {error.strerror or error}.") from None
    if not raw:
        raise DataLoadError(f"{path.name} is empty (0 bytes).")
    return raw


def _gunzip_head(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except (OSError, EOFError, zlib.error) as error:
        raise DataLoadError(f"{path.name} looks gzip-compressed but cannot be decompressed: {error}.") from None
    if not head:
        raise DataLoadError(f"{path.name} is empty once decompressed.")
    return head


def decompressed_size(path: Path, cap: int) -> int:
    """The size of a .gz file once decompressed, streamed through and kept nowhere; past `cap` bytes it is refused."""
    total = 0
    try:
        with gzip.open(path, "rb") as handle:
            while chunk := handle.read(_DECOMPRESS_CHUNK):
                total += len(chunk)
                if total > cap:
                    raise DataLoadError(
                        f"{path.name} expands to more than {cap / 1024**2:,.0f} MB once "
                        "decompressed, the limit for a dataset file; it was refused (a gzip bomb?). Sample the data, "
                        "or split it into smaller files.")
    except (OSError, EOFError, zlib.error) as error:
        raise DataLoadError(f"{path.name} looks gzip-compressed but cannot be decompressed: {error}.") from None
    return total


def _decode_head(path: Path, head: bytes, encoding: str = "utf-8") -> str:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        return decoder.decode(head, final=False)  # final=False: a character cut at the sniff boundary is fine
    except UnicodeDecodeError:
        raise DataLoadError(_not_encoded(path, encoding)) from None
    except RecursionError:  # nesting deeper than the cheap checks' head showed
        raise DataLoadError(f"{path.name} nests arrays or objects too deeply to be read as {fmt.upper()}; a dataset "
                            "is a table of records. Flatten the data.") from None


def _not_encoded(path: Path, encoding: str) -> str:
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        return f"{path.name} is not UTF-8 text; save it with UTF-8 encoding."
    return f"{path.name} is not {encoding} text; check the encoding loading option."


# ---- cheap checks: from the first bytes, before any full parse --------------------------------------------------------
def _cheap_checks(path: Path, fmt: str, gzipped: bool, encoding: str, kwargs: dict) -> None:
    if fmt == "parquet" and not gzipped:
        _check_parquet_schema(path)
    elif fmt == "json":
        head = _head_bytes(path, gzipped, MAX_LINE_BYTES)
        top_level_array = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"["
        check_json_head(path, head, record_depth=2 if top_level_array else 1, max_columns=MAX_COLUMNS)
    elif fmt in ("csv", "jsonl"):
        head = _head_bytes(path, gzipped, MAX_LINE_BYTES + 1)
        lines = head.split(b"\n")
        complete, last = lines[:-1], lines[-1]
        if fmt == "csv":
            _check_csv_columns(path, complete + [last], encoding, kwargs)
        else:
            _check_jsonl_columns(path, complete[:1], encoding)
            check_json_lines_head(path, head, max_columns=MAX_COLUMNS)  # every line, not only the first
        if not complete and len(head) > MAX_LINE_BYTES:
            raise DataLoadError(f"{path.name}: its first line is longer than {MAX_LINE_BYTES // 1024**2} MB, far "
                                "longer than a row of a table a stress test can use; check the separator, or split "
                                "the data.")


def _head_bytes(path: Path, gzipped: bool, size: int) -> bytes:
    opener = gzip.open if gzipped else open
    try:
        with opener(path, "rb") as handle:
            return handle.read(size)
    except (OSError, EOFError, zlib.error) as error:
        raise DataLoadError(f"{path.name} cannot be read: {error}.") from None


def _check_csv_columns(path: Path, lines: list[bytes], encoding: str, kwargs: dict) -> None:
    """Every line in the first MAX_LINE_BYTES (whatever skiprows or header choose) has at most MAX_COLUMNS fields;
    the last line may be cut, so its count is a lower bound."""
    separator = str(kwargs.get("sep") or kwargs.get("delimiter") or ",")
    quote = str(kwargs.get("quotechar") or '"')
    for number, raw in enumerate(lines):
        if raw.count(separator.encode(encoding, "replace")) < MAX_COLUMNS:
            continue  # cheap: fewer separators than the limit cannot make too many fields
        text = raw.decode(encoding, "replace").lstrip("\ufeff")
        try:
            fields = len(next(csv.reader([text], delimiter=separator, quotechar=quote), []))
        except csv.Error:
            continue
        if fields > MAX_COLUMNS:
            cut = number == len(lines) - 1
            count = f"more than {fields:,}" if cut else f"{fields:,}"
            raise DataLoadError(f"{path.name} has {count} columns; a stress test handles at most {MAX_COLUMNS:,}. "
                                "Keep the columns the model uses (and the label), or split the data.")


def _check_jsonl_columns(path: Path, first: list[bytes], encoding: str) -> None:
    if not first:
        return
    try:
        record = json.loads(first[0].decode(encoding, "replace"))
    except json.JSONDecodeError:
        return  # the reader gives the precise message
    if isinstance(record, dict) and len(record) > MAX_COLUMNS:
        raise DataLoadError(f"{path.name} has {len(record):,} columns; a stress test handles at most "
                            f"{MAX_COLUMNS:,}. Keep the columns the model uses (and the label), or split the data.")


def _check_parquet_schema(path: Path) -> None:
    import pyarrow.parquet as pq

    try:
        columns = len(pq.read_schema(path).names)
    except Exception:  # pyarrow's own error types vary by version; the reader reports a damaged file precisely
        return
    if columns > MAX_COLUMNS:
        raise DataLoadError(f"{path.name} has {columns:,} columns; a stress test handles at most {MAX_COLUMNS:,}. "
                            "Keep the columns the model uses (and the label), or split the data.")


def _looks_like_json_lines(text: str, path: Path) -> bool:
    first_line = text.split("\n", 1)[0].strip()
    try:
        json.loads(first_line)
    except json.JSONDecodeError:
        return False  # a pretty-printed single object or an object spread over lines
    rest = text.split("\n", 1)[1].strip() if "\n" in text else ""
    return bool(rest) or ".jsonl" in "".join(path.suffixes).lower()


def _open_text(path: Path, gzipped: bool, encoding: str = "utf-8"):
    return gzip.open(path, "rt", encoding=encoding) if gzipped else path.open("r", encoding=encoding)


def _read_csv(path: Path, gzipped: bool, nrows: int | None, kwargs: dict, *, chunksize: int | None = None):
    encoding = kwargs.pop("encoding", "utf-8")
    separator = kwargs.get("sep") or kwargs.get("delimiter") or ","
    with _open_text(path, gzipped, encoding) as handle:
        # Bounded: the cheap checks already refused a longer first line.
        header = next(csv.reader([handle.readline(MAX_LINE_BYTES + 1).lstrip("\ufeff")], delimiter=separator), [])
    _reject_duplicate_columns([h.strip() for h in header], path)
    # engine="c": no option can switch pandas to its python engine (and its regular-expression separators).
    return pd.read_csv(path, compression="gzip" if gzipped else None, nrows=nrows, encoding=encoding,
                       encoding_errors="strict", engine="c", chunksize=chunksize, **kwargs)


def _csv_chunks(path: Path, gzipped: bool, batch_rows: int, kwargs: dict):
    return _read_csv(path, gzipped, None, dict(kwargs), chunksize=batch_rows)   # a reader, closed by `with`


def _read_json(path: Path, gzipped: bool, nrows: int | None, kwargs: dict) -> pd.DataFrame:
    with _open_text(path, gzipped, kwargs.pop("encoding", "utf-8")) as handle:
        records = json.load(handle)
    if isinstance(records, dict) and not all(isinstance(v, list) for v in records.values()):
        records = [records]   # a single record; a dict of lists is read column by column
    if not isinstance(records, (list, dict)):
        raise DataLoadError(f"{path.name} holds a JSON {type(records).__name__}, not a list of records.")
    frame = pd.DataFrame(records, **kwargs)
    return frame.head(nrows) if nrows is not None else frame


def _read_jsonl(path: Path, gzipped: bool, nrows: int | None, kwargs: dict, *, chunksize: int | None = None):
    return pd.read_json(path, lines=True, compression="gzip" if gzipped else None, nrows=nrows, chunksize=chunksize,
                        **kwargs)


def _jsonl_chunks(path: Path, gzipped: bool, batch_rows: int, kwargs: dict):
    return _read_jsonl(path, gzipped, None, dict(kwargs), chunksize=batch_rows)


_READERS = {"csv": _read_csv, "json": _read_json, "jsonl": _read_jsonl}  # Parquet: data_parquet.read_parquet
# The formats a file too large for memory is streamed in (a `.json` array is one document: read whole, within the
# decompressed and upload caps).
_CHUNKED = {"csv": _csv_chunks, "jsonl": _jsonl_chunks}


def _checked_frame(frame: pd.DataFrame, path: Path, fmt: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise DataLoadError(f"{path.name} does not hold a table of records.")
    frame.columns = [str(c) for c in frame.columns]
    _reject_duplicate_columns(list(frame.columns), path)
    if frame.shape[1] == 0:
        raise DataLoadError(f"{path.name} has no columns.")
    if frame.shape[1] > MAX_COLUMNS:
        raise DataLoadError(f"{path.name} has {frame.shape[1]:,} columns; a stress test handles at most "
                            f"{MAX_COLUMNS:,}. Keep the columns the model uses (and the label), or split the data.")
    if len(frame) == 0:
        raise DataLoadError(f"{path.name} has a header ({', '.join(frame.columns[:5])}...) but no rows."
                            if fmt == "csv" else f"{path.name} has no rows.")
    return frame


def _reject_duplicate_columns(columns: list[str], path: Path) -> None:
    seen, duplicates = set(), []
    for column in columns:
        if column in seen and column not in duplicates:
            duplicates.append(column)
        seen.add(column)
    if duplicates:
        raise DataLoadError(f"{path.name} has duplicate column names: {', '.join(duplicates)}. Rename them so each "
                            "column is unique.")


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


# ---- predictions ---------------------------------------------------------------------------------------------------
def load_predictions(path: str | Path, *, n_rows: int, model_task: str, pred_col: str | list[str] | None = None
                     ) -> np.ndarray:
    """Predictions from a separate file, one row per dataset row in the same order."""
    frame = load_dataset(path)
    if len(frame) != n_rows:
        raise DataLoadError(f"{Path(path).name} has {len(frame)} predictions but the dataset has {n_rows} rows; "
                            "give one prediction per row, in the dataset's order.")
    columns = _prediction_columns(frame, pred_col, Path(path).name, model_task)
    return predictions_from_frame(frame, columns, model_task)


def _prediction_columns(frame: pd.DataFrame, pred_col: str | list[str] | None, name: str, model_task: str
                        ) -> list[str]:
    if pred_col is None:
        if len(frame.columns) == 1 or model_task in MULTICLASS_TASKS:
            return list(frame.columns)
        raise DataLoadError(f"{name} has several columns ({', '.join(frame.columns[:5])}); say which one holds the "
                            "predictions (pred_col).")
    columns = [pred_col] if isinstance(pred_col, str) else list(pred_col)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataLoadError(f"Prediction column {', '.join(missing)} is not in {name}; its columns are "
                            f"{', '.join(frame.columns[:10])}.")
    return columns


def predictions_from_frame(frame: pd.DataFrame, columns: list[str], model_task: str) -> np.ndarray:
    """Prediction columns as floats: one column, one column per class, or one column holding lists."""
    if len(columns) == 1 and frame[columns[0]].map(lambda v: isinstance(v, (list, tuple, np.ndarray))).any():
        return np.vstack(frame[columns[0]].to_numpy())
    values = frame[columns].apply(pd.to_numeric, errors="coerce")
    if values.isna().to_numpy().any():
        bad = int(values.isna().any(axis=1).sum())
        raise DataLoadError(f"{bad} rows of prediction column(s) {', '.join(columns)} are empty or not numbers.")
    array = values.to_numpy(dtype=float)
    return array[:, 0] if array.shape[1] == 1 else array


# ---- sampling ------------------------------------------------------------------------------------------------------
def sample_rows(frame: pd.DataFrame, n_rows: int | None, *, seed: int, random: bool = True) -> pd.DataFrame:
    """At most `n_rows` rows, drawn uniformly with `seed` (or the first rows when `random` is False)."""
    if n_rows is None or len(frame) <= n_rows:
        return frame.reset_index(drop=True)
    if not random:
        return frame.head(n_rows).reset_index(drop=True)
    chosen = np.sort(np.random.default_rng(seed).choice(len(frame), size=n_rows, replace=False))
    return frame.iloc[chosen].reset_index(drop=True)
