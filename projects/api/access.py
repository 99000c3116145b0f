"""Scoping for API requests: an API key sees only its workspace; a signed-in session sees the user's workspaces.

Anything outside the scope is a 404, exactly like an id that does not exist, so ids of other workspaces leak nothing.
"""
from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from projects import selectors
from projects.authentication import ApiKeyAuthentication
from projects.models import ApiKey, Dataset, Integration, Membership, Project, RegisteredModel, Workspace

from .errors import rime_exception_handler
from .limits import has_unstorable_text
from .schema import ViewNamedSchema
from .wire import parse_uuid

UNSTORABLE_TEXT = "Text in the request must not contain NUL (\\x00) characters or unpaired surrogates."


class RimeApiView(APIView):
    """Base of every /v1 view: API-key auth only (no session, so no CSRF), JSON only, errors as google.rpc.Status."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]
    schema = ViewNamedSchema()

    def get_exception_handler(self):
        return rime_exception_handler

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # Views read the body with .get(): a JSON array, string or null would be a 500 instead of a 400.
        if request.method in ("POST", "PUT", "PATCH") and not isinstance(request.data, dict):
            raise ValidationError("The request body must be a JSON object.")
        if any(has_unstorable_text(part) for part in (kwargs, request.query_params, request.data)):
            raise ValidationError(UNSTORABLE_TEXT)


def scoped_workspace_ids(request) -> QuerySet | list:
    if isinstance(request.auth, ApiKey):
        return [request.auth.workspace_id]
    return Membership.objects.filter(user=request.user).values_list("workspace_id", flat=True)


def key_workspace(request) -> Workspace:
    """The workspace a /v1 request acts in: the API key's."""
    return request.auth.workspace


def _membership(request, workspace_id, *, write: bool = False, manage: bool = False) -> Membership:
    membership = selectors.membership_for(request.user, workspace_id)
    selectors.check_role(membership, write=write, manage=manage)
    return membership


def _in_scope(request, queryset: QuerySet, raw_id, workspace_path: str, what: str):
    object_id = parse_uuid(raw_id)
    found = None
    if object_id is not None:
        found = queryset.filter(id=object_id, **{f"{workspace_path}__in": scoped_workspace_ids(request)}).first()
    if found is None:
        raise Http404(f"{what} {raw_id} does not exist.")
    return found


def workspace_in_scope(request, raw_id, *, manage: bool = False) -> Workspace:
    workspace = _in_scope(request, Workspace.objects.all(), raw_id, "id", "Workspace")
    _membership(request, workspace.id, manage=manage)
    return workspace


def project_in_scope(request, raw_id, *, write: bool = False) -> Project:
    project = _in_scope(request, Project.objects.select_related("workspace", "created_by"), raw_id,
                        "workspace_id", "Project")
    _membership(request, project.workspace_id, write=write)
    return project


def dataset_in_scope(request, raw_id) -> Dataset:
    queryset = Dataset.objects.select_related("project__workspace", "integration", "created_by")
    return _in_scope(request, queryset, raw_id, "project__workspace_id", "Dataset")


def model_in_scope(request, raw_id) -> RegisteredModel:
    queryset = RegisteredModel.objects.select_related("project__workspace", "integration", "created_by")
    return _in_scope(request, queryset, raw_id, "project__workspace_id", "Model")


def integration_in_scope(request, raw_id, *, manage: bool = False) -> Integration:
    integration = _in_scope(request, Integration.objects.select_related("workspace"), raw_id, "workspace_id",
                            "Integration")
    _membership(request, integration.workspace_id, manage=manage)
    return integration
