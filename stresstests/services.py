"""Writes of stress-test runs: the wizard's draft, submission, cancel, re-run and the API's start.

The worker side (claim, execute, heartbeat, finish) is `execution.py`.

Views, the API and the Celery task all call these functions; none of them holds the logic itself.
"""
from __future__ import annotations

import copy
import logging
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from projects.registries import services as registry
from projects.models import Dataset, DatasetSource, ModelSource, Predictions, Project, RegisteredModel, ValidityStatus
from projects.services import audit
from stresstests.engine.errors import ConfigError

from . import run_data, wizard_checks
from .models import ACTIVE_STATUSES, ConfigMode, RunStatus, StressTestRun
from .queueing import enqueue_run
from .run_config import parse_run_config
from .wizard import CONFIGURED_MARK

logger = logging.getLogger(__name__)

DATASET_ROLES = ("reference", "evaluation")
RERUN_SUFFIX = " (re-run)"


def default_run_name(project: Project) -> str:
    return f"{project.name} - {timezone.localtime():%Y-%m-%d %H:%M}"


def _require_draft(run: StressTestRun) -> None:
    if run.status != RunStatus.DRAFT:
        raise ValidationError("This stress test was already submitted; use Re-run to change its configuration.")


# ---- the draft ---------------------------------------------------------------------------------------------------
def run_create_draft(*, user, project: Project) -> StressTestRun:
    """A new draft, or this user's untouched one in the project (no step saved yet): each click on Create Stress Test
    must not leave another empty draft with the same name behind."""
    untouched = project.runs.filter(status=RunStatus.DRAFT, created_by=user, wizard_step="", config={}, model=None,
                                    reference_dataset=None, evaluation_dataset=None, rerun_of=None)
    run = untouched.order_by("-created_at").first()
    if run is not None:
        return run
    run = StressTestRun.objects.create(project=project, name=default_run_name(project), created_by=user)
    audit(actor=user, action="stresstest.draft", obj=run, workspace=project.workspace)
    return run


def run_save_configuration(*, user, run: StressTestRun, config_mode: str, categories: list[str], name: str,
                           random_seed: int | None, global_test_sensitivity: str = "") -> StressTestRun:
    """Step 1. Custom keeps its categories; both modes keep the advanced options (seed, sensitivity)."""
    _require_draft(run)
    # The later steps' choices (fixes, protected features) stay when the user comes back to this step.
    config: dict = {"data_params": run.config["data_params"]} if (run.config or {}).get("data_params") else {}
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
    wizard_checks.model_check_start(run=run)
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
    if role == "reference":  # the model is called on a few of its rows as soon as they are known
        wizard_checks.model_check_start(run=run)
    return run


# ---- the wizard's checks and their one-click fixes ----------------------------------------------------------------
FIX_TIMESTAMP, FIX_IGNORE = "timestamp", "ignore"


def _set_run_data_params(run: StressTestRun, **changes) -> None:
    config = copy.deepcopy(run.config or {})
    params = {**(config.get("data_params") or {}), **changes}
    config["data_params"] = {key: value for key, value in params.items() if value not in ("", None, [])}
    run.config = config
    run.save(update_fields=["config"])


def run_fix_column(*, user, run: StressTestRun, column: str, action: str) -> StressTestRun:
    """The evaluation step's one-click fixes: a column becomes the timestamp column, or the run ignores it."""
    _require_draft(run)
    check = wizard_checks.draft_data_check(run)
    offered = {m.column: m for m in (check.mismatches if check else [])}
    proposals = check.timestamp_proposals if check else []
    if action == FIX_TIMESTAMP and (column in proposals or (column in offered and offered[column].datetime_like)):
        _set_run_data_params(run, timestamp_col=column)
    elif action == FIX_IGNORE and column in offered:
        ignored = run_data.run_level_params(run.config).get(run_data.IGNORED_COLUMNS, [])
        _set_run_data_params(run, **{run_data.IGNORED_COLUMNS: sorted({*ignored, column})})
    else:
        raise ValidationError(f"“{column}” cannot be fixed that way: it is not a column the datasets disagree on.")
    return run


