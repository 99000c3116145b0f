"""Hardening: CSRF on every form, production cookies and HSTS, the Content-Security-Policy, sign-in rate limiting,
and an audit event for every create, delete, run, cancel and admin action."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from projects.models import AuditEvent

from .test_tenant_matrix import PAGES, page_path

ROOT = Path(__file__).resolve().parents[2]
POST_ROWS = [row for row in PAGES if row.method == "post"]


# ---- CSRF ----------------------------------------------------------------------------------------------------------
@pytest.fixture
def csrf_client() -> Client:
    return Client(enforce_csrf_checks=True)


@pytest.mark.parametrize("row", POST_ROWS, ids=[row.id for row in POST_ROWS])
def test_every_form_refuses_a_post_without_a_csrf_token(csrf_client, tenant, row):
    csrf_client.force_login(tenant.users["admin"])
    response = csrf_client.post(page_path(row.route, tenant, row.ids), row.data)
    assert response.status_code == 403
    assert b"CSRF verification failed" in response.content


def test_the_same_post_with_the_token_goes_through(csrf_client, tenant):
    csrf_client.force_login(tenant.users["admin"])
    form_page = csrf_client.get(f"/workspaces/{tenant.workspace.id}/projects/new/")
    token = form_page.cookies["csrftoken"].value
    response = csrf_client.post(f"/workspaces/{tenant.workspace.id}/projects/new/",
                                {"name": "With token", "model_task": "MODEL_TASK_REGRESSION",
                                 "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert tenant.workspace.projects.filter(name="With token").exists()


def test_sign_in_refuses_a_post_without_a_csrf_token(csrf_client, owner, password):
    response = csrf_client.post("/accounts/login/", {"username": "owner", "password": password})
    assert response.status_code == 403


def test_session_uploads_to_the_api_need_the_csrf_token(csrf_client, tenant):
    csrf_client.force_login(tenant.users["admin"])
    response = csrf_client.post("/api/v1/uploads", {"file": SimpleUploadedFile("d.csv", b"a,label\n1,0\n")})
    assert response.status_code == 403
    assert "CSRF Failed" in response.json()["message"]


def test_the_rime_api_ignores_a_signed_in_session(csrf_client, tenant):
    """/v1 authenticates by key only, so a browser's cookie cannot drive it from another site (no CSRF surface)."""
    csrf_client.force_login(tenant.users["admin"])
    response = csrf_client.post("/v1/projects", json.dumps({"name": "x", "modelTask": "MODEL_TASK_REGRESSION"}),
                                content_type="application/json")
    assert response.status_code == 401
    assert not tenant.workspace.projects.filter(name="x").exists()


# ---- production settings -------------------------------------------------------------------------------------------
SECURITY_SETTINGS = ["DEBUG", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY",
                     "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
                     "SECURE_PROXY_SSL_HEADER", "SECURE_CONTENT_TYPE_NOSNIFF", "X_FRAME_OPTIONS"]


