"""Cancel, failure with the model's own error, and Re-run, with a real Celery worker process on the real broker."""
from __future__ import annotations

import pytest
from django.urls import reverse

from projects.registries import services as registry
from stresstests import services
from stresstests.models import RunStatus, StressTestRun
from tests.conftest import wait_until

from . import data
from .conftest import upload

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SLOW_MODEL_PY = data.MODEL_PY.replace("def predict_df(df):", "def predict_df(df):\n    import time; time.sleep(1.5)")


def register_model(owner, project, name: str, source: str):
    files = [upload("model.py", source.encode()), upload("weights.json", data.weights_json())]
    return registry.model_register(user=owner, project=project, name=name, tags=[], source="upload", files=files,
                                   validate=False)


def status_of(run, *statuses):
    run.refresh_from_db()
    return run.status in statuses and run


def step(client, run, name: str, values: dict):
    return client.post(reverse("stresstests:wizard_step", args=[run.id, name]), values)


def test_cancel_stops_a_running_run(celery_worker_process, client_for, owner, project, complete_draft):
    slow = register_model(owner, project, "slow", SLOW_MODEL_PY)
    services.run_save_configuration(user=owner, run=complete_draft, config_mode="custom", name="Slow",
                                    categories=["TEST_CATEGORY_TYPE_TRANSFORMATIONS"], random_seed=None)
    services.run_set_model(user=owner, run=complete_draft, model=slow)
    run = services.run_submit(user=owner, run=complete_draft)
    wait_until(lambda: status_of(run, RunStatus.RUNNING) and run.current_test not in ("", "Loading the reference and evaluation data"),
               timeout=90, message="the worker to start the tests")

    response = client_for(owner).post(reverse("stresstests:run_cancel", args=[run.id]), follow=True)
    assert "Cancelling…" in response.content.decode()
    wait_until(lambda: status_of(run, RunStatus.CANCELLED), timeout=90, message="the run to be cancelled")
    assert run.finished_at is not None and run.error == ""
    assert "Cancelled by a user." in run.log
    page = client_for(owner).get(reverse("stresstests:run_detail", args=[run.id])).content.decode()
    assert "Cancelled" in page and "Re-run" in page


def test_a_failing_model_is_shown_and_a_re_run_with_a_fixed_model_succeeds(
    celery_worker_process, client_for, owner, project, complete_draft, registered_model
):
    broken = register_model(owner, project, "broken", data.BROKEN_MODEL_PY)
    services.run_set_model(user=owner, run=complete_draft, model=broken)
    run = services.run_submit(user=owner, run=complete_draft)
    wait_until(lambda: status_of(run, RunStatus.FAILED, RunStatus.SUCCEEDED), timeout=90, message="the run to end")
    assert run.status == RunStatus.FAILED
    client = client_for(owner)
    page = client.get(reverse("stresstests:run_detail", args=[run.id])).content.decode()
    assert "Why it failed" in page and "model.py" in page and "line 1" in page

    # Edit and re-run: the configuration comes back as a draft; the user swaps the model and goes through the steps.
    response = client.post(reverse("stresstests:run_rerun_edit", args=[run.id]))
    draft = StressTestRun.objects.get(rerun_of=run)
    assert response["Location"] == reverse("stresstests:wizard_step", args=[draft.id, "configuration"])
    assert step(client, draft, "configuration", {"config_mode": "custom", "name": draft.name,
                                                 "categories": ["TEST_CATEGORY_TYPE_DRIFT"]}).status_code == 302
    assert step(client, draft, "model", {"source": "registered", "model": registered_model.id}).status_code == 302
    assert step(client, draft, "reference", {"source": "registered", "reference-dataset": "ref"}).status_code == 302
    step(client, draft, "evaluation", {"source": "registered", "evaluation-dataset": "eval"})
    wait_until(lambda: status_of(draft, RunStatus.FAILED, RunStatus.SUCCEEDED), timeout=90,
               message="the re-run to end")
    assert draft.status == RunStatus.SUCCEEDED, draft.error
    assert draft.name.endswith("(re-run)") and draft.summary
