"""The Celery application: configured from Django settings (CELERY_* names)."""
from __future__ import annotations

import os

from celery import Celery
from celery.signals import beat_init, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rime_web.settings")

app = Celery("rime_web")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["projects.registries"])  # the registries' validation jobs live below the projects app


@worker_init.connect
def refuse_unsafe_layout_in_worker(**_kwargs) -> None:
    _refuse("Celery worker")


@beat_init.connect
def refuse_unsafe_layout_in_beat(**_kwargs) -> None:
    _refuse("Celery beat scheduler")


def _refuse(process: str) -> None:
    """The deployment checks of rime_web/checks.py; SystemExit, because Celery logs and ignores other exceptions
    raised by signal handlers."""
    from django.core.exceptions import ImproperlyConfigured

    from rime_web.checks import refuse_unsafe_layout

    try:
        refuse_unsafe_layout(process)
    except ImproperlyConfigured as error:
        raise SystemExit(str(error)) from None
