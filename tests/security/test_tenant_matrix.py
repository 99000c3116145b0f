"""Tenant isolation matrix: every URL pattern x every persona is its own test.

Pages: anonymous is sent to sign in, an outsider (admin of another workspace) gets 404 and sees none of Acme's
names, a viewer cannot write (403), an editor cannot manage (403). API (/v1, /v1-beta, /api/v1): a key of another
workspace gets 404, no key or a wrong key 401, all in the client's google.rpc.Status shape.

The URL patterns are walked from the resolver: a pattern missing from the tables below fails
`test_every_url_pattern_is_in_the_matrix`, so a new URL cannot ship without its row.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pytest
from django.contrib import admin
from django.urls import URLResolver, get_resolver

from projects.authentication import INVALID_KEY_MESSAGE
from stresstests.results.report import url_safe_feature_id

# Names of Acme's rows: none may appear in an answer to another workspace.
ACME_NAMES = ("Acme secret data", "Acme secret model", "Acme nightly", "Acme warehouse", "Card fraud")
LOGIN = "login"
ROLE_RANK = {"viewer": 0, "editor": 1, "admin": 2}
ACCESS_RANK = {"read": 0, "write": 1, "manage": 2}


@dataclass(frozen=True)
class Row:
    """One URL pattern and method. access: public | signed_in | read | write | manage.
    `ids` picks the object the path names when it is not the default (e.g. the queued run for cancel)."""

    route: str
    method: str
    access: str
    ok: int
    data: dict = field(default_factory=dict)
    ids: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)
    overrides: dict = field(default_factory=dict)  # persona -> status where the general rule does not apply

    @property
    def id(self) -> str:
        return f"{self.method.upper()} {self.route}"


W = "workspaces/<uuid:workspace_id>/"
P = "projects/<uuid:project_id>/"
R = "stress-tests/<uuid:run_id>/"

PAGES = [
    Row("", "get", "public", 302),
    Row("accounts/login/", "get", "public", 302, overrides={"anonymous": 200}),
    Row("accounts/logout/", "post", "public", 302),
    Row("workspaces/", "get", "signed_in", 200),
    Row("workspaces/", "post", "signed_in", 200),  # an empty form re-renders
    Row(W, "get", "read", 200),
    Row(f"{W}projects/new/", "get", "write", 200),
    Row(f"{W}projects/new/", "post", "write", 200),
    Row(f"{W}members/", "get", "read", 200),
    Row(f"{W}members/", "post", "manage", 200),
    Row(f"{W}members/<uuid:membership_id>/role/", "post", "manage", 302, data={"role": "editor"}),
    Row(f"{W}members/<uuid:membership_id>/remove/", "post", "manage", 302),
    Row(f"{W}api-keys/", "get", "read", 200),
    Row(f"{W}api-keys/", "post", "read", 200, data={"name": "mine", "lifetime_days": "5"}),
    # The key is the viewer's: it and admins may revoke it; an editor does not even see it.
    Row(f"{W}api-keys/<uuid:api_key_id>/revoke/", "post", "read", 302, overrides={"editor": 404}),
    Row(f"{W}integrations/", "get", "read", 200),
    Row(f"{W}integrations/new/<slug:type_slug>/", "get", "manage", 200),
    Row(f"{W}integrations/new/<slug:type_slug>/", "post", "manage", 200),
    Row(f"{W}integrations/<uuid:integration_id>/edit/", "get", "manage", 200),
    Row(f"{W}integrations/<uuid:integration_id>/edit/", "post", "manage", 200),
    Row(f"{W}integrations/<uuid:integration_id>/delete/", "post", "manage", 302),
    Row(P, "get", "read", 200),
    Row(f"{P}settings/", "get", "read", 200),
    Row(f"{P}settings/", "post", "write", 200),
    Row(f"{P}models/", "get", "read", 200),
    Row(f"{P}models/new/", "get", "write", 200),
    Row(f"{P}models/new/", "post", "write", 200),
    Row(f"{P}models/<uuid:model_id>/", "get", "read", 200),
    Row(f"{P}models/<uuid:model_id>/delete/", "post", "write", 302),
    Row(f"{P}models/<uuid:model_id>/validate/", "post", "write", 302),
    Row(f"{P}datasets/", "get", "read", 200),
    Row(f"{P}datasets/new/", "get", "write", 200),
    Row(f"{P}datasets/new/", "post", "write", 200),
    Row(f"{P}datasets/<uuid:dataset_id>/", "get", "read", 200),
    Row(f"{P}datasets/<uuid:dataset_id>/delete/", "post", "write", 302),
    Row(f"{P}datasets/<uuid:dataset_id>/validate/", "post", "write", 302),
    Row(f"{P}predictions/new/", "get", "write", 200),
    Row(f"{P}predictions/new/", "post", "write", 200),
    Row(f"{P}stress-tests/", "get", "read", 200),
    Row(f"{P}stress-tests/new/", "post", "write", 302),
    Row(f"{P}stress-tests/compare/", "get", "read", 200),
    Row(R, "get", "read", 200),
    Row(f"{R}progress/", "get", "read", 200, headers={"HTTP_HX_REQUEST": "true"}),
    Row(f"{R}cancel/", "post", "write", 302, ids={"run_id": "queued_run"}),
    Row(f"{R}rerun/", "post", "write", 302),
    Row(f"{R}rerun/edit/", "post", "write", 302),
    Row(f"{R}delete/", "post", "write", 302, ids={"run_id": "draft"}),
    Row(f"{R}wizard/<slug:step>/", "get", "write", 200, ids={"run_id": "draft"}),
    Row(f"{R}wizard/<slug:step>/", "post", "write", 200, ids={"run_id": "draft"}),
    Row(f"{R}wizard/<slug:step>/model-check/", "get", "write", 200, ids={"run_id": "draft"},
        headers={"HTTP_HX_REQUEST": "true"}),
    Row(f"{R}wizard/evaluation/fix/", "post", "write", 302, ids={"run_id": "draft"}),
    Row(f"{R}wizard/evaluation/start/", "post", "write", 302, ids={"run_id": "draft"}),
    Row(f"{R}results/", "get", "read", 200),
    Row(f"{R}results/<slug:tab>/", "get", "read", 200),
    Row(f"{R}tests/<str:test_type>/", "get", "read", 200),
    Row(f"{R}tests/<str:test_type>/failing-rows.csv", "get", "read", 200),
    Row(f"{R}features/<str:feature_id>/", "get", "read", 200),
    Row(f"{R}export/report.json", "get", "read", 200),
    Row(f"{R}export/test-cases.csv", "get", "read", 200),
    Row(f"{R}export/report.html", "get", "read", 200),
]

# A method each page refuses (405), asked by the workspace admin.
WRONG_METHODS = sorted({(row.route, "delete" if row.method == "get" else "get") for row in PAGES
                        if row.route not in ("", "accounts/login/")} - {(row.route, row.method) for row in PAGES})


def _config_json(tenant) -> dict:
    return {"configJson": json.dumps(_test_run_config(tenant))}


def _test_run_config(tenant) -> dict:
    return {"run_name": "matrix", "model_id": {"uuid": str(tenant.model.id)},
            "data_info": {"ref_dataset_id": str(tenant.dataset.id), "eval_dataset_id": str(tenant.dataset.id)}}


def _api_bodies(tenant, server_data) -> dict:
    return {
        "project": {"name": "From the API", "modelTask": "MODEL_TASK_BINARY_CLASSIFICATION"},
        "integration": {"integration": {"workspaceId": {"uuid": str(tenant.workspace.id)}, "name": "api s3",
                                        "type": "INTEGRATION_TYPE_AWS_ACCESS_KEY", "schema": {"variables": []}}},
        "variables": {"variables": []},
        "dataset": {"name": "api data", "dataInfo": {"connectionInfo": {"dataFile": {
            "path": str(server_data / "acme.csv")}}, "dataParams": {"labelCol": "label"}}},
        "model": {"name": "api model", "modelInfo": {"modelPath": {"path": str(server_data / "model.py")}}},
        "config": _config_json(tenant),
        "start": {"testRunConfig": _test_run_config(tenant)},
        "role": {"rolePairs": []},
    }


@dataclass(frozen=True)
class ApiRow:
    """One API route and method. access: public | keyed (any key; acts in the key's own workspace) | keyed_write (the
    same, for editors and admins) | read | write | manage. `path` fills the route's placeholders (and adds a query); `body` names an entry of _api_bodies."""

    route: str
    method: str
    path: str
    access: str
    ok: int
    body: str = ""
    multipart: str = ""  # "dataset" | "model" | "file": a generated upload

    @property
    def id(self) -> str:
        return f"{self.method.upper()} {self.path}"


