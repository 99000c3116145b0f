"""Mutual Information Drift: a dependence that breaks is found on the right pair with the right severity; the
reference against a random half of itself raises nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stresstests.engine.vocabulary import SEVERITY_ALERT, SEVERITY_PASS
from tests.engine.data_side_helpers import LABEL, failing, make_context, reference_and_random_half, run_test


def coupled(n: int, seed: int, coupled_share: float) -> pd.DataFrame:
    """`copy` follows `driver` in `coupled_share` of rows (else random); `free` is noise; the label follows
    `driver` in `coupled_share` of rows."""
    rng = np.random.default_rng(seed)
    driver = rng.normal(0, 1, n)
    follow = rng.random(n) < coupled_share
    copy = np.where(follow, driver + rng.normal(0, 0.1, n), rng.normal(0, 1, n))
    plan = np.where(rng.random(n) < coupled_share, np.where(driver > 0, "gold", "basic"),
                    rng.choice(["gold", "basic"], n))
    label = np.where(rng.random(n) < coupled_share, (driver > 0).astype(int), rng.integers(0, 2, n))
    return pd.DataFrame({"driver": driver, "copy": copy, "plan": plan, "free": rng.normal(0, 1, n), LABEL: label})


def test_feature_pair_whose_dependence_breaks_alerts_on_that_pair_only():
    ctx = make_context(coupled(3000, 1, 0.95), coupled(3000, 2, 0.95).assign(copy=lambda f: np.random.default_rng(
        5).normal(0, 1, len(f))))
    cases = run_test("mutual_information_feat_drift", ctx)
    assert failing(cases) == {"driver+copy": SEVERITY_ALERT, "copy+plan": SEVERITY_ALERT}
    case = next(c for c in cases if c.features == ["driver", "copy"])
    assert case.metrics["reference_mutual_information"] > 0.5 > case.metrics["evaluation_mutual_information"]
    assert case.metrics["change_lower_bound"] >= 0.2
    assert "driver and copy fell from" in case.finding


def test_feature_to_label_dependence_that_weakens_is_found_on_the_feature():
    ctx = make_context(coupled(3000, 1, 0.95), coupled(3000, 2, 0.3))
    cases = run_test("mutual_information_label_drift", ctx)
    assert failing(cases)["driver"] == SEVERITY_ALERT
    assert "free" not in failing(cases)


def test_unchanged_dependences_pass():
    ctx = make_context(coupled(3000, 1, 0.9), coupled(3000, 2, 0.9))
    assert failing(run_test("mutual_information_feat_drift", ctx)) == {}
    assert failing(run_test("mutual_information_label_drift", ctx)) == {}


@pytest.mark.parametrize("seed", range(4))
def test_reference_against_a_random_half_raises_no_mutual_information_drift(seed):
    ctx = reference_and_random_half(seed)
    # The mixed data's label is only weakly tied to each feature: test every pair with any information.
    for key in ("mutual_information_feat_drift", "mutual_information_label_drift"):
        cases = run_test(key, ctx, min_mutual_information=0.005)
        assert cases and all(c.severity == SEVERITY_PASS for c in cases), (key, failing(cases))


def test_a_shifted_or_rescaled_feature_keeps_its_dependences():
    """Mutual information ignores monotone changes of one column: Feature Drift reports those, not this test."""
    reference, evaluation = coupled(3000, 1, 0.95), coupled(3000, 2, 0.95)
    evaluation["driver"] = evaluation["driver"] * 3 + 2
    ctx = make_context(reference, evaluation)
    assert failing(run_test("mutual_information_feat_drift", ctx)) == {}
    assert failing(run_test("mutual_information_label_drift", ctx)) == {}
