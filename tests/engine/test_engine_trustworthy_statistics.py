"""Findings that can be trusted on every task (issue 13): known answers for each case an outside data scientist
measured, and reference-against-a-random-half-of-itself calibration on multiclass and regression problems.

Every case builds its data here. Each known answer failed on the code before the fix (see the report of the
`stats` branch: checked by running this file against main at the architecture commit).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import stresstests.engine.categories  # noqa: F401  (fills the registry)
from stresstests.engine.base import REGISTRY, Context
from stresstests.engine.config import DataParams, RunConfig
from stresstests.engine.runner import build_context, run_one
from stresstests.engine.categories.tabular.model_probe import error_text
from stresstests.engine.vocabulary import (
    MODEL_TASK_BINARY_CLASSIFICATION,
    MODEL_TASK_MULTICLASS_CLASSIFICATION,
    MODEL_TASK_REGRESSION,
    SEVERITY_ALERT,
    SEVERITY_PASS,
    SEVERITY_WARNING,
    TEST_CATEGORY_TYPE_ABNORMAL_INPUTS,
    TEST_CATEGORY_TYPE_DRIFT,
    TEST_CATEGORY_TYPE_MODEL_PERFORMANCE,
    TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE_DEGRADATION,
)
from tests.engine.model_side_helpers import CountingModel, case_for, make_context, run_test, sigmoid

CLASS_COLUMNS = ["p0", "p1", "p2", "p3"]
CALIBRATED_CATEGORIES = (TEST_CATEGORY_TYPE_DRIFT, TEST_CATEGORY_TYPE_ABNORMAL_INPUTS,
                         TEST_CATEGORY_TYPE_MODEL_PERFORMANCE, TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE_DEGRADATION)


# ---- constructed problems ------------------------------------------------------------------------------------------
def shapes(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Features of the shapes that trouble drift statistics: heavy tails, small integers, 90 % zeros, categories."""
    return {"amount": np.exp(rng.normal(3, 1.76, n)), "visits": rng.poisson(2, n),
            "refunds": np.where(rng.random(n) < 0.9, 0.0, rng.gamma(2, 50, n)),
            "shop": rng.choice(list("ABCDE"), n)}


def multiclass_problem(n: int, seed: int) -> pd.DataFrame:
    """Four classes, class 3 rare (1.5 %) and under-predicted; one probability column per class."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(0, 1, n), rng.normal(0, 1, n)
    label = np.where(rng.random(n) < 0.015, 3, np.where(x1 < -0.4, 0, np.where(x2 < 0, 1, 2)))
    logits = rng.normal(0, 1.0, (n, 4))
    logits[np.arange(n), label] += 2.5
    logits[:, 3] -= 1.0
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    frame = pd.DataFrame({"x1": x1, "x2": x2, **shapes(rng, n), "label": label})
    return frame.assign(**{column: probabilities[:, k] for k, column in enumerate(CLASS_COLUMNS)})


def regression_problem(n: int, seed: int) -> pd.DataFrame:
    """A positive target with many values near zero (log-normal), predicted without bias on the log scale."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(0, 1, n), rng.normal(0, 1, n)
    signal = -1 + 0.8 * x1 + 0.3 * x2
    frame = pd.DataFrame({"x1": x1, "x2": x2, **shapes(rng, n),
                          "label": np.exp(signal + rng.normal(0, 0.8, n))})
    return frame.assign(preds=np.exp(signal + 0.32))


def build(reference: pd.DataFrame, evaluation: pd.DataFrame, model_task: str, *, model=None,
          data_only: bool = False) -> Context:
    pred_col = None
    if model is None and not data_only:
        pred_col = CLASS_COLUMNS if model_task == MODEL_TASK_MULTICLASS_CLASSIFICATION else "preds"
    ctx, _ = build_context(reference=reference, evaluation=evaluation, model_task=model_task, config=RunConfig(),
                           data_params=DataParams(label_col="label", pred_col=pred_col), model=model)
    return ctx


def run(ctx: Context, key: str) -> list:
    result = run_one(ctx, REGISTRY[key])
    assert result.status == "completed", (key, result.reason)
    return result.cases


