"""Constructed data, toy models and a Context builder for the tests that call the model
(transformations, adversarial, fairness)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

import stresstests.engine.categories  # noqa: F401  (importing the package fills the registry)
from stresstests.engine.vocabulary import (
    MODEL_TASK_BINARY_CLASSIFICATION, MODEL_TASK_MULTICLASS_CLASSIFICATION, MODEL_TASK_REGRESSION, SEVERITY_PASS,
)
from stresstests.engine.base import REGISTRY, Context, Schema, TestCase
from stresstests.engine.config import RunConfig
from stresstests.engine.profile import build_profile

LABEL = "label"
FEATURES = ["x1", "age", "city", "email", "channel", "noise"]


def people(n: int, seed: int) -> pd.DataFrame:
    """Numeric, integer, categorical and string features (`channel` has nulls), a protected `group` and `sex`, a
    proxy `title`, and a label that depends on x1 only."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(0, 1, n)
    sex = rng.choice(["F", "M"], n)
    frame = pd.DataFrame({
        "x1": x1,
        "age": rng.integers(18, 90, n),
        "income": rng.integers(0, 500, n) * 100,
        "city": rng.choice(["Rome", "Paris", "Berlin"], n),
        "email": [f"user{i}@{d}" for i, d in zip(rng.integers(0, 40, n), rng.choice(["corp.com", "mail.com"], n))],
        "channel": np.where(rng.random(n) < 0.1, None, rng.choice(["web", "app", "branch"], n)),
        "noise": rng.normal(0, 1, n),
        "group": rng.choice(["A", "B"], n),
        "sex": sex,
        "title": np.where(sex == "F", "Ms", "Mr"),
    })
    frame[LABEL] = (x1 + rng.normal(0, 0.5, n) > 0).astype(int)
    return frame


def sigmoid(values) -> np.ndarray:
    return 1 / (1 + np.exp(-np.asarray(values, dtype=float)))


def three_classes(frame: pd.DataFrame, sharpness: float = 4.0) -> np.ndarray:
    """Softmax over classes 0, 1, 2 centred on x1 = -1, 0, 1."""
    x1 = frame["x1"].to_numpy(dtype=float)[:, None]
    logits = -sharpness * (x1 - np.array([-1.0, 0.0, 1.0])[None, :]) ** 2
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    return weights / weights.sum(axis=1, keepdims=True)


class CountingModel:
    """A plain model object wrapping `function(frame) -> probabilities`; counts calls and rows scored."""

    def __init__(self, function: Callable[[pd.DataFrame], np.ndarray]) -> None:
        self.function, self.calls, self.rows = function, 0, 0

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        self.calls += 1
        self.rows += len(frame)
        return np.asarray(self.function(frame), dtype=float)


def make_context(model: CountingModel | None, *, features: list[str] | None = None,
                 protected: list[str] | None = None, labels: bool = True, n: int = 2000,
                 evaluation: pd.DataFrame | None = None, predictions: np.ndarray | None = None,
                 model_task: str = MODEL_TASK_BINARY_CLASSIFICATION, reference: pd.DataFrame | None = None
                 ) -> Context:
    """A Context as the runner builds it: profile from the reference, labels split off, predictions from the model.

    Regression labels are 3 * x1 plus noise; multiclass labels are x1 cut at -0.5 and 0.5 (classes 0, 1, 2)."""
    features = features or FEATURES
    reference = _labelled(reference if reference is not None else people(n, seed=1), model_task)
    evaluation = _labelled(evaluation if evaluation is not None else people(n, seed=2), model_task)
    profile = build_profile(reference.drop(columns=[LABEL]))
    schema = Schema(label_col=LABEL if labels else None, pred_col=None, timestamp_col=None, features=features,
                    protected_features=protected or [],
                    features_not_in_model=[c for c in ("group", "sex", "title") if c not in features],
                    feature_types=profile.feature_types())
    ctx = Context(config=RunConfig(), schema=schema, profile=profile, model_task=model_task,
                  reference=reference, evaluation=evaluation,
                  reference_labels=reference[LABEL].to_numpy() if labels else None,
                  evaluation_labels=evaluation[LABEL].to_numpy() if labels else None, model=model,
                  rng=np.random.default_rng(0))
    if model is not None:
        ctx.reference_predictions = ctx.predict(reference)
        ctx.evaluation_predictions = ctx.predict(evaluation)
        model.calls = model.rows = 0
    if predictions is not None:
        ctx.evaluation_predictions = predictions
    return ctx


def _labelled(frame: pd.DataFrame, model_task: str) -> pd.DataFrame:
    if model_task == MODEL_TASK_REGRESSION:
        frame[LABEL] = 3 * frame["x1"] + np.random.default_rng(3).normal(0, 0.3, len(frame))
    elif model_task == MODEL_TASK_MULTICLASS_CLASSIFICATION:
        frame[LABEL] = np.digitize(frame["x1"], [-0.5, 0.5])
    return frame


def run_test(key: str, ctx: Context, **param_overrides) -> list[TestCase]:
    """Runs one registered test with its defaults, as the runner does at default sensitivity."""
    test = REGISTRY[key]()
    return test.run(ctx, {**test.default_params, **param_overrides}, tuple(test.thresholds))


def case_for(cases: list[TestCase], feature: str) -> TestCase:
    matching = [c for c in cases if feature in c.features]
    assert matching, f"no test case for {feature}; cases: {[c.features for c in cases]}"
    return matching[0]


def failing_features(cases: list[TestCase]) -> set[str]:
    return {f for c in cases if c.severity != SEVERITY_PASS for f in c.features}
