"""Putting a run on the broker. The message is only a wake-up call: the database row is the source of truth.

The task is sent by name: the task module imports the worker side, which must not import back the services that
queue runs. Under CELERY_TASK_ALWAYS_EAGER (a development switch; `send_task` ignores it) the run executes in this
process at commit, as an eager task would.
"""
from __future__ import annotations

from celery import current_app
from django.db import transaction
from django.utils import timezone

from .dispatch import RUN_TASK_NAME, run_queue_name
from .execution import run_execute
from .models import StressTestRun

__all__ = ["RUN_TASK_NAME", "enqueue_run"]


def enqueue_run(run: StressTestRun) -> None:
    """Sends the run's task once the surrounding transaction commits (the worker must see the queued row)."""
    StressTestRun.objects.filter(id=run.id).update(enqueued_at=timezone.now())  # see recovery.requeue_lost_runs
    # A workspace pinned to its own worker (RIME's agent) has its own queue; the others share CELERY_TASK_ROUTES's.
    # The message names its queue, so the worker claims only runs of that queue (stresstests/dispatch.py).
    queue = run_queue_name(run)
    options = {"kwargs": {"queue": queue}, "queue": queue}
    run_id = str(run.id)
    transaction.on_commit(lambda: _send(run_id, options))


def _send(run_id: str, options: dict) -> None:
    if current_app.conf.task_always_eager:
        run_execute(run_id)
    else:
        current_app.send_task(RUN_TASK_NAME, args=[run_id], **options)
