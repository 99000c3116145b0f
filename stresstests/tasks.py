"""Celery tasks of stress testing. The task only calls the service; the service also runs without Celery."""
from __future__ import annotations

from celery import shared_task
from django.conf import settings

from .queueing import RUN_TASK_NAME

from . import execution, presence, recovery, wizard_checks  # recovery and presence also connect worker hooks


@shared_task(
    name=RUN_TASK_NAME,
    acks_late=True,
    # A run is claimed by a conditional update, so a redelivered message after a worker loss is harmless.
    reject_on_worker_lost=True,
    soft_time_limit=settings.STRESS_TEST_SOFT_TIME_LIMIT,
    time_limit=settings.STRESS_TEST_TIME_LIMIT,
    ignore_result=True,
)
def run_stress_test(run_id: str, queue: str | None = None) -> None:
    # The message wakes a worker for its queue; the worker takes the fairest waiting run (stresstests/dispatch.py).
    execution.run_execute_next(run_id, queue=queue)


# A draft's model check (the wizard polls for it): the default queue, so it never waits behind long stress tests.
@shared_task(name=wizard_checks.MODEL_CHECK_TASK_NAME, acks_late=True, soft_time_limit=300, time_limit=330,
             ignore_result=True)
def check_draft_model(run_id: str) -> None:
    wizard_checks.model_check_execute(run_id)


# ---- recovery (stresstests/recovery.py), run by beat (CELERY_BEAT_SCHEDULE) ----------------------------------------
@shared_task(name="stresstests.reap_stale_runs", ignore_result=True)
def reap_stale_runs() -> None:
    recovery.reap_stale_runs()


@shared_task(name="stresstests.requeue_lost_runs", ignore_result=True)
def requeue_lost_runs() -> None:
    recovery.requeue_lost_runs()
