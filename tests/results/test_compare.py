"""Comparing two runs of a project: severity changes, metric deltas, new and resolved findings."""
from __future__ import annotations

import copy

import pytest
from django.urls import reverse

from stresstests.results.compare import compare_reports

pytestmark = pytest.mark.django_db


def set_test(report: dict, test_type: str, severity: str, cases: list[dict] | None = None) -> dict:
    for category in report["categories"]:
        for test in category["tests"]:
            if test["test_type"] == test_type:
                test["severity"] = severity
                if cases is not None:
                    test["test_cases"] = cases
    return report


def case(features: list[str], severity: str, finding: str = "") -> dict:
    return {"features": features, "subset": None, "severity": severity, "metrics": {}, "importance_score": None,
            "finding": finding, "examples": [], "details": {}}


def test_it_names_tests_that_changed_severity_and_findings_that_appeared_or_resolved(all_categories_report):
    base = set_test(copy.deepcopy(all_categories_report), "feature_drift", "SEVERITY_PASS",
                    [case(["city"], "SEVERITY_ALERT", "city drifted."), case(["amount"], "SEVERITY_PASS")])
    head = set_test(copy.deepcopy(all_categories_report), "feature_drift", "SEVERITY_ALERT",
                    [case(["city"], "SEVERITY_PASS"), case(["amount"], "SEVERITY_ALERT", "amount drifted.")])
    comparison = compare_reports(base, head)
    change = next(c for c in comparison.severity_changes if c.test_type == "feature_drift")
    assert (change.before, change.after, change.worse) == ("SEVERITY_PASS", "SEVERITY_ALERT", True)
    assert [c.test_type for c in comparison.severity_changes] == ["feature_drift"]
    assert [f.sentence for f in comparison.new_findings if f.test_type == "feature_drift"] == ["amount drifted."]
    assert [f.sentence for f in comparison.resolved_findings if f.test_type == "feature_drift"] == ["city drifted."]


def test_a_subset_test_whose_worst_subset_moved_is_still_the_same_finding(all_categories_report):
    base = copy.deepcopy(all_categories_report)
    head = copy.deepcopy(all_categories_report)
    for report, subset in ((base, "country = BRA"), (head, "country = GER")):
        failing = case(["country"], "SEVERITY_ALERT", f"{subset} is treated unfairly.")
        failing["subset"] = subset
        set_test(report, "demographic_parity", "SEVERITY_ALERT", [failing])
    comparison = compare_reports(base, head)
    assert not [f for f in comparison.new_findings + comparison.resolved_findings
                if f.test_type == "demographic_parity"]


def test_metric_deltas_read_later_minus_earlier(all_categories_report, calmer_report):
    comparison = compare_reports(calmer_report, all_categories_report)
    later, earlier = next((h, b) for h, b in comparison.model_metrics if h.name == "auc")
    assert later.evaluation == all_categories_report["run"]["model_metrics"]["auc"]["evaluation"]
    assert earlier.evaluation == calmer_report["run"]["model_metrics"]["auc"]["evaluation"]


def test_compare_page_preselects_the_run_and_the_one_before(client_for, owner, finished_run, all_categories_report,
                                                            calmer_report):
    older = finished_run(calmer_report, name="Last week", age_minutes=600)
    newer = finished_run(all_categories_report, name="Tonight")
    response = client_for(owner).get(reverse("results:compare", args=[newer.project_id]), {"head": newer.id})
    form = response.context["form"]
    assert (form["base"].value(), form["head"].value()) == (str(older.id), str(newer.id))
    assert response.context["comparison"] is None


def test_compare_page_shows_changes_between_two_runs(client_for, owner, finished_run, all_categories_report,
                                                     calmer_report):
    older = finished_run(calmer_report, name="Last week", age_minutes=600)
    newer = finished_run(all_categories_report, name="Tonight")
    response = client_for(owner).get(reverse("results:compare", args=[newer.project_id]),
                                     {"base": older.id, "head": newer.id})
    page = response.content.decode()
    comparison = response.context["comparison"]
    assert comparison.severity_changes, "the later run drifted more, so some tests got worse"
    first = comparison.severity_changes[0]
    assert first.name in page and "Worse" in page
    assert f"New findings <span class=\"count\">{len(comparison.new_findings)}</span>" in page


def test_comparing_a_run_with_itself_is_refused_with_a_message(client_for, owner, finished_run,
                                                               all_categories_report, calmer_report):
    run = finished_run(all_categories_report)
    finished_run(calmer_report, name="Other")
    response = client_for(owner).get(reverse("results:compare", args=[run.project_id]),
                                     {"base": run.id, "head": run.id})
    assert response.status_code == 200
    assert "Pick two different runs to compare." in response.content.decode()


def test_runs_of_another_project_cannot_be_compared(client_for, owner, outsider, finished_run,
                                                    all_categories_report):
    run = finished_run(all_categories_report)
    assert client_for(outsider).get(reverse("results:compare", args=[run.project_id])).status_code == 404


def test_compare_page_query_count_does_not_grow_with_the_number_of_tests(client_for, owner, finished_run,
                                                                         django_assert_num_queries,
                                                                         drift_only_report, all_categories_report):
    client = client_for(owner)
    for report in (drift_only_report, all_categories_report):
        older = finished_run(report, name="older", age_minutes=60)
        newer = finished_run(report, name="newer")
        # session, user, project, membership, the project's runs, both reports
        with django_assert_num_queries(6):
            response = client.get(reverse("results:compare", args=[newer.project_id]),
                                  {"base": older.id, "head": newer.id})
        assert response.context["comparison"] is not None
        older.delete()
        newer.delete()
