"""The overview and the offline HTML lead with the key findings (one per root cause); what must be read first (an
over-fitted reference, columns left out as model output) comes before them; figures on a subset page agree; a
capped severity and an undirected metric are worded truthfully."""
from __future__ import annotations

import copy
import json
import re

import pytest
from django.urls import reverse
from django.utils.html import escape

from tests.results.reports import fraud_report
from tests.shared_data import require_fraud_data

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def fraud() -> dict:
    require_fraud_data()
    return fraud_report()


def overview(client, run) -> str:
    return client.get(reverse("results:run_results", args=[run.id])).content.decode()


def test_the_overview_leads_with_one_entry_per_root_cause(client_for, owner, finished_run, all_categories_report):
    run = finished_run(all_categories_report)
    page = overview(client_for(owner), run)
    findings = all_categories_report["key_findings"]
    assert findings and all(isinstance(f, dict) for f in findings)
    assert page.index('id="findings-heading"') < page.index('id="metrics-heading"')
    positions = [page.index(escape(f["title"])) for f in findings]
    assert positions == sorted(positions)                       # ranked as the report ranks them
    first = findings[0]
    url = reverse("results:test_detail", args=[run.id, first["tests"][0]["test_type"]])
    assert f'href="{url}"' in page and escape(first["tests"][0]["name"]) in page
    assert f'<span class="count">{len(findings)}</span>' in page


def test_what_must_be_read_first_comes_before_the_findings(client_for, owner, finished_run, all_categories_report):
    report = copy.deepcopy(all_categories_report)
    report["run"]["reference_check"] = {"overfit": True, "metric": "auc", "reference": 1.0, "evaluation": 0.96,
                                        "message": "The reference looks like the model's training data: planted."}
    report["run"]["schema"]["left_out_columns"] = [
        {"column": "preds", "reason": "Column 'preds' looks like model output, so it is not tested as a feature.",
         "proposal": "Name it as the prediction column."}]
    page = overview(client_for(owner), finished_run(report))
    first = page.index("Read this first")
    assert first < page.index('id="findings-heading"')
    assert page.index("training data: planted.") > first
    assert escape("Column 'preds' looks like model output") in page and "Name it as the prediction column." in page


def test_an_old_report_of_schema_1_still_renders_its_sentences(client_for, owner, finished_run,
                                                                all_categories_report):
    report = copy.deepcopy(all_categories_report)
    report["schema_version"] = 1
    report["key_findings"] = ["amount has drifted (PSI 0.71 > 0.6).", "city = Rome is weak."]
    report["run"].pop("reference_check", None)
    page = overview(client_for(owner), finished_run(report))
    assert "amount has drifted (PSI 0.71 &gt; 0.6)." in page and "city = Rome is weak." in page
    assert '<span class="count">2</span>' in page


def test_a_rise_in_positive_prediction_rate_is_not_called_worse(client_for, owner, finished_run,
                                                               all_categories_report):
    report = copy.deepcopy(all_categories_report)
    report["run"]["model_metrics"]["positive_prediction_rate"] = {"reference": 0.30, "evaluation": 0.45}
    page = overview(client_for(owner), finished_run(report))
    row = re.search(r'<th scope="row">Positive Prediction Rate</th>.*?</tr>', page, re.S).group(0)
    assert "worse" not in row and "shifted" in row


def test_the_offline_html_leads_with_findings_and_explains_a_capped_drift(client_for, owner, finished_run, fraud):
    fraud = copy.deepcopy(fraud)
    drift = next(t for c in fraud["categories"] for t in c["tests"] if t["test_type"] == "feature_drift")
    capped = next(c for c in drift["test_cases"] if c["features"] == ["browser_version"])
    # The fraud drift of browser_version costs recall, so it is an Alert; the page must explain a capped case too.
    capped["severity"] = "SEVERITY_WARNING"
    capped["severity_note"] = (f"PSI {capped['metrics']['psi']:.3f} reaches the Alert threshold, but the severity is "
                               "capped at Warning: its measured impact stays below the Alert threshold.")
    run = finished_run(fraud, name="Fraud example")
    html = client_for(owner).get(reverse("results:export_html", args=[run.id])).content.decode()
    overview_part = html[html.index('id="overview"'):html.index('id="by-category"')]
    assert overview_part.index('id="findings-heading"') < overview_part.index('id="metrics-heading"')
    for finding in fraud["key_findings"]:
        assert escape(finding["title"]) in overview_part
    assert 'href="#test-subset_f1"' in overview_part             # offline links stay inside the file
    assert capped["metrics"]["psi"] >= drift["thresholds"][1]
    assert escape(capped["severity_note"]) in html and "capped at Warning" in capped["severity_note"]


def test_the_subset_page_shows_one_subset_in_title_sentence_table_and_chart(client_for, owner, finished_run, fraud):
    run = finished_run(fraud, name="Fraud example")
    page = client_for(owner).get(reverse("results:test_detail", args=[run.id, "subset_f1"])).content.decode()
    test = next(t for c in fraud["categories"] for t in c["tests"] if t["test_type"] == "subset_f1")
    case = next(c for c in test["test_cases"] if c["features"] == ["browser_version"])
    metrics = case["metrics"]
    assert escape("browser_version · browser_version = other") in page            # the case's title
    assert f"F1 {metrics['worst_subset_f1']:.3f}" in case["finding"] and escape(case["finding"]) in page
    assert f"worse by {metrics['degraded_by']:.3f}" in case["finding"]
    assert f"{metrics['degraded_by']:.4g}" in page                                   # the table's Degraded by
    chart = _chart_of(page, "F1 across subsets of browser_version")
    labels = chart["labels"]
    untested = [label for label in labels if label.endswith("(too few rows, not tested)")]
    assert len(labels) - len(untested) == metrics["subsets_tested"]
    assert "browser_version = chrome 58.0 (too few rows, not tested)" in labels
    assert "browser_version = other (fails)" in labels


def _chart_of(page: str, title: str) -> dict:
    for block in re.findall(r'<script id="chart-[^"]*" type="application/json">(.*?)</script>', page, re.S):
        spec = json.loads(block)
        if spec.get("title") == title:
            return spec
    raise AssertionError(f"no chart titled {title!r}")


def test_the_compare_page_does_not_call_a_rise_in_positive_predictions_worse():
    from stresstests.results.report import MetricRow
    from stresstests.templatetags.results_tags import worse_than

    earlier = MetricRow("positive_prediction_rate", "Positive Prediction Rate", 0.3, 0.30, False)
    later = MetricRow("positive_prediction_rate", "Positive Prediction Rate", 0.3, 0.45, False)
    assert not worse_than(later, earlier)
    assert worse_than(MetricRow("auc", "AUC", 0.8, 0.70, True), MetricRow("auc", "AUC", 0.8, 0.78, True))
