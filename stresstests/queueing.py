"""Putting a run on the broker. The message is only a wake-up call: the database row is the source of truth.

The task is sent by name so that this module (used by the wizard's services and by recovery) does not import the
Celery task module, which imports the worker side.
"""
from __future__ import annotations

from celery import current_app
from django.db import transaction
from django.utils import timezone

from .models import StressTestRun

RUN_TASK_NAME = "stresstests.run_stress_test"


def enqueue_run(run: StressTestRun) -> None:
    """Sends the run's task once the surrounding transaction commits (the worker must see the queued row)."""
    StressTestRun.objects.filter(id=run.id).update(enqueued_at=timezone.now())  # see recovery.requeue_lost_runs
    options = {}
    queue = run.project.workspace.celery_queue
    if queue:  # a workspace pinned to its own worker (RIME's agent); otherwise CELERY_TASK_ROUTES decides
        options["queue"] = queue
    run_id = str(run.id)
    transaction.on_commit(lambda: current_app.send_task(RUN_TASK_NAME, args=[run_id], **options))
