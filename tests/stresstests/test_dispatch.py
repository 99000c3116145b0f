"""Fair dispatch (stresstests/dispatch.py): a message claims the fairest queued run of its own queue."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from stresstests import dispatch, execution
from stresstests.models import RunStatus, StressTestRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def make_project(owner):
    from projects import services

    def make(name: str, *, queue: str = ""):
        workspace = services.workspace_create(user=owner, name=name)
        if queue:
            workspace.celery_queue = queue
            workspace.save()
        return services.project_create(user=owner, workspace=workspace, name=name,
                                       model_task="MODEL_TASK_BINARY_CLASSIFICATION")

    return make


def queued(project, *, ago_s: float, status=RunStatus.REQUESTED, **extra) -> StressTestRun:
    return StressTestRun.objects.create(project=project, name="r", status=status,
                                        created_at=timezone.now() - timedelta(seconds=ago_s), **extra)


def test_a_workspace_with_a_running_run_waits_for_one_with_none(make_project):
    busy, other = make_project("Busy"), make_project("Other")
    queued(busy, ago_s=100, status=RunStatus.RUNNING, started_at=timezone.now())
    backlog = [queued(busy, ago_s=90 - i) for i in range(10)]
    single = queued(other, ago_s=1)  # the newest of all

    order = dispatch.fair_candidates(dispatch.shared_queue_name(), limit=3)
    assert order == [single.id, backlog[0].id, backlog[1].id]


def test_between_idle_workspaces_the_one_served_least_recently_goes_first(make_project):
    served, waiting = make_project("Served"), make_project("Waiting")
    queued(served, ago_s=50, status=RunStatus.SUCCEEDED, started_at=timezone.now() - timedelta(seconds=5))
    queued(waiting, ago_s=50, status=RunStatus.SUCCEEDED, started_at=timezone.now() - timedelta(seconds=40))
    first_of_served = queued(served, ago_s=30)
    first_of_waiting = queued(waiting, ago_s=2)
    assert dispatch.fair_candidates(dispatch.shared_queue_name(), limit=2) == [first_of_waiting.id, first_of_served.id]


def test_a_pinned_workspace_runs_are_never_claimed_from_the_shared_queue(make_project, monkeypatch):
    shared, pinned = make_project("Shared"), make_project("Agent", queue="agent-acme")
    pinned_run = queued(pinned, ago_s=100)  # the oldest, and its workspace has nothing running
    shared_run = queued(shared, ago_s=1)
    assert dispatch.fair_candidates(dispatch.shared_queue_name()) == [shared_run.id]
    assert dispatch.fair_candidates("agent-acme") == [pinned_run.id]

    ran = []
    monkeypatch.setattr(execution, "_execute_claimed", ran.append)
    execution.run_execute_next(shared_run.id)  # a message on the shared queue
    assert ran == [shared_run.id]
    pinned_run.refresh_from_db()
    assert pinned_run.status == RunStatus.REQUESTED and pinned_run.worker == ""
    execution.run_execute_next(shared_run.id)  # a duplicate message: nothing of the shared queue is left
    assert ran == [shared_run.id]


def test_a_message_claims_the_fairest_run_not_necessarily_its_own(make_project, monkeypatch):
    busy, other = make_project("Busy"), make_project("Other")
    queued(busy, ago_s=100, status=RunStatus.RUNNING, started_at=timezone.now())
    second_of_busy = queued(busy, ago_s=50)
    single = queued(other, ago_s=1)
    ran = []
    monkeypatch.setattr(execution, "_execute_claimed", ran.append)
    execution.run_execute_next(second_of_busy.id)
    assert ran == [single.id]
    single.refresh_from_db()
    assert single.status == RunStatus.RUNNING and single.worker == execution.worker_identity()
    execution.run_execute_next(single.id)  # the other message then takes the run left waiting
    assert ran == [single.id, second_of_busy.id]


def test_a_message_serves_the_queue_it_was_sent_to_even_if_its_workspace_was_pinned_since(make_project, monkeypatch):
    project = make_project("Moved")
    run = queued(project, ago_s=10)  # its message went to the shared queue
    project.workspace.celery_queue = "agent-moved"
    project.workspace.save()
    ran = []
    monkeypatch.setattr(execution, "_execute_claimed", ran.append)
    execution.run_execute_next(run.id, queue=dispatch.shared_queue_name())
    assert ran == []  # a shared worker does not take a run that belongs to an agent now
    execution.run_execute_next(run.id, queue="agent-moved")  # recovery re-sends it to the agent's queue
    assert ran == [run.id]
