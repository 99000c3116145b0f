"""Embedding Drift and Embedding Anomalies: a moved centroid and planted far-away rows are found on the right
embedding with the right severity; random halves of the reference pass; bad embedding config is refused clearly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stresstests.engine.errors import DataLoadError
from stresstests.engine.vocabulary import SEVERITY_ALERT, SEVERITY_PASS, SEVERITY_WARNING
from tests.engine.data_side_helpers import LABEL, PREDICTION, make_context, run_test

DIMS = 8
EMB = [f"e{i}" for i in range(DIMS)]
EMBEDDINGS = [{"name": "user_vector", "cols": EMB}]


def with_embedding(n: int, seed: int, *, shift: float = 0.0, far_share: float = 0.0) -> pd.DataFrame:
    """Embeddings around a fixed direction; `shift` moves the centroid along another axis; `far_share` of rows are
    pushed far out. The label and the prediction follow e0."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(0, 1, (n, DIMS)) + np.r_[2.0, np.zeros(DIMS - 1)]
    vectors[:, 1] += shift
    far = rng.random(n) < far_share
    vectors[far] *= 6
    frame = pd.DataFrame(vectors, columns=EMB)
    frame["plan"] = rng.choice(["basic", "plus"], n)
    frame[LABEL] = (vectors[:, 0] + rng.normal(0, 1, n) > 2).astype(int)
    # The model guesses on the far-out rows: they are where it has no basis.
    frame[PREDICTION] = np.where(far, rng.random(n), 1 / (1 + np.exp(-(vectors[:, 0] - 2))))
    return frame


def context(reference, evaluation, **kwargs):
    return make_context(reference, evaluation, embeddings=EMBEDDINGS, **kwargs)


@pytest.mark.parametrize("shift, expected", [(0.5, SEVERITY_WARNING), (1.5, SEVERITY_ALERT)])
def test_a_moved_centroid_is_embedding_drift(shift, expected):
    [case] = run_test("embedding_drift", context(with_embedding(3000, 1), with_embedding(3000, 2, shift=shift)))
    assert case.severity == expected
    assert case.subset == "user_vector" and case.features == EMB
    assert case.metrics["p_value"] < 0.05
    assert "Embedding user_vector has drifted" in case.finding


def test_far_away_rows_are_embedding_anomalies():
    [case] = run_test("embedding_anomalies", context(with_embedding(3000, 1), with_embedding(3000, 2, far_share=0.06)))
    assert case.severity == SEVERITY_ALERT
    assert case.metrics["failing_rows_share"] > 0.05
    assert "user_vector" in case.finding and "AUC" in case.finding


def test_far_away_rows_the_model_handles_well_are_a_warning():
    evaluation = with_embedding(3000, 2, far_share=0.06)
    far = np.abs(evaluation[EMB].to_numpy()).max(axis=1) > 6
    evaluation.loc[far, PREDICTION] = evaluation.loc[far, LABEL] * 0.98 + 0.01   # perfect on those rows
    [case] = run_test("embedding_anomalies", context(with_embedding(3000, 1), evaluation))
    assert case.severity == SEVERITY_WARNING


@pytest.mark.parametrize("seed", range(4))
def test_a_random_half_of_the_reference_raises_no_embedding_problem(seed):
    reference = with_embedding(4000, seed)
    ctx = context(reference, reference.sample(frac=0.5, random_state=seed))
    for key in ("embedding_drift", "embedding_anomalies"):
        [case] = run_test(key, ctx)
        assert case.severity == SEVERITY_PASS, (key, case.metrics)


def test_without_embeddings_both_tests_are_skipped_with_the_reason():
    from stresstests.engine.base import SkipTest

    frame = with_embedding(500, 1)
    for key in ("embedding_drift", "embedding_anomalies"):
        with pytest.raises(SkipTest, match="data_params.embeddings"):
            run_test(key, make_context(frame, frame))


@pytest.mark.parametrize("embeddings, message", [
    ([{"name": "v", "cols": ["e0", "nope"]}], "nope are not columns"),
    ([{"name": "v", "cols": ["e0", "plan"]}], "plan are not numeric"),
    ([{"name": "v", "cols": ["e0"]}], "at least two columns"),
])
def test_bad_embedding_config_is_refused_with_a_clear_message(embeddings, message):
    frame = with_embedding(200, 1)
    with pytest.raises(DataLoadError, match=message):
        make_context(frame, frame, embeddings=embeddings)
