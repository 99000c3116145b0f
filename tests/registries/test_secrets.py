"""Done-when 4: no integration secret appears in a page, an API response, a log line or plaintext in the database."""
from __future__ import annotations

import logging

import pytest
from django.db import connection
from django.urls import reverse

from projects.registries import services as registry, validation
from projects.models import DatasetSource, Integration

from .conftest import csv_bytes, fraud_frame, put_objects

pytestmark = pytest.mark.django_db

SECRETS = {
    "s3_key_id": "AKIASECRETKEYID00042",
    "s3_secret": "s3-secret-Zq8wX2vLr9",
    "pg_password": "pg-password-Kp3nM7",
    "sql_url_password": "url-password-Hy6tB1",
    "hf_token": "hf_token_Vb5cN8mQ",
    "custom_secret": "custom-secret-Jd4sW2",
}


@pytest.fixture
def integrations_with_secrets(client_for, owner, workspace, s3_endpoint):
    """Every integration type created the way users do it: through the admin's forms."""
    client = client_for(owner)
    posts = {
        "s3": {"name": "lake", "region": "us-east-1", "endpoint_url": s3_endpoint,
               "access_key_id": SECRETS["s3_key_id"], "secret_access_key": SECRETS["s3_secret"]},
        "sql": {"name": "warehouse", "dialect": "postgresql", "host": "127.0.0.1", "port": "5432",
                "database": "no_such_db_for_secrets", "username": "postgres", "password": SECRETS["pg_password"]},
        "huggingface": {"name": "hf", "token": SECRETS["hf_token"]},
        "custom": {"name": "vendor", "variables": "REGION=eu", "secret_variables": f"API_KEY={SECRETS['custom_secret']}"},
    }
    for slug, data in posts.items():
        response = client.post(reverse("projects:integration_create", args=[workspace.id, slug]), data)
        assert response.status_code == 302, response.content.decode()[:500]
    by_url = {"name": "by-url", "url": f"postgresql://postgres:{SECRETS['sql_url_password']}@127.0.0.1:1/nodb"}
    assert client.post(reverse("projects:integration_create", args=[workspace.id, "sql"]), by_url).status_code == 302
    return {i.name: i for i in Integration.objects.all()}


def _assert_no_secret(text: str, where: str) -> None:
    leaked = [name for name, value in SECRETS.items() if value in text]
    assert not leaked, f"{', '.join(leaked)} leaked into {where}"


def _use_every_integration(owner, project, found, s3_endpoint, s3_bucket):
    """Registrations whose validation fails (wrong keys, missing database), the paths most likely to echo secrets."""
    put_objects(s3_endpoint, s3_bucket, {"ref.csv": csv_bytes(fraud_frame(20))})
    rows = [
        registry.dataset_register(user=owner, project=project, name="s3", source=DatasetSource.PATH, data_params={},
                                  path=f"s3://{s3_bucket}/ref.csv", integration=found["lake"], validate=False),
        registry.dataset_register(user=owner, project=project, name="pg", source=DatasetSource.TABLE,
                                  data_params={}, integration=found["warehouse"], table_name="t", validate=False),
        registry.dataset_register(user=owner, project=project, name="url", source=DatasetSource.TABLE,
                                  data_params={}, integration=found["by-url"], table_name="t", validate=False),
    ]
    for dataset in rows:
        validation.dataset_validate(dataset)
    model = registry.model_register(user=owner, project=project, name="hf", tags=[], source="hugging_face",
                                    integration=found["hf"], model_config={"model_uri": "org/model"}, validate=False)
    validation.model_validate(model)
    return rows, model


def test_no_secret_in_logs_even_at_debug_level(caplog, owner, project, integrations_with_secrets, s3_endpoint,
                                               s3_bucket):
    with caplog.at_level(logging.DEBUG):
        rows, _ = _use_every_integration(owner, project, integrations_with_secrets, s3_endpoint, s3_bucket)
    assert all(row.validity_status == "VALIDITY_STATUS_VALID" for row in rows[:1])  # moto accepts any keys
    assert "no_such_db_for_secrets" in rows[1].validity_message  # the failure is explained...
    _assert_no_secret(caplog.text, "the logs")  # ...without echoing a secret
    _assert_no_secret(" ".join(r.validity_message for r in rows), "validity messages")


def test_no_secret_in_any_page(client_for, owner, member, workspace, project, integrations_with_secrets,
                               s3_endpoint, s3_bucket):
    rows, model = _use_every_integration(owner, project, integrations_with_secrets, s3_endpoint, s3_bucket)
    pages = [reverse("projects:integration_list", args=[workspace.id]),
             reverse("projects:dataset_list", args=[project.id]), reverse("projects:model_list", args=[project.id]),
             reverse("projects:model_detail", args=[project.id, model.id]),
             *[reverse("projects:dataset_detail", args=[project.id, row.id]) for row in rows],
             *[reverse("projects:integration_edit", args=[workspace.id, i.id])
               for i in integrations_with_secrets.values()]]
    for user in (owner, member):
        client = client_for(user)
        for url in pages:
            response = client.get(url)
            assert response.status_code in (200, 403), url
            _assert_no_secret(response.content.decode(), url)


def test_no_secret_in_api_responses(client, owner, workspace, integrations_with_secrets):
    from projects import services

    _, raw_key = services.api_key_create(user=owner, workspace=workspace, name="leak check")
    for integration in integrations_with_secrets.values():
        response = client.get(f"/v1-beta/integrations/{integration.id}", HTTP_RIME_API_KEY=raw_key)
        assert response.status_code == 200
        _assert_no_secret(response.content.decode(), f"the API response for {integration.name}")


def test_no_secret_in_plaintext_anywhere_in_the_database(owner, project, integrations_with_secrets, s3_endpoint,
                                                         s3_bucket):
    _use_every_integration(owner, project, integrations_with_secrets, s3_endpoint, s3_bucket)
    dump = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            dump.extend(repr(row) for row in cursor.fetchall())
    assert any("gAAAAA" in row for row in dump)  # the Fernet tokens are there...
    _assert_no_secret("\n".join(dump), "the database")  # ...and nothing readable
    assert integrations_with_secrets["lake"].get_secrets()["secret_access_key"] == SECRETS["s3_secret"]
