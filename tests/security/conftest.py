"""Fixtures of the security tests: one workspace ("Acme") holding one object of every kind, reached by every persona,
and a second workspace ("Elsewhere", the outsider's) whose session and API key must see none of it."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.cache import cache
from django.utils import timezone

BINARY = "MODEL_TASK_BINARY_CLASSIFICATION"
PERSONAS = ("admin", "editor", "viewer", "outsider", "anonymous")


@pytest.fixture(autouse=True)
def isolated_storage_and_fast_logins(settings, tmp_path):
    """Uploads go to a per-test folder (so storage can be counted); cheap hashing; no rate-limit state between tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = str(tmp_path / "media")
    server_data = tmp_path / "server-data"
    server_data.mkdir()
    settings.DATA_PATH_ALLOWLIST = [server_data]
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def server_data(settings) -> Path:
    """A folder datasets and models may be registered from by path."""
    return Path(settings.DATA_PATH_ALLOWLIST[0])


def stored_files(settings) -> list[str]:
    """Every file in upload storage, relative to it."""
    root = Path(settings.MEDIA_ROOT)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


@dataclass
class Tenant:
    """Workspace A and one row of each kind in it; ids are what URLs and API calls carry."""

    workspace: object
    project: object
    model: object
    dataset: object
    predictions: object
    integration: object
    run: object  # succeeded, with a report
    queued_run: object
    draft: object
    viewer_membership: object
    viewer_api_key: object
    users: dict
    keys: dict  # persona -> raw API key (the outsider's is for its own workspace)


def _finished_run(project, owner, model, dataset):
    from stresstests.models import RunStatus, StressTestReport, StressTestRun
    from tests.api.reports import REPORT

    report = copy.deepcopy(REPORT)
    report["run"]["schema"] = {"feature_types": {"amount": "numeric"}, "features": ["amount"]}
    now = timezone.now()
    run = StressTestRun.objects.create(
        project=project, name="Acme nightly", status=RunStatus.SUCCEEDED, model=model, reference_dataset=dataset,
        evaluation_dataset=dataset, progress=1.0, started_at=now, finished_at=now, log="engine log", created_by=owner,
        summary=REPORT["run"]["severity_counts"])
    StressTestReport.objects.create(run=run, data=report)
    return run


@pytest.fixture
def tenant(workspace, project, owner, editor, member, outsider, server_data) -> Tenant:
    from projects import services
    from projects.models import Dataset, Integration, Membership, Predictions, RegisteredModel
    from stresstests.models import RunStatus, StressTestRun

    (server_data / "acme.csv").write_text("amount,label\n1,0\n2,1\n")
    dataset = Dataset.objects.create(project=project, name="Acme secret data", source="path",
                                     path=str(server_data / "acme.csv"), data_params={"label_col": "label"})
    model = RegisteredModel.objects.create(project=project, name="Acme secret model", source="path",
                                           path=str(server_data / "model.py"), created_by=owner)
    predictions = Predictions.objects.create(model=model, dataset=dataset, source="path",
                                             path=str(server_data / "acme.csv"))
    integration = Integration.objects.create(workspace=workspace, name="Acme warehouse",
                                             integration_type="INTEGRATION_TYPE_AWS_ACCESS_KEY")
    run = _finished_run(project, owner, model, dataset)
    queued = StressTestRun.objects.create(project=project, name="Acme queued", status=RunStatus.REQUESTED,
                                          model=model, reference_dataset=dataset, evaluation_dataset=dataset,
                                          created_by=owner)
    draft = StressTestRun.objects.create(project=project, name="Acme draft", created_by=owner)
    users = {"admin": owner, "editor": editor, "viewer": member, "outsider": outsider}
    keys = {persona: services.api_key_create(user=user, workspace=user.workspaces.get(), name=f"{persona} key")
            for persona, user in users.items()}
    return Tenant(
        workspace=workspace, project=project, model=model, dataset=dataset, predictions=predictions,
        integration=integration, run=run, queued_run=queued, draft=draft,
        viewer_membership=Membership.objects.get(user=member, workspace=workspace),
        viewer_api_key=keys["viewer"][0], users=users, keys={p: raw for p, (_, raw) in keys.items()},
    )


@pytest.fixture
def elsewhere(outsider):
    """The outsider's own workspace with a project of its own (the second tenant)."""
    from projects import services

    workspace = outsider.workspaces.get()
    project = services.project_create(user=outsider, workspace=workspace, name="Elsewhere project", model_task=BINARY)
    return workspace, project


@pytest.fixture
def as_persona(client):
    """A test client signed in as the persona (or anonymous)."""

    def sign_in(tenant: Tenant, persona: str):
        if persona != "anonymous":
            client.force_login(tenant.users[persona])
        return client

    return sign_in
