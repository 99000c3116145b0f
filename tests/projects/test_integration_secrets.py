"""Integration secrets are encrypted at rest and never shown back."""
from __future__ import annotations

from django.db import connection
from django.urls import reverse

from projects.models import Integration

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"


def make_integration(workspace):
    integration = Integration(workspace=workspace, name="s3", integration_type="INTEGRATION_TYPE_AWS_ACCESS_KEY",
                              config={"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_REGION": "us-east-1"})
    integration.set_secrets({"AWS_SECRET_ACCESS_KEY": SECRET})
    integration.save()
    return integration


def test_the_database_column_holds_no_plaintext_secret(workspace):
    integration = make_integration(workspace)
    with connection.cursor() as cursor:
        cursor.execute("SELECT encrypted_secrets, config FROM projects_integration WHERE id = %s", [integration.id.hex if connection.vendor == "sqlite" else integration.id])
        stored, config = cursor.fetchone()
    assert SECRET not in stored and SECRET not in str(config)
    assert Integration.objects.get(id=integration.id).get_secrets() == {"AWS_SECRET_ACCESS_KEY": SECRET}


def test_the_admin_never_shows_the_secret(client, workspace, django_user_model):
    integration = make_integration(workspace)
    admin_user = django_user_model.objects.create_superuser("root", "root@example.com", "pw-123456789")
    client.force_login(admin_user)
    for url in (reverse("admin:projects_integration_changelist"),
                reverse("admin:projects_integration_change", args=[integration.id])):
        html = client.get(url).content.decode()
        assert SECRET not in html
        assert integration.encrypted_secrets not in html
    assert "AWS_SECRET_ACCESS_KEY" in client.get(reverse("admin:projects_integration_changelist")).content.decode()


def test_keys_rotate_old_secrets_still_decrypt(workspace, settings):
    from cryptography.fernet import Fernet

    from projects import crypto

    integration = make_integration(workspace)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *settings.FIELD_ENCRYPTION_KEYS]
    crypto._fernet.cache_clear()
    try:
        assert integration.get_secrets()["AWS_SECRET_ACCESS_KEY"] == SECRET
        rotated = crypto.rotate(integration.encrypted_secrets)
        settings.FIELD_ENCRYPTION_KEYS = settings.FIELD_ENCRYPTION_KEYS[:1]
        crypto._fernet.cache_clear()
        assert crypto.decrypt_json(rotated)["AWS_SECRET_ACCESS_KEY"] == SECRET
    finally:
        crypto._fernet.cache_clear()


def test_an_invalid_admin_form_does_not_echo_the_typed_secret(client, workspace, django_user_model):
    admin_user = django_user_model.objects.create_superuser("root", "root@example.com", "pw-123456789")
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:projects_integration_add"),
        {"workspace": "", "name": "", "integration_type": "INTEGRATION_TYPE_AWS_ACCESS_KEY", "config": "{}",
         "new_secrets": '{"AWS_SECRET_ACCESS_KEY": "%s"}' % SECRET},
    )
    assert response.status_code == 200  # re-rendered with errors
    assert SECRET not in response.content.decode()
