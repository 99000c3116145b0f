"""A queued run whose queue no live worker consumes says so: the run page and the admin (issue 18; /v1/jobs/<id>:
tests/api/test_api_job_no_worker.py).

Presence rows are written directly for the "served" case; one test starts a real worker and polls for its row.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils.html import escape
from django.utils import timezone

from projects.models import WorkerPresence
from stresstests.models import RunStatus, StressTestRun
from tests.conftest import wait_until

pytestmark = pytest.mark.django_db

PINNED_MESSAGE = ("No worker serves this workspace's queue “agent-eu”; ask your administrator to start one "
                  "(docs/deploy.md).")
SHARED_MESSAGE = ("No worker is running for the shared queue “stresstests”; ask your administrator to start one "
                  "(docs/deploy.md).")


def queued_run(project, owner) -> StressTestRun:
    return StressTestRun.objects.create(project=project, created_by=owner, status=RunStatus.REQUESTED, name="queued",
                                        wizard_step="configuration")


def worker_seen(queues: list[str], *, seconds_ago: float = 0.0, name: str = "celery@elsewhere") -> None:
    WorkerPresence.objects.create(name=name, queues=queues, last_seen=timezone.now() - timedelta(seconds=seconds_ago))


def run_page(client_for, owner, run) -> str:
    """The page's text, unescaped where the messages are (an apostrophe is &#x27; in HTML)."""
    body = client_for(owner).get(reverse("stresstests:run_detail", args=[run.id])).content.decode()
    return body.replace(escape(PINNED_MESSAGE), PINNED_MESSAGE).replace(escape(SHARED_MESSAGE), SHARED_MESSAGE)


def pin(workspace, queue: str) -> None:
    workspace.celery_queue = queue
    workspace.save()


# ---- the run page -------------------------------------------------------------------------------------------------
def test_a_run_pinned_to_a_queue_no_worker_serves_says_so(client_for, owner, project, workspace):
    pin(workspace, "agent-eu")
    worker_seen(["default", "stresstests"])  # a live worker, but of the shared queue only
    body = run_page(client_for, owner, queued_run(project, owner))
    assert PINNED_MESSAGE in body
    assert "Waiting for a worker…" not in body
    assert "Queued" in body


def test_a_run_whose_queue_a_live_worker_serves_waits_for_it(client_for, owner, project, workspace):
    pin(workspace, "agent-eu")
    worker_seen(["agent-eu"])
    body = run_page(client_for, owner, queued_run(project, owner))
    assert "Waiting for a worker…" in body
    assert "No worker" not in body


def test_a_worker_not_seen_for_a_few_intervals_counts_as_gone(client_for, owner, project, workspace, settings):
    settings.WORKER_PRESENCE_INTERVAL_S = 15
    pin(workspace, "agent-eu")
    worker_seen(["agent-eu"], seconds_ago=15 * 4 + 5)
    assert PINNED_MESSAGE in run_page(client_for, owner, queued_run(project, owner))


def test_the_shared_queue_without_any_worker_says_no_worker_is_running(client_for, owner, project):
    run = queued_run(project, owner)
    assert SHARED_MESSAGE in run_page(client_for, owner, run)
    # The polled progress partial says it too.
    partial = client_for(owner).get(reverse("stresstests:run_progress", args=[run.id]), HTTP_HX_REQUEST="true")
    assert escape(SHARED_MESSAGE) in partial.content.decode()
    worker_seen(["default", "stresstests"])
    assert "Waiting for a worker…" in run_page(client_for, owner, run)


def test_a_running_run_says_nothing_about_workers(client_for, owner, project):
    run = queued_run(project, owner)
    run.status, run.current_test = RunStatus.RUNNING, "Drift"
    run.save()
    assert "No worker" not in run_page(client_for, owner, run)


# ---- the admin ----------------------------------------------------------------------------------------------------
@pytest.fixture
def admin_client(client, django_user_model, password):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", password)
    client.force_login(admin)
    return client


def test_the_admin_warns_about_a_queue_no_live_worker_consumes(admin_client, workspace):
    pin(workspace, "agent-eu")
    url = reverse("admin:projects_workspace_change", args=[workspace.id])
    assert "No live worker consumes the queue “agent-eu”" in admin_client.get(url).content.decode()
    worker_seen(["agent-eu"])
    assert "No live worker consumes" not in admin_client.get(url).content.decode()


def test_the_admin_warns_when_a_workspace_is_saved_with_an_unserved_queue(admin_client, workspace):
    url = reverse("admin:projects_workspace_change", args=[workspace.id])
    response = admin_client.post(url, {
        "name": workspace.name, "description": "", "celery_queue": "nowhere",
        "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0", "memberships-MAX_NUM_FORMS": "1000",
    }, follow=True)
    workspace.refresh_from_db()
    assert workspace.celery_queue == "nowhere"
    assert "No live worker consumes the queue “nowhere”" in response.content.decode()


# ---- a real worker records itself ---------------------------------------------------------------------------------
def test_a_starting_worker_records_its_queues_and_forgets_long_gone_workers(transactional_db, request):
    worker_seen(["agent-gone"], seconds_ago=2 * 86400, name="celery@long-gone")
    request.getfixturevalue("celery_worker_process")
    wait_until(lambda: not WorkerPresence.objects.filter(name="celery@long-gone").exists(),
               message="the long-gone worker's row removed")
    wait_until(lambda: WorkerPresence.objects.exists(), message="the worker's presence row")
    presence = WorkerPresence.objects.get()
    assert sorted(presence.queues) == ["default", "stresstests"]
    assert presence.name.startswith("test-")
    assert timezone.now() - presence.last_seen < timedelta(minutes=1)