def settings_in_subprocess(**environment: str) -> dict:
    """Imports rime_web.settings in a fresh interpreter with `environment` and returns the security settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PYTEST"))}
    env.update(DJANGO_SECRET_KEY=django_settings.SECRET_KEY,
               FIELD_ENCRYPTION_KEYS=",".join(django_settings.FIELD_ENCRYPTION_KEYS), **environment)
    script = ("import json; from rime_web import settings as s; "
              f"print(json.dumps({{name: getattr(s, name, None) for name in {SECURITY_SETTINGS!r}}}))")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_mode_sets_secure_cookies_hsts_and_https():
    values = settings_in_subprocess(DJANGO_SECURE="true", DJANGO_DEBUG="false")
    assert values["DEBUG"] is False
    assert values["SESSION_COOKIE_SECURE"] is True and values["CSRF_COOKIE_SECURE"] is True
    assert values["SESSION_COOKIE_HTTPONLY"] is True
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] >= 31536000 and values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["SECURE_CONTENT_TYPE_NOSNIFF"] is True and values["X_FRAME_OPTIONS"] == "DENY"


def test_without_django_secure_cookies_are_not_marked_secure():
    values = settings_in_subprocess(DJANGO_DEBUG="false")
    assert not values["SESSION_COOKIE_SECURE"] and not values["SECURE_HSTS_SECONDS"]


def test_in_production_mode_a_signed_in_https_response_has_hsts_and_a_secure_session_cookie(client, owner, password,
                                                                                          settings):
    for name, value in settings_in_subprocess(DJANGO_SECURE="true", DJANGO_DEBUG="false").items():
        if name != "DEBUG":
            setattr(settings, name, tuple(value) if isinstance(value, list) else value)
    response = client.post("/accounts/login/", {"username": "owner", "password": password}, secure=True)
    assert response.status_code == 302
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["secure"] is True and cookie["httponly"] is True
    assert client.get("/accounts/login/").status_code == 301  # plain http is sent to https


# ---- Content-Security-Policy --------------------------------------------------------------------------------------
GET_ROWS = [row for row in PAGES if row.method == "get" and row.ok == 200]
DOWNLOADS = ("export/", "failing-rows.csv")  # attachments, opened outside the site (the HTML export is self-contained)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)


@pytest.mark.parametrize("row", GET_ROWS, ids=[row.id for row in GET_ROWS])
def test_every_page_sends_the_content_security_policy_and_obeys_it(as_persona, tenant, row):
    response = as_persona(tenant, "admin" if row.access != "public" else "anonymous").get(
        page_path(row.route, tenant, row.ids), **row.headers)
    policy = response["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "object-src 'none'" in policy and "frame-ancestors 'none'" in policy
    if not any(part in row.route for part in DOWNLOADS):
        body = response.content.decode()
        assert not INLINE_SCRIPT.findall(body), "an inline <script> would be blocked by script-src 'self'"
        assert not INLINE_HANDLER.findall(body), "an inline on*= handler would be blocked by script-src 'self'"


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/", "/no-such-page/", "/v1/rime-info"])
def test_sign_in_error_and_api_responses_carry_the_policy_too(client, path):
    assert "script-src 'self'" in client.get(path)["Content-Security-Policy"]


# ---- sign-in rate limiting -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_sign_in_locks_after_repeated_failures_even_with_the_right_password(client, owner, password, settings, path):
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        client.post(path, {"username": "owner", "password": "guess"})
    for username in ("owner", " OWNER "):  # the lock is on the normalised name
        response = client.post(path, {"username": username, "password": password})
        assert response.status_code == 200
        assert re.search(r"Too many failed sign-in attempts\. Try again in \d+ seconds \(after \d\d:\d\d:\d\d UTC\)\.",
                         response.content.decode())
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example/"])
def test_sign_in_never_redirects_to_another_site(client, owner, password, target):
    response = client.post("/accounts/login/", {"username": "owner", "password": password, "next": target})
    assert response.status_code == 302 and response["Location"] == "/workspaces/"


# ---- audit events --------------------------------------------------------------------------------------------------
def _post(client, path: str, data: dict | None = None, **extra):
    response = client.post(path, data or {}, **extra)
    assert response.status_code in (200, 201, 302), response.content[:300]
    return response


def _dataset_upload(tenant):
    return {"name": "audited", "label_col": "label", "file": SimpleUploadedFile("d.csv", b"amount,label\n1,0\n")}


ACTIONS = {
    # name: (persona, what the user does, the audit action recorded)
    "workspace created": ("admin", lambda c, t: _post(c, "/workspaces/", {"name": "New space"}), "workspace.create"),
    "project created": ("editor", lambda c, t: _post(c, f"/workspaces/{t.workspace.id}/projects/new/", {
        "name": "Audited", "model_task": "MODEL_TASK_REGRESSION"}), "project.create"),
    "member added": ("admin", lambda c, t: _post(c, f"/workspaces/{t.workspace.id}/members/", {
        "username": "outsider", "role": "viewer"}), "member.add"),
    "member role changed": ("admin", lambda c, t: _post(
        c, f"/workspaces/{t.workspace.id}/members/{t.viewer_membership.id}/role/", {"role": "editor"}),
        "member.change_role"),
    "member removed": ("admin", lambda c, t: _post(
        c, f"/workspaces/{t.workspace.id}/members/{t.viewer_membership.id}/remove/"), "member.remove"),
    "API key created": ("viewer", lambda c, t: _post(c, f"/workspaces/{t.workspace.id}/api-keys/", {
        "name": "audited", "lifetime_days": "3"}), "api_key.create"),
    "API key revoked": ("viewer", lambda c, t: _post(
        c, f"/workspaces/{t.workspace.id}/api-keys/{t.viewer_api_key.id}/revoke/"), "api_key.revoke"),
    "integration created": ("admin", lambda c, t: _post(c, f"/workspaces/{t.workspace.id}/integrations/new/custom/", {
        "name": "audited", "variables": "REGION=eu"}), "integration.create"),
    "integration deleted": ("admin", lambda c, t: _post(
        c, f"/workspaces/{t.workspace.id}/integrations/{t.integration.id}/delete/"), "integration.delete"),
    "dataset registered": ("editor", lambda c, t: _post(c, f"/projects/{t.project.id}/datasets/new/",
                                                        _dataset_upload(t)), "dataset.register"),
    "model registered": ("editor", lambda c, t: _post(c, f"/projects/{t.project.id}/models/new/", {
        "name": "audited", "tags": "", "files": [SimpleUploadedFile("model.pkl", b"\x80\x04N.")]}), "model.register"),
    "dataset deleted": ("editor", lambda c, t: _post(c, f"/projects/{t.project.id}/datasets/{_unused_dataset(t)}/delete/"),
                        "dataset.delete"),
    "model deleted": ("editor", lambda c, t: _post(c, f"/projects/{t.project.id}/models/{_unused_model(t)}/delete/"),
                      "model.delete"),
    "project deleted (API)": ("admin", lambda c, t: _post(c, f"/v1/projects/{t.project.id}", method="delete"),
                              "project.delete"),
    "stress test started (API)": ("editor", lambda c, t: _post(c, f"/v1/stress-tests/{t.project.id}", {
        "testRunConfig": {"runName": "audited", "modelId": {"uuid": str(t.model.id)},
                          "dataInfo": {"refDatasetId": str(t.dataset.id), "evalDatasetId": str(t.dataset.id)}}},
        method="json"), "stresstest.submit"),
    "stress test cancelled": ("editor", lambda c, t: _post(c, f"/stress-tests/{t.queued_run.id}/cancel/"),
                              "stresstest.cancel"),
    "stress test cancelled (API)": ("editor", lambda c, t: _post(c, f"/v1/jobs/cancel/{t.queued_run.job_id}",
                                                                 method="json"), "stresstest.cancel"),
    "stress test re-run": ("editor", lambda c, t: _post(c, f"/stress-tests/{t.run.id}/rerun/"), "stresstest.rerun"),
}


def _unused_dataset(tenant):
    from projects.models import Dataset

    return Dataset.objects.create(project=tenant.project, name="unused", source="path", path="/x.csv").id


def _unused_model(tenant):
    from projects.models import RegisteredModel

    return RegisteredModel.objects.create(project=tenant.project, name="unused", source="path", path="/m.py").id


class _ApiClient:
    """The test client with a persona's API key, for the few audited actions that live in the API."""

    def __init__(self, client, key: str):
        self.client, self.key = client, key

    def post(self, path, data, method: str = "post"):
        if method == "delete":
            return self.client.delete(path, HTTP_RIME_API_KEY=self.key)
        return self.client.post(path, json.dumps(data), content_type="application/json", HTTP_RIME_API_KEY=self.key)


