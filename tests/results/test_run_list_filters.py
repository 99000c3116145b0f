"""Filtering the Stress Testing list by status and worst severity, with pages that keep the filters."""
from __future__ import annotations

import pytest
from django.test import RequestFactory

from stresstests.models import RunStatus, StressTestRun
from stresstests.results.views import RUNS_PER_PAGE, filter_runs

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs(project):
    def make(name: str, status: str, alert: int = 0, warning: int = 0) -> StressTestRun:
        summary = {"alert": alert, "warning": warning, "pass": 3} if status == RunStatus.SUCCEEDED else {}
        return StressTestRun.objects.create(project=project, name=name, status=status, summary=summary)

    return {
        "alerting": make("alerting", RunStatus.SUCCEEDED, alert=2, warning=1),
        "warning": make("warning", RunStatus.SUCCEEDED, warning=1),
        "clean": make("clean", RunStatus.SUCCEEDED),
        "failed": make("failed", RunStatus.FAILED),
        "running": make("running", RunStatus.RUNNING),
    }


def names(project, **params) -> set[str]:
    request = RequestFactory().get("/", params)
    return {run.name for run in filter_runs(request, project.runs.all())["runs"]}


def test_it_filters_by_status(project, runs):
    assert names(project, status=RunStatus.FAILED) == {"failed"}
    assert names(project, status=RunStatus.SUCCEEDED) == {"alerting", "warning", "clean"}


def test_it_filters_by_worst_severity(project, runs):
    assert names(project, severity="alert") == {"alerting"}
    assert names(project, severity="warning") == {"warning"}
    assert names(project, severity="pass") == {"clean"}


def test_no_filter_or_an_unknown_value_lists_everything(project, runs):
    assert names(project) == set(runs)
    request = RequestFactory().get("/", {"severity": "purple"})
    context = filter_runs(request, project.runs.all())
    assert {run.name for run in context["runs"]} == set(runs)
    assert context["filter_form"].errors["severity"]


def test_pages_hold_a_fixed_number_of_runs_and_keep_the_filters(project):
    StressTestRun.objects.bulk_create([StressTestRun(project=project, name=f"run {i:02d}", status=RunStatus.FAILED)
                                       for i in range(RUNS_PER_PAGE + 3)])
    first = filter_runs(RequestFactory().get("/", {"status": RunStatus.FAILED}), project.runs.order_by("name"))
    assert len(first["runs"]) == RUNS_PER_PAGE and first["page_obj"].has_next
    assert not first["page_obj"].has_previous
    second = filter_runs(RequestFactory().get("/", {"status": RunStatus.FAILED, "page": "2"}),
                         project.runs.order_by("name"))
    assert [run.name for run in second["runs"]] == [f"run {i:02d}" for i in range(RUNS_PER_PAGE, RUNS_PER_PAGE + 3)]
    assert second["page_obj"].has_previous and not second["page_obj"].has_next
    assert second["filter_query"] == f"status={RunStatus.FAILED}"


def test_a_nonsense_page_number_shows_the_first_page(project, runs):
    context = filter_runs(RequestFactory().get("/", {"page": "last"}), project.runs.all())
    assert context["page_obj"].number == 1 and len(context["runs"]) == len(runs)


def test_the_stress_testing_list_filters_and_pages(client_for, owner, project, runs, django_assert_num_queries):
    from django.urls import reverse

    client = client_for(owner)
    url = reverse("stresstests:run_list", args=[project.id])
    # session, user, project, membership, runs (drafts head the unfiltered list only: no query for them here)
    with django_assert_num_queries(5):
        page = client.get(url, {"severity": "alert"}).content.decode()
    assert ">alerting</a>" in page and ">clean</a>" not in page and ">failed</a>" not in page
    assert '<option value="alert" selected>' in page
    page = client.get(url, {"status": RunStatus.FAILED}).content.decode()
    assert ">failed</a>" in page and ">alerting</a>" not in page
    assert "No stress test matches these filters." in client.get(url, {"status": RunStatus.CANCELLED}).content.decode()


def test_the_list_polls_with_its_filters(client_for, owner, project, runs):
    from django.urls import reverse

    url = reverse("stresstests:run_list", args=[project.id])
    page = client_for(owner).get(url, {"status": RunStatus.RUNNING}).content.decode()
    assert f'hx-get="{url}?status={RunStatus.RUNNING}"' in page


def test_status_draft_lists_the_unfinished_wizards_only(client_for, owner, project, runs):
    """Review 15: "Draft" was no Status choice, though drafts are what piled up."""
    from django.urls import reverse

    StressTestRun.objects.create(project=project, name="half-built", status=RunStatus.DRAFT, created_by=owner)
    url = reverse("stresstests:run_list", args=[project.id])
    page = client_for(owner).get(url, {"status": RunStatus.DRAFT}).content.decode()
    assert f'<option value="{RunStatus.DRAFT}" selected>Draft</option>' in page
    assert ">half-built</a>" in page and ">alerting</a>" not in page and ">failed</a>" not in page