API = [
    ApiRow("v1/rime-info", "get", "v1/rime-info", "public", 200),
    ApiRow("v1/feature-flags/<str:customer_name>/limits/<str:limit>", "get",
           "v1/feature-flags/rime-web/limits/LIMIT_TYPE_MODEL", "public", 200),
    ApiRow("v1/projects", "get", "v1/projects", "keyed", 200),
    ApiRow("v1/projects", "post", "v1/projects", "keyed_write", 201, body="project"),
    ApiRow("v1/projects/<str:project_id>", "get", "v1/projects/{project}", "read", 200),
    ApiRow("v1/projects/<str:project_id>", "delete", "v1/projects/{project}", "write", 200),
    ApiRow("v1/projects/<str:project_id>/url", "get", "v1/projects/{project}/url", "read", 200),
    ApiRow("v1/projects/<str:project_id>/role/workspace", "put", "v1/projects/{project}/role/workspace", "write",
           200, body="role"),
    ApiRow("v1-beta/integrations", "post", "v1-beta/integrations", "manage", 201, body="integration"),
    ApiRow("v1-beta/integrations/<str:integration_id>", "get", "v1-beta/integrations/{integration}", "read", 200),
    ApiRow("v1-beta/integrations/<str:integration_id>", "post", "v1-beta/integrations/{integration}", "manage", 200,
           body="variables"),
    ApiRow("v1-beta/integrations/<str:integration_id>", "delete", "v1-beta/integrations/{integration}", "manage",
           200),
    ApiRow("v1/registry/dataset", "get", "v1/registry/dataset?datasetId={dataset}", "read", 200),
    ApiRow("v1/registry/dataset", "get", "v1/registry/dataset?datasetName=Acme%20secret%20data", "read", 200),
    ApiRow("v1/registry/model", "get", "v1/registry/model?modelId.uuid={model}", "read", 200),
    ApiRow("v1/registry/model", "get", "v1/registry/model?modelName=Acme%20secret%20model", "read", 200),
    ApiRow("v1/registry/<str:project_id>/dataset", "get", "v1/registry/{project}/dataset", "read", 200),
    ApiRow("v1/registry/<str:project_id>/dataset", "post", "v1/registry/{project}/dataset", "write", 201,
           body="dataset"),
    ApiRow("v1/registry/<str:project_id>/model", "get", "v1/registry/{project}/model", "read", 200),
    ApiRow("v1/registry/<str:project_id>/model", "post", "v1/registry/{project}/model", "write", 201, body="model"),
    ApiRow("v1-beta/config-validator/<str:config_type>", "post", "v1-beta/config-validator/CONFIG_TYPE_TEST_RUN",
           "read", 200, body="config"),
    ApiRow("v1/stress-tests/<str:project_id>", "post", "v1/stress-tests/{project}", "write", 201, body="start"),
    ApiRow("v1/jobs/project/<str:project_id>", "get", "v1/jobs/project/{project}?pageSize=20", "read", 200),
    ApiRow("v1/jobs/cancel/<str:job_id>", "post", "v1/jobs/cancel/{queued_job}", "write", 200),
    ApiRow("v1/jobs/<str:job_id>", "get", "v1/jobs/{job}?view=JOB_VIEW_FULL", "read", 200),
    ApiRow("v1-beta/logs/<str:job_id>", "get", "v1-beta/logs/{job}", "read", 200),
    ApiRow("v1/test-runs", "get", "v1/test-runs?firstPageQuery.projectId.uuid={project}", "read", 200),
    ApiRow("v1/test-runs/<str:test_run_id>", "get", "v1/test-runs/{run}", "read", 200),
    ApiRow("v1/test-cases", "get", "v1/test-cases?listTestCasesQuery.testRunId={run}&pageSize=20", "read", 200),
    ApiRow("v1/summary-tests", "get", "v1/summary-tests?query.testRunId={run}&pageSize=20", "read", 200),
    ApiRow("v1/category-results/<str:test_run_id>", "get", "v1/category-results/{run}", "read", 200),
    ApiRow("^v1(-beta)?/", "get", "v1-beta/no-such-endpoint", "public", 404),
    ApiRow("api/v1/uploads", "post", "api/v1/uploads", "keyed_write", 201, multipart="file"),
    ApiRow("api/v1/projects/<str:project_id>/datasets", "post", "api/v1/projects/{project}/datasets", "write", 201,
           multipart="dataset"),
    ApiRow("api/v1/projects/<str:project_id>/models", "post", "api/v1/projects/{project}/models", "write", 201,
           multipart="model"),
    ApiRow("api/v1/test-runs/<str:test_run_id>/report", "get", "api/v1/test-runs/{run}/report", "read", 200),
]
# The OpenAPI schema and its two viewers describe the API, hold no workspace data and are public.
DOCS = ["api/schema/", "api/docs/", "api/redoc/"]
# Public on purpose, holding nothing of any workspace (tests/results/test_results_ux.py checks the redirect).
PUBLIC = ["favicon.ico"]
API_PERSONAS = ("admin", "editor", "viewer", "other_workspace_key", "no_key", "wrong_key")


