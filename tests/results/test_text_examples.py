"""Text examples on the result pages: long text cut with a keyboard-usable disclosure, any script and direction
(dir="auto"), always escaped; derived text attributes by their names; the exports keep the whole text."""
from __future__ import annotations

import copy
import csv
import io

import pytest
from django.urls import reverse

from stresstests.results.report import case_label, feature_label

pytestmark = pytest.mark.django_db

LONG = "This film starts slowly, " + "and the middle drags on for far too long without any reason, " * 6 + "THE END."
ARABIC = "كان الفيلم رائعا جدا"
HOSTILE = "<script>window.__injected = 1</script><img src=x onerror=\"window.__injected = 2\"> great"


def text_report(report: dict) -> tuple[dict, str]:
    """The report with its first failing test turned into a text test: a case on `text.char_length` with text
    examples (a long one, an Arabic one, one holding markup) and an original/perturbed pair."""
    report = copy.deepcopy(report)
    test = next(t for c in report["categories"] for t in c["tests"]
                if any(case["severity"] != "SEVERITY_PASS" for case in t["test_cases"]))
    case = next(case for case in test["test_cases"] if case["severity"] != "SEVERITY_PASS")
    case["features"] = ["text.char_length"]
    case["subset"] = "text.char_length > 300"
    case["examples"] = [
        {"row": 3, "text": LONG, "label": 1, "prediction": 0.83},
        {"row": 7, "text": ARABIC, "label": 0, "prediction": 0.2},
        {"row": 9, "text": HOSTILE, "label": 1, "prediction": 0.6},
        {"row": 11, "original": "a good film", "perturbed": "a g00d film", "original_prediction": 0.9,
         "perturbed_prediction": 0.4},
    ]
    return report, test["test_type"]


def test_text_attributes_are_named_in_words():
    assert feature_label("text.char_length") == "Text length (characters)"
    assert feature_label("premise.token_length") == "Premise length (tokens)"
    assert feature_label("address.city") == "address.city"  # not a text attribute: unchanged
    # Review 15: "Text length (characters)" stood next to raw text.token_count and text.max_token_length.
    from stresstests.engine.text_attributes import CATEGORICAL_ATTRIBUTES, NUMERIC_ATTRIBUTES, attribute_name

    for attribute in (*NUMERIC_ATTRIBUTES, *CATEGORICAL_ATTRIBUTES):
        single, pair = attribute_name("review", attribute, ["review"]), attribute_name("premise", attribute, ["premise", "h"])
        assert "_" not in feature_label(single) and feature_label(single).startswith("Text "), single
        assert "_" not in feature_label(pair) and feature_label(pair).startswith("Premise "), pair
    assert case_label({"features": ["text.script"], "subset": "text.script = Arabic"}) == \
        "Text script · Text script = Arabic"


def test_test_page_cuts_long_text_behind_a_disclosure_escapes_it_and_lets_the_script_choose_its_direction(
        client_for, owner, finished_run, drift_only_report):
    report, test_type = text_report(drift_only_report)
    run = finished_run(report)
    page = client_for(owner).get(reverse("results:test_detail", args=[run.id, test_type])).content.decode()
    assert "Text length (characters) · Text length (characters) &gt; 300" in page
    assert '<details class="long-text"><summary><span dir="auto">This film starts slowly,' in page
    assert f"Show all {len(LONG)} characters" in page
    assert f'<div class="full-text" dir="auto">{LONG}</div>' in page  # the whole text, once opened
    assert f'<span dir="auto">{ARABIC}</span>' in page
    assert "<script>window" not in page and "<img" not in page
    assert "&lt;script&gt;window.__injected = 1&lt;/script&gt;&lt;img src=x onerror=&quot;window.__injected = 2&quot;&gt; great" \
        in page
    header = page[page.index('<table class="examples">'):]
    header = header[:header.index("</thead>")]
    assert header.index("Original") < header.index("Perturbed")


def test_failing_rows_export_keeps_the_whole_text(client_for, owner, finished_run, drift_only_report):
    report, test_type = text_report(drift_only_report)
    run = finished_run(report)
    response = client_for(owner).get(reverse("results:failing_rows_csv", args=[run.id, test_type]))
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    by_row = {row["row"]: row for row in rows}
    assert by_row["3"]["text"] == LONG and by_row["7"]["text"] == ARABIC and by_row["9"]["text"] == HOSTILE


def test_offline_html_export_shows_the_text_examples_the_same_way(client_for, owner, finished_run, drift_only_report):
    report, _ = text_report(drift_only_report)
    run = finished_run(report)
    page = client_for(owner).get(reverse("results:export_html", args=[run.id])).content.decode()
    assert f'<div class="full-text" dir="auto">{LONG}</div>' in page
    assert "<script>window" not in page


def test_by_feature_reaches_every_failure_on_the_text_column(drift_only_report):
    """Review 15: By Feature listed only `text` (Drift "–") and the attacks; the failures on text.* attributes
    (vocabulary drift, outliers, weak subsets) were not reachable from it."""
    from stresstests.results.report import RunResults

    report, test_type = text_report(drift_only_report)
    report["run"]["schema"]["feature_types"]["text"] = "text"
    report["run"]["schema"]["text_features"] = ["text"]
    results = RunResults(report)
    row = results.feature("text")
    assert test_type in [failing for failing, _, _ in row.failing_tests]
    assert row.severity is not None and row.tests_run >= 1
    assert any(test["test_type"] == test_type for test, _ in results.feature_cases("text"))
    assert results.feature("text.char_length") is None   # grouped under its column, not a row of its own
