"""Writes of stress-test runs: the wizard's draft, submission, cancel, re-run, the API's start, and execution.

Views, the API and the Celery task all call these functions; none of them holds the logic itself.
"""
from __future__ import annotations

import copy
import logging
import tempfile
import threading
import time
import traceback
from dataclasses import fields
from pathlib import Path
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from projects import registry
from projects.models import Dataset, DatasetSource, ModelSource, Predictions, Project, RegisteredModel, ValidityStatus
from projects.services import audit
from stresstests.engine.config import DataParams, RunConfig
from stresstests.engine.errors import ConfigError, DataLoadError, EngineError

from .models import ACTIVE_STATUSES, ConfigMode, RunStatus, StressTestReport, StressTestRun
from .recovery import time_limits_from_config, worker_identity
from .wizard import CONFIGURED_MARK

logger = logging.getLogger(__name__)

DATASET_ROLES = ("reference", "evaluation")
# How often the worker writes progress (and reads the cancel flag) at most, and how often it beats its heart.
PROGRESS_WRITE_INTERVAL_S = 0.5
HEARTBEAT_INTERVAL_S = 5.0
MAX_LOG_CHARS = 200_000
RERUN_SUFFIX = " (re-run)"


class RunCancelled(Exception):
    """Raised inside the engine's progress callback to stop a run whose cancel was requested."""


class RunTimedOut(Exception):
    """The run went past STRESS_TEST_SOFT_TIME_LIMIT."""


def default_run_name(project: Project) -> str:
    return f"{project.name} - {timezone.localtime():%Y-%m-%d %H:%M}"


def _require_draft(run: StressTestRun) -> None:
    if run.status != RunStatus.DRAFT:
        raise ValidationError("This stress test was already submitted; use Re-run to change its configuration.")


# ---- the draft ---------------------------------------------------------------------------------------------------
def run_create_draft(*, user, project: Project) -> StressTestRun:
    run = StressTestRun.objects.create(project=project, name=default_run_name(project), created_by=user)
    audit(actor=user, action="stresstest.draft", obj=run, workspace=project.workspace)
    return run


def run_save_configuration(*, user, run: StressTestRun, config_mode: str, categories: list[str], name: str,
                           random_seed: int | None, global_test_sensitivity: str = "") -> StressTestRun:
    """Step 1. Custom keeps its categories; both modes keep the advanced options (seed, sensitivity)."""
    _require_draft(run)
    config: dict = {}
    if config_mode == ConfigMode.CUSTOM:
        config["categories"] = list(categories)
    if global_test_sensitivity:
        config["test_suite_config"] = {"global_test_sensitivity": global_test_sensitivity}
    if random_seed is not None:
        config["run_time_info"] = {"random_seed": random_seed}
    run.config_mode, run.config, run.name = config_mode, config, name.strip()
    run.wizard_step = run.wizard_step or CONFIGURED_MARK
    run.save(update_fields=["config_mode", "config", "name", "wizard_step"])
    return run


def run_set_model(*, user, run: StressTestRun, model: RegisteredModel) -> StressTestRun:
    _require_draft(run)
    if model.project_id != run.project_id:
        raise ValidationError({"model": "Choose a model of this project."})
    run.model = model
    # Predictions belong to a (model, dataset) pair: a new model brings its own, or none.
    run.reference_predictions = _registered_predictions(model, run.reference_dataset)
    run.evaluation_predictions = _registered_predictions(model, run.evaluation_dataset)
    run.save(update_fields=["model", "reference_predictions", "evaluation_predictions"])
    return run


def run_set_dataset(*, user, run: StressTestRun, role: str, dataset: Dataset,
                    predictions: Predictions | None = None) -> StressTestRun:
    _require_draft(run)
    if role not in DATASET_ROLES:
        raise ValueError(f"Unknown dataset role {role!r}")
    if dataset.project_id != run.project_id:
        raise ValidationError({"dataset": "Choose a dataset of this project."})
    predictions = predictions or _registered_predictions(run.model, dataset)
    setattr(run, f"{role}_dataset", dataset)
    setattr(run, f"{role}_predictions", predictions)
    run.save(update_fields=[f"{role}_dataset", f"{role}_predictions"])
    return run