def raised(ctx: Context, categories: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """Every Warning or Alert of the task's tests in `categories`: test key -> {features or subset: severity}."""
    found = {}
    for key, test in REGISTRY.items():
        if ctx.model_task not in test.tasks or test.category not in categories or ctx.modality not in test.modalities:
            continue
        result = run_one(ctx, test)
        cases = {",".join(c.features) or "dataset": c.severity for c in result.cases if c.severity != SEVERITY_PASS}
        if cases:
            found[key] = cases
    return found


def random_half(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    return frame.sample(frac=0.5, random_state=seed).reset_index(drop=True)


# ---- 1. class members, not rows -------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 3])
def test_a_rare_class_with_two_rows_in_a_subset_does_not_raise_subset_drift_macro_precision(seed):
    # Before: Alert on `amount` (seed 0) and `x1` (seed 3): a class with 2 rows and no prediction counted as
    # precision 0, dragging the macro average from ~0.9 to ~0.65.
    reference = multiclass_problem(6000, seed)
    ctx = build(reference, random_half(reference, seed), MODEL_TASK_MULTICLASS_CLASSIFICATION)
    cases = run(ctx, "subset_drift_macro_precision")
    assert all(c.severity == SEVERITY_PASS for c in cases), {",".join(c.features): c.finding for c in cases}
    subsets = {row["subset"]: row for c in cases for row in c.details["subsets"]}
    assert all(row["class_members"] >= 10 or row["severity"] == SEVERITY_PASS for row in subsets.values())


def binary_with_a_small_subset(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predictions-only binary data; in the evaluation set shop Z has 286 rows and 4 positives, all missed."""
    rng = np.random.default_rng(seed)

    def frame(n: int) -> pd.DataFrame:
        label = (rng.random(n) < 0.15).astype(int)
        preds = sigmoid(4 * (label - 0.5) + rng.normal(0, 1.2, n))
        return pd.DataFrame({"shop": rng.choice(list("ABCD"), n), "x1": rng.normal(0, 1, n), "label": label,
                             "preds": preds})

    reference, evaluation = frame(6000), frame(3000)
    small = pd.DataFrame({"shop": "Z", "x1": rng.normal(0, 1, 286), "label": [1] * 4 + [0] * 282,
                          "preds": rng.uniform(0.01, 0.3, 286)})
    reference_small = small.assign(preds=np.where(small["label"] == 1, 0.9, small["preds"]))
    return (pd.concat([reference, reference_small], ignore_index=True),
            pd.concat([evaluation, small], ignore_index=True))


def test_a_subset_with_four_positives_has_no_f1_finding_however_many_rows_it_has():
    # Before: Subset F1 raised the 286-row subset shop = Z, whose F1 of 0.000 rests on 4 positives.
    reference, evaluation = binary_with_a_small_subset()
    ctx = build(reference, evaluation, MODEL_TASK_BINARY_CLASSIFICATION)
    for key in ("subset_f1", "subset_drift_f1", "subset_recall"):
        shop = case_for(run(ctx, key), "shop")
        assert shop.severity == SEVERITY_PASS, (key, shop.finding)
        row = next(r for r in shop.details["subsets"] if r["subset"] == "shop = Z")
        assert row["rows"] == 286 and row["class_members"] == 4


def test_worst_subset_rows_counts_the_rows_of_the_subset_not_its_predicted_positives():
    # Before: worst_subset_rows was the number of predicted positives of the subset (precision's denominator).
    reference, evaluation = binary_with_a_small_subset()
    shop_a = np.flatnonzero(evaluation["shop"] == "A")
    evaluation.loc[shop_a, "preds"] = np.where(np.arange(len(shop_a)) % 2 == 0, 0.99, 0.01)   # coin flips
    ctx = build(reference, evaluation, MODEL_TASK_BINARY_CLASSIFICATION)
    shop = case_for(run(ctx, "subset_precision"), "shop")
    assert shop.metrics["worst_subset"] == "shop = A"
    assert shop.metrics["worst_subset_rows"] == len(shop_a)
    assert shop.metrics["worst_subset_metric_rows"] == (len(shop_a) + 1) // 2    # its predicted positives
    small = case_for(run(ctx, "subset_precision"), "shop").details["subsets"]
    z = next(r for r in small if r["subset"] == "shop = Z")
    assert z["rows"] == 286 and z["metric_rows"] == 0            # no predicted positive: precision undefined


# ---- 2. ratio metrics guarded ----------------------------------------------------------------------------------
def regression_with_a_near_zero_target(degradation: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference: 6,000 targets around 1 and one of 0.006 (predicted 1.9, as a typical value). Evaluation: the same
    rows without it, every error `degradation` times larger."""
    rng = np.random.default_rng(5)
    n = 6000
    x1, x2 = rng.normal(0, 1, n), rng.normal(0, 1, n)
    label = np.exp(0.3 * x1 + 0.1 * x2)
    preds = label * (1 + rng.normal(0, 0.1, n))
    reference = pd.DataFrame({"x1": x1, "x2": x2, "visits": rng.poisson(3, n), "label": label, "preds": preds})
    evaluation = reference.assign(preds=label + degradation * (preds - label))
    reference.loc[0, ["label", "preds"]] = [0.006, 1.9]
    return reference, evaluation.drop(index=0).reset_index(drop=True)


def test_one_near_zero_target_cannot_hide_a_real_mape_degradation():
    # Before: that one target lifted reference MAPE from 0.078 to 0.13, so a 12 % worse model passed.
    reference, evaluation = regression_with_a_near_zero_target(1.12)
    ctx = build(reference, evaluation, MODEL_TASK_REGRESSION)
    (mape,) = run(ctx, "mape")
    assert mape.severity == SEVERITY_WARNING, mape.metrics
    assert REGISTRY["mape"].name == "Weighted MAPE"
    assert 0.10 <= mape.metrics["degradation"] <= 0.13
    assert "Weighted MAPE degraded" in mape.finding
    # The same degradation everywhere: no subset of an untouched feature degraded more than the whole.
    assert all(c.severity == SEVERITY_PASS for c in run(ctx, "subset_drift_mape"))


def test_without_the_degradation_the_near_zero_target_raises_nothing():
    reference, evaluation = regression_with_a_near_zero_target(1.0)
    ctx = build(reference, evaluation, MODEL_TASK_REGRESSION)
    assert run(ctx, "mape")[0].severity == SEVERITY_PASS
    assert all(c.severity == SEVERITY_PASS for c in run(ctx, "subset_drift_mape"))


def test_the_msle_skip_reason_names_the_logarithm_not_a_class():
    reference, evaluation = regression_with_a_near_zero_target(1.0)
    evaluation.loc[:10, "label"] = -3.0
    result = run_one(build(reference, evaluation, MODEL_TASK_REGRESSION), REGISTRY["msle"])
    assert result.status == "skipped"
    assert "at or below -1" in result.reason and "class" not in result.reason


# ---- 3. drift impact on the metrics that matter, tied back to Model Performance -----------------------------------
def threshold_model(frame: pd.DataFrame) -> np.ndarray:
    """The label depends on x1; the score also rises with log(amount), which says nothing about the label."""
    return sigmoid(3 * frame["x1"].astype(float) + 0.8 * (np.log(frame["amount"].astype(float)) - 3) - 2.5)


def amount_drift_problem() -> tuple[pd.DataFrame, pd.DataFrame]:
    def frame(n: int, seed: int, scale: float) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        x1 = rng.normal(0, 1, n)
        return pd.DataFrame({"x1": x1, "amount": np.exp(rng.normal(3, 0.5, n)) * scale,
                             "label": (x1 + rng.normal(0, 0.3, n) > 1.2).astype(int)})

    return frame(6000, 1, 1.0), frame(6000, 2, 4.0)


def test_a_drift_that_costs_precision_and_false_positives_is_judged_on_them_not_on_auc():
    # Before: "amount has drifted ... but does not hurt AUC": a shift of every score keeps the ranking (AUC), while
    # precision falls and the false positive rate rises.
    reference, evaluation = amount_drift_problem()
    ctx = build(reference, evaluation, MODEL_TASK_BINARY_CLASSIFICATION, model=CountingModel(threshold_model))
    amount = case_for(run(ctx, "feature_drift"), "amount")
    assert amount.severity == SEVERITY_ALERT
    assert amount.metrics["impact_metric"] in ("precision", "false_positive_rate", "accuracy")
    assert abs(amount.metrics["impact_auc"]) < 0.02
    assert amount.metrics["precision_without_drift"] - amount.metrics["precision_actual"] >= 0.05
    assert "Precision" in amount.finding and "False Positive Rate" in amount.finding
    assert f"{amount.metrics['precision_actual']:.3f}"[:4] in amount.finding


def test_a_model_performance_alert_names_the_drifted_feature_that_explains_it():
    reference, evaluation = amount_drift_problem()
    ctx = build(reference, evaluation, MODEL_TASK_BINARY_CLASSIFICATION, model=CountingModel(threshold_model))
    (precision,) = run(ctx, "precision")
    assert precision.severity == SEVERITY_ALERT
    assert precision.metrics["explained_by"] == ["amount"]
    explanation = precision.details["explained_by"][0]
    assert explanation["recovered_share"] >= 0.5
    assert explanation["precision_without_drift"] > precision.metrics["evaluation_precision"]
    assert "The drift of amount" in precision.finding
    (auc,) = run(ctx, "auc")
    assert auc.severity == SEVERITY_PASS and "explained_by" not in auc.metrics


# ---- 4. a rescale is drift ---------------------------------------------------------------------------------------
def test_a_one_and_a_half_times_rescale_of_a_heavy_tailed_amount_is_drift():
    # Before: PSI over reference quantile bins stayed near 0.05 (Pass) although KS was highly significant.
    rng = np.random.default_rng(7)

    def frame(n: int) -> pd.DataFrame:
        return pd.DataFrame({"amount": np.exp(rng.normal(5, 1.76, n)), "visits": rng.poisson(2, n),
                             "shop": rng.choice(list("ABC"), n), "label": rng.integers(0, 2, n)})

    reference, evaluation = frame(5000), frame(5000)
    evaluation["amount"] *= 1.5
    cases = run(build(reference, evaluation, MODEL_TASK_BINARY_CLASSIFICATION, data_only=True), "feature_drift")
    amount = case_for(cases, "amount")
    assert amount.severity in (SEVERITY_WARNING, SEVERITY_ALERT)
    assert amount.metrics["psi"] < 0.2 and amount.metrics["drift_statistic"] == "Wasserstein"
    assert 0.3 <= amount.metrics["wasserstein_distance"] <= 0.8
    assert "Wasserstein distance" in amount.finding
    assert all(c.severity == SEVERITY_PASS for c in cases if c.features != ["amount"])


# ---- 5. one row does not decide a Warning ------------------------------------------------------------------------
def test_a_category_seen_in_one_evaluation_row_is_shown_but_not_raised():
    rng = np.random.default_rng(11)

    def frame(n: int) -> pd.DataFrame:
        x1 = rng.normal(0, 1, n)
        return pd.DataFrame({"x1": x1, "city": rng.choice(["Rome", "Paris", "Berlin"], n),
                             "label": (x1 > 0).astype(int), "preds": sigmoid(2 * x1)})

    reference, evaluation = frame(5000), frame(5000)
    evaluation.loc[123, "city"] = "Tokyo"
    city = case_for(run(build(reference, evaluation, MODEL_TASK_BINARY_CLASSIFICATION), "unseen_categorical"),
                    "city")
    assert city.severity == SEVERITY_PASS
    assert city.metrics["num_failing_rows"] == 1 and city.metrics["severity_capped"] is True
    assert "'Tokyo'" in city.finding and "Not raised: it rests on 1 row" in city.finding


def test_an_unseen_category_in_many_rows_is_still_raised():
    rng = np.random.default_rng(11)
    frame = pd.DataFrame({"x1": rng.normal(0, 1, 5000), "city": rng.choice(["Rome", "Paris"], 5000)})
    frame = frame.assign(label=(frame["x1"] > 0).astype(int), preds=sigmoid(2 * frame["x1"]))
    evaluation = frame.copy()
    evaluation.loc[:249, "city"] = "Tokyo"
    # The model knows nothing of Tokyo: its scores there are coin flips (rows it serves no worse are not raised).
    evaluation.loc[:249, "preds"] = rng.random(250)
    city = case_for(run(build(frame, evaluation, MODEL_TASK_BINARY_CLASSIFICATION), "unseen_categorical"), "city")
    assert city.severity in (SEVERITY_WARNING, SEVERITY_ALERT) and city.metrics["severity_capped"] is False


# ---- 6. words and figures ---------------------------------------------------------------------------------------
def test_the_out_of_range_sentence_states_rmse_in_its_own_units():
    # Before: "Putting an out-of-range value in x1 costs 0.778 rmse" (prediction standard deviations).
    model = CountingModel(lambda frame: 3 * frame["x1"].astype(float))
    ctx = make_context(model, model_task=MODEL_TASK_REGRESSION)
    x1 = case_for(run_test("out_of_range_substitution", ctx), "x1")
    assert x1.severity != SEVERITY_PASS
    before, after = x1.metrics["clean_metric"], x1.metrics["transformed_metric"]
    assert after > 3 * before
    assert f"raises RMSE on the {x1.details['sample_size']} sampled rows from {before:.3g} to {after:.3g}" \
        in x1.finding
    assert "rmse" not in x1.finding


def test_a_model_crash_is_one_sentence_without_its_traceback():
    traceback = ('Traceback (most recent call last):\n  File "model.py", line 12, in predict\n'
                 '    values = frame.astype(float)\n  File "pandas/core/generic.py", line 6643, in astype\n'
                 '    new_data = self._mgr.astype(dtype=dtype)\n'
                 "ValueError: could not convert string to float: 'unexpected text'\n")

    def crashing(frame: pd.DataFrame) -> np.ndarray:
        if frame["x1"].map(lambda v: isinstance(v, str)).any():
            raise RuntimeError("The model process exited unexpectedly (exit code 1) while predicting. Its last "
                               f"output:\n{traceback}")
        return sigmoid(frame["x1"].astype(float))

    cases = run_test("feature_type_change", make_context(CountingModel(crashing)))
    x1 = case_for(cases, "x1")
    assert x1.severity == SEVERITY_ALERT
    assert x1.metrics["error"] == ("RuntimeError: The model process exited unexpectedly (exit code 1) while "
                                   "predicting. Its last output: ValueError: could not convert string to float: "
                                   "'unexpected text'")
    assert "\n" not in x1.finding and "File " not in x1.finding and "Traceback" not in x1.finding
    assert error_text(ValueError("first line\nsecond line")) == "ValueError: first line second line"
    assert error_text("ModelOutputError: The model raised an error while predicting: CatBoostError: Bad value") \
        == "CatBoostError: Bad value"


# ---- calibration: a random half of the reference raises nothing; planted defects are found ------------------------
@pytest.mark.parametrize("seed", range(5))
def test_multiclass_reference_against_a_random_half_raises_nothing(seed):
    reference = multiclass_problem(6000, seed)
    ctx = build(reference, random_half(reference, seed), MODEL_TASK_MULTICLASS_CLASSIFICATION)
    assert raised(ctx, CALIBRATED_CATEGORIES) == {}


@pytest.mark.parametrize("seed", range(5))
def test_regression_reference_against_a_random_half_raises_nothing(seed):
    reference = regression_problem(6000, seed)
    ctx = build(reference, random_half(reference, seed), MODEL_TASK_REGRESSION)
    assert raised(ctx, CALIBRATED_CATEGORIES) == {}


def test_planted_defects_are_found_on_the_multiclass_problem():
    reference = multiclass_problem(6000, 0)
    evaluation = multiclass_problem(6000, 1)
    evaluation["amount"] *= 1.5                                   # a unit change
    evaluation.loc[:299, "shop"] = "Z"                            # a new shop in 5 % of rows ...
    evaluation.loc[:299, CLASS_COLUMNS] = 0.25                    # ... the model knows nothing about
    weak = evaluation["visits"] == 0                              # the model guesses for visitors with no visit
    evaluation.loc[weak, CLASS_COLUMNS] = 0.25
    found = raised(build(reference, evaluation, MODEL_TASK_MULTICLASS_CLASSIFICATION), CALIBRATED_CATEGORIES)
    assert "amount" in found["feature_drift"]
    assert "shop" in found["unseen_categorical"]
    assert found["subset_drift_multiclass_accuracy"].keys() == {"visits"}
    assert "dataset" in found["multiclass_accuracy"]


def test_planted_defects_are_found_on_the_regression_problem():
    reference = regression_problem(6000, 0)
    evaluation = regression_problem(6000, 1)
    evaluation["refunds"] *= 2.0                                  # refunds in another unit (90 % zeros)
    shop_a = evaluation["shop"] == "A"                            # predictions in shop A are off by a factor 2
    evaluation.loc[shop_a, "preds"] *= 2.0
    evaluation.loc[:199, "visits"] = -4                           # impossible counts
    found = raised(build(reference, evaluation, MODEL_TASK_REGRESSION), CALIBRATED_CATEGORIES)
    assert "refunds" in found["feature_drift"]
    assert "visits" in found["out_of_range"]
    assert "shop" in found["subset_drift_rmse"] and "shop" in found["subset_drift_mape"]
    assert "dataset" in found["mape"]


def test_a_model_performance_change_resting_on_a_few_positives_is_not_raised():
    rng = np.random.default_rng(2)

    def frame(n: int, positives: int, hit: float) -> pd.DataFrame:
        label = np.r_[np.ones(positives, int), np.zeros(n - positives, int)]
        caught = rng.random(n) < hit
        return pd.DataFrame({"x1": rng.normal(0, 1, n), "label": label,
                             "preds": np.where(label == 1, np.where(caught, 0.9, 0.1), rng.uniform(0, 0.4, n))})

    ctx = build(frame(3000, 6, 1.0), frame(3000, 6, 0.0), MODEL_TASK_BINARY_CLASSIFICATION)
    (recall,) = run(ctx, "recall")
    assert recall.metrics["reference_recall"] == 1.0 and recall.metrics["evaluation_recall"] == 0.0
    assert recall.severity == SEVERITY_PASS and recall.metrics["class_members"] == 6


def test_a_drift_whose_cost_cannot_be_measured_does_not_claim_there_are_no_predictions():
    # Before: "...; with no predictions its model impact is unknown" although every row had a prediction.
    rng = np.random.default_rng(4)

    def frame(cities: list[str], n: int) -> pd.DataFrame:
        x1 = rng.normal(0, 1, n)
        return pd.DataFrame({"x1": x1, "city": rng.choice(cities, n), "label": (x1 > 0).astype(int),
                             "preds": sigmoid(2 * x1)})

    evaluation = pd.concat([frame(["Tokyo"], 3000), frame(["Rome", "Paris"], 20)], ignore_index=True)
    city = case_for(run(build(frame(["Rome", "Paris"], 3000), evaluation, MODEL_TASK_BINARY_CLASSIFICATION),
                        "feature_drift"), "city")
    assert city.severity != SEVERITY_PASS
    assert "no predictions" not in city.finding
    assert "its cost to the model cannot be measured" in city.finding and "effective rows" in city.finding


def test_the_key_finding_of_a_rescale_states_the_distance_that_found_it_not_psi():
    from stresstests.engine.runner import run_stress_test

    rng = np.random.default_rng(7)
    reference = pd.DataFrame({"amount": np.exp(rng.normal(5, 1.76, 5000)), "label": rng.integers(0, 2, 5000)})
    evaluation = pd.DataFrame({"amount": np.exp(rng.normal(5, 1.76, 5000)) * 1.5, "label": rng.integers(0, 2, 5000)})
    report = run_stress_test(reference=reference, evaluation=evaluation,
                             config=RunConfig.from_dict({"categories": [TEST_CATEGORY_TYPE_DRIFT]}),
                             data_params=DataParams(label_col="label"), model_task=MODEL_TASK_BINARY_CLASSIFICATION)
    (finding,) = [f for f in report["key_findings"] if f["features"] == ["amount"]]
    assert "Wasserstein distance" in finding["title"] and "PSI" not in finding["title"]
