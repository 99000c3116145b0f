"""Runs a stress test: sample, validate, profile once, predict once, run every selected test, build the report."""

from __future__ import annotations

import time
import zlib

import numpy as np
import pandas as pd

from stresstests.engine.base import (
    REGISTRY,
    Context,
    SamplingInfo,
    Schema,
    SkipTest,
    StressTest,
    TestResult,
)
from stresstests.engine.columns import prediction_like_columns
from stresstests.engine.config import DataParams, RunConfig
from stresstests.engine.data import predictions_from_frame, sample_rows
from stresstests.engine.data_stream import SOURCE_ROW_COUNT, stream_sampling
from stresstests.engine.errors import DataLoadError, EngineError
from stresstests.engine.models import ModelAdapter
from stresstests.engine.profile import build_profile
from stresstests.engine.progress import (
    KIND_DATA,
    KIND_MODEL,
    LogCallback,
    PlannedTest,
    ProgressCallback,
    RunProgress,
)
from stresstests.engine.ranking import (
    check_ranking_data, keeps_query_id, query_column, ranking_labels, sample_queries,
)
from stresstests.engine.report import build_report
from stresstests.engine.text_attributes import text_attributes
from stresstests.engine.vocabulary import (
    CATEGORY_DISPLAY_NAMES,
    CLASSIFICATION_TASKS,
    MODALITY_TABULAR,
    MODALITY_TEXT,
    MODEL_TASK_BINARY_CLASSIFICATION,
    MODEL_TASK_NATURAL_LANGUAGE_INFERENCE,
    MODEL_TASK_RANKING,
    MULTICLASS_TASKS,
    STATUS_COMPLETED,
    STATUS_ERROR,
    STATUS_SKIPPED,
)

# Each side is sampled with its own seed (the run's seed and this salt), so two copies of one file differ.
SAMPLE_SALTS = {"reference": 1, "evaluation": 2}


def run_stress_test(*, reference: pd.DataFrame, evaluation: pd.DataFrame, config: RunConfig,
                    data_params: DataParams, model_task: str, model: ModelAdapter | None = None,
                    progress: ProgressCallback | None = None,
                    reference_predictions: np.ndarray | None = None,
                    evaluation_predictions: np.ndarray | None = None,
                    run_notes: list[str] | None = None, log: LogCallback | None = None) -> dict:
    """The report dict (JSON-safe) of one stress test; see docs/report-schema.md.

    `progress(fraction, message)` hears each step and each test with the estimated time left; `log(line)` gets one
    line per step and per finished test (engine/progress.py says how the estimate is made)."""

    started = time.perf_counter()
    tracker = RunProgress(progress or (lambda fraction, message: None), log)
    ctx, sampling = build_context(
        reference=reference, evaluation=evaluation, config=config, data_params=data_params, model_task=model_task,
        model=model, reference_predictions=reference_predictions, evaluation_predictions=evaluation_predictions,
        tracker=tracker)
    results = run_tests(ctx, tracker)
    tracker.writing_report()
    report = build_report(ctx, results, sampling=sampling, duration_s=time.perf_counter() - started,
                          notes=run_notes or [])
    tracker.step("Done", 1.0)
    return report


