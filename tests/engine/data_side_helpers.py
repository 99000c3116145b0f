"""Context builders and constructed data shared by the drift, abnormal-input and data-cleanliness tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from stresstests.engine.base import (
    MODEL_TASK_BINARY_CLASSIFICATION,
    SEVERITY_PASS,
    Context,
    Schema,
    TestCase,
)
from stresstests.engine.config import RunConfig
from stresstests.engine.profile import build_profile
import stresstests.engine.tests  # noqa: F401  (importing the package fills the registry)
from stresstests.engine.base import REGISTRY as TEST_REGISTRY

FRAUD = Path("/work/shared/data/fraud")
LABEL, PREDICTION = "label", "preds"


def make_context(reference: pd.DataFrame, evaluation: pd.DataFrame, *, label_col: str | None = LABEL,
                 pred_col: str | None = PREDICTION, model_task: str = MODEL_TASK_BINARY_CLASSIFICATION,
                 features_not_in_model: list[str] | None = None, seed: int = 0) -> Context:
    """A Context as the runner builds it: profile and types from the reference, labels and predictions split off."""
    special = {c for c in (label_col, pred_col) if c}
    features = [c for c in reference.columns if c not in special and c not in (features_not_in_model or [])]
    profile = build_profile(reference.drop(columns=[c for c in special if c in reference.columns]))
    schema = Schema(label_col=label_col, pred_col=pred_col, timestamp_col=None, features=features,
                    features_not_in_model=features_not_in_model or [], feature_types=profile.feature_types())
    return Context(config=RunConfig(), schema=schema, profile=profile, model_task=model_task,
                   reference=reference.reset_index(drop=True), evaluation=evaluation.reset_index(drop=True),
                   reference_labels=_column(reference, label_col), evaluation_labels=_column(evaluation, label_col),
                   reference_predictions=_column(reference, pred_col),
                   evaluation_predictions=_column(evaluation, pred_col), rng=np.random.default_rng(seed))


def _column(frame: pd.DataFrame, name: str | None) -> np.ndarray | None:
    if name is None or name not in frame.columns:
        return None
    return frame[name].to_numpy()


def run_test(key: str, ctx: Context, **param_overrides) -> list[TestCase]:
    """Runs one registered test with its defaults (as the runner would at default sensitivity)."""
    test = TEST_REGISTRY[key]()
    params = {**test.default_params, **param_overrides}
    return test.run(ctx, params, tuple(test.thresholds))


def case_for(cases: list[TestCase], feature: str) -> TestCase:
    matching = [c for c in cases if feature in c.features]
    assert matching, f"no test case for {feature}; cases: {[c.features for c in cases]}"
    return matching[0]


def failing(cases: list[TestCase]) -> dict[str, str]:
    return {"+".join(c.features) or "dataset": c.severity for c in cases if c.severity != SEVERITY_PASS}


def mixed_data(n: int, seed: int) -> pd.DataFrame:
    """Realistic mixed tabular data: skewed and integer numerics, correlated pairs, categories with a rare level,
    nulls, a label that depends on the features and a predictions column from a fixed logistic 'model'."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10, 0.8, n)
    age = rng.integers(18, 90, n).astype(float)
    tenure = np.clip(age - 18 - rng.exponential(10, n), 0, None)
    score = rng.normal(600, 80, n)
    balance = 0.6 * (score - 600) / 80 + rng.normal(0, 0.8, n)
    city = rng.choice(["Rome", "Paris", "Berlin", "London", "Madrid"], n, p=[0.3, 0.25, 0.2, 0.2, 0.05])
    plan = rng.choice(["basic", "plus", "premium", "legacy"], n, p=[0.6, 0.3, 0.097, 0.003])
    channel = np.where(rng.random(n) < 0.1, None, rng.choice(["web", "app", "branch"], n)).astype(object)
    email = np.array([f"user{i}@example.com" for i in rng.integers(0, 10**6, n)], dtype=object)
    logit = (-1 + 0.8 * balance + 0.02 * (age - 50) + 0.5 * (city == "Rome") - 0.4 * (plan == "premium"))
    probability = 1 / (1 + np.exp(-logit))
    label = (rng.random(n) < probability).astype(int)
    prediction = np.clip(probability + rng.normal(0, 0.05, n), 0.001, 0.999)
    frame = pd.DataFrame({"income": income, "age": age, "tenure": tenure, "score": score, "balance": balance,
                          "city": city, "plan": plan, "channel": channel, "email": email,
                          LABEL: label, PREDICTION: prediction})
    frame.loc[rng.random(n) < 0.05, "score"] = np.nan
    return frame


def reference_and_random_half(seed: int, n: int = 6000) -> Context:
    reference = mixed_data(n, seed)
    half = reference.sample(frac=0.5, random_state=seed)
    return make_context(reference, half, seed=seed)


def load_fraud() -> tuple[pd.DataFrame, pd.DataFrame]:
    reference = pd.read_csv(FRAUD / "fraud_ref.csv")
    evaluation = pd.read_csv(FRAUD / "fraud_eval.csv").drop(columns=["timestamp"])
    return reference, evaluation
