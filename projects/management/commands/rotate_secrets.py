"""Re-encrypts every integration's secrets with the first key of FIELD_ENCRYPTION_KEYS.

Rotation: put a new key first in FIELD_ENCRYPTION_KEYS (keep the old ones after it), run this command, then drop
the old keys. Rows are re-encrypted one by one in a transaction; values are never printed.
"""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from projects import crypto
from projects.models import Integration


class Command(BaseCommand):
    help = "Re-encrypt integration secrets with the newest FIELD_ENCRYPTION_KEYS key (after adding a key)."

    def handle(self, *args, **options) -> None:
        rotated = 0
        with transaction.atomic():
            for integration in Integration.objects.select_for_update().exclude(encrypted_secrets=""):
                try:
                    integration.encrypted_secrets = crypto.rotate(integration.encrypted_secrets)
                except Exception as error:  # InvalidToken: none of the configured keys can read this row
                    raise CommandError(f"Integration {integration.name} ({integration.id}) cannot be decrypted with "
                                       "any FIELD_ENCRYPTION_KEYS key; nothing was changed.") from error
                integration.save(update_fields=["encrypted_secrets"])
                rotated += 1
        self.stdout.write(f"Re-encrypted the secrets of {rotated} integration(s) with the newest key.")