def build_context(*, reference: pd.DataFrame, evaluation: pd.DataFrame, model_task: str,
                  config: RunConfig | None = None, data_params: DataParams | None = None,
                  model: ModelAdapter | None = None, reference_predictions: np.ndarray | None = None,
                  evaluation_predictions: np.ndarray | None = None, tracker: RunProgress | None = None
                  ) -> tuple[Context, dict[str, SamplingInfo]]:
    """Validated, sampled Context with profile, labels and predictions; also used by tests of single categories."""
    config = config or RunConfig()
    data_params = data_params or DataParams()
    tracker = tracker or RunProgress(lambda fraction, message: None)
    tracker.step("Checking and sampling the data", 0.01)
    check_model_task(model_task)
    one_sided = check_datasets(reference, evaluation, data_params, model_task=model_task)
    reference, evaluation, data_notes = clean_text_features(reference, evaluation, data_params)
    if model_task == MODEL_TASK_RANKING:
        check_ranking_data(reference, evaluation, data_params.ranking_info, data_params.label_col)
    sampled_reference, reference_rows = _sample(reference, config, data_params, salt=SAMPLE_SALTS["reference"],
                                                model_task=model_task)
    sampled_evaluation, evaluation_rows = _sample(evaluation, config, data_params, salt=SAMPLE_SALTS["evaluation"],
                                                  model_task=model_task)
    reference_predictions = _sampled_predictions(reference_predictions, reference_rows, len(reference), "reference")
    evaluation_predictions = _sampled_predictions(evaluation_predictions, evaluation_rows, len(evaluation),
                                                  "evaluation")
    schema = infer_schema(sampled_reference, data_params, config, model_task=model_task)
    known = {column["column"] for column in schema.left_out_columns}
    schema.left_out_columns += [column for column in one_sided if column["column"] not in known]
    one_sided_names = {column["column"] for column in one_sided}
    schema.inputs = [c for c in schema.model_inputs if c not in one_sided_names]   # the other side lacks it
    tracker.step(f"Profiling the reference data ({len(sampled_reference)} rows, {len(schema.tested_features)} "
                 "features)", 0.02)
    profile = build_profile(sampled_reference[[*schema.tested_features, *_label(schema)]],
                            settings=config.data_profiling, categorical_features=data_params.categorical_features,
                            text_features=data_params.text_features)
    schema.feature_types = {c: profile[c].type for c in schema.tested_features}
    class_names = _class_names(sampled_reference, sampled_evaluation, schema, model_task)
    schema.class_names = class_names
    ctx = Context(
        config=config, schema=schema, profile=profile, model_task=model_task,
        reference=sampled_reference, evaluation=sampled_evaluation,
        reference_labels=_labels(sampled_reference, schema, model_task),
        evaluation_labels=_labels(sampled_evaluation, schema, model_task),
        model=model, rng=np.random.default_rng(config.random_seed), notes=data_notes,
    )
    # Given predictions win over the model (see _base_predictions); only then is the model called here.
    scores = model is not None and schema.pred_col is None and evaluation_predictions is None
    if scores:
        tracker.step(f"Scoring {len(sampled_reference) + len(sampled_evaluation)} rows with the model", 0.03)
    ctx.reference_predictions = _base_predictions(ctx, sampled_reference, reference_predictions)
    scoring_started = time.perf_counter()
    ctx.evaluation_predictions = _base_predictions(ctx, sampled_evaluation, evaluation_predictions)
    if scores:
        tracker.scored(time.perf_counter() - scoring_started)
    _check_class_count(ctx)
    if ctx.modality == MODALITY_TEXT and any(MODALITY_TABULAR not in test.modalities for test in selected_tests(ctx)):
        # Shared by every text-only test: computed here, so no test is charged for it (a Model Performance-only text
        # run does not need it).
        tracker.step(f"Reading the texts of {len(ctx.reference) + len(ctx.evaluation)} rows (lengths, scripts, "
                     "languages, words)", 0.04)
        text_attributes(ctx)
    sampling = {"reference": _sampling_info(reference, sampled_reference),
                "evaluation": _sampling_info(evaluation, sampled_evaluation)}
    return ctx, sampling


def _sampling_info(frame: pd.DataFrame, sampled: pd.DataFrame) -> SamplingInfo:
    """Rows in the dataset and rows used; a file streamed while read counts every row read (data_stream.py)."""
    streamed = stream_sampling(frame)
    rows = frame.attrs.get(SOURCE_ROW_COUNT, len(frame)) if streamed else len(frame)
    return SamplingInfo(int(rows), len(sampled), streamed=dict(streamed) if streamed else None)


def sample_seed(random_seed: int, role: str) -> int:
    """The seed a dataset's rows are sampled with: also given to a streamed read, so the sample repeats."""
    return random_seed * 7919 + SAMPLE_SALTS[role]


