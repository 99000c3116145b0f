"""Faults: real worker processes that we kill, start and stop ourselves, the broker's queue wiped, slow models."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, _wait_for_worker, _worker_env
# The wizard's fixtures: a draft with a model and two registered datasets, Drift only.
from tests.stresstests.conftest import complete_draft, draft, registered_datasets, registered_model  # noqa: F401
from tests.stresstests.data import MODEL_PY, weights_json

# Each predict call sleeps, so a run stays inside the model long enough to be killed, cancelled or timed out.
SLOW_MODEL_PY = MODEL_PY.replace("def predict_df(df):", "def predict_df(df):\n    import time; time.sleep({seconds})")
SANDBOX_COMMAND_MARKERS = ("stresstests.engine.sandbox_child", "bwrap")


def slow_model_py(seconds: float) -> str:
    return SLOW_MODEL_PY.replace("{seconds}", repr(seconds))


def register_model(owner, project, name: str, source: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from projects.registries import services as registry

    files = [SimpleUploadedFile("model.py", source.encode()), SimpleUploadedFile("weights.json", weights_json())]
    return registry.model_register(user=owner, project=project, name=name, tags=[], source="upload", files=files,
                                   validate=False)


def status_of(run, *statuses):
    run.refresh_from_db()
    return run.status in statuses and run


def inside_the_model(run) -> bool:
    """Running, past loading: the engine is calling the model."""
    run.refresh_from_db()
    return run.status == "JOB_STATUS_RUNNING" and run.current_test not in (
        "", "Loading the reference and evaluation data", "Starting the model in its sandbox")


@pytest.fixture
def start_worker(transactional_db, settings, tmp_path):
    """start_worker(name, queues=..., env={...}, beat=False, pool="solo", prefix=()) -> Popen of a real `celery worker`
    (run under `prefix`, e.g. `unshare --pid --fork` for a worker in a PID namespace of its own).

    With the solo pool the task runs in the worker's own process, so SIGKILL to it kills the run mid-way (Celery's time
    limits need the prefork pool). Workers still
    alive at the end are stopped; the queue folder of the filesystem broker is emptied.
    """
    started: list[subprocess.Popen] = []

    def start(name: str, *, queues: str = "default,stresstests", env: dict[str, str] | None = None,
              beat: bool = False, pool: str = "solo", prefix: tuple[str, ...] = ()) -> subprocess.Popen:
        log_path = tmp_path / f"worker-{name}.log"
        command = [*prefix, sys.executable, "-m", "celery", "-A", "rime_web", "worker", "-l", "info", f"--pool={pool}",
                   "--concurrency=1", "-Q", queues, "-n", f"{name}-{os.getpid()}@%h", "--without-heartbeat",
                   "--without-gossip", "--without-mingle"]
        if beat:
            command += ["-B", "-s", str(tmp_path / f"beat-schedule-{name}")]
        with open(log_path, "wb") as log:
            # A session of its own: teardown stops the whole group, so a worker run under a prefix (unshare's forked
            # child) never outlives the test and takes later tests' tasks.
            process = subprocess.Popen(command, cwd=ROOT, env={**_worker_env(settings), **(env or {})},
                                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        started.append(process)
        from rime_web.celery import app

        _wait_for_worker(app, process, log_path)
        process.log_path = log_path
        return process

    yield start
    for process in started:
        _signal_group(process, signal.SIGTERM)
    for process in started:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        _signal_group(process, signal.SIGKILL)   # anything of the group still there (unshare's child, a sandbox)
    if settings.CELERY_BROKER_FOLDER:
        shutil.rmtree(Path(settings.CELERY_BROKER_FOLDER) / "queue", ignore_errors=True)
        (Path(settings.CELERY_BROKER_FOLDER) / "queue").mkdir(parents=True, exist_ok=True)


def kill(process: subprocess.Popen) -> None:
    """SIGKILL, and reap it so its PID is really gone (not a zombie of this test process)."""
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=20)


def wipe_broker_queues(settings) -> str:
    """Loses every queued message, as a broker restart without persistence does; returns which broker it was."""
    if settings.CELERY_BROKER_FOLDER:
        for message in (Path(settings.CELERY_BROKER_FOLDER) / "queue").iterdir():
            message.unlink()
        return "filesystem"
    if settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        import redis

        redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()  # the test's own Redis database
        return "redis"
    pytest.fail(f"No way to wipe the queues of broker {settings.CELERY_BROKER_URL.split('://')[0]}://")


@pytest.fixture
def empty_broker_afterwards(settings):
    yield
    wipe_broker_queues(settings)


def descendants(pid: int) -> set[int]:
    """PIDs of every process below `pid` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def sandbox_processes(worker_pid: int) -> set[int]:
    return {pid for pid in descendants(worker_pid)
            if any(marker in command_line(pid) for marker in SANDBOX_COMMAND_MARKERS)}


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass   # the group is gone already
