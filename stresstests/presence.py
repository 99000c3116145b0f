"""Which queues live workers consume, so a queued run whose queue no worker serves says so instead of waiting silently.

Each worker writes its WorkerPresence row (node name, queues, last_seen) when it is ready and every
WORKER_PRESENCE_INTERVAL_S after, from a thread of its main process, and deletes it when it shuts down; a row not
refreshed for a few intervals (projects.selectors.live_worker_queues) is a worker that died. The database is shared
by the web process and every worker in each supported deployment, so the run page and /v1/jobs/<id> read it there.
"""
from __future__ import annotations

import logging
import threading
from datetime import timedelta

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import connection
from django.utils import timezone

from projects.models import WorkerPresence
from projects.selectors import live_worker_queues

from .dispatch import run_queue_name
from .models import RunStatus, StressTestRun

logger = logging.getLogger(__name__)


# ---- the web side: what a queued run tells its reader ------------------------------------------------------------
def no_worker_message(run: StressTestRun, live_queues: set[str] | None = None) -> str:
    """Why a queued run is not starting when no live worker consumes its queue; "" when one does (or not queued)."""
    if run.status != RunStatus.REQUESTED:
        return ""
    queue = run_queue_name(run)
    if queue in (live_worker_queues() if live_queues is None else live_queues):
        return ""
    if run.project.workspace.celery_queue:
        return (f"No worker serves this workspace's queue “{queue}”; ask your administrator to start one "
                "(docs/deploy.md).")
    return (f"No worker is running for the shared queue “{queue}”; ask your administrator to start one "
            "(docs/deploy.md).")


# ---- the worker side: recording this worker ----------------------------------------------------------------------
def record_presence(name: str, queues: list[str]) -> None:
    WorkerPresence.objects.update_or_create(name=name, defaults={"queues": sorted(queues), "last_seen": timezone.now()})


class PresenceRecorder:
    """Refreshes one worker's row every WORKER_PRESENCE_INTERVAL_S until stopped."""

    def __init__(self, name: str, queues: list[str]):
        self.name, self.queues = name, queues
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="worker-presence", daemon=True)

    def _write(self) -> None:
        try:
            record_presence(self.name, self.queues)
        except Exception:  # noqa: BLE001 - a database hiccup must not stop the worker; the next tick retries
            logger.warning("Could not record worker %s as alive", self.name, exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    def _loop(self) -> None:
        while not self.stopped.wait(settings.WORKER_PRESENCE_INTERVAL_S):
            self._write()

    def start(self) -> None:
        try:  # rows of workers gone for a day (killed, never shut down) are forgotten
            WorkerPresence.objects.filter(last_seen__lt=timezone.now() - timedelta(days=1)).delete()
        except Exception:  # noqa: BLE001 - the worker must start even if the database is not reachable yet
            logger.warning("Could not forget the presence of long-gone workers", exc_info=True)
        self._write()
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        try:
            WorkerPresence.objects.filter(name=self.name).delete()
        except Exception:  # noqa: BLE001 - the row goes stale on its own
            logger.warning("Could not remove worker %s's presence", self.name, exc_info=True)
        finally:
            connection.close()


_recorder: PresenceRecorder | None = None


def consumer_queues(consumer) -> list[str]:
    """The queues the worker consumes (its -Q option)."""
    return sorted(consumer.app.amqp.queues.consume_from)


@worker_ready.connect
def start_presence(sender=None, **_kwargs) -> None:
    global _recorder
    if sender is None:
        return
    _recorder = PresenceRecorder(sender.hostname, consumer_queues(sender))
    _recorder.start()


@worker_shutdown.connect
def stop_presence(**_kwargs) -> None:
    if _recorder is not None:
        _recorder.stop()
