"""Model impact for the data-side categories, with its sampling noise taken into account.

Two flavours:
- `row_impact(ctx, mask)`: failing vs passing evaluation rows (abnormal inputs). Built on `Context.impact`, plus a
  standard error, so a handful of failing rows cannot raise an Alert through a noisy metric.
- What a drifted distribution costs (drift): the watched metrics (the primary metric and the rates Model Performance
  watches: precision, recall, false positive rate, ...; the average prediction without labels) of the actual
  evaluation set against a counterfactual one in which the feature is back on its reference distribution.
  With a callable model and a numeric feature, `transport_impact`: every evaluation value is replaced by the reference
  value of the same rank and the rows are re-scored (one batched model call for all drifted features); this undoes
  shifts of the whole population, such as a unit change. Otherwise `reweighting_impact`: the evaluation rows are
  reweighted so the feature's bins or categories regain their reference shares (importance weighting, P(y | feature)
  assumed unchanged; needs no model and no resampling). Both are near zero when the feature did not move.

Findings that rest on very few rows (fewer than `min_num_samples`, where no impact can be measured) are capped at
Pass, shown with their sentence but not raised, unless the rows' predictions sit far from every other row's, or
the model classifies them far worse than the rest (exact binomial test; `few_rows_stand_out`): one unseen category in 5,000 rows is a curiosity, not a Warning.

Impact is in metric units, positive = worse. Unbounded metrics (RMSE) are expressed relative to the passing or
reweighted value so one set of thresholds fits every task.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from stresstests.engine.vocabulary import (
    CLASSIFICATION_TASKS, MODEL_TASK_BINARY_CLASSIFICATION, MODEL_TASK_RANKING,
    MODEL_TASK_REGRESSION, MULTICLASS_TASKS, SCORE_TASKS, SEVERITY_ORDER, SEVERITY_PASS,
)
from stresstests.engine.base import Context
from stresstests.engine.metrics import METRICS, grouped_metric, positive_scores, predicted_labels
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
    """Severity of a measured impact judged on its lower confidence bound; None when it was not measured. With
    several watched metrics (drift), the worst of them, and `impact["deciding_metric"]` names it."""
    per_metric = impact.get("per_metric") or {}
    if per_metric:
        severities = {name: severity_for(change["impact"], impact_thresholds(name, params))
                      for name, change in per_metric.items()}
        worst = max(severities, key=lambda name: (SEVERITY_ORDER[severities[name]],
                                                  per_metric[name]["impact"] / impact_thresholds(name, params)[0]))
        impact["deciding_metric"] = worst
        return severities[worst]
    if impact.get("impact") is None:
        return None
    lower_bound = impact.get("impact_lower_bound", impact["impact"])
    return severity_for(lower_bound, impact_thresholds(impact.get("metric"), params))


def row_impact(ctx: Context, mask: np.ndarray, params: dict) -> dict[str, Any]:
    """`Context.impact` of the failing rows, made unit-free for unbounded metrics, with a lower confidence bound."""
    mask = np.asarray(mask, dtype=bool)
    impact, grouped = ctx.impact_detail(mask)
    if impact.get("impact") is None or mask.sum() < min_impact_rows(params):
        impact["impact"] = None
        return impact
    metric = impact["metric"]
    if metric == "average_prediction" and ctx.model_task in MULTICLASS_TASKS:
        impact["impact_lower_bound"] = impact["impact"]   # no simple error for an L1 distance; min rows guards it
        impact["distance"] = "total_variation"            # passing/failing are then the top class shares only
        return impact
    if grouped is None:   # average prediction: its per-group standard errors
        grouped = grouped_metric(metric, ctx.model_task, None, ctx.evaluation_predictions, mask.astype(np.int64), 2)
    error = float(np.sqrt(np.nansum(grouped.standard_errors ** 2)))
    scale = _unit_scale(ctx, metric, impact)
    impact["impact"] = impact["impact"] if metric == "average_prediction" else impact["impact"] / scale
    impact["impact_lower_bound"] = max(0.0, impact["impact"] - CONFIDENCE_Z * error / scale)
    return impact


def _unit_scale(ctx: Context, metric: str, impact: dict) -> float:
    """Divisor that makes an impact unit-free: 1 for bounded metrics and for average prediction (already scaled)."""
    if metric == "average_prediction":
        if ctx.model_task in SCORE_TASKS:
            spread = float(np.std(ctx.reference_predictions if ctx.reference_predictions is not None
                                  else ctx.evaluation_predictions))
            return spread if spread > 0 else 1.0
        return 1.0
    if METRICS[metric].bounded:
        return 1.0
    passing = abs(float(impact.get("passing") or 0.0))
    return passing if passing > 0 else 1.0


# ---- counterfactual evaluation sets (drift) ---------------------------------------------------------------------
def reweighting_impact(ctx: Context, weights: np.ndarray, params: dict) -> dict[str, Any]:
    """The evaluation set as it is vs reweighted so that one column regains its reference distribution."""
    if ctx.evaluation_predictions is None:
        return _empty_counterfactual("reweighting")
    return counterfactual_impact(ctx, ctx.evaluation_predictions, np.asarray(weights, dtype=float), params,
                                 method="reweighting")


def transport_impact(ctx: Context, counterfactual_predictions: np.ndarray, params: dict) -> dict[str, Any]:
    """The evaluation set as it is vs re-scored with one feature mapped back onto its reference distribution."""
    weights = np.ones(len(counterfactual_predictions))
    return counterfactual_impact(ctx, counterfactual_predictions, weights, params, method="quantile_transport")


def transported(evaluation_values: np.ndarray, reference_quantiles: np.ndarray, *, is_integer: bool) -> np.ndarray:
    """Each evaluation value replaced by the reference value of the same rank (optimal transport in 1-D): a drift
    of this feature alone is undone while its order, and so its relation to every other column, is kept."""
    values = np.asarray(evaluation_values, dtype=float)
    present = ~np.isnan(values)
    ranks = (stats.rankdata(values[present]) - 0.5) / max(present.sum(), 1)
    levels = np.linspace(0, 1, len(reference_quantiles))
    mapped = values.copy()
    mapped[present] = np.interp(ranks, levels, reference_quantiles)
    return np.round(mapped) if is_integer else mapped


# The metrics a drift is judged on: the primary metric and the rates the Model Performance tests watch, so a drift
# that moves precision 0.970 -> 0.855 is not reported as "costs 0.006 AUC". Without labels: the average prediction
# (and, for binary models, the share predicted positive).
WATCHED_METRICS: dict[str, tuple[str, ...]] = {
    MODEL_TASK_BINARY_CLASSIFICATION: ("auc", "accuracy", "f1", "precision", "recall", "false_positive_rate",
                                       "false_negative_rate"),
    **dict.fromkeys(MULTICLASS_TASKS, ("multiclass_accuracy", "macro_f1", "macro_precision", "macro_recall")),
    MODEL_TASK_REGRESSION: ("rmse", "mae", "mape"),
    # Ranking: a per-query metric on reweighted rows has no meaning; the shift of the scores is the impact.
    MODEL_TASK_RANKING: ("average_prediction",),
}
WATCHED_WITHOUT_LABELS: dict[str, tuple[str, ...]] = {
    MODEL_TASK_BINARY_CLASSIFICATION: ("average_prediction", "positive_prediction_rate"),
    **dict.fromkeys(MULTICLASS_TASKS, ("average_prediction",)),
    MODEL_TASK_REGRESSION: ("average_prediction",),
    MODEL_TASK_RANKING: ("average_prediction",),
}


def counterfactual_impact(ctx: Context, predictions: np.ndarray, weights: np.ndarray, params: dict, *,
                          method: str) -> dict[str, Any]:
    """Every watched metric (see WATCHED_METRICS) of the actual evaluation set against a counterfactual one (other
    predictions and/or row weights); `per_metric[name]` = {actual, counterfactual, impact}, impact positive = the
    drift made it worse (relative for unbounded metrics). The top-level metric/actual/counterfactual/impact are the
    primary metric's (or the average prediction's without labels)."""
    result = _empty_counterfactual(method)
    actual_predictions = ctx.evaluation_predictions
    if actual_predictions is None or weights.sum() <= 0:
        return result
    effective_rows = float(weights.sum() ** 2 / np.sum(weights ** 2))
    result["effective_rows"] = round(effective_rows, 1)
    if effective_rows < max(min_impact_rows(params), 30):
        return result   # the counterfactual set rests on too few rows to say anything
    labelled = ctx.labelled_share() >= ctx.config.model_profiling.impact_label_threshold
    names = WATCHED_METRICS[ctx.model_task] if labelled else WATCHED_WITHOUT_LABELS[ctx.model_task]
    per_metric = {name: change for name in names
                  if (change := metric_change(ctx, name, predictions, weights)) is not None}
    headline = ctx.metric_name() if labelled and ctx.metric_name() in per_metric else "average_prediction"
    if headline in per_metric:
        result.update(metric=headline, **per_metric[headline])
    result["per_metric"] = per_metric
    return result


def metric_change(ctx: Context, name: str, predictions: np.ndarray, weights: np.ndarray) -> dict[str, float] | None:
    """{actual, counterfactual, impact} of one metric; None when it is undefined on either set."""
    actual = actual_metric(ctx, name)
    labels, keep = _labels_for(ctx, name)
    same_scores = predictions is ctx.evaluation_predictions
    counterfactual = weighted_metric(name, ctx.model_task, labels, np.asarray(predictions)[keep], weights[keep],
                                     levels=_actual_levels(ctx) if name == "auc" and same_scores else None)
    if actual is None or counterfactual is None:
        return None
    if name == "average_prediction":
        return {"actual": actual, "counterfactual": counterfactual,
                "impact": _average_prediction_change(ctx, ctx.evaluation_predictions, predictions, weights)[2]}
    if not METRICS[name].needs_labels:   # without labels a move either way is the news
        return {"actual": actual, "counterfactual": counterfactual, "impact": abs(actual - counterfactual)}
    worse = counterfactual - actual if METRICS[name].higher_is_better else actual - counterfactual
    scale = 1.0 if METRICS[name].bounded else (abs(counterfactual) or 1.0)
    return {"actual": actual, "counterfactual": counterfactual, "impact": worse / scale}


def actual_metric(ctx: Context, name: str) -> float | None:
    """A watched metric on the actual evaluation set, once per run (every drifted feature compares with it)."""
    key = ("data_impact.actual", name)
    if key not in ctx.memo:
        labels, keep = _labels_for(ctx, name)
        ctx.memo[key] = weighted_metric(name, ctx.model_task, labels, np.asarray(ctx.evaluation_predictions)[keep],
                                        np.ones(int(keep.sum())),
                                        levels=_actual_levels(ctx) if name == "auc" else None)
    return ctx.memo[key]


def _labels_for(ctx: Context, name: str) -> tuple[np.ndarray | None, np.ndarray]:
    n = len(ctx.evaluation_predictions)
    if not METRICS[name].needs_labels or ctx.evaluation_labels is None:
        return None, np.ones(n, dtype=bool)
    labels = np.asarray(ctx.evaluation_labels, dtype=float)
    keep = ~np.isnan(labels)
    return labels[keep], keep


def _actual_levels(ctx: Context) -> np.ndarray:
    """The distinct-score ranks of the actual labelled evaluation predictions (what `weighted_auc` groups by)."""
    if "data_impact.levels" not in ctx.memo:
        _, keep = _labels_for(ctx, "auc")
        ctx.memo["data_impact.levels"] = _score_levels(np.asarray(ctx.evaluation_predictions)[keep])
    return ctx.memo["data_impact.levels"]


def _empty_counterfactual(method: str) -> dict[str, Any]:
    return {"metric": None, "actual": None, "counterfactual": None, "impact": None, "effective_rows": None,
            "method": method, "per_metric": {}}


def _average_prediction_change(ctx: Context, actual: np.ndarray, counterfactual: np.ndarray, weights: np.ndarray
                               ) -> tuple[float, float, float]:
    if ctx.model_task in MULTICLASS_TASKS:
        before = np.asarray(actual, dtype=float).mean(axis=0)
        after = np.average(np.asarray(counterfactual, dtype=float), axis=0, weights=weights)
        return float(before.max()), float(after.max()), float(np.abs(before - after).sum() / 2)
    before = float(np.mean(_scores(ctx, actual)))
    after = float(np.average(_scores(ctx, counterfactual), weights=weights))
    change = abs(before - after)
    if ctx.model_task in SCORE_TASKS:
        spread = float(np.std(ctx.reference_predictions if ctx.reference_predictions is not None
                              else _scores(ctx, actual)))
        change = change / spread if spread > 0 else 0.0
    return before, after, change


def _scores(ctx: Context, predictions: np.ndarray) -> np.ndarray:
    if ctx.model_task == MODEL_TASK_BINARY_CLASSIFICATION:
        return positive_scores(predictions)
    return np.asarray(predictions, dtype=float).reshape(-1)


def weighted_metric(metric: str, model_task: str, labels: np.ndarray | None, predictions: np.ndarray,
                    weights: np.ndarray, levels: np.ndarray | None = None) -> float | None:
    """`metric` with row weights (1 everywhere gives the plain metric); None where undefined or not supported."""
    predictions = np.asarray(predictions, dtype=float)
    weights = np.asarray(weights, dtype=float)
    if weights.sum() <= 0:
        return None
    if metric == "auc":
        return weighted_auc(labels, positive_scores(predictions), weights, levels=levels)
    if metric == "average_prediction":
        if model_task in MULTICLASS_TASKS:
            return float(np.average(predictions, axis=0, weights=weights).max())
        values = positive_scores(predictions) if model_task == MODEL_TASK_BINARY_CLASSIFICATION else predictions
        return float(np.average(values.reshape(-1), weights=weights))
    if model_task == MODEL_TASK_REGRESSION:
        return _weighted_regression(metric, labels, predictions.reshape(-1), weights)
    if model_task in MULTICLASS_TASKS:
        return _weighted_multiclass(metric, labels, predictions, weights)
    return _weighted_binary(metric, labels, positive_scores(predictions) >= 0.5, weights)


def _weighted_share(hits: np.ndarray, weights: np.ndarray, mask: np.ndarray | None = None) -> float | None:
    if mask is not None:
        hits, weights = hits[mask], weights[mask]
    total = weights.sum()
    return float(np.sum(weights * hits) / total) if total > 0 else None


def _weighted_binary(metric: str, labels: np.ndarray | None, predicted: np.ndarray, weights: np.ndarray
                     ) -> float | None:
    if metric == "positive_prediction_rate":
        return _weighted_share(predicted, weights)
    actual = np.asarray(labels) == 1
    rules = {"accuracy": (actual == predicted, None), "precision": (actual, predicted), "recall": (predicted, actual),
             "false_positive_rate": (predicted, ~actual), "false_negative_rate": (~predicted, actual)}
    if metric in rules:
        hits, mask = rules[metric]
        return _weighted_share(hits, weights, mask)
    if metric == "f1":
        true_pos = np.sum(weights * (actual & predicted))
        involved = np.sum(weights * (actual | predicted)) + true_pos
        return float(2 * true_pos / involved) if involved > 0 else None
    return None


def _weighted_multiclass(metric: str, labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray
                         ) -> float | None:
    actual, predicted = np.asarray(labels).astype(int), predictions.argmax(axis=1)
    if metric == "multiclass_accuracy":
        return _weighted_share(actual == predicted, weights)
    size = predictions.shape[1]
    true_pos = np.bincount(actual, weights=weights * (actual == predicted), minlength=size)
    n_true = np.bincount(actual, weights=weights, minlength=size)
    n_pred = np.bincount(predicted, weights=weights, minlength=size)
    numerator, denominator = {"macro_precision": (true_pos, n_pred), "macro_recall": (true_pos, n_true),
                              "macro_f1": (2 * true_pos, n_true + n_pred)}.get(metric, (None, None))
    if numerator is None or not (denominator > 0).any():
        return None
    return float(np.mean(numerator[denominator > 0] / denominator[denominator > 0]))


def _weighted_regression(metric: str, labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray
                         ) -> float | None:
    errors = predictions - labels
    if metric == "rmse":
        return float(np.sqrt(np.average(errors ** 2, weights=weights)))
    if metric == "mae":
        return float(np.average(np.abs(errors), weights=weights))
    if metric == "mape":   # weighted MAPE, as in metrics._mape
        target = np.sum(weights * np.abs(labels))
        return float(np.sum(weights * np.abs(errors)) / target) if target > 0 else None
    return None


def _score_levels(predictions: np.ndarray) -> np.ndarray:
    """Per row, the rank of its distinct positive-class score (what `weighted_auc` groups rows by)."""
    return np.unique(positive_scores(np.asarray(predictions, dtype=float)), return_inverse=True)[1]


def weighted_auc(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray, levels: np.ndarray | None = None
                 ) -> float | None:
    """Weighted Mann-Whitney AUC: P(score of a positive > score of a negative) with row weights; ties count half.
    `levels`: the rows' distinct-score ranks (`_score_levels(scores)`) when already known."""
    positive = labels == 1
    group = np.unique(scores, return_inverse=True)[1] if levels is None else levels
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