def _labels(frame: pd.DataFrame, schema: Schema, model_task: str) -> np.ndarray | None:
    labels = encode_labels(frame, schema.label_col, model_task, schema.class_names)
    if model_task == MODEL_TASK_RANKING and schema.query_col:
        return ranking_labels(labels, frame[schema.query_col])   # [relevance, query] rows (see ranking.py)
    return labels


def check_model_task(model_task: str) -> None:
    from stresstests.engine.vocabulary import SUPPORTED_TASKS

    if model_task not in SUPPORTED_TASKS:
        raise EngineError(f"Unknown model task {model_task!r}; use one of {', '.join(sorted(SUPPORTED_TASKS))}.")


def check_datasets(reference: pd.DataFrame, evaluation: pd.DataFrame, data_params: DataParams, *,
                   model_task: str = MODEL_TASK_BINARY_CLASSIFICATION) -> list[dict]:
    """Raise DataLoadError when the two datasets cannot be compared or lack a named column. Returns the columns that
    are in one dataset only but look like model output (an evaluation file that carries the model's scores): those
    are left out with a reason instead of failing the run."""
    for name, frame in (("reference", reference), ("evaluation", evaluation)):
        if len(frame) == 0:
            raise DataLoadError(f"The {name} dataset has no rows.")
        if frame.columns.duplicated().any():
            duplicated = sorted(set(frame.columns[frame.columns.duplicated()]))
            raise DataLoadError(f"The {name} dataset has duplicate column names: {', '.join(map(str, duplicated))}.")
    label = data_params.label_col
    if label is not None and label not in reference.columns:
        raise DataLoadError(f"Label column {label!r} is not in the reference dataset; its columns are "
                            f"{_listing(reference.columns)}.")
    for column in _pred_columns(data_params):
        for name, frame in (("reference", reference), ("evaluation", evaluation)):
            if column not in frame.columns:
                raise DataLoadError(f"Prediction column {column!r} is not in the {name} dataset; its columns are "
                                    f"{_listing(frame.columns)}.")
    if data_params.timestamp_col and data_params.timestamp_col not in evaluation.columns:
        raise DataLoadError(f"Timestamp column {data_params.timestamp_col!r} is not in the evaluation dataset.")
    check_text_features(reference, evaluation, data_params, model_task)
    one_sided = _one_sided_prediction_like(reference, evaluation, data_params, model_task)
    _check_same_columns(reference, evaluation, data_params, {column["column"] for column in one_sided})
    return one_sided


def check_text_features(reference: pd.DataFrame, evaluation: pd.DataFrame, data_params: DataParams,
                        model_task: str) -> None:
    """data_params.text_features must name string columns of both datasets (numbers among the strings are read as
    text by clean_text_features; a column with no string at all is refused); natural language inference needs two
    (premise, then hypothesis)."""
    text_features = list(data_params.text_features or [])
    if model_task == MODEL_TASK_NATURAL_LANGUAGE_INFERENCE and len(text_features) != 2:
        raise DataLoadError("Natural language inference needs two text features, the premise and the hypothesis, in "
                            f"that order (data_params.text_features); got {len(text_features)}"
                            f"{': ' + ', '.join(map(str, text_features)) if text_features else ''}.")
    for name, frame in (("reference", reference), ("evaluation", evaluation)):
        missing = [c for c in text_features if c not in frame.columns]
        if missing:
            raise DataLoadError(f"Text feature(s) {', '.join(map(str, missing))} are not columns of the {name} "
                                f"dataset; its columns are {_listing(frame.columns)}.")
        for column in text_features:
            values = frame[column].dropna()
            if pd.api.types.is_string_dtype(values.dtype) and not pd.api.types.is_object_dtype(values.dtype):
                continue
            strings = values.map(lambda value: isinstance(value, str))
            if len(values) and not strings.any():
                raise DataLoadError(f"Text feature {column!r} of the {name} dataset holds values that are not text "
                                    f"(e.g. {values.iloc[0]!r} in row {values.index[0]}): it holds no text at all.")
            not_text = values[~(strings | values.map(_is_number))]
            if len(not_text):
                raise DataLoadError(f"Text feature {column!r} of the {name} dataset holds values that are not text "
                                    f"(e.g. {not_text.iloc[0]!r} in row {not_text.index[0]}, {len(not_text)} rows); "
                                    "a text feature holds strings or numbers (nulls are allowed).")


