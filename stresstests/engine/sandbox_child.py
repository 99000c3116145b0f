"""The sandboxed child: loads the user's model and answers predict requests (`python -m` this module).

Protocol (see sandbox.py for the parent): requests are JSON lines on stdin, responses JSON lines on a dedicated pipe
(`--response-fd`), so the model's own prints on stdout/stderr never mix with the protocol. Rows and predictions cross
as files in the working folder: an Arrow IPC file in, a `.npy` out (written with allow_pickle=False). No pickles.

    -> {"op": "predict", "input": ".../in-1.arrow", "output": ".../out-1.npy"}
    <- {"ok": true}  |  {"ok": false, "kind": "engine" | "memory" | "exception", "error_class": "...", "message": "..."}

The first response, before any request, reports whether the model loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa

JSON_COLUMNS_KEY = b"rime_json_columns"
COLUMN_NAMES_KEY = b"rime_column_names"


# ---- wire format, shared with the parent -------------------------------------------------------------------------
def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """Write rows as an Arrow IPC file; object columns Arrow cannot type (mixed values) travel as JSON text."""
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
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def read_frame(path: Path) -> pd.DataFrame:
    with pa.memory_map(str(path), "r") as source:
        table = pa.ipc.open_file(source).read_all()
    metadata = table.schema.metadata or {}
    json_columns = json.loads(metadata.get(JSON_COLUMNS_KEY, b"[]"))
    frame = table.to_pandas()
    if COLUMN_NAMES_KEY in metadata:
        frame.columns = json.loads(metadata[COLUMN_NAMES_KEY])
    for column in json_columns:
        decoded = [None if _is_missing(value) else json.loads(value) for value in frame[column]]
        frame[column] = pd.Series(decoded, index=frame.index, dtype=object)
    return frame


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


def write_predictions(predictions: Any, path: Path) -> None:
    """Save as .npy without pickle; values that are not numbers are kept as text so the parent can name the problem."""
    if isinstance(predictions, (pd.DataFrame, pd.Series)):
        predictions = predictions.to_numpy()
    array = np.asarray(predictions)
    if array.dtype == object:
        try:
            array = array.astype(float)
        except (TypeError, ValueError):
            array = array.astype(str)
    np.save(path, array, allow_pickle=False)


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


def _failure(error: BaseException, model_folder: Path) -> dict:
    from stresstests.engine.errors import EngineError

    if isinstance(error, MemoryError):
        return {"ok": False, "kind": "memory", "error_class": "MemoryError", "message": str(error)}
    if isinstance(error, EngineError):
        cause = error.__context__ if error.__context__ is not None else error
        kind = "memory" if isinstance(cause, MemoryError) else "engine"
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


def _serve(model: Any, requests: IO[str], responses: IO[str], model_folder: Path) -> None:
    for line in requests:
        request = json.loads(line)
        if request.get("op") != "predict":
            break
        try:
            frame = read_frame(Path(request["input"]))
            write_predictions(model.predict(frame), Path(request["output"]))
            response = {"ok": True}
        except BaseException as error:  # noqa: BLE001 - everything the model raises is reported, not fatal
            if isinstance(error, (KeyboardInterrupt, SystemExit)):
                raise
            response = _failure(error, model_folder)
        _send(responses, response)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sandbox_child")
    parser.add_argument("--model", required=True)
    parser.add_argument("--model-task", required=True)
    parser.add_argument("--response-fd", type=int, required=True)
    args = parser.parse_args(argv)

    requests = _take_stdin()
    responses = os.fdopen(args.response_fd, "w", encoding="utf-8")
    model_path = Path(args.model)
    model_folder = model_path if model_path.is_dir() else model_path.parent
    try:
        from stresstests.engine.models import load_model

        model = load_model(model_path, model_task=args.model_task)
    except BaseException as error:  # noqa: BLE001 - a model that calls sys.exit() at import is a load failure too
        _send(responses, _failure(error, model_folder))
        return 1
    _send(responses, {"ok": True, "ready": True})
    _serve(model, requests, responses, model_folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
