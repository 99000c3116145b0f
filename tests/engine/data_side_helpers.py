"""Context builders and constructed data shared by the drift, abnormal-input and data-cleanliness tests."""

from __future__ import annotations


import numpy as np
import pandas as pd

from stresstests.engine.vocabulary import MODEL_TASK_BINARY_CLASSIFICATION, SEVERITY_PASS
from stresstests.engine.base import Context, TestCase
from stresstests.engine.config import DataParams, RunConfig
from stresstests.engine.runner import build_context
from tests.engine.model_side_helpers import case_for, run_test
from tests.shared_data import require_fraud_data

__all__ = ["case_for", "run_test", "make_context", "failing", "mixed_data", "reference_and_random_half",
           "load_fraud", "data_only", "LABEL", "PREDICTION"]

LABEL, PREDICTION = "label", "preds"


def make_context(reference: pd.DataFrame, evaluation: pd.DataFrame, *, label_col: str | None = LABEL,
                 pred_col: str | None = PREDICTION, model_task: str = MODEL_TASK_BINARY_CLASSIFICATION,
                 seed: int = 0, model=None, **data_params) -> Context:
    """The runner's own Context (profile, types, encoded labels, predictions from the prediction column)."""
    params = DataParams(label_col=label_col if label_col in reference.columns else None,
                        pred_col=pred_col if pred_col in reference.columns else None, **data_params)
    ctx, _ = build_context(reference=reference, evaluation=evaluation, model_task=model_task,
                           config=RunConfig(random_seed=seed), data_params=params, model=model)
    return ctx


def failing(cases: list[TestCase]) -> dict[str, str]:
    """Severity of every case that did not pass, keyed by its features (or its subset)."""
    return {"+".join(c.features) or c.subset or "dataset": c.severity for c in cases if c.severity != SEVERITY_PASS}


def mixed_data(n: int, seed: int) -> pd.DataFrame:
    """Realistic mixed tabular data: skewed and integer numerics, correlated pairs, categories with a rare level,
    nulls, a label that depends on the features and a predictions column from a fixed logistic 'model'."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10, 0.8, n)
    age = rng.integers(18, 90, n).astype(float)
    tenure = rng.uniform(0, 1, n) * (age - 18)
    score = rng.normal(600, 80, n)
    balance = 0.6 * (score - 600) / 80 + rng.normal(0, 0.8, n)
    city = rng.choice(["Rome", "Paris", "Berlin", "London", "Madrid"], n, p=[0.3, 0.25, 0.2, 0.2, 0.05])
    country = pd.Series(city).map({"Rome": "ITA", "Paris": "FRA", "Berlin": "GER", "London": "GBR",
                                   "Madrid": "ESP"}).to_numpy()
    plan = rng.choice(["basic", "plus", "premium", "legacy"], n, p=[0.6, 0.3, 0.0995, 0.0005])
    channel = np.where(rng.random(n) < 0.1, None, rng.choice(["web", "app", "branch"], n)).astype(object)
    email = np.array([f"user{i}@example.com" for i in rng.integers(0, 10**6, n)], dtype=object)
    logit = (-1 + 0.8 * balance + 0.02 * (age - 50) + 0.5 * (city == "Rome") - 0.4 * (plan == "premium"))
    probability = 1 / (1 + np.exp(-logit))
    label = (rng.random(n) < probability).astype(int)
    prediction = np.clip(probability + rng.normal(0, 0.05, n), 0.001, 0.999)
    frame = pd.DataFrame({"income": income, "age": age, "tenure": tenure, "score": score, "balance": balance,
                          "city": city, "country": country, "plan": plan, "channel": channel, "email": email,
                          LABEL: label, PREDICTION: prediction})
    frame.loc[rng.random(n) < 0.05, "score"] = np.nan
    return frame


def data_only(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame without label and predictions: a run on data alone."""
    return frame.drop(columns=[c for c in (LABEL, PREDICTION) if c in frame.columns])


def reference_and_random_half(seed: int, n: int = 6000) -> Context:
    reference = mixed_data(n, seed)
    half = reference.sample(frac=0.5, random_state=seed)
    return make_context(reference, half, seed=seed)


def load_fraud() -> tuple[pd.DataFrame, pd.DataFrame]:
    fraud = require_fraud_data()
    reference = pd.read_csv(fraud / "fraud_ref.csv")
    evaluation = pd.read_csv(fraud / "fraud_eval.csv").drop(columns=["timestamp"])
    return reference, evaluation
