"""The runner and its report: shape, determinism, progress, skips, errors, sampling and model use."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from stresstests.engine.vocabulary import (
    MODEL_TASK_BINARY_CLASSIFICATION, MODEL_TASK_REGRESSION, SEVERITY_PASS, TEST_CATEGORY_TYPE_MODEL_PERFORMANCE,
)
from stresstests.engine.base import REGISTRY, StressTest, register
from stresstests.engine.config import DataParams, RunConfig
from stresstests.engine.runner import run_stress_test
from tests.engine.core_helpers import scored_frame, sigmoid

BINARY = MODEL_TASK_BINARY_CLASSIFICATION
CATEGORIES = ["model_performance", "subset_performance", "subset_performance_degradation"]


def _report(reference, evaluation, *, seed=0, categories=CATEGORIES, model=None, progress=None, **data_params):
    params = {"label_col": "label", "pred_col": "preds"} | data_params
    config = RunConfig(categories=categories, random_seed=seed)
    return run_stress_test(reference=reference, evaluation=evaluation, config=config,
                           data_params=DataParams(**params), model_task=BINARY, model=model, progress=progress)


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in ("duration_s", "seconds")}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


@pytest.fixture(scope="module")
def frames():
    return scored_frame(3000, seed=1), scored_frame(3000, seed=2, signal=1.5, weak_city="Rome")


def test_the_report_has_the_documented_shape(frames):
    report = _report(*frames)
    assert list(report)[0] == "schema_version" and report["schema_version"] == 2
    run = report["run"]
    assert run["model_task"] == BINARY and run["seed"] == 0
    assert run["reference"] == {"rows": 3000, "sampled_rows": 3000, "sampling_rate": 1.0, "streamed": None}
    assert set(run["model_metrics"]["auc"]) == {"reference", "evaluation"}
    assert run["model_metrics"]["auc"]["reference"] > run["model_metrics"]["auc"]["evaluation"]
    assert run["severity_counts"]["alert"] >= 1
    total = sum(len(c["tests"]) for c in report["categories"])
    assert sum(run["severity_counts"].values()) == total == run["summary_counts"]["total"]
    assert report["risk_groups"][0]["risk_group"] == "operational"
    test = report["categories"][0]["tests"][0]
    assert {"test_type", "name", "description", "severity", "thresholds", "duration_s", "failing_features",
            "summary_counts", "test_cases"} <= set(test)
    json.dumps(report, allow_nan=False)      # JSON-safe: no NaN, no numpy types


def test_key_findings_name_the_degradation_and_the_weak_subset(frames):
    findings = _report(*frames)["key_findings"]
    text = " ".join(f"{finding['title']} {finding['detail']}" for finding in findings)
    assert "AUC" in text and "city = Rome" in text
    assert {finding["kind"] for finding in findings} >= {"performance", "subset"}


def test_same_inputs_and_seed_give_the_same_report(frames):
    first, second = _report(*frames, seed=5), _report(*frames, seed=5)
    assert _without_timings(first) == _without_timings(second)


def test_progress_goes_from_zero_to_one_naming_each_test(frames):
    calls: list[tuple[float, str]] = []
    _report(*frames, categories=["model_performance"], progress=lambda f, m: calls.append((f, m)))
    fractions = [f for f, _ in calls]
    assert fractions[0] < 0.05 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert any(m.startswith("Model Performance: AUC (test ") for _, m in calls)


def test_tests_whose_needs_are_unmet_are_skipped_with_the_reason(frames):
    reference, evaluation = frames
    report = _report(reference.drop(columns=["label", "preds"]), evaluation.drop(columns=["label", "preds"]),
                     label_col=None, pred_col=None)
    tests = {t["test_type"]: t for c in report["categories"] for t in c["tests"]}
    assert tests["auc"]["status"] == "skipped" and tests["auc"]["severity"] is None
    assert "needs labels" in tests["auc"]["skip_reason"]
    assert "needs predictions" in tests["avg_confidence"]["skip_reason"]
    assert report["categories"][0]["severity"] is None       # "Not tested"


def test_tests_that_do_not_apply_to_the_task_are_listed_as_skipped_with_the_reason():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=400), "city": rng.choice(["a", "b"], 400)})
    frame["target"] = frame["x"] * 2 + rng.normal(size=400)
    frame["preds"] = frame["x"] * 2
    report = run_stress_test(
        reference=frame, evaluation=frame,
        config=RunConfig(categories=["data_cleanliness", "data_poisoning_detection", "bias_and_fairness"]),
        data_params=DataParams(label_col="target", pred_col="preds", protected_features=["city"]),
        model_task=MODEL_TASK_REGRESSION)
    tests = {t["test_type"]: t for c in report["categories"] for t in c["tests"]}
    for key in ("label_imbalance", "exact_match_label_flipping", "near_match_label_flipping",
                "chi_squared_independence"):
        assert tests[key]["status"] == "skipped", key
        assert tests[key]["skip_reason"].startswith("not applicable to regression models: "), key
    assert "equalized_odds" not in tests     # a binary-classification rate: another task's test, left out
    assert "demographic_parity_avg_pred" in tests


@pytest.fixture
def broken_test():
    @register
    class Broken(StressTest):
        key = "engine_runner_test_broken"
        name = "Broken on purpose"
        category = TEST_CATEGORY_TYPE_MODEL_PERFORMANCE

        def run(self, ctx, params, thresholds):
            raise ZeroDivisionError("planted")

    yield Broken
    REGISTRY.pop(Broken.key)


def test_a_failing_test_is_recorded_as_an_error_and_the_run_goes_on(frames, broken_test):
    report = _report(*frames, categories=["model_performance"])
    tests = {t["test_type"]: t for c in report["categories"] for t in c["tests"]}
    assert tests[broken_test.key]["status"] == "error"
    assert tests[broken_test.key]["error"] == "ZeroDivisionError: planted"
    assert tests["auc"]["status"] == "completed"
    assert report["run"]["severity_counts"]["error"] == 1
    not_run = report["key_findings"][-1]
    assert not_run["kind"] == "not_run" and "Broken on purpose" in not_run["title"]
    assert "ZeroDivisionError: planted" in not_run["detail"]
    with pytest.raises(ZeroDivisionError):
        run_stress_test(reference=frames[0], evaluation=frames[1],
                        config=RunConfig(categories=["model_performance"], explicit_errors=True),
                        data_params=DataParams(label_col="label", pred_col="preds"), model_task=BINARY)


class LinearModel:
    def __init__(self) -> None:
        self.columns: set[str] = set()

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        self.columns |= set(frame.columns)
        return sigmoid((frame["amount"].to_numpy() - 100) / 50)


def test_a_model_scores_both_sets_once_and_never_sees_label_or_timestamp(frames):
    reference, evaluation = frames
    model = LinearModel()
    report = _report(reference.drop(columns=["preds"]), evaluation.drop(columns=["preds"]).assign(ts="2024-01-01"),
                     model=model, pred_col=None, timestamp_col="ts", categories=["model_performance"])
    assert model.columns == {"amount", "age", "city", "member"}
    assert report["run"]["model_calls"]["rows_scored"] == 6000 and report["run"]["inputs"]["model"] is True
    assert report["run"]["model_metrics"]["auc"]["reference"] == pytest.approx(0.5, abs=0.05)


def test_sampling_is_applied_and_reported(frames):
    config = RunConfig(categories=["model_performance"])
    config.sampling.nrows = 1000
    report = run_stress_test(reference=frames[0], evaluation=frames[1], config=config, model_task=BINARY,
                             data_params=DataParams(label_col="label", pred_col="preds"))
    assert report["run"]["evaluation"] == {"rows": 3000, "sampled_rows": 1000, "sampling_rate": pytest.approx(1 / 3),
                                             "streamed": None}


def test_a_clean_evaluation_set_passes_every_category(frames):
    report = _report(frames[0], scored_frame(3000, seed=9))
    assert [c["severity"] for c in report["categories"]] == [SEVERITY_PASS] * 3
    assert report["key_findings"] == []


def test_impact_compares_failing_and_passing_rows_with_labels_or_by_average_prediction(frames):
    from tests.engine.core_helpers import context

    reference, evaluation = frames
    ctx = context(reference, evaluation)
    rome = (ctx.evaluation["city"] == "Rome").to_numpy()
    labelled = ctx.impact(rome)
    assert labelled["metric"] == "auc" and labelled["n_failing"] == rome.sum()
    assert labelled["impact"] == pytest.approx(labelled["passing"] - labelled["failing"]) and labelled["impact"] > 0.1

    unlabelled = context(reference, evaluation.drop(columns=["label"]))
    high = (unlabelled.evaluation["amount"] > 0).to_numpy() & (unlabelled.evaluation_predictions > 0.5)
    by_prediction = unlabelled.impact(high)
    assert by_prediction["metric"] == "average_prediction" and by_prediction["impact"] > 0.3
    assert unlabelled.impact(np.zeros(len(rome), dtype=bool))["impact"] is None