# ---- coverage ------------------------------------------------------------------------------------------------------
def url_patterns(patterns=None, prefix: str = "") -> list[str]:
    """Every route in the URLconf; the admin site counts as one entry (its own matrix is below)."""
    found = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver) and pattern.namespace == "admin":
            found.append(route)
        elif isinstance(pattern, URLResolver):
            found += url_patterns(pattern.url_patterns, route)
        else:
            found.append(route)
    return found


def test_every_url_pattern_is_in_the_matrix():
    covered = {row.route for row in PAGES} | {row.route for row in API} | set(DOCS) | set(PUBLIC) | {"admin/"}
    missing = [route for route in url_patterns() if route not in covered]
    assert not missing, f"Add these URL patterns to tests/security/test_tenant_matrix.py: {missing}"


# ---- pages ---------------------------------------------------------------------------------------------------------
def page_path(route: str, tenant, ids: dict) -> str:
    values = {
        "workspace_id": tenant.workspace.id, "membership_id": tenant.viewer_membership.id,
        "api_key_id": tenant.viewer_api_key.id, "type_slug": "s3", "integration_id": tenant.integration.id,
        "project_id": tenant.project.id, "model_id": tenant.model.id, "dataset_id": tenant.dataset.id,
        "run_id": getattr(tenant, ids.get("run_id", "run")).id, "step": "configuration", "tab": "category",
        "test_type": "feature_drift", "feature_id": url_safe_feature_id("amount"),
    }
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), route)


