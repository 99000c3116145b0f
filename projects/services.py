"""Writes. Views, API views, admin actions, commands and tasks all call these; none holds business logic itself."""
from __future__ import annotations

import secrets
import string
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .models import (
    ApiKey,
    AuditEvent,
    Membership,
    Project,
    Role,
    Workspace,
    default_categories,
    hash_api_key,
)

User = get_user_model()


def audit(*, actor, action: str, obj=None, workspace: Workspace | None = None, **details) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        workspace=workspace,
        action=action,
        object_type=type(obj).__name__ if obj is not None else "",
        object_id=str(getattr(obj, "pk", "") or ""),
        object_repr=str(obj)[:300] if obj is not None else "",
        details=details,
    )


@transaction.atomic
def workspace_create(*, user, name: str, description: str = "") -> Workspace:
    if Workspace.objects.filter(name__iexact=name).exists():
        raise ValidationError({"name": f"A workspace named “{name}” already exists."})
    workspace = Workspace.objects.create(name=name, description=description)
    Membership.objects.create(workspace=workspace, user=user, role=Role.ADMIN)
    audit(actor=user, action="workspace.create", obj=workspace, workspace=workspace)
    return workspace


@transaction.atomic
def project_create(
    *, user, workspace: Workspace, name: str, description: str = "", model_task: str
) -> Project:
    if workspace.projects.filter(name__iexact=name).exists():
        raise ValidationError({"name": f"This workspace already has a project named “{name}”."})
    project = Project.objects.create(
        workspace=workspace,
        name=name,
        description=description,
        model_task=model_task,
        stress_test_categories=default_categories(),
        created_by=user,
    )
    audit(actor=user, action="project.create", obj=project, workspace=workspace)
    return project


@transaction.atomic
def project_delete(*, user, project: Project) -> None:
    audit(actor=user, action="project.delete", obj=project, workspace=project.workspace)
    # Runs PROTECT the models and datasets they used, even when the project takes both away: runs go first.
    project.runs.all().delete()
    project.delete()


@transaction.atomic
def member_add(*, actor, workspace: Workspace, username: str, role: str) -> Membership:
    user = User.objects.filter(username=username).first()
    if user is None:
        raise ValidationError({"username": f"There is no user named “{username}”."})
    if workspace.memberships.filter(user=user).exists():
        raise ValidationError({"username": f"{username} is already a member of this workspace."})
    membership = Membership.objects.create(workspace=workspace, user=user, role=role)
    audit(actor=actor, action="member.add", obj=membership, workspace=workspace, role=role)
    return membership


def _ensure_another_admin(membership: Membership) -> None:
    others = membership.workspace.memberships.filter(role=Role.ADMIN).exclude(id=membership.id)
    if membership.role == Role.ADMIN and not others.exists():
        raise ValidationError("A workspace needs at least one admin: make someone else admin first.")


@transaction.atomic
def member_change_role(*, actor, membership: Membership, role: str) -> Membership:
    if role != Role.ADMIN:
        _ensure_another_admin(membership)
    membership.role = role
    membership.save(update_fields=["role"])
    audit(actor=actor, action="member.change_role", obj=membership, workspace=membership.workspace, role=role)
    return membership


@transaction.atomic
def member_remove(*, actor, membership: Membership) -> None:
    _ensure_another_admin(membership)
    audit(actor=actor, action="member.remove", obj=membership, workspace=membership.workspace)
    membership.delete()


def project_update_settings(
    *, user, project: Project, categories: list[str], test_suite_config: dict
) -> Project:
    project.stress_test_categories = categories
    project.test_suite_config = test_suite_config
    project.save(update_fields=["stress_test_categories", "test_suite_config", "updated_at"])
    audit(actor=user, action="project.update_settings", obj=project, workspace=project.workspace)
    return project


API_KEY_LIFETIME = timedelta(days=270)


@transaction.atomic
def api_key_create(*, user, workspace: Workspace, name: str, lifetime: timedelta | None = API_KEY_LIFETIME) -> tuple[ApiKey, str]:
    """Returns the key row and the raw key, which is never stored and cannot be shown again."""
    raw_key = ApiKey.generate_raw_key()
    api_key = ApiKey.objects.create(
        user=user,
        workspace=workspace,
        name=name,
        key_hash=hash_api_key(raw_key),
        suffix=raw_key[-4:],
        expires_at=timezone.now() + lifetime if lifetime else None,
    )
    audit(actor=user, action="api_key.create", obj=api_key, workspace=workspace)
    return api_key, raw_key


def api_key_revoke(*, user, api_key: ApiKey) -> ApiKey:
    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=["revoked_at"])
    audit(actor=user, action="api_key.revoke", obj=api_key, workspace=api_key.workspace)
    return api_key


def generate_password(length: int = 16) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))
