"""Issue 19, finding 8: a worker killed mid-run leaves no sandbox or model folder behind once it is noticed.

The worker runs with its own temporary folder (TMPDIR), so what it leaves is told apart from other processes' folders.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from stresstests.models import RunStatus
from tests.conftest import wait_until

from .conftest import inside_the_model, kill, status_of
from .test_worker_death import REAPER_ENV, submit_slow_run

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def folders_of(temporary: Path, pid: int) -> list[str]:
    """The sandbox, run and model folders the worker process `pid` made (named rime-<kind>-<pid>-<start>-...)."""
    return sorted(path.name for path in temporary.glob("rime-*") if path.name.split("-")[2:3] == [str(pid)])


@pytest.fixture
def worker_tmp(tmp_path) -> Path:
    folder = tmp_path / "worker-tmp"
    folder.mkdir()
    return folder


def test_the_reaper_removes_the_folders_of_a_worker_killed_mid_run(start_worker, owner, project, complete_draft,
                                                                   worker_tmp):
    runner = start_worker("runner", queues="stresstests", env={"TMPDIR": str(worker_tmp)})
    start_worker("reaper", queues="default", env={**REAPER_ENV, "TMPDIR": str(worker_tmp)}, beat=True)
    run = submit_slow_run(owner, project, complete_draft)
    wait_until(lambda: inside_the_model(run), timeout=120, message="the worker to call the model")
    left = folders_of(worker_tmp, runner.pid)
    assert [name.split("-")[1] for name in left] == ["run", "sandbox"], left

    kill(runner)
    wait_until(lambda: status_of(run, RunStatus.FAILED, RunStatus.SUCCEEDED), timeout=150,
               message="the reaper to fail the run")
    wait_until(lambda: not folders_of(worker_tmp, runner.pid), timeout=60,
               message=f"the reaper to remove {left}")
    assert run.status == RunStatus.FAILED


def test_a_worker_started_after_a_killed_one_removes_its_folders(start_worker, owner, project, complete_draft,
                                                                 worker_tmp):
    runner = start_worker("runner", env={"TMPDIR": str(worker_tmp)})
    run = submit_slow_run(owner, project, complete_draft)
    wait_until(lambda: inside_the_model(run), timeout=120, message="the worker to call the model")
    assert folders_of(worker_tmp, runner.pid)

    kill(runner)
    start_worker("successor", env={"TMPDIR": str(worker_tmp)})  # no beat: only the start can clean up
    wait_until(lambda: not folders_of(worker_tmp, runner.pid), timeout=30,
               message="the new worker's start to remove its predecessor's folders")
    wait_until(lambda: status_of(run, RunStatus.FAILED, RunStatus.SUCCEEDED), timeout=60,
               message="the new worker to fail its predecessor's run")
    assert run.status == RunStatus.FAILED
