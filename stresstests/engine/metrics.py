"""Task metrics, vectorised so that one call computes a metric for many row groups (subsets) at once.

Every metric is computed by `grouped_metric(name, task, labels, predictions, codes, n_groups)`, which returns the value
and an approximate standard error per group (NaN where undefined, e.g. AUC of a group with one class). The overall
value is the one-group case. Binary predictions are positive-class probabilities, rounded at 0.5 for label metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stresstests.engine.vocabulary import (
    MODEL_TASK_BINARY_CLASSIFICATION, MODEL_TASK_RANKING,
    MODEL_TASK_REGRESSION, MULTICLASS_TASKS, SCORE_TASKS,
)
from stresstests.engine.ranking import GROUPED_RANKING_METRICS, RANKING_METRICS, grouped_ranking_metric

_EPS = 1e-15


@dataclass(frozen=True)
class MetricInfo:
    name: str
    display: str
    higher_is_better: bool
    needs_labels: bool = True
    bounded: bool = True            # in [0, 1]: gaps are absolute; otherwise gaps are relative to the overall value
    # False: no better direction (a positive rate, an average prediction, a spread of predictions); a change is a
    # shift, never "worse", and is judged in both directions.
    directed: bool = True


METRICS: dict[str, MetricInfo] = {m.name: m for m in [
    MetricInfo("auc", "AUC", True),
    MetricInfo("accuracy", "Accuracy", True),
    MetricInfo("f1", "F1", True),
    MetricInfo("precision", "Precision", True),
    MetricInfo("recall", "Recall", True),
    MetricInfo("false_positive_rate", "False Positive Rate", False),
    MetricInfo("false_negative_rate", "False Negative Rate", False),
    MetricInfo("positive_prediction_rate", "Positive Prediction Rate", False, needs_labels=False, directed=False),
    MetricInfo("log_loss", "Log Loss", False, bounded=False),
    MetricInfo("brier", "Brier Score", False),
    MetricInfo("prediction_variance_positive_labels", "Prediction Variance (Positive Labels)", False, bounded=False),
    MetricInfo("prediction_variance_negative_labels", "Prediction Variance (Negative Labels)", False, bounded=False),
    MetricInfo("average_confidence", "Average Confidence", True, needs_labels=False),
    MetricInfo("multiclass_accuracy", "Multiclass Accuracy", True),
    MetricInfo("multiclass_auc", "Multiclass AUC", True),
    MetricInfo("macro_f1", "Macro F1", True),
    MetricInfo("macro_precision", "Macro Precision", True),
    MetricInfo("macro_recall", "Macro Recall", True),
    MetricInfo("mae", "MAE", False, bounded=False),
    MetricInfo("mse", "MSE", False, bounded=False),
    MetricInfo("rmse", "RMSE", False, bounded=False),
    MetricInfo("msle", "MSLE", False, bounded=False),
    MetricInfo("mape", "Weighted MAPE", False, bounded=False),   # sum |error| / sum |target|: see _mape
    MetricInfo("r2", "R2", True, bounded=False),
    MetricInfo("prediction_variance", "Prediction Variance", False, needs_labels=False, bounded=False,
               directed=False),
    MetricInfo("average_prediction", "Average Prediction", False, needs_labels=False, bounded=False,
               directed=False),
    # Ranking (ranking.py): per query, averaged over queries. Average Rank is normalised per query (0 = the relevant
    # rows on top, 1 = at the bottom, 0.5 = random order), so its gaps are absolute as the other ranking metrics'.
    MetricInfo("ndcg", "NDCG", True),
    MetricInfo("mrr", "Mean Reciprocal Rank", True),
    MetricInfo("average_rank", "Average Rank", False),
    MetricInfo("rank_correlation", "Rank Correlation", True),
    # The subset versions of Average Rank: each row's place in its whole query / the query's rows (0.5 = random).
    MetricInfo("average_normalized_rank", "Average Normalised Rank", False, bounded=False),
]}

TASK_METRICS: dict[str, tuple[str, ...]] = {
    MODEL_TASK_BINARY_CLASSIFICATION: (
        "auc", "accuracy", "f1", "precision", "recall", "false_positive_rate", "false_negative_rate",
        "positive_prediction_rate", "log_loss", "brier", "prediction_variance_positive_labels",
        "prediction_variance_negative_labels", "average_confidence"),
    **dict.fromkeys(MULTICLASS_TASKS, (
        "multiclass_accuracy", "multiclass_auc", "macro_f1", "macro_precision", "macro_recall", "log_loss",
        "average_confidence")),
    MODEL_TASK_REGRESSION: ("rmse", "mse", "mae", "msle", "mape", "r2", "prediction_variance", "average_prediction"),
    MODEL_TASK_RANKING: RANKING_METRICS,
}
PRIMARY_METRIC = {
    MODEL_TASK_BINARY_CLASSIFICATION: "auc",
    **dict.fromkeys(MULTICLASS_TASKS, "multiclass_accuracy"),
    MODEL_TASK_REGRESSION: "rmse",
    MODEL_TASK_RANKING: "ndcg",
}


# Headline metrics first: key findings of equal severity are ordered by this.
_HEADLINE_ORDER = ("auc", "multiclass_accuracy", "rmse", "accuracy", "multiclass_auc", "mae", "f1", "macro_f1",
                   "mse", "precision", "recall", "macro_precision", "macro_recall", "mape", "msle")


def metric_priority(metric: str) -> int:
    return len(_HEADLINE_ORDER) - _HEADLINE_ORDER.index(metric) if metric in _HEADLINE_ORDER else 0


@dataclass
class GroupedMetric:
    values: np.ndarray          # (n_groups,) metric per group, NaN where undefined
    standard_errors: np.ndarray  # (n_groups,) approximate standard error, NaN where undefined
    counts: np.ndarray          # (n_groups,) rows used per group
    # (n_groups,) members of the scarcest class the value rests on; None: every row counts (means, accuracy)
    class_support: np.ndarray | None = None
    # Macro metrics: (values, standard errors, members) per class (rows) and group (columns), NaN / int max where a
    # class is left out, so two groups can be compared on the classes both use (on_common_classes).
    per_class: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @property
    def support(self) -> np.ndarray:
        return self.counts if self.class_support is None else self.class_support


def on_common_classes(first: GroupedMetric, second: GroupedMetric) -> tuple[GroupedMetric, GroupedMetric]:
    """Two macro metrics of the same groups (e.g. a subset in the reference and in the evaluation) averaged over the
    classes each group uses on both sides: a subset whose reference holds enough of class A only and whose
    evaluation holds enough of class B only is not compared at all (the recall of A is no baseline for that of B).
    Other metrics are returned unchanged."""
    if first.per_class is None or second.per_class is None:
        return first, second
    both = ~np.isnan(first.per_class[0]) & ~np.isnan(second.per_class[0])
    return tuple(_class_average(*(np.where(both, part, np.nan if i < 2 else np.iinfo(np.int64).max)
                                  for i, part in enumerate(metric.per_class)), metric.counts)
                 for metric in (first, second))


# Why a metric can be undefined on a dataset, for skip reasons (the generic one is for the rest).
_UNDEFINED_REASONS = {
    "auc": "only one class is present in the labels",
    "multiclass_auc": "no class has both members and non-members in the labels",
    "f1": "there are no positive labels and no positive predictions",
    "precision": "the model predicts no positive",
    "recall": "there are no positive labels",
    "false_negative_rate": "there are no positive labels",
    "false_positive_rate": "there are no negative labels",
    "prediction_variance_positive_labels": "there are fewer than two positive labels",
    "prediction_variance_negative_labels": "there are fewer than two negative labels",
    "macro_precision": "no class is ever predicted",
    "msle": "a target or a prediction is at or below -1, where the logarithm of MSLE is undefined",
    "mape": "every target is zero, so no error can be expressed as a share of the target",
    "r2": "the target is constant",
}


def undefined_reason(metric: str) -> str:
    """Why `metric` can be undefined, in words a user can act on."""
    return _UNDEFINED_REASONS.get(metric, "there are too few labelled rows")


def primary_metric(model_task: str) -> str:
    return PRIMARY_METRIC[model_task]


def higher_is_better(metric: str) -> bool:
    return METRICS[metric].higher_is_better


def is_directed(metric: str) -> bool:
    """Whether the metric has a better direction (AUC up, RMSE down); see MetricInfo.directed."""
    return metric in METRICS and METRICS[metric].directed


def positive_scores(predictions: np.ndarray) -> np.ndarray:
    """Positive-class probability of binary predictions given as (n,) or (n, 2)."""
    predictions = np.asarray(predictions, dtype=float)
    return predictions[:, -1] if predictions.ndim == 2 else predictions


def predicted_labels(model_task: str, predictions: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    if model_task == MODEL_TASK_BINARY_CLASSIFICATION:
        return (positive_scores(predictions) >= threshold).astype(int)
    if model_task in MULTICLASS_TASKS:
        return np.asarray(predictions).argmax(axis=1)
    return np.asarray(predictions, dtype=float)


def confidence(model_task: str, predictions: np.ndarray) -> np.ndarray:
    """Probability of the predicted class per row (classification only)."""
    if model_task == MODEL_TASK_BINARY_CLASSIFICATION:
        scores = positive_scores(predictions)
        return np.maximum(scores, 1.0 - scores)
    return np.asarray(predictions, dtype=float).max(axis=1)


def compute_metric(name: str, model_task: str, labels: np.ndarray | None, predictions: np.ndarray) -> float | None:
    grouped = grouped_metric(name, model_task, labels, predictions, np.zeros(len(predictions), dtype=np.int64), 1)
    value = grouped.values[0]
    return None if np.isnan(value) else float(value)


def compute_metrics(model_task: str, labels: np.ndarray | None, predictions: np.ndarray | None) -> dict[str, float]:
    """Every metric of the task that the inputs allow (label metrics need labels); undefined ones are left out."""
    if predictions is None:
        return {}
    result = {}
    for name in TASK_METRICS[model_task]:
        if METRICS[name].needs_labels and labels is None:
            continue
        value = compute_metric(name, model_task, labels, predictions)
        if value is not None:
            result[name] = value
    return result


def grouped_metric(name: str, model_task: str, labels: np.ndarray | None, predictions: np.ndarray,
                   codes: np.ndarray, n_groups: int, *, min_class_size: int = 1, k: int | None = None
                   ) -> GroupedMetric:
    """`name` per group of rows; `codes` gives each row's group in [0, n_groups) or -1 to leave it out.
    `min_class_size`: macro metrics leave out the classes with fewer members in a group. `k`: NDCG@k (ranking)."""
    info = METRICS[name]
    predictions = np.asarray(predictions, dtype=float)
    codes = np.asarray(codes, dtype=np.int64)
    keep = codes >= 0
    if info.needs_labels:
        if labels is None:
            return _undefined(n_groups)
        labels = np.asarray(labels, dtype=float)
        keep &= ~(np.isnan(labels) if labels.ndim == 1 else np.isnan(labels).any(axis=1))   # ranking: (n, 2)
        labels = labels[keep]
    predictions, codes = predictions[keep], codes[keep]
    return _compute(name, model_task, labels, predictions, codes, n_groups, min_class_size, k)


def _compute(name: str, model_task: str, labels, predictions, codes, n_groups: int, min_class_size: int,
             k: int | None = None) -> GroupedMetric:
    if name in GROUPED_RANKING_METRICS:
        return _GROUPED[name](model_task, labels, predictions, codes, n_groups, k=k)
    if name in _CLASS_AWARE:
        return _GROUPED[name](model_task, labels, predictions, codes, n_groups, min_class_size=min_class_size)
    return _GROUPED[name](model_task, labels, predictions, codes, n_groups)


def grouped_metrics(name: str, model_task: str, labels: np.ndarray | None, predictions: np.ndarray,
                    code_sets: list[np.ndarray], group_counts: list[int], *, min_class_size: int = 1,
                    k: int | None = None) -> list[GroupedMetric]:
    """`name` per group for several groupings of the same rows (e.g. the subsets of every feature) at once.

    Per-row quantities (hits, losses, ranks' score order) are computed once for all groupings and only the per-group
    sums are taken per grouping; the result is the same as calling `grouped_metric` once per grouping.
    """
    code_sets = [np.asarray(codes, dtype=np.int64) for codes in code_sets]
    if name in _ONE_GROUPING_AT_A_TIME or any((codes < 0).any() for codes in code_sets):
        return [grouped_metric(name, model_task, labels, predictions, codes, count, min_class_size=min_class_size,
                               k=k) for codes, count in zip(code_sets, group_counts)]
    predictions = np.asarray(predictions, dtype=float)
    if METRICS[name].needs_labels:
        if labels is None:
            return [_undefined(count) for count in group_counts]
        labels = np.asarray(labels, dtype=float)
        known = ~np.isnan(labels)
        if not known.all():
            labels, predictions, code_sets = labels[known], predictions[known], [c[known] for c in code_sets]
    groupings = Groupings(code_sets, group_counts)
    merged = _compute(name, model_task, labels, predictions, groupings, groupings.total, min_class_size)
    support = merged.class_support
    return [GroupedMetric(merged.values[start:stop], merged.standard_errors[start:stop], merged.counts[start:stop],
                          None if support is None else support[start:stop],
                          None if merged.per_class is None else tuple(part[:, start:stop] for part in merged.per_class))
            for start, stop in zip(groupings.offsets[:-1], groupings.offsets[1:])]


class Groupings:
    """Several groupings of the same rows, used in place of one `codes` array: group g of grouping i is group
    offsets[i] + g of the result, so per-row arithmetic runs once and only the per-group sums run per grouping."""

    def __init__(self, code_sets: list[np.ndarray], group_counts: list[int]) -> None:
        self.code_sets, self.group_counts = code_sets, [int(count) for count in group_counts]
        self.offsets = np.concatenate([[0], np.cumsum(self.group_counts)]).astype(np.int64)
        self.total = int(self.offsets[-1])

    def __len__(self) -> int:
        return len(self.code_sets[0]) if self.code_sets else 0

    def __getitem__(self, mask: np.ndarray) -> Groupings:
        return Groupings([codes[mask] for codes in self.code_sets], self.group_counts)

    def sum(self, weights: np.ndarray | None) -> np.ndarray:
        return np.concatenate([np.bincount(codes, weights=weights, minlength=count).astype(float)[:count]
                               for codes, count in zip(self.code_sets, self.group_counts)])

    def per_row(self, per_group: np.ndarray) -> list[np.ndarray]:
        """Each grouping's per-group values spread back to its rows."""
        return [per_group[start:stop][codes]
                for codes, start, stop in zip(self.code_sets, self.offsets[:-1], self.offsets[1:])]


# ---- helpers -----------------------------------------------------------------------------------------------------
def _undefined(n_groups: int) -> GroupedMetric:
    nan = np.full(n_groups, np.nan)
    return GroupedMetric(nan, nan.copy(), np.zeros(n_groups, dtype=np.int64))


def _sum(codes: np.ndarray | Groupings, weights: np.ndarray | None, n_groups: int) -> np.ndarray:
    if isinstance(codes, Groupings):
        return codes.sum(weights)
    return np.bincount(codes, weights=weights, minlength=n_groups).astype(float)[:n_groups]


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan)


