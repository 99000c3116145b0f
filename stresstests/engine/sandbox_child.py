"""The sandboxed child: loads the user's model and answers predict requests (`python -m` this module).

Protocol (see sandbox.py for the parent): requests are JSON lines on stdin, responses JSON lines on a dedicated pipe
(`--response-fd`), so the model's own prints on stdout/stderr never mix with the protocol. Rows and predictions cross
through two memory files (memfd) the parent created before this process started and handed down as descriptors
(`--rows-fd`, `--predictions-fd`): an Arrow IPC file in, a `.npy` out (written with allow_pickle=False). Neither has a
name in any folder, so nothing the model does to its folders can redirect the parent's reads or writes. Both sides
read and write at explicit offsets (pread/pwrite), never through the shared file position. No pickles.

    -> {"op": "predict" | "embed", "rows_bytes": 5120}
    <- {"ok": true, "predictions_bytes": 152}
     | {"ok": false, "kind": "engine" | "memory" | "disk" | "exception", "error_class": "...", "message": "..."}

The first response, before any request, reports whether the model loaded (and whether it has `embed`, the
model's own embeddings, which "embed" requests return instead of predictions). With `--copy-to` the child first copies
the model's (read-only) folder into its bounded writable space, so the model can write next to its files.
"""

from __future__ import annotations

import argparse
import errno
import io
import json
import os
import shutil
import sys
import traceback
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa

JSON_COLUMNS_KEY = b"rime_json_columns"
COLUMN_NAMES_KEY = b"rime_column_names"
# A full disk, a file over RLIMIT_FSIZE, a quota: the model hit the sandbox's disk limit.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
MODEL_FILES_ERROR = "ModelFilesError"  # the model's own files did not fit, before any of its code ran


# ---- wire format, shared with the parent -------------------------------------------------------------------------
def frame_to_bytes(frame: pd.DataFrame) -> pa.Buffer:
    """Rows as an Arrow IPC file; object columns Arrow cannot type (mixed values) travel as JSON text."""
    frame = frame.reset_index(drop=True)
    json_columns: list[str] = []
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        frame, json_columns = _with_json_columns(frame)
        table = pa.Table.from_pandas(frame, preserve_index=False)
    metadata = dict(table.schema.metadata or {})
    metadata[JSON_COLUMNS_KEY] = json.dumps(json_columns).encode()
    if any(not isinstance(name, str) for name in frame.columns):  # Arrow field names are text; keep 0, 1, ... as ints
        metadata[COLUMN_NAMES_KEY] = json.dumps([_json_safe(name) for name in frame.columns]).encode()
    table = table.replace_schema_metadata(metadata)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def frame_from_bytes(data: bytes) -> pd.DataFrame:
    table = pa.ipc.open_file(pa.py_buffer(data)).read_all()
    metadata = table.schema.metadata or {}
    json_columns = json.loads(metadata.get(JSON_COLUMNS_KEY, b"[]"))
    frame = table.to_pandas()
    if COLUMN_NAMES_KEY in metadata:
        frame.columns = json.loads(metadata[COLUMN_NAMES_KEY])
    for column in json_columns:
        decoded = [None if _is_missing(value) else json.loads(value) for value in frame[column]]
        frame[column] = pd.Series(decoded, index=frame.index, dtype=object)
    return frame


def replace_contents(fd: int, data: bytes | memoryview | pa.Buffer) -> int:
    """Make the memory file hold exactly `data`; returns its size. Explicit offsets: the file position is shared."""
    view = memoryview(data).cast("B")
    os.ftruncate(fd, 0)
    written = 0
    while written < len(view):
        written += os.pwrite(fd, view[written:], written)
    return written


