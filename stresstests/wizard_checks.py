"""What the wizard checks at each step, against what the earlier steps chose, so a submitted run never fails for a
reason the wizard could have seen.

Method.
- Data (web process; data only, never the user's code): the first HEAD_ROWS rows of both chosen datasets are read
  and put through run_data exactly as the worker will, then through the engine's own `check_datasets`, so a column
  the engine would refuse is found here. Columns on one side only get one-click fixes: use a datetime-like one as the
  timestamp column, or ignore it. Datetime-like means: stored as dates, or text of which at least 90 % of the
  non-empty values parse as dates (numbers are never taken for dates: epoch integers are too ambiguous).
- Model (a worker, through the `stresstests.check_draft_model` Celery job): the model is loaded in the sandbox and
  called on MODEL_CHECK_ROWS rows of the reference dataset as soon as one is chosen (before that, loaded only). The
  result is kept on the draft with the model and dataset it was made for, so a changed choice is checked afresh and
  a late answer for an old choice is dropped. The page polls.
- Bias and Fairness: protected features are proposed among the reference's columns whose name reads like a protected
  attribute (country, gender, sex, age, race, ...) and that take at most MAX_PROTECTED_VALUES distinct values.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import pandas as pd
from celery import current_app
from django.conf import settings
from django.db import transaction

from projects.registries import sources
from projects.models import Dataset, TestCategory, ValidityStatus
from stresstests.engine.columns import prediction_like_columns
from stresstests.engine.config import ColumnTypeInfo, DataParams
from stresstests.engine.errors import EngineError
from stresstests.engine.profile import infer_type
from stresstests.engine.vocabulary import MODEL_TASK_NATURAL_LANGUAGE_INFERENCE

from . import run_data
from .models import RunStatus, StressTestRun

HEAD_ROWS = 200
MODEL_CHECK_ROWS = 20
DATETIME_SHARE = 0.9
MAX_PROTECTED_VALUES = 20
PROTECTED_NAME = re.compile(
    r"(^|[^a-z])(country|nationality|gender|sex|age|age_group|race|ethnicity|ethnic|religion|marital|disability)"
    r"([^a-z]|$)", re.IGNORECASE,
)
CHECK_PENDING, CHECK_OK, CHECK_FAILED = "pending", "ok", "failed"
MODEL_CHECK_TASK_NAME = "stresstests.check_draft_model"


# ---- the data ----------------------------------------------------------------------------------------------------
@dataclass
class ColumnMismatch:
    column: str
    only_in: str  # "reference" or "evaluation"
    datetime_like: bool = False


@dataclass
class DataCheck:
    mismatches: list[ColumnMismatch] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what the engine would refuse, with no one-click fix
    timestamp_col: str = ""
    ignored: list[str] = field(default_factory=list)
    timestamp_proposals: list[str] = field(default_factory=list)
    feature_columns: list[str] = field(default_factory=list)
    protected_candidates: list[str] = field(default_factory=list)  # features the run keeps as inputs
    proposed_protected: list[str] = field(default_factory=list)

    @property
    def blocking(self) -> bool:
        return bool(self.mismatches or self.problems)


def dataset_head(dataset: Dataset, rows: int = HEAD_ROWS) -> pd.DataFrame:
    return sources.load_dataset_frame(dataset, nrows=rows)


def draft_data_check(run: StressTestRun) -> DataCheck | None:
    """The check of the draft's two datasets; None until both are chosen."""
    if run.reference_dataset_id is None or run.evaluation_dataset_id is None:
        return None
    run_params = run_data.run_level_params(run.config)
    check = DataCheck(timestamp_col=run_params.get("timestamp_col", ""), ignored=run_params.get("ignored_columns", []))
    try:
        reference, evaluation = dataset_head(run.reference_dataset), dataset_head(run.evaluation_dataset)
    except Exception as error:  # noqa: BLE001 - every read failure is the user's message
        check.problems.append(sources.data_load_error(error))
        return check
    reference, evaluation = run_data.aligned_frames(
        reference, evaluation, reference_params=run.reference_dataset.data_params,
        evaluation_params=run.evaluation_dataset.data_params, run_params=run_params)
    params = run_data.merged_data_params(run.reference_dataset.data_params, run.evaluation_dataset.data_params,
                                         run_params)
    task = run.project.model_task
    check.mismatches = _mismatches(reference, evaluation, params, task)
    # Text features in the wizard's words, before the engine meets them (a renamed text column is also a mismatch).
    check.problems = text_feature_problems({"reference": reference, "evaluation": evaluation},
                                           params.get("text_features") or [], task)
    if not check.mismatches and not check.problems:
        check.problems = _engine_problems(reference, evaluation, params, task)
    check.feature_columns = _feature_columns(reference, params)
    if not params.get("timestamp_col"):
        check.timestamp_proposals = [c for c in reference.columns if c in evaluation.columns and is_datetime_like(
            reference[c])]
    check.protected_candidates = _protected_candidates(reference, check, params, task)
    check.proposed_protected = proposed_protected_features(reference[check.protected_candidates])
    return check


