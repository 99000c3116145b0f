"""Multi-Feature Changes and Tabular HopSkipJump: a model a few joint changes can steer, and a model whose decisions
flip under tiny changes, are found; a smooth model with clear margins passes."""

from __future__ import annotations

import numpy as np
import pytest

from stresstests.engine.vocabulary import (
    MODEL_TASK_MULTICLASS_CLASSIFICATION, SEVERITY_ALERT, SEVERITY_PASS, SEVERITY_WARNING,
)
from tests.engine.model_side_helpers import CountingModel, make_context, people, run_test, sigmoid, three_classes

SMOOTH = CountingModel(lambda frame: sigmoid(0.1 * frame["x1"]))
# Approves only when x1 AND noise are both high: one feature alone cannot change the decision.
BOTH_HIGH = CountingModel(lambda frame: sigmoid(8 * (np.minimum(frame["x1"], frame["noise"]) - 1.0)))
# Decisions alternate every 0.03 of x1 (5 %-95 % spread about 3.3): every row is a hair's breadth from a flip.
JITTERY = CountingModel(lambda frame: sigmoid(20 * np.sin(100 * frame["x1"])))


def test_multi_feature_changes_find_the_joint_change_single_features_cannot_make():
    ctx = make_context(BOTH_HIGH, labels=False)   # the attacker pushes away from the model's own (reject) decision
    [case] = run_test("multi_feat_vulnerability", ctx)
    assert case.severity == SEVERITY_ALERT
    assert set(case.metrics["most_attacked_features"].split(", ")[:2]) == {"x1", "noise"}
    assert case.metrics["flip_rate"] >= 0.5
    assert max(c.metrics["average_prediction_change"] for c in run_test("vulnerability", ctx)) < \
        case.metrics["average_prediction_change"] / 2


def test_multi_feature_changes_pass_a_smooth_model():
    [case] = run_test("multi_feat_vulnerability", make_context(SMOOTH))
    assert case.severity == SEVERITY_PASS


def test_hopskipjump_flips_a_jittery_model_with_tiny_changes():
    [case] = run_test("tabular_hopskipjump_attack", make_context(JITTERY), sample_size=20)
    assert case.severity == SEVERITY_ALERT
    assert case.metrics["attack_success_rate"] >= 0.8
    assert case.metrics["median_distance"] <= 0.01
    example = case.examples[0]
    assert "x1" in example["changes"] and example["distance"] <= 0.01
    assert "flips the decision" in case.finding


@pytest.mark.parametrize("model_task, model", [
    ("MODEL_TASK_BINARY_CLASSIFICATION", CountingModel(lambda frame: sigmoid(2 * frame["x1"]))),
    (MODEL_TASK_MULTICLASS_CLASSIFICATION, CountingModel(lambda frame: three_classes(frame, sharpness=1.0))),
])
def test_hopskipjump_passes_a_model_with_clear_margins_and_measures_its_distance(model_task, model):
    ctx = make_context(model, model_task=model_task)
    [case] = run_test("tabular_hopskipjump_attack", ctx, sample_size=20)
    assert case.severity == SEVERITY_PASS
    assert case.metrics["rows_without_adversarial_point"] == 0
    # The boundary of sigmoid(2 x1) is x1 = 0: the attack must get close to each row's true margin |x1| / spread
    # (5 %-95 % range, about 3.3; the median |x1| is 0.67, so about 0.2).
    assert 0 < case.metrics["median_distance"] < 0.45


def test_hopskipjump_budget_follows_the_bulk_of_a_skewed_feature_not_its_extremes():
    # A few huge values stretch x1's range 300-fold: 1 % of the range would be 3 units, more than most rows' margin
    # to the boundary at x1 = 0, and every attacked row would "flip". In units of the 5 %-95 % spread it is 0.033.
    reference = people(2000, seed=1)
    reference.loc[:4, "x1"] = 1000.0
    model = CountingModel(lambda frame: sigmoid(2 * frame["x1"]))
    [case] = run_test("tabular_hopskipjump_attack", make_context(model, reference=reference), sample_size=20)
    assert case.severity == SEVERITY_PASS
    assert case.metrics["attack_success_rate"] < 0.2
    assert case.metrics["median_distance"] > 0.05


def test_hopskipjump_severity_rests_on_a_confidence_bound_of_the_success_rate():
    # A model whose boundary runs through the bulk: some of ten attacked rows flip within the budget by luck of the
    # sample; the share's Wilson lower bound, not the share, decides.
    model = CountingModel(lambda frame: sigmoid(2 * (frame["x1"] % 0.5 - 0.25) * 40))
    [case] = run_test("tabular_hopskipjump_attack", make_context(model), sample_size=10)
    low = case.metrics["attack_success_rate_lower_bound"]
    assert low < case.metrics["attack_success_rate"]
    assert case.severity == (SEVERITY_ALERT if low >= 0.5 else SEVERITY_WARNING if low >= 0.2 else SEVERITY_PASS)


def test_the_tests_rime_runs_only_on_request_are_off_unless_configured():
    """RIME's `run: false`: in an "all categories" run they are left out; individual_tests_config turns them on."""
    from stresstests.engine.config import RunConfig
    from stresstests.engine.runner import selected_tests

    off = {"multi_feat_vulnerability", "tabular_hopskipjump_attack", "predict_protected_features"}
    ctx = make_context(SMOOTH, protected=["group"])
    ctx.config = RunConfig.from_dict({"categories": ["all"]})
    assert off.isdisjoint(t.key for t in selected_tests(ctx))
    ctx.config = RunConfig.from_dict({"categories": ["all"], "individual_tests_config": {
        key: {"run": True} for key in off}})
    assert off <= {t.key for t in selected_tests(ctx)}
