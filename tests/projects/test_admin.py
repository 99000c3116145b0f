"""The admin console lists and opens every model."""
from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse


@pytest.fixture
def superuser_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw-123456789"))
    return client


@pytest.mark.parametrize("model", [m for m in admin.site._registry if m._meta.app_label in ("projects", "stresstests")],
                         ids=lambda m: m.__name__)
def test_every_model_has_a_working_changelist(superuser_client, project, model):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    assert superuser_client.get(url).status_code == 200


def test_audit_events_are_read_only(superuser_client, project):
    from projects.models import AuditEvent

    event = AuditEvent.objects.first()
    response = superuser_client.post(reverse("admin:projects_auditevent_change", args=[event.id]), {"action": "forged"})
    event.refresh_from_db()
    assert event.action != "forged"
    assert response.status_code in (302, 403)


def test_workspace_admin_shows_memberships_inline(superuser_client, workspace):
    html = superuser_client.get(reverse("admin:projects_workspace_change", args=[workspace.id])).content.decode()
    assert "Memberships" in html and "owner" in html


def test_admin_changes_are_audited(superuser_client, workspace):
    from projects.models import AuditEvent

    superuser_client.post(reverse("admin:projects_workspace_delete", args=[workspace.id]), {"post": "yes"})
    assert AuditEvent.objects.filter(action="admin.delete", object_id=str(workspace.id)).exists()
