"""The Stress Testing list, a run's page and its polled progress, Cancel and Re-run (views; no worker needed)."""
from __future__ import annotations

import pytest
from django.urls import reverse

from stresstests import services
from stresstests.models import RunStatus, StressTestReport, StressTestRun

pytestmark = pytest.mark.django_db

REPORT = {
    "schema_version": 1,
    "run": {"severity_counts": {"alert": 1, "warning": 2, "pass": 3, "skipped": 0, "error": 0}},
    "categories": [
        {"name": "Drift", "severity": "SEVERITY_ALERT", "passed": 3, "total": 5, "risk_group": "operational"},
        {"name": "Adversarial", "severity": None, "passed": 0, "total": 0, "risk_group": "security"},
    ],
}


def make_run(project, owner, status=RunStatus.SUCCEEDED, **fields) -> StressTestRun:
    run = StressTestRun.objects.create(project=project, created_by=owner, status=status, wizard_step="configuration",
                                       **{"name": f"run {status}", **fields})
    if status == RunStatus.SUCCEEDED:
        StressTestReport.objects.create(run=run, data=REPORT)
        run.summary = REPORT["run"]["severity_counts"]
        run.save()
    return run


def list_url(project) -> str:
    return reverse("stresstests:run_list", args=[project.id])


# ---- the list -----------------------------------------------------------------------------------------------------
def test_the_list_shows_runs_newest_first_with_status_progress_and_severity(client_for, owner, project):
    make_run(project, owner, name="older")
    make_run(project, owner, RunStatus.RUNNING, name="newer", progress=0.4)
    body = client_for(owner).get(list_url(project)).content.decode()
    assert body.index("newer") < body.index("older")
    assert 'value="0.4"' in body
    assert "1 Alert" in body and "2 Warning" in body and "3 Pass" in body
    assert "Create Stress Test" in body
    # An active run makes the table poll itself.
    assert 'hx-trigger="every 2s"' in body


def test_viewers_see_the_list_without_create_and_outsiders_get_404(client_for, project, owner, member, outsider):
    make_run(project, owner)
    assert "Create Stress Test" not in client_for(member).get(list_url(project)).content.decode()
    assert client_for(outsider).get(list_url(project)).status_code == 404


def test_the_list_refuses_post(client_for, owner, project):
    assert client_for(owner).post(list_url(project)).status_code == 405


def test_the_htmx_list_is_only_the_table(client_for, owner, project):
    make_run(project, owner)
    body = client_for(owner).get(list_url(project), HTTP_HX_REQUEST="true").content.decode()
    assert body.lstrip().startswith('<div id="run-table"')
    assert "hx-trigger" not in body  # nothing active: polling stops


def test_the_list_takes_the_same_number_of_queries_for_many_runs(
    client_for, owner, project, registered_model, django_assert_num_queries
):
    client = client_for(owner)
    for index in range(8):
        make_run(project, owner, name=f"run {index}", model=registered_model)
    services.run_create_draft(user=owner, project=project)
    # session, user, project, membership, runs (with model), drafts
    with django_assert_num_queries(6):
        response = client.get(list_url(project))
    assert response.content.decode().count("scorer") == 8


# ---- a run's page -------------------------------------------------------------------------------------------------
def test_a_finished_run_shows_its_summary_and_re_run(client_for, owner, project):
    run = make_run(project, owner, log="[model stdout] hello")
    body = client_for(owner).get(reverse("stresstests:run_detail", args=[run.id])).content.decode()
    assert "Status: <span class=\"status succeeded\">Succeeded</span>" in body
    assert "Drift" in body and "3/5" in body and "Not tested" in body
    assert "Re-run" in body and "Cancel" not in body
    assert f'href="/stress-tests/{run.id}/results/">View results</a>' in body
    assert "[model stdout] hello" in body
    assert "hx-trigger" not in body


def test_a_running_run_polls_its_progress_and_offers_cancel(client_for, owner, project):
    run = make_run(project, owner, RunStatus.RUNNING, progress=0.25, current_test="Feature Drift")
    body = client_for(owner).get(reverse("stresstests:run_detail", args=[run.id])).content.decode()
    assert 'hx-trigger="every 1s"' in body
    assert "Current step: Feature Drift" in body and "25%" in body
    assert ">Cancel</button>" in body


def test_a_failed_run_shows_why(client_for, owner, project):
    run = make_run(project, owner, RunStatus.FAILED, error="model.py line 3: invalid syntax")
    body = client_for(owner).get(reverse("stresstests:run_detail", args=[run.id])).content.decode()
    assert "Why it failed" in body and "model.py line 3: invalid syntax" in body


