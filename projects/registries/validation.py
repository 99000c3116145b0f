"""Validation of registered datasets, models and predictions: load them (the model only in the sandbox), check the
columns and labels against the project, and record VALID or INVALID with a message. Run by the registry's Celery jobs
(tasks.py) on a worker; also callable directly."""
from __future__ import annotations

from django.conf import settings

from projects.models import Dataset, DatasetSource, ModelTask, Predictions, RegisteredModel, ValidityStatus
from stresstests.engine.data_stream import SOURCE_BYTES, stream_sampling
from stresstests.engine.errors import EngineError

from . import sources

VALIDATION_PREDICT_ROWS = 20


def set_validity(row, status: str, message: str, **fields) -> None:
    row.validity_status, row.validity_message = status, message[:2000]
    for name, value in fields.items():
        setattr(row, name, value)
    row.save(update_fields=["validity_status", "validity_message", *fields])


def dataset_validate(dataset: Dataset) -> Dataset:
    """Loads the dataset, checks the columns named in data_params and records row count, size and schema."""
    try:
        frame = sources.load_dataset_frame(dataset)
        problems = column_problems(list(frame.columns), dataset.data_params)
        problems += label_problems(frame, dataset.data_params.get("label_col"), dataset.project.model_task)
    except Exception as error:  # every failure becomes the user's message; nothing is re-raised to Celery
        set_validity(dataset, ValidityStatus.INVALID, sources.data_load_error(error))
        return dataset
    row_count = frame.attrs.get(sources.SOURCE_ROW_COUNT, len(frame))
    fields = {"row_count": row_count, "schema": frame_schema(frame), "size_bytes": _dataset_size(dataset, frame)}
    if problems:
        set_validity(dataset, ValidityStatus.INVALID, " ".join(problems), **fields)
    else:
        set_validity(dataset, ValidityStatus.VALID, _rows_message(frame, row_count), **fields)
    return dataset


def column_problems(columns: list[str], data_params: dict) -> list[str]:
    present, problems = set(columns), []
    for key in ("label_col", "timestamp_col", "pred_col"):
        value = data_params.get(key)
        for name in [value] if isinstance(value, str) else (value or []):
            if name not in present:
                problems.append(f"{key} “{name}” is not a column (columns: {', '.join(columns[:15])}).")
    for key in ("protected_features", "features_not_in_model", "categorical_features", "text_features"):
        missing = [name for name in data_params.get(key) or [] if name not in present]
        if missing:
            problems.append(f"{key} names missing columns: {', '.join(missing)}.")
    return problems


def _rows_message(frame, row_count: int) -> str:
    streamed = stream_sampling(frame)
    if streamed:  # too large for memory: the checks ran on a sample drawn while the file was read
        return f"{row_count:,} rows ({streamed['description']}; checked on those), {frame.shape[1]} columns."
    read = "" if row_count == len(frame) else f" ({len(frame):,} read: the row cap)"
    return f"{row_count:,} rows{read}, {frame.shape[1]} columns."


def label_problems(frame, label_col: str | None, model_task: str) -> list[str]:
    """A label a run could not score: missing values, or more than two classes in a binary project."""
    if not label_col or label_col not in frame.columns:
        return []
    labels = frame[label_col]
    problems = []
    if labels.isna().any():
        problems.append(f"Label column “{label_col}” has {int(labels.isna().sum())} empty values.")
    classes = labels.dropna().unique()
    if model_task == ModelTask.BINARY_CLASSIFICATION and len(classes) > 2:
        problems.append(f"Label column “{label_col}” has {len(classes)} distinct values; a binary classification "
                        "project needs two (0 and 1).")
    return problems


def frame_schema(frame) -> dict:
    return {"columns": [{"name": str(name), "dtype": str(dtype)} for name, dtype in frame.dtypes.items()]}


def _dataset_size(dataset: Dataset, frame) -> int:
    if dataset.source == DatasetSource.UPLOAD and dataset.file:
        try:
            return dataset.file.size
        except (OSError, FileNotFoundError):
            pass
    return int(frame.attrs.get(SOURCE_BYTES) or frame.memory_usage(deep=True).sum())   # streamed: the file's size


def model_validate(model: RegisteredModel) -> RegisteredModel:
    """Loads the model in the sandbox and predicts a few rows of a valid dataset of the project, if there is one."""
    try:
        message = _load_and_predict(model)
    except Exception as error:  # load, import and prediction errors all become the user's message
        set_validity(model, ValidityStatus.INVALID, sources.data_load_error(error))
        return model
    set_validity(model, ValidityStatus.VALID, message)
    return model


def _load_and_predict(model: RegisteredModel) -> str:
    from stresstests.engine.sandbox import SandboxedModel
    from stresstests.engine.sandbox_folders import owned_temporary_folder

    dataset = model.project.datasets.filter(validity_status=ValidityStatus.VALID).order_by("created_at").first()
    with owned_temporary_folder("model") as folder:  # removed by a successor if this worker is killed
        path = sources.materialize_model(model, folder)
        if path is None:
            return "No model artifact: tests use registered predictions only."
        if dataset is not None:
            sources.note_run_data(path, dataset.data_params or {})
        with SandboxedModel(path, model_task=model.project.model_task, load_timeout_s=120,
                            disk_limit_mb=settings.STRESS_TEST_SANDBOX_DISK_MB,
                            max_processes=settings.STRESS_TEST_SANDBOX_MAX_PROCESSES) as adapter:
            if dataset is None:
                return "Loaded. Register a dataset to check its predictions too."
            rows = model_inputs(sources.load_dataset_frame(dataset, nrows=VALIDATION_PREDICT_ROWS), dataset)
            predictions = adapter.predict(rows)
    return f"Loaded and predicted {len(predictions)} rows of {dataset.name}."


def model_inputs(frame, dataset: Dataset):
    """The columns a model receives: everything but label, predictions, timestamp and features_not_in_model."""
    params = dataset.data_params or {}
    pred_col = params.get("pred_col")
    dropped = {params.get("label_col"), params.get("timestamp_col"), *(params.get("features_not_in_model") or [])}
    dropped |= set([pred_col] if isinstance(pred_col, str) else pred_col or [])
    return frame[[c for c in frame.columns if c not in dropped]]


def predictions_validate(predictions: Predictions) -> Predictions:
    """One prediction per dataset row, numeric, in the pred_col named (or the only column)."""
    from stresstests.engine.data import predictions_from_frame

    try:
        frame = sources.load_predictions_frame(predictions)
        dataset = predictions.dataset
        if dataset.row_count is not None and len(frame) != dataset.row_count:
            raise EngineError(f"{len(frame)} predictions for {dataset.row_count} dataset rows; give one per row.")
        pred_col = predictions.pred_params.get("pred_col")
        columns = [pred_col] if pred_col else list(frame.columns)
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise EngineError(f"Prediction column {', '.join(missing)} is not in the predictions.")
        predictions_from_frame(frame, columns, predictions.model.project.model_task)
    except Exception as error:
        set_validity(predictions, ValidityStatus.INVALID, sources.data_load_error(error))
        return predictions
    set_validity(predictions, ValidityStatus.VALID, f"{len(frame):,} predictions.")
    return predictions
