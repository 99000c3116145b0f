"""Adversarial: the attack finds the feature a fragile model swings on, respects column types, and passes a smooth
model."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from stresstests.engine.vocabulary import (
    MODEL_TASK_MULTICLASS_CLASSIFICATION, MODEL_TASK_REGRESSION, SEVERITY_ALERT, SEVERITY_PASS,
)
from tests.engine.model_side_helpers import CountingModel, case_for, make_context, run_test, sigmoid, three_classes

NUMERIC = ["x1", "age", "income", "noise"]


def jittery_in_x1(frame: pd.DataFrame) -> np.ndarray:
    """Swings between 0.05 and 0.95 when x1 moves by a few hundredths: a 1 % change of its range flips it."""
    return 0.5 + 0.45 * np.sin(60 * frame["x1"].astype(float))


def smooth(frame: pd.DataFrame) -> np.ndarray:
    return sigmoid(frame["x1"].astype(float))


def test_bounded_single_feature_attack_alerts_on_the_fragile_feature_only():
    model = CountingModel(jittery_in_x1)
    cases = run_test("sensitivity", make_context(model, features=NUMERIC))
    x1 = case_for(cases, "x1")
    assert x1.severity == SEVERITY_ALERT
    assert x1.metrics["flip_rate"] >= 0.5
    assert x1.metrics["worst_prediction_change"] > 0.5
    for ignored in ("income", "noise"):
        assert case_for(cases, ignored).severity == SEVERITY_PASS
        assert case_for(cases, ignored).metrics["worst_prediction_change"] == 0
    assert cases[0].features == ["x1"]          # most-attacked feature first
    assert model.calls == 1                     # every candidate of every feature in one batched call


def test_bounded_attack_passes_a_smooth_model_and_stays_within_the_bound():
    ctx = make_context(CountingModel(smooth), features=NUMERIC)
    x1 = case_for(run_test("sensitivity", ctx), "x1")
    assert x1.severity == SEVERITY_PASS
    allowed = 0.01 * (ctx.profile["x1"].max - ctx.profile["x1"].min) + 1e-9
    for example in x1.examples:
        change = example["changes"]["x1"]
        assert abs(change["after"] - change["before"]) <= allowed


def test_attacks_push_away_from_the_true_label():
    ctx = make_context(CountingModel(smooth), features=NUMERIC)
    x1 = case_for(run_test("sensitivity", ctx), "x1")
    labels = dict(zip(ctx.evaluation.index, ctx.evaluation_labels))
    for example in x1.examples:
        moved = example["prediction_after"] - example["prediction_before"]
        assert moved < 0 if labels[example["row"]] == 1 else moved > 0


def test_integer_features_stay_integers_under_attack():
    model = CountingModel(lambda frame: 0.5 + 0.45 * np.sin(frame["income"].astype(float) / 30))
    ctx = make_context(model, features=NUMERIC)
    cases = run_test("sensitivity", ctx)
    income = case_for(cases, "income")
    assert income.severity == SEVERITY_ALERT
    for example in income.examples:
        after = example["changes"]["income"]["after"]
        assert isinstance(after, int) and after != example["changes"]["income"]["before"]
    # 1 % of age's range (18-89) is less than one year: an integer feature cannot move that little.
    assert "age" not in {f for case in cases for f in case.features}


def test_multi_feature_attack_reports_the_most_attacked_features():
    def two_fragile(frame: pd.DataFrame) -> np.ndarray:
        return sigmoid(30 * np.sin(40 * frame["x1"].astype(float)) + 30 * np.sin(frame["income"] / 30))

    model = CountingModel(two_fragile)
    cases = run_test("multi_feat_sensitivity", make_context(model, features=NUMERIC))
    assert len(cases) == 1
    case = cases[0]
    assert case.severity == SEVERITY_ALERT
    assert set(case.features) <= {"x1", "income"} and case.features
    assert "noise" not in case.metrics["most_attacked_features"]
    assert model.calls <= 2                    # single-feature stage, then the combinations stage
    assert all(len(example["changes"]) <= 3 for example in case.examples)
    json.dumps(case.details)


def test_multi_feature_attack_combines_features_when_each_alone_is_too_weak():
    def needs_both(frame: pd.DataFrame) -> np.ndarray:
        return sigmoid(4 * frame["x1"].astype(float) + frame["income"] / 1000 - 25)

    ctx = make_context(CountingModel(needs_both), features=NUMERIC)
    single = {c.features[0]: c.metrics["average_prediction_change"] for c in run_test("sensitivity", ctx)}
    combined = run_test("multi_feat_sensitivity", ctx)[0]
    assert combined.metrics["average_prediction_change"] > max(single.values())
    assert {"x1", "income"} <= set(combined.features)


def test_unbounded_attack_uses_only_valid_categories():
    def city_decides(frame: pd.DataFrame) -> np.ndarray:
        return np.where(frame["city"] == "Berlin", 0.95, 0.05)

    ctx = make_context(CountingModel(city_decides), features=["x1", "city", "noise"])
    cases = run_test("vulnerability", ctx)
    city = case_for(cases, "city")
    assert city.severity != SEVERITY_PASS and city.metrics["flip_rate"] == 1.0
    for example in city.examples:
        assert example["changes"]["city"]["after"] in {"Rome", "Paris", "Berlin"}
    assert case_for(cases, "noise").severity == SEVERITY_PASS


def test_attacks_work_for_regression_and_multiclass_models():
    steep = CountingModel(lambda frame: 40 * np.sin(30 * frame["x1"].astype(float)))
    regression = run_test("sensitivity", make_context(steep, features=NUMERIC, model_task=MODEL_TASK_REGRESSION))
    assert case_for(regression, "x1").severity == SEVERITY_ALERT
    assert case_for(regression, "x1").metrics["flip_rate"] is None       # no decision to flip in regression
    assert case_for(regression, "noise").severity == SEVERITY_PASS
    multiclass = run_test("vulnerability", make_context(CountingModel(three_classes), features=NUMERIC,
                                                        model_task=MODEL_TASK_MULTICLASS_CLASSIFICATION))
    assert case_for(multiclass, "x1").severity == SEVERITY_ALERT and case_for(multiclass, "x1").metrics["flip_rate"] > 0
    assert case_for(multiclass, "age").severity == SEVERITY_PASS
