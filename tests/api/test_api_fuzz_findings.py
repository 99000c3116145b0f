"""Regression tests for the server errors the schemathesis run (test_api_fuzz.py) found, one per defect."""
from __future__ import annotations

import base64
import json

import pytest

from tests.api.reports import finished_run


def token(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.fixture
def run(project):
    return finished_run(project)


@pytest.mark.parametrize("forged", [
    {"q": {}, "o": 0},  # the filters of another list: KeyError in the view
    {"q": {"workspace": ""}, "o": -5},  # negative offset: Django refuses negative slicing
    {"q": {"workspace": ""}, "o": 10**30},  # an offset no database takes
    {"q": {"workspace": 7}, "o": 0},
])
def test_a_forged_page_token_for_projects_is_a_400(client, api_key, forged):
    response = client.get("/v1/projects", {"pageToken": token(forged)}, HTTP_RIME_API_KEY=api_key)
    assert response.status_code == 400
    assert response.json()["message"] == "The page token is not valid; start again from the first page."


@pytest.mark.parametrize("path,forged", [
    ("/v1/test-cases", {"q": {"project": "x"}, "o": 0}),
    ("/v1/summary-tests", {"q": {"run": "{run}"}, "o": -1}),
    ("/v1/test-runs", {"q": {"project": "{project}"}, "o": 0}),
])
def test_a_forged_page_token_for_results_is_a_400(client, api_key, run, path, forged):
    forged = json.loads(json.dumps(forged).replace("{run}", str(run.id)).replace("{project}", str(run.project_id)))
    response = client.get(path, {"pageToken": token(forged)}, HTTP_RIME_API_KEY=api_key)
    assert response.status_code == 400, response.content


def test_a_token_the_server_wrote_still_pages(client, api_key, workspace, owner):
    from projects import services

    for number in range(3):
        services.project_create(user=owner, workspace=workspace, name=f"P{number}", description="",
                                model_task="MODEL_TASK_BINARY_CLASSIFICATION")
    first = client.get("/v1/projects", {"pageSize": 2}, HTTP_RIME_API_KEY=api_key).json()
    second = client.get("/v1/projects", {"pageSize": 2, "pageToken": first["nextPageToken"]},
                        HTTP_RIME_API_KEY=api_key).json()
    assert len(first["projects"]) == 2 and len(second["projects"]) == 1 and second["hasMore"] is False
