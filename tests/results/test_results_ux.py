"""The result pages as a new user meets them (issue 14): errors in one sentence, wording, the title, the overview's
category cards and grouped findings, the subset page's distribution chart, the favicon and the wizard's htmx
attribute. Browser checks (console errors, 404s, layout) are in tests/e2e/test_walk.py."""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse
from django.utils.html import escape

from stresstests.engine.base import REGISTRY
from stresstests.results.report import RunResults

pytestmark = pytest.mark.django_db

CATBOOST_ERROR = ("ModelOutputError: The model raised an error while predicting: CatBoostError: Bad value for "
                  "num_feature[non_default_doc_idx=0,feature_idx=3]=" + "x" * 180 + ": Cannot convert 'b'x'' to float")


def _with_error(report: dict, test_type: str, error: str, *, old_schema: bool = False) -> dict:
    """The report as the engine writes it when `test_type` raised `error`; `old_schema`: key findings as the plain
    sentences of report schema 1 (stored runs from before key findings became root causes)."""
    from stresstests.engine.findings import build_key_findings

    report = copy.deepcopy(report)
    test = next(t for c in report["categories"] for t in c["tests"] if t["test_type"] == test_type)
    test.update(status="error", severity=None, error=error, test_cases=[], failing_features=[])
    if old_schema:
        report["schema_version"] = 1
        report["key_findings"] = ["amount has drifted.", f"{test['name']} could not run: {error}"]
    else:
        report["key_findings"] = build_key_findings(report["categories"])
    return report


def _page(client, name: str, *args) -> str:
    response = client.get(reverse(name, args=args))
    assert response.status_code == 200
    return response.content.decode()


# --- item 4: raw exception text -----------------------------------------------------------------------------------


def test_an_error_is_one_sentence_naming_its_exception():
    from stresstests.results.report import error_summary

    assert error_summary(CATBOOST_ERROR) == "The model raised an error while predicting (CatBoostError)."
    assert error_summary("KeyError: 'amount'") == "It stopped on an unexpected error: 'amount' (KeyError)."
    long_sentence = "The model did not answer " + "and waited " * 30 + "so it was stopped"
    assert len(error_summary(long_sentence)) <= 122 and error_summary(long_sentence).endswith("….")


def _visible(page: str) -> str:
    """The page without the contents of closed disclosures."""
    return re.sub(r"<details(?! open)[^>]*>.*?</details>", "", page, flags=re.S)


def test_the_overview_summarises_an_error_and_keeps_its_full_text_behind_a_disclosure(
        client_for, owner, finished_run, all_categories_report):
    run = finished_run(_with_error(all_categories_report, "feature_drift", CATBOOST_ERROR))
    page = _page(client_for(owner), "results:run_results", run.id)
    summary = '<span class="error-summary">The model raised an error while predicting (CatBoostError).</span>'
    assert "<strong>Feature Drift</strong> could not run: " + summary in page              # findings by category
    assert "1 test(s) could not run: Feature Drift." in page                               # the key findings entry
    assert "non_default_doc_idx" not in _visible(page)
    assert "non_default_doc_idx=0,feature_idx=3]=" + "x" * 180 in page                      # behind a disclosure


def test_an_old_reports_error_sentence_is_summarised_too(client_for, owner, finished_run, all_categories_report):
    run = finished_run(_with_error(all_categories_report, "feature_drift", CATBOOST_ERROR, old_schema=True))
    page = _page(client_for(owner), "results:run_results", run.id)
    summary = '<span class="error-summary">The model raised an error while predicting (CatBoostError).</span>'
    assert '<span class="title">Feature Drift could not run: ' + summary in page
    assert "non_default_doc_idx" not in _visible(page)
    assert page.count('<details class="error-details"><summary>Full error text</summary><pre>') == 2


def test_the_test_page_and_the_category_table_summarise_the_error_too(client_for, owner, finished_run,
                                                                     all_categories_report):
    run = finished_run(_with_error(all_categories_report, "feature_drift", CATBOOST_ERROR))
    client = client_for(owner)
    test_page = _page(client, "results:test_detail", run.id, "feature_drift")
    category = _page(client, "results:run_tab", run.id, "category")
    for page in (test_page, category):
        assert "The model raised an error while predicting (CatBoostError)." in page
        assert "<summary>Full error text</summary>" in page


def test_long_tokens_wrap_anywhere_on_every_page():
    """The stylesheet every page loads lets unbroken text (errors, paths, feature names) wrap inside the window."""
    css = Path(finders.find("css/app.css")).read_text()
    assert re.search(r"body \{ overflow-wrap: anywhere; \}", css)
    assert re.search(r"pre \{ white-space: pre-wrap; overflow-wrap: anywhere; \}", css)


# --- item 10: wording -------------------------------------------------------------------------------------------


def test_the_title_does_not_repeat_the_date_of_a_default_name(client_for, owner, project, finished_run,
                                                             drift_only_report):
    from stresstests.services import default_run_name

    run = finished_run(drift_only_report, name=default_run_name(project))
    page = _page(client_for(owner), "results:run_results", run.id)
    heading = re.search(r"<h1[^>]*>(.*?)</h1>", page).group(1)
    assert heading == run.name and heading.count(f"{run.finished_at:%Y}-") == 1
    named = finished_run(drift_only_report, name="Nightly fraud check")
    page = _page(client_for(owner), "results:run_results", named.id)
    assert re.search(r"<h1[^>]*>Nightly fraud check – \d{4}-\d\d-\d\d</h1>", page)