def _mean_metric(values: np.ndarray, codes: np.ndarray, n_groups: int, *, mask: np.ndarray | None = None
                 ) -> GroupedMetric:
    """Mean of a per-row quantity per group, with the standard error of that mean."""
    if mask is not None:
        values, codes = values[mask], codes[mask]
    count = _sum(codes, None, n_groups)
    total = _sum(codes, values, n_groups)
    mean = _ratio(total, count)
    second = _ratio(_sum(codes, values * values, n_groups), count)
    variance = np.maximum(second - mean * mean, 0.0)
    std_error = np.sqrt(_ratio(variance, np.maximum(count - 1, 0)))
    return GroupedMetric(mean, std_error, count.astype(np.int64))


def _share_metric(hits: np.ndarray, codes: np.ndarray, n_groups: int, mask: np.ndarray | None = None
                  ) -> GroupedMetric:
    from stresstests.engine.severity import proportion_standard_error

    result = _mean_metric(hits.astype(float), codes, n_groups, mask=mask)
    result.standard_errors = np.where(result.counts > 0,
                                      proportion_standard_error(np.nan_to_num(result.values), result.counts), np.nan)
    return result


def _variance_metric(values: np.ndarray, codes: np.ndarray, n_groups: int, mask: np.ndarray | None = None,
                     *, unit_interval: bool = False) -> GroupedMetric:
    """Sample variance per group; its standard error uses the fourth moment, since predictions are rarely normal.

    `unit_interval` (probabilities): the sample fourth moment of scores piled near 0 or 1 misses the rare far
    scores that make the variance (28 positives with one stray score say little), so the standard error takes the
    largest fourth moment values in [0, 1] with that variance and mean allow, (x - mean)^4 <= (x - mean)^2 *
    max(mean, 1 - mean)^2: a conservative bound, never below the plain estimate."""
    if mask is not None:
        values, codes = values[mask], codes[mask]
    count = _sum(codes, None, n_groups)
    mean = _ratio(_sum(codes, values, n_groups), count)
    second, fourth = _central_moment_sums(values, codes, np.nan_to_num(mean), n_groups)
    second, fourth = _ratio(second, count), _ratio(fourth, count)
    if unit_interval:
        fourth = np.fmax(fourth, second * np.maximum(mean, 1 - mean) ** 2)
    variance = second * _ratio(count, count - 1)
    std_error = np.sqrt(np.maximum(_ratio(fourth - second ** 2, count), 0.0))
    return GroupedMetric(variance, std_error, count.astype(np.int64))