def read_contents(fd: int, size: int) -> bytes:
    """Exactly `size` bytes from the start of the memory file, or fewer if it is shorter (never more)."""
    chunks, offset = [], 0
    while offset < size:
        chunk = os.pread(fd, min(size - offset, 1 << 24), offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _with_json_columns(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    frame = frame.copy()
    json_columns = []
    for column in frame.columns:
        if frame[column].dtype != object:
            continue
        try:
            pa.array(frame[column], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            frame[column] = [None if _is_missing(v) else json.dumps(_json_safe(v)) for v in frame[column]]
            json_columns.append(column)
    return frame, json_columns


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _json_safe(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool, list, dict)):
        return value
    return str(value)


def predictions_to_bytes(predictions: Any) -> bytes:
    """A .npy without pickle; values that are not numbers are kept as text so the parent can name the problem."""
    if isinstance(predictions, (pd.DataFrame, pd.Series)):
        predictions = predictions.to_numpy()
    array = np.asarray(predictions)
    if array.dtype == object:
        try:
            array = array.astype(float)
        except (TypeError, ValueError):
            array = array.astype(str)
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


# ---- the child ---------------------------------------------------------------------------------------------------
def summarise_exception(error: BaseException, model_folder: Path) -> str:
    """One line a user can act on: the error and the last line of *their* code it passed through."""
    detail = str(error).strip() or "no message"
    return f"{type(error).__name__}: {detail}{_where(error, model_folder)}"


def _where(error: BaseException, model_folder: Path) -> str:
    own = [frame for frame in traceback.extract_tb(error.__traceback__) if _is_inside(frame.filename, model_folder)]
    if not own:
        return ""
    frame = own[-1]
    return f" (in {Path(frame.filename).name}, line {frame.lineno}, in {frame.name})"


def _is_inside(filename: str, folder: Path) -> bool:
    try:
        return Path(filename).resolve().is_relative_to(folder.resolve())
    except (OSError, ValueError):
        return False


def _disk_full(error: BaseException | None) -> bool:
    return isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS


def _mapping_refused(error: BaseException) -> bool:
    """A native library that could not be mapped: the address-space limit, not a missing file (torch, scipy)."""
    return isinstance(error, ImportError) and "failed to map segment" in str(error)


def _failure(error: BaseException, model_folder: Path) -> dict:
    from stresstests.engine.errors import EngineError

    if isinstance(error, MemoryError) or _mapping_refused(error):
        return {"ok": False, "kind": "memory", "error_class": type(error).__name__, "message": str(error)}
    if _disk_full(error):
        return {"ok": False, "kind": "disk", "error_class": type(error).__name__,
                "message": summarise_exception(error, model_folder)}
    if isinstance(error, EngineError):
        cause = error.__context__ if error.__context__ is not None else error
        kind = "memory" if isinstance(cause, MemoryError) else "disk" if _disk_full(cause) else "engine"
        where = _where(cause, model_folder) if cause is not error and "line" not in str(error) else ""
        return {"ok": False, "kind": kind, "error_class": type(error).__name__, "message": f"{error}{where}"}
    return {"ok": False, "kind": "exception", "error_class": type(error).__name__,
            "message": summarise_exception(error, model_folder)}


def _send(channel: IO[str], message: dict) -> None:
    channel.write(json.dumps(message) + "\n")
    channel.flush()


def _take_stdin() -> IO[str]:
    """Keep the request pipe for ourselves and give the model an empty stdin, so it cannot read our requests."""
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return requests


def _predict(model: Any, request: dict, *, rows_fd: int, predictions_fd: int) -> dict:
    rows_bytes = int(request["rows_bytes"])
    data = read_contents(rows_fd, rows_bytes)
    if len(data) != rows_bytes:
        raise RuntimeError(f"the rows arrived incomplete ({len(data)} of {rows_bytes} bytes)")
    # "embed": the model's own embeddings (n, d), for models that have them (has_embeddings).
    method = model.embed if request.get("op") == "embed" else model.predict
    predictions = predictions_to_bytes(method(frame_from_bytes(data)))
    return {"ok": True, "predictions_bytes": replace_contents(predictions_fd, predictions)}


def has_embeddings(model: Any) -> bool:
    return callable(getattr(model, "embed", None))


def _serve(model: Any, requests: IO[str], responses: IO[str], model_folder: Path, *, rows_fd: int,
           predictions_fd: int) -> None:
    for line in requests:
        request = json.loads(line)
        if request.get("op") not in ("predict", "embed") or (request["op"] == "embed" and not has_embeddings(model)):
            break
        try:
            response = _predict(model, request, rows_fd=rows_fd, predictions_fd=predictions_fd)
        except BaseException as error:  # noqa: BLE001 - everything the model raises is reported, not fatal
            if isinstance(error, (KeyboardInterrupt, SystemExit)):
                raise
            response = _failure(error, model_folder)
        _send(responses, response)


def _copy_model(source: Path, destination: Path) -> Path:
    """Copy the model's folder into the writable space; returns the path to load. Its size counts toward the limit."""
    folder = source if source.is_dir() else source.parent
    for root, _directories, files in os.walk(folder):
        target = destination / Path(root).relative_to(folder)
        target.mkdir(exist_ok=True)
        for name in files:
            shutil.copyfile(Path(root) / name, target / name, follow_symlinks=False)
    return destination if source.is_dir() else destination / source.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sandbox_child")
    parser.add_argument("--model", required=True)
    parser.add_argument("--model-task", required=True)
    parser.add_argument("--copy-to", help="copy the model's folder here first and load the copy")
    parser.add_argument("--response-fd", type=int, required=True)
    parser.add_argument("--rows-fd", type=int, required=True)
    parser.add_argument("--predictions-fd", type=int, required=True)
    args = parser.parse_args(argv)

    requests = _take_stdin()
    responses = os.fdopen(args.response_fd, "w", encoding="utf-8")
    model_path = Path(args.model)
    model_folder = model_path if model_path.is_dir() else model_path.parent
    if args.copy_to:
        try:
            model_path = _copy_model(model_path, Path(args.copy_to))
        except OSError as error:
            kind = "disk" if _disk_full(error) else "engine"
            _send(responses, {"ok": False, "kind": kind, "error_class": MODEL_FILES_ERROR,
                              "message": f"The model's files could not be copied into the sandbox: {error}"})
            return 1
        model_folder = Path(args.copy_to)
        os.chdir(model_folder)
    try:
        from stresstests.engine.models import load_model

        model = load_model(model_path, model_task=args.model_task)
    except BaseException as error:  # noqa: BLE001 - a model that calls sys.exit() at import is a load failure too
        _send(responses, _failure(error, model_folder))
        return 1
    _send(responses, {"ok": True, "ready": True, "embeddings": has_embeddings(model)})
    _serve(model, requests, responses, model_folder, rows_fd=args.rows_fd, predictions_fd=args.predictions_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