def expected_page_status(row: Row, persona: str) -> int | str:
    if persona in row.overrides:
        return row.overrides[persona]
    if row.access == "public":
        return row.ok
    if persona == "anonymous":
        return LOGIN
    if row.access == "signed_in":
        return row.ok
    if persona == "outsider":
        return 404
    return row.ok if ROLE_RANK[persona] >= ACCESS_RANK[row.access] else 403


PAGE_CELLS = [pytest.param(row, persona, id=f"{row.id} as {persona}")
              for row in PAGES for persona in ("admin", "editor", "viewer", "outsider", "anonymous")]


@pytest.mark.parametrize(("row", "persona"), PAGE_CELLS)
def test_page_cell(as_persona, tenant, row: Row, persona: str):
    client = as_persona(tenant, persona)
    response = getattr(client, row.method)(page_path(row.route, tenant, row.ids), row.data, **row.headers)
    expected = expected_page_status(row, persona)
    if expected == LOGIN:
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")
        return
    assert response.status_code == expected
    if persona == "outsider" and expected == 404:
        body = response.content.decode()
        assert not [name for name in ACME_NAMES if name in body]


@pytest.mark.parametrize(("route", "method"), WRONG_METHODS, ids=[f"{m.upper()} {r}" for r, m in WRONG_METHODS])
def test_pages_refuse_other_methods(as_persona, tenant, route: str, method: str):
    response = getattr(as_persona(tenant, "admin"), method)(page_path(route, tenant, {}))
    assert response.status_code == 405


# ---- the admin site: staff only, whatever the workspace role --------------------------------------------------------
ADMIN_PAGES = ["/admin/"] + [f"/admin/{m._meta.app_label}/{m._meta.model_name}/" for m in admin.site._registry]


@pytest.mark.parametrize("persona", ["admin", "editor", "viewer", "outsider", "anonymous"])
@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_the_admin_site_is_for_staff_only(as_persona, tenant, path: str, persona: str):
    response = as_persona(tenant, persona).get(path)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


# ---- the API -------------------------------------------------------------------------------------------------------
def api_path(row: ApiRow, tenant) -> str:
    values = {"project": tenant.project.id, "integration": tenant.integration.id, "dataset": tenant.dataset.id,
              "model": tenant.model.id, "job": tenant.run.job_id, "queued_job": tenant.queued_run.job_id,
              "run": tenant.run.id}
    return "/" + row.path.format(**values)