def _ranks_within_groups(scores: np.ndarray, codes: np.ndarray, order: np.ndarray) -> np.ndarray:
    """1-based rank of each score within its group, ties averaged (as pandas' groupby rank "average").

    `order` is the stable argsort of `scores`, shared by every grouping of the same rows. A stable radix sort on
    the (small integer) codes keeps score order inside each group, so each group's rows end up contiguous and in
    score order; tie runs get the mean of their positions.
    """
    size = len(scores)
    if size == 0:
        return np.empty(0)
    highest, lowest = codes.max(initial=0), codes.min(initial=0)
    if highest != lowest:   # one group (e.g. a whole dataset): score order is already group order
        small = np.int16 if highest < np.iinfo(np.int16).max and lowest >= 0 else np.int64
        order = order[np.argsort(codes[order].astype(small), kind="stable")]
    sorted_scores, sorted_codes = scores[order], codes[order]
    new_group = np.empty(size, dtype=bool)
    new_group[0] = True
    np.not_equal(sorted_codes[1:], sorted_codes[:-1], out=new_group[1:])
    new_run = new_group.copy()
    new_run[1:] |= sorted_scores[1:] != sorted_scores[:-1]
    positions = np.arange(size, dtype=np.int64)
    run_starts = positions[new_run]
    run_ends = np.append(run_starts[1:], size)
    run_mean = (run_starts + run_ends - 1) / 2.0
    group_first = np.maximum.accumulate(np.where(new_group, positions, 0))
    ranks = np.empty(size)
    ranks[order] = run_mean[np.cumsum(new_run) - 1] - group_first + 1
    return ranks


