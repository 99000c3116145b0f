"""Subset Drift Average Prediction: a segment whose predictions shift (up or down) is found on the right feature and
subset; a uniform shift of every row, and a random half of the reference, pass."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stresstests.engine.vocabulary import MODEL_TASK_REGRESSION, SEVERITY_ALERT, SEVERITY_PASS
from tests.engine.core_helpers import context, failing, random_half, run, scored_frame

N = 4000


def houses(seed: int, *, rome_shift: float = 0.0, all_shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = scored_frame(N, seed=seed).drop(columns=["label", "preds"])
    frame["label"] = 2 * frame["amount"] + rng.normal(0, 10, N)
    frame["preds"] = 2 * frame["amount"] + all_shift + np.where(frame["city"] == "Rome", rome_shift, 0.0)
    return frame


@pytest.mark.parametrize("direction", [1.0, -1.0])
def test_a_segment_whose_predictions_shift_either_way_alerts(direction):
    spread = houses(1)["preds"].std()
    ctx = context(houses(1), houses(2, rome_shift=direction * spread), model_task=MODEL_TASK_REGRESSION)
    result = run(ctx, "subset_drift_average_prediction")
    assert failing(result) == {"city": SEVERITY_ALERT}
    case = next(c for c in result.cases if c.features == ["city"])
    assert case.subset == "city = Rome"
    assert case.metrics["worst_subset_change"] == pytest.approx(1.0, abs=0.15)
    assert "average prediction moved" in case.finding


def test_a_shift_of_every_row_is_not_a_subset_problem():
    spread = houses(1)["preds"].std()
    ctx = context(houses(1), houses(2, all_shift=spread), model_task=MODEL_TASK_REGRESSION)
    result = run(ctx, "subset_drift_average_prediction")
    assert result.severity == SEVERITY_PASS
    assert result.cases[0].metrics["overall_change"] == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize("seed", range(4))
def test_a_random_half_of_the_reference_passes(seed):
    reference = houses(seed)
    ctx = context(reference, random_half(reference, seed), model_task=MODEL_TASK_REGRESSION)
    assert run(ctx, "subset_drift_average_prediction").severity == SEVERITY_PASS
