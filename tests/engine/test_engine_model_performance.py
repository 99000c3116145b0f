"""Model Performance: planted degradations are found with the right severity; the same data without them passes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stresstests.engine.vocabulary import (
    MODEL_TASK_MULTICLASS_CLASSIFICATION, MODEL_TASK_REGRESSION, SEVERITY_ALERT, SEVERITY_PASS, SEVERITY_WARNING,
    TEST_CATEGORY_TYPE_MODEL_PERFORMANCE,
)
from stresstests.engine.base import REGISTRY
from stresstests.engine.config import RunConfig
from stresstests.engine.vocabulary import STATUS_COMPLETED, STATUS_SKIPPED
from stresstests.engine.runner import selected_tests
from tests.engine.core_helpers import context, run, scored_frame

N = 4000


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return scored_frame(N, seed=1)


def _severities(ctx) -> dict[str, str]:
    return {key: run(ctx, key).severity for key, test in REGISTRY.items()
            if test.category == TEST_CATEGORY_TYPE_MODEL_PERFORMANCE and ctx.model_task in test.tasks}


def test_a_fresh_sample_of_the_same_process_passes_every_test(reference):
    severities = _severities(context(reference, scored_frame(N, seed=2)))
    assert set(severities.values()) == {SEVERITY_PASS}, severities
    assert {"auc", "accuracy", "avg_confidence", "atc", "calibration_comparison"} <= set(severities)


def test_a_weaker_model_on_the_evaluation_set_alerts_on_auc_and_accuracy(reference):
    ctx = context(reference, scored_frame(N, seed=2, signal=1.0))
    result = run(ctx, "auc")
    assert result.severity == SEVERITY_ALERT
    case = result.cases[0]
    assert case.metrics["reference_auc"] - case.metrics["evaluation_auc"] == pytest.approx(case.metrics["degradation"])
    assert case.metrics["degradation"] > 0.1
    assert "AUC degraded from" in case.finding
    assert run(ctx, "accuracy").severity == SEVERITY_ALERT


def test_a_weak_model_warns_on_the_absolute_auc_bound_even_without_degradation():
    weak_reference, weak_evaluation = scored_frame(N, seed=1, signal=0.1), scored_frame(N, seed=2, signal=0.1)
    case = run(context(weak_reference, weak_evaluation), "auc").cases[0]
    assert case.severity == SEVERITY_WARNING
    assert case.metrics["degradation"] < 0.03
    assert "below the acceptable level 0.6" in case.finding


def _squeezed(frame: pd.DataFrame, factor: float) -> pd.DataFrame:
    """Predictions pulled towards 0.5: same ranking, much less confident."""
    return frame.assign(preds=0.5 + (frame["preds"] - 0.5) * factor)


def test_a_less_confident_model_is_flagged_without_any_evaluation_labels(reference):
    evaluation = _squeezed(scored_frame(N, seed=2), 0.3).drop(columns=["label"])
    ctx = context(reference, evaluation)
    confidence, estimate = run(ctx, "avg_confidence"), run(ctx, "atc")
    assert confidence.severity == SEVERITY_ALERT
    assert confidence.cases[0].metrics["average_confidence_change"] < -0.1
    assert estimate.status == STATUS_COMPLETED and estimate.severity == SEVERITY_ALERT
    assert estimate.cases[0].metrics["estimated_evaluation_accuracy"] < estimate.cases[0].metrics["reference_accuracy"]
    assert run(ctx, "auc").status == STATUS_SKIPPED      # needs evaluation labels


def test_atc_is_not_fooled_by_float_noise_at_a_tied_threshold():
    """A perfect model whose predictions come back from a table 1e-11 lower must not look less accurate."""
    reference = scored_frame(600, seed=3)
    reference["preds"] = np.where(reference["label"] == 1, 0.7310585786, 1 - 0.7310585786)
    evaluation = reference.assign(preds=reference["preds"] - 1e-11 * (reference["label"] == 1))
    result = run(context(reference, evaluation), "atc")
    assert result.severity == SEVERITY_PASS
    assert result.cases[0].metrics["estimated_evaluation_accuracy"] == pytest.approx(1.0)


def test_a_calibration_shift_is_found_while_the_ranking_metrics_pass(reference):
    evaluation = scored_frame(N, seed=2)
    evaluation["preds"] = evaluation["preds"] ** 3      # same order of rows, different probabilities
    ctx = context(reference, evaluation)
    calibration = run(ctx, "calibration_comparison")
    assert calibration.severity in (SEVERITY_WARNING, SEVERITY_ALERT)
    assert calibration.cases[0].metrics["calibration_mse"] > 0.005
    assert run(ctx, "auc").severity == SEVERITY_PASS


def _regression(n_rows: int, seed: int, noise: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"size": rng.random(n_rows) * 100, "rooms": rng.integers(1, 8, n_rows)})
    frame["label"] = 3 * frame["size"] + 10 * frame["rooms"]
    frame["preds"] = frame["label"] + rng.normal(0, noise, n_rows)
    return frame


def test_regression_error_growth_is_relative_to_the_reference():
    reference = _regression(N, 1, noise=10.0)
    assert run(context(reference, _regression(N, 2, 10.0), model_task=MODEL_TASK_REGRESSION), "rmse").severity \
        == SEVERITY_PASS
    case = run(context(reference, _regression(N, 2, 20.0), model_task=MODEL_TASK_REGRESSION), "rmse").cases[0]
    assert case.severity == SEVERITY_ALERT
    assert case.metrics["degradation"] == pytest.approx(1.0, abs=0.1)   # RMSE doubled: +100 %


def _multiclass(n_rows: int, seed: int, scrambled: float) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n_rows)
    probabilities = rng.dirichlet([1, 1, 1], n_rows)
    probabilities[np.arange(n_rows), labels] += 2.0
    scrambled_rows = rng.random(n_rows) < scrambled
    probabilities[scrambled_rows] = rng.permutation(probabilities[scrambled_rows].T).T
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return pd.DataFrame({"x": rng.random(n_rows), "label": labels}), probabilities


def test_multiclass_accuracy_drop_is_found():
    from stresstests.engine.runner import build_context, run_one
    from stresstests.engine.config import DataParams

    reference, reference_probabilities = _multiclass(N, 1, 0.0)
    results = {}
    for scrambled in (0.0, 0.6):
        evaluation, evaluation_probabilities = _multiclass(N, 2, scrambled)
        ctx, _ = build_context(reference=reference, evaluation=evaluation, model_task=MODEL_TASK_MULTICLASS_CLASSIFICATION,
                               data_params=DataParams(label_col="label"), reference_predictions=reference_probabilities,
                               evaluation_predictions=evaluation_probabilities)
        results[scrambled] = run_one(ctx, REGISTRY["multiclass_accuracy"]).severity
    assert results == {0.0: SEVERITY_PASS, 0.6: SEVERITY_ALERT}


def test_user_thresholds_and_the_run_flag_are_honoured(reference):
    evaluation = scored_frame(N, seed=2, signal=2.2)    # a small but real AUC drop
    default = run(context(reference, evaluation), "auc").cases[0]
    assert 0.03 <= default.metrics["degradation"] < 0.06 and default.severity == SEVERITY_WARNING
    config = RunConfig(individual_tests_config={"auc": {"severity_thresholds": [0.1, 0.2]}})
    assert run(context(reference, evaluation, config=config), "auc").severity == SEVERITY_PASS
    switched_off = RunConfig(categories=["model_performance"], individual_tests_config={"auc": {"run": False}})
    keys = [test.key for test in selected_tests(context(reference, evaluation, config=switched_off))]
    assert "auc" not in keys and "accuracy" in keys


def test_a_metric_rising_from_about_zero_gets_no_absurd_percentage_nor_impact(reference):
    """Review 15: "Prediction Variance (Positive Labels) degraded from 0.000 to 0.032 (worse by 229248869881322.9%)"
    ranked first among the key findings. A reference of about zero is described in the metric's own units and its
    degradation and impact stay bounded."""
    constant = reference.assign(preds=np.where(reference["label"] == 1, 0.9, reference["preds"]))
    case = run(context(constant, scored_frame(N, seed=2)), "prediction_variance_positive_labels").cases[0]
    assert case.severity != SEVERITY_PASS
    assert case.metrics["reference_near_zero"] is True
    assert case.metrics["degradation"] <= 10.0 and case.importance_score <= 1.0
    assert "%" not in case.finding and "about zero" in case.finding


def test_a_relative_degradation_ranks_with_bounded_impact():
    reference = _regression(N, 1, noise=10.0)
    case = run(context(reference, _regression(N, 2, 40.0), model_task=MODEL_TASK_REGRESSION), "rmse").cases[0]
    assert case.severity == SEVERITY_ALERT and case.metrics["degradation"] == pytest.approx(3.0, abs=0.3)
    assert case.importance_score == 1.0