def _central_moment_sums(values: np.ndarray, codes: np.ndarray | Groupings, mean: np.ndarray, n_groups: int
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Per group: sums of squared and of fourth-power deviations from the group mean."""
    if isinstance(codes, Groupings):
        parts = [_central_moment_sums(values, part, mean[start:stop], count)
                 for part, start, stop, count in zip(codes.code_sets, codes.offsets[:-1], codes.offsets[1:],
                                                      codes.group_counts)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    squared = (values - mean[codes]) ** 2 if len(codes) else values ** 2
    return _sum(codes, squared, n_groups), _sum(codes, squared * squared, n_groups)


def _binary_auc(labels: np.ndarray, scores: np.ndarray, codes: np.ndarray | Groupings, n_groups: int
                ) -> GroupedMetric:
    """Rank-sum (Mann-Whitney) AUC per group with the Hanley-McNeil standard error."""
    positive = labels == 1
    n_pos = _sum(codes, positive.astype(float), n_groups)
    n_all = _sum(codes, None, n_groups)
    n_neg = n_all - n_pos
    order = np.argsort(scores, kind="stable")   # shared by every grouping
    if isinstance(codes, Groupings):
        rank_sum = np.concatenate([
            _sum(part, np.where(positive, _ranks_within_groups(scores, part, order), 0.0), count)
            for part, count in zip(codes.code_sets, codes.group_counts)])
    else:
        rank_sum = _sum(codes, np.where(positive, _ranks_within_groups(scores, codes, order), 0.0), n_groups)
    auc = _ratio(rank_sum - n_pos * (n_pos + 1) / 2, n_pos * n_neg)
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = _ratio(auc * (1 - auc) + (n_pos - 1) * (q1 - auc ** 2) + (n_neg - 1) * (q2 - auc ** 2), n_pos * n_neg)
    # A floor keeps a perfect-AUC subset of a few rows from looking certain.
    std_error = np.sqrt(np.maximum(variance, 0.25 / np.maximum(np.minimum(n_pos, n_neg), 1) ** 2))
    return GroupedMetric(auc, np.where(np.isnan(auc), np.nan, std_error), n_all.astype(np.int64),
                         np.minimum(n_pos, n_neg).astype(np.int64))


def _confusion(labels: np.ndarray, predictions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return labels == 1, positive_scores(predictions) >= 0.5


def _binary_accuracy(task, labels, predictions, codes, n):
    actual, predicted = _confusion(labels, predictions)
    return _share_metric(actual == predicted, codes, n)


def _binary_precision(task, labels, predictions, codes, n):
    actual, predicted = _confusion(labels, predictions)
    return _share_metric(actual, codes, n, mask=predicted)


def _binary_recall(task, labels, predictions, codes, n):
    actual, predicted = _confusion(labels, predictions)
    return _share_metric(predicted, codes, n, mask=actual)


def _false_positive_rate(task, labels, predictions, codes, n):
    actual, predicted = _confusion(labels, predictions)
    return _share_metric(predicted, codes, n, mask=~actual)


def _false_negative_rate(task, labels, predictions, codes, n):
    actual, predicted = _confusion(labels, predictions)
    return _share_metric(~predicted, codes, n, mask=actual)


def _binary_f1(task, labels, predictions, codes, n):
    actual, predicted = _confusion(labels, predictions)
    true_pos = _sum(codes, (actual & predicted).astype(float), n)
    involved = _sum(codes, (actual | predicted).astype(float), n) + true_pos   # 2TP + FP + FN
    f1 = _ratio(2 * true_pos, involved)
    from stresstests.engine.severity import proportion_standard_error

    std_error = np.where(np.isnan(f1), np.nan, proportion_standard_error(np.nan_to_num(f1), involved / 2))
    # F1 is about the positive class: it rests on the actual positives, however many rows the group has.
    return GroupedMetric(f1, std_error, _sum(codes, None, n).astype(np.int64),
                         _sum(codes, actual.astype(float), n).astype(np.int64))


def _positive_prediction_rate(task, labels, predictions, codes, n):
    return _share_metric(positive_scores(predictions) >= 0.5, codes, n)


def _log_loss(task, labels, predictions, codes, n):
    if task == MODEL_TASK_BINARY_CLASSIFICATION:
        scores = np.clip(positive_scores(predictions), _EPS, 1 - _EPS)
        loss = -(labels * np.log(scores) + (1 - labels) * np.log(1 - scores))
    else:
        picked = predictions[np.arange(len(labels)), labels.astype(int)]
        loss = -np.log(np.clip(picked, _EPS, 1.0))
    return _mean_metric(loss, codes, n)


def _brier(task, labels, predictions, codes, n):
    return _mean_metric((positive_scores(predictions) - labels) ** 2, codes, n)


def _variance_positive(task, labels, predictions, codes, n):
    return _variance_metric(positive_scores(predictions), codes, n, mask=labels == 1, unit_interval=True)


def _variance_negative(task, labels, predictions, codes, n):
    return _variance_metric(positive_scores(predictions), codes, n, mask=labels == 0, unit_interval=True)


def _average_confidence(task, labels, predictions, codes, n):
    return _mean_metric(confidence(task, predictions), codes, n)


def _auc(task, labels, predictions, codes, n):
    return _binary_auc(labels, positive_scores(predictions), codes, n)


def _multiclass_accuracy(task, labels, predictions, codes, n):
    return _share_metric(predictions.argmax(axis=1) == labels.astype(int), codes, n)


def _multiclass_auc(task, labels, predictions, codes, n, *, min_class_size: int = 1):
    """Macro one-vs-rest AUC over the classes with at least `min_class_size` members (and non-members) in the group."""
    per_class = [_binary_auc((labels == k).astype(float), predictions[:, k], codes, n)
                 for k in range(predictions.shape[1])]
    enough = np.vstack([c.class_support for c in per_class]) >= max(min_class_size, 1)
    values = np.where(enough, np.vstack([c.values for c in per_class]), np.nan)
    errors = np.where(enough, np.vstack([c.standard_errors for c in per_class]), np.nan)
    support = np.where(enough, np.vstack([c.class_support for c in per_class]), np.iinfo(np.int64).max)
    return _class_average(values, errors, support, _sum(codes, None, n))


def _class_average(per_class: np.ndarray, errors: np.ndarray, support: np.ndarray, count: np.ndarray
                   ) -> GroupedMetric:
    """Mean over the defined classes (rows of `per_class`, NaN = left out) per group, its standard error
    sqrt(sum of the classes' variances) / classes, and the smallest member count among the classes used."""
    defined = (~np.isnan(per_class)).sum(axis=0)
    with np.errstate(invalid="ignore"):
        mean = np.where(defined > 0, np.nanmean(np.where(defined > 0, per_class, 0), axis=0), np.nan)
        error = np.sqrt(_ratio(np.nansum(errors ** 2, axis=0), defined.astype(float) ** 2))
    scarcest = np.where(defined > 0, support.min(axis=0), 0)
    return GroupedMetric(mean, np.where(defined > 0, error, np.nan), count.astype(np.int64),
                         scarcest.astype(np.int64), per_class=(per_class, errors, support))


def _macro(kind: str):
    def compute(task, labels, predictions, codes, n, *, min_class_size: int = 1):
        """Per class (rows) and group (columns): the class's precision, recall or F1 where the class has at least
        `min_class_size` members (predicted ones for precision, actual ones for recall, either for F1)."""
        from stresstests.engine.severity import proportion_standard_error

        n_classes = predictions.shape[1]
        actual = labels.astype(int)
        predicted = predictions.argmax(axis=1)
        cell_true = codes * n_classes + actual
        cell_pred = codes * n_classes + predicted
        size = n * n_classes
        true_pos = np.bincount(cell_true, weights=(actual == predicted).astype(float), minlength=size)[:size]
        n_true = np.bincount(cell_true, minlength=size)[:size].astype(float)
        n_pred = np.bincount(cell_pred, minlength=size)[:size].astype(float)
        if kind == "precision":
            per_class, members = _ratio(true_pos, n_pred), n_pred
        elif kind == "recall":
            per_class, members = _ratio(true_pos, n_true), n_true
        else:
            per_class, members = _ratio(2 * true_pos, n_true + n_pred), np.maximum(n_true, n_pred)
        used = (members >= max(min_class_size, 1)) & ~np.isnan(per_class)
        per_class = np.where(used, per_class, np.nan)
        effective = (n_true + n_pred) / 2 if kind == "f1" else members
        errors = np.where(used, proportion_standard_error(np.nan_to_num(per_class), effective), np.nan)
        support = np.where(used, members, np.iinfo(np.int64).max)
        return _class_average(per_class.reshape(n, n_classes).T, errors.reshape(n, n_classes).T,
                              support.reshape(n, n_classes).T, _sum(codes, None, n))

    return compute


def _errors(predictions: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.asarray(predictions, dtype=float).reshape(len(labels)) - labels


def _mae(task, labels, predictions, codes, n):
    return _mean_metric(np.abs(_errors(predictions, labels)), codes, n)


def _mse(task, labels, predictions, codes, n):
    return _mean_metric(_errors(predictions, labels) ** 2, codes, n)


def _rmse(task, labels, predictions, codes, n):
    mse = _mse(task, labels, predictions, codes, n)
    rmse = np.sqrt(mse.values)
    return GroupedMetric(rmse, _ratio(mse.standard_errors, 2 * rmse), mse.counts)


def _msle(task, labels, predictions, codes, n):
    predictions = np.asarray(predictions, dtype=float).reshape(len(labels))
    if (predictions <= -1).any() or (labels <= -1).any():
        return _undefined(n)   # logarithms of values at or below -1 are undefined
    return _mean_metric((np.log1p(predictions) - np.log1p(labels)) ** 2, codes, n)


def _mape(task, labels, predictions, codes, n):
    """Weighted MAPE, sum |error| / sum |target| per group: the mean of per-row percentages explodes on a target
    near zero (0.006 among values around 1 added 0.05 to a MAPE of 0.08), the weighted form does not.

    Standard error of a ratio estimator (delta method): with R = A / B and residuals a_i - R b_i,
    Var(R) ~ sum (a_i - R b_i)^2 / (n (n - 1) mean(b)^2); the sums expand so every grouping needs only per-group sums.
    """
    absolute_error, absolute_target = np.abs(_errors(predictions, labels)), np.abs(labels)
    count = _sum(codes, None, n)
    error_sum, target_sum = _sum(codes, absolute_error, n), _sum(codes, absolute_target, n)
    ratio = _ratio(error_sum, target_sum)
    r = np.nan_to_num(ratio)
    residual_squares = (_sum(codes, absolute_error ** 2, n) - 2 * r * _sum(codes, absolute_error * absolute_target, n)
                        + r * r * _sum(codes, absolute_target ** 2, n))
    mean_target = _ratio(target_sum, count)
    variance = _ratio(np.maximum(residual_squares, 0.0), count * np.maximum(count - 1, 0)) / np.where(
        mean_target > 0, mean_target, np.nan) ** 2
    return GroupedMetric(ratio, np.sqrt(variance), count.astype(np.int64))


def _r2(task, labels, predictions, codes, n):
    count = _sum(codes, None, n)
    squared_error = _sum(codes, _errors(predictions, labels) ** 2, n)
    mean = _ratio(_sum(codes, labels, n), count)
    total = _sum(codes, labels * labels, n) - count * mean * mean
    r2 = np.where(total > 0, 1 - _ratio(squared_error, total), np.nan)
    return GroupedMetric(r2, _ratio(np.full(n, 2.0), np.sqrt(count)), count.astype(np.int64))


def _prediction_variance(task, labels, predictions, codes, n):
    return _variance_metric(np.asarray(predictions, dtype=float).reshape(len(codes)), codes, n)


def _average_prediction(task, labels, predictions, codes, n):
    values = positive_scores(predictions) if task == MODEL_TASK_BINARY_CLASSIFICATION else predictions
    return _mean_metric(np.asarray(values, dtype=float).reshape(len(codes)), codes, n)


def _ranking(name: str):
    def metric(task, labels, predictions, codes, n, k=None):
        return GroupedMetric(*grouped_ranking_metric(name, labels, predictions, codes, n, k=k))
    return metric


# Metrics that combine group codes arithmetically: `grouped_metrics` runs them one grouping at a time.
_ONE_GROUPING_AT_A_TIME = frozenset({"macro_f1", "macro_precision", "macro_recall", *GROUPED_RANKING_METRICS})
# Metrics that take `min_class_size`.
_CLASS_AWARE = frozenset({"macro_f1", "macro_precision", "macro_recall", "multiclass_auc"})

_GROUPED = {
    "auc": _auc, "accuracy": _binary_accuracy, "f1": _binary_f1, "precision": _binary_precision,
    "recall": _binary_recall, "false_positive_rate": _false_positive_rate,
    "false_negative_rate": _false_negative_rate, "positive_prediction_rate": _positive_prediction_rate,
    "log_loss": _log_loss, "brier": _brier, "prediction_variance_positive_labels": _variance_positive,
    "prediction_variance_negative_labels": _variance_negative, "average_confidence": _average_confidence,
    "multiclass_accuracy": _multiclass_accuracy, "multiclass_auc": _multiclass_auc, "macro_f1": _macro("f1"),
    "macro_precision": _macro("precision"), "macro_recall": _macro("recall"), "mae": _mae, "mse": _mse,
    "rmse": _rmse, "msle": _msle, "mape": _mape, "r2": _r2, "prediction_variance": _prediction_variance,
    "average_prediction": _average_prediction,
    **{name: _ranking(name) for name in GROUPED_RANKING_METRICS},
}


def prediction_impact(model_task: str, predictions: np.ndarray, failing_mask: np.ndarray,
                      reference_predictions: np.ndarray | None = None) -> dict:
    """Average-prediction impact: how far the failing rows' average prediction sits from the passing rows'.

    Binary: difference of mean positive probability; multiclass: half the L1 distance of the mean probability
    vectors; regression: difference of means divided by the reference predictions' standard deviation.
    """
    mask = np.asarray(failing_mask, dtype=bool)
    if model_task in MULTICLASS_TASKS:
        predictions = np.asarray(predictions, dtype=float)
        passing, failing = predictions[~mask].mean(axis=0), predictions[mask].mean(axis=0)
        return {"metric": "average_prediction", "passing": float(passing.max()), "failing": float(failing.max()),
                "impact": float(np.abs(passing - failing).sum() / 2)}
    values = positive_scores(predictions) if model_task == MODEL_TASK_BINARY_CLASSIFICATION else np.asarray(
        predictions, dtype=float)
    passing, failing = float(values[~mask].mean()), float(values[mask].mean())
    gap = abs(failing - passing)
    if model_task in SCORE_TASKS:
        spread = np.std(reference_predictions if reference_predictions is not None else values)
        gap = gap / spread if spread > 0 else 0.0
    return {"metric": "average_prediction", "passing": passing, "failing": failing, "impact": float(gap)}
