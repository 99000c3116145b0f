"""Reads, always scoped to the user's memberships. Anything outside them is a 404, as if it did not exist."""
from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import Http404
from django.utils import timezone

from .models import Membership, ModelTask, Project, Role, WorkerPresence, Workspace

# A worker not seen for this many presence intervals counts as gone (stresstests/presence.py writes the rows).
PRESENCE_STALE_INTERVALS = 4


def workspaces_for_user(user) -> QuerySet[Workspace]:
    return Workspace.objects.filter(memberships__user=user).annotate(project_count=Count("projects", distinct=True))


def membership_for(user, workspace_id: UUID | str) -> Membership:
    if not user.is_authenticated:
        raise Http404("No such workspace.")
    membership = (
        Membership.objects.select_related("workspace").filter(user=user, workspace_id=workspace_id).first()
    )
    if membership is None:
        raise Http404("No such workspace.")
    return membership


def check_role(membership: Membership, *, write: bool = False, manage: bool = False) -> None:
    if manage and not membership.can_manage:
        raise PermissionDenied("Only workspace admins can do this.")
    if write and not membership.can_write:
        raise PermissionDenied("Viewers cannot change anything in this workspace.")


def get_workspace_for_user(user, workspace_id, *, write: bool = False, manage: bool = False) -> tuple[Workspace, Membership]:
    membership = membership_for(user, workspace_id)
    check_role(membership, write=write, manage=manage)
    return membership.workspace, membership


def get_project_for_user(user, project_id, *, write: bool = False) -> tuple[Project, Membership]:
    project = Project.objects.select_related("workspace").filter(id=project_id).first()
    if project is None:
        raise Http404("No such project.")
    membership = membership_for(user, project.workspace_id)
    check_role(membership, write=write)
    return project, membership


def projects_in_workspace(workspace: Workspace) -> QuerySet[Project]:
    return workspace.projects.annotate(run_count=Count("runs", distinct=True)).order_by("name")


def members_of(workspace: Workspace) -> QuerySet[Membership]:
    return workspace.memberships.select_related("user").order_by("user__username")


ROLE_ORDER = [Role.ADMIN, Role.EDITOR, Role.VIEWER]


def project_has_text_data(project: Project) -> bool:
    """Whether the project tests text models: its task is natural language inference, or one of its datasets or runs
    names text features (data_params.text_features, on the dataset or as the wizard's run-level choice)."""
    if project.model_task == ModelTask.NATURAL_LANGUAGE_INFERENCE:
        return True
    named = [*project.datasets.filter(data_params__has_key="text_features").values_list("data_params", flat=True),
             *(config.get("data_params") or {} for config in project.runs.filter(
                 config__data_params__has_key="text_features").values_list("config", flat=True))]
    return any(params.get("text_features") for params in named)


def live_worker_queues() -> set[str]:
    """The queues some live worker consumes (a worker refreshes its WorkerPresence row every few seconds)."""
    cutoff = timezone.now() - timedelta(seconds=settings.WORKER_PRESENCE_INTERVAL_S * PRESENCE_STALE_INTERVALS)
    return {queue for queues in WorkerPresence.objects.filter(last_seen__gte=cutoff).values_list("queues", flat=True)
            for queue in queues}
