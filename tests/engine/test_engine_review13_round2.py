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
from stresstests.engine.vocabulary import MODEL_TASK_BINARY_CLASSIFICATION

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
