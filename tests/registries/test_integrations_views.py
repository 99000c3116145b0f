"""The Integrations page: admins create and edit, members see and use; secrets are write-only."""
from __future__ import annotations

import pytest
from django.urls import reverse

from projects.registries import integrations
from projects.models import Integration

pytestmark = pytest.mark.django_db

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
KEY_ID = "AKIAIOSFODNN7EXAMPLE"


def _s3_post(**extra) -> dict:
    return {"name": "lake", "region": "eu-west-1", "endpoint_url": "http://127.0.0.1:9000",
            "access_key_id": KEY_ID, "secret_access_key": SECRET, **extra}


def _list_url(workspace):
    return reverse("projects:integration_list", args=[workspace.id])


def test_an_admin_adds_an_s3_integration_and_its_secrets_are_encrypted(client_for, owner, workspace):
    response = client_for(owner).post(reverse("projects:integration_create", args=[workspace.id, "s3"]), _s3_post())
    assert response.status_code == 302 and response.url == _list_url(workspace)
    integration = Integration.objects.get(name="lake")
    assert integration.config == {"region": "eu-west-1", "endpoint_url": "http://127.0.0.1:9000"}
    assert integration.get_secrets() == {"access_key_id": KEY_ID, "secret_access_key": SECRET}
    assert SECRET not in integration.encrypted_secrets and KEY_ID not in integration.encrypted_secrets


def test_members_see_integrations_without_secrets_or_edit_controls(client_for, owner, member, workspace):
    client_for(owner).post(reverse("projects:integration_create", args=[workspace.id, "s3"]), _s3_post())
    page = client_for(member).get(_list_url(workspace))
    text = page.content.decode()
    assert page.status_code == 200
    assert "lake" in text and "eu-west-1" in text and "Configured" in text
    assert SECRET not in text and KEY_ID not in text
    assert "Edit" not in text and "Add AWS S3" not in text


@pytest.mark.parametrize("persona", ["member", "editor"])
def test_only_admins_may_create_or_edit(client_for, request, owner, workspace, persona):
    user = request.getfixturevalue(persona)
    integration = integrations.integration_create(user=owner, workspace=workspace, name="x", config={},
                                                  integration_type="INTEGRATION_TYPE_HUGGINGFACE", secrets={})
    client = client_for(user)
    assert client.get(reverse("projects:integration_create", args=[workspace.id, "s3"])).status_code == 403
    assert client.post(reverse("projects:integration_create", args=[workspace.id, "s3"]), _s3_post()).status_code == 403
    edit = reverse("projects:integration_edit", args=[workspace.id, integration.id])
    assert client.post(edit, {"name": "renamed"}).status_code == 403
    delete = reverse("projects:integration_delete", args=[workspace.id, integration.id])
    assert client.post(delete).status_code == 403
    assert Integration.objects.filter(name="x").exists()


def test_an_outsider_gets_404(client_for, outsider, owner, workspace):
    integration = integrations.integration_create(user=owner, workspace=workspace, name="x", config={},
                                                  integration_type="INTEGRATION_TYPE_HUGGINGFACE", secrets={})
    client = client_for(outsider)
    assert client.get(_list_url(workspace)).status_code == 404
    assert client.get(reverse("projects:integration_edit", args=[workspace.id, integration.id])).status_code == 404


def test_the_edit_form_never_shows_a_stored_secret_and_blank_keeps_it(client_for, owner, workspace):
    client = client_for(owner)
    client.post(reverse("projects:integration_create", args=[workspace.id, "s3"]), _s3_post())
    integration = Integration.objects.get(name="lake")
    edit = reverse("projects:integration_edit", args=[workspace.id, integration.id])
    form = client.get(edit).content.decode()
    assert SECRET not in form and KEY_ID not in form
    assert "Stored. Leave blank to keep the stored value." in form
    response = client.post(edit, _s3_post(name="lake-2", access_key_id="", secret_access_key=""))
    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.name == "lake-2"
    assert integration.get_secrets() == {"access_key_id": KEY_ID, "secret_access_key": SECRET}


