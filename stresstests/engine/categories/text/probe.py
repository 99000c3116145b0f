"""Shared machinery of the text tests that perturb inputs (transformations, attacks, bias swaps).

They all take a few evaluation rows, change one text column, score the changed rows in one batched model call and
compare each row's prediction with the clean one on the row's ORIGINAL class (the class the model predicted on the
clean text): a row fails when that class loses at least `prob_change_threshold` (RIME's 0.30) of probability, or
stops being the predicted class while losing at least `min_flip_change` (0.10): a row at 0.505 that moves to 0.495
flips but is no finding. Classification and NLI alike: predictions become an (n, classes) matrix.

Severity accounts for the few rows a test samples: the share of failing rows is compared with the thresholds
through the lower bound of its Wilson 95 % interval, so one flip in five attacked rows is no Warning on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stresstests.engine.vocabulary import (
    MODEL_TASK_BINARY_CLASSIFICATION, MODEL_TASK_MULTICLASS_CLASSIFICATION, MODEL_TASK_NATURAL_LANGUAGE_INFERENCE,
    MODALITY_TEXT, SEVERITY_ALERT, SEVERITY_PASS,
)
from stresstests.engine.base import Context, SkipTest, TestCase, json_safe
from stresstests.engine.severity import severity_for
from stresstests.engine.categories.tabular.fairness import wilson_interval
from stresstests.engine.categories.tabular.model_probe import describe_value, sample_labels, score_variants
from stresstests.engine.categories.text.perturbation import diff_fields

TEXT_TASKS = frozenset({MODEL_TASK_BINARY_CLASSIFICATION, MODEL_TASK_MULTICLASS_CLASSIFICATION,
                        MODEL_TASK_NATURAL_LANGUAGE_INFERENCE})
TEXT_ONLY = frozenset({MODALITY_TEXT})
PROB_CHANGE_THRESHOLD = 0.30     # RIME's threshold on the change of the original class's probability
MIN_FLIP_CHANGE = 0.10           # a flip counts only when the original class loses at least this much
MAX_EXAMPLES = 3


def perturbed_features(ctx: Context) -> list[str]:
    """The text columns a test changes: the hypothesis for NLI (premise then hypothesis), else every text column."""
    features = [f for f in ctx.schema.text_features if f in ctx.evaluation.columns]
    if ctx.model_task == MODEL_TASK_NATURAL_LANGUAGE_INFERENCE and len(features) >= 2:
        return [features[-1]]
    return features


def class_probabilities(predictions: np.ndarray) -> np.ndarray:
    """(n, classes) probabilities from (n,) binary P(class 1) or (n, k) class probabilities."""
    values = np.asarray(predictions, dtype=float)
    if values.ndim == 1:
        return np.column_stack([1.0 - values, values])
    return values


def class_name(ctx: Context, index: int):
    names = ctx.schema.class_names
    return names[index] if names and 0 <= index < len(names) else int(index)


def text_rows(ctx: Context, feature: str, params: dict, *, eligible: np.ndarray | None = None,
              size: int | None = None) -> pd.DataFrame:
    """Up to `sample_size` evaluation rows whose `feature` is a text of at most `max_str_len` characters (and
    `eligible`), drawn with the test's own generator; text columns as plain object strings."""
    column = ctx.evaluation[feature]
    ok = column.map(lambda v: isinstance(v, str) and 0 < len(v) <= int(params.get("max_str_len", 2000))).to_numpy()
    if eligible is not None:
        ok = ok & eligible
    positions = np.flatnonzero(ok)
    if not len(positions):
        raise SkipTest(f"No evaluation row of {feature} holds text the test can change (non-empty, at most "
                       f"{params.get('max_str_len', 2000)} characters{'' if eligible is None else ', matching'}).")
    size = int(size if size is not None else params.get("sample_size", 20))
    if len(positions) > size:
        positions = np.sort(ctx.rng.choice(positions, size=size, replace=False))
    sample = ctx.evaluation.iloc[positions]
    strings = {c: object for c in sample.columns
               if pd.api.types.is_string_dtype(sample[c]) and sample[c].dtype != object}
    return sample.astype(strings) if strings else sample


def with_texts(rows: pd.DataFrame, feature: str, texts: list[str]) -> pd.DataFrame:
    frame = rows.copy()
    frame[feature] = pd.Series(texts, index=rows.index, dtype=object)
    return frame