# A handful of rows "stands out" only when their average prediction is this many standard errors from the rest.
FEW_ROWS_Z = 3.0


def rests_on_few_rows(mask: np.ndarray, params: dict) -> bool:
    """Too few failing rows to measure an impact (but at least one)."""
    count = int(np.asarray(mask, dtype=bool).sum())
    return 0 < count < min_impact_rows(params)


def few_rows_stand_out(ctx: Context, mask: np.ndarray, params: dict) -> bool:
    """Whether a handful of rows visibly hurt: their average prediction differs from the other rows' by at least the
    alert threshold of prediction impact AND by FEW_ROWS_Z standard errors of a mean of that many rows."""
    predictions = ctx.evaluation_predictions
    mask = np.asarray(mask, dtype=bool)
    if predictions is None or not mask.any() or mask.all():
        return False
    values = np.asarray(predictions, dtype=float)
    if ctx.model_task in MULTICLASS_TASKS:
        gap_per_class = np.abs(values[mask].mean(axis=0) - values[~mask].mean(axis=0))
        error = values[~mask].std(axis=0) / np.sqrt(mask.sum())
        gap, z = gap_per_class.sum() / 2, float(np.max(gap_per_class / np.maximum(error, 1e-12)))
    else:
        values = _scores(ctx, values)
        gap = abs(values[mask].mean() - values[~mask].mean())
        z = gap / max(values[~mask].std() / np.sqrt(mask.sum()), 1e-12)
        if ctx.model_task in SCORE_TASKS:
            spread = float(np.std(ctx.reference_predictions if ctx.reference_predictions is not None else values))
            gap = gap / spread if spread > 0 else 0.0
    return bool(gap >= impact_thresholds("average_prediction", {})[1] and z >= FEW_ROWS_Z) or _few_rows_fail(
        ctx, mask)


def _few_rows_fail(ctx: Context, mask: np.ndarray) -> bool:
    """Whether a handful of labelled rows are classified far worse than the others: an accuracy gap of at least the
    alert threshold that the exact binomial test puts beyond FEW_ROWS_Z-sigma noise (ten 50,000-character texts with
    1 right of 10 against 79 % on the rest stand out; 6 right of 10 do not)."""
    labels, predictions = ctx.evaluation_labels, ctx.evaluation_predictions
    if labels is None or predictions is None or ctx.model_task not in CLASSIFICATION_TASKS:
        return False
    labels = np.asarray(labels, dtype=float)
    known = ~np.isnan(labels)
    hits = predicted_labels(ctx.model_task, np.asarray(predictions, dtype=float)) == np.nan_to_num(labels)
    failing, others = mask & known, ~mask & known
    if not failing.any() or not others.any():
        return False
    rate = hits[others].mean()
    gap = rate - hits[failing].mean()
    p_value = stats.binom.cdf(int(hits[failing].sum()), int(failing.sum()), rate)
    return bool(gap >= impact_thresholds("accuracy", {})[1] and p_value <= stats.norm.sf(FEW_ROWS_Z))
