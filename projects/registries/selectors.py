"""Reads of the registries (models, datasets, integrations), scoped to the user through the project's or workspace's
membership: anything outside them is a 404, as if it did not exist."""
from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from projects.models import Dataset, Integration, Membership, Project, RegisteredModel
from projects.selectors import check_role, get_project_for_user, membership_for


def models_of(project: Project) -> QuerySet[RegisteredModel]:
    return project.models.select_related("created_by").order_by("-created_at")


def datasets_of(project: Project) -> QuerySet[Dataset]:
    return project.datasets.select_related("created_by").order_by("-created_at")


def _get_project_artifact_for_user(model_class, user, artifact_id, *, write: bool, noun: str):
    artifact = model_class.objects.select_related("project__workspace").filter(id=artifact_id).first()
    if artifact is None:
        raise Http404(f"No such {noun}.")
    _, membership = get_project_for_user(user, artifact.project_id, write=write)
    return artifact, membership


def get_model_for_user(user, model_id, *, write: bool = False) -> tuple[RegisteredModel, Membership]:
    return _get_project_artifact_for_user(RegisteredModel, user, model_id, write=write, noun="model")


def get_dataset_for_user(user, dataset_id, *, write: bool = False) -> tuple[Dataset, Membership]:
    return _get_project_artifact_for_user(Dataset, user, dataset_id, write=write, noun="dataset")


def get_integration_for_user(user, integration_id, *, manage: bool = False) -> tuple[Integration, Membership]:
    integration = Integration.objects.select_related("workspace").filter(id=integration_id).first()
    if integration is None:
        raise Http404("No such integration.")
    membership = membership_for(user, integration.workspace_id)
    check_role(membership, manage=manage)
    return integration, membership
