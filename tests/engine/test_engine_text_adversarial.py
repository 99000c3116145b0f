"""Text attacks: each attack flips a model planted with exactly the weakness it exploits, within its query budget,
and fails against a model that reads text carefully (tests/engine/text_probe_helpers.py)."""

from __future__ import annotations

import json
import re
import textwrap
import unicodedata

import pytest

from stresstests.engine.vocabulary import (
    MODEL_TASK_BINARY_CLASSIFICATION, MODEL_TASK_MULTICLASS_CLASSIFICATION, SEVERITY_PASS,
)
from stresstests.engine.base import REGISTRY
from stresstests.engine.categories.text import perturbation as p
from tests.engine.model_side_helpers import run_test
from tests.engine.text_probe_helpers import (
    _KNOWN, NEGATIVE, POSITIVE, text_only_keys, binary_model, make_text_context, multiclass_model, robust_positive, sentiment_words,
)


def exact_keywords(text: str) -> bool | None:
    """A model that knows its sentiment words only as spelled in training: no synonyms, no typos."""
    found = sentiment_words(text, forgiving=False)
    return found[-1] > 0 if found else None


def keyword_or_negative(text: str) -> bool:
    return bool(exact_keywords(text))


PLANTED = {
    "text_invisible_chars_attack": dict(flips_when=lambda t: any(c in p.ZERO_WIDTH for c in t)),
    "text_deletion_chars_attack": dict(flips_when=lambda t: any(unicodedata.category(c) == "Cc" for c in t)),
    # A tokenizer that maps characters it does not know to [UNK], and [UNK] to the other class.
    "text_intentional_homoglyph_attack": dict(flips_when=lambda t: any(not c.isascii() and c != "é" for c in t)),
    "text_confusable_homoglyph_attack": dict(flips_when=lambda t: any(not c.isascii() and c != "é" for c in t)),
    "text_greedy_word_attack": dict(decide=keyword_or_negative),
    "universal_triggers_attack": dict(flips_when=lambda t: t.lower().startswith("however")),
}
KEYS = sorted(PLANTED)


def test_every_text_attack_has_a_planted_defect_here():
    assert text_only_keys("TEST_CATEGORY_TYPE_ADVERSARIAL") == set(PLANTED)


@pytest.mark.parametrize("key", KEYS)
def test_the_attack_flips_the_model_with_its_weakness_within_the_budget(key):
    model = binary_model(**PLANTED[key])
    [case] = run_test(key, make_text_context(model))
    assert case.severity != SEVERITY_PASS, (key, case.metrics)
    assert case.metrics["success_rate"] >= 0.4
    assert case.metrics["perturbed_accuracy"] < case.metrics["original_accuracy"]
    budget = REGISTRY[key].default_params["attack_params"]["max_queries"]
    assert 0 < case.metrics["avg_queries"] <= budget
    strongest = case.examples[0]
    assert strongest["original_class"] != strongest["perturbed_class"] and strongest["changed_spans"]
    assert strongest["original"] in strongest["perturbed"] or key != "universal_triggers_attack"
    json.dumps(case.examples)


@pytest.mark.parametrize("key", KEYS)
def test_the_attack_fails_against_a_careful_reader(key):
    [case] = run_test(key, make_text_context(binary_model()))
    assert case.severity == SEVERITY_PASS, (key, case.metrics, case.examples[:1])
    assert case.metrics["success_rate"] == 0 and case.metrics["avg_queries"] > 0


def test_character_attacks_respect_the_query_budget_per_row():
    model = binary_model()        # never flips, so every row spends what it may
    [case] = run_test("text_invisible_chars_attack", make_text_context(model),
                      attack_params={"max_queries": 20, "population_size": 15, "max_iterations": 4})
    assert case.metrics["max_queries"] <= 20
    assert model.rows <= 5 * 20 + 5          # 5 rows: candidates plus the final check of each row's best text


def test_the_greedy_attack_only_swaps_words_the_strongest_example_shows():
    [case] = run_test("text_greedy_word_attack", make_text_context(binary_model(decide=keyword_or_negative)))
    example = case.examples[0]
    assert robust_positive(example["perturbed"]) == robust_positive(example["original"])   # meaning kept
    assert example["queries"] <= 200


def test_the_universal_trigger_is_measured_on_texts_it_was_not_searched_on():
    model = binary_model(**PLANTED["universal_triggers_attack"])
    [case] = run_test("universal_triggers_attack", make_text_context(model))
    assert case.metrics["trigger"].split()[0] == "however"
    assert case.metrics["sample_size"] == 20 and case.metrics["success_rate"] == 1.0
    assert case.metrics["queries"] <= 500


def test_multiclass_attack():
    planted = run_test("text_invisible_chars_attack", make_text_context(
        multiclass_model(PLANTED["text_invisible_chars_attack"]["flips_when"]),
        model_task=MODEL_TASK_MULTICLASS_CLASSIFICATION))[0]
    assert planted.metrics["success_rate"] == 1.0
    careful = run_test("text_invisible_chars_attack", make_text_context(
        multiclass_model(), model_task=MODEL_TASK_MULTICLASS_CLASSIFICATION))[0]
    assert careful.severity == SEVERITY_PASS


