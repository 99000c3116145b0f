"""Parity catalogue: RIME's tabular tests (reference/rime-platform-features.md §2.3-2.11) against the engine's registry.

`RIME_TABULAR_TESTS` lists every tabular test of RIME's public reference with the category RIME puts it in. Keys come
from the reference where it publishes them (config keys in §2.5-2.11); Model Performance and subset metrics have no
published keys, so they follow the engine's convention (`<metric>`, `subset_<metric>`, `subset_drift_<metric>`).
`NOT_YET_BUILT` is the explicit, shrinking list of what is missing: the test fails when a test disappears from the
registry (a regression) and when a test is built but still listed as missing (so the list stays honest).

The reference's per-category counts (Model Performance 37, Subset Performance 32, Subset Performance Degradation 33,
Bias & Fairness 36, ...) include text, image and generative rows; the tabular rows they leave are the 145 below
(issue 17 counted 143; see the note at `test_the_catalogue_matches_the_reference_counts`).
"""

from __future__ import annotations

import stresstests.engine.categories  # noqa: F401  (fills the registry)
from stresstests.engine.base import REGISTRY
from stresstests.engine.vocabulary import MODALITY_TABULAR

MP = "TEST_CATEGORY_TYPE_MODEL_PERFORMANCE"
SP = "TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE"
SPD = "TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE_DEGRADATION"
TR = "TEST_CATEGORY_TYPE_TRANSFORMATIONS"
AI = "TEST_CATEGORY_TYPE_ABNORMAL_INPUTS"
DR = "TEST_CATEGORY_TYPE_DRIFT"
AD = "TEST_CATEGORY_TYPE_ADVERSARIAL"
DC = "TEST_CATEGORY_TYPE_DATA_CLEANLINESS"
BF = "TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS"
DP = "TEST_CATEGORY_TYPE_DATA_POISONING_DETECTION"
EA = "TEST_CATEGORY_TYPE_EVASION_ATTACK_DETECTION"

# §2.3: binary (10), multiclass (5), regression (7), ranking (4), and the three task-independent ones.
_BINARY = ["accuracy", "auc", "f1", "precision", "recall", "false_positive_rate", "false_negative_rate",
           "positive_prediction_rate", "prediction_variance_positive_labels", "prediction_variance_negative_labels"]
_MULTICLASS = ["multiclass_accuracy", "multiclass_auc", "macro_f1", "macro_precision", "macro_recall"]
_REGRESSION = ["mae", "mse", "rmse", "msle", "mape", "prediction_variance"]
_RANKING = ["ndcg", "mrr", "average_rank", "rank_correlation"]
# §2.4: the subset metrics are the per-task metrics plus Average Confidence (Average Prediction only degrades).
_SUBSET_METRICS = [*_BINARY, "average_confidence", *_MULTICLASS, *_REGRESSION, *_RANKING]

RIME_TABULAR_TESTS: dict[str, str] = {
    **{key: MP for key in [*_BINARY, *_MULTICLASS, *_REGRESSION, "average_prediction", *_RANKING,
                           "avg_confidence", "atc", "calibration_comparison"]},
    **{f"subset_{metric}": SP for metric in _SUBSET_METRICS},
    **{f"subset_drift_{metric}": SPD for metric in [*_SUBSET_METRICS, "average_prediction"]},
    # §2.5
    **{key: TR for key in ["out_of_range_substitution", "outlier_substitution", "feature_type_change",
                           "empty_string_substitution", "req_characters_deletion", "unseen_categorical_substitution",
                           "null_substitution", "capitalization_change"]},
    # §2.6
    **{key: AI for key in ["numeric_outlier", "unseen_categorical", "rare_categories", "out_of_range",
                           "req_characters", "inconsistencies", "capitalization", "empty_string",
                           "embedding_anomalies", "null_check", "feature_type_check"]},
    # §2.7
    **{key: DR for key in ["correlation_feat_drift", "correlation_label_drift", "mutual_information_feat_drift",
                           "mutual_information_label_drift", "categorical_label_drift",
                           "multiclass_pred_label_drift", "regression_label_drift", "feature_drift",
                           "prediction_drift", "embedding_drift", "null_proportion", "row_null_proportion"]},
    # §2.8
    **{key: AD for key in ["vulnerability", "sensitivity", "multi_feat_vulnerability", "multi_feat_sensitivity",
                           "tabular_hopskipjump_attack"]},
    # §2.9
    **{key: DC for key in ["required_features", "duplicate_rows", "mi_decrease_feature_to_label",
                           "high_mi_feature_to_label", "high_feature_correlation", "label_imbalance"]},
    # §2.10 (tabular rows only; the text, fill-mask and generative swaps are other modalities)
    **{key: BF for key in ["protected_feature_drift", "demographic_parity", "demographic_parity_avg_pred",
                           "demographic_parity_avg_rank", "class_imbalance", "equalized_odds",
                           "chi_squared_independence", "predict_protected_features", "equal_opportunity",
                           "equal_opp_macro_recall", "predictive_equality", "intersectional_group_fairness",
                           "group_fairness_avg_pred", "group_fairness_avg_rank", "protected_proxies",
                           "subset_sensitivity_pos_pred", "subset_sensitivity_avg_pred",
                           "subset_sensitivity_avg_rank"]},
    # §2.11 (the row-wise generative scans are another modality)
    "exact_match_label_flipping": DP,
    "near_match_label_flipping": DP,
    "stateful_black_box_detection": EA,
}

