"""Shared machinery for the tests that call the model on rows the engine creates.

Transformations, adversarial attacks and subset sensitivity all do the same thing: take a small sample of clean
evaluation rows, build many perturbed copies of it, score everything in ONE batched model call, and compare each
copy's predictions with the clean ones. Keeping that here means each test module only says how it perturbs.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from stresstests.engine.vocabulary import MODEL_TASK_RANKING, SCORE_TASKS, MULTICLASS_TASKS
from stresstests.engine.base import Context, json_safe
from stresstests.engine.metrics import positive_scores, predicted_labels


def sample_clean_rows(ctx: Context, size: int, *, columns: list[str] | None = None) -> pd.DataFrame:
    """Up to `size` evaluation rows without nulls in `columns` (default: the model features), in row order.

    Falls back to any rows when no row is complete, so a dataset with nulls everywhere is still tested.
    Seeded by the run, not by ctx.rng, and memoised: every test probes the same rows whatever order tests run in,
    and the prediction cache answers the clean rows after the first test.
    """
    columns = list(columns if columns is not None else ctx.schema.features)
    key = ("model_probe.clean_sample", size, tuple(columns))
    if key not in ctx.memo:
        ctx.memo[key] = _clean_sample(ctx, size, columns)
    return ctx.memo[key]


def _clean_sample(ctx: Context, size: int, columns: list[str]) -> pd.DataFrame:
    evaluation = ctx.evaluation
    complete = ~evaluation[columns].isna().any(axis=1).to_numpy() if columns else np.ones(len(evaluation), bool)
    positions = np.flatnonzero(complete) if complete.any() else np.arange(len(evaluation))
    if len(positions) > size:
        rng = np.random.default_rng(ctx.config.random_seed)
        positions = np.sort(rng.choice(positions, size=size, replace=False))
    sample = evaluation.iloc[positions]
    # Arrow-backed strings are slow to copy and rebuild cell by cell; object columns hash the same (cache hits).
    strings = {c: object for c in sample.columns
               if pd.api.types.is_string_dtype(sample[c]) and sample[c].dtype != object}
    return sample.astype(strings) if strings else sample


def sample_labels(ctx: Context, sample: pd.DataFrame) -> np.ndarray | None:
    """The evaluation labels of `sample` (rows of ctx.evaluation), or None when the run has none. None for ranking:
    a sample of rows holds a row or two per query, on which no per-query metric means anything, so probes of a
    ranking model measure how far its scores move (as without labels)."""
    if ctx.evaluation_labels is None or ctx.model_task == MODEL_TASK_RANKING:
        return None
    positions = ctx.evaluation.index.get_indexer(sample.index)
    labels = np.asarray(ctx.evaluation_labels)[positions]
    return None if pd.isna(labels).any() else labels


def score_variants(ctx: Context, base: pd.DataFrame, variants: Mapping[Hashable, pd.DataFrame]
                   ) -> tuple[np.ndarray, dict[Hashable, np.ndarray | str]]:
    """Predictions of `base` and of every variant, from one batched model call.

    Returns (base predictions, {key: predictions or the error text}). If the batched call fails, each variant is
    scored alone so the error is pinned on the variant that caused it; the clean base failing is a real error and
    propagates.
    """
    # The clean rows alone first: in their own dtypes they hit the prediction cache instead of the model. The
    # memoised clean sample is the base of most tests: its predictions are looked up once per run.
    key = ("model_probe.clean_predictions", id(base))
    if ctx.memo.get(key, (None,))[0] is not base:
        ctx.memo[key] = (base, ctx.predict(base))   # `base` kept so that its id is not reused
    clean = ctx.memo[key][1]
    keys = list(variants)
    if not keys:
        return clean, {}
    frames = [variants[key] for key in keys]
    try:
        predictions = ctx.predict_variants(base, frames)
    except Exception:  # noqa: BLE001 - any failure of user code is attributed below
        return clean, _score_one_by_one(ctx, base, variants)
    bounds = np.cumsum([0, *(len(frame) for frame in frames)])
    return clean, {key: predictions[start:stop] for key, start, stop in zip(keys, bounds[:-1], bounds[1:])}


def _score_one_by_one(ctx: Context, base: pd.DataFrame, variants: Mapping[Hashable, pd.DataFrame]
                      ) -> dict[Hashable, np.ndarray | str]:
    scored: dict[Hashable, np.ndarray | str] = {}
    for key, frame in variants.items():
        try:
            scored[key] = ctx.predict_variants(base, [frame])
        except Exception as error:  # noqa: BLE001 - the model's own exception is the finding
            scored[key] = error_text(error)
    return scored


MAX_ERROR_CHARACTERS = 300
_TRACEBACK = "Traceback (most recent call last):"
_SANDBOX_WRAPPER = "ModelOutputError: The model raised an error while predicting: "
_CHAINED = ("During handling of the above exception", "The above exception was the direct cause")


def error_text(error: BaseException | str) -> str:
    """The model's failure as one line a person reads: the error and its message, never a traceback.

    A message that carries a traceback (a dying process's last output, a wrapped exception) keeps the text before
    it and the traceback's final exception line; frames and code lines are dropped, whitespace and newlines collapse.
    """
    text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    text = text.removeprefix(_SANDBOX_WRAPPER)   # the finding already says the model raised an error
    before, marker, trace = text.partition(_TRACEBACK)
    parts = [before]
    if marker:
        # Frames and their code lines are indented; the exception line of a traceback is not.
        outermost = [line for line in trace.splitlines()
                     if line.strip() and not line[0].isspace() and not line.startswith(_CHAINED)]
        parts.append(outermost[-1] if outermost else "")
    sentence = " ".join(" ".join(parts).split())
    return sentence if len(sentence) <= MAX_ERROR_CHARACTERS else sentence[: MAX_ERROR_CHARACTERS - 1] + "…"


def prediction_scale(ctx: Context) -> float:
    """Divisor that makes prediction changes unit-free: 1 for probabilities, the prediction spread for regression."""
    if ctx.model_task not in SCORE_TASKS:
        return 1.0
    for values in (ctx.reference_predictions, ctx.evaluation_predictions, ctx.reference_labels):
        if values is not None:
            spread = float(np.nanstd(np.asarray(values, dtype=float)))
            if spread > 0:
                return spread
    return 1.0


def row_change(ctx: Context, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Per-row size of a prediction change, in [0, 1] for classification and in prediction spreads for regression.

    Multiclass uses the total variation distance between the two probability vectors.
    """
    before, after = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    if ctx.model_task in MULTICLASS_TASKS and before.ndim == 2:
        return 0.5 * np.abs(after - before).sum(axis=1)
    return np.abs(after - before) / prediction_scale(ctx)


def predicted_class(ctx: Context, predictions: np.ndarray) -> np.ndarray | None:
    """The decision a classifier makes (0/1 at 0.5, or the arg-max class); None for regression and ranking."""
    if ctx.model_task in SCORE_TASKS:
        return None
    return predicted_labels(ctx.model_task, predictions)


def prediction_value(predictions: np.ndarray, position: int) -> Any:
    """One row's prediction, JSON-safe (a list of class probabilities for multiclass)."""
    return json_safe(np.round(np.asarray(predictions)[position], 4))


def with_column(frame: pd.DataFrame, column: str, values: Any) -> pd.DataFrame:
    """A copy of `frame` with one column replaced, in the column's own dtype when the values fit it (integers stay
    integers, strings stay strings); values of another type make it an object column."""
    copy = frame.copy(deep=False)   # copy-on-write (pandas 3): replacing a column leaves `frame` as it was
    values = pd.Series(list(values) if np.ndim(values) else [values] * len(copy), index=copy.index)
    copy[column] = _in_original_dtype(values, frame[column])
    return copy


def _in_original_dtype(values: pd.Series, original: pd.Series) -> pd.Series:
    numeric_values = pd.api.types.is_numeric_dtype(values)
    if pd.api.types.is_integer_dtype(original) and numeric_values:
        whole = values.notna().all() and bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))
        # A null in an integer column reads back as float, as it would from a CSV file.
        return values.astype(original.dtype) if whole else values.astype(float)
    if pd.api.types.is_float_dtype(original) and numeric_values:
        return values.astype(original.dtype)
    if pd.api.types.is_string_dtype(original) and pd.api.types.infer_dtype(values, skipna=True) in ("string",
                                                                                                    "empty"):
        return values.astype(original.dtype)
    return values.astype(object)


