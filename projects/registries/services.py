"""Registering datasets, models and predictions (RIME's registries), and validating them on a worker.

Registration checks what can be checked at once (name, source, paths, identifiers, file sizes) and raises a
ValidationError keyed by form field; loading and predicting happen in `*_validate`, run by Celery after commit.
"""
from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import ProtectedError

from stresstests.engine.config import DataParams
from stresstests.engine.errors import ConfigError
from stresstests.engine.loader_options import LoaderOptionError, check_loader_options

from . import hf_upload, integrations, sources, storage
from .validation import set_validity
from .sources import NATIVE_MODEL_SUFFIXES
from projects.models import (
    Dataset,
    DatasetSource,
    Integration,
    IntegrationType,
    ModelSource,
    Predictions,
    Project,
    RegisteredModel,
    ValidityStatus,
)
from projects.services import audit

logger = logging.getLogger(__name__)

DATASET_SUFFIXES = (".csv", ".parquet", ".json", ".jsonl", ".gz")
HF_URI_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,95})?$")
NAME_MAX = 200


# --- shared checks ----------------------------------------------------------------------------------------------------


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give it a name."})
    if len(name) > NAME_MAX:
        raise ValidationError({"name": f"Names are at most {NAME_MAX} characters."})
    return name


def _check_unique(queryset, name: str, kind: str) -> None:
    if queryset.filter(name__iexact=name).exists():
        raise ValidationError({"name": f"This project already has a {kind} named “{name}”; names are unique."})


def _check_integration(project: Project, integration: Integration | None, *allowed_types: str) -> None:
    if integration is None:
        return
    if integration.workspace_id != project.workspace_id:
        raise ValidationError({"integration": "That integration belongs to another workspace."})
    if allowed_types and integration.integration_type not in allowed_types:
        wanted = " or ".join(IntegrationType(t).label for t in allowed_types)
        raise ValidationError({"integration": f"{integration.name} is not {wanted}."})


def _check_upload_size(files: Iterable[UploadedFile]) -> None:
    total = sum(f.size or 0 for f in files)
    if total > storage.max_upload_bytes():
        raise ValidationError({"file": f"The upload is {storage.human_size(total)}; the limit is "
                                       f"{storage.human_size(storage.max_upload_bytes())}."})


def _upload_name(upload: UploadedFile) -> PurePosixPath:
    # Browsers send a bare name, but any client can send "../x" or "/etc/x": only the last part is ever used.
    path = storage.safe_relative_path(upload.name or "", where="Uploaded file")
    if len(path.parts) != 1:
        raise ValidationError({"file": f"“{upload.name}” must be a plain file name, without folders."})
    return path


def _queue(task_name: str, object_id) -> None:
    from . import tasks

    task = getattr(tasks, task_name)
    transaction.on_commit(lambda: task.delay(str(object_id)))


# --- data sources (datasets and predictions share them) ---------------------------------------------------------------


@dataclass
class DataSourceInput:
    source: str
    file: UploadedFile | None = None
    path: str = ""
    integration: Integration | None = None
    table_name: str = ""
    timestamp_col: str = ""


def _check_data_source(project: Project, given: DataSourceInput) -> None:
    if given.source == DatasetSource.UPLOAD:
        if given.file is None:
            raise ValidationError({"file": "Choose a file to upload."})
        suffix = _upload_name(given.file).suffix.lower()
        if suffix not in DATASET_SUFFIXES:
            raise ValidationError({"file": f"Upload CSV, Parquet, JSON or JSON Lines (optionally .gz), not {suffix}."})
        _check_upload_size([given.file])
    elif given.source == DatasetSource.PATH:
        _check_data_path(project, given.path, given.integration)
    elif given.source == DatasetSource.TABLE:
        _check_integration(project, given.integration, IntegrationType.SQL)
        if given.integration is None:
            raise ValidationError({"integration": "Choose the database integration that holds the table."})
        _check_identifiers(given.table_name, given.timestamp_col)
    else:
        raise ValidationError({"source": f"Unknown source {given.source!r}."})


def _check_data_path(project: Project, path: str, integration: Integration | None) -> None:
    path = (path or "").strip()
    if not path:
        raise ValidationError({"path": "Give a file path or an s3:// URI."})
    if path.startswith(("s3://", "s3a://")):
        if integration is None:
            raise ValidationError({"integration": "An s3:// path needs an S3 integration for its credentials."})
        _check_integration(project, integration, IntegrationType.S3)
        try:
            integrations.split_s3_uri(path)
        except integrations.IntegrationError as error:
            raise ValidationError({"path": str(error)}) from None
        return
    _check_server_path(path, what="Data path", accepted="s3:// URIs and server paths")