def _upload(kind: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    if kind == "dataset":
        return {"name": "uploaded data", "file": SimpleUploadedFile("d.csv", b"amount,label\n1,0\n2,1\n"),
                "data_params": '{"label_col": "label"}'}
    if kind == "model":
        return {"name": "uploaded model", "files": [SimpleUploadedFile("model.py", b"def predict_df(df):\n"
                                                                                     b"    return df['amount']\n")]}
    return {"file": SimpleUploadedFile("d.csv", b"amount,label\n1,0\n")}


def call_api(client, row: ApiRow, tenant, server_data, key: str | None):
    headers = {"HTTP_RIME_API_KEY": key} if key else {}
    path = api_path(row, tenant)
    if row.multipart:
        return getattr(client, row.method)(path, _upload(row.multipart), **headers)
    body = _api_bodies(tenant, server_data).get(row.body)
    if body is None:
        return getattr(client, row.method)(path, **headers)
    return getattr(client, row.method)(path, json.dumps(body), content_type="application/json", **headers)


def api_key_for(tenant, persona: str) -> str | None:
    if persona == "other_workspace_key":
        return tenant.keys["outsider"]
    if persona == "no_key":
        return None
    if persona == "wrong_key":
        return "rime_" + "x" * 43
    return tenant.keys[persona]


def expected_api_status(row: ApiRow, persona: str) -> int:
    if row.access == "public":
        return row.ok
    if persona == "no_key" or persona == "wrong_key":
        return 401
    if persona == "other_workspace_key":
        return row.ok if row.access.startswith("keyed") else 404
    if row.access == "keyed":
        return row.ok
    access = "write" if row.access == "keyed_write" else row.access
    return row.ok if ROLE_RANK[persona] >= ACCESS_RANK[access] else 403


RPC_CODE = {401: 16, 403: 7, 404: 5}
API_CELLS = [pytest.param(row, persona, id=f"{row.id} with {persona}") for row in API for persona in API_PERSONAS]


@pytest.mark.parametrize(("row", "persona"), API_CELLS)
def test_api_cell(client, tenant, server_data, row: ApiRow, persona: str):
    response = call_api(client, row, tenant, server_data, api_key_for(tenant, persona))
    expected = expected_api_status(row, persona)
    assert response.status_code == expected, response.content[:500]
    if expected >= 400:
        body = response.json()
        assert set(body) == {"code", "message", "details"} and body["code"] == RPC_CODE[expected]
        if expected == 401 and persona == "wrong_key":
            assert body["message"] == INVALID_KEY_MESSAGE
    if persona == "other_workspace_key":
        text = response.content.decode()
        asked = row.path.replace("%20", " ")  # a 404 may repeat the name that was asked for, nothing more
        assert not [name for name in ACME_NAMES if name in text and name not in asked]


def test_another_workspaces_key_lists_only_its_own_projects(client, tenant, elsewhere):
    response = client.get("/v1/projects", HTTP_RIME_API_KEY=tenant.keys["outsider"])
    names = [item["project"]["name"] for item in response.json()["projects"]]
    assert names == ["Elsewhere project"]


def test_a_project_created_with_another_workspaces_key_lands_in_that_workspace(client, tenant, elsewhere):
    response = client.post("/v1/projects", {"name": "Mine", "modelTask": "MODEL_TASK_REGRESSION"},
                           content_type="application/json", HTTP_RIME_API_KEY=tenant.keys["outsider"])
    assert response.status_code == 201
    assert not tenant.workspace.projects.filter(name="Mine").exists()
    assert elsewhere[0].projects.filter(name="Mine").exists()


@pytest.mark.parametrize("persona", ["admin", "outsider"])
def test_a_session_reads_native_endpoints_of_its_own_workspaces_only(as_persona, tenant, persona: str):
    response = as_persona(tenant, persona).get(f"/api/v1/test-runs/{tenant.run.id}/report")
    assert response.status_code == (200 if persona == "admin" else 404)


@pytest.mark.parametrize("persona", ["admin", "outsider", "anonymous"])
@pytest.mark.parametrize("path", DOCS)
def test_the_api_documentation_is_public_and_holds_no_workspace_data(as_persona, tenant, path: str, persona: str):
    response = as_persona(tenant, persona).get(f"/{path}")
    assert response.status_code == 200
    assert not [name for name in ACME_NAMES if name in response.content.decode()]


@pytest.mark.parametrize("how", ["revoked", "expired", "owner left the workspace"])
def test_a_key_that_no_longer_holds_gets_401_everywhere(client, tenant, how: str):
    from django.utils import timezone

    key = tenant.viewer_api_key
    if how == "revoked":
        key.revoked_at = timezone.now()
        key.save()
    elif how == "expired":
        key.expires_at = timezone.now()
        key.save()
    else:
        tenant.viewer_membership.delete()
    for row in [r for r in API if r.access != "public" and r.method == "get"]:
        response = client.get(api_path(row, tenant), HTTP_RIME_API_KEY=tenant.keys["viewer"])
        assert response.status_code == 401, row.id
        assert response.json()["message"] == INVALID_KEY_MESSAGE
