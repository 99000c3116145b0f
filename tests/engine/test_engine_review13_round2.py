"""Known answers for the second round of the outside data scientist's review (issue 13): a left-out real feature still
reaches the model, unseen categories against the Good-Turing missing mass, merging and naming causes, the over-fitted
reference first, undirected metrics, confidence-bound subset severity, ATC next to measured accuracy, wording."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from stresstests.engine.config import DataParams, RunConfig
from stresstests.engine.models import EstimatorModel
from stresstests.engine.runner import run_stress_test
from stresstests.engine.categories.tabular.subset_performance import decide
from stresstests.engine.findings import SubsetRows, build_key_findings
from stresstests.engine.vocabulary import (
    MODEL_TASK_BINARY_CLASSIFICATION,
    MODEL_TASK_REGRESSION,
    SEVERITY_ALERT,
    SEVERITY_PASS,
    SEVERITY_WARNING,
)
from tests.engine.core_helpers import context, run, scored_frame, sigmoid

BINARY = MODEL_TASK_BINARY_CLASSIFICATION


# ---- 1. a real feature that looks like model output ----------------------------------------------------------------
def _with_prior_score(n_rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"age": rng.integers(18, 90, n_rows), "prior_score": rng.beta(2, 5, n_rows)})
    frame["label"] = (rng.random(n_rows) < 0.1 + 0.8 * frame["prior_score"]).astype(int)
    return frame


def test_a_left_out_feature_that_looks_like_model_output_is_still_given_to_the_model():
    """prior_score (Beta(2, 5), named like a score) is a real input of the model: the run must not die with
    KeyError "['prior_score'] not in index"; it is only not tested, and the note says how to keep it."""
    train = _with_prior_score(3000, 1)
    estimator = LogisticRegression().fit(train[["age", "prior_score"]], train["label"])
    model = EstimatorModel(estimator, model_task=BINARY, source="test")
    report = run_stress_test(reference=_with_prior_score(1500, 2), evaluation=_with_prior_score(1500, 3),
                             config=RunConfig(categories=["drift", "model_performance"]),
                             data_params=DataParams(label_col="label"), model_task=BINARY, model=model)
    schema = report["run"]["schema"]
    assert [column["column"] for column in schema["left_out_columns"]] == ["prior_score"]
    assert "prior_score" not in schema["features"]
    tested = {f for category in report["categories"] for test in category["tests"] for case in test["test_cases"]
              for f in case["features"]}
    assert "prior_score" not in tested and "age" in tested
    errors = [test.get("error") for category in report["categories"] for test in category["tests"] if test.get("error")]
    assert errors == []
    note = next(note for note in report["run"]["notes"] if "prior_score" in note)
    assert "--keep-as-features prior_score" in note and "wizard" in note and "still given" in note


# ---- 2. unseen categories against the Good-Turing missing mass -----------------------------------------------------
def _zipf_merchants(n_rows: int, seed: int, *, new_share: float = 0.0, new_rows_easy: bool = False) -> pd.DataFrame:
    """A 400-level Zipf merchant and a model (`preds`) that is equally good everywhere; optionally a planted share
    of rows with a brand-new merchant that the model serves badly (or, with new_rows_easy, better)."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, 401) ** 1.1
    merchants = np.array([f"m{i}" for i in range(400)])[rng.choice(400, n_rows, p=weights / weights.sum())]
    frame = pd.DataFrame({"merchant": merchants, "age": rng.integers(18, 90, n_rows),
                          "label": rng.integers(0, 2, n_rows)})
    frame["preds"] = sigmoid(2.0 * (frame["label"] - 0.5) + rng.normal(0, 1, n_rows))
    if new_share:
        new = rng.random(n_rows) < new_share
        frame.loc[new, "merchant"] = "brand_new"
        signal = 6.0 if new_rows_easy else 0.0
        frame.loc[new, "preds"] = sigmoid(signal * (frame.loc[new, "label"] - 0.5) + rng.normal(0, 1, int(new.sum())))
    return frame


def _unseen_case(reference: pd.DataFrame, evaluation: pd.DataFrame):
    result = run(context(reference, evaluation, categorical_features=["merchant"]), "unseen_categorical")
    return next(case for case in result.cases if case.features == ["merchant"])


def test_unseen_values_a_fresh_sample_is_expected_to_miss_are_not_raised():
    """Two samples of the same 400-level Zipf merchant: about 5 % of evaluation rows hold merchants the reference
    never shows, which is the reference's own singleton share (Good-Turing): sampling, not a finding."""
    reference, evaluation = _zipf_merchants(2000, 1), _zipf_merchants(2000, 2)
    case = _unseen_case(reference, evaluation)
    assert case.metrics["num_failing_rows"] > 40                       # the unseen rows are there ...
    assert abs(case.metrics["expected_share"] - case.metrics["failing_rows_share"]) < 0.02
    assert case.severity == SEVERITY_PASS                              # ... and expected