@pytest.mark.parametrize("name", list(ACTIONS))
def test_every_create_delete_run_and_cancel_is_audited(as_persona, client, tenant, name):
    persona, act, action = ACTIONS[name]
    api = "(API)" in name
    actor = _ApiClient(client, tenant.keys[persona]) if api else as_persona(tenant, persona)
    before = set(AuditEvent.objects.filter(action=action).values_list("id", flat=True))
    act(actor, tenant)
    new = AuditEvent.objects.filter(action=action).exclude(id__in=before)
    assert new.count() == 1
    event = new.get()
    assert event.actor == tenant.users[persona]
    assert event.workspace_id is not None


@pytest.fixture
def superuser_client(client, django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw-for-the-admin-1")
    client.force_login(root)
    return client, root


def test_admin_add_change_delete_and_actions_are_audited(superuser_client, tenant):
    client, root = superuser_client
    project = tenant.project
    client.post(f"/admin/projects/project/{project.id}/change/", {
        "workspace": tenant.workspace.id, "name": "Renamed in admin", "description": "", "model_task": project.model_task,
        "stress_test_categories": json.dumps(project.stress_test_categories), "test_suite_config": "{}"})
    client.post("/admin/projects/workspace/add/", {"name": "Added in admin", "description": "", "celery_queue": "",
                                                   "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"})
    client.post(f"/admin/projects/integration/{tenant.integration.id}/delete/", {"post": "yes"})
    client.post("/admin/projects/apikey/", {"action": "revoke", "_selected_action": [str(tenant.viewer_api_key.id)]})
    audited = set(AuditEvent.objects.filter(actor=root).values_list("action", "object_repr"))
    assert ("admin.change", "Renamed in admin") in audited
    assert ("admin.add", "Added in admin") in audited
    assert ("admin.delete", "Acme warehouse") in audited
    assert ("api_key.revoke", str(tenant.viewer_api_key)) in audited


# ---- user-controlled text is escaped ---------------------------------------------------------------------------------
MARKUP = "<img src=x onerror=alert(1)>"
SCRIPT_BREAKOUT = "</script><script>alert(2)</script>"
HOSTILE_FEATURE = f"amount{MARKUP}{SCRIPT_BREAKOUT}"


@pytest.fixture
def hostile_names(tenant):
    """Names, a column name and a key finding made of markup, as a user's upload could make them."""
    from stresstests.models import StressTestReport

    for row in (tenant.workspace, tenant.project, tenant.model, tenant.dataset, tenant.integration, tenant.run):
        row.name = f"{row.name} {MARKUP}"
        row.save()
    report = StressTestReport.objects.get(run=tenant.run)
    data = json.loads(json.dumps(report.data).replace('"amount"', json.dumps(HOSTILE_FEATURE)))
    data["run"]["schema"] = {"feature_types": {HOSTILE_FEATURE: "numeric"}, "features": [HOSTILE_FEATURE]}
    data["key_findings"] = [MARKUP + SCRIPT_BREAKOUT]
    report.data = data
    report.save()
    return tenant


HTML_ROWS = [row for row in GET_ROWS if not any(part in row.route for part in DOWNLOADS)] + \
    [row for row in GET_ROWS if row.route.endswith("report.html")]


@pytest.mark.parametrize("row", HTML_ROWS, ids=[row.id for row in HTML_ROWS])
def test_hostile_names_and_columns_are_shown_as_text_never_as_markup(as_persona, hostile_names, row):
    from stresstests.results.report import url_safe_feature_id

    path = page_path(row.route, hostile_names, row.ids)
    if "<str:feature_id>" in row.route:
        path = f"/stress-tests/{hostile_names.run.id}/features/{url_safe_feature_id(HOSTILE_FEATURE)}/"
    response = as_persona(hostile_names, "admin").get(path, **row.headers)
    body = response.content.decode()
    assert response.status_code == 200
    assert MARKUP not in body and "<script>alert(2)" not in body
    if not row.route.endswith(("progress/", "model-check/")):  # these partials hold only a run's or a check's status
        assert "&lt;img src=x onerror=alert(1)&gt;" in body  # the name is there, as text
