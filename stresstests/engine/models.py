"""Model adapters (one interface, `predict(frame) -> ndarray`), output validation and the prediction cache.

`load_model` loads IN THE CURRENT PROCESS; the worker and the CLI wrap it in `sandbox.SandboxedModel`.
Outputs are normalised: binary -> (n,) positive-class probability, multiclass -> (n, k), regression -> (n,).
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from stresstests.engine.vocabulary import (
    MODEL_TASK_BINARY_CLASSIFICATION, MULTICLASS_TASKS, SCORE_TASKS,
)
from stresstests.engine.errors import DataLoadError, ModelLoadError, ModelOutputError

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
SAFE_SKOPS_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.", "skops.")


@runtime_checkable
class ModelAdapter(Protocol):
    def predict(self, frame: pd.DataFrame) -> np.ndarray: ...


class FunctionModel:
    """Wraps `predict_df(df)` or `predict_dict(row)` of a user's model.py."""

    def __init__(self, predict_df: Callable | None = None, predict_dict: Callable | None = None,
                 *, model_task: str, folder: Path | None = None) -> None:
        self._predict_df, self._predict_dict = predict_df, predict_dict
        self.model_task, self.folder = model_task, folder
        self.source = "model.py"

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        with _working_directory(self.folder):
            if self._predict_df is not None:
                output = self._predict_df(frame)
            else:
                # predict_dict is one row per call by contract; the per-row loop is the user's choice of interface.
                output = [self._predict_dict(row) for row in frame.to_dict(orient="records")]
        return validate_predictions(output, n_rows=len(frame), model_task=self.model_task)


class EstimatorModel:
    """A scikit-learn-compatible estimator or pipeline: `predict_proba` for classification, else `predict`."""

    def __init__(self, estimator: Any, *, model_task: str, source: str = "pickle") -> None:
        self.estimator, self.model_task, self.source = estimator, model_task, source

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        classify = self.model_task not in SCORE_TASKS
        if classify and hasattr(self.estimator, "predict_proba"):
            output = self.estimator.predict_proba(frame)
        else:
            output = self.estimator.predict(frame)
        return validate_predictions(output, n_rows=len(frame), model_task=self.model_task)


class CatBoostModel:
    """A CatBoost model file; categorical features are passed as object columns with nulls filled, as trained."""

    def __init__(self, path: Path, *, model_task: str) -> None:
        from catboost import CatBoost

        self.model = CatBoost()
        try:
            self.model.load_model(str(path))
        except Exception as error:  # catboost raises its own CatBoostError for any malformed file
            raise ModelLoadError(f"{path.name} is not a CatBoost model file CatBoost can read: {error}") from None
        self.model_task, self.source = model_task, "catboost"
        self.feature_names = list(self.model.feature_names_ or [])
        self.cat_indices = list(self.model.get_cat_feature_indices())

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        from catboost import Pool

        data = self._prepared(frame)
        pool = Pool(data, cat_features=self.cat_indices or None)
        if self.model_task in SCORE_TASKS:
            output = self.model.predict(pool)
        else:
            output = self.model.predict(pool, prediction_type="Probability")
        return validate_predictions(output, n_rows=len(frame), model_task=self.model_task)

    def _prepared(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.feature_names and set(self.feature_names) <= set(frame.columns):
            data = frame[self.feature_names].copy()
        else:
            data = frame.copy()
        for index in self.cat_indices:
            column = data.columns[index]
            # CatBoost rejects NaN in categorical columns; the published example fills them with 0.
            data[column] = data[column].astype(object).where(data[column].notna(), 0).astype(str)
        return data


class BoosterModel:
    """XGBoost / LightGBM boosters loaded from their native files."""

    def __init__(self, predict_fn: Callable[[pd.DataFrame], Any], *, model_task: str, source: str) -> None:
        self._predict_fn, self.model_task, self.source = predict_fn, model_task, source

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return validate_predictions(self._predict_fn(frame), n_rows=len(frame), model_task=self.model_task)


def load_model(path: str | Path, *, model_task: str) -> ModelAdapter:
    """Load a model artifact in this process. Raises ModelLoadError with a message for the user."""
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"Model path {path} does not exist.")
    if path.is_dir():
        return _load_folder(path, model_task)
    suffix = "".join(path.suffixes[-1:]).lower()
    loader = _LOADERS.get(suffix)
    if loader is None:
        known = ", ".join(sorted(_LOADERS))
        raise ModelLoadError(f"Unsupported model file {path.name}: use one of {known} or a folder with model.py.")
    return loader(path, model_task)