def _registered_predictions(model: RegisteredModel | None, dataset: Dataset | None) -> Predictions | None:
    if model is None or dataset is None:
        return None
    return Predictions.objects.filter(model=model, dataset=dataset).first()


@transaction.atomic
def run_register_model(*, user, run: StressTestRun, source: str, name: str, tags: list[str],
                       files=None, registry_name: str = "", uri: str = "") -> RegisteredModel:
    """Registers the uploaded or registry model (projects.registry) and puts it on the draft."""
    _require_draft(run)
    if source == "registry":
        model = registry.model_register_from_registry(
            user=user, project=run.project, name=name, registry=registry_name, model_uri=uri, tags=tags
        )
    else:
        model = registry.model_register(
            user=user, project=run.project, name=name, tags=tags, source=ModelSource.UPLOAD, files=files
        )
    run_set_model(user=user, run=run, model=model)
    return model


@transaction.atomic
def run_register_dataset(*, user, run: StressTestRun, role: str, source: str, name: str, data_params: dict,
                         file=None, connection_name: str = "", table_name: str = "",
                         predictions: dict | None = None) -> Dataset:
    """Registers an uploaded file or a connection table as a dataset (with optional predictions) for the draft.

    `predictions` holds predictions_register's keyword arguments (source, pred_params, file, integration,
    table_name); the model is the draft's.
    """
    _require_draft(run)
    if source == DatasetSource.TABLE:
        dataset = registry.dataset_register_from_table(
            user=user, project=run.project, name=name, integration_name=connection_name, table_name=table_name,
            data_params=data_params,
        )
    else:
        dataset = registry.dataset_register(
            user=user, project=run.project, name=name, source=DatasetSource.UPLOAD, data_params=data_params, file=file
        )
    try:
        registered_predictions = None
        if predictions:
            if run.model is None:
                raise ValidationError("Choose the model first: predictions belong to a model.")
            registered_predictions = registry.predictions_register(user=user, model=run.model, dataset=dataset,
                                                                   **predictions)
        run_set_dataset(user=user, run=run, role=role, dataset=dataset, predictions=registered_predictions)
    except Exception:
        # The rows roll back with this transaction, but the dataset's uploaded file is already in storage.
        if dataset.file:
            dataset.file.storage.delete(dataset.file.name)
        raise
    return dataset


def unique_dataset_name(project: Project, wanted: str) -> str:
    names = set(project.datasets.filter(name__startswith=wanted).values_list("name", flat=True))
    if wanted not in names:
        return wanted
    return next(f"{wanted} {n}" for n in range(2, len(names) + 3) if f"{wanted} {n}" not in names)


# ---- configuration -----------------------------------------------------------------------------------------------
def effective_test_run_config(run: StressTestRun) -> dict:
    """RIME's test_run_config for the run: the project's configuration, overridden by what the run itself says.

    From Project Configuration takes the project's categories; Custom its own. Advanced options (seed, sensitivity)
    apply in both. Protected features travel in data_params, as in RIME.
    """
    project, own = run.project, copy.deepcopy(run.config or {})
    suite = {**(project.test_suite_config or {}), **(own.get("test_suite_config") or {})}
    protected = suite.pop("protected_features", None) or (own.get("data_params") or {}).get("protected_features") or []
    custom = run.config_mode == ConfigMode.CUSTOM and own.get("categories")
    return {
        "run_name": run.name,
        "model_id": str(run.model_id) if run.model_id else None,
        "data_info": {"ref_dataset_id": _id(run.reference_dataset_id), "eval_dataset_id": _id(run.evaluation_dataset_id)},
        "categories": list(own["categories"] if custom else project.stress_test_categories),
        "test_suite_config": suite,
        "profiling_config": own.get("profiling_config") or {},
        "run_time_info": own.get("run_time_info") or {},
        "data_params": {"protected_features": list(protected)},
    }


def _id(value) -> str | None:
    return str(value) if value else None


def parse_run_config(test_run_config: dict) -> tuple[RunConfig, list[str]]:
    """The engine's typed RunConfig and the protected features of a stored test_run_config."""
    raw = copy.deepcopy(test_run_config or {})
    data_params = raw.pop("data_params", None) or {}
    suite = dict(raw.get("test_suite_config") or {})
    protected = suite.pop("protected_features", None) or data_params.get("protected_features") or []
    raw["test_suite_config"] = suite
    time_limits_from_config(raw)  # refuses a bad run_time_info.time_limit_s at submission
    return RunConfig.from_dict(raw), list(protected)


