"""Time limits: the server's (settings) and a run's own (run_time_info.time_limit_s), each stopped with a message."""
from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from stresstests import services
from stresstests.execution import run_execute
from stresstests.models import RunStatus
from tests.conftest import wait_until

from .conftest import register_model, slow_model_py, status_of

pytestmark = pytest.mark.django_db(transaction=True)


def timed_config(model, datasets, **run_time_info) -> dict:
    reference, evaluation = datasets
    return {"run_name": "Timed", "model_id": str(model.id), "categories": ["TEST_CATEGORY_TYPE_DRIFT"],
            "data_info": {"ref_dataset_id": str(reference.id), "eval_dataset_id": str(evaluation.id)},
            "run_time_info": run_time_info}


def test_a_run_past_its_own_time_limit_is_stopped_inside_the_model_with_a_message(
    empty_broker_afterwards, owner, project, registered_datasets
):
    sleepy = register_model(owner, project, "sleepy", slow_model_py(120))
    run = services.run_start_from_config(user=owner, project=project,
                                         test_run_config=timed_config(sleepy, registered_datasets, time_limit_s=2))
    run_execute(run.id)  # the Celery task's body, here in the test process

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.error.startswith("The stress test ran longer than its time limit (2 s) and was stopped.")
    assert "[model stdout]" not in run.log  # stopped in its first call, which never finished


@pytest.mark.parametrize("limit, problem", [
    (-1, "must be a positive number of seconds"),
    ("soon", "must be a number of seconds"),
    (10**9, "may be at most"),
])
def test_a_bad_time_limit_is_refused_at_submission(owner, project, registered_model, registered_datasets, limit,
                                                   problem):
    with pytest.raises(ValidationError, match=problem):
        services.run_start_from_config(user=owner, project=project,
                                       test_run_config=timed_config(registered_model, registered_datasets,
                                                                   time_limit_s=limit))


@pytest.mark.worker
def test_the_server_s_soft_time_limit_fails_a_run_on_a_prefork_worker(start_worker, owner, project, complete_draft):
    # Celery's own soft/hard limits act only in the prefork pool; the run's deadline reads the same setting.
    start_worker("prefork", pool="prefork", env={"STRESS_TEST_SOFT_TIME_LIMIT": "3", "STRESS_TEST_TIME_LIMIT": "60"})
    services.run_set_model(user=owner, run=complete_draft,
                           model=register_model(owner, project, "sleepy", slow_model_py(120)))
    run = services.run_submit(user=owner, run=complete_draft)
    wait_until(lambda: status_of(run, RunStatus.FAILED, RunStatus.SUCCEEDED), timeout=120, message="the run to end")
    assert run.status == RunStatus.FAILED
    assert run.error.startswith("The stress test ran longer than its time limit (3 s) and was stopped."), run.error