def _check_identifiers(table_name: str, timestamp_col: str) -> None:
    try:
        sources.split_table_name(table_name)
    except sources.SourceError as error:
        raise ValidationError({"table_name": str(error)}) from None
    if timestamp_col:
        try:
            sources.check_identifier(timestamp_col, what="Timestamp column")
        except sources.SourceError as error:
            raise ValidationError({"timestamp_col": str(error)}) from None


def _clean_data_params(data_params: dict | None) -> dict:
    raw = {key: value for key, value in (data_params or {}).items() if value not in (None, "", [])}
    loading_kwargs = raw.pop("loading_kwargs", None)
    try:
        DataParams.from_dict(raw)  # typed check only; the JSON column keeps RIME's raw shape
    except ConfigError as error:
        raise ValidationError({"data_params": str(error)}) from None
    if loading_kwargs:
        raw["loading_kwargs"] = _json_object(loading_kwargs, "loading_kwargs")
        try:
            check_loader_options(raw["loading_kwargs"])
        except LoaderOptionError as error:
            raise ValidationError({"loading_kwargs": str(error)}) from None
    return raw


def _json_object(value, field_name: str) -> dict:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ValidationError({field_name: f"Not valid JSON: {error}."}) from None
    if not isinstance(value, dict):
        raise ValidationError({field_name: "Must be a JSON object."})
    return value


def _apply_data_source(row: Dataset | Predictions, given: DataSourceInput) -> None:
    row.source = given.source
    row.integration = given.integration if given.source != DatasetSource.UPLOAD else None
    row.path = given.path.strip() if given.source == DatasetSource.PATH else ""
    row.table_name = given.table_name if given.source == DatasetSource.TABLE else ""
    if given.source == DatasetSource.UPLOAD:
        row.file.save(str(_upload_name(given.file)), given.file, save=False)


# --- datasets ---------------------------------------------------------------------------------------------------------


def dataset_register(*, user, project: Project, name: str, source: str, data_params: dict, file=None, path: str = "",
                     integration: Integration | None = None, table_name: str = "", validate: bool = True) -> Dataset:
    """Registers a dataset from an upload, a path/URI or a connection table; validation is queued after commit."""
    name = _clean_name(name)
    _check_unique(project.datasets, name, "dataset")
    params = _clean_data_params(data_params)
    given = DataSourceInput(source, file, path, integration, table_name, params.get("timestamp_col", ""))
    _check_data_source(project, given)
    dataset = Dataset(project=project, name=name, data_params=params, created_by=user)
    _apply_data_source(dataset, given)
    with transaction.atomic():
        dataset.save()
        audit(actor=user, action="dataset.register", obj=dataset, workspace=project.workspace, source=source)
        if validate:
            _queue("validate_dataset", dataset.id)
    return dataset


def dataset_register_from_table(*, user, project: Project, name: str, integration_name: str, table_name: str,
                                data_params: dict, validate: bool = True) -> Dataset:
    """The wizard's *from a connection*: a table of a SQL integration named in the project's workspace."""
    integration = _integration_by_name(project, integration_name, IntegrationType.SQL)
    return dataset_register(user=user, project=project, name=name, source=DatasetSource.TABLE,
                            data_params=data_params, integration=integration, table_name=table_name,
                            validate=validate)


def _integration_by_name(project: Project, name: str, integration_type: str) -> Integration:
    integration = project.workspace.integrations.filter(name=name, integration_type=integration_type).first()
    if integration is None:
        label = IntegrationType(integration_type).label
        raise ValidationError({"integration": f"This workspace has no {label} integration named “{name}”."})
    return integration


def dataset_delete(*, user, dataset: Dataset) -> None:
    """Deletes the row and, after commit, its uploaded file; a dataset a stress test used is kept."""
    file_name = dataset.file.name if dataset.file else ""
    with transaction.atomic(), _protected("dataset"):
        audit(actor=user, action="dataset.delete", obj=dataset, workspace=dataset.project.workspace)
        dataset.delete()
    if file_name:
        transaction.on_commit(lambda: storage.default_storage.delete(file_name))


@contextlib.contextmanager
def _protected(kind: str):
    try:
        yield
    except ProtectedError:
        raise ValidationError(f"This {kind} is used by stress tests, so it is kept for their results.") from None


