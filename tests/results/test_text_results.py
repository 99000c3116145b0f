"""Result pages and exports of a text run: transformation and attack examples render as a diff of the original and
perturbed text (escaped, invisible characters shown as badges), and the exports carry both texts."""
from __future__ import annotations

import csv
import io
import json

import pytest
from django.urls import reverse

from stresstests.engine.vocabulary import MODEL_TASK_BINARY_CLASSIFICATION
from stresstests.engine.config import DataParams, RunConfig
from stresstests.engine.runner import run_stress_test
from stresstests.engine.categories.text import perturbation as p
from stresstests.results.report import RunResults
from stresstests.results.text_diff import text_diff
from tests.engine.text_probe_helpers import binary_model, reviews


def planted(text: str) -> bool:
    """Flips on capitals-only text and on zero-width characters."""
    return text.isupper() or any(c in p.ZERO_WIDTH for c in text)


@pytest.fixture(scope="module")
def text_report() -> dict:
    reference, evaluation = reviews(300, seed=1), reviews(300, seed=2)
    for frame in (reference, evaluation):   # markup in uploaded text must reach the page as text
        frame["text"] = frame["text"] + " <b>5/5</b>"
    return run_stress_test(
        reference=reference, evaluation=evaluation,
        config=RunConfig(categories=["TEST_CATEGORY_TYPE_TRANSFORMATIONS", "TEST_CATEGORY_TYPE_ADVERSARIAL"],
                         random_seed=0),
        data_params=DataParams(label_col="label", text_features=["text"]),
        model_task=MODEL_TASK_BINARY_CLASSIFICATION, model=binary_model(flips_when=planted))


def test_a_transformation_example_renders_as_an_escaped_diff(client_for, owner, finished_run, text_report):
    run = finished_run(text_report)
    page = client_for(owner).get(reverse("results:test_detail", args=[run.id, "text_upper_case"])).content.decode()
    assert "Examples (original → perturbed, changes marked)" in page
    assert page.count('class="text-diff"') == 3
    assert "&lt;/" in page and "5/5" in page and "<b>" not in page and "<B>" not in page
    assert "<del>b</del>" in page and "<ins>B</ins>" in page   # the capitals are inserted text


def test_an_invisible_character_attack_shows_the_characters_as_badges(client_for, owner, finished_run, text_report):
    run = finished_run(text_report)
    response = client_for(owner).get(reverse("results:test_detail", args=[run.id, "text_invisible_chars_attack"]))
    page = response.content.decode()
    case = RunResults(text_report).test("text_invisible_chars_attack").raw["test_cases"][0]
    assert case["severity"] == "SEVERITY_ALERT"
    inserted = {c for e in case["examples"] for c in e["perturbed"] if c in p.ZERO_WIDTH}
    assert inserted
    for char in inserted:
        name = {"\u200b": "ZWSP", "\u200c": "ZWNJ", "\u200d": "ZWJ", "\u2060": "WJ", "\ufeff": "BOM"}[char]
        assert f'<span class="char-badge">⟨{name}⟩</span>' in page
        assert char not in page     # never the raw invisible character


def test_diff_pieces_mark_homoglyphs_control_characters_and_shorten_long_unchanged_text():
    original = "x" * 300 + " pay the bill " + "y" * 300
    perturbed = "x" * 300 + " p\u0430y the\x08 bill " + "y" * 300
    diff = text_diff(original, perturbed)
    changed = [piece for piece in diff.perturbed if piece.changed]
    assert [piece.title for piece in changed if piece.title] == ["U+0430 CYRILLIC SMALL LETTER A",
                                                                 "U+0008 BACKSPACE"]
    assert [piece.badge for piece in changed if piece.badge] == ["BS"]
    assert diff.shortened and sum(len(piece.text) for piece in diff.perturbed) < 250
    assert [piece.title for piece in diff.original if piece.elided] == ["221 unchanged characters",
                                                                     "226 unchanged characters"]


