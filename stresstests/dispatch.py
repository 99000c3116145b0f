"""Which queued run a worker takes next: fair between workspaces, and only from the queue its message came on.

A run's broker message is a wake-up call for its queue (the message names it), not an order to run that run: the
worker that receives it claims the fairest queued run of that queue (execution.run_execute_next). So one workspace queuing 40 runs does not
make another workspace's single run wait behind all of them: the next free worker serves first the workspace with the
fewest runs running now, then the one served least recently, then the oldest run. Every queued run sends one message,
and every message claims at most one run, so no run is left without a message; a run taken by another run's message
leaves its own message to claim the next one, or nothing (harmless, as a duplicate message is).

A workspace pinned to its own queue (Workspace.celery_queue, RIME's agent) sends its messages to that queue only, and a
message of the shared queue never claims its runs: they run only on workers listening to their queue.
"""
from __future__ import annotations

from django.conf import settings
from django.db.models import Count, F, IntegerField, Max, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce

from .models import RunStatus, StressTestRun

RUN_TASK_NAME = "stresstests.run_stress_test"
# Candidates tried per message: another worker may claim the fairest one between our read and our update.
CLAIM_ATTEMPTS = 5


def shared_queue_name() -> str:
    """The queue of every workspace that is not pinned to its own (CELERY_TASK_ROUTES, else the default queue)."""
    route = settings.CELERY_TASK_ROUTES.get(RUN_TASK_NAME, {})
    return route.get("queue") or settings.CELERY_TASK_DEFAULT_QUEUE


def run_queue_name(run: StressTestRun) -> str:
    """The broker queue a run's message goes to."""
    return run.project.workspace.celery_queue or shared_queue_name()


def runs_of_queue(queue: str):
    """The runs whose messages go to `queue`: a pinned workspace's runs never count as the shared queue's."""
    pinned_here = Q(project__workspace__celery_queue=queue)
    if queue == shared_queue_name():
        pinned_here |= Q(project__workspace__celery_queue="")
    return StressTestRun.objects.filter(pinned_here)


def fair_candidates(queue: str, *, limit: int = CLAIM_ATTEMPTS) -> list:
    """Ids of the queued runs of `queue`, fairest first (see the module's doc)."""
    same_workspace = StressTestRun.objects.filter(project__workspace_id=OuterRef("project__workspace_id"))
    running = same_workspace.filter(status=RunStatus.RUNNING).order_by().values("project__workspace_id").annotate(
        n=Count("id")).values("n")
    last_start = same_workspace.filter(started_at__isnull=False).order_by().values("project__workspace_id").annotate(
        last=Max("started_at")).values("last")
    queued = runs_of_queue(queue).filter(status=RunStatus.REQUESTED, cancel_requested=False).annotate(
        running=Coalesce(Subquery(running, output_field=IntegerField()), Value(0)),
        last_start=Subquery(last_start),
    )
    ordered = queued.order_by("running", F("last_start").asc(nulls_first=True), "created_at", "id")
    return list(ordered.values_list("id", flat=True)[:limit])