def _is_number(value) -> bool:
    """A number a CSV or JSON reader made of a text such as "2024" (read as text); True and False are not."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


_SURROGATES = r"[\ud800-\udfff]"   # lone surrogates: bytes decoded with errors="surrogateescape"; not encodable


def clean_text_features(reference: pd.DataFrame, evaluation: pd.DataFrame, data_params: DataParams
                        ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The datasets with their text features made text (after check_text_features): numbers become their text
    ("2024"), and lone surrogates, which no encoding can write, become U+FFFD; a run note says what was changed."""
    notes: list[str] = []
    cleaned = []
    for name, frame in (("reference", reference), ("evaluation", evaluation)):
        changes = {}
        for column in data_params.text_features or []:
            values = frame[column]
            present = values.notna()
            numbers = present & ~values.map(lambda value: isinstance(value, str))
            if numbers.any():
                values = values.astype(object).where(~numbers, values[numbers].map(_number_text))
                notes.append(f"Text feature {column!r} of the {name} dataset holds {int(numbers.sum())} numbers "
                             f"(e.g. {values[numbers].iloc[0]!r} in row {values[numbers].index[0]}); they are read "
                             "as text.")
            strings = values[present]
            surrogates = strings.str.contains(_SURROGATES, regex=True)
            if surrogates.any():
                rows = surrogates.index[surrogates.to_numpy(dtype=bool)]
                values = values.astype(object).copy()
                values[rows] = strings[rows].str.replace(_SURROGATES, "\ufffd", regex=True)
                notes.append(f"Text feature {column!r} of the {name} dataset holds characters that are not valid "
                             f"Unicode (lone surrogates, from bytes that were not UTF-8) in {len(rows)} rows (e.g. "
                             f"row {rows[0]}); they are replaced with U+FFFD.")
            if values is not frame[column]:
                changes[column] = values
        cleaned.append(frame.assign(**changes) if changes else frame)
    return cleaned[0], cleaned[1], notes


def _number_text(value) -> str:
    """2024 -> "2024", 2024.0 (an integer column with nulls, read as float) -> "2024", 3.5 -> "3.5"."""
    return str(int(value)) if float(value).is_integer() else str(value)


def _one_sided_prediction_like(reference: pd.DataFrame, evaluation: pd.DataFrame, data_params: DataParams,
                               model_task: str) -> list[dict]:
    roles = {data_params.label_col, data_params.timestamp_col, *_pred_columns(data_params),
             *data_params.keep_as_features}
    found = []
    for name, frame, other in (("reference", reference, evaluation), ("evaluation", evaluation, reference)):
        only = [c for c in frame.columns if c not in other.columns and c not in roles]
        for column in prediction_like_columns(frame, candidates=only, label_col=data_params.label_col,
                                              model_task=model_task):
            column["reason"] = column["reason"].replace("looks like model output",
                                                        f"(only in the {name} dataset) looks like model output"
                                                        ).replace(" (the model is still given it)", "")
            found.append(column)
    return found


def _check_same_columns(reference: pd.DataFrame, evaluation: pd.DataFrame, data_params: DataParams,
                        left_out: set[str] = frozenset()) -> None:
    # Label, prediction and timestamp columns may exist on one side only (e.g. an unlabelled evaluation set), and so
    # may a column that looks like model output (it is left out with a reason).
    ignored = {data_params.label_col, data_params.timestamp_col, *_pred_columns(data_params), *left_out}
    only_reference = [c for c in reference.columns if c not in evaluation.columns and c not in ignored]
    only_evaluation = [c for c in evaluation.columns if c not in reference.columns and c not in ignored]
    if only_reference or only_evaluation:
        parts = []
        if only_reference:
            parts.append(f"only in reference: {_listing(only_reference)}")
        if only_evaluation:
            parts.append(f"only in evaluation: {_listing(only_evaluation)}")
        raise DataLoadError("Reference and evaluation must have the same columns (" + "; ".join(parts) + "). "
                            "Name the label, prediction and timestamp columns, or drop the extra columns.")