def test_the_exports_carry_the_original_and_perturbed_text(client_for, owner, finished_run, text_report):
    run = finished_run(text_report)
    client = client_for(owner)
    response = client.get(reverse("results:failing_rows_csv", args=[run.id, "text_upper_case"]))
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    case = RunResults(text_report).test("text_upper_case").raw["test_cases"][0]
    # Every failing sampled row, not only the 3 examples, each marked failed; the examples carry their texts.
    failing = case["details"]["failing_row_indices"]
    assert len(case["examples"]) == 3 and len(failing) == case["metrics"]["rows_perturbed"] == 20
    assert sorted(int(row["row"]) for row in rows) == sorted(failing)
    assert {row["failed"] for row in rows} == {"True"}
    assert [(row["original"], row["perturbed"]) for row in rows[:3]] == [
        (e["original"], e["perturbed"]) for e in case["examples"]]
    assert all(row["perturbed"] == row["original"].upper() for row in rows[:3])
    exported = json.loads(client.get(reverse("results:export_json", args=[run.id])).content)
    test = next(t for c in exported["categories"] for t in c["tests"] if t["test_type"] == "text_upper_case")
    assert test["test_cases"][0]["examples"][0]["perturbed"] == case["examples"][0]["perturbed"]


def test_the_offline_html_report_draws_the_same_diffs(client_for, owner, finished_run, text_report):
    run = finished_run(text_report)
    page = client_for(owner).get(reverse("results:export_html", args=[run.id])).content.decode()
    assert 'class="text-diff"' in page and ".text-diff ins" in page      # the diff and its embedded styles
    assert "<b>5/5" not in page


def test_attack_pages_lead_with_the_success_rate_and_queries():
    from stresstests.results.report import TestDetail
    report = run_stress_test(
        reference=reviews(100, seed=1), evaluation=reviews(100, seed=2),
        config=RunConfig(categories=["TEST_CATEGORY_TYPE_ADVERSARIAL"], random_seed=0),
        data_params=DataParams(label_col="label", text_features=["text"]),
        model_task=MODEL_TASK_BINARY_CLASSIFICATION, model=binary_model(flips_when=planted))
    results = RunResults(report)
    test = results.test("text_invisible_chars_attack")
    assert TestDetail(test.raw, {}).metric_columns[:2] == ["success_rate", "avg_queries"]


# ---- review findings: word diffs, stored diffs, direction overrides, emoji and accents -------------------------------
def _render(example: dict) -> str:
    from django.template.loader import render_to_string
    return " ".join(render_to_string("stresstests/results/_text_diff.html", {"example": example}).split())


def test_a_swapped_word_is_marked_as_one_word():
    page = _render({"original": "Please ask Mark today", "perturbed": "Please ask Jennifer today"})
    assert "<del>Mark</del>" in page and "<ins>Jennifer</ins>" in page


def test_the_page_draws_the_diff_stored_in_the_example():
    """The engine stores the diff once; the page follows it (a stored diff that does not fit is recomputed)."""
    example = {"original": "aa bb cc", "perturbed": "aa BB cc", "diff": [[0, 5, 0, 5]]}   # stored: "aa bb" changed
    assert "<del>aa bb</del>" in _render(example)
    assert "<del>bb</del>" in _render({**example, "diff": [[0, 99, 0, 5]]})


def test_full_texts_show_direction_overrides_and_invisible_characters_as_badges():
    original = "\u202e" + "x" * 300 + " end"
    page = _render({"original": original, "perturbed": original.replace("end", "END\u200b")})
    full = page[page.index("Full texts"):]
    assert "\u202e" not in page and "\u200b" not in page
    assert full.count("⟨RLO⟩") == 2 and "⟨ZWSP⟩" in full and 'dir="ltr"' in full


def test_unchanged_emoji_sequences_and_accents_stay_whole():
    page = _render({"original": "family 👨\u200d👩\u200d👧 ok cafe\u0301", "perturbed": "family 👨\u200d👩\u200d👧 ok cafe\u0300"})
    assert "⟨ZWJ⟩" not in page and "👨\u200d👩\u200d👧" in page
    assert 'cafe\u0301</del>' in page and 'cafe\u0300</ins>' in page
    diff = text_diff("a family 👨\u200d👩\u200d👧", "a family 👨\u200d👩\u200d👦")
    assert [piece.text for piece in diff.perturbed if piece.changed] == ["👨\u200d👩\u200d👦"]
