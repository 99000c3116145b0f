"""Multi-Feature Changes and Tabular HopSkipJump: a model a few joint changes can steer, and a model whose decisions
flip under tiny changes, are found; a smooth model with clear margins passes."""

from __future__ import annotations

import numpy as np
import pytest

from stresstests.engine.vocabulary import MODEL_TASK_MULTICLASS_CLASSIFICATION, SEVERITY_ALERT, SEVERITY_PASS
from tests.engine.model_side_helpers import CountingModel, make_context, run_test, sigmoid, three_classes

SMOOTH = CountingModel(lambda frame: sigmoid(0.1 * frame["x1"]))
# Approves only when x1 AND noise are both high: one feature alone cannot change the decision.
BOTH_HIGH = CountingModel(lambda frame: sigmoid(8 * (np.minimum(frame["x1"], frame["noise"]) - 1.0)))
# Decisions alternate every 0.08 of x1 (range about 7): every row is a hair's breadth from a flip.
JITTERY = CountingModel(lambda frame: sigmoid(20 * np.sin(40 * frame["x1"])))


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
    [case] = run_test("tabular_hopskipjump_attack", make_context(JITTERY))
    assert case.severity == SEVERITY_ALERT
    assert case.metrics["attack_success_rate"] >= 0.9
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
    # The boundary of sigmoid(2 x1) is x1 = 0: the attack must get close to each row's true margin |x1| / range.
    assert 0 < case.metrics["median_distance"] < 0.3


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
