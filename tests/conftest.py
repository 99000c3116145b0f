"""Shared fixtures: personas (owner = admin, editor, member = viewer, outsider), a real Celery worker, a browser."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop in the test thread.

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, reason: str) -> None:
    """Skips locally when a tool is missing; under CI nothing may be skipped, so it fails instead."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI must provide this: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def empty_cache():
    """Every test starts with an empty cache: no sign-in counters or rendered pages left by an earlier test."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    # PBKDF2's deliberate slowness costs about a second per created user; tests do not need it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def password() -> str:
    return "correct-horse-battery-staple-42"


@pytest.fixture
def make_user(django_user_model, password):
    def make(username: str, **extra):
        return django_user_model.objects.create_user(username=username, password=password, **extra)

    return make


@pytest.fixture
def workspace(db, make_user):
    from projects import services

    owner = make_user("owner")
    return services.workspace_create(user=owner, name="Acme", description="Acme's models")


@pytest.fixture
def owner(workspace):
    return workspace.memberships.get(role="admin").user


def _member(make_user, workspace, username: str, role: str):
    from projects.models import Membership

    user = make_user(username)
    Membership.objects.create(workspace=workspace, user=user, role=role)
    return user


@pytest.fixture
def editor(make_user, workspace):
    return _member(make_user, workspace, "editor", "editor")


@pytest.fixture
def member(make_user, workspace):
    """A viewer of the workspace."""
    return _member(make_user, workspace, "member", "viewer")


@pytest.fixture
def outsider(make_user):
    from projects import services

    user = make_user("outsider")
    services.workspace_create(user=user, name="Elsewhere")
    return user


@pytest.fixture
def project(workspace, owner):
    from projects import services

    return services.project_create(
        user=owner, workspace=workspace, name="Fraud", description="Card fraud", model_task="MODEL_TASK_BINARY_CLASSIFICATION"
    )


@pytest.fixture
def client_for(client):
    def login(user):
        client.force_login(user)
        return client

    return login


LOCAL_SERVERS = ("127.0.0.1", "localhost")


@pytest.fixture
def allow_local_outbound(settings, monkeypatch):
    """The local servers tests use (moto's S3, PostgreSQL, MariaDB) listen on loopback, which the outbound policy
    refuses unless the operator allows it: such tests allow it explicitly, here and (through the environment) in the
    Celery worker processes they start."""
    settings.OUTBOUND_ALLOWED_HOSTS = list(LOCAL_SERVERS)
    monkeypatch.setenv("OUTBOUND_ALLOWED_HOSTS", ",".join(LOCAL_SERVERS))


# --- A real Celery worker process on the configured broker ------------------------------------------------------------


def _worker_env(settings) -> dict[str, str]:
    env = dict(os.environ)
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        env["DATABASE_URL"] = (
            f"postgres://{db.get('USER') or ''}:{db.get('PASSWORD') or ''}@{db.get('HOST') or '127.0.0.1'}:"
            f"{db.get('PORT') or 5432}/{db['NAME']}"
        )
    if settings.CELERY_BROKER_FOLDER:
        env["CELERY_BROKER_FOLDER"] = str(settings.CELERY_BROKER_FOLDER)
    env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
    env.pop("PYTEST_VERSION", None)
    return env


@pytest.fixture
def celery_worker_process(transactional_db, settings, tmp_path):
    """Starts `celery worker` as a separate process against the test database and broker; stops it afterwards."""
    from rime_web.celery import app

    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "rime_web", "worker", "-l", "info", "--pool=solo",
             "-Q", "default,stresstests", "-n", f"test-{os.getpid()}@%h", "--without-heartbeat", "--without-gossip",
             "--without-mingle"],
            cwd=ROOT,
            env=_worker_env(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_worker(app, process, log_path)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        if settings.CELERY_BROKER_FOLDER:
            shutil.rmtree(Path(settings.CELERY_BROKER_FOLDER) / "queue", ignore_errors=True)
            (Path(settings.CELERY_BROKER_FOLDER) / "queue").mkdir(parents=True, exist_ok=True)


def _wait_for_worker(app, process, log_path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"The Celery worker exited early:\n{log_path.read_text()[-4000:]}")
        if b"ready." in log_path.read_bytes():
            return
        time.sleep(0.3)
    raise RuntimeError(f"The Celery worker did not start in {timeout:.0f} s:\n{log_path.read_text()[-4000:]}")


def wait_until(predicate, *, timeout: float = 60.0, interval: float = 0.25, message: str = "condition"):
    """Polls predicate() until it returns something truthy; fails the test with `message` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"Timed out after {timeout:.0f} s waiting for {message}")


# --- Browser (Playwright driving Debian's chromium) ---------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage",
                 "--disable-component-update", "--disable-sync", "--no-first-run"],
    }


@pytest.fixture
def browser_ready():
    require(Path(CHROMIUM).exists(), "Debian chromium is not installed (apt-get install chromium)")
