"""Our rows as RIME's JSON messages (camelCase, {"uuid"} objects for project/model/integration ids)."""
from __future__ import annotations

import json

from projects.models import Dataset, Integration, Project, RegisteredModel

from .wire import camel, compact, timestamp, uuid_obj

# Keys of data_params that RIME's DataParams message carries; anything else we keep stays out of the response.
DATA_PARAM_KEYS = (
    "label_col", "timestamp_col", "class_names", "nrows", "nrows_per_time_bin", "sample", "categorical_features",
    "protected_features", "features_not_in_model", "text_features", "image_features", "prompt_col", "pred_col",
    "ranking_info",
)


def owner_details(user) -> dict:
    if user is None:
        return {}
    return {"name": user.get_full_name() or user.username, "email": user.email}


def project_message(project: Project) -> dict:
    return compact({
        "id": uuid_obj(project.id),
        "name": project.name,
        "description": project.description,
        "creationTime": timestamp(project.created_at),
        "workspaceId": uuid_obj(project.workspace_id),
        "modelTask": project.model_task,
        "tags": [],
        "stressTestCategories": list(project.stress_test_categories or []),
        "continuousTestCategories": [],
    })


def project_with_details(project: Project) -> dict:
    return {
        "project": project_message(project),
        "ownerDetails": owner_details(project.created_by),
        "lastUpdatedTime": timestamp(project.updated_at),
    }


def _connection_info(path: str, source: str) -> dict:
    return {"dataFile": {"path": path}} if path else {"dataFile": {"path": f"upload://{source}"}}


def _camel_keys(value):
    """Nested messages (ranking_info) in the wire's camelCase, as RIME's DataParams carries them."""
    if isinstance(value, dict):
        return {camel(key): _camel_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_camel_keys(item) for item in value]
    return value


def dataset_message(dataset: Dataset) -> dict:
    data_params = {camel(key): _camel_keys(dataset.data_params[key]) for key in DATA_PARAM_KEYS
                   if key in dataset.data_params}
    path = dataset.path or (dataset.file.name if dataset.file else dataset.table_name)
    return compact({
        "datasetId": str(dataset.id),
        "name": dataset.name,
        "projectIds": [uuid_obj(dataset.project_id)],
        "creationTime": timestamp(dataset.created_at),
        "integrationId": uuid_obj(dataset.integration_id),
        "dataInfo": {"connectionInfo": _connection_info(path, dataset.source), "dataParams": data_params},
        "validityStatus": dataset.validity_status,
        "validityStatusMessage": dataset.validity_message or None,
        "sizeBytes": str(dataset.size_bytes) if dataset.size_bytes is not None else None,
    })


def _model_info(model: RegisteredModel) -> dict:
    hugging_face = (model.model_config or {}).get("hugging_face")
    if hugging_face:
        # The registry keeps the kwargs flattened beside model_uri; RIME sends them back as a JSON string.
        kwargs = {key: value for key, value in hugging_face.items() if key != "model_uri" and value not in ("", {})}
        return {"huggingFace": {"modelUri": hugging_face.get("model_uri", ""), "kwargs": json.dumps(kwargs)}}
    return {"modelPath": {"path": model.path or model.storage_prefix}}


def model_message(model: RegisteredModel) -> dict:
    return compact({
        "modelId": uuid_obj(model.id),
        "name": model.name,
        "projectIds": [uuid_obj(model.project_id)],
        "creationTime": timestamp(model.created_at),
        "userMetadata": {"tags": list(model.tags or [])},
        "modelInfo": _model_info(model),
        "integrationId": uuid_obj(model.integration_id),
        "validityStatus": model.validity_status,
        "validityStatusMessage": model.validity_message or None,
    })


def integration_message(integration: Integration) -> dict:
    return {
        "id": uuid_obj(integration.id),
        "workspaceId": uuid_obj(integration.workspace_id),
        "creationTime": timestamp(integration.created_at),
        "name": integration.name,
        "type": integration.integration_type,
        "level": "INTEGRATION_LEVEL_WORKSPACE",
    }