def _load_folder(folder: Path, model_task: str) -> ModelAdapter:
    script = folder / "model.py"
    if not script.exists() and (folder / "config.json").is_file():
        from stresstests.engine.hugging_face import HuggingFaceModel  # imports torch: only for such folders

        return HuggingFaceModel(folder, model_task=model_task)
    if not script.exists():
        raise ModelLoadError(f"The model folder {folder} has no model.py defining predict_df(df) or predict_dict(row), "
                             "nor the config.json of a Hugging Face model saved with save_pretrained.")
    return _load_python(script, model_task)


def _load_python(script: Path, model_task: str) -> ModelAdapter:
    folder = script.resolve().parent
    module_name = f"rime_user_model_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(module_name, script)
    if spec is None or spec.loader is None:
        raise ModelLoadError(f"{script.name} cannot be imported as a Python module.")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(folder))  # model.py may import helper modules lying next to it
    try:
        with _working_directory(folder):
            spec.loader.exec_module(module)
    except Exception as error:
        raise ModelLoadError(f"Importing {script.name} failed: {type(error).__name__}: {error}") from None
    predict_df = getattr(module, "predict_df", None)
    predict_dict = getattr(module, "predict_dict", None)
    if not callable(predict_df) and not callable(predict_dict):
        raise ModelLoadError(f"{script.name} must define predict_df(df) or predict_dict(row); it defines neither.")
    if callable(predict_df):
        _check_arity(predict_df, "predict_df")
        return FunctionModel(predict_df=predict_df, model_task=model_task, folder=folder)
    _check_arity(predict_dict, "predict_dict")
    return FunctionModel(predict_dict=predict_dict, model_task=model_task, folder=folder)


def _check_arity(function: Callable, name: str) -> None:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return
    if len(parameters) == 0:
        raise ModelLoadError(f"{name} must take one argument (the rows to score), but it takes none.")


def _load_pickle(path: Path, model_task: str) -> ModelAdapter:
    from stresstests.engine.safe_pickle import load_pickle  # owned by the sandbox engineer; imported when needed

    estimator = load_pickle(path)
    if not (hasattr(estimator, "predict_proba") or hasattr(estimator, "predict")):
        raise ModelLoadError(f"{path.name} holds a {type(estimator).__name__}, which has neither predict_proba nor "
                             "predict. Pickle a fitted scikit-learn-compatible estimator or pipeline.")
    return EstimatorModel(estimator, model_task=model_task, source="pickle")


def _load_catboost(path: Path, model_task: str) -> ModelAdapter:
    return CatBoostModel(path, model_task=model_task)


def _require(package: str, suffix: str):
    try:
        return importlib.import_module(package)
    except ImportError:
        raise ModelLoadError(f"Loading {suffix} models needs the Python package {package!r}, which is not installed "
                             f"here. Install it, or wrap the model in a model.py.") from None


def _load_xgboost(path: Path, model_task: str) -> ModelAdapter:
    xgboost = _require("xgboost", path.suffix)
    booster = xgboost.Booster()
    try:
        booster.load_model(str(path))
    except Exception as error:
        raise ModelLoadError(f"{path.name} is not an XGBoost model file: {error}") from None

    def predict(frame: pd.DataFrame):
        return booster.predict(xgboost.DMatrix(frame, enable_categorical=True))

    return BoosterModel(predict, model_task=model_task, source="xgboost")