# ---- submission --------------------------------------------------------------------------------------------------
def submission_problems(run: StressTestRun) -> list[str]:
    """Everything that stops the draft from running, re-checked at submission whatever the steps said before."""
    problems = []
    if not run.wizard_step:
        problems.append("Choose a test configuration.")
    if run.model_id is None:
        problems.append("Choose a model.")
    elif run.model.validity_status == ValidityStatus.INVALID:
        problems.append(f"Model {run.model.name} is invalid: {run.model.validity_message}")
    for role in DATASET_ROLES:
        dataset = getattr(run, f"{role}_dataset")
        if dataset is None:
            problems.append(f"Choose the {role} dataset.")
        elif dataset.project_id != run.project_id:
            problems.append(f"The {role} dataset belongs to another project.")
        elif dataset.validity_status == ValidityStatus.INVALID:
            problems.append(f"Dataset {dataset.name} is invalid: {dataset.validity_message}")
    if run.model_id and run.model.project_id != run.project_id:
        problems.append("The model belongs to another project.")
    try:
        parse_run_config(effective_test_run_config(run))
    except ConfigError as error:
        problems.append(str(error))
    return problems


def run_submit(*, user, run: StressTestRun) -> StressTestRun:
    """Re-validates the draft, queues it (on commit) and returns it with status Queued."""
    with transaction.atomic():
        run = StressTestRun.objects.select_for_update(of=("self",)).select_related(
            "project__workspace", "model", "reference_dataset", "evaluation_dataset"
        ).get(pk=run.pk)
        _require_draft(run)
        problems = submission_problems(run)
        if problems:
            raise ValidationError(problems)
        run.config = effective_test_run_config(run)
        run.status, run.progress, run.current_test, run.error, run.log = RunStatus.REQUESTED, 0.0, "", "", ""
        run.cancel_requested = False
        run.save()
        audit(actor=user, action="stresstest.submit", obj=run, workspace=run.project.workspace)
        _enqueue(run)
    return run


def _enqueue(run: StressTestRun) -> None:
    from .tasks import run_stress_test

    StressTestRun.objects.filter(id=run.id).update(enqueued_at=timezone.now())  # see recovery.requeue_lost_runs
    queue = run.project.workspace.celery_queue
    if queue:  # a workspace pinned to its own worker (RIME's agent)
        transaction.on_commit(lambda: run_stress_test.apply_async(args=[str(run.id)], queue=queue))
    else:
        run_stress_test.delay_on_commit(str(run.id))


def run_start_from_config(*, user, project: Project, test_run_config: dict) -> StressTestRun:
    """Starts a run from RIME's test_run_config (the API's start_stress_test). Raises ValidationError."""
    config = copy.deepcopy(test_run_config or {})
    if not isinstance(config, dict):
        raise ValidationError("test_run_config must be a JSON object.")
    name = str(config.pop("run_name", "") or "").strip()
    if not name:
        raise ValidationError({"run_name": "run_name is required."})
    model = _project_row(project.models, config.pop("model_id", None), "model_id", "model")
    data_info = config.pop("data_info", None) or {}
    reference = _project_row(project.datasets, data_info.get("ref_dataset_id"), "ref_dataset_id", "dataset")
    evaluation = _project_row(project.datasets, data_info.get("eval_dataset_id"), "eval_dataset_id", "dataset")
    custom = any(config.get(key) for key in ("categories", "test_suite_config", "profiling_config"))
    try:
        parse_run_config(config)
    except ConfigError as error:
        raise ValidationError({"test_run_config": str(error)}) from None
    with transaction.atomic():
        run = StressTestRun.objects.create(
            project=project, name=name[:200], created_by=user, config=config, wizard_step=CONFIGURED_MARK,
            config_mode=ConfigMode.CUSTOM if custom else ConfigMode.PROJECT, model=model,
            reference_dataset=reference, evaluation_dataset=evaluation,
            reference_predictions=_registered_predictions(model, reference),
            evaluation_predictions=_registered_predictions(model, evaluation),
        )
        return run_submit(user=user, run=run)


