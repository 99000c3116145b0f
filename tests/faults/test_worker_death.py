"""A worker killed with SIGKILL in the middle of a run: the run is failed with a clear reason and can be re-run.

Two ways find the dead run: the reaper (a beat task on another worker) once its heartbeat is stale, and a worker
started on the same host, which at once fails the runs of processes that no longer exist.
"""
from __future__ import annotations

import os
import re
import subprocess
import time

import pytest

from stresstests import services
from stresstests.models import RunStatus
from tests.conftest import wait_until

from .conftest import alive, inside_the_model, kill, register_model, sandbox_processes, slow_model_py, status_of

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

LOST_WORKER = re.compile(r"^The worker running this stress test stopped \(lost heartbeat at \d\d:\d\d:\d\d \w+\); "
                         r"re-run it\.$")
PROCESS_GONE = re.compile(r"^The worker running this stress test stopped \(its process is gone; last heartbeat at "
                          r"\d\d:\d\d:\d\d \w+\); re-run it\.$")
# Short enough for a test, long enough that a live run on a busy machine (heartbeat every 5 s) is never reaped.
# Set STRESS_TEST_HEARTBEAT_STALE_S=45 STRESS_TEST_REAPER_INTERVAL_S=15 to measure with the production defaults.
REAPER_ENV = {
    "STRESS_TEST_HEARTBEAT_STALE_S": os.environ.get("STRESS_TEST_HEARTBEAT_STALE_S", "20"),
    "STRESS_TEST_REAPER_INTERVAL_S": os.environ.get("STRESS_TEST_REAPER_INTERVAL_S", "5"),
}


def submit_slow_run(owner, project, complete_draft, seconds_per_call: float = 4.0):
    model = register_model(owner, project, "slow", slow_model_py(seconds_per_call))
    services.run_set_model(user=owner, run=complete_draft, model=model)
    return services.run_submit(user=owner, run=complete_draft)


def test_a_worker_killed_mid_run_is_reaped_and_the_run_re_runs_on_a_new_worker(start_worker, owner, project,
                                                                                 complete_draft):
    runner = start_worker("runner", queues="stresstests")
    start_worker("reaper", queues="default", env=REAPER_ENV, beat=True)
    run = submit_slow_run(owner, project, complete_draft)
    wait_until(lambda: inside_the_model(run), timeout=120, message="the worker to call the model")
    children = sandbox_processes(runner.pid)
    assert children, "the model runs in a child process of the worker"

    kill(runner)
    killed_at = time.monotonic()
    wait_until(lambda: status_of(run, RunStatus.FAILED, RunStatus.SUCCEEDED), timeout=150,
               message="the reaper to fail the run")
    delay = time.monotonic() - killed_at
    print(f"\nSIGKILL to FAILED: {delay:.1f} s (stale after {REAPER_ENV['STRESS_TEST_HEARTBEAT_STALE_S']} s, "
          f"reaper every {REAPER_ENV['STRESS_TEST_REAPER_INTERVAL_S']} s)")
    assert run.status == RunStatus.FAILED
    assert LOST_WORKER.match(run.error), run.error
    assert run.finished_at is not None and "[server] The worker running this stress test stopped" in run.log
    wait_until(lambda: not any(alive(pid) for pid in children), timeout=30,
               message="the model's process to end with its worker")

    start_worker("successor", queues="stresstests")
    rerun = services.run_submit(user=owner, run=services.run_rerun(user=owner, run=run))  # the same slow model
    wait_until(lambda: status_of(rerun, RunStatus.FAILED, RunStatus.SUCCEEDED), timeout=120,
               message="the re-run to end")
    assert rerun.status == RunStatus.SUCCEEDED, rerun.error
    assert rerun.rerun_of_id == run.id and rerun.summary


def test_a_worker_started_after_a_dead_one_fails_its_runs_at_once(start_worker, owner, project, complete_draft):
    runner = start_worker("runner")
    run = submit_slow_run(owner, project, complete_draft)
    wait_until(lambda: inside_the_model(run), timeout=120, message="the worker to call the model")

    kill(runner)
    # No beat, so no reaper: only the new worker's start can fail the run.
    start_worker("successor")
    wait_until(lambda: status_of(run, RunStatus.FAILED, RunStatus.SUCCEEDED), timeout=60,
               message="the new worker to fail its predecessor's run")
    assert run.status == RunStatus.FAILED
    assert PROCESS_GONE.match(run.error), run.error


def pid_namespaces_available() -> bool:
    try:
        return subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True).returncode == 0
    except OSError:
        return False


@pytest.mark.skipif(not pid_namespaces_available(), reason="needs unshare --pid (root or user namespaces)")
def test_a_worker_starting_in_another_pid_namespace_leaves_the_healthy_runs_of_this_host_alone(
        start_worker, owner, project, complete_draft):
    # The same hostname but its own PIDs: a container run with --uts host / --network host, or a fixed hostname.
    start_worker("runner")
    run = submit_slow_run(owner, project, complete_draft, seconds_per_call=1.0)
    wait_until(lambda: inside_the_model(run), timeout=120, message="the worker to call the model")

    other = start_worker("other-container", queues="default", prefix=("unshare", "--pid", "--fork", "--mount-proc", "--kill-child"))
    wait_until(lambda: b"Recovery at worker start:" in other.log_path.read_bytes(), timeout=60,
               message="the other worker's recovery at start")
    assert b"0 run(s) of dead processes failed" in other.log_path.read_bytes()
    wait_until(lambda: status_of(run, RunStatus.FAILED, RunStatus.SUCCEEDED), timeout=180, message="the run to end")
    assert run.status == RunStatus.SUCCEEDED, run.error