def test_a_new_merchant_beyond_the_missing_mass_that_hurts_the_model_is_raised():
    reference, evaluation = _zipf_merchants(2000, 1), _zipf_merchants(2000, 2, new_share=0.10)
    case = _unseen_case(reference, evaluation)
    assert case.severity != SEVERITY_PASS
    assert "expected of a fresh sample" in case.finding


def test_unseen_rows_the_model_serves_better_are_shown_not_raised():
    reference, evaluation = _zipf_merchants(2000, 1), _zipf_merchants(2000, 2, new_share=0.10, new_rows_easy=True)
    case = _unseen_case(reference, evaluation)
    assert case.severity == SEVERITY_PASS
    assert case.details["severity_before_cap"] != SEVERITY_PASS
    assert "Not raised: the model does no worse" in case.finding


# ---- findings on hand-made report categories -----------------------------------------------------------------------
def _case(features: list[str], severity: str, *, subset: str | None = None, importance: float = 0.1,
          **metrics) -> dict:
    return {"features": features, "severity": severity, "subset": subset, "importance_score": importance,
            "metrics": metrics, "finding": f"{', '.join(features)} finding."}


def _category(category: str, tests: dict[str, list[dict]]) -> dict:
    return {"category": category, "tests": [{"test_type": key, "name": key.replace("_", " ").title(),
                                             "status": "completed", "test_cases": cases}
                                            for key, cases in tests.items()]}


def test_a_feature_with_only_abnormal_inputs_is_not_titled_as_a_change():
    categories = [
        _category("TEST_CATEGORY_TYPE_ABNORMAL_INPUTS",
                  {"unseen_categorical": [_case(["merchant"], SEVERITY_WARNING, excess_share=0.05)]}),
        _category("TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE",
                  {"subset_recall": [_case(["merchant"], SEVERITY_WARNING, subset="merchant = m2",
                                           degraded_by=0.2)]}),
    ]
    finding = build_key_findings(categories)[0]
    assert finding["kind"] == "abnormal_inputs"
    assert "changed" not in finding["title"] and finding["title"].startswith("merchant holds evaluation values")


# ---- 3. merging by row overlap, naming the drifted feature, merged causes ------------------------------------------
def test_a_subset_holding_most_rows_does_not_merge_unrelated_features():
    """amount >= 123.5 holds 99.95 % of the rows after a x1000 change: it overlaps x1's weak subset entirely, but that
    says nothing about a shared cause."""
    n_rows = 2000
    amount_big = np.ones(n_rows, bool)
    amount_big[0] = False
    x1_low = np.zeros(n_rows, bool)
    x1_low[:300] = True
    rows = SubsetRows({"amount >= 123.5": (amount_big.astype(int), 1), "x1 < -1": (x1_low.astype(int), 1)})
    categories = [
        _category("TEST_CATEGORY_TYPE_DRIFT", {"numeric_feature_drift": [_case(["amount"], SEVERITY_ALERT, psi=7.9)]}),
        _category("TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE", {"subset_recall": [
            _case(["amount"], SEVERITY_ALERT, subset="amount >= 123.5", degraded_by=0.3),
            _case(["x1"], SEVERITY_ALERT, subset="x1 < -1", degraded_by=0.2)]}),
    ]
    findings = build_key_findings(categories, subset_rows=rows)
    assert [f["features"] for f in findings] == [["amount"], ["x1"]]


def test_the_drift_title_names_the_drifted_feature_first_with_its_own_statistic():
    """fraud: city's weak subsets outrank country's, but country is the feature that drifted (PSI 0.766); city drifted
    less (PSI 0.3)."""
    city_rows = np.zeros(1000, int)
    city_rows[:50] = 1
    rows = SubsetRows({"city = Sao Paolo": (city_rows, 1), "country = BRA": (city_rows, 1)})
    categories = [
        _category("TEST_CATEGORY_TYPE_DRIFT", {"categorical_feature_drift": [
            _case(["country"], SEVERITY_ALERT, importance=0.05, psi=0.766),
            _case(["city"], SEVERITY_WARNING, importance=0.01, psi=0.3)]}),
        _category("TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE", {"subset_recall": [
            _case(["city"], SEVERITY_ALERT, subset="city = Sao Paolo", importance=0.4, degraded_by=0.4),
            _case(["country"], SEVERITY_ALERT, subset="country = BRA", importance=0.3, degraded_by=0.3)]}),
    ]
    finding = build_key_findings(categories, subset_rows=rows)[0]
    assert finding["title"].startswith("country (PSI 0.766) and city (PSI 0.3) changed between reference and "
                                       "evaluation")