def _load_lightgbm(path: Path, model_task: str) -> ModelAdapter:
    lightgbm = _require("lightgbm", path.suffix)
    try:
        booster = lightgbm.Booster(model_file=str(path))
    except Exception as error:
        raise ModelLoadError(f"{path.name} is not a LightGBM model file: {error}") from None
    return BoosterModel(booster.predict, model_task=model_task, source="lightgbm")


def _load_skops(path: Path, model_task: str) -> ModelAdapter:
    skops_io = _require("skops.io", path.suffix)
    try:
        untrusted = skops_io.get_untrusted_types(file=str(path))
    except Exception as error:
        raise ModelLoadError(f"{path.name} is not a skops file: {error}") from None
    unsafe = [name for name in untrusted if not name.startswith(SAFE_SKOPS_PREFIXES)]
    if unsafe:
        raise ModelLoadError(f"{path.name} contains types outside scikit-learn, NumPy and SciPy that could run code: "
                             f"{', '.join(unsafe[:5])}. Save the model with standard estimators only.")
    estimator = skops_io.load(str(path), trusted=untrusted)
    return EstimatorModel(estimator, model_task=model_task, source="skops")


def _load_onnx(path: Path, model_task: str) -> ModelAdapter:
    onnxruntime = _require("onnxruntime", path.suffix)
    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:
        raise ModelLoadError(f"{path.name} is not an ONNX model onnxruntime can run: {error}") from None
    input_name = session.get_inputs()[0].name
    outputs = [o.name for o in session.get_outputs()]

    def predict(frame: pd.DataFrame):
        results = session.run(None, {input_name: frame.to_numpy(dtype=np.float32)})
        # Classifiers exported from scikit-learn return (labels, probabilities); take the probabilities.
        if model_task not in SCORE_TASKS and len(outputs) > 1:
            probabilities = results[1]
            if isinstance(probabilities, list):  # a list of {class: probability} dicts
                probabilities = pd.DataFrame(probabilities).to_numpy()
            return probabilities
        return results[0]

    return BoosterModel(predict, model_task=model_task, source="onnx")


_LOADERS: dict[str, Callable[[Path, str], ModelAdapter]] = {
    ".py": _load_python, ".pkl": _load_pickle, ".pickle": _load_pickle, ".joblib": _load_pickle,
    ".cbm": _load_catboost, ".catb": _load_catboost, ".json": _load_xgboost, ".ubj": _load_xgboost,
    ".txt": _load_lightgbm, ".skops": _load_skops, ".onnx": _load_onnx,
}


@contextlib.contextmanager
def _working_directory(folder: Path | None):
    if folder is None:
        yield
        return
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


# ---- output validation -------------------------------------------------------------------------------------------
def validate_predictions(predictions: Any, *, n_rows: int, model_task: str) -> np.ndarray:
    """Normalise and check a model's output; raise ModelOutputError saying what is wrong and how to fix it."""
    array = _as_float_array(predictions)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if model_task == MODEL_TASK_BINARY_CLASSIFICATION and array.ndim == 2 and array.shape[1] == 2:
        array = array[:, 1]
    if array.shape[0] != n_rows:
        raise ModelOutputError(f"The model returned {array.shape[0]} predictions for {n_rows} rows; return exactly "
                               "one prediction per input row.")
    _check_shape(array, model_task)
    bad = ~np.isfinite(array)
    if bad.any():
        raise ModelOutputError(f"The model returned {int(bad.any(axis=-1).sum() if array.ndim == 2 else bad.sum())} "
                               "NaN or infinite predictions; every row needs a finite prediction.")
    if model_task not in SCORE_TASKS:
        _check_probabilities(array, model_task)
    return array