def dataset_revalidate(*, user, dataset: Dataset) -> Dataset:
    """Back to PENDING and queued again (after the source was fixed, e.g. new credentials)."""
    set_validity(dataset, ValidityStatus.PENDING, "Validation queued.")
    audit(actor=user, action="dataset.revalidate", obj=dataset, workspace=dataset.project.workspace)
    _queue("validate_dataset", dataset.id)
    return dataset


def model_revalidate(*, user, model: RegisteredModel) -> RegisteredModel:
    set_validity(model, ValidityStatus.PENDING, "Validation queued.")
    audit(actor=user, action="model.revalidate", obj=model, workspace=model.project.workspace)
    _queue("validate_model", model.id)
    return model


# --- models -----------------------------------------------------------------------------------------------------------


def model_register(*, user, project: Project, name: str, tags: list[str], source: str,
                   files: list[UploadedFile] | None = None, path: str = "", integration: Integration | None = None,
                   model_config: dict | None = None, relative_paths: list[str] | None = None,
                   validate: bool = True) -> RegisteredModel:
    """Registers a model: uploaded files (a .py with artifacts, a .zip of its folder, a pickle, a native file, or a
    Hugging Face `save_pretrained` folder or archive when `model_config` holds "hugging_face"), a remote path or
    registry URI, a Hugging Face configuration, or none (predictions only). `relative_paths`: the uploaded folder's
    paths, in the order of `files` (browsers send bare file names)."""
    name = _clean_name(name)
    _check_unique(project.models, name, "model")
    model = RegisteredModel(project=project, name=name, tags=_clean_tags(tags), source=source, created_by=user)
    model.storage_prefix = f"models/{model.id}"
    if source == ModelSource.UPLOAD and "hugging_face" in (model_config or {}):
        # a save_pretrained folder (files, a folder pick or an archive of it); a tokenizer URI may point elsewhere
        model.model_config = {"hugging_face": clean_hugging_face_config(model_config, uploaded=True)}
        _check_hugging_face_sources(project, model.model_config["hugging_face"], integration)
        model.integration = integration
        hf_upload.store_upload(model.storage_prefix, files or [], relative_paths)
    elif source == ModelSource.UPLOAD:
        _store_model_upload(model, files or [])
    elif source == ModelSource.PATH:
        _apply_model_path(project, model, path or _config_path(model_config), integration)
    elif source == ModelSource.HUGGING_FACE:
        model.model_config = {"hugging_face": clean_hugging_face_config(model_config or {})}
        _check_hugging_face_sources(project, model.model_config["hugging_face"], integration)
        model.integration = integration
    elif source == ModelSource.NONE:
        model.validity_status = ValidityStatus.VALID
        model.validity_message = "No model artifact: tests use registered predictions only."
    else:
        raise ValidationError({"source": f"Unknown model source {source!r}."})
    return _save_model(user, model, validate=validate and source != ModelSource.NONE)


def _save_model(user, model: RegisteredModel, *, validate: bool) -> RegisteredModel:
    try:
        with transaction.atomic():
            model.save()
            audit(actor=user, action="model.register", obj=model, workspace=model.project.workspace,
                  source=model.source)
            if validate:
                _queue("validate_model", model.id)
    except Exception:
        if model.source == ModelSource.UPLOAD:
            storage.delete_prefix(model.storage_prefix)
        raise
    return model


def model_register_from_registry(*, user, project: Project, name: str, registry: Integration | str, model_uri: str,
                                 tags: list[str] | None = None, validate: bool = True) -> RegisteredModel:
    """The wizard's *from an online registry*: `models:/<name>/<version>` (or a path) in a registry integration."""
    if isinstance(registry, str):
        registry = _integration_by_name(project, registry, IntegrationType.MLFLOW)
    return model_register(user=user, project=project, name=name, tags=tags or [], source=ModelSource.PATH,
                          path=model_uri, integration=registry, validate=validate)


def _clean_tags(tags: Iterable[str] | None) -> list[str]:
    cleaned = []
    for tag in tags or []:
        tag = str(tag).strip()
        if tag and tag not in cleaned:
            cleaned.append(tag[:50])
    return cleaned


def _config_path(model_config: dict | None) -> str:
    # RIME's model_config={"model_path": {"path": ...}} is the same as registering from a path.
    return ((model_config or {}).get("model_path") or {}).get("path", "")


