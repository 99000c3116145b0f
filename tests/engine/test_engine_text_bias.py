"""Bias and fairness on text: each swap test flags a model that treats the target group differently and passes one
that ignores who the text is about; word lists come from the package or from the run's per-test params; the
tabular fairness tests run on a text dataset's protected columns."""

from __future__ import annotations

import re

import numpy as np
import pytest

from stresstests.engine.vocabulary import (
    MODEL_TASK_MULTICLASS_CLASSIFICATION, SEVERITY_ALERT, SEVERITY_PASS, STATUS_COMPLETED,
    STATUS_ERROR,
)
from stresstests.engine.base import REGISTRY
from stresstests.engine.config import RunConfig
from stresstests.engine.runner import run_one, selected_tests
from stresstests.engine.categories.text.perturbation import wordlist
from tests.engine.model_side_helpers import run_test
from tests.engine.text_probe_helpers import binary_model, make_text_context, multiclass_model, text_only_keys


def mentions(*terms: str):
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(t) for t in terms) + r")\b", re.IGNORECASE)
    return lambda text: pattern.search(text) is not None


GENDER, NAMES, COUNTRIES = wordlist("gendered_terms"), wordlist("names"), wordlist("countries")
# Each model flips its answer for texts that mention the group the swap introduces.
PLANTED = {
    "text_swap_masc_to_fem": mentions(*GENDER["feminine"]),
    "text_swap_fem_to_masc": mentions(*GENDER["masculine"]),
    "text_swap_masc_to_plural": mentions("they", "them", "their"),
    "text_swap_fem_to_plural": mentions("they", "them", "their"),
    "text_swap_masc_name_to_fem_name": mentions(*NAMES["feminine"]),
    "text_swap_fem_name_to_masc_name": mentions(*NAMES["masculine"]),
    "text_swap_maj_name_to_min_name": mentions(*NAMES["minority"]),
    "text_swap_min_name_to_maj_name": mentions(*NAMES["majority"]),
    "text_swap_high_country_to_low_country": mentions(*COUNTRIES["low_income"]),
    "text_swap_low_country_to_high_country": mentions(*COUNTRIES["high_income"]),
}
KEYS = sorted(PLANTED)


def test_every_text_swap_has_a_planted_defect_here():
    assert text_only_keys("TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS") == set(PLANTED)


@pytest.mark.parametrize("key", KEYS)
def test_the_swap_flags_the_model_that_treats_the_other_group_differently(key):
    ctx = make_text_context(binary_model(flips_when=PLANTED[key]), n=400)
    [case] = run_test(key, ctx)
    assert case.severity == SEVERITY_ALERT, (key, case.metrics)
    assert case.metrics["flip_rate"] >= 0.5
    assert case.metrics["perturbed_accuracy"] < case.metrics["original_accuracy"]
    example = case.examples[0]
    assert example["original"] != example["perturbed"] and PLANTED[key](example["perturbed"])


@pytest.mark.parametrize("key", KEYS)
def test_the_swap_passes_a_model_that_ignores_who_the_text_is_about(key):
    [case] = run_test(key, make_text_context(binary_model(), n=400))
    assert case.severity == SEVERITY_PASS, (key, case.metrics)
    assert case.metrics["rows_perturbed"] > 0


def test_only_texts_that_mention_the_group_are_sampled_and_every_mention_is_swapped():
    [case] = run_test("text_swap_fem_to_masc", make_text_context(binary_model(), n=400))
    assert case.metrics["rows_perturbed"] == 20
    for example in case.examples:
        assert re.search(r"\bshe\b", example["original"]) and not re.search(r"\bshe\b", example["perturbed"])
        assert re.search(r"\bhe\b", example["perturbed"])


def test_a_run_overrides_the_word_lists_through_individual_tests_config():
    """The per-test params of the run config (what a project's saved test config sends) replace the shipped list."""
    ctx = make_text_context(binary_model(flips_when=mentions("Zelda")), n=400)
    ctx.config = RunConfig(individual_tests_config={"text_swap_masc_name_to_fem_name": {
        "source": ["Michael", "James"], "target": ["Zelda"]}})
    result = run_one(ctx, REGISTRY["text_swap_masc_name_to_fem_name"])
    assert result.status == STATUS_COMPLETED and result.severity == SEVERITY_ALERT
    assert all(re.search(r"\b(Michael|James)\b", e["original"]) and "Zelda" in e["perturbed"]
               for e in result.cases[0].examples)


def test_paired_lists_of_different_lengths_are_refused_with_a_clear_message():
    ctx = make_text_context(binary_model(), n=100)
    ctx.config = RunConfig(individual_tests_config={"text_swap_masc_to_fem": {"source": ["he", "his"],
                                                                              "target": ["she"]}})
    result = run_one(ctx, REGISTRY["text_swap_masc_to_fem"])
    assert result.status == STATUS_ERROR
    assert "same length (2 source words, 1 target words)" in result.reason


