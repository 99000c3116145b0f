from __future__ import annotations

import socket

from celery import shared_task

from .models import AuditEvent


@shared_task(name="projects.ping_worker")
def ping_worker(note: str) -> str:
    """Proves a worker is alive and can write to the database (admin health check and tests)."""
    hostname = socket.gethostname()
    AuditEvent.objects.create(action="worker.ping", object_repr=note[:300], details={"worker": hostname})
    return hostname