def test_causes_merged_by_the_cap_are_named_as_separate_causes():
    subsets = {f"x{i}": _case([f"x{i}"], SEVERITY_WARNING, subset=f"x{i} < 0", importance=0.1 - i / 100,
                              degraded_by=0.2) for i in range(10)}
    categories = [_category("TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE", {"subset_recall": list(subsets.values())})]
    findings = build_key_findings(categories)
    assert len(findings) == 8
    merged = [f for f in findings if f["causes"] > 1]
    assert len(merged) == 1 and merged[0]["causes"] == 3
    assert merged[0]["title"].startswith("3 separate weak-subset causes, merged to keep this list short: ")
    assert all(f"x{i} < 0" in merged[0]["title"] for i in (7, 8, 9))


# ---- 4. the over-fitted reference first ----------------------------------------------------------------------------
def test_the_over_fitted_reference_entry_comes_first():
    overfit = {"overfit": True, "metric": "auc", "reference": 1.0, "evaluation": 0.715}
    categories = [
        _category("TEST_CATEGORY_TYPE_DRIFT", {"numeric_feature_drift": [_case(["x1"], SEVERITY_ALERT, psi=1.0)]}),
        _category("TEST_CATEGORY_TYPE_TRANSFORMATIONS", {"feature_type_change": [
            _case(["x1"], SEVERITY_ALERT, error="TypeError: bad")]}),
        _category("TEST_CATEGORY_TYPE_MODEL_PERFORMANCE", {"auc": [_case([], SEVERITY_WARNING, degradation=0.28)]}),
    ]
    findings = build_key_findings(categories, overfit=overfit)
    assert [f["kind"] for f in findings] == ["overfit_reference", "drift", "crash"]


# ---- 8. wording ----------------------------------------------------------------------------------------------------
def test_one_agreeing_test_is_singular():
    categories = [_category("TEST_CATEGORY_TYPE_DRIFT", {"categorical_feature_drift": [
        _case(["merchant"], SEVERITY_WARNING, psi=0.3)]})]
    title = build_key_findings(categories)[0]["title"]
    assert title == "merchant changed between reference and evaluation (PSI 0.3; 1 test)."


def test_the_prediction_drift_sentence_agrees_in_number():
    reference, evaluation = scored_frame(2000, 1), scored_frame(2000, 2)
    evaluation["preds"] = evaluation["preds"] ** 3
    case = run(context(reference, evaluation), "prediction_drift").cases[0]
    assert case.severity != SEVERITY_PASS
    assert case.finding.startswith("The model's predictions have drifted")


# ---- 6. subset severity from the gap's lower confidence bound ------------------------------------------------------
def test_a_subset_gap_is_judged_on_its_lower_confidence_bound():
    """The ignored random feature's subset: 38 positives, recall gap 0.214, standard error 0.073 (95 % lower bound
    0.07, under the 0.1 warning line): not an Alert, not a Warning. A well-measured gap of 0.5 +- 0.05 stays one."""
    severities, _ = decide(np.array([0.214, 0.5, 0.2]), np.array([0.073, 0.05, 0.03]), np.array([True] * 3),
                           (0.1, 0.2), 0.05)
    assert severities == [SEVERITY_PASS, SEVERITY_ALERT, SEVERITY_WARNING]


