"""The run's result pages: Overview / By Category / By Feature tabs and the test detail, rendered from the report."""
from __future__ import annotations

import json

import pytest
from django.urls import reverse
from django.utils.html import escape

from stresstests.models import RunStatus, StressTestRun
from stresstests.results.report import RunResults

pytestmark = pytest.mark.django_db


def tab_url(run, tab: str) -> str:
    return reverse("results:run_tab", args=[run.id, tab])


def test_overview_shows_risk_groups_breakdown_findings_metrics_and_data(client_for, owner, finished_run,
                                                                        all_categories_report):
    run = finished_run(all_categories_report)
    response = client_for(owner).get(reverse("results:run_results", args=[run.id]))
    assert response.status_code == 200
    page = response.content.decode()
    for group in ("Security", "Fairness", "Operational"):
        assert f"<dt>{group}</dt>" in page
    assert escape(all_categories_report["key_findings"][0]["title"]) in page
    counts = all_categories_report["run"]["severity_counts"]
    assert f"<strong>{counts['alert']}</strong> <span class=\"severity alert\">Alert</span>" in page
    assert "<th scope=\"row\">AUC</th>" in page
    assert ">1500</td>" in page  # rows of each dataset
    assert "<dt>Inputs</dt><dd>labels: yes · predictions: yes · model (LogisticModel): yes</dd>" in page
    assert 'id="chart-breakdown" type="application/json"' in page
    assert response.context["tab"] == "overview"


def test_by_category_groups_categories_under_their_risk_and_links_each_test(client_for, owner, finished_run,
                                                                            all_categories_report):
    run = finished_run(all_categories_report)
    page = client_for(owner).get(tab_url(run, "category")).content.decode()
    assert page.index("Security risk") < page.index("Adversarial") < page.index("Fairness risk")
    assert page.index("Fairness risk") < page.index("Bias and Fairness") < page.index("Operational risk")
    assert reverse("results:test_detail", args=[run.id, "feature_drift"]) in page
    assert "Skipped" in page  # e.g. intersectional fairness without a second protected feature


def test_by_feature_shows_drift_statistic_impact_and_failing_tests(client_for, owner, finished_run,
                                                                   all_categories_report):
    run = finished_run(all_categories_report)
    response = client_for(owner).get(tab_url(run, "feature"))
    amount = RunResults(all_categories_report).feature("amount")
    drift_case = next(c for cat in all_categories_report["categories"] for t in cat["tests"]
                      if t["test_type"] == "feature_drift" for c in t["test_cases"] if c["features"] == ["amount"])
    assert amount.drift_statistic == ("PSI", drift_case["metrics"]["psi"])
    assert "feature_drift" in [test_type for test_type, _, _ in amount.failing_tests]
    assert f"PSI {drift_case['metrics']['psi']:.4g}" in response.content.decode()


def test_htmx_tab_switch_returns_only_the_results_region(client_for, owner, finished_run, all_categories_report):
    run = finished_run(all_categories_report)
    response = client_for(owner).get(tab_url(run, "feature"), headers={"HX-Request": "true"})
    page = response.content.decode()
    assert page.lstrip().startswith('<section id="run-results"') or '<section id="run-results"' in page
    assert "<html" not in page and "chart.umd.js" not in page
    assert 'aria-current="page">By Feature</a>' in page


def test_each_tab_link_has_an_href_fallback_and_an_hx_get(client_for, owner, finished_run, all_categories_report):
    run = finished_run(all_categories_report)
    page = client_for(owner).get(tab_url(run, "overview")).content.decode()
    for tab in ("overview", "category", "feature"):
        assert f'href="{tab_url(run, tab)}" hx-get="{tab_url(run, tab)}"' in page


def test_a_viewer_reads_results_and_an_outsider_gets_404(client_for, member, outsider, finished_run,
                                                         all_categories_report):
    run = finished_run(all_categories_report)
    assert client_for(member).get(tab_url(run, "overview")).status_code == 200
    assert client_for(outsider).get(tab_url(run, "overview")).status_code == 404
    assert client_for(outsider).get(reverse("results:test_detail", args=[run.id, "feature_drift"])).status_code == 404


def test_pages_refuse_post_and_unknown_tabs_and_tests(client_for, owner, finished_run, all_categories_report):
    run = finished_run(all_categories_report)
    client = client_for(owner)
    assert client.post(tab_url(run, "overview")).status_code == 405
    assert client.get(tab_url(run, "settings")).status_code == 404
    assert client.get(reverse("results:test_detail", args=[run.id, "no_such_test"])).status_code == 404