def _as_float_array(predictions: Any) -> np.ndarray:
    if isinstance(predictions, (pd.DataFrame, pd.Series)):
        predictions = predictions.to_numpy()
    try:
        array = np.asarray(predictions)
    except ValueError:
        raise ModelOutputError("The model output is ragged (rows of different lengths); return a NumPy array.") from None
    if array.dtype == object and array.ndim == 1 and len(array) and isinstance(array[0], (list, np.ndarray)):
        try:
            array = np.vstack(array)
        except ValueError:
            raise ModelOutputError("The model returned class-probability lists of different lengths.") from None
    if array.dtype.kind in "US":
        raise ModelOutputError("The model returned strings; return numbers (probabilities for classification).")
    try:
        return array.astype(float)
    except (TypeError, ValueError):
        raise ModelOutputError("The model returned values that are not numbers (e.g. strings or objects); return "
                               "a NumPy array of floats.") from None


def _check_shape(array: np.ndarray, model_task: str) -> None:
    if model_task in MULTICLASS_TASKS:
        if array.ndim != 2 or array.shape[1] < 2:
            raise ModelOutputError(f"A multiclass model must return shape (n, num_classes) probabilities; got shape "
                                   f"{array.shape}.")
    elif array.ndim != 1:
        kind = "binary model must return the positive-class probability" if (
            model_task == MODEL_TASK_BINARY_CLASSIFICATION) else "regression or ranking model must return one number"
        raise ModelOutputError(f"A {kind} per row, shape (n,); got shape {array.shape}.")


def _check_probabilities(array: np.ndarray, model_task: str) -> None:
    outside = (array < 0) | (array > 1)
    if outside.any():
        raise ModelOutputError(f"{int(outside.sum())} predictions lie outside [0, 1]; a classifier must return "
                               "probabilities (e.g. predict_proba(...)[:, 1]), not scores, logits or labels.")
    if model_task in MULTICLASS_TASKS:
        sums = array.sum(axis=1)
        if np.abs(sums - 1).max() > 1e-3:
            raise ModelOutputError("Each row of multiclass probabilities must sum to 1; some rows sum to "
                                   f"{sums.min():.3f}-{sums.max():.3f}.")


# ---- prediction cache --------------------------------------------------------------------------------------------
_NULL_HASH = np.uint64(np.iinfo(np.uint64).max)   # what pandas' hashing gives every null


