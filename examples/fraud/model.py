"""RIME-style model.py for the fraud example: scores rows with the CatBoost model lying next to this file.

Copy this file and `fraud_model.catb` (from shared/data/fraud) into one folder and give the folder or this file as
the model. The platform passes the feature columns only (no label, prediction or timestamp columns).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from catboost import CatBoostClassifier

MODEL_FILE = Path(__file__).parent / "fraud_model.catb"
FEATURES = ["category", "card_type", "card_company", "transaction_amount", "city", "browser_version", "country"]

_model = CatBoostClassifier()
_model.load_model(str(MODEL_FILE))
_CATEGORICAL = [_model.feature_names_[i] for i in _model.get_cat_feature_indices()]


def predict_df(df: pd.DataFrame) -> np.ndarray:
    """Positive-class (fraud) probability per row."""
    rows = df[FEATURES].copy()
    for column in _CATEGORICAL:
        # The model was trained on categorical values as strings with nulls filled by 0.
        rows[column] = rows[column].astype(object).where(rows[column].notna(), 0).astype(str)
    return _model.predict_proba(rows)[:, 1]
