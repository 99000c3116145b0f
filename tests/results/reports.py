"""Real engine reports for the result pages: a small synthetic run with every category, and the fraud example.

Plain functions (no pytest), so benchmarks/bench_run_page.py can store the same fraud report in the demo database.
"""
from __future__ import annotations


import numpy as np
import pandas as pd

from stresstests.engine.vocabulary import MODEL_TASK_BINARY_CLASSIFICATION
from stresstests.engine.config import DataParams, RunConfig
from stresstests.engine.runner import run_stress_test
from tests.shared_data import FRAUD, require_fraud_data

CITIES = {"Rome": "ITA", "Paris": "FRA", "Berlin": "GER", "London": "GBR"}


class LogisticModel:
    """A fixed model of the synthetic data: fraud is likelier for large amounts and in Rome."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        amount = pd.to_numeric(frame["amount"], errors="coerce").fillna(0).to_numpy(dtype=float)
        rome = (frame["city"].astype(str) == "Rome").to_numpy()
        logit = -2.0 + 0.004 * amount + 1.2 * rome
        return 1 / (1 + np.exp(-logit))


def synthetic_frame(n: int, *, seed: int, amount_shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    city = rng.choice(list(CITIES), n, p=[0.3, 0.3, 0.2, 0.2])
    amount = rng.gamma(2.0, 150.0, n) + amount_shift
    frame = pd.DataFrame({"amount": amount, "city": city, "country": pd.Series(city).map(CITIES).to_numpy(),
                          "channel": rng.choice(["web", "app"], n)})
    probability = LogisticModel().predict(frame)
    frame["label"] = (rng.random(n) < probability).astype(int)
    return frame


def synthetic_report(*, amount_shift: float = 250.0, categories: list[str] | str = "all") -> dict:
    """An engine report on 1,500 + 1,500 rows; the evaluation amounts are shifted so drift and subsets fail (fewer rows
    leave the weak low-amount subset inside its confidence interval, so no subset test would fail)."""
    return run_stress_test(
        reference=synthetic_frame(1500, seed=1, amount_shift=0.0),
        evaluation=synthetic_frame(1500, seed=2, amount_shift=amount_shift),
        config=RunConfig(categories=categories, random_seed=0),
        data_params=DataParams(label_col="label", protected_features=["country"]),
        model_task=MODEL_TASK_BINARY_CLASSIFICATION, model=LogisticModel(),
    )


def fraud_report() -> dict:
    """The public RIME fraud example with every category (CatBoost model, 10k reference and 29k evaluation rows)."""
    from stresstests.engine.models import load_model

    require_fraud_data()
    reference = pd.read_csv(FRAUD / "fraud_ref.csv")
    evaluation = pd.read_csv(FRAUD / "fraud_eval.csv")
    return run_stress_test(
        reference=reference, evaluation=evaluation, config=RunConfig(categories="all", random_seed=0),
        data_params=DataParams(label_col="label", pred_col="preds", timestamp_col="timestamp",
                               protected_features=["country"]),
        model_task=MODEL_TASK_BINARY_CLASSIFICATION,
        model=load_model(FRAUD / "fraud_model.catb", model_task=MODEL_TASK_BINARY_CLASSIFICATION),
    )


class LinearModel:
    """A fixed regression model of the synthetic data: the amount it expects to be refunded."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        amount = pd.to_numeric(frame["amount"], errors="coerce").fillna(0).to_numpy(dtype=float)
        return 0.3 * amount + 20.0 * (frame["city"].astype(str) == "Rome").to_numpy()


def regression_report() -> dict:
    """A regression run on the same synthetic data (label: a noisy refund), every category."""
    frames = []
    for seed, shift in ((1, 0.0), (2, 250.0)):
        frame = synthetic_frame(400, seed=seed, amount_shift=shift).drop(columns="label")
        noise = np.random.default_rng(seed).normal(0, 15, len(frame))
        frame["label"] = LinearModel().predict(frame) + noise
        frames.append(frame)
    return run_stress_test(
        reference=frames[0], evaluation=frames[1], config=RunConfig(categories="all", random_seed=0),
        data_params=DataParams(label_col="label", protected_features=["country"]),
        model_task="MODEL_TASK_REGRESSION", model=LinearModel(),
    )
