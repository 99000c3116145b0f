"""Creates (idempotently) the demo user, workspace and project that `make run` prints."""
from __future__ import annotations

import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from projects import services
from projects.models import Membership, ModelTask, Project, Role, Workspace

DEMO_WORKSPACE = "Demo Workspace"
DEMO_PROJECT = "Fraud Detection"


class Command(BaseCommand):
    help = "Create the demo login, workspace and project; print the login."

    @transaction.atomic
    def handle(self, *args, **options):
        username = os.environ.get("DEMO_USERNAME") or "demo"
        password = os.environ.get("DEMO_PASSWORD")
        User = get_user_model()
        user, created = User.objects.get_or_create(username=username, defaults={"is_staff": True, "is_superuser": True})
        # `make install` keeps a generated DEMO_PASSWORD in var/local.env, so the printed login stays valid.
        password = password or services.generate_password()
        user.set_password(password)
        user.save()
        workspace = Workspace.objects.filter(name=DEMO_WORKSPACE).first()
        if workspace is None:
            workspace = services.workspace_create(user=user, name=DEMO_WORKSPACE, description="Try rime_web here.")
        Membership.objects.get_or_create(workspace=workspace, user=user, defaults={"role": Role.ADMIN})
        if not Project.objects.filter(workspace=workspace, name=DEMO_PROJECT).exists():
            services.project_create(
                user=user,
                workspace=workspace,
                name=DEMO_PROJECT,
                description="Card-fraud binary classifier (the public RIME fraud example).",
                model_task=ModelTask.BINARY_CLASSIFICATION,
            )
        self.stdout.write(f"Demo login: username={username} password={password}")
