"""Done-when 2 through the real client: a wrong key is the client's "Unauthorized", another workspace's project is
"does not exist", and projects created with a key land in the key's workspace."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")
BINARY = "MODEL_TASK_BINARY_CLASSIFICATION"


def test_a_wrong_key_gives_the_clients_unauthorized_error(rime_sdk, live_server, api_key):
    client = rime_sdk.Client(live_server.url, "rime_not-a-real-key")
    with pytest.raises(ValueError, match="Unauthorized"):
        client.create_project(name="p", description="d", model_task=BINARY)


def test_a_revoked_key_is_unauthorized(rime_sdk, live_server, owner, workspace):
    from projects import services

    api_key, raw_key = services.api_key_create(user=owner, workspace=workspace, name="old")
    services.api_key_revoke(user=owner, api_key=api_key)
    with pytest.raises(ValueError, match="Unauthorized"):
        list(rime_sdk.Client(live_server.url, raw_key).list_projects())


def test_projects_are_scoped_to_the_keys_workspace(rime_sdk, live_server, api_key, outsider, workspace):
    from projects import services
    from projects.models import Project

    elsewhere = outsider.workspaces.get()
    hidden = services.project_create(user=outsider, workspace=elsewhere, name="Hidden", model_task=BINARY)
    client = rime_sdk.Client(live_server.url, api_key)
    created = client.create_project(name="Visible", description="d", model_task=BINARY)

    assert Project.objects.get(id=created.project_id).workspace == workspace
    assert [p.project_id for p in client.list_projects()] == [created.project_id]
    with pytest.raises(ValueError, match="does not exist"):
        client.get_project(str(hidden.id))


def test_a_duplicate_project_name_reads_as_a_bad_request(rime_sdk, live_server, api_key):
    client = rime_sdk.Client(live_server.url, api_key)
    client.create_project(name="Twice", description="d", model_task=BINARY)
    with pytest.raises(ValueError, match="Bad Request: .*already has a project named"):
        client.create_project(name="Twice", description="d", model_task=BINARY)


def test_a_deleted_project_no_longer_exists(rime_sdk, live_server, api_key):
    client = rime_sdk.Client(live_server.url, api_key)
    project = client.create_project(name="Short-lived", description="d", model_task=BINARY)
    project.delete(force=True)
    with pytest.raises(ValueError, match="does not exist"):
        client.get_project(project.project_id)