def _apply_model_path(project: Project, model: RegisteredModel, path: str, integration: Integration | None) -> None:
    path = (path or "").strip()
    if not path:
        raise ValidationError({"path": "Give the model's path, e.g. s3://bucket/models/fraud/model.py."})
    model.path, model.integration = path, integration
    if integration is not None and integration.integration_type == IntegrationType.MLFLOW:
        _check_integration(project, integration)
        try:
            sources.resolve_registry_uri(integration, path)
        except (integrations.IntegrationError, ValidationError) as error:
            raise ValidationError({"path": _message(error)}) from None
    elif path.startswith(("s3://", "s3a://")):
        if integration is None:
            raise ValidationError({"integration": "An s3:// path needs an S3 integration for its credentials."})
        _check_integration(project, integration, IntegrationType.S3)
    else:
        _check_server_path(path, what="Model path", accepted="s3:// URIs, registry URIs and server paths")
    model.entry_point = sources.split_model_path(model.path)[1]


def _check_server_path(path: str, *, what: str, accepted: str) -> None:
    if "://" in path:
        raise ValidationError({"path": f"Only {accepted} are supported."})
    try:
        integrations.check_server_path(path, what=what)
    except integrations.IntegrationError as error:
        raise ValidationError({"path": str(error)}) from None


def _message(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error)


def _store_model_upload(model: RegisteredModel, files: list[UploadedFile]) -> None:
    if not files:
        raise ValidationError({"files": "Choose the model file(s) to upload."})
    _check_upload_size(files)
    names = [_upload_name(f) for f in files]
    if len(files) == 1 and names[0].suffix.lower() == ".zip":
        model.entry_point = _store_zip(model.storage_prefix, files[0])
        return
    model.entry_point = _entry_point_of([str(n) for n in names])
    try:
        for upload, name in zip(files, names):
            storage.save_file(f"{model.storage_prefix}/{name}", upload)
    except Exception:
        storage.delete_prefix(model.storage_prefix)
        raise


def _entry_point_of(names: list[str]) -> str:
    """model.py if uploaded, else the only .py, else the only native model file."""
    if len(set(names)) != len(names):
        raise ValidationError({"files": "Two uploaded files have the same name."})
    scripts = [n for n in names if n.endswith(".py")]
    if "model.py" in scripts:
        return "model.py"
    if len(scripts) == 1:
        return scripts[0]
    if scripts:
        raise ValidationError({"files": f"Several .py files ({', '.join(scripts)}): name the entry point model.py."})
    natives = [n for n in names if PurePosixPath(n).suffix.lower() in NATIVE_MODEL_SUFFIXES]
    if len(natives) == 1 and len(names) == 1:
        return natives[0]
    raise ValidationError({"files": "Upload a model.py (with its artifacts), a .zip of its folder, a .pkl/.joblib "
                                    f"file or one native model file ({', '.join(NATIVE_MODEL_SUFFIXES)})."})


def _store_zip(prefix: str, upload: UploadedFile) -> str:
    try:
        archive = storage.open_zip(upload, where=upload.name)
    except ValidationError as error:
        raise ValidationError({"files": error.messages}) from None
    with archive:
        members = storage.zip_members(archive, where=upload.name)
        top_level = [str(m.path) for m in members if len(m.path.parts) == 1]
        entry = _zip_entry_point(top_level, upload.name)
        try:
            for member in members:
                with archive.open(member.info) as content:
                    storage.save_file(f"{prefix}/{member.path}", content)
        except Exception:
            storage.delete_prefix(prefix)
            raise
    return entry


def _zip_entry_point(top_level: list[str], zip_name: str) -> str:
    if "model.py" in top_level:
        return "model.py"
    natives = [n for n in top_level if PurePosixPath(n).suffix.lower() in NATIVE_MODEL_SUFFIXES]
    if len(natives) == 1:
        return natives[0]
    raise ValidationError({"files": f"{zip_name} has no model.py at its top level (nor exactly one model file)."})


def clean_hugging_face_config(raw: dict, *, uploaded: bool = False) -> dict:
    """RIME's hugging_face config, flat or with `kwargs` (a dict or a JSON string), checked for shape.

    model_uri and tokenizer_uri are each a hub id ("org/model-name"), an s3:// prefix or a server path; an uploaded
    model's files are stored with it, so its model_uri is empty."""
    config = dict(raw.get("hugging_face", raw))
    kwargs = config.pop("kwargs", None)
    if kwargs:
        config.update(_json_object(kwargs, "kwargs"))
    model_uri = str(config.get("model_uri") or "").strip()
    if not (uploaded and not model_uri):
        _check_hugging_face_uri(model_uri, "model_uri", "model")
    tokenizer_uri = str(config.get("tokenizer_uri") or "").strip()
    if tokenizer_uri:
        _check_hugging_face_uri(tokenizer_uri, "tokenizer_uri", "tokenizer")
    cleaned = {"model_uri": model_uri, "tokenizer_uri": tokenizer_uri,
               "class_map": _clean_class_map(config.get("class_map")),
               "ignore_class_names": _as_bool(config.get("ignore_class_names", False))}
    unknown = sorted(set(config) - set(cleaned))
    if unknown:
        raise ValidationError({"model_config": f"Unknown Hugging Face setting(s): {', '.join(unknown)}."})
    return cleaned


