"""RIME_SHARED_DISK=false (rime_web/checks.py): without a shared disk, local storage, SQLite, the filesystem broker and
the file cache are refused at start-up, by `manage.py check`, the web process and the worker (started by deploy/run)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from rime_web.checks import layout_problems
from tests.conftest import ROOT

S3 = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {"bucket_name": "b"}}
LOCAL = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
# The checks read the database's engine only; no connection is made with the overridden setting.
pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES:UserWarning")


@pytest.fixture
def no_shared_disk(settings, tmp_path):
    """Every process on its own machine, with everything still local: the worst case."""
    settings.RIME_SHARED_DISK = False
    settings.STORAGES = {**settings.STORAGES, "default": LOCAL}
    settings.DATABASES = {"default": {**settings.DATABASES["default"], "ENGINE": "django.db.backends.sqlite3",
                                      "NAME": str(tmp_path / "db.sqlite3")}}
    settings.CELERY_BROKER_FOLDER = tmp_path / "broker"
    settings.REDIS_CACHE_URL = ""
    settings.DATA_PATH_ALLOWLIST = []
    return settings


def ids(problems) -> list[str]:
    return sorted(problem.id for problem in problems)


def test_everything_local_is_refused_with_one_reason_each(no_shared_disk):
    problems = layout_problems()
    assert ids(problems) == ["rime_web.E001", "rime_web.E002", "rime_web.E003", "rime_web.E004"]
    assert all(problem.msg.startswith("Without a shared disk (RIME_SHARED_DISK=false)") for problem in problems)
    assert "AWS_STORAGE_BUCKET_NAME" in problems[0].hint and "CELERY_BROKER_URL" in problems[2].hint


def test_shared_services_pass_and_server_paths_are_a_warning(no_shared_disk):
    no_shared_disk.STORAGES = {**no_shared_disk.STORAGES, "default": S3}
    no_shared_disk.DATABASES = {"default": {**no_shared_disk.DATABASES["default"],
                                            "ENGINE": "django.db.backends.postgresql"}}
    no_shared_disk.CELERY_BROKER_FOLDER = None
    no_shared_disk.REDIS_CACHE_URL = "redis://127.0.0.1:6379/13"
    assert layout_problems() == []
    no_shared_disk.DATA_PATH_ALLOWLIST = [Path("/data/shared")]
    (warning,) = layout_problems()
    assert warning.id == "rime_web.W001" and not warning.is_serious() and "/data/shared" in warning.msg


def test_one_machine_with_a_shared_disk_needs_nothing_shared(no_shared_disk):
    no_shared_disk.RIME_SHARED_DISK = True
    assert layout_problems() == []


def test_manage_py_check_lists_the_problems(no_shared_disk):
    with pytest.raises(SystemCheckError) as raised:
        call_command("check", tags=["deployment"])
    assert "rime_web.E003" in str(raised.value) and "filesystem broker" in str(raised.value)


def _local_only_env(tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in (
        "DATABASE_URL", "CELERY_BROKER_URL", "CELERY_BROKER_FOLDER", "AWS_STORAGE_BUCKET_NAME", "REDIS_CACHE_URL",
        "PYTEST_VERSION")}
    env.update(RIME_SHARED_DISK="false", RIME_VAR_DIR=str(tmp_path / "var"), PYTHONPATH=str(ROOT))
    return env


@pytest.mark.parametrize(("process", "name"), [("worker", "Celery worker"), ("beat", "Celery beat scheduler")])
def test_a_worker_or_beat_started_by_deploy_run_refuses_to_start(tmp_path, process, name):
    result = subprocess.run([str(ROOT / "deploy" / "run"), process], cwd=tmp_path, env=_local_only_env(tmp_path),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert f"The {name} refuses to start: RIME_SHARED_DISK=false" in result.stderr
    assert "filesystem broker" in result.stderr and "SQLite" in result.stderr
    # Its own line, not a WARNING record of the stderr that beat redirects into its log.
    assert f"\nERROR: The {name} refuses to start" in result.stderr and "WARNING/" not in result.stderr


def test_the_web_process_started_by_deploy_run_refuses_once_without_a_traceback(tmp_path):
    env = {**_local_only_env(tmp_path), "RIME_WEB_WORKERS": "2", "RIME_WEB_BIND": "127.0.0.1:0"}
    result = subprocess.run([str(ROOT / "deploy" / "run"), "web"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.startswith("ERROR: The web process refuses to start: RIME_SHARED_DISK=false"), result.stderr
    assert result.stderr.count("refuses to start") == 1 and "Traceback" not in result.stderr
    assert "filesystem broker" in result.stderr and "AWS_STORAGE_BUCKET_NAME" in result.stderr


def test_the_web_process_refuses_cleanly_when_the_settings_cannot_load(tmp_path):
    env = {key: value for key, value in _local_only_env(tmp_path).items() if key != "DJANGO_SECRET_KEY"}
    result = subprocess.run([str(ROOT / "deploy" / "run"), "web"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("ERROR: The web process refuses to start: DJANGO_SECRET_KEY is not set"), \
        result.stderr


def test_the_web_process_refuses_to_start(tmp_path):
    result = subprocess.run([sys.executable, "-c", "import rime_web.wsgi"], cwd=tmp_path,
                            env=_local_only_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "The web process refuses to start" in result.stderr and "AWS_STORAGE_BUCKET_NAME" in result.stderr