def test_findings_agree_in_number_and_say_an_overall_change_in_words(all_categories_report):
    findings = [case["finding"] for _, test in RunResults(all_categories_report).all_tests()
                for case in test["test_cases"] if case.get("finding")]
    assert any(f.startswith("The model's predictions have drifted (PSI") for f in findings)
    assert not any("predictions has drifted" in f for f in findings)
    degradation = [f for f in findings if " on evaluation (" in f]
    assert degradation and all(re.search(r"\(\d\.\d{3} worse, while all rows together (lost|gained) \d\.\d{3}\)", f)
                               or "held steady" in f for f in degradation)
    assert not any("against -" in f for f in findings)


def test_overall_improvement_reads_as_a_gain_not_a_negative_number():
    from stresstests.engine.categories.tabular.subset_performance import _overall_change

    assert _overall_change("accuracy", -0.143) == "while all rows together gained 0.143"
    assert _overall_change("accuracy", 0.05) == "while all rows together lost 0.050"
    assert _overall_change("accuracy", 0.0001) == "while all rows together held steady"
    assert _overall_change("mse", -0.2) == "while all rows together gained 20%"


def test_no_description_names_a_parameter_as_if_it_were_a_quantity():
    import stresstests.engine.categories  # noqa: F401  (fills the registry)

    for test in REGISTRY.values():
        assert not re.search(r"within \w+_constraint", test.description), test.key


# --- item 11: the overview and the subset page compared with RIME --------------------------------------------------


def test_the_overview_has_a_card_per_category_with_severity_counts_and_worst_finding(
        client_for, owner, finished_run, all_categories_report):
    run = finished_run(all_categories_report)
    page = _page(client_for(owner), "results:run_results", run.id)
    results = RunResults(all_categories_report)
    cards = page.split('<li class="category-card severity-edge ')[1:]
    assert len(cards) == len(results.categories)
    drift = next(c for c in results.categories if c.key == "TEST_CATEGORY_TYPE_DRIFT")
    card = next(body.split("</li>")[0] for body in cards if f"#category-{drift.slug}\">{drift.name}</a>" in body)
    assert card.startswith('alert">')
    assert f"{drift.passed}/{drift.total}" in card and f"{drift.alerts} Alert" in card
    assert drift.findings.worst_finding and escape(drift.findings.worst_finding) in card
    assert re.search(r"Security risk</h4>.*Fairness risk</h4>.*Operational risk</h4>", page, flags=re.S)


def test_findings_are_grouped_by_category_with_test_and_feature_chips(client_for, owner, finished_run,
                                                                      all_categories_report):
    run = finished_run(all_categories_report)
    page = _page(client_for(owner), "results:run_results", run.id)
    groups = RunResults(all_categories_report).category_findings
    assert groups and groups[0].category.severity == "SEVERITY_ALERT"
    section = page.split('id="grouped-findings-heading"')[1]
    for findings in groups:
        assert f'id="findings-{findings.category.slug}"' in section
    drift = next(f for f in groups if f.category.key == "TEST_CATEGORY_TYPE_DRIFT")
    amount = next(chip for chip in drift.features if chip.name == "amount")
    feature_url = reverse("results:feature_detail", args=[run.id, amount.url_id])
    assert f'<a class="chip alert" href="{feature_url}">amount' in section
    test_url = reverse("results:test_detail", args=[run.id, drift.failing_tests[0].test_type])
    assert f'href="{test_url}">{drift.failing_tests[0].name}' in section
    # A chip for a column without a feature page (the label) is not a link that would 404.
    for findings in groups:
        for chip in findings.feature_chips:
            if not chip.linked:
                assert reverse("results:feature_detail", args=[run.id, chip.url_id]) not in section


def test_a_subset_page_shows_the_reference_and_evaluation_distribution_beside_the_bars(
        client_for, owner, finished_run, all_categories_report):
    """Without the drift test in the run too: the subset case carries its own shares of rows per subset."""
    report = copy.deepcopy(all_categories_report)
    report["categories"] = [c for c in report["categories"] if c["category"] != "TEST_CATEGORY_TYPE_DRIFT"]
    run = finished_run(report)
    page = _page(client_for(owner), "results:test_detail", run.id, "subset_accuracy")
    charts = [json.loads(block) for block in re.findall(r'<script id="chart-subset_accuracy-0-\d" '
                                                        r'type="application/json">(.*?)</script>', page)]
    titles = [chart["title"] for chart in charts]
    assert titles[0].startswith("Accuracy across subsets of ") and titles[1].startswith("Distribution of ")
    distribution = charts[1]
    assert [s["label"] for s in distribution["series"]] == ["Reference", "Evaluation"]
    for series in distribution["series"]:
        assert sum(series["values"]) == pytest.approx(1.0)
    subsets = [label.removesuffix(" (fails)") for label in charts[0]["labels"]]
    assert set(subsets) <= set(distribution["labels"])


# --- item 8: the favicon and the wizard's htmx attribute -------------------------------------------------------


def test_favicon_ico_redirects_to_a_real_icon_and_pages_link_it(client_for, owner, project):
    response = client_for(owner).get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("/static/favicon.ico")
    icon = Path(finders.find("favicon.ico")).read_bytes()
    assert icon[:4] == b"\x00\x00\x01\x00"          # an ICO file, not an HTML page
    page = _page(client_for(owner), "projects:project_detail", project.id)
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page


def test_the_wizard_disables_its_submit_button_with_a_selector_its_children_can_inherit(client_for, owner, project):
    """htmx copies hx-disabled-elt to the tabs and selects inside the form; "find ..." searched below each of them,
    found nothing and logged a console error on every tab or select change."""
    response = client_for(owner).post(reverse("stresstests:run_create", args=[project.id]), follow=True)
    page = response.content.decode()
    assert 'hx-disabled-elt="#step-form button[type=submit]"' in page
    assert "hx-disabled-elt=\"find" not in page