def column_hashes(values: pd.Series) -> np.ndarray:
    """pandas' row hashes of one column; string columns (the slow case) hash each distinct value once."""
    if pd.api.types.is_string_dtype(values.dtype) and (
            values.dtype != object or pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")):
        codes, distinct = pd.factorize(values, use_na_sentinel=True)
        distinct_hashes = pd.util.hash_array(np.asarray(distinct, dtype=object), categorize=False)
        return np.append(distinct_hashes, _NULL_HASH)[codes]   # code -1 (null) takes the appended null hash
    return pd.util.hash_pandas_object(values, index=False).to_numpy()


def _combined(per_column: list[np.ndarray]) -> np.ndarray:
    """Row hashes from column hashes. Only compared within one cache, so any fixed way of mixing will do."""
    combined = np.zeros(len(per_column[0]) if per_column else 0, dtype=np.uint64)
    for hashes in per_column:
        combined = combined * np.uint64(1_000_003) ^ hashes   # wrapping multiply: order-sensitive mix
    return combined


def _same_memory(a: pd.Series, b: pd.Series) -> bool:
    """True when two NumPy-backed columns are views of the very same memory (so hold the same values)."""
    if not (isinstance(a.dtype, np.dtype) and a.dtype == b.dtype and len(a) == len(b)):
        return False
    x, y = a.to_numpy(), b.to_numpy()   # views, not copies, for NumPy-backed columns
    return (x.__array_interface__["data"][0] == y.__array_interface__["data"][0] and x.strides == y.strides)


class PredictionCache:
    """Scores each distinct row (by content of the model's features) once, in one batched call per request."""

    def __init__(self, model: ModelAdapter, *, features: list[str], model_task: str) -> None:
        self.model, self.features, self.model_task = model, list(features), model_task
        self._hashes = np.empty(0, dtype=np.uint64)
        self._values: np.ndarray | None = None
        self._index = pd.Index(self._hashes)
        self.calls = 0
        self.rows_scored = 0
        self.seconds = 0.0

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        self._check_columns(frame)
        if len(frame) == 0:
            return self._empty()
        return self._lookup(self._row_hashes(frame), lambda: frame)

    def predict_batch(self, base: pd.DataFrame, variants: list[pd.DataFrame]) -> np.ndarray:
        """Predictions of `variants` stacked in order, as `predict(pd.concat(variants))` gives them.

        A variant column that is `base`'s own column (the same memory: a copy-on-write copy of `base` with other
        columns replaced) reuses base's hashes, so a batch of one-column changes hashes little more than the
        changed columns; the variants are concatenated only when some rows are new to the cache.
        """
        for variant in variants:
            self._check_columns(variant)
        if sum(len(variant) for variant in variants) == 0:
            return self._empty()
        base_hashes: dict[str, np.ndarray] = {}   # per call: a frame may change between calls

        def hashes_of(variant: pd.DataFrame, column: str) -> np.ndarray:
            if column in base.columns and _same_memory(variant[column], base[column]):
                if column not in base_hashes:
                    base_hashes[column] = column_hashes(base[column])
                return base_hashes[column]
            return column_hashes(variant[column])

        hashes = _combined([np.concatenate([hashes_of(variant, column) for variant in variants])
                            for column in self.features])
        return self._lookup(hashes, lambda: pd.concat(variants, ignore_index=True))

    def _check_columns(self, frame: pd.DataFrame) -> None:
        missing_columns = [c for c in self.features if c not in frame.columns]
        if missing_columns:
            raise DataLoadError(f"Rows to score lack the model's feature columns: {', '.join(missing_columns)}.")

    def _lookup(self, hashes: np.ndarray, rows: Callable[[], pd.DataFrame]) -> np.ndarray:
        """Cached predictions per row hash; `rows()` (the rows themselves) is built only when some are new."""
        positions = self._index.get_indexer(hashes)
        new = positions < 0
        if new.any():
            positions[new] = self._score_new(rows(), hashes, new)
        return self._values[positions]

    def _row_hashes(self, frame: pd.DataFrame) -> np.ndarray:
        """One 64-bit hash per row of the model's feature columns, column by column (no sub-frame is built)."""
        return _combined([column_hashes(frame[column]) for column in self.features])

    def _score_new(self, frame: pd.DataFrame, hashes: np.ndarray, new: np.ndarray) -> np.ndarray:
        """Scores the first row of each new content and returns every new row's position in _values."""
        new_rows = np.flatnonzero(new)
        distinct, first, inverse = np.unique(hashes[new_rows], return_index=True, return_inverse=True)
        # Distinct rows go to the model in the frame's own order: when every row is new and distinct (the datasets
        # themselves), the feature columns are passed as they are, without a reordering copy.
        order = np.argsort(first)
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        positions = new_rows[first[order]]
        new_hashes = distinct[order]
        inputs = frame[self.features]
        if len(positions) == len(frame):
            rows = inputs.reset_index(drop=True)
        else:
            rows = inputs.iloc[positions].reset_index(drop=True)
        started = time.perf_counter()
        try:
            values = validate_predictions(self.model.predict(rows), n_rows=len(rows), model_task=self.model_task)
        finally:
            # A call that raises (a crash on a corrupted value) was still spent inside the model.
            self.seconds += time.perf_counter() - started
        self.calls += 1
        self.rows_scored += len(rows)
        offset = len(self._hashes)
        self._hashes = np.concatenate([self._hashes, new_hashes])
        self._values = values if self._values is None else np.concatenate([self._values, values])
        self._index = pd.Index(self._hashes)
        return offset + rank[inverse]

    def _empty(self) -> np.ndarray:
        if self._values is not None:
            return self._values[:0]
        return np.empty((0,), dtype=float)
