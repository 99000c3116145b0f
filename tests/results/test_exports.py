"""Downloads: the JSON report, CSV of test cases and of a test's failing rows, and the offline HTML report."""
from __future__ import annotations

import csv
import io
import json
import re

import pytest
from django.urls import reverse
from django.utils.html import escape

from stresstests.engine.vocabulary import ALL_CATEGORIES
from stresstests.results.report import RunResults
from tests.results.reports import fraud_report

pytestmark = pytest.mark.django_db


def all_cases(report: dict) -> list[tuple[dict, dict]]:
    return [(test, case) for category in report["categories"] for test in category["tests"]
            for case in test["test_cases"]]


def test_json_export_is_the_stored_report(client_for, owner, finished_run, all_categories_report):
    run = finished_run(all_categories_report)
    response = client_for(owner).get(reverse("results:export_json", args=[run.id]))
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == f'attachment; filename="nightly-fraud-check-{str(run.id)[:8]}.json"'
    assert json.loads(response.content) == all_categories_report


def test_cases_csv_has_a_row_per_case_with_its_metrics(client_for, owner, finished_run, all_categories_report):
    run = finished_run(all_categories_report)
    response = client_for(owner).get(reverse("results:export_cases_csv", args=[run.id]))
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    cases = all_cases(all_categories_report)
    assert len(rows) == len(cases)
    drift = next(row for row in rows if row["test_type"] == "feature_drift" and row["features"] == "amount")
    drift_case = next(c for t, c in cases if t["test_type"] == "feature_drift" and c["features"] == ["amount"])
    assert float(drift["metric:psi"]) == pytest.approx(drift_case["metrics"]["psi"])
    assert drift["severity"] == {"SEVERITY_WARNING": "Warning", "SEVERITY_ALERT": "Alert",
                                 "SEVERITY_PASS": "Pass"}[drift_case["severity"]]


def test_failing_rows_csv_lists_the_examples_and_the_other_failing_row_ids(client_for, owner, finished_run,
                                                                           all_categories_report):
    run = finished_run(all_categories_report)
    test = RunResults(all_categories_report).test("numeric_outlier").raw
    failing = [c for c in test["test_cases"] if c["severity"] != "SEVERITY_PASS"]
    assert failing, "the synthetic evaluation data plants outliers in amount"
    response = client_for(owner).get(reverse("results:failing_rows_csv", args=[run.id, "numeric_outlier"]))
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    expected_ids = {row for case in failing for row in case["details"]["failing_row_indices"]}
    assert {int(row["row"]) for row in rows} == expected_ids
    example = failing[0]["examples"][0]
    shown = next(row for row in rows if int(row["row"]) == example["row"])
    assert float(shown["value"]) == pytest.approx(example["value"])


def test_html_report_is_one_offline_file_with_the_chart_code_once(client_for, owner, finished_run,
                                                                  all_categories_report):
    run = finished_run(all_categories_report)
    response = client_for(owner).get(reverse("results:export_html", args=[run.id]))
    html = response.content.decode()
    assert response["Content-Disposition"].endswith('.html"')
    assert html.count("Chart.js v4") == 1
    assert not re.search(r"<(script|link)[^>]+(src|href)=", html)  # nothing to fetch
    assert "/static/" not in html
    for _, test in [(c, t) for c in all_categories_report["categories"] for t in c["tests"]]:
        assert f'id="test-{test["test_type"]}"' in html
    assert escape(all_categories_report["key_findings"][0]["title"]) in html


def test_html_report_of_the_fraud_example_with_every_category_stays_under_2_mb(client_for, owner, finished_run):
    report = fraud_report()  # skips (fails under CI=true) naming RIME_SHARED_DIR when the example is absent
    assert len(report["categories"]) == len(ALL_CATEGORIES)
    run = finished_run(report, name="Fraud example")
    response = client_for(owner).get(reverse("results:export_html", args=[run.id]))
    assert response.status_code == 200
    assert len(response.content) < 2 * 1024 * 1024


def test_exports_are_refused_to_outsiders(client_for, outsider, finished_run, all_categories_report):
    run = finished_run(all_categories_report)
    client = client_for(outsider)
    for name in ("export_json", "export_cases_csv", "export_html"):
        assert client.get(reverse(f"results:{name}", args=[run.id])).status_code == 404
    assert client.get(reverse("results:failing_rows_csv", args=[run.id, "numeric_outlier"])).status_code == 404


def test_downloads_refuse_other_methods(client_for, owner, finished_run, all_categories_report):
    run = finished_run(all_categories_report)
    client = client_for(owner)
    for url in (reverse("results:export_json", args=[run.id]), reverse("results:export_cases_csv", args=[run.id]),
                reverse("results:export_html", args=[run.id]),
                reverse("results:failing_rows_csv", args=[run.id, "numeric_outlier"])):
        assert client.post(url).status_code == 405


def test_csv_cells_from_uploaded_data_cannot_run_as_spreadsheet_formulas():
    from stresstests.results import exports

    report = {"categories": [{"category": "TEST_CATEGORY_TYPE_ABNORMAL_INPUTS", "tests": [{
        "test_type": "unseen_categorical", "name": "Unseen Categorical", "severity": "SEVERITY_ALERT",
        "test_cases": [{"features": ['=HYPERLINK("http://evil.example","x")'], "subset": "@SUM(A1)",
                        "severity": "SEVERITY_ALERT", "metrics": {"impact": -0.25, "value": "+1+1"}}],
    }]}]}
    row = next(csv.DictReader(io.StringIO(exports.test_cases_csv(report))))
    assert row["features"] == '\'=HYPERLINK("http://evil.example","x")'
    assert row["subset"] == "'@SUM(A1)"
    assert row["metric:value"] == "'+1+1"
    assert float(row["metric:impact"]) == -0.25  # numbers stay numbers


@pytest.mark.parametrize("cell", ["\uff1dHYPERLINK(\"http://evil.example\")", "\uff0b1+1", "\uff0d1+1", "\uff20SUM(A1)",
                                  "  =1+1", " @SUM(A1)", "\u3000=1+1"])
def test_full_width_and_space_led_formulas_are_quoted_too(cell):
    from stresstests.results import exports

    report = {"categories": [{"category": "TEST_CATEGORY_TYPE_ABNORMAL_INPUTS", "tests": [{
        "test_type": "unseen_categorical", "name": "Unseen Categorical", "severity": "SEVERITY_ALERT",
        "test_cases": [{"features": [cell], "subset": "  plain text", "severity": "SEVERITY_ALERT", "metrics": {}}],
    }]}]}
    row = next(csv.DictReader(io.StringIO(exports.test_cases_csv(report))))
    assert row["features"] == "'" + cell
    assert row["subset"] == "  plain text"  # leading spaces alone are left as they are