def _protected_candidates(reference: pd.DataFrame, check: DataCheck, params: dict, model_task: str) -> list[str]:
    """The features Bias and Fairness may compare groups on: not the label, prediction or timestamp (already out of
    feature_columns), nor an ignored column, a date column, a text feature, or one the engine leaves out as model
    output."""
    kept = set(params.get("keep_as_features") or [])
    columns = [c for c in check.feature_columns if c not in check.ignored and c in reference.columns]
    model_output = {c["column"] for c in prediction_like_columns(
        reference, candidates=[c for c in columns if c not in kept], label_col=params.get("label_col"),
        model_task=model_task)}
    text = set(params.get("text_features") or [])   # free text has no groups: the engine refuses it
    return [c for c in columns if c not in model_output and c not in text and not is_datetime_like(reference[c])]


def _role_columns(params: dict) -> set[str]:
    pred = params.get("pred_col")
    preds = [pred] if isinstance(pred, str) else list(pred or [])
    return {c for c in (params.get("label_col"), params.get("timestamp_col"), *preds) if c}


def _mismatches(reference: pd.DataFrame, evaluation: pd.DataFrame, params: dict, model_task: str
                ) -> list[ColumnMismatch]:
    # The engine's rule (runner.check_datasets): label, prediction and timestamp may be on one side only, and a column
    # on one side that looks like model output is left out with a reason rather than failing the run.
    roles = _role_columns(params)
    found = []
    for side, frame, other in (("evaluation", evaluation, reference), ("reference", reference, evaluation)):
        only = [c for c in frame.columns if c not in other.columns and c not in roles]
        left_out = {c["column"] for c in prediction_like_columns(
            frame, candidates=[c for c in only if c not in (params.get("keep_as_features") or [])],
            label_col=params.get("label_col"), model_task=model_task)}
        found += [ColumnMismatch(str(c), side, is_datetime_like(frame[c])) for c in only if c not in left_out]
    return found


def _engine_problems(reference: pd.DataFrame, evaluation: pd.DataFrame, params: dict, model_task: str) -> list[str]:
    from stresstests.engine.runner import check_datasets

    try:
        data_params = DataParams.from_dict(params)
        check_datasets(reference, evaluation, data_params, model_task=model_task)
    except EngineError as error:
        return [str(error)]
    unknown = [c for c in params.get("protected_features") or [] if c not in reference.columns]
    return [f"Protected feature(s) {', '.join(unknown)} are not columns of the data."] if unknown else []


# ---- text features -----------------------------------------------------------------------------------------------
NOT_TEXT_TYPES = ("numeric", "boolean", "datetime")


def text_feature_count_problem(features: list[str], model_task: str) -> str:
    """NLI needs two text columns, premise then hypothesis; a classifier reads one or more."""
    if model_task == MODEL_TASK_NATURAL_LANGUAGE_INFERENCE and len(features) != 2:
        return ("Natural language inference needs two text columns, the premise then the hypothesis "
                f"(e.g. “premise, hypothesis”); {len(features)} given.")
    return ""


def column_kind(values: pd.Series) -> str:
    """The engine profile's type of a column (numeric, categorical, text, datetime, ...); a column stored as numbers,
    booleans or dates is that, even when the profile would call few distinct numbers categorical."""
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_numeric_dtype(values):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "datetime"
    return infer_type(values, ColumnTypeInfo())


