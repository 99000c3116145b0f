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


# --- bodies whose nested parts have the wrong type --------------------------------------------------------------------


def post(client, path: str, body, key: str):
    return client.post(path, data=json.dumps(body), content_type="application/json", HTTP_RIME_API_KEY=key)


def test_an_integration_schema_that_is_not_an_object_is_a_400(client, api_key, workspace):
    body = {"integration": {"workspaceId": {"uuid": str(workspace.id)}, "name": "s3",
                            "type": "INTEGRATION_TYPE_AWS_ACCESS_KEY", "schema": [None]}}
    response = post(client, "/v1-beta/integrations", body, api_key)
    assert response.status_code == 400 and response.json()["message"] == "schema must be an object."
    assert not workspace.integrations.exists()


def test_a_hugging_face_model_that_is_not_an_object_is_a_400(client, api_key, project):
    body = {"projectId": {"uuid": str(project.id)}, "name": "m", "modelInfo": {"huggingFace": "org/model"}}
    response = post(client, f"/v1/registry/{project.id}/model", body, api_key)
    assert response.status_code == 400 and "huggingFace" in response.json()["message"]
    assert not project.models.exists()


@pytest.mark.parametrize("data_info", [
    {"connectionInfo": 7},
    {"connectionInfo": {"dataFile": {"path": "s3://bucket/x.csv"}}, "dataParams": ["label_col"]},
])
def test_dataset_connection_and_params_of_the_wrong_type_are_a_400(client, api_key, project, data_info):
    body = {"projectId": {"uuid": str(project.id)}, "name": "d", "dataInfo": data_info}
    response = post(client, f"/v1/registry/{project.id}/dataset", body, api_key)
    assert response.status_code == 400, response.content
    assert not project.datasets.exists()


# --- JSON inside strings gets the body's nesting limit -----------------------------------------------------------------


DEEP = "[" * 100_000 + "]" * 100_000


def test_a_config_json_string_nested_100000_deep_is_a_400(client, api_key):
    response = post(client, "/v1-beta/config-validator/CONFIG_TYPE_TEST_RUN", {"configJson": DEEP}, api_key)
    assert response.status_code == 400 and "configJson is nested too deeply" in response.json()["message"]


def test_deep_data_params_in_a_dataset_upload_are_a_400(client, api_key, project, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_ROOT = tmp_path / "media"
    upload = SimpleUploadedFile("d.csv", b"a,label\n1,0\n", content_type="text/csv")
    response = client.post(f"/api/v1/projects/{project.id}/datasets",
                           {"name": "d", "file": upload, "data_params": DEEP}, HTTP_RIME_API_KEY=api_key)
    assert response.status_code == 400 and "data_params is nested too deeply" in response.json()["message"]
    assert not project.datasets.exists()


def test_a_page_token_of_deep_json_is_a_400(client, api_key):
    response = client.get("/v1/projects", {"pageToken": token_of_text(DEEP)}, HTTP_RIME_API_KEY=api_key)
    assert response.status_code == 400


def token_of_text(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


# --- text PostgreSQL cannot store ---------------------------------------------------------------------------------------


def test_a_nul_character_in_a_body_is_a_400_not_a_database_error(client, api_key, workspace):
    body = {"name": "a\u0000b", "modelTask": "MODEL_TASK_BINARY_CLASSIFICATION"}
    response = post(client, "/v1/projects", body, api_key)
    assert response.status_code == 400 and "NUL" in response.json()["message"]
    assert not workspace.projects.exists()


def test_a_nul_character_in_a_query_is_a_400_not_a_database_error(client, api_key):
    response = client.get("/v1/registry/model", {"modelName": "a\x00b"}, HTTP_RIME_API_KEY=api_key)
    assert response.status_code == 400 and "NUL" in response.json()["message"]


def test_a_lone_surrogate_in_a_body_is_a_400_not_a_database_error(client, api_key, workspace):
    raw = '{"name": "a\\ud800", "modelTask": "MODEL_TASK_BINARY_CLASSIFICATION"}'
    response = client.post("/v1/projects", data=raw, content_type="application/json", HTTP_RIME_API_KEY=api_key)
    assert response.status_code == 400, response.content
    assert not workspace.projects.exists()


def test_a_model_upload_without_a_body_is_a_400(client, api_key, project):
    # No body and no Content-Type at all (the test client's post() would send an empty multipart form).
    response = client.generic("POST", f"/api/v1/projects/{project.id}/models", HTTP_RIME_API_KEY=api_key)
    assert response.status_code == 400, response.content
    assert "name: This field is required." in response.json()["message"]
    assert not project.models.exists()
