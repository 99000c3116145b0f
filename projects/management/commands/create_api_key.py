"""`manage.py create_api_key --username U [--workspace NAME_OR_ID]`: prints a new API key once, and the workspace id."""
from __future__ import annotations

import uuid
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from projects import services
from projects.models import Workspace
from projects.views_api_keys import MAX_LIFETIME_DAYS


class Command(BaseCommand):
    help = "Create an API key for a user in one of their workspaces. The key is printed once and never stored."

    def add_arguments(self, parser):
        parser.add_argument("--username", required=True)
        parser.add_argument("--workspace", help="Name or id; may be left out when the user has exactly one.")
        parser.add_argument("--name", default="command line", help="A label for the key.")
        parser.add_argument("--days", type=int, default=MAX_LIFETIME_DAYS, help="Lifetime in days.")

    def handle(self, *args, username: str, workspace: str | None, name: str, days: int, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"There is no user named {username}.")
        chosen = self._workspace(user, workspace)
        if not 1 <= days <= MAX_LIFETIME_DAYS:
            raise CommandError(f"--days must be between 1 and {MAX_LIFETIME_DAYS}.")
        api_key, raw_key = services.api_key_create(user=user, workspace=chosen, name=name,
                                                   lifetime=timedelta(days=days))
        self.stdout.write(f"API key (shown once, keep it secret): {raw_key}")
        self.stdout.write(f"Workspace: {chosen.name}")
        self.stdout.write(f"Workspace id: {chosen.id}")
        self.stdout.write(f"Expires: {api_key.expires_at:%Y-%m-%d}")

    def _workspace(self, user, wanted: str | None) -> Workspace:
        workspaces = Workspace.objects.filter(memberships__user=user)
        if wanted:
            match = workspaces.filter(id=_as_uuid(wanted)).first() if _as_uuid(wanted) else None
            match = match or workspaces.filter(name__iexact=wanted).first()
            if match is None:
                raise CommandError(f"{user.username} is not a member of a workspace named or with id {wanted}.")
            return match
        names = sorted(workspaces.values_list("name", flat=True))
        if len(names) != 1:
            listing = ", ".join(names) or "none"
            raise CommandError(f"{user.username} belongs to {len(names)} workspaces ({listing}); pass --workspace.")
        return workspaces.get()


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