@dataclass
class Comparison:
    """Clean vs perturbed predictions of the same rows, on each row's original class."""

    clean: np.ndarray           # (n, classes)
    perturbed: np.ndarray       # (n, classes)
    labels: np.ndarray | None
    threshold: float
    min_flip_change: float = MIN_FLIP_CHANGE

    @property
    def original_class(self) -> np.ndarray:
        return self.clean.argmax(axis=1)

    @property
    def perturbed_class(self) -> np.ndarray:
        return self.perturbed.argmax(axis=1)

    @property
    def drop(self) -> np.ndarray:
        """How much probability each row's original class lost (negative: it gained)."""
        index = np.arange(len(self.clean))
        return self.clean[index, self.original_class] - self.perturbed[index, self.original_class]

    @property
    def flipped(self) -> np.ndarray:
        return self.perturbed_class != self.original_class

    @property
    def flipped_clearly(self) -> np.ndarray:
        """Flips that cost the original class at least `min_flip_change` (not 0.505 -> 0.495)."""
        return self.flipped & (self.drop >= self.min_flip_change - 1e-12)

    @property
    def failed(self) -> np.ndarray:
        return self.flipped_clearly | (self.drop >= self.threshold - 1e-12)

    def metrics(self) -> dict:
        drop = self.drop
        result = {"failure_rate": float(self.failed.mean()),
                  "failure_rate_lower_bound": confident_rate(int(self.failed.sum()), len(drop)),
                  "flip_rate": float(self.flipped.mean()),
                  "average_probability_change": float(drop.mean()), "max_probability_change": float(drop.max()),
                  "rows_perturbed": len(drop)}
        if self.labels is not None:
            labels = self.labels.astype(int)
            result["original_accuracy"] = float((self.original_class == labels).mean())
            result["perturbed_accuracy"] = float((self.perturbed_class == labels).mean())
        return json_safe({k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()})


def confident_rate(hits: int, count: int) -> float:
    """The lower bound of the Wilson 95 % interval of hits / count: what the sample shows beyond noise."""
    low, _ = wilson_interval(np.array([hits]), np.array([count]))
    return round(float(low[0]), 4)


def confident_severity(hits: int, count: int, thresholds: tuple[float, float]) -> str:
    return severity_for(confident_rate(hits, count) if count else None, thresholds)


def failing_rows(rows: pd.DataFrame, failed: np.ndarray) -> list:
    """The ids of the sampled rows that failed, for the failing-rows export."""
    return [describe_value(index) for index, bad in zip(rows.index, failed) if bad]


def compare(ctx: Context, rows: pd.DataFrame, perturbed: pd.DataFrame, params: dict) -> Comparison | str:
    """Scores the clean and perturbed rows (one batched model call; clean rows come from the cache); the model's
    error text when it cannot score the perturbed rows."""
    clean, scored = score_variants(ctx, rows, {"perturbed": perturbed})
    if isinstance(scored["perturbed"], str):
        return scored["perturbed"]
    return Comparison(class_probabilities(clean), class_probabilities(scored["perturbed"]),
                      sample_labels(ctx, rows), *thresholds_of(params))


def thresholds_of(params: dict) -> tuple[float, float]:
    """(prob_change_threshold, min_flip_change) of a test's params."""
    return (float(params.get("prob_change_threshold", PROB_CHANGE_THRESHOLD)),
            float(params.get("min_flip_change", MIN_FLIP_CHANGE)))


def text_example(ctx: Context, rows: pd.DataFrame, feature: str, position: int, original: str, perturbed: str,
                 comparison: Comparison, **extra) -> dict:
    """One original / perturbed pair as the results pages show it (a diff) and the exports carry it."""
    cls = int(comparison.original_class[position])
    return json_safe({
        "row": describe_value(rows.index[position]), "feature": feature, "original": original,
        "perturbed": perturbed, "original_class": class_name(ctx, cls),
        "perturbed_class": class_name(ctx, int(comparison.perturbed_class[position])),
        "original_prediction": round(float(comparison.clean[position, cls]), 4),
        "perturbed_prediction": round(float(comparison.perturbed[position, cls]), 4),
        "probability_change": round(float(comparison.drop[position]), 4),
        "failed": bool(comparison.failed[position]), **extra, **diff_fields(original, perturbed),
    })


def strongest(comparison: Comparison, count: int = MAX_EXAMPLES) -> list[int]:
    """Positions of the rows whose original class lost most, failing rows first, then flips."""
    order = np.lexsort((-comparison.drop, ~comparison.flipped, ~comparison.failed))
    return [int(i) for i in order[:count]]


def error_case(feature: str, error: str, action: str, params: dict) -> TestCase:
    ignored = bool(params.get("ignore_errors"))
    return TestCase(features=[feature], severity=SEVERITY_PASS if ignored else SEVERITY_ALERT, importance_score=None,
                    metrics={"error": error, "errors_ignored": ignored},
                    finding="" if ignored else (f"The model raises an error when {feature} is {action} ({error}): a "
                                                "text pipeline should handle such input, not crash."))

