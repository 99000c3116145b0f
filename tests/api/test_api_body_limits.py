"""Finding 7: oversized API bodies answer 413 and over-deep JSON 400, in the API's error body, never 500.

Requests go through Django's real WSGI handler and middleware; the chunked case builds the WSGI environ that gunicorn
hands over for a chunked request (no CONTENT_LENGTH, wsgi.input_terminated) because Django's test client always sends
a Content-Length.
"""
from __future__ import annotations

import ast
import io
import json

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.core.files.uploadedfile import SimpleUploadedFile

BINARY = "MODEL_TASK_BINARY_CLASSIFICATION"
MB = 1024 * 1024


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def post_json(client, path: str, raw: str | bytes, key: str):
    return client.post(path, data=raw, content_type="application/json", HTTP_RIME_API_KEY=key)


def status_body(response, http_status: int) -> dict:
    assert response.status_code == http_status, response.content[:300]
    body = ast.literal_eval(response.content.decode())  # how rime-sdk reads error bodies
    assert body["details"] == [] and body["message"]
    return body


def nested_arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_objects(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


# --- the reported cases ------------------------------------------------------------------------------------------------


def test_a_body_nested_100000_deep_is_a_400(client, api_key, project):
    body = status_body(post_json(client, "/v1/projects", nested_arrays(100_000), api_key), 400)
    assert body["code"] == 3 and "nested too deeply" in body["message"]


def test_a_50_mb_body_is_a_413_and_creates_nothing(client, api_key, project, workspace):
    huge = json.dumps({"name": "x" * (50 * MB), "modelTask": BINARY})
    body = status_body(post_json(client, "/v1/projects", huge, api_key), 413)
    assert "larger than this endpoint accepts" in body["message"] and "2.0 MB" in body["message"]
    assert workspace.projects.count() == 1  # only the fixture's project


# --- variants ----------------------------------------------------------------------------------------------------------


def test_deep_objects_inside_a_stress_test_config_are_a_400(client, api_key, project):
    raw = '{"testRunConfig": ' + nested_objects(100_000) + "}"
    body = status_body(post_json(client, f"/v1/stress-tests/{project.id}", raw, api_key), 400)
    assert "nested too deeply" in body["message"]


def test_nesting_below_the_parsers_own_limit_but_over_ours_is_a_400(client, api_key, settings):
    settings.API_MAX_JSON_DEPTH = 32
    raw = '{"name": "n", "modelTask": "' + BINARY + '", "description": ' + nested_arrays(40) + "}"
    body = status_body(post_json(client, "/v1/projects", raw, api_key), 400)
    assert "at most 32 levels" in body["message"]


def test_a_config_nested_within_the_limit_still_validates(client, api_key, project):
    raw = json.dumps({"testRunConfig": {"data_info": {"ref": {"a": {"b": [[1, 2], [3]]}}}}})
    response = post_json(client, "/v1-beta/config-validator/CONFIG_TYPE_TEST_RUN", raw, api_key)
    assert response.status_code in (200, 400)
    assert "nested too deeply" not in response.content.decode()


def test_a_huge_string_value_sent_chunked_without_content_length_is_a_413(db, api_key, project):
    huge = json.dumps({"name": "y" * (50 * MB), "modelTask": BINARY}).encode()
    status, body = call_wsgi_chunked("/v1/projects", huge, api_key)
    assert status == 413 and "larger than this endpoint accepts" in body["message"]


def test_a_small_chunked_body_is_read_not_dropped(db, api_key, workspace):
    raw = json.dumps({"name": "Chunked", "modelTask": BINARY}).encode()
    status, body = call_wsgi_chunked("/v1/projects", raw, api_key)
    assert status == 201, body
    assert workspace.projects.filter(name="Chunked").exists()


def test_a_chunked_body_on_a_server_that_cannot_find_its_end_is_a_411(db, api_key):
    status, body = call_wsgi_chunked("/v1/projects", b'{"name": "x"}', api_key, terminated=False)
    assert status == 411 and "Content-Length" in body["message"]


def test_a_content_length_that_is_not_a_number_is_a_400(client, api_key):
    response = client.post("/v1/projects", data="{}", content_type="application/json", HTTP_RIME_API_KEY=api_key,
                           CONTENT_LENGTH="lots")
    assert "not a number of bytes" in status_body(response, 400)["message"]


def test_the_web_pages_are_not_subject_to_the_api_limit(client, settings, owner, password):
    settings.API_MAX_BODY_BYTES = 16
    response = client.post("/accounts/login/", {"username": "owner", "password": password})
    assert response.status_code == 302


# --- uploads keep their own, larger limit ------------------------------------------------------------------------------


def test_an_upload_larger_than_the_json_limit_still_works(client, api_key, settings):
    settings.API_MAX_BODY_BYTES = 1024
    upload = SimpleUploadedFile("big.csv", b"a,b\n" + b"1,2\n" * 50_000, content_type="text/csv")
    response = client.post("/api/v1/uploads", {"file": upload}, HTTP_RIME_API_KEY=api_key)
    assert response.status_code == 201, response.content
    assert response.json()["path"].endswith("/big.csv")


def test_an_upload_over_the_upload_limit_is_a_413(client, api_key, settings):
    settings.MAX_UPLOAD_BYTES = 1024
    upload = SimpleUploadedFile("huge.csv", b"1,2\n" * (MB // 2), content_type="text/csv")
    response = client.post("/api/v1/uploads", {"file": upload}, HTTP_RIME_API_KEY=api_key)
    assert status_body(response, 413)["code"] == 3


# --- helpers -----------------------------------------------------------------------------------------------------------


def call_wsgi_chunked(path: str, raw: bytes, key: str, *, terminated: bool = True) -> tuple[int, dict]:
    """One request through Django's WSGI handler as gunicorn passes a chunked body: de-chunked in wsgi.input,
    no CONTENT_LENGTH, and wsgi.input_terminated telling the app the stream ends with the body."""
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "testserver", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_TYPE": "application/json", "HTTP_TRANSFER_ENCODING": "chunked", "HTTP_RIME_API_KEY": key,
        "wsgi.input": io.BytesIO(raw), "wsgi.input_terminated": terminated, "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(), "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    started: dict = {}

    def start_response(status: str, headers, exc_info=None):
        started["status"] = int(status.split()[0])

    # As Django's test client does: the handler's request hooks would close the test's database connection.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    try:
        content = b"".join(WSGIHandler()(environ, start_response))
    finally:
        for signal in (request_started, request_finished):
            signal.connect(close_old_connections)
    return started["status"], json.loads(content)
