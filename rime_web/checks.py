"""Start-up checks of the deployment's layout: with several machines nothing may rely on a shared disk.

`RIME_SHARED_DISK` (default true) says every process (web, workers, beat) sees the same `RIME_VAR_DIR`: one machine,
or a shared mount. Set it to false when they run on machines of their own; then every upload, artifact, report and
export must live in the database or the bucket, and the start refuses a configuration that would read another
machine's local folder: local upload storage, SQLite, the filesystem broker, the file cache (sign-in limits would be
per machine). The web process (wsgi/asgi), the worker and beat refuse to start; `manage.py check` lists the problems.
"""
from __future__ import annotations

import sys
from typing import TextIO

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

TAG = "deployment"
WHY = "Without a shared disk (RIME_SHARED_DISK=false): "


def layout_problems() -> list[checks.CheckMessage]:
    """What cannot work without a shared disk (errors), and what needs the same folder on every machine (warnings)."""
    if settings.RIME_SHARED_DISK:
        return []
    found = []
    if settings.STORAGES["default"]["BACKEND"].endswith("FileSystemStorage"):
        found.append(checks.Error(
            f"{WHY}uploads are stored in the local folder {settings.MEDIA_ROOT}: the workers could not read them.",
            hint="Set AWS_STORAGE_BUCKET_NAME (and AWS_S3_ENDPOINT_URL for an S3-compatible store).",
            id="rime_web.E001"))
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        found.append(checks.Error(
            f"{WHY}the database is the SQLite file {settings.DATABASES['default']['NAME']}.",
            hint="Set DATABASE_URL to a PostgreSQL database every machine reaches.", id="rime_web.E002"))
    if settings.CELERY_BROKER_FOLDER:
        found.append(checks.Error(
            f"{WHY}the broker is the filesystem broker in {settings.CELERY_BROKER_FOLDER}: workers on other "
            "machines would never see the runs.",
            hint="Set CELERY_BROKER_URL to Redis (redis://…) or RabbitMQ (amqp://…).", id="rime_web.E003"))
    if not settings.REDIS_CACHE_URL:
        found.append(checks.Error(
            f"{WHY}the cache is a folder of this machine: sign-in limits would hold per machine only.",
            hint="Set REDIS_CACHE_URL to a Redis every web machine reaches.", id="rime_web.E004"))
    if settings.DATA_PATH_ALLOWLIST:
        found.append(checks.Warning(
            f"{WHY}datasets registered by server path ({', '.join(map(str, settings.DATA_PATH_ALLOWLIST))}) are "
            "read by the workers, so those folders must hold the same files on every worker machine.",
            id="rime_web.W001"))
    return found


@checks.register(TAG)
def check_deployment_layout(app_configs=None, **_kwargs) -> list[checks.CheckMessage]:
    return layout_problems()


def refuse_unsafe_layout(process: str) -> None:
    """Called where a process starts (wsgi, asgi, the worker, beat): raises with every error found, in one message."""
    errors = [problem for problem in layout_problems() if problem.is_serious()]
    if errors:
        lines = "\n".join(f"- {error.msg.removeprefix(WHY)} {error.hint}" for error in errors)
        raise ImproperlyConfigured(f"The {process} refuses to start: RIME_SHARED_DISK=false says each machine has its "
                                   f"own RIME_VAR_DIR, but\n{lines}\n(docs/deploy.md)")


def exit_if_refused(process: str, *, stream: TextIO | None = None) -> None:
    """refuse_unsafe_layout, for a process's start: the refusal alone on stderr, then exit status 1 (no traceback)."""
    try:
        refuse_unsafe_layout(process)
    except ImproperlyConfigured as error:
        print(f"ERROR: {error}", file=stream or sys.stderr, flush=True)
        raise SystemExit(1) from None