def _listing(columns) -> str:
    columns = [str(c) for c in columns]
    return ", ".join(columns[:12]) + (f" and {len(columns) - 12} more" if len(columns) > 12 else "")


def _pred_columns(data_params: DataParams) -> list[str]:
    pred = data_params.pred_col
    if pred is None:
        return []
    return [pred] if isinstance(pred, str) else list(pred)


def _label(schema: Schema) -> list[str]:
    return [schema.label_col] if schema.label_col else []


def infer_schema(reference: pd.DataFrame, data_params: DataParams, config: RunConfig, *,
                 model_task: str = MODEL_TASK_BINARY_CLASSIFICATION) -> Schema:
    roles = {data_params.label_col, data_params.timestamp_col, query_column(data_params.ranking_info),
             *_pred_columns(data_params)}
    not_in_model = [c for c in data_params.features_not_in_model if c in reference.columns and c not in roles]
    features = [c for c in reference.columns if c not in roles and c not in not_in_model]
    unknown = [c for c in [*data_params.protected_features, *data_params.keep_as_features]
               if c not in reference.columns]
    if unknown:
        raise DataLoadError(f"Protected feature(s) or keep_as_features {', '.join(map(str, unknown))} are not columns "
                            "of the data.")
    free_text = [c for c in data_params.protected_features if c in set(data_params.text_features)]
    if free_text:
        # Groups of a free-text column are single rows: fairness "computed" on them means nothing.
        raise DataLoadError(f"Protected feature(s) {', '.join(map(str, free_text))} are text features (free text the "
                            "model reads): Bias and Fairness compares groups of a categorical column such as gender "
                            "or age group; remove them from protected_features.")
    left_out = _prediction_like(reference, features, data_params, model_task)
    inputs = list(features)   # a left-out column is still given to the model; it is only not tested
    if model_task == MODEL_TASK_RANKING and keeps_query_id(data_params.ranking_info):   # drop_query_id: false
        query = query_column(data_params.ranking_info)
        inputs = [c for c in reference.columns if c in set(features) or c == query]
    features = [c for c in features if c not in {column["column"] for column in left_out}]
    return Schema(
        label_col=data_params.label_col, pred_col=data_params.pred_col, timestamp_col=data_params.timestamp_col,
        features=features, protected_features=list(data_params.protected_features),
        features_not_in_model=not_in_model,
        excluded_columns=[c for c in config.global_exclude_columns if c in reference.columns],
        class_names=data_params.class_names, intersections=_intersections(data_params, reference),
        embeddings=_embeddings(data_params, reference),
        text_features=[c for c in data_params.text_features if c in reference.columns], query_col=query_column(data_params.ranking_info),
        left_out_columns=left_out, inputs=inputs,
    )


def _embeddings(data_params: DataParams, reference: pd.DataFrame) -> dict[str, list[str]]:
    """RIME's `embeddings: [{name, cols: [...]}]`: each names the numeric columns of one vector."""
    embeddings: dict[str, list[str]] = {}
    for position, entry in enumerate(data_params.embeddings):
        columns = entry.get("cols") if isinstance(entry, dict) else None
        if not isinstance(columns, (list, tuple)) or len(columns) < 2:
            raise DataLoadError(f"Each embedding needs `cols`, a list of at least two columns, got {entry!r}.")
        unknown = [c for c in columns if c not in reference.columns]
        if unknown:
            raise DataLoadError(f"Embedding column(s) {', '.join(map(str, unknown))} are not columns of the data.")
        not_numeric = [c for c in columns if not pd.api.types.is_numeric_dtype(reference[c])]
        if not_numeric:
            raise DataLoadError(f"Embedding column(s) {', '.join(map(str, not_numeric))} are not numeric.")
        name = str(entry.get("name") or f"embedding_{position}")
        if name in embeddings:
            raise DataLoadError(f"Two embeddings are named {name!r}.")
        embeddings[name] = [str(c) for c in columns]
    return embeddings