def proposed_text_columns(frame: pd.DataFrame) -> list[str]:
    """Columns that read like free text (the profile's type "text": several words per value on average)."""
    return [str(c) for c in frame.columns if column_kind(frame[c]) == "text"]


def text_feature_problems(frames: dict[str, pd.DataFrame], features: list[str], model_task: str) -> list[str]:
    """A named text feature that is not a column of a dataset, or holds numbers, booleans or dates rather than text."""
    problems = [text_feature_count_problem(features, model_task)] if features else []
    for role, frame in frames.items():
        missing = [c for c in features if c not in frame.columns]
        if missing:
            problems.append(f"Text feature(s) {', '.join(f'“{c}”' for c in missing)} are not columns of the {role} "
                            f"dataset (its columns: {', '.join(map(str, frame.columns[:30]))}).")
        for column in [c for c in features if c in frame.columns]:
            kind = column_kind(frame[column])
            if kind in NOT_TEXT_TYPES:
                problems.append(f"Text feature “{column}” of the {role} dataset holds {kind} values, not text.")
    return [p for p in problems if p]


def _feature_columns(reference: pd.DataFrame, params: dict) -> list[str]:
    roles = _role_columns(params) | set(params.get("features_not_in_model") or [])
    return [str(c) for c in reference.columns if c not in roles]