def test_viewers_read_a_run_without_actions_and_outsiders_get_404(client_for, owner, project, member, outsider):
    run = make_run(project, owner, RunStatus.RUNNING)
    url = reverse("stresstests:run_detail", args=[run.id])
    body = client_for(member).get(url).content.decode()
    assert "Status:" in body and ">Cancel</button>" not in body
    assert client_for(outsider).get(url).status_code == 404
    assert client_for(owner).post(url).status_code == 405


def test_progress_is_a_partial_for_htmx_that_stops_polling_when_finished(client_for, owner, project):
    run = make_run(project, owner, RunStatus.RUNNING, progress=0.5)
    client = client_for(owner)
    url = reverse("stresstests:run_progress", args=[run.id])
    running = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert running.lstrip().startswith('<section id="run-status"') and 'hx-trigger="every 1s"' in running
    StressTestRun.objects.filter(id=run.id).update(status=RunStatus.SUCCEEDED, progress=1.0)
    StressTestReport.objects.create(run=run, data=REPORT)
    finished = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in finished and "Summary" in finished
    assert client.get(url)["Location"] == reverse("stresstests:run_detail", args=[run.id])


def test_progress_is_hidden_from_outsiders(client_for, owner, project, outsider):
    run = make_run(project, owner, RunStatus.RUNNING)
    url = reverse("stresstests:run_progress", args=[run.id])
    assert client_for(outsider).get(url, HTTP_HX_REQUEST="true").status_code == 404
    assert client_for(owner).post(url, HTTP_HX_REQUEST="true").status_code == 405


# ---- cancel and re-run ------------------------------------------------------------------------------------------
def test_cancel_stops_a_queued_run_at_once(client_for, owner, project):
    run = make_run(project, owner, RunStatus.REQUESTED)
    response = client_for(owner).post(reverse("stresstests:run_cancel", args=[run.id]))
    run.refresh_from_db()
    assert response.status_code == 302
    assert run.status == RunStatus.CANCELLED and run.finished_at is not None


def test_cancel_asks_a_running_run_to_stop(client_for, owner, project):
    run = make_run(project, owner, RunStatus.RUNNING)
    client_for(owner).post(reverse("stresstests:run_cancel", args=[run.id]))
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING and run.cancel_requested


def test_cancel_of_a_finished_run_says_there_is_nothing_to_cancel(client_for, owner, project):
    run = make_run(project, owner)
    response = client_for(owner).post(reverse("stresstests:run_cancel", args=[run.id]), follow=True)
    assert "nothing to cancel" in response.content.decode()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


def test_cancel_and_re_run_are_post_only_and_for_writers(client_for, owner, project, member, outsider):
    run = make_run(project, owner)
    for name in ("stresstests:run_cancel", "stresstests:run_rerun"):
        url = reverse(name, args=[run.id])
        assert client_for(owner).get(url).status_code == 405
        assert client_for(member).post(url).status_code == 403
        assert client_for(outsider).post(url).status_code == 404
    assert StressTestRun.objects.count() == 1


def test_edit_and_re_run_copies_the_configuration_into_a_new_draft(client_for, owner, project, registered_model,
                                                                   registered_datasets):
    reference, evaluation = registered_datasets
    run = make_run(project, owner, name="Nightly", config_mode="custom", model=registered_model,
                   reference_dataset=reference, evaluation_dataset=evaluation,
                   config={"categories": ["TEST_CATEGORY_TYPE_DRIFT"], "run_time_info": {"random_seed": 5}})
    response = client_for(owner).post(reverse("stresstests:run_rerun_edit", args=[run.id]))
    draft = StressTestRun.objects.get(rerun_of=run)
    assert response["Location"] == reverse("stresstests:wizard_step", args=[draft.id, "configuration"])
    assert draft.status == RunStatus.DRAFT and draft.name == "Nightly (re-run)"
    assert (draft.config, draft.config_mode, draft.model, draft.reference_dataset, draft.evaluation_dataset) == (
        run.config, "custom", registered_model, reference, evaluation)


def test_an_active_run_cannot_be_re_run(client_for, owner, project):
    run = make_run(project, owner, RunStatus.RUNNING)
    response = client_for(owner).post(reverse("stresstests:run_rerun", args=[run.id]), follow=True)
    assert "Only a finished stress test can be re-run." in response.content.decode()
    assert StressTestRun.objects.count() == 1