def run_set_protected_features(*, user, run: StressTestRun, features: list[str]) -> StressTestRun:
    _require_draft(run)
    check = wizard_checks.draft_data_check(run)
    known = check.protected_candidates if check else []
    unknown = [name for name in features if name not in known]
    if unknown:
        raise ValidationError({"protected_features": f"{', '.join(unknown)} is not a feature of the reference dataset "
                                                     "the run keeps (label, prediction, timestamp and ignored columns "
                                                     "cannot be protected features)."})
    _set_run_data_params(run, protected_features=list(dict.fromkeys(features)))
    return run


def run_set_text_features(*, user, run: StressTestRun, features: list[str]) -> StressTestRun:
    """The text columns of both datasets (data_params.text_features; NLI: premise then hypothesis). Whether they are
    columns holding text is checked with both datasets (wizard_checks.text_feature_problems)."""
    _require_draft(run)
    features = list(dict.fromkeys(features))
    problem = wizard_checks.text_feature_count_problem(features, run.project.model_task)
    if problem:
        raise ValidationError({"text_features": problem})
    _set_run_data_params(run, text_features=features)
    return run


NEEDS_PROTECTED = ("Bias and Fairness needs protected features: choose at least one, or go back to the test "
                   "configuration and leave Bias and Fairness out.")


def wizard_problems(run: StressTestRun, data_check: wizard_checks.DataCheck | None = None) -> list[str]:
    """What the wizard checks on top of submission_problems; the evaluation step shows these with their fixes.
    `data_check`: the datasets' check when the caller already has it (it reads rows of both)."""
    problems = []
    if wizard_checks.model_check_failed(run, with_dataset=False) or wizard_checks.model_check_failed(
            run, with_dataset=True):
        problems.append(f"Model {run.model.name} failed its check: {wizard_checks.model_check(run)['message']}")
    check = data_check or wizard_checks.draft_data_check(run)
    if check is not None:
        problems += [f"The datasets disagree on column “{m.column}” (only in the {m.only_in} dataset)."
                     for m in check.mismatches]
        problems += check.problems
    if wizard_checks.needs_protected_features(run, effective_test_run_config(run)["categories"]):
        problems.append(NEEDS_PROTECTED)
    return problems


def run_submit_from_wizard(*, user, run: StressTestRun) -> StressTestRun:
    """The wizard's last Next: its own checks first (with their fixes on the page), then run_submit's."""
    problems = wizard_problems(run)
    if problems:
        raise ValidationError(problems)
    return run_submit(user=user, run=run)


def run_delete_draft(*, user, run: StressTestRun) -> None:
    """Deletes an unfinished draft; what it registered (models, datasets) stays in the project's registries."""
    _require_draft(run)
    audit(actor=user, action="stresstest.draft_delete", obj=run, workspace=run.project.workspace)
    run.delete()


def _registered_predictions(model: RegisteredModel | None, dataset: Dataset | None) -> Predictions | None:
    if model is None or dataset is None:
        return None
    return Predictions.objects.filter(model=model, dataset=dataset).first()


