"""Every page URL, every persona: anonymous is sent to sign in, an outsider gets 404, a viewer cannot write."""
from __future__ import annotations

import pytest
from django.urls import reverse

from projects.models import Membership


def page_urls(workspace, project, run_id, membership_id):
    return {
        "workspace_list": reverse("projects:workspace_list"),
        "workspace_detail": reverse("projects:workspace_detail", args=[workspace.id]),
        "project_create": reverse("projects:project_create", args=[workspace.id]),
        "members": reverse("projects:members", args=[workspace.id]),
        "project_detail": reverse("projects:project_detail", args=[project.id]),
        "model_list": reverse("projects:model_list", args=[project.id]),
        "dataset_list": reverse("projects:dataset_list", args=[project.id]),
        "project_settings": reverse("projects:project_settings", args=[project.id]),
        "run_list": reverse("stresstests:run_list", args=[project.id]),
        "run_detail": reverse("stresstests:run_detail", args=[run_id]),
    }


# (url name, method, minimum role: "viewer" reads, "editor" writes, "admin" manages members)
WRITES = [
    ("project_create", "post", "editor"),
    ("project_settings", "post", "editor"),
    ("members", "post", "admin"),
    ("member_change_role", "post", "admin"),
    ("member_remove", "post", "admin"),
]
SCOPED_PAGES = ["workspace_detail", "project_create", "members", "project_detail", "model_list", "dataset_list",
                "project_settings", "run_list", "run_detail"]


@pytest.fixture
def run(project, owner):
    from stresstests.models import RunStatus, StressTestRun

    return StressTestRun.objects.create(project=project, name="Nightly", status=RunStatus.SUCCEEDED, created_by=owner)


@pytest.fixture
def urls(workspace, project, run, editor):
    membership = Membership.objects.get(user=editor, workspace=workspace)
    result = page_urls(workspace, project, run.id, membership.id)
    result["member_change_role"] = reverse("projects:member_change_role", args=[workspace.id, membership.id])
    result["member_remove"] = reverse("projects:member_remove", args=[workspace.id, membership.id])
    return result


@pytest.mark.parametrize("name", SCOPED_PAGES + ["workspace_list"])
def test_anonymous_is_sent_to_sign_in(client, urls, name):
    response = client.get(urls[name])
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", SCOPED_PAGES)
def test_an_outsider_gets_not_found(client_for, outsider, urls, name):
    assert client_for(outsider).get(urls[name]).status_code == 404


@pytest.mark.parametrize("name", [n for n in SCOPED_PAGES if n != "project_create"])
def test_a_viewer_can_read(client_for, member, urls, name):
    assert client_for(member).get(urls[name]).status_code == 200


def test_a_viewer_cannot_open_create_project(client_for, member, urls):
    assert client_for(member).get(urls["project_create"]).status_code == 403


@pytest.mark.parametrize("name,method,minimum", WRITES)
def test_a_viewer_cannot_write(client_for, member, urls, name, method, minimum):
    response = getattr(client_for(member), method)(urls[name], {"name": "X", "username": "owner", "role": "admin"})
    assert response.status_code == 403


@pytest.mark.parametrize("name,method,minimum", [w for w in WRITES if w[2] == "admin"])
def test_an_editor_cannot_manage_members(client_for, editor, urls, name, method, minimum):
    response = getattr(client_for(editor), method)(urls[name], {"username": "owner", "role": "viewer"})
    assert response.status_code == 403


@pytest.mark.parametrize("name,method,minimum", WRITES)
def test_an_outsider_cannot_write(client_for, outsider, urls, name, method, minimum):
    response = getattr(client_for(outsider), method)(urls[name], {"name": "X", "username": "owner", "role": "admin"})
    assert response.status_code == 404


@pytest.mark.parametrize("name", ["workspace_detail", "project_detail", "run_list"])
def test_pages_refuse_wrong_methods(client_for, owner, urls, name):
    assert client_for(owner).delete(urls[name]).status_code == 405


def test_workspace_list_shows_only_my_workspaces(client_for, owner, outsider):
    response = client_for(owner).get(reverse("projects:workspace_list"))
    assert b"Acme" in response.content
    assert b"Elsewhere" not in response.content