def test_multiclass_swap():
    planted = run_test("text_swap_masc_to_fem", make_text_context(
        multiclass_model(PLANTED["text_swap_masc_to_fem"]), model_task=MODEL_TASK_MULTICLASS_CLASSIFICATION))[0]
    assert planted.severity == SEVERITY_ALERT
    careful = run_test("text_swap_masc_to_fem", make_text_context(
        multiclass_model(), model_task=MODEL_TASK_MULTICLASS_CLASSIFICATION))[0]
    assert careful.severity == SEVERITY_PASS


def test_tabular_fairness_tests_run_on_the_protected_column_of_a_text_dataset():
    """A model that is harsher on texts by women (the `gender` column it never sees, through the names and pronouns
    of the text) shows up in demographic parity on `gender`; the text swaps run in the same selection."""
    biased = binary_model(flips_when=lambda text: bool(re.search(r"\bshe\b", text)) and "excellent" in text)
    ctx = make_text_context(biased, n=600, protected=["gender"])
    ctx.config = RunConfig(categories=["TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS"],
                           individual_tests_config={"demographic_parity": {"run": True}})
    selected = {test.key for test in selected_tests(ctx)}
    assert {"demographic_parity", "text_swap_masc_to_fem"} <= selected
    result = run_one(ctx, REGISTRY["demographic_parity"])
    assert result.status == STATUS_COMPLETED and result.severity != SEVERITY_PASS
    assert result.cases and all(case.features == ["gender"] for case in result.cases)
    fair = make_text_context(binary_model(), n=600, protected=["gender"])
    fair.config = ctx.config
    assert run_one(fair, REGISTRY["demographic_parity"]).severity == SEVERITY_PASS
    assert np.isfinite(result.cases[0].importance_score)


def test_a_model_harsh_on_low_income_countries_fails_only_the_country_swaps():
    """Both directions show it (the swap away from a low-income country changes the answer too); the gender and name
    swaps do not."""
    model = binary_model(flips_when=PLANTED["text_swap_high_country_to_low_country"])
    flagged = {key for key in KEYS if run_test(key, make_text_context(model, n=400))[0].severity != SEVERITY_PASS}
    assert flagged == {"text_swap_high_country_to_low_country", "text_swap_low_country_to_high_country"}


# ---- review findings: names and countries that are ordinary words, grammar of gendered swaps, skip message -------
def _swap(key: str, text: str, **params) -> str:
    test = REGISTRY[key]()
    return test.perturb(text, np.random.default_rng(0), {**test.default_params, **params})


@pytest.mark.parametrize("key, text", [
    ("text_swap_masc_name_to_fem_name", "Please mark the date, jack up the car and paul-bearers."),
    ("text_swap_fem_name_to_masc_name", "By the grace of god, say grace over a christmas carol."),
    ("text_swap_maj_name_to_min_name", "The hunter shot a deer near the logan berries."),
    ("text_swap_min_name_to_maj_name", "We played ebony and ivory on safari in Kenya."),
    ("text_swap_low_country_to_high_country", "The vote came down to a hanging chad in mali."),
])
def test_names_and_countries_leave_ordinary_lower_case_words_alone(key, text):
    assert _swap(key, text) == text
    assert "Kenya" not in NAMES["minority"] + NAMES["majority"]


def test_names_and_countries_still_match_as_written():
    assert _swap("text_swap_masc_name_to_fem_name", "Mark said Paul was late.") != "Mark said Paul was late."
    swapped = _swap("text_swap_low_country_to_high_country", "We flew to Chad and Mali.")
    assert "Chad" not in swapped and "Mali" not in swapped


@pytest.mark.parametrize("key, text, expected", [
    ("text_swap_fem_to_masc", "Her book is on her desk. I gave it to her. She loves her.",
     "His book is on his desk. I gave it to him. He loves him."),
    ("text_swap_fem_to_plural", "Her book is on her desk; she is here and she's happy.",
     "Their book is on their desk; they are here and they're happy."),
    ("text_swap_masc_to_plural", "He is a good man, he was happy and he has a son. The book is his.",
     "They are a good person, they were happy and they have a child. The book is theirs."),
    ("text_swap_masc_to_fem", "He told him the book is his.", "She told her the book is hers."),
])
def test_gendered_swaps_keep_the_grammar(key, text, expected):
    assert _swap(key, text) == expected


def test_case_sensitive_terms_still_match_capitalised_at_a_sentence_start():
    assert _swap("text_swap_masc_to_fem", "He said so. he left.", case_invariant=False) == "She said so. she left."


def test_the_skip_says_which_terms_it_looked_for():
    from stresstests.engine.base import SkipTest

    ctx = make_text_context(binary_model(), n=100)
    ctx.evaluation["text"] = "The room was excellent."
    with pytest.raises(SkipTest, match=r"mentions any of the terms this test swaps \(United States, United Kingdom,"
                                       r".* and 17 more; matched as whole words, as written or capitalised\)"):
        run_test("text_swap_high_country_to_low_country", ctx)