# RIME's NLP tests (§2.10 NLP bias, §2.12 NLP transformations and adversarial) built by issue 16, by category. RIME
# publishes the bias and attack keys; the transformation keys follow its `text_*` convention. Left out: the
# LM-based Contextual Word Swap/Insertion (they need a masked language model), and `text_hotflip_attack` (gradients),
# which `text_greedy_word_attack` replaces with a black-box search on the model's scores.
RIME_TEXT_TESTS: dict[str, str] = {
    **{key: TR for key in ["text_upper_case", "text_lower_case", "text_remove_special_chars", "text_unicode_to_ascii",
                           "text_char_substitution", "text_char_deletion", "text_char_insertion", "text_char_swap",
                           "text_keyboard_augmentation", "text_common_misspellings", "text_ocr_error",
                           "text_synonym_swap", "text_whitespace_change", "text_punctuation_change"]},
    **{key: AD for key in ["text_invisible_chars_attack", "text_deletion_chars_attack",
                           "text_intentional_homoglyph_attack", "text_confusable_homoglyph_attack",
                           "text_greedy_word_attack", "universal_triggers_attack"]},
    **{key: BF for key in ["text_swap_masc_to_fem", "text_swap_fem_to_masc", "text_swap_masc_to_plural",
                           "text_swap_fem_to_plural", "text_swap_masc_name_to_fem_name",
                           "text_swap_fem_name_to_masc_name", "text_swap_maj_name_to_min_name",
                           "text_swap_min_name_to_maj_name", "text_swap_high_country_to_low_country",
                           "text_swap_low_country_to_high_country"]},
}

# Shrinks as tests are built; never add to it.
NOT_YET_BUILT: frozenset[str] = frozenset()


def test_the_catalogue_matches_the_reference_counts():
    """29 Model Performance + 26 Subset Performance + 27 Subset Performance Degradation + 8 + 11 + 12 + 5 + 6 + 18 +
    2 + 1 = 145 tabular rows. The reference's category totals confirm the three metric families: 37 Model
    Performance rows = 29 tabular + 6 generative + 2 NER/detection counts; 32 = 26 + 6 generative; 33 = 27 + 6."""
    counts: dict[str, int] = {}
    for category in RIME_TABULAR_TESTS.values():
        counts[category] = counts.get(category, 0) + 1
    assert counts == {MP: 29, SP: 26, SPD: 27, TR: 8, AI: 11, DR: 12, AD: 5, DC: 6, BF: 18, DP: 2, EA: 1}
    assert len(RIME_TABULAR_TESTS) == 145
    assert NOT_YET_BUILT <= set(RIME_TABULAR_TESTS)


def test_every_built_rime_test_is_registered_in_rimes_category():
    built = {key: category for key, category in RIME_TABULAR_TESTS.items() if key not in NOT_YET_BUILT}
    missing = sorted(key for key in built if key not in REGISTRY)
    assert not missing, f"RIME tests that disappeared from the engine: {missing}"
    misplaced = {key: REGISTRY[key].category for key, category in built.items() if REGISTRY[key].category != category}
    assert not misplaced, f"tests registered outside RIME's category: {misplaced}"


def test_not_yet_built_lists_exactly_what_is_missing():
    still_missing = sorted(key for key in RIME_TABULAR_TESTS if key not in REGISTRY)
    now_built = sorted(NOT_YET_BUILT & set(REGISTRY))
    print(f"\nRIME tabular parity: {len(RIME_TABULAR_TESTS) - len(still_missing)} of {len(RIME_TABULAR_TESTS)} "
          f"built; missing ({len(still_missing)}): {', '.join(still_missing)}")
    assert not now_built, f"built but still listed in NOT_YET_BUILT (remove them): {now_built}"
    assert sorted(NOT_YET_BUILT) == still_missing


def test_every_text_test_is_registered_in_rimes_category_for_text_data():
    from stresstests.engine.vocabulary import MODALITY_TEXT

    missing = sorted(key for key in RIME_TEXT_TESTS if key not in REGISTRY)
    assert not missing, f"text tests that disappeared from the engine: {missing}"
    misplaced = {key: REGISTRY[key].category for key, category in RIME_TEXT_TESTS.items()
                 if REGISTRY[key].category != category or REGISTRY[key].modalities != {MODALITY_TEXT}}
    assert not misplaced, f"text tests outside RIME's category or not text-only: {misplaced}"


def test_the_engine_registers_no_tabular_test_outside_the_catalogue():
    extra = sorted(key for key in set(REGISTRY) - set(RIME_TABULAR_TESTS)
                   if MODALITY_TABULAR in REGISTRY[key].modalities)
    assert not extra, f"registered tests that RIME's reference does not list: {extra}"
