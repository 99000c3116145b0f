"""Drift: planted shifts are found on the right feature with the right severity, identical distributions pass,
and the reference against a random half of itself raises nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stresstests.engine.vocabulary import (
    MODEL_TASK_MULTICLASS_CLASSIFICATION, MODEL_TASK_REGRESSION, SEVERITY_ALERT, SEVERITY_PASS, SEVERITY_WARNING,
)
from tests.engine.data_side_helpers import (
    LABEL,
    PREDICTION,
    case_for,
    data_only,
    failing,
    load_fraud,
    make_context,
    mixed_data,
    reference_and_random_half,
    run_test,
)

DRIFT_TESTS = ["feature_drift", "prediction_drift", "categorical_label_drift", "null_proportion",
               "row_null_proportion", "correlation_feat_drift", "correlation_label_drift"]


def region_model_data(n: int, seed: int, share_hard: float) -> pd.DataFrame:
    """`region` decides how good the model is: accurate where region < 0.5, guessing where region >= 0.5."""
    rng = np.random.default_rng(seed)
    region = np.where(rng.random(n) < share_hard, rng.uniform(0.5, 1, n), rng.uniform(0, 0.5, n))
    signal = rng.normal(0, 1, n)
    label = (signal + rng.normal(0, 0.5, n) > 0).astype(int)
    good = 1 / (1 + np.exp(-2 * signal))
    prediction = np.where(region < 0.5, good, rng.uniform(0, 1, n))
    return pd.DataFrame({"region": region, "signal": signal, "other": rng.normal(0, 1, n), LABEL: label,
                         PREDICTION: prediction})


# ---- feature drift -----------------------------------------------------------------------------------------------
def test_feature_drift_that_moves_rows_to_where_the_model_guesses_is_an_alert_with_its_auc_cost():
    ctx = make_context(region_model_data(5000, 1, share_hard=0.5), region_model_data(5000, 2, share_hard=0.85))
    cases = run_test("feature_drift", ctx)
    region = case_for(cases, "region")
    assert region.severity == SEVERITY_ALERT
    assert region.metrics["psi"] >= 0.2
    assert region.importance_score >= 0.05          # reweighting back to the reference recovers >= 0.05 AUC
    assert "region has drifted (PSI" in region.finding and "AUC" in region.finding
    assert failing(cases) == {"region": SEVERITY_ALERT}
    assert len(region.details["reference_shares"]) == len(region.details["evaluation_shares"])


class LinearModel:
    """A callable model: the label's true log-odds, so it is accurate as long as its inputs keep their units."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return 1 / (1 + np.exp(-2 * (frame["signal"].astype(float) + frame["other"].astype(float))))


