"""The reaper and the worker-start cleanup on rows: which silent runs fail, with what message, and which are left."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import datetime, timedelta
from datetime import timezone as tz

import pytest
from django.utils import timezone

from stresstests import execution, recovery
from stresstests.engine.sandbox_folders import pid_namespace, process_start_ticks
from stresstests.models import RunStatus, StressTestRun

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 14, 30, 0, tzinfo=tz.utc)


@pytest.fixture
def running(project):
    """running(heartbeat_s_ago, started_s_ago=..., worker=..., cancel_requested=..., config=...) -> a RUNNING run."""

    def make(heartbeat_s_ago: float | None, *, started_s_ago: float = 600, worker: str = "elsewhere:1",
             cancel_requested: bool = False, config: dict | None = None) -> StressTestRun:
        heartbeat_at = None if heartbeat_s_ago is None else NOW - timedelta(seconds=heartbeat_s_ago)
        return StressTestRun.objects.create(
            project=project, status=RunStatus.RUNNING, worker=worker, cancel_requested=cancel_requested,
            started_at=NOW - timedelta(seconds=started_s_ago), heartbeat_at=heartbeat_at, config=config or {},
        )

    return make


def reloaded(run: StressTestRun) -> StressTestRun:
    return StressTestRun.objects.get(id=run.id)


def test_a_run_silent_longer_than_the_staleness_is_failed_naming_its_last_heartbeat(settings, running):
    settings.STRESS_TEST_HEARTBEAT_STALE_S = 60
    silent, beating = running(61), running(30)

    assert recovery.reap_stale_runs(now=NOW) == [silent.id]
    failed = reloaded(silent)
    assert failed.status == RunStatus.FAILED and failed.finished_at == NOW
    assert failed.error == ("The worker running this stress test stopped (lost heartbeat at 14:28:59 UTC); "
                            "re-run it.")
    assert failed.log.endswith("[server] " + failed.error)
    assert reloaded(beating).status == RunStatus.RUNNING


def test_a_run_that_never_beat_is_judged_by_its_start(settings, running):
    settings.STRESS_TEST_HEARTBEAT_STALE_S = 60
    never_beat, just_started = running(None, started_s_ago=120), running(None, started_s_ago=5)
    assert recovery.reap_stale_runs(now=NOW) == [never_beat.id]
    assert reloaded(just_started).status == RunStatus.RUNNING


def test_a_silent_run_whose_cancel_was_asked_for_ends_cancelled(settings, running):
    settings.STRESS_TEST_HEARTBEAT_STALE_S = 60
    run = running(300, cancel_requested=True)
    recovery.reap_stale_runs(now=NOW)
    assert reloaded(run).status == RunStatus.CANCELLED and reloaded(run).error == ""


def test_a_run_that_went_silent_past_its_time_limit_gets_the_time_limit_message(settings, running):
    settings.STRESS_TEST_HEARTBEAT_STALE_S = 60
    config = {"run_time_info": {"time_limit_s": 30}}
    run = running(120, started_s_ago=200, config=config)  # beat last 80 s after its start, past its 30 s limit
    recovery.reap_stale_runs(now=NOW)
    assert reloaded(run).error.startswith("The stress test ran longer than its time limit (30 s) and was stopped.")


def test_a_run_that_beat_after_it_was_judged_silent_is_left_running(running):
    run = running(300)
    seen_silent = StressTestRun.objects.get(id=run.id)
    StressTestRun.objects.filter(id=run.id).update(heartbeat_at=timezone.now())  # the worker spoke up meanwhile
    assert not recovery.fail_lost_run(seen_silent, now=NOW)
    assert reloaded(run).status == RunStatus.RUNNING


def identity(pid: int, *, start: int | None = None, namespace: str | None = None, host: str | None = None) -> str:
    """A run's `worker` as execution.worker_identity writes it, for the process `pid` (by default its real start)."""
    start = process_start_ticks(pid) if start is None else start
    return f"{host or socket.gethostname()}:{pid}:{start}:{pid_namespace() if namespace is None else namespace}"


def test_a_starting_worker_fails_only_runs_of_processes_of_this_host_that_are_gone(running):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(finished.stdout)
    dead_here = running(1, worker=identity(dead_pid, start=123))
    alive_here = running(1, worker=identity(os.getppid()))  # pytest's parent: a live process, not ours
    other_host = running(1, worker=identity(dead_pid, start=123, host=f"not-{socket.gethostname()}"))
    this_process = running(0, worker=execution.worker_identity())

    assert recovery.fail_runs_of_dead_processes(now=NOW) == [dead_here.id]
    assert reloaded(dead_here).error.startswith("The worker running this stress test stopped")
    for run in (alive_here, other_host, this_process):
        assert reloaded(run).status == RunStatus.RUNNING


def test_a_run_left_by_a_predecessor_that_had_our_pid_is_failed(running):
    # Containers give a restarted worker the same PID: a run with our PID but another start time is not ours.
    predecessor = running(60, worker=identity(os.getpid(), start=process_start_ticks(os.getpid()) - 1))
    assert recovery.fail_runs_of_dead_processes(now=NOW) == [predecessor.id]


def test_runs_of_another_pid_namespace_or_of_an_unknown_one_are_left_to_the_reaper(running):
    # Another container with the same hostname (docker --uts host, a fixed compose hostname): its worker's PID is
    # not visible from here, alive or not; only a stale heartbeat tells.
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    invisible_pid = int(finished.stdout)
    other_namespace = running(1, worker=identity(invisible_pid, start=123, namespace="1"))
    written_before_namespaces = running(1, worker=f"{socket.gethostname()}:{invisible_pid}")

    assert recovery.fail_runs_of_dead_processes(now=NOW) == []
    for run in (other_namespace, written_before_namespaces):
        assert reloaded(run).status == RunStatus.RUNNING


def test_the_worker_identity_names_host_pid_start_and_pid_namespace():
    assert execution.worker_identity() == identity(os.getpid())
    assert pid_namespace().isdigit()