def _prediction_like(reference: pd.DataFrame, features: list[str], data_params: DataParams, model_task: str
                     ) -> list[dict]:
    """Columns that look like model output, unless the user kept them as features or made them protected."""
    kept = {*data_params.keep_as_features, *data_params.protected_features,
            *data_params.categorical_features, *data_params.text_features,
            *(column for entry in data_params.embeddings if isinstance(entry, dict) for column in entry.get("cols") or [])}
    candidates = [c for c in features if c not in kept]
    return prediction_like_columns(reference, candidates=candidates, label_col=data_params.label_col,
                                   model_task=model_task)


def _intersections(data_params: DataParams, reference: pd.DataFrame) -> list[list[str]]:
    """RIME's `intersections: [{features: [...]}]` (a plain list of names is accepted too)."""
    combinations = []
    for entry in data_params.intersections:
        features = entry.get("features") if isinstance(entry, dict) else entry
        if not isinstance(features, (list, tuple)) or len(features) < 2:
            raise DataLoadError(f"Each intersection needs a list of at least two features, got {entry!r}.")
        unknown = [f for f in features if f not in reference.columns]
        if unknown:
            raise DataLoadError(f"Intersection feature(s) {', '.join(map(str, unknown))} are not columns of the data.")
        combinations.append([str(f) for f in features])
    return combinations


def _sample(frame: pd.DataFrame, config: RunConfig, data_params: DataParams, *, salt: int,
            model_task: str = MODEL_TASK_BINARY_CLASSIFICATION) -> tuple[pd.DataFrame, np.ndarray]:
    """The sampled frame and the positions of its rows in the original. Ranking: first ranking_info's nqueries
    and nrows_per_query (whole queries, capped), then the row cap as for every task."""
    sampling = config.sampling
    cap = data_params.nrows or sampling.nrows or sampling.max_rows
    random = sampling.sample and data_params.sample
    seed = config.random_seed * 7919 + salt
    kept = np.arange(len(frame))
    if model_task == MODEL_TASK_RANKING and data_params.ranking_info:
        kept = sample_queries(frame, data_params.ranking_info, seed)
    positions = pd.DataFrame({"position": kept})
    chosen = sample_rows(positions, cap, seed=seed, random=random)["position"].to_numpy()
    if len(chosen) == len(frame):
        return frame.reset_index(drop=True), chosen
    return frame.iloc[chosen].reset_index(drop=True), chosen


def _sampled_predictions(predictions: np.ndarray | None, rows: np.ndarray, n_rows: int, name: str
                         ) -> np.ndarray | None:
    if predictions is None:
        return None
    predictions = np.asarray(predictions, dtype=float)
    if len(predictions) != n_rows:
        raise DataLoadError(f"There are {len(predictions)} {name} predictions for {n_rows} {name} rows; give one "
                            "prediction per row.")
    return predictions[rows]


def _base_predictions(ctx: Context, frame: pd.DataFrame, given: np.ndarray | None) -> np.ndarray | None:
    """Registered predictions win (as in RIME); else the prediction column; else the model; else none."""
    from stresstests.engine.models import validate_predictions

    if given is None and ctx.schema.pred_col is not None:
        columns = _pred_columns(DataParams(pred_col=ctx.schema.pred_col))
        if all(c in frame.columns for c in columns):
            given = predictions_from_frame(frame, columns, ctx.model_task)
    if given is not None:
        return validate_predictions(given, n_rows=len(frame), model_task=ctx.model_task)
    if ctx.model is not None:
        return ctx.predict(frame)
    return None


