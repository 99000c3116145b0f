"""RIME's /v1 endpoints for the client itself, projects, integrations and the registries (contract §6.1–6.8)."""
from __future__ import annotations

from django.conf import settings
from django.http import Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from projects import selectors, services
from projects.registries import selectors as registry_selectors
from projects.models import Dataset, DatasetSource, IntegrationType, ModelSource, ModelTask, RegisteredModel

from . import payloads, sdk_integrations
from .access import (
    RimeApiView,
    dataset_in_scope,
    integration_in_scope,
    key_workspace,
    model_in_scope,
    project_in_scope,
    workspace_in_scope,
)
from .uploads import UPLOAD_SCHEME, open_upload
from .wire import json_field, page_body, page_request, snake_keys, uuid_value

CLUSTER_VERSION = "2.13.2"  # the SDK refuses servers older than itself (contract §6.1)
CUSTOMER_NAME = "rime-web"
LICENSE_EXPIRATION = "2099-12-31T00:00:00Z"  # self-hosted: no licence, so a date the client never warns about
RIME_SCHEMA = extend_schema(tags=["RIME v1 (rime-sdk 2.13.2)"], responses=OpenApiTypes.OBJECT,
                            request=OpenApiTypes.OBJECT)


def require(data: dict, name: str, kind: type = str):
    value = data.get(name) if isinstance(data, dict) else None  # e.g. {"modelPath": "x"} where an object belongs
    if value in (None, "") or not isinstance(value, kind):
        raise ValidationError(f"{name} is required.")
    return value


def optional_object(data: dict, name: str) -> dict:
    """An optional nested object of the body: {} when absent; anything but an object is a 400, not an
    AttributeError on .get() further down."""
    value = data.get(name)
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ValidationError(f"{name} must be an object.")
    return value


@RIME_SCHEMA
class RimeInfoView(RimeApiView):
    """Read by every Client() constructor; no key needed to learn the server version."""

    permission_classes = [AllowAny]
    authentication_classes = []

    def get(self, request):
        return Response({"clusterInfoVersion": CLUSTER_VERSION, "customerName": CUSTOMER_NAME,
                         "expirationTime": LICENSE_EXPIRATION, "riPlan": "RI_PLAN_DEFAULT",
                         "buildVersion": getattr(settings, "RIME_WEB_VERSION", "rime_web")})


@RIME_SCHEMA
class LicenseLimitView(RimeApiView):
    """Client() checks the licence: a self-hosted server is always STATUS_OK."""

    permission_classes = [AllowAny]
    authentication_classes = []

    def get(self, request, customer_name: str, limit: str):
        return Response({"limitStatus": {"limit": limit, "limitStatus": "STATUS_OK"}})


@RIME_SCHEMA
class ProjectListView(RimeApiView):
    """list_projects (GET, paged) and create_project (POST) in the key's workspace."""

    def get(self, request):
        workspace = key_workspace(request)
        page = page_request(request.query_params, {"workspace": request.query_params.get("workspaceId.uuid", "")})
        projects = selectors.projects_in_workspace(workspace).select_related("created_by")
        if page.query["workspace"] not in ("", str(workspace.id)):
            projects = projects.none()  # a key never sees another workspace
        items = [payloads.project_with_details(p) for p in projects[page.offset:page.offset + page.size]]
        return Response(page_body(items, page, "projects", total=projects.count()))

    def post(self, request):
        workspace = key_workspace(request)
        selectors.get_workspace_for_user(request.user, workspace.id, write=True)
        model_task = require(request.data, "modelTask")
        if model_task not in ModelTask.values:
            raise ValidationError(f"Model task {model_task} is not supported; use one of {', '.join(ModelTask.values)}.")
        project = services.project_create(user=request.user, workspace=workspace, name=require(request.data, "name"),
                                          description=request.data.get("description") or "", model_task=model_task)
        return Response({"project": payloads.project_message(project)}, status=201)


@RIME_SCHEMA
class ProjectDetailView(RimeApiView):
    """get_project / project.info (GET) and project.delete (DELETE)."""

    def get(self, request, project_id: str):
        return Response({"project": payloads.project_with_details(project_in_scope(request, project_id))})

    def delete(self, request, project_id: str):
        services.project_delete(user=request.user, project=project_in_scope(request, project_id, write=True))
        return Response({})


@RIME_SCHEMA
class ProjectUrlView(RimeApiView):
    """project.get_link(): the project page without a scheme."""

    def get(self, request, project_id: str):
        project = project_in_scope(request, project_id)
        url = request.build_absolute_uri(reverse("projects:project_detail", args=[project.id])).split("://", 1)[-1]
        return Response({"url": {"url": url}})