def _check_hugging_face_uri(uri: str, field_name: str, what: str) -> None:
    kind = sources.hugging_face_uri_kind(uri)
    if kind == "s3":
        try:
            integrations.split_s3_uri(uri)
        except integrations.IntegrationError as error:
            raise ValidationError({field_name: str(error)}) from None
    elif kind == "hub" and not HF_URI_RE.match(uri):
        raise ValidationError({field_name: f"Give a Hugging Face {what} id such as “org/model-name”, an s3:// "
                                           "prefix or a server folder."})


def _check_hugging_face_sources(project: Project, config: dict, integration: Integration | None) -> None:
    """The integration fits the URIs (S3 for s3://, Hugging Face for a hub id) and server folders are allowed."""
    uris = [uri for uri in (config["model_uri"], config["tokenizer_uri"]) if uri]
    kinds = {sources.hugging_face_uri_kind(uri) for uri in uris}
    if "s3" in kinds:
        if integration is None:
            raise ValidationError({"integration": "An s3:// model or tokenizer URI needs an S3 integration for its "
                                                  "credentials."})
        _check_integration(project, integration, IntegrationType.S3)
    else:
        _check_integration(project, integration, IntegrationType.HUGGINGFACE)
    for uri in uris:
        if sources.hugging_face_uri_kind(uri) == "path":
            _check_server_path(uri, what="Model path", accepted="hub ids, s3:// prefixes and server folders")


def _clean_class_map(value) -> dict[str, str]:
    if value in (None, "", {}):
        return {}
    value = _json_object(value, "class_map")
    if not all(str(k).isdigit() and isinstance(v, str) and v for k, v in value.items()):
        raise ValidationError({"class_map": 'Map class indices to names, e.g. {"0": "negative", "1": "positive"}.'})
    indices = sorted(int(k) for k in value)
    if indices != list(range(len(indices))):
        raise ValidationError({"class_map": "Class indices must run 0, 1, 2, … without gaps."})
    return {str(k): v for k, v in sorted(value.items(), key=lambda item: int(item[0]))}


def _as_bool(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def model_delete(*, user, model: RegisteredModel) -> None:
    prefix = model.storage_prefix if model.source == ModelSource.UPLOAD else ""
    with transaction.atomic(), _protected("model"):
        audit(actor=user, action="model.delete", obj=model, workspace=model.project.workspace)
        model.delete()
    if prefix:
        transaction.on_commit(lambda: storage.delete_prefix(prefix))


# --- predictions ------------------------------------------------------------------------------------------------------


def predictions_register(*, user, model: RegisteredModel, dataset: Dataset, source: str, pred_params: dict,
                         file=None, path: str = "", integration: Integration | None = None,
                         table_name: str = "", validate: bool = True) -> Predictions:
    """A model's predictions for a dataset (one per pair), from an upload, a path/URI or a table."""
    if model.project_id != dataset.project_id:
        raise ValidationError({"dataset": "The model and the dataset belong to different projects."})
    if Predictions.objects.filter(model=model, dataset=dataset).exists():
        raise ValidationError({"dataset": f"{model.name} already has predictions for {dataset.name}."})
    params = {key: value for key, value in (pred_params or {}).items() if value not in (None, "", [])}
    unknown = sorted(set(params) - {"pred_col", "timestamp_col"})
    if unknown:
        raise ValidationError({"pred_params": f"Unknown prediction setting(s): {', '.join(unknown)}."})
    given = DataSourceInput(source, file, path, integration, table_name, params.get("timestamp_col", ""))
    _check_data_source(model.project, given)
    predictions = Predictions(model=model, dataset=dataset, pred_params=params, created_by=user)
    _apply_data_source(predictions, given)
    with transaction.atomic():
        predictions.save()
        audit(actor=user, action="predictions.register", obj=predictions, workspace=model.project.workspace)
        if validate:
            _queue("validate_predictions", predictions.id)
    return predictions
