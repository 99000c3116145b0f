"""Model impact for the data-side categories, with its sampling noise taken into account.

Two flavours:
- `row_impact(ctx, mask)`: failing vs passing evaluation rows (abnormal inputs). Built on `Context.impact`, plus a
  standard error, so a handful of failing rows cannot raise an Alert through a noisy metric.
- `reweighting_impact(ctx, weights)`: what a drifted distribution costs (drift). The evaluation rows are reweighted
  so that one feature's distribution matches the reference (importance weighting, P(y | feature) assumed unchanged);
  the impact is the primary metric (or average prediction without labels) on the reweighted rows minus its actual
  value. It needs no model call and no resampling, and it is near zero when the feature did not move.

Impact is in metric units, positive = worse. Unbounded metrics (RMSE) are expressed relative to the passing or
reweighted value so one set of thresholds fits every task.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stresstests.engine.base import (
    MODEL_TASK_BINARY_CLASSIFICATION,
    MODEL_TASK_MULTICLASS_CLASSIFICATION,
    MODEL_TASK_REGRESSION,
    SEVERITY_PASS,
    Context,
)
from stresstests.engine.metrics import METRICS, grouped_metric, positive_scores
from stresstests.engine.severity import severity_for

# [warning, alert] on the impact; overridable per test through performance_change_config.performance_thresholds.
PERFORMANCE_IMPACT_THRESHOLDS = (0.02, 0.05)      # absolute drop of AUC / accuracy
RELATIVE_IMPACT_THRESHOLDS = (0.05, 0.10)         # relative worsening of RMSE
PREDICTION_IMPACT_THRESHOLDS = (0.05, 0.15)       # change of average prediction (probability, or std units)
# One-sided 95 % lower confidence bound: impact is judged on what the data can vouch for, not on a noisy point value.
CONFIDENCE_Z = 1.645


def default_performance_change_config() -> dict[str, Any]:
    return {"performance_thresholds": None, "min_num_samples": 20}


def impact_thresholds(metric: str | None, params: dict) -> tuple[float, float]:
    configured = (params.get("performance_change_config") or {}).get("performance_thresholds")
    if configured is not None:
        return (float(configured[0]), float(configured[1]))
    if metric in (None, "average_prediction"):
        return PREDICTION_IMPACT_THRESHOLDS
    return PERFORMANCE_IMPACT_THRESHOLDS if METRICS[metric].bounded else RELATIVE_IMPACT_THRESHOLDS


def min_impact_rows(params: dict) -> int:
    return int((params.get("performance_change_config") or {}).get("min_num_samples") or 1)


def impact_severity(impact: dict, params: dict) -> str | None:
    """Severity of a measured impact judged on its lower confidence bound; None when it was not measured."""
    if impact.get("impact") is None:
        return None
    lower_bound = impact.get("impact_lower_bound", impact["impact"])
    return severity_for(lower_bound, impact_thresholds(impact.get("metric"), params))


def row_impact(ctx: Context, mask: np.ndarray, params: dict) -> dict[str, Any]:
    """`Context.impact` of the failing rows, made unit-free for unbounded metrics, with a lower confidence bound."""
    mask = np.asarray(mask, dtype=bool)
    impact = ctx.impact(mask)
    if impact.get("impact") is None or mask.sum() < min_impact_rows(params):
        impact["impact"] = None
        return impact
    metric = impact["metric"]
    codes = mask.astype(np.int64)
    labels = ctx.evaluation_labels if metric != "average_prediction" else None
    if metric == "average_prediction" and ctx.model_task == MODEL_TASK_MULTICLASS_CLASSIFICATION:
        impact["impact_lower_bound"] = impact["impact"]   # no simple error for an L1 distance; min rows guards it
        return impact
    grouped = grouped_metric(metric, ctx.model_task, labels, ctx.evaluation_predictions, codes, 2)
    error = float(np.sqrt(np.nansum(grouped.standard_errors ** 2)))
    scale = _unit_scale(ctx, metric, impact)
    impact["impact"] = impact["impact"] if metric == "average_prediction" else impact["impact"] / scale
    impact["impact_lower_bound"] = max(0.0, impact["impact"] - CONFIDENCE_Z * error / scale)
    return impact


def _unit_scale(ctx: Context, metric: str, impact: dict) -> float:
    """Divisor that makes an impact unit-free: 1 for bounded metrics and for average prediction (already scaled)."""
    if metric == "average_prediction":
        if ctx.model_task == MODEL_TASK_REGRESSION:
            spread = float(np.std(ctx.reference_predictions if ctx.reference_predictions is not None
                                  else ctx.evaluation_predictions))
            return spread if spread > 0 else 1.0
        return 1.0
    if METRICS[metric].bounded:
        return 1.0
    passing = abs(float(impact.get("passing") or 0.0))
    return passing if passing > 0 else 1.0


# ---- reweighting (drift) -----------------------------------------------------------------------------------------
def reweighting_impact(ctx: Context, weights: np.ndarray, params: dict) -> dict[str, Any]:
    """Primary metric (or average prediction) of the evaluation set as it is vs reweighted to the reference."""
    result: dict[str, Any] = {"metric": None, "actual": None, "reweighted": None, "impact": None,
                              "effective_rows": None}
    predictions = ctx.evaluation_predictions
    weights = np.asarray(weights, dtype=float)
    if predictions is None or weights.sum() <= 0:
        return result
    effective_rows = float(weights.sum() ** 2 / np.sum(weights ** 2))
    result["effective_rows"] = round(effective_rows, 1)
    if effective_rows < max(min_impact_rows(params), 30):
        return result   # the reweighted set rests on too few rows to say anything
    if ctx.labelled_share() >= ctx.config.model_profiling.impact_label_threshold:
        labels = np.asarray(ctx.evaluation_labels, dtype=float)
        labelled = ~np.isnan(labels)
        metric = ctx.metric_name()
        actual = _weighted_metric(metric, ctx.model_task, labels[labelled], predictions[labelled],
                                  np.ones(labelled.sum()))
        reweighted = _weighted_metric(metric, ctx.model_task, labels[labelled], predictions[labelled],
                                      weights[labelled])
        if actual is not None and reweighted is not None:
            worse = reweighted - actual if ctx.higher_is_better() else actual - reweighted
            scale = 1.0 if METRICS[metric].bounded else (abs(reweighted) or 1.0)
            result.update(metric=metric, actual=actual, reweighted=reweighted, impact=worse / scale)
            return result
    actual_mean, reweighted_mean, change = _average_prediction_change(ctx, predictions, weights)
    result.update(metric="average_prediction", actual=actual_mean, reweighted=reweighted_mean, impact=change)
    return result


def _average_prediction_change(ctx: Context, predictions: np.ndarray, weights: np.ndarray
                               ) -> tuple[float, float, float]:
    if ctx.model_task == MODEL_TASK_MULTICLASS_CLASSIFICATION:
        values = np.asarray(predictions, dtype=float)
        actual, reweighted = values.mean(axis=0), np.average(values, axis=0, weights=weights)
        return float(actual.max()), float(reweighted.max()), float(np.abs(actual - reweighted).sum() / 2)
    values = positive_scores(predictions) if ctx.model_task == MODEL_TASK_BINARY_CLASSIFICATION else np.asarray(
        predictions, dtype=float)
    actual, reweighted = float(values.mean()), float(np.average(values, weights=weights))
    change = abs(actual - reweighted)
    if ctx.model_task == MODEL_TASK_REGRESSION:
        spread = float(np.std(ctx.reference_predictions if ctx.reference_predictions is not None else values))
        change = change / spread if spread > 0 else 0.0
    return actual, reweighted, change


def _weighted_metric(metric: str, model_task: str, labels: np.ndarray, predictions: np.ndarray,
                     weights: np.ndarray) -> float | None:
    predictions = np.asarray(predictions, dtype=float)
    if weights.sum() <= 0:
        return None
    if metric == "auc":
        return weighted_auc(labels, positive_scores(predictions), weights)
    if metric == "multiclass_accuracy":
        return float(np.average(predictions.argmax(axis=1) == labels.astype(int), weights=weights))
    if metric == "accuracy":
        hits = (positive_scores(predictions) >= 0.5).astype(int) == labels.astype(int)
        return float(np.average(hits, weights=weights))
    if metric == "rmse":
        return float(np.sqrt(np.average((predictions.reshape(len(labels)) - labels) ** 2, weights=weights)))
    return None


def weighted_auc(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> float | None:
    """Weighted Mann-Whitney AUC: P(score of a positive > score of a negative) with row weights; ties count half."""
    positive = labels == 1
    _, group = np.unique(scores, return_inverse=True)
    n_groups = int(group.max()) + 1 if group.size else 0
    positive_weight = np.bincount(group, weights=np.where(positive, weights, 0.0), minlength=n_groups)
    negative_weight = np.bincount(group, weights=np.where(positive, 0.0, weights), minlength=n_groups)
    total_positive, total_negative = positive_weight.sum(), negative_weight.sum()
    if total_positive <= 0 or total_negative <= 0:
        return None
    negatives_below = np.cumsum(negative_weight) - negative_weight
    wins = np.sum(positive_weight * (negatives_below + 0.5 * negative_weight))
    return float(wins / (total_positive * total_negative))


def evidence_and_impact(evidence_severity: str, impact: dict, params: dict) -> str:
    """Combined severity; no evidence means Pass whatever the impact (impact alone would be noise-chasing)."""
    from stresstests.engine.severity import combine

    if evidence_severity == SEVERITY_PASS:
        return SEVERITY_PASS
    return combine(evidence_severity, impact_severity(impact, params))
