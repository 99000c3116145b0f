"""Columns that look like model output: proposed as the prediction column, never tested as features silently.

Method. An evaluation file often carries the model's own scores (`preds`, `score`, `prob_fraud`). Tested as a feature,
such a column drifts with the model, splits into "weak subsets" and shows up in key findings as if it were an input.
A column that has no role (not the label, prediction, timestamp, a protected feature or a feature the user insisted
on with `keep_as_features`) is prediction-like when it is numeric and

- it is named like model output (`pred*`, `prob*`, `score*`, `yhat`, `*_pred`, `*_prob`, `*_proba`, `*_score`,
  `*_prediction(s)`, `output`) and holds probabilities (every value in [0, 1], not only 0 and 1) or, for regression,
  follows the label closely (|Pearson r| >= 0.7); or
- whatever its name, it holds probabilities and ranks a 0/1 label almost like a model would (AUC >= 0.85 either way).

Each such column is left out of the *tested* features with a recorded reason that says how to keep it; the model is
still given it (the model's input is the dataset's columns: a real input such as a prior score must reach the model).
The CLI and the wizard propose it as the prediction column.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from stresstests.engine.vocabulary import MODEL_TASK_REGRESSION

PREDICTION_NAME = re.compile(
    r"^(preds?|predictions?|predicted\w*|prob|probs|proba\w*|probabilit\w*|scores?|yhat|y_hat|y_pred|output)$"
    r"|^(pred|prob|proba|score)_\w+$"
    r"|_(preds?|predictions?|prob|probs|proba|probability|score|output)$",
    re.IGNORECASE,
)
KEEP_CHECKBOX = "Test columns that look like predictions as features"   # label of the wizard checkbox
LABEL_AUC = 0.85
PROPOSAL = ("Name it as the prediction column to use it as the model's predictions, or list it in keep_as_features to "
            "test it as a feature.")
REGRESSION_CORRELATION = 0.7


def prediction_like_columns(frame: pd.DataFrame, *, candidates: list[str], label_col: str | None,
                            model_task: str) -> list[dict]:
    """[{"column", "reason"}] for every candidate column that looks like model output, in frame order."""
    labels = _numeric_labels(frame, label_col)
    found = []
    for column in candidates:
        reason = _reason(frame[column], str(column), labels, model_task)
        if reason:
            found.append({"column": str(column), "reason": reason, "proposal": PROPOSAL})
    return found


def _reason(values: pd.Series, name: str, labels: pd.Series | None, model_task: str) -> str | None:
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return None
    present = values.dropna().astype(float)
    if present.empty:
        return None
    probabilities = bool(present.between(0.0, 1.0).all() and not present.isin((0.0, 1.0)).all())
    named = bool(PREDICTION_NAME.search(name))
    tail = (f"so it is not tested as a feature (the model is still given it). To test it as a feature, run with "
            f"--keep-as-features {name} or tick \"{KEEP_CHECKBOX}\" in the wizard.")
    if named and probabilities:
        return f"Column {name!r} looks like model output (named like a prediction, values between 0 and 1), {tail}"
    if model_task == MODEL_TASK_REGRESSION:
        correlation = _correlation(present, labels)
        if named and correlation is not None and abs(correlation) >= REGRESSION_CORRELATION:
            return (f"Column {name!r} looks like model output (named like a prediction, correlation {correlation:.2f} "
                    f"with the label), {tail}")
        return None
    auc = _auc(present, labels) if probabilities else None
    if auc is not None and max(auc, 1 - auc) >= LABEL_AUC:
        return (f"Column {name!r} looks like model output (values between 0 and 1 that rank the label with AUC "
                f"{max(auc, 1 - auc):.2f}), {tail}")
    return None


def _numeric_labels(frame: pd.DataFrame, label_col: str | None) -> pd.Series | None:
    if not label_col or label_col not in frame.columns:
        return None
    labels = pd.to_numeric(frame[label_col], errors="coerce")
    return labels if labels.notna().any() else None


def _auc(scores: pd.Series, labels: pd.Series | None) -> float | None:
    """Mann-Whitney AUC of `scores` against a 0/1 label (None unless the label is binary with both classes)."""
    if labels is None:
        return None
    both = pd.concat([scores, labels.reindex(scores.index)], axis=1).dropna()
    truth = both.iloc[:, 1]
    if not truth.isin((0, 1)).all() or truth.nunique() < 2:
        return None
    ranks = both.iloc[:, 0].rank().to_numpy()
    positives = truth.to_numpy() == 1
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _correlation(values: pd.Series, labels: pd.Series | None) -> float | None:
    if labels is None:
        return None
    both = pd.concat([values, labels.reindex(values.index)], axis=1).dropna()
    if len(both) < 3 or both.iloc[:, 0].std() == 0 or both.iloc[:, 1].std() == 0:
        return None
    return float(np.corrcoef(both.iloc[:, 0], both.iloc[:, 1])[0, 1])