def _check_class_count(ctx: Context) -> None:
    if ctx.model_task not in MULTICLASS_TASKS or ctx.reference_predictions is None:
        return
    n_classes = ctx.reference_predictions.shape[1]
    for labels in (ctx.reference_labels, ctx.evaluation_labels):
        if labels is not None and np.nanmax(labels) >= n_classes:
            raise DataLoadError(f"Labels go up to class {int(np.nanmax(labels))} but the predictions have only "
                                f"{n_classes} class columns; give one probability column per class, in label order.")


def _class_names(reference: pd.DataFrame, evaluation: pd.DataFrame, schema: Schema, model_task: str
                 ) -> list[str] | None:
    if schema.class_names or model_task not in CLASSIFICATION_TASKS or not schema.label_col:
        return schema.class_names
    values = pd.concat([frame[schema.label_col] for frame in (reference, evaluation)
                        if schema.label_col in frame.columns]).dropna()
    if pd.api.types.is_numeric_dtype(values) or values.empty:
        return None
    return sorted(values.astype(str).unique())


def encode_labels(frame: pd.DataFrame, label_col: str | None, model_task: str, class_names: list[str] | None
                  ) -> np.ndarray | None:
    """Labels as floats (NaN where missing): class indices for classification, values for regression."""
    if not label_col or label_col not in frame.columns:
        return None
    raw = frame[label_col]
    if raw.isna().all():
        return None
    if class_names and not pd.api.types.is_numeric_dtype(raw):
        index = {name: position for position, name in enumerate(class_names)}
        labels = raw.astype(str).map(index).where(raw.notna())
        if labels.isna().sum() > raw.isna().sum():
            unknown = sorted(set(raw.dropna().astype(str)) - set(index))[:5]
            raise DataLoadError(f"Label values {', '.join(unknown)} are not among the class names.")
        return labels.to_numpy(dtype=float)
    labels = pd.to_numeric(raw, errors="coerce")
    if labels.isna().sum() > raw.isna().sum():
        if model_task == MODEL_TASK_RANKING:
            bad = sorted(set(raw[labels.isna() & raw.notna()].astype(str)))[:5]
            raise DataLoadError(f"Label column {label_col!r} holds values that are not numbers ({', '.join(bad)}); "
                                "ranking relevance grades must be numbers, higher = more relevant (e.g. 0-4).")
        raise DataLoadError(f"Label column {label_col!r} holds values that are not numbers; give class indices or "
                            "class names.")
    values = labels.to_numpy(dtype=float)
    _check_label_values(values, label_col, model_task)
    return values


def _check_label_values(values: np.ndarray, label_col: str, model_task: str) -> None:
    present = values[~np.isnan(values)]
    if model_task == MODEL_TASK_BINARY_CLASSIFICATION and not np.isin(present, (0, 1)).all():
        raise DataLoadError(f"Binary classification needs 0/1 labels, but {label_col!r} holds other values "
                            f"(e.g. {present[~np.isin(present, (0, 1))][0]:g}). Is the task multiclass or regression?")
    if model_task in MULTICLASS_TASKS and (np.mod(present, 1) != 0).any():
        raise DataLoadError(f"Multiclass labels must be class indices (integers); {label_col!r} holds fractions.")


# ---- running the tests ---------------------------------------------------------------------------------------------
def selected_tests(ctx: Context) -> list[type[StressTest]]:
    import stresstests.engine.categories  # noqa: F401  (fills the registry)

    chosen = [test for test in REGISTRY.values()
              if test.category in ctx.config.categories and ctx.model_task in test.tasks
              and ctx.modality in test.modalities
              and ctx.config.test_enabled(test.key, test.run_by_default)]
    order = {category: position for position, category in enumerate(ctx.config.categories)}
    return sorted(chosen, key=lambda test: order[test.category])