def describe_value(value: Any) -> Any:
    """A cell value as a user would read it in an example (None for nulls)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return json_safe(value.item() if isinstance(value, np.generic) else value)


# ---- paired comparisons: the same rows scored clean and perturbed ------------------------------------------------
Z_ONE_SIDED_95 = 1.644854


def paired_metric_drop(ctx: Context, labels: np.ndarray, clean: np.ndarray, perturbed: np.ndarray
                       ) -> tuple[float, float, float, float] | None:
    """(clean metric, perturbed metric, drop, standard error of the drop) for the primary metric on the same rows.

    The standard error is paired (DeLong placements for AUC, per-row differences otherwise), so it measures how much
    the drop depends on which rows were sampled. Positive drop = worse. None when the metric is undefined here.
    """
    name = ctx.metric_name()
    if name == "auc":
        return _paired_auc_drop(labels, positive_scores(clean), positive_scores(perturbed))
    if name == "multiclass_accuracy":
        right_clean = (np.asarray(clean).argmax(axis=1) == labels).astype(float)
        right_perturbed = (np.asarray(perturbed).argmax(axis=1) == labels).astype(float)
        return (*(float(right_clean.mean()), float(right_perturbed.mean())),
                *mean_and_error(right_clean - right_perturbed))
    if name == "rmse":
        return _paired_rmse_rise(np.asarray(labels, dtype=float), np.asarray(clean, dtype=float),
                                 np.asarray(perturbed, dtype=float))
    before, after = ctx.score(labels, clean), ctx.score(labels, perturbed)
    if before is None or after is None:
        return None
    return before, after, (before - after) if ctx.higher_is_better() else (after - before), 0.0


def mean_and_error(values: np.ndarray) -> tuple[float, float]:
    if len(values) < 2:
        return float(values.mean()) if len(values) else 0.0, 0.0
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))


def _paired_auc_drop(labels: np.ndarray, clean: np.ndarray, perturbed: np.ndarray
                     ) -> tuple[float, float, float, float] | None:
    positive = np.asarray(labels) == 1
    if positive.sum() < 2 or (~positive).sum() < 2:
        return None

    def placements(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per positive: share of negatives it outranks; per negative: share of positives outranking it (ties 1/2)."""
        pos, neg = np.sort(scores[positive]), np.sort(scores[~positive])
        below = np.searchsorted(neg, scores[positive], "left")
        ties = np.searchsorted(neg, scores[positive], "right") - below
        above = len(pos) - np.searchsorted(pos, scores[~positive], "right")
        ties_neg = np.searchsorted(pos, scores[~positive], "right") - np.searchsorted(pos, scores[~positive], "left")
        return (below + 0.5 * ties) / len(neg), (above + 0.5 * ties_neg) / len(pos)

    clean_pos, clean_neg = placements(clean)
    perturbed_pos, perturbed_neg = placements(perturbed)
    diff_pos, diff_neg = clean_pos - perturbed_pos, clean_neg - perturbed_neg
    variance = diff_pos.var(ddof=1) / len(diff_pos) + diff_neg.var(ddof=1) / len(diff_neg)
    before, after = float(clean_pos.mean()), float(perturbed_pos.mean())
    return before, after, before - after, float(np.sqrt(variance))


def _paired_rmse_rise(labels: np.ndarray, clean: np.ndarray, perturbed: np.ndarray
                      ) -> tuple[float, float, float, float]:
    squared_clean, squared_perturbed = (clean - labels) ** 2, (perturbed - labels) ** 2
    before, after = float(np.sqrt(squared_clean.mean())), float(np.sqrt(squared_perturbed.mean()))
    # Delta method: d rmse = d mse / (2 rmse), applied per row so the pairing is kept.
    contributions = squared_perturbed / (2 * max(after, 1e-12)) - squared_clean / (2 * max(before, 1e-12))
    return before, after, after - before, mean_and_error(contributions)[1]
