"""A real Celery worker process on the configured broker executes a task that writes to the database."""
from __future__ import annotations

import pytest

from projects.models import AuditEvent
from projects.tasks import ping_worker
from tests.conftest import wait_until


@pytest.mark.worker
def test_a_real_worker_runs_a_task_that_writes_to_the_database(celery_worker_process):
    ping_worker.delay("hello from the test")
    event = wait_until(
        lambda: AuditEvent.objects.filter(action="worker.ping", object_repr="hello from the test").first(),
        timeout=60,
        message="the worker to record its ping",
    )
    assert event.details["worker"]
