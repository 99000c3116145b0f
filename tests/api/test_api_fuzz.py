"""Property-based fuzzing of the whole API from its own OpenAPI schema (schemathesis): no request answers 5xx.

Method. The schema is read from the running app's /api/schema/ and every operation in it is one test per persona
holding an API key (workspace admin, editor, viewer, and a key of another workspace). Schemathesis generates requests
that fit the schema and requests that do not (positive and negative modes). Because the /v1 bodies are free-form
objects in the schema and the views' query parameters are not in it, two draws in three are "shaped": their path ids
name real objects (a project of either workspace, the integration, the finished run and its job), and a JSON write
sends the body rime-sdk would send with up to three nodes replaced by other JSON (other types, JSON-in-strings, NUL
characters, unpaired surrogates) or removed. GETs also draw on every query parameter the views read, forged page
tokens included. Requests go through Django's real WSGI handler and middleware into the test database (SQLite
locally, PostgreSQL in CI); each runs in a savepoint that is rolled back, so a DELETE cannot starve later examples.
Noise control: `derandomize=True` (a fixed seed per test), `deadline=None` (no timing on a busy machine), a bounded
number of examples per operation and persona (FUZZ_EXAMPLES, default 25), and no example database between runs.
"""
from __future__ import annotations

import base64
import json
import os
import re
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
    ids: dict[str, list[str]]  # path parameter name -> ids of real objects it may name ("*": every id)
    bodies: dict[str, object]  # operation label -> a valid body for it


@pytest.fixture
def world(db, settings, tmp_path, workspace, owner, editor, member, outsider, project, make_api_key) -> World:
    from projects.registries.integrations import integration_create

    settings.MEDIA_ROOT = tmp_path / "media"
    run = finished_run(project)
    # A closed loopback port: whatever might try the bucket never leaves the machine.
    integration = integration_create(user=owner, workspace=workspace, name="bucket", integration_type="s3",
                                     config={"endpoint_url": "http://127.0.0.1:9"}, secrets={})
    other_workspace = outsider.memberships.get().workspace
    other_project = other_workspace.projects.create(name="Theirs", model_task="MODEL_TASK_BINARY_CLASSIFICATION",
                                                    created_by=outsider)
    keys = {"admin": make_api_key(owner, workspace), "editor": make_api_key(editor, workspace),
            "viewer": make_api_key(member, workspace), "other_workspace": make_api_key(outsider, other_workspace)}
    ids = {"project_id": [str(project.id), str(other_project.id)], "integration_id": [str(integration.id)],
           "job_id": [str(run.job_id)], "test_run_id": [str(run.id)], "config_type": ["CONFIG_TYPE_TEST_RUN"]}
    ids["*"] = [*ids["project_id"], *ids["integration_id"], *ids["job_id"], *ids["test_run_id"], str(run.model_id),
                str(run.reference_dataset_id), str(workspace.id), str(other_workspace.id)]
    bodies = valid_bodies(workspace=str(workspace.id), project=str(project.id), integration=str(integration.id),
                          dataset=str(run.reference_dataset_id), model=str(run.model_id))
    return World(keys=keys, ids=ids, bodies=bodies)


def valid_bodies(*, workspace: str, project: str, integration: str, dataset: str, model: str) -> dict[str, object]:
    """One well-formed body per JSON write, as rime-sdk sends it: the mutations start from these, so they reach the
    code behind the first `required` check (the schema's bodies are free-form objects)."""
    config = {"runName": "fuzz", "dataInfo": {"refDatasetId": dataset, "evalDatasetId": dataset},
              "modelId": {"uuid": model}, "runTimeInfo": {"agentId": {"uuid": ""}},
              "testSuiteConfig": {"categories": ["TEST_CATEGORY_TYPE_DRIFT"], "individualTestsConfig": "{}",
                                  "customTests": []}}
    s3_variables = [{"name": "AWS_ACCESS_KEY_ID", "sensitivity": "VARIABLE_SENSITIVITY_WORKSPACE_SECRET", "value": "k"},
                    {"name": "AWS_REGION", "sensitivity": "VARIABLE_SENSITIVITY_PUBLIC", "value": "us-east-1"}]
    return {
        "POST /v1/projects": {"name": "Fuzz", "description": "d", "modelTask": "MODEL_TASK_BINARY_CLASSIFICATION"},
        "POST /v1-beta/integrations": {"integration": {
            "workspaceId": {"uuid": workspace}, "name": "fuzz s3", "type": "INTEGRATION_TYPE_AWS_ACCESS_KEY",
            "schema": {"variables": s3_variables}}},
        "POST /v1-beta/integrations/{integration_id}": {"variables": [{"name": "AWS_REGION", "value": "eu-west-1"}]},
        "POST /v1/registry/{project_id}/dataset": {
            "projectId": {"uuid": project}, "name": "fuzz data", "integrationId": {"uuid": integration},
            "dataInfo": {"connectionInfo": {"dataFile": {"path": "s3://bucket/x.csv"}},
                         "dataParams": {"labelCol": "label", "loadingKwargs": '{"sep": ","}'}}},
        "POST /v1/registry/{project_id}/model": {
            "projectId": {"uuid": project}, "name": "fuzz model", "integrationId": {"uuid": integration},
            "modelInfo": {"modelPath": {"path": "s3://bucket/model.py"},
                          "huggingFace": {"modelUri": "org/model", "kwargs": "{}"}},
            "metadata": {"tags": ["a"]}},
        "POST /v1/stress-tests/{project_id}": {"testRunConfig": config},
        "POST /v1-beta/config-validator/{config_type}": {"configJson": json.dumps(config)},
        "POST /v1/jobs/cancel/{job_id}": {},
        "PUT /v1/projects/{project_id}/role/workspace": {"role": "ACTOR_ROLE_VIEWER"},
    }


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


