"""/v1/jobs/<id> of a queued run whose queue no live worker consumes says so, and the job stays REQUESTED (issue 18)."""
from __future__ import annotations

import pytest

from stresstests.models import RunStatus
from tests.stresstests.test_worker_presence import PINNED_MESSAGE, SHARED_MESSAGE, pin, queued_run, worker_seen

pytestmark = pytest.mark.django_db


def job(client, api_key, run) -> dict:
    response = client.get(f"/v1/jobs/{run.job_id}", HTTP_RIME_API_KEY=api_key)
    assert response.status_code == 200, response.content
    return response.json()["job"]


def test_the_job_status_carries_the_message_and_stays_requested(client, api_key, owner, project, workspace):
    pin(workspace, "agent-eu")
    run = queued_run(project, owner)
    payload = job(client, api_key, run)
    assert payload["status"] == RunStatus.REQUESTED
    assert PINNED_MESSAGE in payload["jobProgressStr"]
    assert "errorMsg" not in payload
    run.refresh_from_db()
    assert run.status == RunStatus.REQUESTED and run.error == ""


def test_the_job_status_of_a_served_queue_is_only_its_progress(client, api_key, owner, project):
    worker_seen(["stresstests"])
    assert job(client, api_key, queued_run(project, owner))["jobProgressStr"] == "0%"


def test_the_job_status_of_the_shared_queue_without_workers(client, api_key, owner, project):
    assert SHARED_MESSAGE in job(client, api_key, queued_run(project, owner))["jobProgressStr"]
