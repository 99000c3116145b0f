"""Recovery of stress-test runs from lost workers and lost broker messages, and per-run time limits.

The database is the source of truth; the broker only carries wake-up calls:
- a run whose worker died stops beating its heart (execution.Execution writes `heartbeat_at` every few seconds,
  even while the model is being called); `reap_stale_runs` (a beat task) fails it with a clear reason, and a worker
  that starts fails at once the runs its dead predecessor on the same host left behind;
- a queued run whose message was lost (a broker restart, a flushed Redis) is queued again by `requeue_lost_runs`;
  the task claims runs with a conditional update, so a duplicate message is harmless;
- the sandbox and model folders a killed worker process left in the temporary folder are removed by the reaper, a
  starting worker and a starting pool process (engine/sandbox_folders.py tells a dead owner by PID and start time).
"""
from __future__ import annotations

import logging
import socket
from collections import defaultdict
from datetime import datetime, timedelta
from uuid import UUID

from celery.signals import worker_process_init, worker_ready
from django.conf import settings
from django.db import connection
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, Concat
from django.utils import timezone

from stresstests.engine.sandbox_folders import pid_namespace, process_start_ticks, remove_stale_sandbox_folders

from .failures import RunTimedOut, failure_message
from .models import RunStatus, StressTestRun
from .dispatch import run_queue_name
from .queueing import enqueue_run
from .run_config import time_limits_from_config

logger = logging.getLogger(__name__)

def time_limit_message(run: StressTestRun) -> str:
    return failure_message(RunTimedOut(), limit_s=time_limits_from_config(run.config).soft_s)


# ---- which process runs a run ------------------------------------------------------------------------------------
def process_is_gone(worker: str) -> bool:
    """True only when the process named by `worker` (execution.worker_identity: host:pid:start:pidns) surely died: it
    ran on this host in our PID namespace, and no process with its PID and start time is alive. A process of another
    PID namespace (another container with the same hostname) cannot be seen from here, and an identity without the
    namespace (written before it was recorded) cannot be judged: those are left to the heartbeat reaper."""
    host, pid, start, namespace = (worker.split(":") + ["", "", "", ""])[:4]
    if host != socket.gethostname() or not pid.isdigit() or not start.isdigit() or namespace != pid_namespace():
        return False
    return process_start_ticks(int(pid)) != int(start)  # None: no such process, or a zombie


# ---- failing runs whose worker died ------------------------------------------------------------------------------
def lost_worker_message(run: StressTestRun, *, process_gone: bool = False) -> str:
    last = run.heartbeat_at or run.started_at or timezone.now()
    # A run already past its soft limit that then went silent was most likely killed by the hard limit.
    if run.started_at and (last - run.started_at).total_seconds() >= time_limits_from_config(run.config).soft_s:
        return time_limit_message(run)
    seen = f"{timezone.localtime(last):%H:%M:%S %Z}"
    if process_gone:  # found at a worker's start, possibly seconds after the last heartbeat
        return f"The worker running this stress test stopped (its process is gone; last heartbeat at {seen}); re-run it."
    return f"The worker running this stress test stopped (lost heartbeat at {seen}); re-run it."


def fail_lost_run(run: StressTestRun, *, now: datetime | None = None, process_gone: bool = False) -> bool:
    """Fails (or, if a cancel was asked for, cancels) a run that was seen silent; False if it spoke up meanwhile."""
    now = now or timezone.now()
    message = "" if run.cancel_requested else lost_worker_message(run, process_gone=process_gone)
    note = "Cancelled; the worker had stopped." if run.cancel_requested else message
    changed = StressTestRun.objects.filter(id=run.id, status=RunStatus.RUNNING, heartbeat_at=run.heartbeat_at).update(
        status=RunStatus.CANCELLED if run.cancel_requested else RunStatus.FAILED, error=message, current_test="",
        finished_at=now, log=Concat(F("log"), Value(f"\n[server] {note}")),
    )
    if changed:
        logger.warning("Stress test %s: worker %s lost (last heartbeat %s)", run.id, run.worker, run.heartbeat_at)
    return bool(changed)