def _project_row(queryset, raw_id, field: str, kind: str):
    try:
        row = queryset.filter(id=UUID(str(raw_id))).first() if raw_id else None
    except ValueError:
        row = None
    if row is None:
        raise ValidationError({field: f"No {kind} with id {raw_id!r} in this project."})
    return row


# ---- cancel and re-run -------------------------------------------------------------------------------------------
def run_cancel(*, user, run: StressTestRun) -> StressTestRun:
    """A queued run is cancelled at once; a running one is asked to stop (the worker sees the flag within a second)."""
    now = timezone.now()
    not_started = StressTestRun.objects.filter(id=run.id, status__in=(RunStatus.REQUESTED, RunStatus.PENDING))
    if not not_started.update(status=RunStatus.CANCELLED, cancel_requested=True, finished_at=now, current_test=""):
        if not StressTestRun.objects.filter(id=run.id, status=RunStatus.RUNNING).update(cancel_requested=True):
            raise ValidationError("This stress test is not queued or running, so there is nothing to cancel.")
    audit(actor=user, action="stresstest.cancel", obj=run, workspace=run.project.workspace)
    run.refresh_from_db()
    return run


def run_rerun(*, user, run: StressTestRun) -> StressTestRun:
    """A new draft with the run's configuration, model and datasets; the wizard opens on it for review."""
    if run.status == RunStatus.DRAFT or run.status in ACTIVE_STATUSES:
        raise ValidationError("Only a finished stress test can be re-run.")
    base_name = run.name.removesuffix(RERUN_SUFFIX)
    draft = StressTestRun.objects.create(
        project=run.project, name=(base_name[: 200 - len(RERUN_SUFFIX)] + RERUN_SUFFIX), created_by=user,
        config_mode=run.config_mode, config=copy.deepcopy(run.config), wizard_step=CONFIGURED_MARK,
        model=run.model, reference_dataset=run.reference_dataset, evaluation_dataset=run.evaluation_dataset,
        reference_predictions=run.reference_predictions, evaluation_predictions=run.evaluation_predictions,
        rerun_of=run,
    )
    audit(actor=user, action="stresstest.rerun", obj=draft, workspace=run.project.workspace, rerun_of=str(run.id))
    return draft


# ---- execution (the Celery task's body) --------------------------------------------------------------------------
def run_claim(run_id) -> bool:
    """Only one worker runs a run: the conditional update succeeds once, for a run that is still queued."""
    now = timezone.now()
    return bool(StressTestRun.objects.filter(id=run_id, status=RunStatus.REQUESTED, cancel_requested=False).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now, worker=worker_identity()
    ))


def run_execute(run_id) -> None:
    """Claims the run, runs the engine on its data and model, writes progress, log, report and summary."""
    if not run_claim(run_id):
        logger.info("Stress test %s is not queued any more (cancelled or taken); skipped.", run_id)
        return
    run = StressTestRun.objects.select_related(
        "project", "model", "reference_dataset", "evaluation_dataset", "reference_predictions", "evaluation_predictions"
    ).get(id=run_id)
    execution = Execution(run)
    try:
        with execution.heartbeat():
            report = execution.run_engine()
    except BaseException as error:  # noqa: BLE001 - every way out is written on the row
        execution.finish_with_error(error)
        if not isinstance(error, Exception):
            raise
        return
    execution.finish(report)


