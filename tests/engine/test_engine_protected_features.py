"""Protected Feature Drift, Feature Independence and Predict Protected Features: planted problems are found on the
right protected feature with the right severity; fair data and models, and random halves of the reference, pass."""

from __future__ import annotations

import numpy as np
import pytest

from stresstests.engine.vocabulary import SEVERITY_ALERT, SEVERITY_PASS, SEVERITY_WARNING
from tests.engine.model_side_helpers import CountingModel, case_for, make_context, people, run_test, sigmoid

FAIR = CountingModel(lambda frame: sigmoid(2 * frame["x1"]))


def biased_against(group: str, shift: float = 3.0) -> CountingModel:
    return CountingModel(lambda frame: sigmoid(2 * frame["x1"] - shift * (frame["group"] == group)))


def mostly_women(n: int = 2000, share: float = 0.9):
    frame = people(n, seed=2)
    frame["sex"] = np.where(np.random.default_rng(9).random(n) < share, "F", "M")
    frame["title"] = np.where(frame["sex"] == "F", "Ms", "Mr")
    return frame


# ---- protected feature drift ---------------------------------------------------------------------------------------
def test_protected_feature_drift_alerts_on_the_shifted_protected_feature_only():
    ctx = make_context(None, protected=["sex", "group"], evaluation=mostly_women())
    cases = run_test("protected_feature_drift", ctx)
    assert [c.features for c in cases] == [["sex"], ["group"]]    # protected features only, not the proxy `title`
    assert case_for(cases, "sex").severity == SEVERITY_ALERT     # no predictions: PSI alone decides
    assert case_for(cases, "sex").metrics["psi"] >= 0.6
    assert case_for(cases, "group").severity == SEVERITY_PASS


def test_protected_feature_drift_after_feature_drift_still_tests_protected_features_only():
    # Both tests share a run's memo; Feature Drift's assessment of every feature must not be reused here.
    ctx = make_context(None, protected=["sex", "group"], evaluation=mostly_women())
    assert len(run_test("feature_drift", ctx)) > 2
    assert [c.features for c in run_test("protected_feature_drift", ctx)] == [["sex"], ["group"]]


def test_protected_feature_drift_that_costs_a_fair_model_nothing_is_a_warning():
    ctx = make_context(FAIR, protected=["sex"], evaluation=mostly_women())
    case = case_for(run_test("protected_feature_drift", ctx), "sex")
    assert case.severity == SEVERITY_WARNING
    assert "sex has drifted" in case.finding


def test_protected_feature_drift_passes_without_a_shift():
    ctx = make_context(FAIR, protected=["sex", "group"])
    assert {c.severity for c in run_test("protected_feature_drift", ctx)} == {SEVERITY_PASS}


# ---- feature independence ------------------------------------------------------------------------------------------
def test_feature_independence_alerts_when_decisions_depend_on_the_group():
    ctx = make_context(biased_against("B"), features=["x1", "group"], protected=["group", "sex"])
    cases = run_test("chi_squared_independence", ctx)
    assert case_for(cases, "group").severity == SEVERITY_ALERT
    assert case_for(cases, "group").metrics["p_value"] < 1e-6
    assert case_for(cases, "sex").severity == SEVERITY_PASS
    shares = {g["subset"]: g["predicted_1_share"] for g in case_for(cases, "group").details["groups"]}
    assert shares["group = A"] > shares["group = B"] + 0.2


@pytest.mark.parametrize("seed", range(4))
def test_feature_independence_passes_a_fair_model_on_random_halves(seed):
    ctx = make_context(FAIR, features=["x1", "group"], protected=["group", "sex"], n=4000,
                       evaluation=people(4000, seed=1).sample(frac=0.5, random_state=seed))
    assert {c.severity for c in run_test("chi_squared_independence", ctx)} == {SEVERITY_PASS}


# ---- predict protected features ------------------------------------------------------------------------------------
def test_a_protected_feature_revealed_by_a_proxy_alerts():
    ctx = make_context(FAIR, protected=["sex", "group"])     # `title` (Mr/Ms) is among the other features
    cases = run_test("predict_protected_features", ctx)
    sex = case_for(cases, "sex")
    assert sex.severity == SEVERITY_ALERT
    assert sex.metrics["accuracy"] > 0.95 and sex.metrics["skill_lower_bound"] >= 0.6
    assert "predict sex" in sex.finding
    assert case_for(cases, "group").severity == SEVERITY_PASS


@pytest.mark.parametrize("seed", range(3))
def test_protected_features_nothing_reveals_pass(seed):
    evaluation = people(4000, seed=1).sample(frac=0.5, random_state=seed).drop(columns=["title"])
    ctx = make_context(FAIR, protected=["sex", "group"], evaluation=evaluation, n=4000)
    ctx.reference = ctx.reference.drop(columns=["title"])
    ctx.schema.features_not_in_model.remove("title")
    assert {c.severity for c in run_test("predict_protected_features", ctx)} == {SEVERITY_PASS}