@transaction.atomic
def run_register_model(*, user, run: StressTestRun, source: str, name: str, tags: list[str],
                       files=None, registry_name: str = "", uri: str = "", relative_paths: list[str] | None = None,
                       model_config: dict | None = None, integration=None) -> RegisteredModel:
    """Registers the uploaded or registry model (projects.registries.services) and puts it on the draft.

    source "hugging_face": a save_pretrained folder or archive in `files` (stored as an upload) or, when
    model_config.hugging_face names a model_uri, a Hugging Face model read from that URI.

    A model this draft registered that failed its check is replaced by the new one (the user uploads it again with
    what was missing): deleted, unless another run uses it, so no "Invalid" model is left behind."""
    _require_draft(run)
    replaced = wizard_checks.replaceable_model(run)
    if replaced is not None and replaced.name == name.strip():
        run.model = None
        run.save(update_fields=["model"])
        registry.model_delete(user=user, model=replaced)  # refused if another run uses it: nothing is changed then
    if source == "registry":
        model = registry.model_register_from_registry(
            user=user, project=run.project, name=name, registry=registry_name, model_uri=uri, tags=tags
        )
    elif source == "hugging_face" and ((model_config or {}).get("hugging_face") or {}).get("model_uri"):
        model = registry.model_register(user=user, project=run.project, name=name, tags=tags,
                                        source=ModelSource.HUGGING_FACE, model_config=model_config,
                                        integration=integration)
    elif source == "hugging_face":
        model = registry.model_register(user=user, project=run.project, name=name, tags=tags,
                                        source=ModelSource.UPLOAD, files=files, relative_paths=relative_paths,
                                        model_config=model_config)
    else:
        model = registry.model_register(
            user=user, project=run.project, name=name, tags=tags, source=ModelSource.UPLOAD, files=files
        )
    run_set_model(user=user, run=run, model=model)
    if replaced is not None and replaced.name != name.strip():
        # Replaced under another name: the failed model is dropped too, unless another run uses it.
        try:
            registry.model_delete(user=user, model=replaced)
        except ValidationError:
            pass
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
    run_params = run_data.run_level_params(own)
    # Protected features chosen for this run (the wizard's Bias and Fairness question) win over the project's.
    project_protected = suite.pop("protected_features", None) or []
    protected = run_params.get("protected_features") or project_protected
    custom = run.config_mode == ConfigMode.CUSTOM and own.get("categories")
    return {
        "run_name": run.name,
        "model_id": str(run.model_id) if run.model_id else None,
        "data_info": {"ref_dataset_id": _id(run.reference_dataset_id), "eval_dataset_id": _id(run.evaluation_dataset_id)},
        "categories": list(own["categories"] if custom else project.stress_test_categories),
        "test_suite_config": suite,
        "profiling_config": own.get("profiling_config") or {},
        "run_time_info": own.get("run_time_info") or {},
        "data_params": {**run_params, "protected_features": list(protected)},
    }


def _id(value) -> str | None:
    return str(value) if value else None


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
        # A run is created when it is queued: a re-run or a draft finished days later shows its own time.
        run.created_at = timezone.now()
        run.status, run.progress, run.current_test, run.error, run.log = RunStatus.REQUESTED, 0.0, "", "", ""
        run.cancel_requested = False
        run.save()
        audit(actor=user, action="stresstest.submit", obj=run, workspace=run.project.workspace)
        enqueue_run(run)
    return run


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


def run_rerun_at_once(*, user, run: StressTestRun) -> StressTestRun:
    """Re-run in one click: a new run with the same configuration, model and datasets, queued at once."""
    return run_submit(user=user, run=run_rerun(user=user, run=run))


def run_rerun(*, user, run: StressTestRun) -> StressTestRun:
    """A new draft with the run's configuration, model and datasets; the wizard opens on it for review (Edit and
    re-run)."""
    if run.status == RunStatus.DRAFT or run.status in ACTIVE_STATUSES:
        raise ValidationError("Only a finished stress test can be re-run.")
    base_name = run.name.removesuffix(RERUN_SUFFIX)
    draft = StressTestRun.objects.create(
        project=run.project, name=(base_name[: 200 - len(RERUN_SUFFIX)] + RERUN_SUFFIX), created_by=user,
        config_mode=run.config_mode, config=copy.deepcopy(run.config), wizard_step=CONFIGURED_MARK,
        model=run.model, reference_dataset=run.reference_dataset, evaluation_dataset=run.evaluation_dataset,
        reference_predictions=run.reference_predictions, evaluation_predictions=run.evaluation_predictions,
        rerun_of=run, checks=wizard_checks.inherited_checks(run),
    )
    audit(actor=user, action="stresstest.rerun", obj=draft, workspace=run.project.workspace, rerun_of=str(run.id))
    return draft


