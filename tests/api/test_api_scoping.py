"""Done-when 2 at the HTTP level: with a key for one workspace, every endpoint answers 404 with the client's
status body for another workspace's ids; the same requests with that workspace's own key do not."""
from __future__ import annotations

import json

import pytest

from tests.api.reports import finished_run

BINARY = "MODEL_TASK_BINARY_CLASSIFICATION"


@pytest.fixture
def elsewhere(outsider, make_api_key):
    """Another workspace with a project, an integration and a finished run, and its owner's key."""
    from projects import services
    from projects.models import Integration

    workspace = outsider.workspaces.get()
    project = services.project_create(user=outsider, workspace=workspace, name="Theirs", model_task=BINARY)
    run = finished_run(project)
    integration = Integration.objects.create(workspace=workspace, name="their s3", integration_type="INTEGRATION_TYPE_AWS_ACCESS_KEY")
    return {"workspace": workspace.id, "project": project.id, "dataset": run.evaluation_dataset_id,
            "model": run.model_id, "integration": integration.id, "job": run.job_id, "run": run.id,
            "key": make_api_key(outsider, workspace)}


def start_config(ids: dict) -> dict:
    return {"run_name": "r", "model_id": {"uuid": str(ids["model"])},
            "data_info": {"ref_dataset_id": str(ids["dataset"]), "eval_dataset_id": str(ids["dataset"])}}


ENDPOINTS = [
    ("get", "/v1/projects/{project}", None),
    ("get", "/v1/projects/{project}/url", None),
    ("put", "/v1/projects/{project}/role/workspace", {"rolePairs": []}),
    ("delete", "/v1/projects/{project}", None),
    ("post", "/v1-beta/integrations", {"integration": {"workspaceId": {"uuid": "{workspace}"}, "name": "x",
                                                       "type": "INTEGRATION_TYPE_AWS_ACCESS_KEY"}}),
    ("get", "/v1-beta/integrations/{integration}", None),
    ("post", "/v1-beta/integrations/{integration}", {"variables": []}),
    ("delete", "/v1-beta/integrations/{integration}", None),
    ("get", "/v1/registry/dataset?datasetId={dataset}", None),
    ("get", "/v1/registry/model?modelId.uuid={model}", None),
    ("get", "/v1/registry/dataset?datasetName=Finished%20run%20data", None),
    ("get", "/v1/registry/model?modelName=Finished%20run%20model", None),
    ("get", "/v1/registry/{project}/dataset", None),
    ("post", "/v1/registry/{project}/dataset", {"projectId": {"uuid": "{project}"}, "name": "d", "dataInfo": {
        "connectionInfo": {"dataFile": {"path": "/data/x.csv"}}, "dataParams": {"labelCol": "y"}}}),
    ("get", "/v1/registry/{project}/model", None),
    ("post", "/v1/registry/{project}/model", {"projectId": {"uuid": "{project}"}, "name": "m",
                                               "modelInfo": {"modelPath": {"path": "/models/model.py"}}}),
    ("post", "/v1-beta/config-validator/CONFIG_TYPE_TEST_RUN", "config-json"),
    ("post", "/v1/stress-tests/{project}", "start"),
    ("get", "/v1/jobs/{job}?view=JOB_VIEW_FULL", None),
    ("post", "/v1/jobs/cancel/{job}", None),
    ("get", "/v1/jobs/project/{project}?firstPageQuery.selectedTypes=JOB_TYPE_MODEL_STRESS_TEST&pageSize=20", None),
    ("get", "/v1-beta/logs/{job}", None),
    ("get", "/v1/test-runs/{run}", None),
    ("get", "/v1/test-runs?firstPageQuery.projectId.uuid={project}", None),
    ("get", "/v1/test-cases?listTestCasesQuery.testRunId={run}&pageSize=20", None),
    ("get", "/v1/summary-tests?query.testRunId={run}&pageSize=20", None),
    ("get", "/v1/category-results/{run}", None),
    ("get", "/api/v1/test-runs/{run}/report", None),
]


def fill(template, ids: dict):
    if template == "config-json":
        return {"configJson": json.dumps(start_config(ids))}
    if template == "start":
        return {"testRunConfig": start_config(ids)}
    text = json.dumps(template) if not isinstance(template, str) else template
    for name, value in ids.items():
        text = text.replace("{" + name + "}", str(value))
    return json.loads(text) if not isinstance(template, str) else text


def call(client, method: str, path: str, body, key: str):
    data = json.dumps(body) if body is not None else None
    return client.generic(method.upper(), path, data=data or "", content_type="application/json",
                          HTTP_RIME_API_KEY=key)


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
def test_another_workspaces_ids_are_not_found(client, api_key, elsewhere, method, path, body):
    response = call(client, method, fill(path, elsewhere), fill(body, elsewhere), api_key)
    assert response.status_code == 404, response.content
    assert response.json()["code"] == 5 and response.json()["details"] == []


GETS = [(m, p, b) for m, p, b in ENDPOINTS if m == "get"]


@pytest.mark.parametrize(("method", "path", "body"), GETS, ids=[p for _, p, _ in GETS])
def test_the_owning_workspaces_key_reads_them(client, elsewhere, method, path, body):
    response = call(client, method, fill(path, elsewhere), None, elsewhere["key"])
    assert response.status_code == 200, response.content


def test_the_project_list_holds_only_the_keys_workspace(client, api_key, project, elsewhere):
    response = call(client, "get", "/v1/projects?pageToken=", None, api_key)
    assert [item["project"]["id"]["uuid"] for item in response.json()["projects"]] == [str(project.id)]


def test_a_start_in_my_project_cannot_use_their_datasets(client, api_key, project, elsewhere):
    response = call(client, "post", f"/v1/stress-tests/{project.id}", {"testRunConfig": start_config(elsewhere)},
                    api_key)
    assert response.status_code == 404
    from stresstests.models import StressTestRun

    assert not StressTestRun.objects.filter(project=project).exists()
