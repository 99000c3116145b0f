"""Constructed data with known answers for the engine-core tests (data, runner, model performance, subsets, CLI)."""

from __future__ import annotations

import numpy as np
import pandas as pd

import stresstests.engine.categories  # noqa: F401  (fills the registry)
from stresstests.engine.vocabulary import MODEL_TASK_BINARY_CLASSIFICATION, SEVERITY_PASS
from stresstests.engine.base import Context
from stresstests.engine.config import DataParams, RunConfig
from stresstests.engine.runner import build_context, run_one

CITIES = ["Rome", "Paris", "Berlin", "Madrid", "Vienna"]


def sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values))


def scored_frame(n_rows: int, seed: int, *, weak_city: str | None = None, signal: float = 3.0) -> pd.DataFrame:
    """A binary task whose `preds` track the label well everywhere, except (optionally) in one city where they are
    coin flips: the planted weak subset."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "amount": rng.gamma(2.0, 50.0, n_rows),
        "age": rng.integers(18, 90, n_rows),
        "city": rng.choice(CITIES, n_rows),
        "member": rng.choice(["yes", "no"], n_rows),
    })
    frame["label"] = rng.integers(0, 2, n_rows)
    score = signal * (frame["label"] - 0.5) + rng.normal(0.0, 1.0, n_rows)
    frame["preds"] = sigmoid(score)
    if weak_city is not None:
        weak = frame["city"] == weak_city
        frame.loc[weak, "preds"] = rng.random(int(weak.sum()))
    return frame


def context(reference: pd.DataFrame, evaluation: pd.DataFrame, *, config: RunConfig | None = None,
            model_task: str = MODEL_TASK_BINARY_CLASSIFICATION, model=None, **data_params) -> Context:
    params = {"label_col": "label", "pred_col": "preds"} | data_params
    ctx, _ = build_context(reference=reference, evaluation=evaluation, model_task=model_task,
                           config=config or RunConfig(), data_params=DataParams(**params), model=model)
    return ctx


def run(ctx: Context, key: str):
    from stresstests.engine.base import REGISTRY

    return run_one(ctx, REGISTRY[key])


def failing(result) -> dict[str, str]:
    """feature -> severity of the failing cases of a test result."""
    return {",".join(case.features): case.severity for case in result.cases if case.severity != SEVERITY_PASS}


def random_half(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    return frame.sample(frac=0.5, random_state=seed).reset_index(drop=True)