def test_a_run_without_results_has_no_result_pages(client_for, owner, project):
    running = StressTestRun.objects.create(project=project, name="Still going", status=RunStatus.RUNNING)
    assert client_for(owner).get(tab_url(running, "overview")).status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in(client, finished_run, all_categories_report):
    run = finished_run(all_categories_report)
    response = client.get(tab_url(run, "overview"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_test_detail_explains_the_test_and_lists_cases_with_sort_buttons(client_for, owner, finished_run,
                                                                        all_categories_report):
    run = finished_run(all_categories_report)
    page = client_for(owner).get(reverse("results:test_detail", args=[run.id, "subset_f1"])).content.decode()
    test = RunResults(all_categories_report).test("subset_f1")
    assert test.raw["description"] in page and test.raw["why_it_matters"] in page
    warning, alert = test.thresholds
    assert f"Warning at <strong>{warning:.4g}</strong>, Alert at <strong>{alert:.4g}</strong>" in page
    assert page.count('<button type="button" class="sort"') == 3 + len(test.metric_columns)
    assert page.count("<tr>") >= len(test.cases)
    assert reverse("results:failing_rows_csv", args=[run.id, "subset_f1"]) in page


def test_subset_chart_has_the_overall_line_and_the_warning_threshold(client_for, owner, finished_run,
                                                                     all_categories_report):
    run = finished_run(all_categories_report)
    page = client_for(owner).get(reverse("results:test_detail", args=[run.id, "subset_f1"])).content.decode()
    test = RunResults(all_categories_report).test("subset_f1")
    failing = test.failing_cases[0]
    chart = failing.charts[0]["spec"]
    baseline = failing.raw["details"]["baseline"]
    overall, threshold = chart["lines"]
    assert overall == {"value": baseline, "dash": False, "label": f"Overall F1 ({baseline:.4g})"}
    assert threshold["dash"] and threshold["value"] == pytest.approx(baseline - failing.raw["details"]["warning_line"])
    assert any(label.endswith("(fails)") for label in chart["labels"])
    assert failing.charts[1]["spec"]["title"] == "Distribution of amount"  # from the drift test, as RIME shows
    assert f'id="{failing.charts[0]["id"]}" type="application/json"' in page


def test_fairness_chart_has_intervals_and_the_four_fifths_line(client_for, owner, finished_run,
                                                                all_categories_report):
    run = finished_run(all_categories_report)
    response = client_for(owner).get(reverse("results:test_detail", args=[run.id, "demographic_parity"]))
    case = RunResults(all_categories_report).test("demographic_parity").cases[0]
    chart, groups = case.charts[0]["spec"], case.raw["details"]["groups"]
    assert chart["series"][0]["intervals"] == [[g["ci_low"], g["ci_high"]] for g in groups]
    assert chart["lines"][0]["dash"] and chart["lines"][0]["label"].startswith("80% of the best rate")
    data_block = f'id="{case.charts[0]["id"]}" type="application/json"'
    assert data_block in response.content.decode()
    assert "Positive prediction rate: 95 % interval</th>" in response.content.decode()


def test_transformation_examples_show_before_after_and_prediction_change(client_for, owner, finished_run,
                                                                         all_categories_report):
    run = finished_run(all_categories_report)
    page = client_for(owner).get(reverse("results:test_detail", args=[run.id, "outlier_substitution"])).content.decode()
    assert "Examples (before → after)" in page and "Prediction change" in page
    table = RunResults(all_categories_report).test("outlier_substitution").failing_cases[0].example_table
    assert {"before", "after", "prediction_change"} <= set(table.columns)


def test_attack_examples_list_the_changed_feature(all_categories_report):
    test = RunResults(all_categories_report).test("vulnerability")
    case = test.failing_cases[0]
    first = dict(zip(case.example_table.columns, case.example_table.rows[0]))
    changed = next(iter(case.raw["examples"][0]["changes"]))
    assert first["feature"] == changed and first["prediction_change"] == case.raw["examples"][0]["prediction_change"]


def test_drift_chart_compares_reference_and_evaluation_distributions(all_categories_report):
    test = RunResults(all_categories_report).test("feature_drift")
    chart = next(c for c in test.cases if c.raw["features"] == ["amount"]).charts[0]["spec"]
    assert [s["label"] for s in chart["series"]] == ["Reference", "Evaluation"]
    assert [s["pattern"] for s in chart["series"]] == ["solid", "hatch"]  # told apart without colour


def test_run_page_query_count_does_not_grow_with_the_number_of_tests(client_for, owner, finished_run,
                                                                     django_assert_num_queries, drift_only_report,
                                                                     all_categories_report):
    small, large = finished_run(drift_only_report, name="small"), finished_run(all_categories_report, name="large")
    client = client_for(owner)
    for run in (small, large):
        for tab in ("overview", "category", "feature"):
            # session, user, run with project and workspace, membership, report
            with django_assert_num_queries(5):
                assert client.get(tab_url(run, tab)).status_code == 200
            # The rendered region is cached: the report is not even loaded again.
            with django_assert_num_queries(4):
                assert client.get(tab_url(run, tab)).status_code == 200


def test_test_detail_query_count_does_not_grow_with_the_number_of_cases(client_for, owner, finished_run,
                                                                        django_assert_num_queries,
                                                                        all_categories_report):
    run = finished_run(all_categories_report)
    client = client_for(owner)
    for test_type in ("prediction_drift", "feature_drift", "subset_f1"):
        with django_assert_num_queries(5):
            assert client.get(reverse("results:test_detail", args=[run.id, test_type])).status_code == 200
        with django_assert_num_queries(4):
            assert client.get(reverse("results:test_detail", args=[run.id, test_type])).status_code == 200


def test_a_cached_page_still_checks_who_is_asking(client_for, owner, outsider, finished_run, all_categories_report):
    run = finished_run(all_categories_report)
    assert client_for(owner).get(tab_url(run, "overview")).status_code == 200
    assert client_for(outsider).get(tab_url(run, "overview")).status_code == 404


def test_results_render_the_stored_report_not_a_recomputation(client_for, owner, finished_run,
                                                              all_categories_report):
    edited = json.loads(json.dumps(all_categories_report))
    edited["key_findings"] = ["A finding written only in the stored report."]
    run = finished_run(edited)
    page = client_for(owner).get(tab_url(run, "overview")).content.decode()
    assert "A finding written only in the stored report." in page


def test_a_feature_page_gathers_every_case_about_the_feature(client_for, owner, finished_run, all_categories_report,
                                                             django_assert_num_queries):
    run = finished_run(all_categories_report)
    results = RunResults(all_categories_report)
    amount = results.feature("amount")
    client = client_for(owner)
    feature_page = client.get(tab_url(run, "feature")).content.decode()
    url = reverse("results:feature_detail", args=[run.id, amount.url_id])
    assert f'href="{url}"' in feature_page
    with django_assert_num_queries(5):
        page = client.get(url).content.decode()
    cases = results.feature_cases("amount")
    assert page.count("<tr><td data-sort-value=") == len(cases)
    assert cases[0][1].severity == "SEVERITY_ALERT"  # worst first
    assert 'id="chart-feature-' in page and "Distribution of amount" in page
    assert client.get(reverse("results:feature_detail", args=[run.id, "bm9wZQ"])).status_code == 404  # "nope"
    assert client.get(reverse("results:feature_detail", args=[run.id, "%%%"])).status_code == 404


def test_every_page_of_a_binary_and_a_regression_run_renders(client_for, owner, finished_run, all_categories_report):
    from tests.results.reports import regression_report

    client = client_for(owner)
    for report in (all_categories_report, regression_report()):
        run = finished_run(report)
        results = RunResults(report)
        urls = [tab_url(run, tab) for tab in ("overview", "category", "feature")]
        urls += [reverse("results:test_detail", args=[run.id, test["test_type"]]) for _, test in results.all_tests()]
        urls += [reverse("results:feature_detail", args=[run.id, f.url_id]) for f in results.features]
        urls += [reverse("results:export_html", args=[run.id]), reverse("results:export_cases_csv", args=[run.id])]
        assert [url for url in urls if client.get(url).status_code != 200] == []


def test_cached_markup_is_keyed_by_the_templates_it_was_rendered_with():
    from stresstests.results.views import RENDERING_SOURCES, RENDERING_TEMPLATES, rendering_version

    names = {path.name for path in RENDERING_TEMPLATES.glob("*.html")}
    assert {"_run_results.html", "_test_body.html", "_chart.html"} <= names
    assert all(path.exists() for path in RENDERING_SOURCES)
    assert len(rendering_version()) == 16
