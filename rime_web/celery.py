"""The Celery application: configured from Django settings (CELERY_* names)."""
from __future__ import annotations

import os
import sys

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
    raised by signal handlers. The message goes to the real stderr: beat has redirected sys.stderr to its log at
    WARNING level by then, which buried the refusal among warnings."""
    from rime_web.checks import exit_if_refused

    exit_if_refused(process, stream=sys.__stderr__)