@RIME_SCHEMA
class ProjectRoleView(RimeApiView):
    """create_project(general_access_role=...) sends this; workspace roles already decide access here."""

    def put(self, request, project_id: str):
        project_in_scope(request, project_id, write=True)
        return Response({})


# --- integrations (/v1-beta/integrations, read from the client's source) -------------------------------------------


@RIME_SCHEMA
class IntegrationCreateView(RimeApiView):
    """create_integration's first request: the schema (workspace admins only)."""

    def post(self, request):
        from projects.registries.integrations import integration_create

        message = require(request.data, "integration", dict)
        workspace = workspace_in_scope(request, uuid_value(message.get("workspaceId")), manage=True)
        integration_type = require(message, "type")
        sdk_integrations.check_type(integration_type)
        variables = optional_object(message, "schema").get("variables") or []
        split = sdk_integrations.split_variables(integration_type, variables)
        integration = integration_create(user=request.user, workspace=workspace, name=require(message, "name"),
                                         integration_type=integration_type, config=split.config,
                                         secrets=split.secrets)
        info = {"integration": payloads.integration_message(integration), "configured": True}
        return Response({"integrationInfo": info}, status=201)


@RIME_SCHEMA
class IntegrationDetailView(RimeApiView):
    """create_integration's second request (POST: the values), and reading or deleting one."""

    def get(self, request, integration_id: str):
        integration = integration_in_scope(request, integration_id)
        return Response({"integrationInfo": {"integration": payloads.integration_message(integration),
                                             "configured": True}})

    def post(self, request, integration_id: str):
        """configure_integration: sets the variables' values (secrets stay write-only)."""
        from projects.registries.integrations import integration_update

        integration = integration_in_scope(request, integration_id, manage=True)
        known_public = set((integration.config.get("variables") or {}))
        split = sdk_integrations.split_variables(integration.integration_type, request.data.get("variables") or [],
                                                 known_public=known_public)
        config = {**integration.config, **split.config}
        if "variables" in split.config:
            config["variables"] = {**integration.config.get("variables", {}), **split.config["variables"]}
        integration_update(user=request.user, integration=integration, name=integration.name, config=config,
                           secrets=split.secrets)
        return Response({})

    def delete(self, request, integration_id: str):
        from projects.registries.integrations import integration_delete

        integration_delete(user=request.user, integration=integration_in_scope(request, integration_id, manage=True))
        return Response({})


# --- registries (contract §6.5–6.8) ----------------------------------------------------------------------------------


def _integration_of(request, message: dict, path: str = ""):
    """The integration named in the body; for an s3:// path without one, the workspace's only S3 integration,
    so the seed's `register_model_from_path(name, remote_path)` works as written (RIME's default object store)."""
    raw = uuid_value(message.get("integrationId"))
    if raw:
        return integration_in_scope(request, raw)
    if path.startswith(("s3://", "s3a://")):
        candidates = list(key_workspace(request).integrations.filter(integration_type=IntegrationType.S3)[:2])
        return candidates[0] if len(candidates) == 1 else None
    return None


def _same_project(request, project_id: str):
    project = project_in_scope(request, project_id, write=True)
    body_project = uuid_value(request.data.get("projectId"))
    if body_project and body_project != project_id:
        raise ValidationError("projectId in the body differs from the project in the path.")
    return project


def dataset_params(data_info: dict) -> dict:
    params = snake_keys(optional_object(data_info, "dataParams"), keep_below=frozenset({"experimental_fields"}))
    if "loading_kwargs" in params:
        params["loading_kwargs"] = json_field(params["loading_kwargs"], "dataParams.loadingKwargs")
    return params


def dataset_file_path(data_info: dict) -> str:
    connection = optional_object(data_info, "connectionInfo")
    if set(connection) != {"dataFile"}:
        kinds = ", ".join(sorted(connection)) or "none"
        raise ValidationError(f"Only data_file connections are supported (got {kinds}); register tables in the UI.")
    return require(require(connection, "dataFile", dict), "path")


