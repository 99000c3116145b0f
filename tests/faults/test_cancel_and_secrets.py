"""Through a real worker: Cancel ends the model's process, and the model sees none of the worker's secrets."""
from __future__ import annotations

import json
import textwrap

import pytest

from stresstests import services
from stresstests.engine.sandbox import bubblewrap_available
from stresstests.models import RunStatus, StressTestReport
from tests.conftest import _worker_env, require, wait_until

from .conftest import alive, register_model, sandbox_processes, slow_model_py, status_of

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Prints what a hostile model can read: its own environment and that of every process it can see.
ENVIRONMENT_PROBE_MODEL_PY = textwrap.dedent('''
    import glob, os
    import numpy as np

    def predict_df(df):
        print("own environment:", dict(os.environ))
        for path in glob.glob("/proc/*/environ"):
            try:
                print("visible environment", path, open(path, "rb").read().decode(errors="replace"))
            except OSError:
                pass
        return np.full(len(df), 0.5)
''')


def test_cancel_ends_the_model_s_process(celery_worker_process, owner, project, complete_draft):
    # Set on the draft directly: the wizard's model check (a job of its own on the same worker) would start a second
    # sandboxed process of this slow model, and this test is about the run's own.
    complete_draft.model = register_model(owner, project, "sleepy", slow_model_py(120))
    complete_draft.save(update_fields=["model"])
    run = services.run_submit(user=owner, run=complete_draft)
    # The worker may first run the wizard's check of the fixture's model (another sandboxed process): wait for the run.
    wait_until(lambda: status_of(run, RunStatus.RUNNING), timeout=120, message="the run to start")
    # The model's first call sleeps, so the run's progress stays at "loading the model": look for its process.
    model_processes = wait_until(lambda: sandbox_processes(celery_worker_process.pid), timeout=120,
                                 message="the model's process under the worker")

    services.run_cancel(user=owner, run=run)
    wait_until(lambda: status_of(run, RunStatus.CANCELLED, RunStatus.FAILED), timeout=60,
               message="the run to be cancelled")
    assert run.status == RunStatus.CANCELLED
    wait_until(lambda: not any(alive(pid) for pid in model_processes), timeout=20,
               message=f"the model's processes {sorted(model_processes)} to end")
    assert celery_worker_process.poll() is None  # the worker itself carries on


def server_secrets(settings) -> dict[str, str]:
    """The values the worker process holds: the test passes them in its environment."""
    worker_env = _worker_env(settings)
    return {
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "DATABASE_URL": worker_env["DATABASE_URL"],
        "CELERY_BROKER_URL": worker_env["CELERY_BROKER_URL"],
    }


def test_a_model_run_by_the_worker_finds_none_of_the_server_s_secrets(start_worker, settings, owner, project,
                                                                      complete_draft):
    secrets = server_secrets(settings)
    worker = start_worker("secrets", env=secrets)  # every secret in the worker's own environment
    services.run_set_model(user=owner, run=complete_draft,
                           model=register_model(owner, project, "probe", ENVIRONMENT_PROBE_MODEL_PY))
    run = services.run_submit(user=owner, run=complete_draft)
    wait_until(lambda: status_of(run, RunStatus.SUCCEEDED, RunStatus.FAILED), timeout=120, message="the run to end")
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert worker.poll() is None

    assert "[model stdout] own environment: {" in run.log and "'PATH'" in run.log  # the probe did run and print
    everything_the_user_sees = "\n".join([run.log, run.error, json.dumps(StressTestReport.objects.get(run=run).data)])
    own_environment = "\n".join(line for line in run.log.splitlines() if "own environment:" in line)
    for name, value in secrets.items():
        assert name not in own_environment and value not in own_environment, f"{name} reached the model"
    # Other processes' environments (the worker's /proc/<pid>/environ) are out of sight only under bubblewrap.
    require(bubblewrap_available(), "bubblewrap does not work here: the model could read the worker's /proc environ")
    assert "Model sandbox: bubblewrap" in run.log
    for name, value in secrets.items():
        assert value not in everything_the_user_sees, f"{name}'s value is visible to the model's author"
