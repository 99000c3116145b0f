"""Small synthetic data and models for the wizard's tests: a few hundred rows, quick to test."""
from __future__ import annotations

import io
import json
import pickle

import numpy as np
import pandas as pd

FEATURES = ["age", "income", "city"]
LABEL = "label"
CITIES = ["Rome", "Oslo", "Lima"]

MODEL_PY = '''
import json
from pathlib import Path

import numpy as np

WEIGHTS = json.loads((Path(__file__).parent / "weights.json").read_text())


def predict_df(df):
    score = WEIGHTS["bias"] + WEIGHTS["age"] * df["age"] + WEIGHTS["income"] * df["income"]
    print(f"scored {len(df)} rows")
    return 1.0 / (1.0 + np.exp(-score.to_numpy(dtype=float)))
'''
WEIGHTS = {"bias": -4.0, "age": 0.05, "income": 0.02}
BROKEN_MODEL_PY = "def predict_df(df)\n    return df\n"  # line 1: the colon is missing


def frame(n_rows: int = 300, *, seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n_rows)
    income = rng.normal(50 + shift, 15, n_rows).round(2)
    score = WEIGHTS["bias"] + WEIGHTS["age"] * age + WEIGHTS["income"] * income
    label = (rng.random(n_rows) < 1 / (1 + np.exp(-score))).astype(int)
    return pd.DataFrame({"age": age, "income": income, "city": rng.choice(CITIES, n_rows), LABEL: label})


def csv_bytes(data: pd.DataFrame) -> bytes:
    return data.to_csv(index=False).encode()


def parquet_bytes(data: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    data.to_parquet(buffer, index=False)
    return buffer.getvalue()


def predictions_frame(data: pd.DataFrame) -> pd.DataFrame:
    score = WEIGHTS["bias"] + WEIGHTS["age"] * data["age"] + WEIGHTS["income"] * data["income"]
    return pd.DataFrame({"pred": 1 / (1 + np.exp(-score))})


def predictions_csv(data: pd.DataFrame) -> bytes:
    return predictions_frame(data).to_csv(index=False).encode()


def weights_json() -> bytes:
    return json.dumps(WEIGHTS).encode()


def sklearn_pickle(data: pd.DataFrame) -> bytes:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    model = Pipeline([
        ("columns", ColumnTransformer([("city", OneHotEncoder(handle_unknown="ignore"), ["city"])],
                                      remainder="passthrough")),
        ("classifier", LogisticRegression(max_iter=500)),
    ])
    model.fit(data[FEATURES], data[LABEL])
    return pickle.dumps(model)