def unit_data(n: int, seed: int, signal_unit: float = 1.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    signal, other = rng.normal(0, 1, n), rng.normal(0, 1, n)
    label = (signal + other + rng.normal(0, 0.5, n) > 0).astype(int)
    return pd.DataFrame({"signal": signal * signal_unit, "other": other, LABEL: label})


def test_a_unit_change_is_costed_by_re_scoring_with_the_feature_mapped_back_to_the_reference():
    ctx = make_context(unit_data(4000, 1), unit_data(4000, 2, signal_unit=0.1), pred_col=None, model=LinearModel())
    cases = run_test("feature_drift", ctx)
    signal = case_for(cases, "signal")
    assert signal.severity == SEVERITY_ALERT
    assert signal.metrics["impact_method"] == "quantile_transport"
    assert signal.importance_score > 0.05 and signal.metrics["auc_without_drift"] > 0.9
    assert failing(cases) == {"signal": SEVERITY_ALERT}


def test_feature_drift_passes_when_evaluation_comes_from_the_same_distribution():
    ctx = make_context(region_model_data(5000, 1, share_hard=0.5), region_model_data(5000, 2, share_hard=0.5))
    assert failing(run_test("feature_drift", ctx)) == {}


def test_drift_of_a_feature_the_model_ignores_stays_a_warning():
    reference, evaluation = mixed_data(4000, 1), mixed_data(4000, 2)
    evaluation["income"] = evaluation["income"] * 3     # income plays no part in labels or predictions
    income = case_for(run_test("feature_drift", make_context(reference, evaluation)), "income")
    assert income.metrics["psi"] >= 0.6
    assert income.severity == SEVERITY_WARNING
    # Judged on every watched metric, not AUC alone (issue 13): the old "does not hurt AUC" wording was the defect.
    assert "moves none of the watched metrics" in income.finding


def test_categorical_drift_without_predictions_is_judged_on_psi_alone():
    reference, evaluation = data_only(mixed_data(4000, 1)), data_only(mixed_data(4000, 2))
    rng = np.random.default_rng(3)
    evaluation["city"] = rng.choice(["Rome", "Madrid"], len(evaluation), p=[0.2, 0.8])
    cases = run_test("feature_drift", make_context(reference, evaluation))
    city = case_for(cases, "city")
    assert city.severity == SEVERITY_ALERT and city.metrics["significance_test"] == "chi_squared"
    assert city.details["kind"] == "categorical" and "Madrid" in city.details["categories"]
    assert "model impact is unknown" in city.finding
    assert case_for(cases, "age").severity == SEVERITY_PASS


def test_ks_statistic_can_drive_numeric_feature_drift():
    reference, evaluation = data_only(mixed_data(4000, 1)), data_only(mixed_data(4000, 2))
    evaluation["score"] = evaluation["score"] + 80     # one standard deviation
    cases = run_test("feature_drift", make_context(reference, evaluation), drift_statistic="Kolmogorov-Smirnov")
    score = case_for(cases, "score")
    assert score.severity == SEVERITY_ALERT and score.metrics["ks_statistic"] >= 0.2


# ---- prediction and label drift ----------------------------------------------------------------------------------
def test_prediction_drift_alerts_when_predictions_shift():
    reference, evaluation = mixed_data(4000, 1), mixed_data(4000, 2)
    evaluation[PREDICTION] = np.clip(evaluation[PREDICTION] + 0.3, 0, 1)
    [case] = run_test("prediction_drift", make_context(reference, evaluation))
    assert case.severity == SEVERITY_ALERT
    assert "average prediction moved from" in case.finding


def test_prediction_drift_passes_on_the_same_model_and_population():
    [case] = run_test("prediction_drift", make_context(mixed_data(4000, 1), mixed_data(4000, 2)))
    assert case.severity == SEVERITY_PASS and case.finding == ""


def test_label_drift_alerts_when_the_positive_rate_flips():
    reference, evaluation = mixed_data(4000, 1), mixed_data(4000, 2)
    rng = np.random.default_rng(5)
    reference[LABEL] = (rng.random(len(reference)) < 0.3).astype(int)
    evaluation[LABEL] = (rng.random(len(evaluation)) < 0.7).astype(int)
    [case] = run_test("categorical_label_drift", make_context(reference, evaluation))
    assert case.features == [LABEL] and case.severity == SEVERITY_ALERT
    assert case.metrics["psi"] == pytest.approx(0.68, abs=0.08)


def test_label_drift_passes_without_a_change_of_base_rate():
    [case] = run_test("categorical_label_drift", make_context(mixed_data(4000, 1), mixed_data(4000, 2)))
    assert case.severity == SEVERITY_PASS


def regression_data(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    target = 3 * x + rng.normal(0, 1, n) + shift
    return pd.DataFrame({"x": x, "z": rng.normal(0, 1, n), LABEL: target, PREDICTION: 3 * x + shift})


@pytest.mark.parametrize("shift, expected", [(3.0, SEVERITY_ALERT), (0.0, SEVERITY_PASS)])
def test_regression_label_drift_follows_a_shift_of_the_target(shift, expected):
    ctx = make_context(regression_data(3000, 1), regression_data(3000, 2, shift), model_task=MODEL_TASK_REGRESSION)
    [case] = run_test("regression_label_drift", ctx)
    assert case.severity == expected


def multiclass_data(n: int, seed: int, class_shares: list[float]) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = rng.choice(3, n, p=class_shares)
    probabilities = np.full((n, 3), 0.1)
    probabilities[np.arange(n), label] = 0.8
    frame = pd.DataFrame({"x": label + rng.normal(0, 1, n), LABEL: label})
    for k in range(3):
        frame[f"p{k}"] = probabilities[:, k]
    return frame


@pytest.mark.parametrize("evaluation_shares, expected", [([0.1, 0.1, 0.8], SEVERITY_ALERT),
                                                         ([0.4, 0.3, 0.3], SEVERITY_PASS)])
def test_predicted_label_drift_follows_the_predicted_class_mix(evaluation_shares, expected):
    ctx = make_context(multiclass_data(3000, 1, [0.4, 0.3, 0.3]), multiclass_data(3000, 2, evaluation_shares),
                       pred_col=None, model_task=MODEL_TASK_MULTICLASS_CLASSIFICATION)
    ctx.reference_predictions = ctx.reference[["p0", "p1", "p2"]].to_numpy()
    ctx.evaluation_predictions = ctx.evaluation[["p0", "p1", "p2"]].to_numpy()
    [case] = run_test("multiclass_pred_label_drift", ctx)
    assert case.severity == expected


# ---- nulls per feature -------------------------------------------------------------------------------------------
def null_drift_frames(evaluation_null_rate: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    reference, evaluation = mixed_data(4000, 1), mixed_data(4000, 2)
    rng = np.random.default_rng(7)
    evaluation["score"] = evaluation["score"].where(rng.random(len(evaluation)) >= evaluation_null_rate)
    return reference, evaluation


def test_a_jump_in_nulls_alerts_on_that_feature_without_predictions():
    reference, evaluation = null_drift_frames(0.4)
    cases = run_test("null_proportion", make_context(data_only(reference), data_only(evaluation)))
    assert failing(cases) == {"score": SEVERITY_ALERT}
    assert "score is missing in" in case_for(cases, "score").finding


def test_a_jump_in_nulls_that_costs_the_model_nothing_is_a_warning():
    reference, evaluation = null_drift_frames(0.4)     # predictions were made before the nulls appeared
    score = case_for(run_test("null_proportion", make_context(reference, evaluation)), "score")
    assert score.severity == SEVERITY_WARNING and score.metrics["impact_auc"] is not None


def test_null_rates_within_noise_pass():
    reference, evaluation = null_drift_frames(0.0)
    assert failing(run_test("null_proportion", make_context(reference, evaluation))) == {}


@pytest.mark.parametrize("share_of_gappy_rows, expected", [(0.3, SEVERITY_ALERT), (0.0, SEVERITY_PASS)])
def test_nulls_per_row_drift_follows_rows_losing_several_values_at_once(share_of_gappy_rows, expected):
    reference, evaluation = mixed_data(4000, 1), mixed_data(4000, 2)
    gappy = np.random.default_rng(8).random(len(evaluation)) < share_of_gappy_rows
    evaluation.loc[gappy, ["age", "city", "plan"]] = None
    [case] = run_test("row_null_proportion", make_context(reference, evaluation))
    assert case.severity == expected


# ---- correlation drift -------------------------------------------------------------------------------------------
def test_feature_correlation_drift_alerts_on_the_pair_that_decoupled():
    reference, evaluation = mixed_data(4000, 1), mixed_data(4000, 2)
    evaluation["balance"] = np.random.default_rng(9).permutation(evaluation["balance"].to_numpy())
    cases = run_test("correlation_feat_drift", make_context(reference, evaluation))
    assert failing(cases) == {"score+balance": SEVERITY_ALERT}
    pair = case_for(cases, "balance")
    assert pair.metrics["reference_correlation"] > 0.5 and abs(pair.metrics["evaluation_correlation"]) < 0.1
    assert pair.finding.startswith("The correlation between score and balance changed from 0.")


def test_feature_correlation_drift_passes_when_pairs_keep_their_correlation():
    assert failing(run_test("correlation_feat_drift", make_context(mixed_data(4000, 1), mixed_data(4000, 2)))) == {}


def test_label_correlation_drift_alerts_when_a_feature_stops_predicting_the_label():
    reference, evaluation = mixed_data(4000, 1), mixed_data(4000, 2)
    evaluation[LABEL] = np.random.default_rng(11).permutation(evaluation[LABEL].to_numpy())
    cases = run_test("correlation_label_drift", make_context(reference, evaluation))
    assert case_for(cases, "balance").severity != SEVERITY_PASS
    assert set(failing(cases)) <= {f"{f}+{LABEL}" for f in ("balance", "score", "age", "tenure")}


def test_label_correlation_drift_passes_on_the_same_relation():
    assert failing(run_test("correlation_label_drift", make_context(mixed_data(4000, 1), mixed_data(4000, 2)))) == {}


# ---- noise and real data ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_reference_against_a_random_half_of_itself_raises_no_drift(seed):
    ctx = reference_and_random_half(seed)
    for key in DRIFT_TESTS:
        assert failing(run_test(key, ctx)) == {}, key


@pytest.mark.parametrize("seed", range(3))
def test_regression_reference_against_a_random_half_raises_no_drift(seed):
    reference = regression_data(4000, seed)
    ctx = make_context(reference, reference.sample(frac=0.5, random_state=seed), model_task=MODEL_TASK_REGRESSION)
    for key in ["feature_drift", "prediction_drift", "regression_label_drift", "correlation_label_drift"]:
        assert failing(run_test(key, ctx)) == {}, key


def test_fraud_evaluation_drift_is_found_on_city_country_browser_and_predictions():
    reference, evaluation = load_fraud()
    ctx = make_context(reference, evaluation)
    drift = failing(run_test("feature_drift", ctx))
    assert set(drift) == {"city", "country", "browser_version"}
    browser = case_for(run_test("feature_drift", ctx), "browser_version")
    assert browser.metrics["psi"] > 0.6 and "AUC" in browser.finding
    [predictions] = run_test("prediction_drift", ctx)
    assert predictions.severity == SEVERITY_ALERT