# ---- 5. metrics without a better direction -------------------------------------------------------------------------
def _regression(n_rows: int, seed: int, *, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    target = rng.normal(0.0, 1.0, n_rows)
    return pd.DataFrame({"x": target + rng.normal(0, 0.3, n_rows), "label": target,
                         "preds": target + rng.normal(0, 0.3, n_rows) + shift})


def test_a_small_shift_of_the_average_prediction_near_zero_is_judged_in_standard_deviations():
    """Predictions centred on 0 (SD 1.04) move by 0.09 SD: relative to the near-zero mean that read as hundreds of
    percent and an Alert; as a standardised difference it is 0.09, under the 0.2 warning line."""
    reference, evaluation = _regression(20000, 1), _regression(20000, 2, shift=0.095)
    case = run(context(reference, evaluation, model_task=MODEL_TASK_REGRESSION), "average_prediction").cases[0]
    assert case.severity == SEVERITY_PASS
    assert case.metrics["standardised_difference"] is True
    assert 0.05 < case.metrics["degradation"] < 0.15


def test_a_large_shift_of_the_average_prediction_is_a_shift_not_worse():
    reference, evaluation = _regression(5000, 1), _regression(5000, 2, shift=0.8)
    case = run(context(reference, evaluation, model_task=MODEL_TASK_REGRESSION), "average_prediction").cases[0]
    assert case.severity == SEVERITY_ALERT
    assert "shifted" in case.finding and "worse" not in case.finding.replace("better or worse", "")
    assert "standard deviations of the predictions" in case.finding


def test_a_positive_rate_shift_is_not_called_worse_in_the_case_or_the_key_finding():
    reference, evaluation = scored_frame(4000, 1), scored_frame(4000, 2)
    evaluation["preds"] = evaluation["preds"] ** 0.3      # more rows above 0.5
    result = run(context(reference, evaluation), "positive_prediction_rate")
    case = result.cases[0]
    assert case.severity != SEVERITY_PASS
    assert "shifted" in case.finding and "degraded" not in case.finding
    categories = [_category("TEST_CATEGORY_TYPE_MODEL_PERFORMANCE", {"positive_prediction_rate": [
        {"features": [], "severity": case.severity, "subset": None, "importance_score": case.importance_score,
         "metrics": case.metrics, "finding": case.finding}]})]
    title = build_key_findings(categories)[0]["title"]
    assert title.startswith("The model's outputs shifted on the evaluation set") and "worse" not in title


# ---- 7. ATC next to the measured accuracy --------------------------------------------------------------------------
def test_the_confidence_estimate_does_not_contradict_the_measured_accuracy():
    """The evaluation scores are squeezed towards 0.5 (the model is less sure) while they still rank and threshold
    the labels as well: ATC's estimate falls far below the measured accuracy. With labels, the measured value
    decides and the estimate is only stated next to it."""
    reference, evaluation = scored_frame(4000, 1), scored_frame(4000, 2)
    evaluation["preds"] = 0.5 + (evaluation["preds"] - 0.5) * 0.2
    case = run(context(reference, evaluation), "atc").cases[0]
    assert case.severity == SEVERITY_PASS
    assert case.details["severity_before_cap"] != SEVERITY_PASS
    assert case.metrics["estimated_evaluation_accuracy"] < case.metrics["evaluation_accuracy"] - 0.2
    assert f"the measured accuracy is {case.metrics['evaluation_accuracy']:.3f}" in case.finding
    unlabelled = evaluation.drop(columns="label")
    estimate = run(context(reference, unlabelled), "atc").cases[0]
    assert estimate.severity != SEVERITY_PASS and "down from" in estimate.finding    # without labels it still warns


# ---- if time remains: Benjamini-Hochberg across the Model Performance metric tests ---------------------------------
def _metric_result(key: str, p_value: float, severity: str = SEVERITY_WARNING):
    from stresstests.engine.base import REGISTRY, TestCase, TestResult

    case = TestCase(features=[], severity=severity, metrics={"degradation_p_value": p_value}, importance_score=0.1,
                    finding=f"{key} degraded.", details={"change_severity": severity,
                                                         "absolute_severity": SEVERITY_PASS, "tested": True})
    return TestResult(REGISTRY[key], "completed", cases=[case])


def test_a_lone_metric_degradation_among_many_is_controlled_for_false_discoveries():
    """Precision's p = 0.03 alone among six metric tests: chance (BH needs 0.05 / 6); AUC's p = 0.001 stands."""
    from stresstests.engine.categories.tabular.model_performance import control_false_discoveries

    results = [_metric_result("precision", 0.03), _metric_result("auc", 0.001, SEVERITY_ALERT)]
    results += [_metric_result(key, 0.5, SEVERITY_PASS) for key in ("recall", "f1", "accuracy", "false_positive_rate")]
    control_false_discoveries(results)
    precision, auc = results[0].cases[0], results[1].cases[0]
    assert precision.severity == SEVERITY_PASS and precision.details["severity_before_cap"] == SEVERITY_WARNING
    assert auc.severity == SEVERITY_ALERT


def test_tiny_data_raises_no_model_performance_alert_from_chance():
    """200 rows of two samples of the same problem: no Model Performance Warning or Alert survives."""
    reference, evaluation = scored_frame(200, 1, signal=1.0), scored_frame(200, 2, signal=1.0)
    report = run_stress_test(reference=reference, evaluation=evaluation,
                             config=RunConfig(categories=["model_performance"]),
                             data_params=DataParams(label_col="label", pred_col="preds"), model_task=BINARY)
    raised = [case for category in report["categories"] for test in category["tests"]
              for case in test["test_cases"] if case["severity"] != SEVERITY_PASS]
    assert raised == []


def test_prediction_drift_alone_is_titled_by_its_own_sentence():
    """No drifted feature to join (an unseen-category feature is no longer a 'drift'): not "The Prediction Drift
    changed between reference and evaluation"."""
    sentence = "The model's predictions have drifted (PSI 0.31 >= 0.2): the average prediction moved from 0.2 to 0.3."
    case = _case([], SEVERITY_WARNING, psi=0.31) | {"finding": sentence}
    categories = [_category("TEST_CATEGORY_TYPE_DRIFT", {"prediction_drift": [case]})]
    assert build_key_findings(categories)[0]["title"] == sentence