def test_a_model_that_crashes_on_attacked_text_alerts_with_its_error():
    def crash_on_zero_width(text: str) -> bool:
        if any(c in p.ZERO_WIDTH for c in text):
            raise UnicodeEncodeError("ascii", text, 0, 1, "ordinal not in range(128)")
        return False
    [case] = run_test("text_invisible_chars_attack", make_text_context(binary_model(flips_when=crash_on_zero_width)))
    assert case.severity == "SEVERITY_ALERT"
    assert "UnicodeEncodeError" in case.metrics["error"] and "ordinal not in range" in case.metrics["error"]


def test_attacked_text_reaches_a_sandboxed_model_character_for_character(tmp_path):
    """The worker's real path: the model runs in the sandbox's child process and gets the rows through Arrow; the
    zero-width and control characters of the attacks must arrive as they are (a model that reads them is caught)."""
    from stresstests.engine.sandbox import SandboxedModel

    script = tmp_path / "model.py"
    script.write_text(textwrap.dedent("""
        import numpy as np

        def predict_df(df):
            texts = df["text"].tolist()
            positive = np.array([("excellent" in t or "wonderful" in t) for t in texts])
            odd = np.array([any(c in "\\u200b\\u200c\\u200d\\u2060\\ufeff\\x08\\x7f" for c in t) for t in texts])
            return np.where(positive ^ odd, 0.9, 0.1)
    """))
    with SandboxedModel(script, model_task=MODEL_TASK_BINARY_CLASSIFICATION, wall_timeout_s=120) as model:
        ctx = make_text_context(model, n=60)
        for key in ("text_invisible_chars_attack", "text_deletion_chars_attack"):
            [case] = run_test(key, ctx)
            assert case.metrics["success_rate"] == 1.0, (key, case.metrics)
            assert case.metrics["avg_queries"] <= 15     # one step: every candidate already flips


def test_a_model_that_reads_zero_width_characters_falls_only_to_the_invisible_character_attack():
    flagged = {key for key in KEYS
               if run_test(key, make_text_context(binary_model(**PLANTED["text_invisible_chars_attack"])))[0].severity
               != SEVERITY_PASS}
    assert flagged == {"text_invisible_chars_attack"}


# ---- review findings: opinions are no attack, small samples, held-out trigger --------------------------------------
def first_word_decides(text: str) -> bool | None:
    """An accurate model (each review has one sentiment word) that reads the FIRST sentiment word."""
    found = sentiment_words(text)
    return found[0] > 0 if found else None


def synonyms_but_no_typos(text: str) -> bool:
    """Knows the synonyms of its sentiment words, not their misspellings; no known word reads as negative."""
    found = [score for word in re.findall(r"[a-z]+", text.lower()) for score in [_KNOWN.get(word)] if score]
    return bool(found) and found[-1] > 0


def test_the_universal_trigger_never_prepends_an_opinion():
    """Putting "excellent" before "the room was terrible" changes what the text says; the trigger must not do it,
    whether the word is on the opinion list or only tied to the label in the reference texts."""
    for params in ({}, {"opinion_words": []}):
        [case] = run_test("universal_triggers_attack", make_text_context(binary_model(decide=first_word_decides)),
                          **params)
        assert case.severity == SEVERITY_PASS, (params, case.metrics)
        assert not set(case.metrics["trigger"].split()) & {*POSITIVE, *NEGATIVE}
    # Control: with no opinion words at all, the same search prepends an opinion and "flips" the model.
    [unconstrained] = run_test("universal_triggers_attack", make_text_context(binary_model(decide=first_word_decides)),
                               opinion_words=[], label_association=1.0)
    assert unconstrained.severity != SEVERITY_PASS and unconstrained.metrics["trigger"] in {*POSITIVE, *NEGATIVE}


def test_the_greedy_attack_does_not_misspell_opinion_words():
    """A typo in the word that carries the opinion ("awful" -> "waful") is for the typo transformations; the attack
    may replace such a word only by a synonym, and changes at most a quarter of the words."""
    [case] = run_test("text_greedy_word_attack", make_text_context(binary_model(decide=synonyms_but_no_typos)))
    assert case.severity == SEVERITY_PASS, (case.metrics, case.examples[:1])
    [unconstrained] = run_test("text_greedy_word_attack", make_text_context(binary_model(
        decide=synonyms_but_no_typos)), opinion_words=[], label_association=1.0)
    assert unconstrained.severity != SEVERITY_PASS      # control: typos in "excellent" are what flipped it
    for example in case.examples:
        changed = [w for w, v in zip(example["original"].split(), example["perturbed"].split()) if w != v]
        assert len(changed) <= max(1, len(example["original"].split()) // 4)


def test_one_flip_in_five_attacked_texts_is_no_finding():
    from stresstests.engine.categories.text.probe import confident_severity
    assert confident_severity(1, 5, (0.1, 0.5)) == SEVERITY_PASS
    assert confident_severity(2, 5, (0.1, 0.5)) == "SEVERITY_WARNING"
    assert confident_severity(5, 5, (0.1, 0.5)) == "SEVERITY_ALERT"
    [case] = run_test("text_invisible_chars_attack", make_text_context(binary_model(**PLANTED[
        "text_invisible_chars_attack"])))
    assert "5 of 5 attacked texts" in case.finding and "with 95 % confidence" in case.finding


def test_a_trigger_measured_on_its_own_search_rows_says_so():
    ctx = make_text_context(binary_model(**PLANTED["universal_triggers_attack"]), n=8)
    [case] = run_test("universal_triggers_attack", ctx)
    assert case.metrics["measured_on_search_rows"] is True and case.metrics["sample_size"] == 8
    assert "the same 8 texts it was searched on" in case.finding and "not searched on" not in case.finding
