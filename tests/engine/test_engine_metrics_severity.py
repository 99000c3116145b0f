"""Metrics agree with scikit-learn, per group as well as overall; severity helpers behave as documented."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from stresstests.engine.vocabulary import (
    MODEL_TASK_BINARY_CLASSIFICATION, MODEL_TASK_MULTICLASS_CLASSIFICATION, MODEL_TASK_REGRESSION, SEVERITY_ALERT,
    SEVERITY_PASS, SEVERITY_WARNING,
)
from stresstests.engine.config import ConfigError, RunConfig
from stresstests.engine.metrics import compute_metrics, grouped_metric
from stresstests.engine.severity import benjamini_hochberg, combine, exceeds_with_confidence_p, severity_for

RNG = np.random.default_rng(7)
Y_BINARY = RNG.integers(0, 2, 400)
P_BINARY = np.clip(0.35 * Y_BINARY + 0.65 * RNG.random(400), 0, 1)
Y_MULTI = RNG.integers(0, 3, 450)
P_MULTI = RNG.dirichlet([1, 1, 1], 450)
P_MULTI[np.arange(450), Y_MULTI] += 0.6
P_MULTI /= P_MULTI.sum(axis=1, keepdims=True)
Y_REG = RNG.random(300) * 10 + 1
P_REG = Y_REG + RNG.normal(0, 1, 300)


def test_binary_metrics_match_scikit_learn():
    result = compute_metrics(MODEL_TASK_BINARY_CLASSIFICATION, Y_BINARY, P_BINARY)
    hard = P_BINARY >= 0.5
    assert result["auc"] == pytest.approx(sk.roc_auc_score(Y_BINARY, P_BINARY))
    assert result["accuracy"] == pytest.approx(sk.accuracy_score(Y_BINARY, hard))
    assert result["f1"] == pytest.approx(sk.f1_score(Y_BINARY, hard))
    assert result["precision"] == pytest.approx(sk.precision_score(Y_BINARY, hard))
    assert result["recall"] == pytest.approx(sk.recall_score(Y_BINARY, hard))
    assert result["log_loss"] == pytest.approx(sk.log_loss(Y_BINARY, P_BINARY))
    assert result["brier"] == pytest.approx(sk.brier_score_loss(Y_BINARY, P_BINARY))


def test_multiclass_metrics_match_scikit_learn():
    result = compute_metrics(MODEL_TASK_MULTICLASS_CLASSIFICATION, Y_MULTI, P_MULTI)
    hard = P_MULTI.argmax(axis=1)
    assert result["multiclass_accuracy"] == pytest.approx(sk.accuracy_score(Y_MULTI, hard))
    assert result["multiclass_auc"] == pytest.approx(sk.roc_auc_score(Y_MULTI, P_MULTI, multi_class="ovr"))
    assert result["macro_f1"] == pytest.approx(sk.f1_score(Y_MULTI, hard, average="macro"))
    assert result["macro_precision"] == pytest.approx(sk.precision_score(Y_MULTI, hard, average="macro"))
    assert result["macro_recall"] == pytest.approx(sk.recall_score(Y_MULTI, hard, average="macro"))


def test_regression_metrics_match_scikit_learn():
    result = compute_metrics(MODEL_TASK_REGRESSION, Y_REG, P_REG)
    assert result["rmse"] == pytest.approx(sk.root_mean_squared_error(Y_REG, P_REG))
    assert result["mae"] == pytest.approx(sk.mean_absolute_error(Y_REG, P_REG))
    assert result["r2"] == pytest.approx(sk.r2_score(Y_REG, P_REG))
    # Weighted MAPE (sum |error| / sum |target|): robust to targets near zero, unlike the mean of percentages.
    assert result["mape"] == pytest.approx(np.abs(P_REG - Y_REG).sum() / np.abs(Y_REG).sum())


@pytest.mark.parametrize("metric", ["auc", "accuracy", "f1", "recall", "false_positive_rate"])
def test_grouped_metrics_equal_the_metric_of_each_group(metric):
    codes = RNG.integers(0, 4, len(Y_BINARY))
    grouped = grouped_metric(metric, MODEL_TASK_BINARY_CLASSIFICATION, Y_BINARY, P_BINARY, codes, 4)
    for group in range(4):
        rows = codes == group
        alone = compute_metrics(MODEL_TASK_BINARY_CLASSIFICATION, Y_BINARY[rows], P_BINARY[rows])[metric]
        assert grouped.values[group] == pytest.approx(alone)
        # Counts are the rows the metric is computed on: recall uses positives only, false positive rate negatives.
        used = {"recall": rows & (Y_BINARY == 1), "false_positive_rate": rows & (Y_BINARY == 0)}.get(metric, rows)
        assert grouped.counts[group] == used.sum()
        assert 0 < grouped.standard_errors[group] < 0.2


def test_a_group_with_one_class_has_no_auc():
    labels = np.array([1, 1, 1, 0, 1, 0])
    grouped = grouped_metric("auc", MODEL_TASK_BINARY_CLASSIFICATION, labels, np.linspace(0, 1, 6),
                             np.array([0, 0, 0, 1, 1, 1]), 2)
    assert np.isnan(grouped.values[0]) and not np.isnan(grouped.values[1])


def test_missing_labels_are_left_out_of_label_metrics():
    labels = np.array([1.0, 0.0, np.nan, 1.0])
    result = compute_metrics(MODEL_TASK_BINARY_CLASSIFICATION, labels, np.array([0.9, 0.1, 0.9, 0.8]))
    assert result["accuracy"] == 1.0 and result["positive_prediction_rate"] == 0.75


def test_severity_for_reaches_each_level_at_its_threshold():
    assert severity_for(0.05, (0.1, 0.2)) == SEVERITY_PASS
    assert severity_for(0.1, (0.1, 0.2)) == SEVERITY_WARNING
    assert severity_for(0.25, (0.1, 0.2)) == SEVERITY_ALERT
    assert severity_for(0.7, (0.8, 0.6), higher_is_worse=False) == SEVERITY_WARNING
    assert severity_for(None, (0.1, 0.2)) == SEVERITY_PASS


def test_evidence_alone_is_capped_at_warning_when_impact_is_small():
    assert combine(SEVERITY_ALERT, SEVERITY_PASS) == SEVERITY_WARNING
    assert combine(SEVERITY_ALERT, None) == SEVERITY_ALERT
    assert combine(SEVERITY_WARNING, SEVERITY_ALERT) == SEVERITY_ALERT
    assert combine(SEVERITY_PASS, SEVERITY_PASS) == SEVERITY_PASS


def test_benjamini_hochberg_keeps_only_discoveries_at_the_false_discovery_rate():
    p_values = np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, np.nan])
    # Benjamini & Hochberg's step-up: the largest k with p_(k) <= k/m * alpha (m = 8 valid values).
    assert benjamini_hochberg(p_values, 0.05).tolist() == [True, True] + [False] * 7
    assert benjamini_hochberg(np.full(50, 0.04), 0.05).all()   # all equal and below alpha: all discovered
    assert not benjamini_hochberg(np.full(50, 0.06), 0.05).any()


def test_a_gap_within_its_noise_is_not_significant():
    p_values = exceeds_with_confidence_p(np.array([0.05, 0.05, 0.3]), np.array([0.05, 0.01, 0.05]), 0.0)
    assert p_values[0] > 0.1 and p_values[1] < 0.001 and p_values[2] < 0.001


def test_configuration_reads_rime_shapes_and_scales_default_thresholds():
    config = RunConfig.from_dict({
        "categories": ["drift", "TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE"],
        "test_suite_config": {"global_test_sensitivity": "TEST_SENSITIVITY_LESS_SENSITIVE",
                              "individual_tests_config": {"auc": {"run": False},
                                                          "accuracy": {"severity_thresholds": [0.2, 0.3]}}},
        "run_time_info": {"random_seed": "42"},
        "profiling_config": {"data_profiling": {"num_subsets": 5}},
    })
    assert config.categories == ["TEST_CATEGORY_TYPE_DRIFT", "TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE"]
    assert config.random_seed == 42 and config.data_profiling.num_subsets == 5
    assert not config.test_enabled("auc")
    assert config.thresholds_for("accuracy", (0.03, 0.06)) == (0.2, 0.3)       # an override is taken as written
    assert config.thresholds_for("f1", (0.04, 0.08)) == pytest.approx((0.06, 0.12))  # a default is scaled


def test_configuration_rejects_unknown_categories_and_settings():
    with pytest.raises(ConfigError, match="Unknown test category 'speed'"):
        RunConfig.from_dict({"categories": ["speed"]})
    with pytest.raises(ConfigError, match="Unknown global_test_sensitivity"):
        RunConfig.from_dict({"global_test_sensitivity": "VERY"})
    with pytest.raises(ConfigError, match="Unknown setting"):
        RunConfig.from_dict({"profiling_config": {"data_profiling": {"num_subset": 5}}})


def test_prediction_variance_of_few_scores_near_one_does_not_look_certain():
    # 28 positives scored near 1 with a rare stray score (as a confident classifier gives): two such samples from
    # one population must rarely differ by the warning margin (50 % relative) beyond their 95 % bounds. The sample
    # fourth moment misses the strays in most samples and made 3 % of such pairs warn.
    rng = np.random.default_rng(0)
    n, pairs = 28, 4000

    def variances():
        far = rng.random(n * pairs) < 0.05
        scores = np.where(far, rng.uniform(0.05, 0.5, n * pairs), rng.beta(40, 1, n * pairs))
        return grouped_metric("prediction_variance_positive_labels", "MODEL_TASK_BINARY_CLASSIFICATION",
                              np.ones(n * pairs), scores, np.repeat(np.arange(pairs), n), pairs)

    first, second = variances(), variances()
    gap = (second.values - first.values) / first.values
    error = np.hypot(first.standard_errors, second.standard_errors) / first.values
    assert np.mean(gap - 1.96 * error >= 0.5) < 0.01