@RIME_SCHEMA
class DatasetRegistryView(RimeApiView):
    """register_dataset (POST: data_file path, s3:// or upload://) and list_datasets (GET)."""

    def post(self, request, project_id: str):
        from projects.registries import services as registry

        project = _same_project(request, project_id)
        data_info = require(request.data, "dataInfo", dict)
        path = dataset_file_path(data_info)
        common = dict(user=request.user, project=project, name=require(request.data, "name"),
                      data_params=dataset_params(data_info))
        if path.startswith(UPLOAD_SCHEME):
            with open_upload(request, path) as upload:
                dataset = registry.dataset_register(source=DatasetSource.UPLOAD, file=upload, **common)
        else:
            dataset = registry.dataset_register(source=DatasetSource.PATH, path=path,
                                                integration=_integration_of(request, request.data, path), **common)
        return Response({"datasetId": str(dataset.id)}, status=201)

    def get(self, request, project_id: str):
        project = project_in_scope(request, project_id)
        page = page_request(request.query_params, {"project": str(project.id)})
        datasets = registry_selectors.datasets_of(project).select_related("integration")
        items = [payloads.dataset_message(d) for d in datasets[page.offset:page.offset + page.size]]
        return Response(page_body(items, page, "datasets", total=datasets.count()))


def model_source(model_info: dict) -> dict:
    """register_model's modelInfo as model_register's keywords: a path, or a Hugging Face model_config."""
    if "modelPath" in model_info:
        return {"source": ModelSource.PATH, "path": require(model_info["modelPath"], "path")}
    if "huggingFace" in model_info:
        hugging_face = require(model_info, "huggingFace", dict)
        kwargs = json_field(hugging_face.get("kwargs") or {}, "modelInfo.huggingFace.kwargs")
        config = {"hugging_face": {"model_uri": require(hugging_face, "modelUri"), "kwargs": kwargs}}
        return {"source": ModelSource.HUGGING_FACE, "model_config": config}
    raise ValidationError("modelInfo needs modelPath or huggingFace.")


@RIME_SCHEMA
class ModelRegistryView(RimeApiView):
    """register_model / register_model_from_path (POST) and list_models (GET)."""

    def post(self, request, project_id: str):
        from projects.registries import services as registry

        project = _same_project(request, project_id)
        source = model_source(require(request.data, "modelInfo", dict))
        metadata = request.data.get("metadata") or {}
        tags = metadata.get("tags") if isinstance(metadata, dict) else None
        if not isinstance(tags, (list, type(None))):
            raise ValidationError("metadata.tags must be a list of strings.")
        # An s3:// path or Hugging Face model URI without an integration id reads through the only S3 integration.
        uri = source.get("path") or source.get("model_config", {}).get("hugging_face", {}).get("model_uri", "")
        model = registry.model_register(user=request.user, project=project, name=require(request.data, "name"),
                                        tags=list(tags or []), integration=_integration_of(request, request.data, uri),
                                        **source)
        return Response({"modelId": {"uuid": str(model.id)}}, status=201)

    def get(self, request, project_id: str):
        project = project_in_scope(request, project_id)
        page = page_request(request.query_params, {"project": str(project.id)})
        models = registry_selectors.models_of(project)
        items = [{"model": payloads.model_message(m), "ownerDetails": payloads.owner_details(m.created_by)}
                 for m in models[page.offset:page.offset + page.size]]
        return Response(page_body(items, page, "models", total=models.count()))


def registered_by_name(request, queryset, name: str, what: str):
    """get_dataset(dataset_name=...) / get_model(model_name=...) send only the name: look in the key's workspace."""
    found = list(queryset.filter(project__workspace=key_workspace(request), name=name)[:2]) if name else []
    if not found:
        raise Http404(f"{what} {name} does not exist.")
    if len(found) > 1:
        raise ValidationError(f"Several projects have a {what.lower()} named {name}; ask by id.")
    return found[0]


@RIME_SCHEMA
class DatasetGetView(RimeApiView):
    """get_dataset by datasetId or datasetName; start_stress_test reads validity here."""

    def get(self, request):
        params = request.query_params
        if params.get("datasetName") and not params.get("datasetId"):
            dataset = registered_by_name(request, Dataset.objects.all(), params["datasetName"], "Dataset")
        else:
            dataset = dataset_in_scope(request, params.get("datasetId") or "")
        return Response({"dataset": payloads.dataset_message(dataset)})


@RIME_SCHEMA
class ModelGetView(RimeApiView):
    """get_model by modelId.uuid or modelName; start_stress_test reads validity here."""

    def get(self, request):
        params = request.query_params
        if params.get("modelName") and not params.get("modelId.uuid"):
            model = registered_by_name(request, RegisteredModel.objects.select_related("created_by"),
                                       params["modelName"], "Model")
        else:
            model = model_in_scope(request, params.get("modelId.uuid") or "")
        return Response({"model": {"model": payloads.model_message(model),
                                   "ownerDetails": payloads.owner_details(model.created_by)}})