def is_datetime_like(values: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(values):
        return True
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return False
    present = values.dropna().astype(str)
    present = present[present.str.strip() != ""]
    if present.empty or present.str.fullmatch(r"[+-]?\d+(\.\d+)?").mean() > 0.5:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(present, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= DATETIME_SHARE)


def proposed_protected_features(reference: pd.DataFrame) -> list[str]:
    return [str(c) for c in reference.columns
            if PROTECTED_NAME.search(str(c)) and reference[c].nunique(dropna=True) <= MAX_PROTECTED_VALUES]


def run_text_features(run: StressTestRun) -> list[str]:
    """The run's text columns: its own choice (the wizard's reference step), else the reference dataset's."""
    own = run_data.run_level_params(run.config).get("text_features")
    dataset = run.reference_dataset
    return own or ((dataset.data_params or {}).get("text_features") if dataset else []) or []


def is_text_run(run: StressTestRun) -> bool:
    return bool(run_text_features(run)) or run.project.model_task == MODEL_TASK_NATURAL_LANGUAGE_INFERENCE


def needs_protected_features(run: StressTestRun, categories: list[str]) -> bool:
    """Bias and Fairness is chosen but the run (or its project) names no protected feature. A text run needs none:
    its Bias and Fairness swaps words in the text, and the tabular fairness tests skip with their reason."""
    if TestCategory.BIAS_AND_FAIRNESS not in categories or is_text_run(run):
        return False
    own = run_data.run_level_params(run.config).get("protected_features")
    return not (own or (run.project.test_suite_config or {}).get("protected_features"))


# ---- the model ---------------------------------------------------------------------------------------------------
def model_check_key(run: StressTestRun) -> dict:
    return {"model_id": str(run.model_id) if run.model_id else None,
            "dataset_id": str(run.reference_dataset_id) if run.reference_dataset_id else None}


def model_check(run: StressTestRun) -> dict | None:
    """The model check made for the draft's current model and reference dataset, if any."""
    check = (run.checks or {}).get("model") or {}
    key = model_check_key(run)
    return check if all(check.get(name) == value for name, value in key.items()) else None


def model_check_failed(run: StressTestRun, *, with_dataset: bool) -> bool:
    check = model_check(run)
    if check is None or check.get("status") != CHECK_FAILED:
        return False
    return bool(check.get("dataset_id")) == with_dataset


def replaceable_model(run: StressTestRun):
    """The draft's own model when it failed its check: uploading it again under the same name replaces it."""
    if run.model_id is None or not model_check_failed(run, with_dataset=False):
        return None
    return run.model if run.model.created_at >= run.created_at else None


def model_check_start(*, run: StressTestRun) -> dict | None:
    """Queues the model check for the draft's current choice, unless it is done or under way."""
    if run.model_id is None:
        return None
    existing = model_check(run)
    if existing is not None and existing.get("status") in (CHECK_OK, CHECK_PENDING):
        return existing
    check = {**model_check_key(run), "status": CHECK_PENDING, "message": ""}
    run.checks = {**(run.checks or {}), "model": check}
    run.save(update_fields=["checks"])
    run_id = str(run.id)
    transaction.on_commit(lambda: _send(run_id))
    return check


def inherited_checks(source: StressTestRun) -> dict:
    """The checks an Edit-and-re-run draft starts with: the model check its run passed, so Next on an unchanged,
    valid model moves on at once instead of loading it in the sandbox again. The check is keyed by (model, reference
    dataset) like any other, so choosing another model or dataset in the draft is checked as usual."""
    own = (source.checks or {}).get("model") or {}
    if own.get("status") == CHECK_OK and all(own.get(name) == value for name, value in model_check_key(source).items()):
        return {"model": dict(own)}
    model_valid = source.model is not None and source.model.validity_status == ValidityStatus.VALID
    if source.status == RunStatus.SUCCEEDED and model_valid and source.reference_dataset_id:
        message = f"{source.model.name} ran in the sandbox on {source.reference_dataset.name} in “{source.name}”."
        return {"model": {**model_check_key(source), "status": CHECK_OK, "message": message}}
    return {}


def _send(run_id: str) -> None:
    # Sent by name, like queueing.enqueue_run: this module is used by the web side and must not import the tasks.
    # Under CELERY_TASK_ALWAYS_EAGER (send_task ignores it) the check runs here at commit, as an eager task would.
    if current_app.conf.task_always_eager:
        model_check_execute(run_id)
    else:
        current_app.send_task(MODEL_CHECK_TASK_NAME, args=[run_id])


def model_check_execute(run_id) -> None:
    """On a worker: loads the draft's model in the sandbox and calls it on a few reference rows; writes the result."""
    run = StressTestRun.objects.select_related("project", "model", "reference_dataset").filter(
        id=run_id, status=RunStatus.DRAFT).first()
    if run is None or run.model_id is None:
        return
    key = model_check_key(run)
    try:
        status, message = CHECK_OK, _load_and_call(run)
    except Exception as error:  # noqa: BLE001 - load, import and prediction errors are all the user's message
        status, message = CHECK_FAILED, sources.data_load_error(error)
    with transaction.atomic():
        current = StressTestRun.objects.select_for_update().filter(id=run.id).first()
        # The user may have chosen another model or dataset meanwhile: that choice has its own check.
        if current is None or model_check_key(current) != key:
            return
        current.checks = {**(current.checks or {}), "model": {**key, "status": status, "message": message[:2000]}}
        current.save(update_fields=["checks"])


def _load_and_call(run: StressTestRun) -> str:
    from stresstests.engine.sandbox import SandboxedModel
    from stresstests.engine.sandbox_folders import owned_temporary_folder

    model, dataset = run.model, run.reference_dataset
    with owned_temporary_folder("model") as folder:  # removed by a successor if this worker is killed
        path = sources.materialize_model(model, folder)
        if path is None:
            return f"{model.name} has no model artifact: the tests use registered predictions."
        if dataset is not None:
            sources.note_run_data(path, dataset.data_params or {})
        with SandboxedModel(path, model_task=run.project.model_task, load_timeout_s=120,
                            disk_limit_mb=settings.STRESS_TEST_SANDBOX_DISK_MB,
                            max_processes=settings.STRESS_TEST_SANDBOX_MAX_PROCESSES) as adapter:
            if dataset is None:
                return f"{model.name} loads in the sandbox; it is called on reference rows once you choose them."
            predictions = adapter.predict(model_rows(run, dataset_head(dataset, MODEL_CHECK_ROWS)))
    shown = ", ".join(f"{value:.3g}" for value in predictions.reshape(len(predictions), -1)[:3, 0])
    return f"{model.name} loads in the sandbox and scored {len(predictions)} rows of {dataset.name} ({shown}, …)."


def model_rows(run: StressTestRun, frame: pd.DataFrame) -> pd.DataFrame:
    """The columns the model receives in the run: the features (run_data's view of the reference)."""
    run_params = run_data.run_level_params(run.config)
    evaluation_params = run.evaluation_dataset.data_params if run.evaluation_dataset_id else {}
    params = run_data.merged_data_params(run.reference_dataset.data_params, evaluation_params, run_params)
    ignored = set(run_params.get("ignored_columns") or [])
    return frame[[c for c in _feature_columns(frame, params) if c not in ignored]]