class Execution:
    """One run on a worker: progress throttling, cancel checks, heartbeat, the model's log, the final write."""

    def __init__(self, run: StressTestRun) -> None:
        self.run = run
        self.limits = time_limits_from_config(run.config)  # the server's, or shorter ones the run asked for
        self.deadline = time.monotonic() + self.limits.soft_s
        self.hard_deadline = time.monotonic() + self.limits.hard_s
        self.cancel_seen = threading.Event()
        self.timed_out = threading.Event()
        self.model = None
        self._log_lock = threading.Lock()
        self._log_lines: list[str] = []
        self._last_write = 0.0

    # -- the model's output and our own notes, shown on the run page
    def log(self, line: str) -> None:
        with self._log_lock:
            self._log_lines.append(text_for_database(line.rstrip("\n")))

    def log_text(self) -> str:
        with self._log_lock:
            text = "\n".join(self._log_lines)
        return text if len(text) <= MAX_LOG_CHARS else "[earlier lines cut]\n" + text[-MAX_LOG_CHARS:]

    def _running(self):
        return StressTestRun.objects.filter(id=self.run.id, status=RunStatus.RUNNING)

    # -- progress, called by the engine between steps
    def progress(self, fraction: float, current: str) -> None:
        if self.cancel_seen.is_set():
            raise RunCancelled()
        if time.monotonic() > self.deadline:
            raise RunTimedOut()
        now = time.monotonic()
        if now - self._last_write < PROGRESS_WRITE_INTERVAL_S and fraction < 1.0:
            return
        self._last_write = now
        self._running().update(progress=max(0.0, min(fraction, 1.0)), current_test=text_for_database(current[:200]),
                               heartbeat_at=timezone.now(), log=self.log_text())
        if StressTestRun.objects.filter(id=self.run.id, cancel_requested=True).exists():
            self.cancel_seen.set()
            raise RunCancelled()

    # -- a thread that proves the worker is alive during long tests and stops the model on cancel or timeout
    def heartbeat(self):
        return _Heartbeat(self)

    def beat(self) -> None:
        still_ours = self._running().update(heartbeat_at=timezone.now())
        # Not running any more (the reaper failed it, or it was cancelled): stop working for nobody.
        cancelled = not still_ours or StressTestRun.objects.filter(id=self.run.id, cancel_requested=True).exists()
        late = time.monotonic() > self.deadline
        if late:
            self.timed_out.set()
        if cancelled:
            self.cancel_seen.set()
        if (cancelled or late) and self.model is not None:
            self.model.cancel()
        if time.monotonic() > self.hard_deadline:  # the engine did not stop at the soft limit: give up on it
            self._running().update(status=RunStatus.FAILED, current_test="", finished_at=timezone.now(),
                                   error=failure_message(RunTimedOut(), limit_s=self.limits.soft_s))

    # -- the engine
    def run_engine(self) -> dict:
        from projects.sources import load_dataset_frame, materialize_model
        from stresstests.engine.runner import run_stress_test
        from stresstests.engine.sandbox import SandboxedModel

        run = self.run
        run_config, protected = parse_run_config(run.config)
        self.progress(0.0, "loading data")
        reference = load_dataset_frame(run.reference_dataset)
        evaluation = self._aligned_evaluation(load_dataset_frame(run.evaluation_dataset))
        data_params = self._data_params(protected)
        task = run.project.model_task
        predictions = {role: self._predictions(role, frame, task)
                       for role, frame in (("reference", reference), ("evaluation", evaluation))}
        with tempfile.TemporaryDirectory(prefix="rime-run-") as folder:
            model_path = materialize_model(run.model, Path(folder)) if run.model else None
            self.progress(0.0, "loading the model")
            self.model = SandboxedModel(model_path, model_task=task, log=self.log) if model_path else None
            try:
                return run_stress_test(
                    reference=reference, evaluation=evaluation, config=run_config, data_params=data_params,
                    model_task=task, model=self.model, progress=self.progress,
                    reference_predictions=predictions["reference"], evaluation_predictions=predictions["evaluation"],
                )
            finally:
                if self.model is not None:
                    self.model.close()

    def _data_params(self, protected: list[str]) -> DataParams:
        known = {f.name for f in fields(DataParams)}
        raw = {k: v for k, v in (self.run.reference_dataset.data_params or {}).items() if k in known and v not in ("", None)}
        # Columns named on the evaluation set only (a timestamp, a prediction column) still name that column.
        for key in ("timestamp_col", "pred_col"):
            evaluation_value = (self.run.evaluation_dataset.data_params or {}).get(key)
            if key not in raw and evaluation_value:
                raw[key] = evaluation_value
        raw["protected_features"] = sorted({*raw.get("protected_features", []), *protected})
        return DataParams.from_dict(raw)

    def _aligned_evaluation(self, evaluation):
        """The evaluation set may name its label or timestamp column differently; the engine wants one name."""
        reference_params = self.run.reference_dataset.data_params or {}
        evaluation_params = self.run.evaluation_dataset.data_params or {}
        renames = {}
        for key in ("label_col", "timestamp_col"):
            ours, theirs = reference_params.get(key), evaluation_params.get(key)
            if ours and theirs and ours != theirs and theirs in evaluation.columns:
                renames[theirs] = ours
        return evaluation.rename(columns=renames) if renames else evaluation

    def _predictions(self, role: str, frame, task: str):
        from projects.sources import load_predictions_frame
        from stresstests.engine.data import predictions_from_frame

        predictions = getattr(self.run, f"{role}_predictions")
        if predictions is None:
            return None
        table = load_predictions_frame(predictions)
        if len(table) != len(frame):
            raise DataLoadError(f"The {role} predictions have {len(table)} rows but the {role} dataset has "
                                f"{len(frame)}; give one prediction per row, in the dataset's order.")
        pred_col = (predictions.pred_params or {}).get("pred_col")
        columns = [pred_col] if pred_col else list(table.columns)
        return predictions_from_frame(table, columns, task)

    # -- the end
    def finish(self, report: dict) -> None:
        counts = (report.get("run") or {}).get("severity_counts") or {}
        with transaction.atomic():
            if not self._running().exists():
                return  # the reaper or a cancel got there first
            StressTestReport.objects.update_or_create(
                run_id=self.run.id, defaults={"data": report, "schema_version": report.get("schema_version", 1)}
            )
            self._running().update(status=RunStatus.SUCCEEDED, progress=1.0, current_test="", summary=counts,
                                   finished_at=timezone.now(), heartbeat_at=timezone.now(), log=self.log_text())

    def finish_with_error(self, error: BaseException) -> None:
        cancelled = self.cancel_seen.is_set() or isinstance(error, RunCancelled) or StressTestRun.objects.filter(
            id=self.run.id, cancel_requested=True).exists()
        if cancelled:
            status, message = RunStatus.CANCELLED, ""
            self.log("Cancelled by a user.")
        else:
            status, message = RunStatus.FAILED, failure_message(error, timed_out=self.timed_out.is_set(),
                                                                limit_s=self.limits.soft_s)
            if not isinstance(error, EngineError):
                logger.exception("Stress test %s failed", self.run.id, exc_info=error)
                self.log("".join(traceback.format_exception_only(type(error), error)).strip())
        self._running().update(status=status, error=text_for_database(message), current_test="",
                               finished_at=timezone.now(), heartbeat_at=timezone.now(), log=self.log_text())


