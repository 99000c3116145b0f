"""The workspace's API keys page and `manage.py create_api_key`."""
from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

KEY_RE = re.compile(r"rime_[A-Za-z0-9_-]{20,}")


def keys_url(workspace) -> str:
    return reverse("projects:api_keys", args=[workspace.id])


def test_creating_a_key_shows_it_once_and_it_works(client_for, owner, workspace, client):
    page = client_for(owner).post(keys_url(workspace), {"name": "notebook", "lifetime_days": 30})
    assert page.status_code == 200
    raw_key = KEY_RE.search(page.content.decode()).group(0)
    api_key = owner.api_keys.get()
    assert api_key.name == "notebook" and api_key.suffix == raw_key[-4:] and raw_key not in api_key.key_hash
    assert round((api_key.expires_at - api_key.created_at).total_seconds() / 86400) == 30

    listing = client_for(owner).get(keys_url(workspace)).content.decode()
    assert f"…{api_key.suffix}" in listing and raw_key not in listing and "Active" in listing
    client.logout()
    assert client.get("/v1/projects", HTTP_RIME_API_KEY=raw_key).status_code == 200


def test_an_invalid_form_rerenders_with_200(client_for, owner, workspace):
    page = client_for(owner).post(keys_url(workspace), {"name": "", "lifetime_days": 999})
    assert page.status_code == 200 and not owner.api_keys.exists()


def test_revoking_a_key_stops_it(client_for, owner, workspace, make_api_key, client):
    raw_key = make_api_key(owner, workspace)
    api_key = owner.api_keys.get()
    response = client_for(owner).post(reverse("projects:api_key_revoke", args=[workspace.id, api_key.id]))
    assert response.status_code == 302
    assert "Revoked" in client.get(keys_url(workspace)).content.decode()
    assert client.get("/v1/projects", HTTP_RIME_API_KEY=raw_key).status_code == 401


def test_members_see_only_their_keys_and_admins_see_all(client_for, owner, member, workspace, make_api_key):
    make_api_key(owner, workspace, name="owner-key")
    make_api_key(member, workspace, name="viewer-key")
    assert "owner-key" not in client_for(member).get(keys_url(workspace)).content.decode()
    assert "viewer-key" in client_for(owner).get(keys_url(workspace)).content.decode()


def test_a_member_cannot_revoke_someone_elses_key(client_for, owner, member, workspace, make_api_key):
    make_api_key(owner, workspace)
    api_key = owner.api_keys.get()
    response = client_for(member).post(reverse("projects:api_key_revoke", args=[workspace.id, api_key.id]))
    assert response.status_code == 404
    api_key.refresh_from_db()
    assert api_key.revoked_at is None


def test_an_outsider_gets_404(client_for, outsider, workspace):
    assert client_for(outsider).get(keys_url(workspace)).status_code == 404


def test_revoke_needs_post(client_for, owner, workspace, make_api_key):
    make_api_key(owner, workspace)
    url = reverse("projects:api_key_revoke", args=[workspace.id, owner.api_keys.get().id])
    assert client_for(owner).get(url).status_code == 405


def test_the_workspace_page_links_to_api_keys_and_shows_its_id(client_for, owner, workspace):
    page = client_for(owner).get(reverse("projects:workspace_detail", args=[workspace.id])).content.decode()
    assert keys_url(workspace) in page and str(workspace.id) in page


def run_command(*args) -> str:
    out = StringIO()
    call_command("create_api_key", *args, stdout=out)
    return out.getvalue()


def test_the_command_prints_a_working_key_and_the_workspace_id(owner, workspace, client):
    output = run_command("--username", owner.username)
    assert str(workspace.id) in output
    raw_key = KEY_RE.search(output).group(0)
    assert client.get("/v1/projects", HTTP_RIME_API_KEY=raw_key).status_code == 200


def test_the_command_needs_a_workspace_when_the_user_has_several(owner, workspace):
    from projects import services

    second = services.workspace_create(user=owner, name="Second")
    with pytest.raises(CommandError, match="pass --workspace"):
        run_command("--username", owner.username)
    assert str(second.id) in run_command("--username", owner.username, "--workspace", "second")
    assert owner.api_keys.get().workspace == second
    run_command("--username", owner.username, "--workspace", str(workspace.id))
    assert owner.api_keys.filter(workspace=workspace).exists()


def test_the_command_refuses_a_workspace_the_user_is_not_in(owner, outsider):
    with pytest.raises(CommandError, match="not a member"):
        run_command("--username", owner.username, "--workspace", "Elsewhere")
