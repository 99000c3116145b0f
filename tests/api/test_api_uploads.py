"""Our upload endpoints: a file uploaded with a key registers through register_dataset's data_file path, or at once."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.api.sdk_fixtures import MODEL_PY, csv_bytes, fraud_frame


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def csv_upload(name: str = "reference.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, csv_bytes(fraud_frame(20, seed=3)), content_type="text/csv")


def register_body(project, path: str) -> dict:
    return {"projectId": {"uuid": str(project.id)}, "name": "uploaded",
            "dataInfo": {"connectionInfo": {"dataFile": {"path": path}}, "dataParams": {"labelCol": "is_fraud"}}}


def upload(client, key: str) -> str:
    response = client.post("/api/v1/uploads", {"file": csv_upload()}, HTTP_RIME_API_KEY=key)
    assert response.status_code == 201, response.content
    return response.json()["path"]


def test_an_uploaded_file_registers_by_its_path(client, api_key, project):
    from projects.models import Dataset

    path = upload(client, api_key)
    assert path.startswith("upload://") and path.endswith("/reference.csv")
    response = client.post(f"/v1/registry/{project.id}/dataset", register_body(project, path),
                           content_type="application/json", HTTP_RIME_API_KEY=api_key)
    dataset = Dataset.objects.get(id=response.json()["datasetId"])
    assert dataset.source == "upload" and dataset.data_params == {"label_col": "is_fraud"}
    assert dataset.file.read().startswith(b"amount,hour,merchant,is_fraud")


def test_another_workspace_cannot_register_my_upload(client, api_key, outsider, make_api_key):
    from projects import services

    path = upload(client, api_key)
    theirs = outsider.workspaces.get()
    their_project = services.project_create(user=outsider, workspace=theirs, name="T",
                                            model_task="MODEL_TASK_BINARY_CLASSIFICATION")
    response = client.post(f"/v1/registry/{their_project.id}/dataset", register_body(their_project, path),
                           content_type="application/json", HTTP_RIME_API_KEY=make_api_key(outsider, theirs))
    assert response.status_code == 404


def test_a_dataset_uploads_and_registers_in_one_request(client, api_key, project):
    from projects.models import Dataset

    response = client.post(f"/api/v1/projects/{project.id}/datasets",
                           {"name": "eval", "file": csv_upload("eval.csv"), "data_params": '{"label_col": "is_fraud"}'},
                           HTTP_RIME_API_KEY=api_key)
    assert response.status_code == 201, response.content
    assert Dataset.objects.get(id=response.json()["datasetId"]).name == "eval"


def test_bad_data_params_are_a_bad_request(client, api_key, project):
    response = client.post(f"/api/v1/projects/{project.id}/datasets",
                           {"name": "eval", "file": csv_upload(), "data_params": "[1]"}, HTTP_RIME_API_KEY=api_key)
    assert response.status_code == 400 and "JSON object" in response.json()["message"]


def test_a_model_uploads_and_registers(client, api_key, project):
    from projects.models import RegisteredModel

    model_py = SimpleUploadedFile("model.py", MODEL_PY.encode(), content_type="text/x-python")
    response = client.post(f"/api/v1/projects/{project.id}/models",
                           {"name": "uploaded model", "files": [model_py], "tags": "fraud, v1"},
                           HTTP_RIME_API_KEY=api_key)
    assert response.status_code == 201, response.content
    model = RegisteredModel.objects.get(id=response.json()["modelId"]["uuid"])
    assert model.source == "upload" and model.tags == ["fraud", "v1"] and model.entry_point == "model.py"


def test_a_signed_in_member_of_one_workspace_can_upload(client_for, owner):
    response = client_for(owner).post("/api/v1/uploads", {"file": csv_upload()})
    assert response.status_code == 201 and response.json()["path"].startswith("upload://")