def text_for_database(text: str) -> str:
    """PostgreSQL refuses NUL in text, and a model may print anything (e.g. /proc/self/environ)."""
    return text.replace("\x00", "\N{REPLACEMENT CHARACTER}")


def failure_message(error: BaseException, *, timed_out: bool = False, limit_s: float | None = None) -> str:
    """What the run page shows: the engine's own message (written for users), or a plain explanation."""
    from celery.exceptions import SoftTimeLimitExceeded

    if timed_out or isinstance(error, (RunTimedOut, SoftTimeLimitExceeded)):
        limit = round(settings.STRESS_TEST_SOFT_TIME_LIMIT if limit_s is None else limit_s)
        shown = f"{limit // 60} min" if limit >= 120 else f"{limit} s"
        return (f"The stress test ran longer than its time limit ({shown}) and was stopped. Sample fewer rows "
                "(data_params.nrows) or choose fewer test categories.")
    if isinstance(error, EngineError):
        return str(error)
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return f"The stress test stopped on an unexpected error ({type(error).__name__}: {error}). The log below has details."


class _Heartbeat:
    """Runs Execution.beat() every HEARTBEAT_INTERVAL_S on its own thread (and database connection)."""

    def __init__(self, execution: Execution) -> None:
        self.execution = execution
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=f"heartbeat-{execution.run.id}", daemon=True)

    def _loop(self) -> None:
        try:
            while not self.stop.wait(HEARTBEAT_INTERVAL_S):
                try:
                    self.execution.beat()
                except Exception:  # noqa: BLE001 - a missed beat must not kill the run; the next one retries
                    logger.warning("Heartbeat of run %s failed", self.execution.run.id, exc_info=True)
        finally:
            connection.close()

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        self.thread.join(timeout=HEARTBEAT_INTERVAL_S * 2)
