"""The partial other pages include: templates/stresstests/results/_run_results.html with `run` and `report`."""
from __future__ import annotations

import copy

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse
from django.utils.html import escape

from stresstests.models import StressTestReport
from stresstests.results.report import RunResults

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("form", ["dict", "model", "view"])
def test_the_partial_renders_the_overview_from_any_form_of_the_report(form, finished_run, all_categories_report):
    run = finished_run(all_categories_report)
    stored = StressTestReport.objects.get(run=run)
    report = {"dict": stored.data, "model": stored, "view": RunResults(stored.data)}[form]
    html = render_to_string("stresstests/results/_run_results.html", {"run": run, "report": report},
                            request=RequestFactory().get("/"))
    assert escape(all_categories_report["key_findings"][0]["title"]) in html
    assert 'aria-current="page">Overview</a>' in html
    assert "vendor/chartjs/chart.umd.js" in html  # the including page need not load anything itself


def test_an_empty_report_renders_every_tab_and_says_so(client_for, owner, finished_run):
    run = finished_run({"schema_version": 1, "run": {"severity_counts": {}}, "risk_groups": [], "categories": [],
                        "key_findings": []})
    client = client_for(owner)
    for tab in ("overview", "category", "feature"):
        assert client.get(reverse("results:run_tab", args=[run.id, tab])).status_code == 200
    overview = client.get(reverse("results:run_tab", args=[run.id, "overview"])).content.decode()
    assert "No test raised a Warning or an Alert." in overview
    assert overview.count("0/0 tests passed") == 3


def test_a_test_that_could_not_run_says_why(client_for, owner, finished_run, all_categories_report):
    report = copy.deepcopy(all_categories_report)
    test = next(t for c in report["categories"] for t in c["tests"] if t["test_type"] == "feature_drift")
    test.update(status="error", severity=None, error="ValueError: the model returned strings", test_cases=[])
    run = finished_run(report)
    page = client_for(owner).get(reverse("results:test_detail", args=[run.id, "feature_drift"])).content.decode()
    # One sentence, with the exception's own text behind a disclosure (tests/results/test_results_ux.py has more).
    summary = '<span class="error-summary">the model returned strings (ValueError).</span>'
    assert "This test could not run: " + summary in page
    assert "<pre>ValueError: the model returned strings</pre>" in page
    category = client_for(owner).get(reverse("results:run_tab", args=[run.id, "category"])).content.decode()
    assert "Error</span> <div class=\"muted\">" + summary in category
