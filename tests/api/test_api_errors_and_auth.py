"""Errors reach the client as google.rpc.Status with no JSON true/false/null; keys expire, revoke and are tracked."""
from __future__ import annotations

import ast
import json
from datetime import timedelta

import pytest
from django.utils import timezone

BINARY = "MODEL_TASK_BINARY_CLASSIFICATION"


def post(client, path: str, body, key: str | None):
    extra = {"HTTP_RIME_API_KEY": key} if key else {}
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(path, data=data, content_type="application/json", **extra)


def assert_status_body(response, http_status: int, code: int) -> dict:
    """The client reads error bodies with ast.literal_eval: the body must be a Python literal with a message."""
    assert response.status_code == http_status
    body = ast.literal_eval(response.content.decode())
    assert body["code"] == code and body["details"] == [] and body["message"]
    return body


def test_no_key_is_401_with_a_body(client, db):
    assert_status_body(client.get("/v1/projects"), 401, 16)


def test_an_unknown_key_is_401(client, db):
    body = assert_status_body(client.get("/v1/projects", HTTP_RIME_API_KEY="rime_nope"), 401, 16)
    assert "invalid, expired or revoked" in body["message"]


def test_an_expired_key_is_401(client, owner, workspace):
    from projects import services

    api_key, raw_key = services.api_key_create(user=owner, workspace=workspace, name="k")
    api_key.expires_at = timezone.now() - timedelta(seconds=1)
    api_key.save()
    assert_status_body(client.get("/v1/projects", HTTP_RIME_API_KEY=raw_key), 401, 16)


def test_a_key_stops_working_when_its_owner_leaves_the_workspace(client, editor, workspace, make_api_key):
    raw_key = make_api_key(editor, workspace)
    workspace.memberships.filter(user=editor).delete()
    assert_status_body(client.get("/v1/projects", HTTP_RIME_API_KEY=raw_key), 401, 16)


def test_using_a_key_records_when(client, api_key, owner):
    assert client.get("/v1/projects", HTTP_RIME_API_KEY=api_key).status_code == 200
    assert owner.api_keys.get().last_used_at is not None


def test_the_server_needs_no_key_for_its_version(client, db):
    info = client.get("/v1/rime-info").json()
    assert info["clusterInfoVersion"] == "2.13.2" and info["expirationTime"].endswith("Z")
    limit = client.get(f"/v1/feature-flags/{info['customerName']}/limits/LICENSE_LIMIT_EXPIRATION").json()
    assert limit["limitStatus"]["limitStatus"] == "STATUS_OK"


def test_an_unknown_path_is_a_status_404(client, api_key):
    assert_status_body(client.get("/v1/nothing-here", HTTP_RIME_API_KEY=api_key), 404, 5)


def test_malformed_json_is_a_bad_request(client, api_key):
    assert_status_body(post(client, "/v1/projects", "{not json", api_key), 400, 3)


def test_a_missing_field_is_named(client, api_key):
    body = assert_status_body(post(client, "/v1/projects", {"description": "d", "modelTask": BINARY}, api_key), 400, 3)
    assert "name is required" in body["message"]


def test_an_unsupported_model_task_is_refused(client, api_key):
    body = {"name": "p", "description": "d", "modelTask": "MODEL_TASK_NAMED_ENTITY_RECOGNITION"}
    assert "not supported" in assert_status_body(post(client, "/v1/projects", body, api_key), 400, 3)["message"]


def test_a_viewer_cannot_create_projects(client, member, workspace, make_api_key):
    body = {"name": "p", "description": "d", "modelTask": BINARY}
    assert_status_body(post(client, "/v1/projects", body, make_api_key(member, workspace)), 403, 7)


def test_a_wrong_method_is_a_status_405(client, api_key):
    assert_status_body(client.delete("/v1/test-cases", HTTP_RIME_API_KEY=api_key), 405, 12)


def test_an_invalid_page_token_is_a_bad_request(client, api_key):
    assert_status_body(client.get("/v1/projects?pageToken=%%%", HTTP_RIME_API_KEY=api_key), 400, 3)


