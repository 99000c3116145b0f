"""Checks an uploaded dataset or predictions file at once, with the engine's loaders, before anything is registered."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from projects.registries.validation import label_problems
from projects.registries.storage import human_size
from stresstests.engine.columns import prediction_like_columns
from stresstests.engine.data import decompressed_size, detect_format, load_dataset
from stresstests.engine.errors import DataLoadError
from stresstests.engine.vocabulary import MODEL_TASK_BINARY_CLASSIFICATION

from .wizard_checks import NOT_TEXT_TYPES, column_kind, is_datetime_like

# Above this size only the first rows are read: enough to list the columns and check the label.
FULL_READ_BYTES = 20 * 1024 * 1024
HEAD_ROWS = 1000
DATETIME_SAMPLE_ROWS = 200
# Formats that cannot be read in part: above FULL_READ_BYTES they are left to the registry's validation task.
WHOLE_FILE_FORMATS = ("json", "parquet")


@dataclass
class UploadCheck:
    file_name: str
    columns: list[str] = field(default_factory=list)
    rows: int | None = None  # None: only a sample was read
    error: str = ""
    prediction_column: str = ""  # for predictions: the column named, or the only one besides the label
    # Columns that look like model output ({"column", "reason"}), found by the engine's rule (engine/columns.py).
    prediction_like: list[dict] = field(default_factory=list)
    datetime_columns: list[str] = field(default_factory=list)  # proposed as the timestamp column
    text_columns: list[str] = field(default_factory=list)  # read like free text: proposed as text features
    not_text: dict[str, str] = field(default_factory=dict)  # column -> its kind, for columns of numbers or dates

    def summary(self, *, label_col: str = "", pred_col: str = "", kept_as_features: bool = False,
                timestamp_col: str = "", text_features: list[str] | None = None) -> str:
        if not self.columns:
            return f"{self.file_name} is large; its columns are checked when the dataset is validated."
        rows = f"{self.rows} rows" if self.rows is not None else "more than a thousand rows"
        label = f"; label column “{label_col}” found" if label_col else ""
        return f"{self.file_name}: {rows}, columns {_listing(self.columns)}{label}." + self._proposal(
            pred_col, kept_as_features) + self._timestamp_proposal(timestamp_col) + self._text_note(text_features)

    def _text_note(self, text_features: list[str] | None) -> str:
        if text_features:
            return f" Text features: {_listing(text_features)}."
        proposed = [c for c in self.text_columns if c != self.prediction_column]
        if not proposed:
            return ""
        return (f" {_listing(proposed)} read(s) like free text: for a text model, go Back and name it under Text "
                "features.")

    def _timestamp_proposal(self, timestamp_col: str) -> str:
        dates = [] if timestamp_col else self.datetime_columns
        if not dates:
            return ""
        verb = "holds" if len(dates) == 1 else "hold"
        return f" {_listing(dates)} {verb} dates: the evaluation step proposes it as the timestamp column."

    def _proposal(self, pred_col: str, kept_as_features: bool) -> str:
        """Never silent about a column that looks like the model's predictions: say what happens to it and how to
        use it as the prediction column instead."""
        columns = [c["column"] for c in self.prediction_like if c["column"] != pred_col]
        if not columns:
            return ""
        names = ", ".join(f"“{c}”" for c in columns)
        if kept_as_features:
            return f" {names} look(s) like model output but will be tested as feature(s), as you asked."
        return (f" {names} look(s) like the model's predictions (values between 0 and 1, or named like a "
                f"prediction), so the stress test leaves it out of the features. Proposed: go Back, switch "
                f"Predictions on and name {names.split(', ')[0]} as the prediction column; or tick “Test columns that "
                "look like predictions as features”.")


def _read(upload: UploadedFile):
    """(DataFrame or None when too large to read here, whether every row was read)."""
    with tempfile.TemporaryDirectory(prefix="rime-upload-check-") as folder:
        # The original name is kept: the loader uses the extension to break ties (one-record JSON Lines).
        path = Path(folder) / PurePath(upload.name).name
        with path.open("wb") as handle:
            for chunk in upload.chunks():
                handle.write(chunk)
        upload.seek(0)
        fmt, gzipped = detect_format(path)
        cap = int(settings.MAX_UPLOAD_BYTES)
        # A gzip bomb is refused while it is counted, before anything expands it in memory.
        size = decompressed_size(path, cap) if gzipped else (upload.size or 0)
        if size > cap:
            raise DataLoadError(f"The upload is {human_size(size)}; the limit is {human_size(cap)}.")
        whole = size <= FULL_READ_BYTES
        if not whole and fmt in WHOLE_FILE_FORMATS:
            return None, False
        return load_dataset(path, nrows=None if whole else HEAD_ROWS), whole


def _listing(columns: list[str]) -> str:
    return ", ".join(columns[:30]) + (f" and {len(columns) - 30} more" if len(columns) > 30 else "")


def check_dataset_upload(upload: UploadedFile, *, label_col: str | None, model_task: str = "") -> UploadCheck:
    check = UploadCheck(file_name=upload.name)
    try:
        frame, whole = _read(upload)
    except DataLoadError as error:
        check.error = str(error)
        return check
    if frame is None:
        return check
    check.columns = [str(c) for c in frame.columns]
    check.rows = len(frame) if whole else None
    head = frame.head(DATETIME_SAMPLE_ROWS)
    check.datetime_columns = [str(c) for c in head.columns if is_datetime_like(head[c])]
    kinds = {str(c): column_kind(head[c]) for c in head.columns if c != label_col}
    check.text_columns = [c for c, kind in kinds.items() if kind == "text"]
    check.not_text = {c: kind for c, kind in kinds.items() if kind in NOT_TEXT_TYPES}
    if label_col and label_col not in check.columns:
        check.error = f"Label column “{label_col}” is not in {upload.name}; its columns are {_listing(check.columns)}."
    else:  # what validation would find later (empty labels, too many classes), said while the user is still here
        check.error = " ".join(label_problems(frame, label_col, model_task))
    if not check.error:
        candidates = [c for c in frame.columns if c != label_col]
        check.prediction_like = prediction_like_columns(frame, candidates=candidates, label_col=label_col,
                                                        model_task=model_task or MODEL_TASK_BINARY_CLASSIFICATION)
    return check


def check_predictions_upload(upload: UploadedFile, *, pred_col: str | None, label_col: str | None,
                             n_rows: int | None) -> UploadCheck:
    check = check_dataset_upload(upload, label_col=label_col)
    if check.error:
        return check
    if not check.columns:  # too large to read here: the registry's validation checks it
        check.prediction_column = pred_col or ""
        check.error = "" if pred_col else f"{upload.name} is large; type the prediction column."
        return check
    candidates = [c for c in check.columns if c != label_col]
    if pred_col and pred_col not in check.columns:
        check.error = f"Prediction column “{pred_col}” is not in {upload.name}; its columns are {_listing(check.columns)}."
    elif not pred_col and len(candidates) > 1:
        check.error = (f"{upload.name} has several columns ({_listing(candidates)}); type the prediction column.")
    elif n_rows is not None and check.rows is not None and check.rows != n_rows:
        check.error = (f"{upload.name} has {check.rows} predictions but the dataset has {n_rows} rows; give one "
                       "prediction per row, in the dataset's order.")
    else:
        check.prediction_column = pred_col or candidates[0]
    return check