# Text that SQLite stores but PostgreSQL (CI's database) refuses, and JSON inside strings.
TRICKY_TEXT = ["", "a\x00b", "{", "[]", '{"a": [1]}', "x" * 300]
LONE_SURROGATE = "\ud800"  # valid in JSON ("\\ud800"), not encodable as UTF-8


def query_values(ids: list[str]) -> st.SearchStrategy[str]:
    numbers = st.integers(min_value=-10**6, max_value=10**21).map(str)
    return st.sampled_from(ids) | numbers | st.text(max_size=20) | st.sampled_from(TRICKY_TEXT)


def extra_query(ids: list[str]) -> st.SearchStrategy[dict]:
    plain = st.dictionaries(st.sampled_from(QUERY_KEYS), query_values(ids), max_size=4)
    return st.tuples(plain, st.none() | page_tokens(ids)).map(
        lambda pair: {**pair[0], **({"pageToken": pair[1]} if pair[1] is not None else {})})


REMOVE = object()


def node_paths(value, prefix: tuple = ()) -> list[tuple]:
    """The path of every key and item below the root of a JSON value."""
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    paths = []
    for key, child in children:
        paths.append((*prefix, key))
        paths.extend(node_paths(child, (*prefix, key)))
    return paths


def with_edit(value, path: tuple, new):
    """A copy of value with the node at path replaced (or removed); unchanged if an earlier edit removed the path."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict) and head in value:
        copy = dict(value)
    elif isinstance(value, list) and isinstance(head, int) and head < len(value):
        copy = list(value)
    else:
        return value
    if rest:
        copy[head] = with_edit(copy[head], rest, new)
    elif new is REMOVE:
        del copy[head]
    else:
        copy[head] = new
    return copy


def json_values(ids: list[str]) -> st.SearchStrategy:
    scalars = (st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
               | st.floats(allow_nan=False, allow_infinity=False)  # JSON has neither NaN nor infinity
               | st.text(max_size=12) | st.sampled_from(ids) | st.sampled_from([*TRICKY_TEXT, LONE_SURROGATE]))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)


def mutated(body, ids: list[str]) -> st.SearchStrategy:
    """The valid body with up to three of its nodes replaced by other JSON (other types included) or removed."""
    paths = node_paths(body)
    if not paths:
        return st.just(body)
    edit = st.tuples(st.sampled_from(paths), json_values(ids) | st.just(REMOVE))

    def build(edits):
        current = body
        for path, new in edits:
            current = with_edit(current, path, new)
        return current

    return st.lists(edit, max_size=3).map(build)


def cases(operation, world: World) -> st.SearchStrategy:
    generated = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(GenerationMode.NEGATIVE)
    real_ids = st.fixed_dictionaries({
        parameter.name: st.sampled_from(world.ids.get(parameter.name) or world.ids["*"]) | st.sampled_from(world.ids["*"])
        for parameter in operation.path_parameters})
    body = world.bodies.get(operation.label)
    bodies = st.none() if body is None else mutated(body, world.ids["*"])
    # Two draws in three name real objects and send the shaped body: generated ids alone would almost all be 404s.
    shaped = st.sampled_from([False, True, True])
    return st.tuples(generated, shaped, real_ids, extra_query(world.ids["*"]), bodies)


# --- the fuzz run ------------------------------------------------------------------------------------------------------


def send(case):
    """One request in a savepoint that is rolled back: every example starts from the same objects."""
    with transaction.atomic():
        response = case.call()
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
    @given(drawn=cases(operation, world))
    def fuzz(drawn):
        case, shaped, real_ids, query, body = drawn
        if shaped:
            case.path_parameters = {**(case.path_parameters or {}), **real_ids}
        if query and operation.method.upper() == "GET":
            case.query = {**(case.query or {}), **query}
        if shaped and body is not None:
            case.body, case.media_type = body, "application/json"
        # Negative generation may drop or mangle the key; who asks is the persona's business, not the generator's.
        case.headers = {**(case.headers or {}), "rime-api-key": world.keys[persona]}
        response = send(case)
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            server_errors.append(f"{response.status_code} for {case.as_curl_command()}\n{response.text[:300]}")
        assert response.status_code < 500, server_errors[-1]

    fuzz()
    # Besides the drawn examples, the request rime-sdk would send, so every operation meets a real object at least
    # once whatever the number of examples.
    response = send(well_formed_case(operation, world, world.keys[persona]))
    statuses[response.status_code] += 1
    assert response.status_code < 500, f"{label} answered the well-formed request with {response.text[:300]}"
    assert sum(statuses.values()) > min(EXAMPLES, 5), f"{label} was hardly exercised: {dict(statuses)}"
    if operation.path_parameters and persona != "other_workspace":
        # Exercised means past the lookup: some request named an object the persona can see.
        assert set(statuses) - {404}, f"{label}: no request reached a real object ({dict(statuses)})"
    assert not server_errors


def well_formed_case(operation, world: World, key: str):
    path_parameters = {parameter.name: (world.ids.get(parameter.name) or world.ids["*"])[0]
                       for parameter in operation.path_parameters}
    body = world.bodies.get(operation.label)
    extra = {} if body is None else {"body": body, "media_type": "application/json"}
    return operation.Case(path_parameters=path_parameters, headers={"rime-api-key": key}, **extra)


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
    from rime_web import api_urls

    routes = set()
    for pattern in api_urls.urlpatterns:
        route = str(pattern.pattern)
        if route.startswith("^") or route.startswith(("api/schema", "api/docs", "api/redoc")):
            continue
        routes.add("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))
    return routes