def test_the_config_validator_explains_a_bad_config(client, api_key, project):
    config = {"run_name": "r", "data_info": {"eval_dataset_id": "x"}, "categories": ["NOT_A_CATEGORY"]}
    response = post(client, "/v1-beta/config-validator/CONFIG_TYPE_TEST_RUN", {"configJson": json.dumps(config)},
                    api_key)
    assert response.status_code == 404  # the dataset id is checked before the categories
    config["data_info"] = {}
    body = assert_status_body(post(client, "/v1-beta/config-validator/CONFIG_TYPE_TEST_RUN",
                                   {"configJson": json.dumps(config)}, api_key), 400, 3)
    assert "eval_dataset_id is required" in body["message"]


def test_sdk_integration_variables_become_settings_and_encrypted_secrets(client, api_key, workspace,
                                                                       allow_local_outbound):
    from projects.models import Integration

    schema = [{"name": "AWS_ACCESS_KEY_ID", "sensitivity": "VARIABLE_SENSITIVITY_WORKSPACE_SECRET"},
              {"name": "AWS_SECRET_ACCESS_KEY", "sensitivity": "VARIABLE_SENSITIVITY_WORKSPACE_SECRET"},
              {"name": "AWS_ENDPOINT_URL", "sensitivity": "VARIABLE_SENSITIVITY_PUBLIC"}]
    create = {"integration": {"workspaceId": {"uuid": str(workspace.id)}, "name": "s3", "schema": {"variables": schema},
                              "type": "INTEGRATION_TYPE_AWS_ACCESS_KEY"}}
    created = post(client, "/v1-beta/integrations", create, api_key).json()
    integration_id = created["integrationInfo"]["integration"]["id"]["uuid"]
    values = [{"name": "AWS_ACCESS_KEY_ID", "value": "AKIA1234"}, {"name": "AWS_SECRET_ACCESS_KEY", "value": "s3cret"},
              {"name": "AWS_ENDPOINT_URL", "value": "http://127.0.0.1:9000"}]
    configure = {"integrationId": {"uuid": integration_id}, "variables": values}
    assert post(client, f"/v1-beta/integrations/{integration_id}", configure, api_key).status_code == 200

    integration = Integration.objects.get(id=integration_id)
    assert integration.config == {"endpoint_url": "http://127.0.0.1:9000"}
    assert integration.get_secrets() == {"access_key_id": "AKIA1234", "secret_access_key": "s3cret"}
    assert "s3cret" not in integration.encrypted_secrets


def test_an_unsupported_integration_type_is_refused(client, api_key, workspace):
    create = {"integration": {"workspaceId": {"uuid": str(workspace.id)}, "name": "db",
                              "type": "INTEGRATION_TYPE_DATABRICKS"}}
    assert_status_body(post(client, "/v1-beta/integrations", create, api_key), 400, 3)


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/", "/api/redoc/"])
def test_the_openapi_pages_load_without_a_cdn(client, db, path):
    response = client.get(path)
    assert response.status_code == 200
    assert b"cdn.jsdelivr" not in response.content and b"unpkg.com" not in response.content
    assert b"<script>" not in response.content  # CSP allows only script files from our own origin


def test_the_schema_documents_our_additions(client, db):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert {"/api/v1/uploads", "/api/v1/projects/{project_id}/datasets", "/api/v1/test-runs/{test_run_id}/report",
            "/v1/stress-tests/{project_id}"} <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["rimeApiKey"]["name"] == "rime-api-key"


def test_an_unexpected_error_is_a_status_500_not_an_html_page(client, api_key, project, monkeypatch):
    from projects.api import payloads

    def broken(project):
        raise RuntimeError("boom")

    monkeypatch.setattr(payloads, "project_with_details", broken)
    body = assert_status_body(client.get(f"/v1/projects/{project.id}", HTTP_RIME_API_KEY=api_key), 500, 13)
    assert body["message"] == "Internal Server Error"