def reap_stale_runs(*, now: datetime | None = None) -> list[UUID]:
    """Fails the running runs whose heartbeat is older than STRESS_TEST_HEARTBEAT_STALE_S; removes dead sandboxes."""
    remove_dead_workers_folders()
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.STRESS_TEST_HEARTBEAT_STALE_S)
    silent = StressTestRun.objects.filter(status=RunStatus.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )
    return [run.id for run in silent.defer("log") if fail_lost_run(run, now=now)]


def fail_runs_of_dead_processes(*, now: datetime | None = None) -> list[UUID]:
    """At worker start: runs claimed on this host, in this PID namespace, by a process that no longer exists are failed
    at once; any other silent run is failed by the reaper once its heartbeat is stale."""
    running_here = StressTestRun.objects.filter(
        status=RunStatus.RUNNING, worker__startswith=f"{socket.gethostname()}:"
    ).defer("log")
    return [run.id for run in running_here
            if process_is_gone(run.worker) and fail_lost_run(run, now=now, process_gone=True)]


def remove_dead_workers_folders() -> None:
    """The sandbox and model folders on this host whose worker process died (SIGKILL, hard time limit) are deleted."""
    for folder in remove_stale_sandbox_folders():
        logger.warning("Removed %s, left behind by a worker process that is gone", folder)


# ---- queued runs whose message was lost --------------------------------------------------------------------------
def broker_queue_size(queue: str) -> int | None:
    """Messages waiting in the broker's queue; None when the broker cannot say."""
    from kombu.exceptions import ChannelError

    from rime_web.celery import app

    try:
        with app.connection_for_write() as broker:
            return broker.default_channel.queue_declare(queue=queue, passive=True).message_count
    except ChannelError:  # Redis forgets an empty queue
        return 0
    except Exception:  # noqa: BLE001 - an unreachable broker: queue again, duplicates are harmless
        logger.warning("Could not count the messages of queue %s", queue, exc_info=True)
        return None


def requeue_lost_runs(*, now: datetime | None = None) -> list[UUID]:
    """Queues again the runs queued longer than STRESS_TEST_REQUEUE_AFTER_S ago that no worker claimed.

    Runs waiting behind others still have their messages; a queue holding at least one message per queued run is
    left alone, so a long backlog is not flooded with duplicates.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.STRESS_TEST_REQUEUE_AFTER_S)
    queued = StressTestRun.objects.filter(status=RunStatus.REQUESTED, cancel_requested=False).select_related(
        "project__workspace").annotate(since=Coalesce("enqueued_at", "created_at")).defer("log")
    by_queue: dict[str, list[StressTestRun]] = defaultdict(list)
    for run in queued:
        by_queue[run_queue_name(run)].append(run)
    requeued = []
    for queue, runs in by_queue.items():
        waiting = broker_queue_size(queue)
        if waiting is not None and waiting >= len(runs):
            continue
        for run in (run for run in runs if run.since < cutoff):
            logger.warning("Stress test %s was queued at %s and not claimed; queueing it again", run.id, run.since)
            enqueue_run(run)
            requeued.append(run.id)
    return requeued


@worker_ready.connect
def recover_on_worker_start(**_kwargs) -> None:
    """A (re)started worker cleans up after a predecessor that died with runs, and re-sends lost messages."""
    try:
        remove_dead_workers_folders()
        failed, requeued = fail_runs_of_dead_processes(), requeue_lost_runs()
        logger.info("Recovery at worker start: %d run(s) of dead processes failed, %d lost run(s) queued again",
                    len(failed), len(requeued))
    except Exception:  # noqa: BLE001 - the worker must start even if the database is not reachable yet
        logger.exception("Recovery at worker start failed; the periodic reaper will retry")
    finally:
        connection.close()  # the worker's main process does not keep a connection open


@worker_process_init.connect
def clean_up_on_pool_process_start(**_kwargs) -> None:
    """A pool process replacing one killed at the hard time limit removes the folders its predecessor left."""
    try:
        remove_dead_workers_folders()
    except OSError:  # never keep a pool process from starting; the reaper retries
        logger.exception("Removing stale sandbox folders failed")