def test_an_invalid_form_re_renders_with_200_without_echoing_secrets(client_for, owner, workspace):
    response = client_for(owner).post(reverse("projects:integration_create", args=[workspace.id, "sql"]),
                                      {"name": "db", "password": "hunter2-very-secret", "dialect": "postgresql"})
    assert response.status_code == 200
    text = response.content.decode()
    assert "Give the host and the database name." in text
    assert "hunter2-very-secret" not in text
    assert not Integration.objects.exists()


def test_a_sql_integration_by_url_keeps_the_whole_url_secret(client_for, owner, workspace):
    url = "postgresql://reader:s3cr3t-pw@db.internal:5432/warehouse"
    client_for(owner).post(reverse("projects:integration_create", args=[workspace.id, "sql"]),
                           {"name": "db", "url": url})
    integration = Integration.objects.get(name="db")
    assert integration.config == {"by_url": True}
    assert integration.get_secrets() == {"url": url}
    page = client_for(owner).get(_list_url(workspace)).content.decode()
    assert "s3cr3t-pw" not in page and "by URL (stored encrypted)" in page


def test_custom_integrations_keep_plain_and_secret_variables_apart(client_for, owner, workspace):
    client = client_for(owner)
    client.post(reverse("projects:integration_create", args=[workspace.id, "custom"]),
                {"name": "openai", "variables": "MODEL=gpt\nTIMEOUT=30", "secret_variables": "OPENAI_API_KEY=sk-abc123"})
    integration = Integration.objects.get(name="openai")
    assert integration.config == {"variables": {"MODEL": "gpt", "TIMEOUT": "30"}}
    assert integrations.custom_values(integration) == {"MODEL": "gpt", "TIMEOUT": "30", "OPENAI_API_KEY": "sk-abc123"}
    edit = reverse("projects:integration_edit", args=[workspace.id, integration.id])
    assert "sk-abc123" not in client.get(edit).content.decode()
    client.post(edit, {"name": "openai", "variables": "MODEL=gpt", "forget_secrets": ["OPENAI_API_KEY"]})
    integration.refresh_from_db()
    assert integration.get_secrets() == {} and integration.config == {"variables": {"MODEL": "gpt"}}


def test_an_admin_deletes_an_integration(client_for, owner, workspace):
    integration = integrations.integration_create(user=owner, workspace=workspace, name="x", config={},
                                                  integration_type="INTEGRATION_TYPE_HUGGINGFACE", secrets={})
    delete = reverse("projects:integration_delete", args=[workspace.id, integration.id])
    assert client_for(owner).get(delete).status_code == 405
    assert client_for(owner).post(delete).status_code == 302
    assert not Integration.objects.exists()


def test_the_list_runs_a_fixed_number_of_queries(client_for, owner, workspace, django_assert_max_num_queries):
    for n in range(5):
        integrations.integration_create(user=owner, workspace=workspace, name=f"hf-{n}", config={},
                                        integration_type="INTEGRATION_TYPE_HUGGINGFACE", secrets={"token": "t" * 8})
    client = client_for(owner)
    with django_assert_max_num_queries(6):
        assert client.get(_list_url(workspace)).status_code == 200


def test_rotate_secrets_re_encrypts_with_the_newest_key(owner, workspace, settings):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    from projects import crypto

    integration = integrations.integration_create(user=owner, workspace=workspace, name="hf", config={},
                                                  integration_type="INTEGRATION_TYPE_HUGGINGFACE",
                                                  secrets={"token": "hf_token_value"})
    old_keys = list(settings.FIELD_ENCRYPTION_KEYS)
    try:
        settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *old_keys]
        crypto._fernet.cache_clear()
        call_command("rotate_secrets")
        settings.FIELD_ENCRYPTION_KEYS = settings.FIELD_ENCRYPTION_KEYS[:1]  # the old key is gone
        crypto._fernet.cache_clear()
        integration.refresh_from_db()
        assert integration.get_secrets() == {"token": "hf_token_value"}
    finally:
        settings.FIELD_ENCRYPTION_KEYS = old_keys
        crypto._fernet.cache_clear()
