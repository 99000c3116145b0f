"""rime_web's own additions under /api/v1: file uploads that become datasets and models.

RIME's client uploads through presigned blob-store URLs; here a plain multipart POST does the same job, either
registering at once (datasets/models endpoints) or returning an `upload://` path that `register_dataset` accepts.
"""
from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import PurePosixPath

from django.core.files.storage import default_storage
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from projects import selectors
from projects.registries import storage
from projects.authentication import ApiKeyAuthentication
from projects.models import DatasetSource, ModelSource

from .access import RimeApiView, project_in_scope, scoped_workspace_ids
from .limits import json_loads_limited

UPLOAD_SCHEME = "upload://"  # how a dataset or model names a file uploaded through POST /api/v1/uploads

UPLOAD_ROOT = "api-uploads"
TAGS = ["rime_web additions"]


class NativeApiView(RimeApiView):
    """Our own endpoints: the same API key, or the signed-in session (with CSRF) for the web UI's scripts."""

    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    parser_classes = [MultiPartParser, FormParser]


class UploadRequest(serializers.Serializer):
    file = serializers.FileField()


class UploadResponse(serializers.Serializer):
    path = serializers.CharField(help_text="Give this as data_file.path to register_dataset.")


def _storage_name(workspace_id, upload_id: str, filename: str) -> str:
    return f"{UPLOAD_ROOT}/{workspace_id}/{upload_id}/{filename}"


def _workspace_for_upload(request):
    workspace_ids = list(scoped_workspace_ids(request))
    if len(workspace_ids) != 1:
        raise ValidationError("Use an API key (or belong to one workspace): the file is kept in that workspace.")
    # Storing a file is a write: viewers may not.
    selectors.check_role(selectors.membership_for(request.user, workspace_ids[0]), write=True)
    return workspace_ids[0]


class UploadView(NativeApiView):
    @extend_schema(tags=TAGS, request={"multipart/form-data": UploadRequest}, responses={201: UploadResponse},
                   summary="Upload a data file; register it with register_dataset(data_file path=<returned path>)")
    def post(self, request):
        form = UploadRequest(data=request.data)
        form.is_valid(raise_exception=True)
        upload = form.validated_data["file"]
        if upload.size > storage.max_upload_bytes():
            raise ValidationError(f"The upload is {storage.human_size(upload.size)}; the limit is "
                                  f"{storage.human_size(storage.max_upload_bytes())}.")
        filename = PurePosixPath(upload.name.replace("\\", "/")).name
        upload_id = uuid.uuid4().hex
        default_storage.save(_storage_name(_workspace_for_upload(request), upload_id, filename), upload)
        return Response({"path": f"{UPLOAD_SCHEME}{upload_id}/{filename}"}, status=201)


@contextlib.contextmanager
def open_upload(request, path: str) -> Iterator:
    """The uploaded file behind an upload:// path, only from the caller's workspace."""
    upload_id, _, filename = path[len(UPLOAD_SCHEME):].partition("/")
    for workspace_id in scoped_workspace_ids(request):
        name = _storage_name(workspace_id, upload_id, filename)
        if "/" not in filename and ".." not in upload_id and default_storage.exists(name):
            with default_storage.open(name, "rb") as handle:
                handle.name = filename
                yield handle
            return
    raise Http404(f"No uploaded file at {path}.")


class DatasetUploadRequest(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    file = serializers.FileField(help_text="CSV, Parquet, JSONL, jsonl.gz or json.gz.")
    data_params = serializers.CharField(required=False, default="{}",
                                        help_text='RIME data_params as JSON, e.g. {"label_col": "is_fraud"}.')


class DatasetUploadResponse(serializers.Serializer):
    datasetId = serializers.CharField()  # noqa: N815 - RIME's casing


class DatasetUploadView(NativeApiView):
    @extend_schema(tags=TAGS, request={"multipart/form-data": DatasetUploadRequest},
                   responses={201: DatasetUploadResponse}, summary="Upload and register a dataset in a project")
    def post(self, request, project_id: str):
        from projects.registries import services as registry

        project = project_in_scope(request, project_id, write=True)
        form = DatasetUploadRequest(data=request.data)
        form.is_valid(raise_exception=True)
        dataset = registry.dataset_register(
            user=request.user, project=project, name=form.validated_data["name"], source=DatasetSource.UPLOAD,
            data_params=_json_object(form.validated_data["data_params"], "data_params"),
            file=form.validated_data["file"])
        return Response({"datasetId": str(dataset.id)}, status=201)


class ModelUploadRequest(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    files = serializers.ListField(child=serializers.FileField(), help_text=(
        "model.py with its artifacts, a .zip of the model folder, .pkl/.joblib, or a native model file."))
    tags = serializers.CharField(required=False, default="", help_text="Comma-separated.")


class ModelUploadResponse(serializers.Serializer):
    modelId = serializers.DictField(child=serializers.CharField())  # noqa: N815 - RIME's {"uuid": ...}


class ModelUploadView(NativeApiView):
    @extend_schema(tags=TAGS, request={"multipart/form-data": ModelUploadRequest},
                   responses={201: ModelUploadResponse}, summary="Upload and register a model in a project")
    def post(self, request, project_id: str):
        from projects.registries import services as registry

        project = project_in_scope(request, project_id, write=True)
        files = request.FILES.getlist("files")
        # A bodiless POST parses to a plain {} rather than a QueryDict.
        fields = request.data.dict() if hasattr(request.data, "dict") else dict(request.data)
        form = ModelUploadRequest(data={**fields, "files": files})
        form.is_valid(raise_exception=True)
        tags = [tag.strip() for tag in form.validated_data["tags"].split(",") if tag.strip()]
        model = registry.model_register(user=request.user, project=project, name=form.validated_data["name"],
                                        tags=tags, source=ModelSource.UPLOAD, files=files)
        return Response({"modelId": {"uuid": str(model.id)}}, status=201)


def _json_object(text: str, field_name: str) -> dict:
    value = json_loads_limited(text or "{}", what=field_name)
    if not isinstance(value, dict):
        raise ValidationError(f"{field_name} must be a JSON object.")
    return value