def inapplicable_tests(ctx: Context) -> list[type[StressTest]]:
    """Tests of the chosen categories that do not apply to the run's task and say why (`not_applicable`)."""
    import stresstests.engine.categories  # noqa: F401  (fills the registry)

    return [test for test in REGISTRY.values()
            if test.category in ctx.config.categories and ctx.model_task not in test.tasks
            and ctx.model_task in test.not_applicable and ctx.modality in test.modalities
            and ctx.config.test_enabled(test.key, test.run_by_default)]


def run_tests(ctx: Context, tracker: RunProgress) -> list[TestResult]:
    runnable = selected_tests(ctx)
    order = {category: position for position, category in enumerate(ctx.config.categories)}
    tests = sorted([*runnable, *inapplicable_tests(ctx)], key=lambda test: order[test.category])   # stable
    tracker.plan([PlannedTest(test.name, CATEGORY_DISPLAY_NAMES.get(test.category, test.category),
                              KIND_MODEL if "model" in test.requires else KIND_DATA) for test in tests])
    results = []
    for position, test in enumerate(tests):
        tracker.test_started(position)
        result = run_one(ctx, test) if test in runnable else not_applicable_result(ctx, test)
        tracker.test_finished(position, _outcome(result))
        results.append(result)
    from stresstests.engine.categories.tabular.model_performance import control_false_discoveries

    control_false_discoveries(results)   # Benjamini-Hochberg across the Model Performance metric tests
    return results


def not_applicable_result(ctx: Context, test: type[StressTest]) -> TestResult:
    task = ctx.model_task.removeprefix("MODEL_TASK_").replace("_", " ").lower()
    return TestResult(test, STATUS_SKIPPED, dict(test.default_params), test.thresholds,
                      reason=f"not applicable to {task} models: {test.not_applicable[ctx.model_task]}")


def _outcome(result: TestResult) -> str:
    if result.status == STATUS_SKIPPED:
        return f"skipped ({result.reason})"
    if result.status == STATUS_ERROR:
        return "could not run"
    return (result.severity or "SEVERITY_PASS").removeprefix("SEVERITY_").capitalize()


def run_one(ctx: Context, test: type[StressTest]) -> TestResult:
    params = ctx.config.params_for(test.key, test.default_params)
    thresholds = ctx.config.thresholds_for(test.key, test.thresholds,
                                           higher_is_worse=test.thresholds_higher_is_worse)
    missing = unmet_requirements(ctx, test)
    if missing:
        return TestResult(test, STATUS_SKIPPED, params, thresholds, reason=missing)
    # Each test draws from its own generator, so results do not depend on which other tests ran before it.
    ctx.rng = np.random.default_rng([ctx.config.random_seed, zlib.crc32(test.key.encode())])
    started = time.perf_counter()
    try:
        cases = test().run(ctx, params, thresholds)
    except SkipTest as reason:
        return TestResult(test, STATUS_SKIPPED, params, thresholds, duration_s=time.perf_counter() - started,
                          reason=str(reason))
    except Exception as error:  # one broken test must not stop the run (RIME's default, explicit_errors=false)
        if ctx.config.explicit_errors:
            raise
        message = str(error) if isinstance(error, EngineError) else f"{type(error).__name__}: {error}"
        return TestResult(test, STATUS_ERROR, params, thresholds, duration_s=time.perf_counter() - started,
                          reason=message)
    return TestResult(test, STATUS_COMPLETED, params, thresholds, cases, time.perf_counter() - started)


_REQUIREMENT_REASONS = {
    "labels": "needs labels in both datasets (set label_col)",
    "predictions": "needs predictions (a model, or a prediction column or file)",
    "model": "needs a callable model (predictions alone are not enough)",
    "protected_features": "needs protected features (data_params.protected_features)",
}


def unmet_requirements(ctx: Context, test: type[StressTest]) -> str | None:
    available = {
        "labels": ctx.has_labels,
        "predictions": ctx.has_predictions,
        "model": ctx.has_model,
        "protected_features": bool(ctx.schema.protected_features),
    }
    unmet = [_REQUIREMENT_REASONS[need] for need in sorted(test.requires) if not available[need]]
    return "; ".join(unmet) if unmet else None
