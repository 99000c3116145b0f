"""The text categories on a generated review corpus (tests/engine/text_helpers.py) scored by a lexicon model: each
planted defect is found by the right test on the right attribute, and a random half of the reference raises no
Warning or Alert in the change-detection categories."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stresstests.engine.config import DataParams, RunConfig
from stresstests.engine.runner import build_context, run_stress_test
from stresstests.engine.vocabulary import (
    MODEL_TASK_BINARY_CLASSIFICATION, SEVERITY_PASS, TEST_CATEGORY_TYPE_ABNORMAL_INPUTS, TEST_CATEGORY_TYPE_DRIFT,
    TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE_DEGRADATION,
)
from tests.engine.model_side_helpers import run_test
from tests.engine.text_helpers import EmbeddingLexiconModel, lexicon_model, reviews

CHANGE_DETECTION = [TEST_CATEGORY_TYPE_DRIFT, TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE_DEGRADATION,
                    TEST_CATEGORY_TYPE_ABNORMAL_INPUTS]
HOTEL = ["The room at the {name} hotel was spotless and the concierge arranged a gondola tour.",
         "Breakfast at {name} included croissants, espresso and a view over the harbour.",
         "Our suite in the {name} resort had a balcony, a jacuzzi and a minibar.",
         "Check-in at {name} took forever; the receptionist misplaced our reservation."]
GERMAN = ["Das Telefon funktioniert wunderbar und der Akku hält zwei Tage.",
          "Der Wasserkocher ist nach einer Woche kaputt gegangen, sehr schade.",
          "Eine gute Tastatur, aber die Lieferung hat leider lange gedauert.",
          "Die Kamera macht hervorragende Bilder, ich empfehle sie allen."]
RUSSIAN = ["Этот телефон работает отлично, батарея держит два дня.", "Ужасный чайник, сломался через неделю.",
           "Хорошая клавиатура, но доставка была медленной.", "Камера снимает прекрасно, рекомендую всем."]


def corpus() -> tuple[pd.DataFrame, pd.DataFrame]:
    data = reviews(4000, seed=11)
    return data.iloc[:2000].reset_index(drop=True), data.iloc[2000:].reset_index(drop=True)


def context(reference: pd.DataFrame, evaluation: pd.DataFrame, model=None):
    ctx, _ = build_context(reference=reference, evaluation=evaluation, model_task=MODEL_TASK_BINARY_CLASSIFICATION,
                           data_params=DataParams(label_col="label", text_features=["text"]),
                           model=model or lexicon_model())
    return ctx


def failing(cases) -> dict[str, str]:
    return {feature: case.severity for case in cases if case.severity != SEVERITY_PASS for feature in case.features}


def planted(evaluation: pd.DataFrame, share: float, replace, seed: int = 5) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(evaluation), int(share * len(evaluation)), replace=False)
    changed = evaluation.copy()
    changed.loc[rows, "text"] = [replace(i, rng) for i in range(len(rows))]
    return changed, rows


def test_a_new_vocabulary_is_found_as_vocabulary_drift_and_out_of_vocabulary_text():
    reference, evaluation = corpus()
    evaluation, rows = planted(evaluation, 0.3, lambda i, rng: HOTEL[i % 4].format(
        name=["Aurora", "Belmont", "Cypress", "Dunmore", "Elmwood"][rng.integers(5)]))
    ctx = context(reference, evaluation)
    cases = run_test("text_vocabulary_drift", ctx)
    assert failing(cases) == {"text.vocabulary": "SEVERITY_ALERT"}
    assert {"hotel", "receptionist", "reservation"} <= set(cases[0].details["new_words"])
    example = cases[0].examples[0]
    assert example["row"] in set(rows) and example["text"] == evaluation["text"][example["row"]]
    assert "text.oov_share" in failing(run_test("text_out_of_vocabulary", ctx))


def test_a_new_vocabulary_moves_the_models_own_embeddings_and_the_same_corpus_does_not():
    reference, evaluation = corpus()
    model = EmbeddingLexiconModel()
    clean = run_test("text_embedding_drift", context(reference, evaluation, model))
    assert model.embedded_rows == 4000 and failing(clean) == {}
    shifted, _ = planted(evaluation, 0.3, lambda i, rng: HOTEL[i % 4].format(name="Aurora"))
    cases = run_test("text_embedding_drift", context(reference, shifted, EmbeddingLexiconModel()))
    assert failing(cases) == {"text.embedding": "SEVERITY_ALERT"}
    assert cases[0].details["dimensions"] == 64 and cases[0].metrics["p_value"] < 0.05
    # Embedding costs a forward pass per text: at most max_rows random rows a side are embedded, and the finding
    # says so; the shift is still found.
    model = EmbeddingLexiconModel()
    sampled = run_test("text_embedding_drift", context(reference, shifted, model), max_rows=500)
    assert model.embedded_rows == 1000
    assert sampled[0].details["embedded_rows"] == {"reference": 500, "evaluation": 500}
    assert failing(sampled) == {"text.embedding": "SEVERITY_ALERT"}
    assert "(embeddings of a random sample: 500 reference rows, 500 evaluation rows)." in sampled[0].finding


def test_much_longer_texts_are_found_on_the_character_length():
    reference, evaluation = corpus()
    evaluation, rows = planted(evaluation, 0.15, lambda i, rng: " ".join([evaluation["text"][i]] * 8))
    ctx = context(reference, evaluation)
    assert "text.char_length" in failing(run_test("text_out_of_range", ctx))
    drift = run_test("text_feature_drift", ctx)
    assert "text.char_length" in failing(drift)
    case = next(c for c in drift if c.features == ["text.char_length"])
    assert case.severity != SEVERITY_PASS


def test_ten_far_too_long_texts_the_model_gets_wrong_are_raised_though_fewer_than_the_minimum_rows():
    reference = reviews(1000, seed=31)
    evaluation = reviews(400, seed=32)
    rows = np.arange(0, 400, 40)   # 10 texts of 50,000 characters, 100 times the reference's longest
    wrong = evaluation.loc[rows, "label"].map({1: "Terrible, awful and broken. ", 0: "Great, superb and solid. "})
    evaluation.loc[rows, "text"] = [(text * 2000)[:50_000] for text in wrong]
    ctx = context(reference, evaluation)
    case = next(c for c in run_test("text_out_of_range", ctx) if c.features == ["text.char_length"])
    assert case.severity != SEVERITY_PASS and case.metrics["num_failing_rows"] == 10
    assert "Not raised" not in case.finding and "Raised although they are few" in case.finding
    # The same ten texts classified as well as the others stay shown, not raised (fewer than the minimum rows).
    right = evaluation.copy()
    right.loc[rows, "label"] = 1 - right.loc[rows, "label"]
    case = next(c for c in run_test("text_out_of_range", context(reference, right)) if
                c.features == ["text.char_length"])
    assert case.severity == SEVERITY_PASS and "fewer than the 20 needed" in case.finding


def test_another_script_is_found_on_the_script_the_language_and_the_characters():
    reference, evaluation = corpus()
    evaluation, rows = planted(evaluation, 0.1, lambda i, rng: RUSSIAN[i % 4])
    ctx = context(reference, evaluation)
    unseen = run_test("text_unseen_categorical", ctx)
    assert failing(unseen) == {"text.script": "SEVERITY_ALERT", "text.language": "SEVERITY_ALERT"}
    case = next(c for c in unseen if c.features == ["text.script"])
    assert "Cyrillic" in case.finding and case.examples[0]["text"] in RUSSIAN
    assert "text.new_characters" in failing(run_test("text_unusual_characters", ctx))
    # The lexicon model cannot read Russian: the Cyrillic texts are a weak subset, shown with their texts.
    subsets = run_test("text_subset_accuracy", ctx)
    assert "text.script" in failing(subsets)
    weak = next(c for c in subsets if c.features == ["text.script"])
    # Subsets are the reference's values (as for tabular features): a script it never shows is in "other".
    assert weak.subset == "text.script = other" and weak.examples[0]["text"] in RUSSIAN
    assert {"row", "text.script", "label", "prediction"} <= set(weak.examples[0])


def test_another_language_in_the_same_script_is_found_on_the_language_only():
    reference, evaluation = corpus()
    evaluation, rows = planted(evaluation, 0.1, lambda i, rng: GERMAN[i % 4])
    ctx = context(reference, evaluation)
    unseen = run_test("text_unseen_categorical", ctx)
    assert failing(unseen) == {"text.language": "SEVERITY_ALERT"}
    case = next(c for c in unseen if c.features == ["text.language"])
    assert "'de'" in case.finding and case.examples[0]["text"] in GERMAN
    assert "text.language" in failing(run_test("text_feature_drift", ctx))


def test_empty_texts_are_found():
    reference, evaluation = corpus()
    evaluation, rows = planted(evaluation, 0.05, lambda i, rng: ["", "   "][i % 2])
    cases = run_test("text_empty", context(reference, evaluation))
    assert failing(cases) == {"text.char_length": "SEVERITY_ALERT"}
    assert cases[0].metrics["num_failing_rows"] == len(rows)


def test_duplicates_and_conflicting_labels_are_found_in_the_evaluation_data():
    reference, evaluation = corpus()
    rng = np.random.default_rng(2)
    copies = evaluation.iloc[rng.choice(len(evaluation), 200, replace=False)].copy()
    conflicts = evaluation.iloc[rng.choice(len(evaluation), 30, replace=False)].copy()
    conflicts["label"] = 1 - conflicts["label"]
    evaluation = pd.concat([evaluation, copies, conflicts], ignore_index=True)
    ctx = context(reference, evaluation)
    duplicates = {case.subset: case for case in run_test("text_duplicates", ctx)}
    assert duplicates["evaluation"].severity != SEVERITY_PASS
    assert duplicates["evaluation"].metrics["num_duplicate_rows"] >= 230
    assert duplicates["reference"].severity == SEVERITY_PASS
    assert run_test("label_imbalance", ctx)[0].severity == SEVERITY_PASS   # the tabular label test runs on text too
    labels = {case.subset: case for case in run_test("text_conflicting_labels", ctx)}
    assert labels["evaluation"].severity != SEVERITY_PASS and labels["reference"].severity == SEVERITY_PASS
    assert labels["evaluation"].metrics["num_conflicting_texts"] >= 30
    first, second = labels["evaluation"].examples[:2]
    assert first["text"] == second["text"] and first["label"] != second["label"]


def test_long_texts_that_lost_their_labels_are_a_degraded_subset():
    reference, evaluation = corpus()
    long = evaluation["text"].str.len() >= evaluation["text"].str.len().quantile(0.75)
    flip = long & (np.random.default_rng(4).random(len(evaluation)) < 0.5)
    evaluation.loc[flip, "label"] = 1 - evaluation.loc[flip, "label"]
    found = failing(run_test("text_subset_drift_accuracy", context(reference, evaluation)))
    assert {"text.char_length", "text.token_count"} & set(found)


def test_embedding_drift_without_model_embeddings_is_skipped_with_a_reason():
    reference, evaluation = corpus()
    report = run_stress_test(reference=reference, evaluation=evaluation,
                             config=RunConfig.from_dict({"categories": [TEST_CATEGORY_TYPE_DRIFT]}),
                             data_params=DataParams(label_col="label", text_features=["text"]),
                             model_task=MODEL_TASK_BINARY_CLASSIFICATION, model=lexicon_model())
    tests = {test["test_type"]: test for category in report["categories"] for test in category["tests"]}
    assert tests["text_embedding_drift"]["status"] == "skipped"
    assert "gives no embeddings" in tests["text_embedding_drift"]["skip_reason"]
    assert {"text_vocabulary_drift", "text_feature_drift", "prediction_drift", "categorical_label_drift"} <= set(tests)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_random_half_of_the_reference_raises_nothing_in_the_change_detection_categories(seed):
    reference = reviews(3000, seed=20 + seed)
    evaluation = reference.sample(frac=0.5, random_state=seed).reset_index(drop=True)
    report = run_stress_test(reference=reference, evaluation=evaluation,
                             config=RunConfig.from_dict({"categories": CHANGE_DETECTION}),
                             data_params=DataParams(label_col="label", text_features=["text"]),
                             model_task=MODEL_TASK_BINARY_CLASSIFICATION, model=lexicon_model())
    ran = [test for category in report["categories"] for test in category["tests"] if test["status"] == "completed"]
    assert {"text_vocabulary_drift", "text_feature_drift", "text_subset_drift_accuracy", "text_empty",
            "text_out_of_vocabulary", "text_unusual_characters", "text_unseen_categorical"} <= {
        test["test_type"] for test in ran}
    raised = [(test["name"], test["severity"]) for test in ran if test["severity"] != SEVERITY_PASS]
    assert raised == []


def test_two_disjoint_halves_of_one_corpus_raise_nothing_in_the_change_detection_categories():
    reference, evaluation = corpus()
    report = run_stress_test(reference=reference, evaluation=evaluation,
                             config=RunConfig.from_dict({"categories": CHANGE_DETECTION}),
                             data_params=DataParams(label_col="label", text_features=["text"]),
                             model_task=MODEL_TASK_BINARY_CLASSIFICATION, model=lexicon_model())
    raised = [(test["name"], test["severity"]) for category in report["categories"] for test in category["tests"]
              if test["severity"] not in (SEVERITY_PASS, None)]
    assert raised == []


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vocabulary_drift_passes_a_clean_split_whose_vocabulary_is_cut_among_rare_words(seed):
    # A long-tailed vocabulary: most words appear once, so the `max_vocabulary` cut falls among words of equal
    # frequency. Which of them are kept must not depend on whether a text is in the reference or the evaluation.
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(20000)])
    texts = [" ".join(rng.choice(words, 12)) for _ in range(800)]
    data = pd.DataFrame({"text": texts, "label": rng.integers(0, 2, 800)})
    ctx = context(data.iloc[:400].reset_index(drop=True), data.iloc[400:].reset_index(drop=True))
    case = run_test("text_vocabulary_drift", ctx, max_vocabulary=5000)[0]
    assert case.metrics["divergence_p_value"] > 0.05
    assert abs(case.metrics["excess_js_divergence"]) < 0.01
    assert case.severity == SEVERITY_PASS


def test_the_text_attributes_are_computed_while_the_context_is_built_not_in_the_first_text_test():
    reference, evaluation = corpus()
    steps = []
    from stresstests.engine.progress import RunProgress

    ctx, _ = build_context(reference=reference, evaluation=evaluation, model_task=MODEL_TASK_BINARY_CLASSIFICATION,
                           data_params=DataParams(label_col="label", text_features=["text"]), model=lexicon_model(),
                           tracker=RunProgress(lambda fraction, message: steps.append(message)))
    assert "text_attributes" in ctx.memo
    assert "Reading the texts of 4000 rows (lengths, scripts, languages, words)" in steps
