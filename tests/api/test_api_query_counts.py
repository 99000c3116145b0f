"""Lists cost the same number of queries for one row as for many."""
from __future__ import annotations

from functools import partial

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.api.reports import finished_run

BINARY = "MODEL_TASK_BINARY_CLASSIFICATION"


def queries_for(fetch) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = fetch()
    assert response.status_code == 200
    return len(captured)


def test_the_project_list_does_not_grow_with_projects(client, api_key, owner, workspace):
    from projects import services

    fetch = partial(client.get, "/v1/projects?pageToken=", HTTP_RIME_API_KEY=api_key)
    services.project_create(user=owner, workspace=workspace, name="P0", model_task=BINARY)
    fetch()  # the first use of a key records last_used_at
    one = queries_for(fetch)
    for index in range(1, 6):
        services.project_create(user=owner, workspace=workspace, name=f"P{index}", model_task=BINARY)
    assert queries_for(fetch) == one


def test_the_job_list_does_not_grow_with_jobs(client, api_key, project):
    fetch = partial(client.get, f"/v1/jobs/project/{project.id}?pageSize=20", HTTP_RIME_API_KEY=api_key)
    finished_run(project, name="first")
    fetch()
    one = queries_for(fetch)
    for index in range(4):
        finished_run(project, name=f"run {index}")
    assert queries_for(fetch) == one


def test_the_api_keys_page_does_not_grow_with_keys(client_for, owner, member, workspace, make_api_key):
    page = client_for(owner)
    url = reverse("projects:api_keys", args=[workspace.id])
    make_api_key(owner, workspace)
    one = queries_for(partial(page.get, url))
    for index in range(4):
        make_api_key(member, workspace, name=f"key {index}")
    assert queries_for(partial(page.get, url)) == one
