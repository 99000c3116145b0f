"""Property-based fuzzing of the whole API from its own OpenAPI schema (schemathesis): no request answers 5xx.

Method. The schema is read from the running app's /api/schema/ and every operation in it is one test per persona
holding an API key (workspace admin, editor, viewer, and a key of another workspace). Schemathesis generates requests
that fit the schema and requests that do not (positive and negative modes); each path id is, by Hypothesis' choice,
either generated text or the id of a real object of the workspace (a project, dataset, model, integration, finished
run), and the query string draws on every parameter the views read, including forged page tokens, because the
schema's free-form bodies and missing query parameters would otherwise keep most requests at the first 400/404.
Requests go through Django's real WSGI handler and middleware into the test database; each one runs in a savepoint
that is rolled back, so a DELETE in one example cannot starve the next of objects and the run is reproducible.
Noise control: `derandomize=True` (a fixed seed per test), `deadline=None` (no timing on a busy machine), a bounded
number of examples per operation (FUZZ_EXAMPLES, default 25), no shrinking database or example store between runs.
"""
from __future__ import annotations

import base64
import json
import os
from collections import Counter
from dataclasses import dataclass

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st
from schemathesis.generation.modes import GenerationMode

from tests.api.reports import finished_run

SCHEMA_PATH = "/api/schema/"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
PERSONAS = ("admin", "editor", "viewer", "other_workspace")

WSGI_APP = get_wsgi_application()
SCHEMA = schemathesis.openapi.from_wsgi(SCHEMA_PATH, WSGI_APP)
OPERATIONS = {op.label: op for op in (result.ok() for result in SCHEMA.get_all_operations())}


@dataclass
class World:
    keys: dict[str, str]
    ids: list[str]  # every id a path or query parameter may name: of the workspace, and of the other one


@pytest.fixture
def world(db, settings, tmp_path, workspace, owner, editor, member, outsider, project, make_api_key) -> World:
    from projects.registries.integrations import integration_create

    settings.MEDIA_ROOT = tmp_path / "media"
    run = finished_run(project)
    integration = integration_create(user=owner, workspace=workspace, name="bucket", integration_type="s3",
                                     config={}, secrets={})
    other_workspace = outsider.memberships.get().workspace
    other_project = other_workspace.projects.create(name="Theirs", model_task="MODEL_TASK_BINARY_CLASSIFICATION",
                                                    created_by=outsider)
    keys = {"admin": make_api_key(owner, workspace), "editor": make_api_key(editor, workspace),
            "viewer": make_api_key(member, workspace), "other_workspace": make_api_key(outsider, other_workspace)}
    ids = [str(project.id), str(run.id), str(run.job_id), str(run.model_id), str(run.reference_dataset_id),
           str(integration.id), str(workspace.id), str(other_project.id), str(other_workspace.id)]
    return World(keys=keys, ids=ids)


@pytest.fixture
def keep_test_connection():
    """Django's handler closes the database connection around each request; in a test that would close the test's
    own transaction (the test client disconnects the same hooks)."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


# --- strategies --------------------------------------------------------------------------------------------------------

QUERY_KEYS = ("pageSize", "pageToken", "workspaceId.uuid", "projectId.uuid", "firstPageQuery.projectId.uuid",
              "firstPageQuery.testingType", "listTestCasesQuery.testRunId", "query.testRunId", "datasetId",
              "datasetName", "modelId.uuid", "modelName")


def page_tokens(ids: list[str]) -> st.SearchStrategy[str]:
    """Page tokens as the server writes them (base64 JSON {"q": filters, "o": offset}) with hostile contents."""
    query = st.dictionaries(st.sampled_from(["project", "run", "workspace", "type"]),
                            st.sampled_from(ids) | st.text(max_size=8), max_size=3)
    payload = st.fixed_dictionaries({"q": query | st.integers() | st.text(max_size=4),
                                     "o": st.integers(min_value=-10**20, max_value=10**20) | st.text(max_size=4)})
    encoded = (payload | st.lists(st.integers(), max_size=2)).map(
        lambda value: base64.urlsafe_b64encode(json.dumps(value).encode()).decode())
    return encoded | st.text(max_size=12)


def query_values(ids: list[str]) -> st.SearchStrategy[str]:
    numbers = st.integers(min_value=-10**6, max_value=10**21).map(str)
    return st.sampled_from(ids) | numbers | st.text(max_size=20)


def extra_query(ids: list[str]) -> st.SearchStrategy[dict]:
    plain = st.dictionaries(st.sampled_from(QUERY_KEYS), query_values(ids), max_size=4)
    return st.tuples(plain, st.none() | page_tokens(ids)).map(
        lambda pair: {**pair[0], **({"pageToken": pair[1]} if pair[1] is not None else {})})


def cases(operation, ids: list[str]) -> st.SearchStrategy:
    generated = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(GenerationMode.NEGATIVE)
    names = [parameter.name for parameter in operation.path_parameters]
    real_ids = st.fixed_dictionaries({name: st.sampled_from(ids) for name in names})
    return st.tuples(generated, st.none() | real_ids, extra_query(ids))


# --- the fuzz run ------------------------------------------------------------------------------------------------------


def send(case, key: str):
    """One request in a savepoint that is rolled back: every example starts from the same objects."""
    with transaction.atomic():
        response = case.call(headers={"rime-api-key": key})
        transaction.set_rollback(True)
    return response


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_no_request_to_the_api_answers_a_server_error(label, persona, world, keep_test_connection):
    operation = OPERATIONS[label]
    statuses: Counter[int] = Counter()
    server_errors: list[str] = []

    @hypothesis_settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None, print_blob=True,
                         suppress_health_check=list(HealthCheck))
    @given(drawn=cases(operation, world.ids))
    def fuzz(drawn):
        case, real_ids, query = drawn
        if real_ids:
            case.path_parameters = {**(case.path_parameters or {}), **real_ids}
        if query and operation.method.upper() == "GET":
            case.query = {**(case.query or {}), **query}
        response = send(case, world.keys[persona])
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            server_errors.append(f"{response.status_code} for {case.as_curl_command()}\n{response.text[:300]}")
        assert response.status_code < 500, server_errors[-1]

    fuzz()
    assert sum(statuses.values()) >= min(EXAMPLES, 5), f"{label} was hardly exercised: {dict(statuses)}"
    assert not server_errors


def test_the_fuzz_run_covers_every_operation_of_the_served_schema(client, db):
    """The parametrised list above comes from the schema at collection; this checks it against the schema served now,
    and the schema against the API's routes, so no endpoint escapes the fuzzing by being left out of either."""
    served = schemathesis.openapi.from_wsgi(SCHEMA_PATH, get_wsgi_application())
    served_labels = {result.ok().label for result in served.get_all_operations()}
    assert served_labels == set(OPERATIONS) and len(served_labels) >= 30
    assert routes_of_the_api() <= {label.split(" ", 1)[1] for label in served_labels}


def routes_of_the_api() -> set[str]:
    """Every concrete route of rime_web/api_urls.py (the catch-all 404 and the schema/doc pages aside), in the
    schema's spelling: /v1/projects/{project_id}."""
    import re

    from rime_web import api_urls

    routes = set()
    for pattern in api_urls.urlpatterns:
        route = str(pattern.pattern)
        if route.startswith("^") or route.startswith(("api/schema", "api/docs", "api/redoc")):
            continue
        routes.add("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))
    return routes
