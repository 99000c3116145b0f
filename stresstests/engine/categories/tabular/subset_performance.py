"""Subset Performance and Subset Performance Degradation (RIME §2.4).

Each tested feature splits the data into subsets: quantile bins of the reference for numeric features (nulls are
their own subset), values for categorical and boolean features (the most frequent `max_categories`; the rest and
values unseen in the reference form "other"). Text, identifier and datetime features are not split.
`data_params.intersections` adds the combinations of several features' subsets (e.g. "city = Rome & member = yes").

Subset Performance compares each evaluation subset's metric with the overall evaluation metric; Subset Performance
Degradation compares each subset's evaluation metric with the same subset in the reference, and judges the part of
that degradation beyond the degradation of the whole dataset (which Model Performance already reports): a subset
fails when it degraded more than everything else. A subset fails only when

- it has at least `min_subset_size` rows (in each dataset compared), and the metric rests on at least
  `min_class_size` members of each class it needs (positives and negatives for AUC, actual positives for F1 and
  recall, predicted positives for precision; macro metrics average only the classes with that many members, and
  Subset Performance Degradation only those the subset has that many of in both datasets), as RIME's subset tests
  count class members, not rows: 286 rows with 4 positives say nothing about F1,
- the lower 95 % confidence bound of its gap (absolute for [0, 1] metrics, relative to the baseline otherwise)
  reaches the warning threshold (the alert threshold for an Alert), and
- the gap is beyond sampling noise: the one-sided z-test of "gap <= 0" (standard errors from the metric's sampling
  distribution) survives Benjamini-Hochberg false-discovery control at `false_discovery_rate` across all subsets of
  all features in the test.

So a random half of the reference, compared with the reference, does not raise Warnings from noise alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stresstests.engine.vocabulary import (
    MODEL_TASK_BINARY_CLASSIFICATION, MULTICLASS_TASKS, MODEL_TASK_REGRESSION, SEVERITY_PASS,
    TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE, TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE_DEGRADATION, worst_severity,
)
from stresstests.engine.base import Context, SkipTest, StressTest, TestCase, json_safe, register
from stresstests.engine.metrics import (
    METRICS, GroupedMetric, grouped_metrics, metric_priority, on_common_classes, undefined_reason,
)
from stresstests.engine.severity import benjamini_hochberg, exceeds_with_confidence_p, severity_for

SUBSET_FEATURE_TYPES = ("numeric", "categorical", "boolean")
MISSING = "missing"
OTHER = "other"
_BOUNDED = (0.10, 0.20)     # RIME's UI shows a 0.1 warning margin below the overall metric
_RELATIVE = (0.25, 0.50)    # errors: 25 % worse than the baseline warns
_VARIANCE = (0.50, 1.00)    # prediction variances are noisy and small: 50 % above the baseline warns
LOWER_BOUND_Z = 1.96        # severity from the gap's lower 95 % confidence bound (see decide)

SUBSET_METRICS: dict[str, frozenset[str]] = {
    "accuracy": frozenset({MODEL_TASK_BINARY_CLASSIFICATION}),
    "auc": frozenset({MODEL_TASK_BINARY_CLASSIFICATION}),
    "f1": frozenset({MODEL_TASK_BINARY_CLASSIFICATION}),
    "precision": frozenset({MODEL_TASK_BINARY_CLASSIFICATION}),
    "recall": frozenset({MODEL_TASK_BINARY_CLASSIFICATION}),
    "false_positive_rate": frozenset({MODEL_TASK_BINARY_CLASSIFICATION}),
    "false_negative_rate": frozenset({MODEL_TASK_BINARY_CLASSIFICATION}),
    "positive_prediction_rate": frozenset({MODEL_TASK_BINARY_CLASSIFICATION}),
    "prediction_variance_positive_labels": frozenset({MODEL_TASK_BINARY_CLASSIFICATION}),
    "prediction_variance_negative_labels": frozenset({MODEL_TASK_BINARY_CLASSIFICATION}),
    "average_confidence": frozenset({MODEL_TASK_BINARY_CLASSIFICATION}) | MULTICLASS_TASKS,
    "multiclass_accuracy": MULTICLASS_TASKS,
    "multiclass_auc": MULTICLASS_TASKS,
    "macro_f1": MULTICLASS_TASKS,
    "macro_precision": MULTICLASS_TASKS,
    "macro_recall": MULTICLASS_TASKS,
    "mae": frozenset({MODEL_TASK_REGRESSION}),
    "mse": frozenset({MODEL_TASK_REGRESSION}),
    "rmse": frozenset({MODEL_TASK_REGRESSION}),
    "msle": frozenset({MODEL_TASK_REGRESSION}),
    "mape": frozenset({MODEL_TASK_REGRESSION}),
    "prediction_variance": frozenset({MODEL_TASK_REGRESSION}),
}
DEFAULT_PARAMS = {"min_subset_size": 20, "min_class_size": 10, "max_categories": 20, "false_discovery_rate": 0.05}


# ---- subsets -------------------------------------------------------------------------------------------------------
@dataclass
class FeatureSubsets:
    feature: str                      # the feature, or "a & b" for an intersection
    labels: list[str]                 # one readable description per subset
    reference_codes: np.ndarray       # subset index per reference row
    evaluation_codes: np.ndarray
    features: list[str] | None = None   # the features of an intersection

    @property
    def count(self) -> int:
        return len(self.labels)

    @property
    def feature_list(self) -> list[str]:
        return self.features or [self.feature]

    def rows(self, which: str) -> np.ndarray:
        """Rows per subset in the reference or evaluation set (a metric may use fewer: precision counts only the
        predicted positives)."""
        return np.bincount(getattr(self, f"{which}_codes"), minlength=self.count)[: self.count]


def feature_subsets(ctx: Context, max_categories: int) -> list[FeatureSubsets]:
    """Subsets of every splittable feature, computed once per run and shared by all subset tests."""
    key = ("subset_performance.subsets", ctx.config.data_profiling.num_subsets, max_categories)
    if key not in ctx.memo:
        features = [f for f in ctx.schema.features_of_type(*SUBSET_FEATURE_TYPES)
                    if f in ctx.reference.columns and f in ctx.evaluation.columns]
        single = {f: s for f in features if (s := _split(ctx, f, max_categories)) is not None}
        combined = [_intersection([single[f] for f in combination]) for combination in ctx.schema.intersections
                    if all(f in single for f in combination)]
        ctx.memo[key] = [*single.values(), *combined]
    return ctx.memo[key]


def _intersection(parts: list[FeatureSubsets]) -> FeatureSubsets:
    """Every combination of the parts' subsets (empty combinations simply have no rows)."""
    labels, reference, evaluation = [""], np.zeros(len(parts[0].reference_codes), dtype=np.int64), \
        np.zeros(len(parts[0].evaluation_codes), dtype=np.int64)
    for part in parts:
        labels = [f"{a} & {b}" if a else b for a in labels for b in part.labels]
        reference = reference * part.count + part.reference_codes
        evaluation = evaluation * part.count + part.evaluation_codes
    names = [p.feature for p in parts]
    return FeatureSubsets(" & ".join(names), labels, reference, evaluation, features=names)


def _split(ctx: Context, feature: str, max_categories: int) -> FeatureSubsets | None:
    if ctx.profile[feature].type == "numeric":
        subsets = _numeric_subsets(ctx, feature)
        if subsets is not None:
            return subsets
    return _categorical_subsets(ctx, feature, max_categories)


def _numeric_subsets(ctx: Context, feature: str) -> FeatureSubsets | None:
    column = ctx.profile[feature]
    bins = max(int(ctx.config.data_profiling.num_subsets), 2)
    edges = np.unique([column.quantile(level) for level in np.linspace(0, 1, bins + 1)])
    if column.quantiles is None or len(edges) < 3:
        return None   # (almost) constant: nothing to compare
    inner = edges[1:-1]
    labels = [_bin_label(feature, edges, i) for i in range(len(edges) - 1)]
    has_missing = ctx.reference[feature].isna().any() or ctx.evaluation[feature].isna().any()
    if has_missing:
        labels.append(f"{feature} is {MISSING}")
    return FeatureSubsets(feature, labels, _bin_codes(ctx.reference[feature], inner, len(labels) - 1),
                          _bin_codes(ctx.evaluation[feature], inner, len(labels) - 1))


def _bin_codes(values: pd.Series, inner_edges: np.ndarray, missing_code: int) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    codes = np.searchsorted(inner_edges, numbers, side="right")
    return np.where(np.isnan(numbers), missing_code, codes)


def _bin_label(feature: str, edges: np.ndarray, index: int) -> str:
    low, high = edges[index], edges[index + 1]
    if index == 0:
        return f"{feature} < {high:.4g}"
    if index == len(edges) - 2:
        return f"{feature} >= {low:.4g}"
    return f"{feature} in [{low:.4g}, {high:.4g})"


def _categorical_subsets(ctx: Context, feature: str, max_categories: int) -> FeatureSubsets | None:
    kept = list(ctx.profile[feature].categories)[:max_categories]
    if not kept:
        return None
    labels = [f"{feature} = {value}" for value in kept] + [f"{feature} = {OTHER}", f"{feature} is {MISSING}"]
    index = pd.Index(kept)
    return FeatureSubsets(feature, labels, _category_codes(ctx.reference[feature], index),
                          _category_codes(ctx.evaluation[feature], index))


def _category_codes(values: pd.Series, kept: pd.Index) -> np.ndarray:
    # Look up each distinct value once (factorize is fast on Arrow strings) rather than every row.
    row_codes, distinct = pd.factorize(values, use_na_sentinel=True)
    lookup = kept.get_indexer(distinct)
    lookup = np.where(lookup < 0, len(kept), lookup)              # unseen or rare values: "other"
    return np.append(lookup, len(kept) + 1)[row_codes]            # null (code -1): the last, "missing"


# ---- shared decision -----------------------------------------------------------------------------------------------
def metric_gap(metric: str, baseline: np.ndarray, value: np.ndarray) -> np.ndarray:
    """How much worse `value` is than `baseline`; relative to the baseline for metrics without a [0, 1] scale."""
    info = METRICS[metric]
    change = baseline - value if info.higher_is_better else value - baseline
    if info.bounded:
        return change
    with np.errstate(divide="ignore", invalid="ignore"):
        return change / np.abs(baseline)


def gap_error(metric: str, baseline: np.ndarray, error: np.ndarray) -> np.ndarray:
    if METRICS[metric].bounded:
        return error
    with np.errstate(divide="ignore", invalid="ignore"):
        return error / np.abs(baseline)


def decide(gaps: np.ndarray, errors: np.ndarray, valid: np.ndarray, thresholds: tuple[float, float],
           false_discovery_rate: float) -> tuple[list[str], np.ndarray]:
    """Severity per subset and its p-value; Benjamini-Hochberg across every subset of the test."""
    p_values = exceeds_with_confidence_p(gaps, errors, 0.0)
    p_values = np.where(valid, p_values, np.nan)
    discovered = benjamini_hochberg(p_values, false_discovery_rate)
    # The severity is that of the gap's lower 95 % confidence bound, not of its point estimate: a subset with 38
    # positives and a recall gap of 0.214 +- 0.14 is not known to be worse by the alert margin (nor the warning one).
    with np.errstate(over="ignore", invalid="ignore"):   # an infinite error (relative gap to a zero baseline)
        lower_bounds = np.asarray(gaps, dtype=float) - LOWER_BOUND_Z * np.nan_to_num(np.asarray(errors, dtype=float))
    severities = [severity_for(float(lower), thresholds) if found else SEVERITY_PASS
                  for lower, found in zip(lower_bounds, discovered)]
    return severities, p_values


@dataclass
class Outcome:
    """One feature's subsets decided: overall severity, failing subset positions, and the worst tested subset."""

    severity: str
    failing: list[int]
    tested: int
    worst: int | None
    worst_gap: float | None

    @classmethod
    def of(cls, gap: np.ndarray, severities: list[str], p_values: np.ndarray) -> Outcome:
        tested = ~np.isnan(p_values)
        # Failing subsets worst first; the headline subset (title, sentence, metrics) is the worst failing one, or
        # the worst tested one when none fails, so every figure on the page is about the same subset.
        failing = sorted((i for i, s in enumerate(severities) if s != SEVERITY_PASS), key=lambda i: -gap[i])
        worst = failing[0] if failing else (int(np.nanargmax(np.where(tested, gap, np.nan))) if tested.any() else None)
        return cls(severity=worst_severity(severities), failing=failing, tested=int(tested.sum()),
                   worst=worst, worst_gap=float(gap[worst]) if worst is not None else None)


class _SubsetTestBase(StressTest):
    metric: str
    requires = frozenset({"labels", "predictions"})

    def _grouped(self, ctx: Context, which: str, features: list[FeatureSubsets], params: dict
                 ) -> tuple[GroupedMetric, list[GroupedMetric]]:
        """The metric on the whole dataset and per subset of every feature, in one vectorised pass; memoised, since
        Subset Performance and Subset Performance Degradation both need the evaluation side of each metric."""
        min_class_size = _min_class_size(params)
        key = ("subset_performance.grouped", self.metric, which, tuple(id(s) for s in features), min_class_size)
        if key not in ctx.memo:
            labels = getattr(ctx, f"{which}_labels") if METRICS[self.metric].needs_labels else None
            frame = getattr(ctx, which)
            code_sets = [np.zeros(len(frame), dtype=np.int64), *(getattr(s, f"{which}_codes") for s in features)]
            overall, *per_feature = grouped_metrics(self.metric, ctx.model_task, labels,
                                                    getattr(ctx, f"{which}_predictions"), code_sets,
                                                    [1, *(s.count for s in features)], min_class_size=min_class_size,
                                                    k=ctx.ndcg_k)
            ctx.memo[key] = (features, overall, per_feature)   # `features` kept so that the ids stay theirs
        return ctx.memo[key][1:]

    def _cases(self, features: list[FeatureSubsets], evidence: tuple[list, list, list], params: dict,
               thresholds: tuple[float, float], build) -> list[TestCase]:
        """Decide every subset of every feature together (one FDR family), then build one case per feature."""
        gaps, errors, valid = (np.concatenate(part) for part in evidence)
        severities, p_values = decide(gaps, errors, valid, thresholds, float(params.get("false_discovery_rate", 0.05)))
        cases, start = [], 0
        for position, subsets in enumerate(features):
            stop = start + subsets.count
            cases.append(build(position, severities[start:stop], p_values[start:stop]))
            start = stop
        return cases

    def _subsets(self, ctx: Context, params: dict) -> list[FeatureSubsets]:
        subsets = feature_subsets(ctx, int(params.get("max_categories", 20)))
        if not subsets:
            raise SkipTest("no numeric, categorical or boolean feature to split into subsets")
        return subsets


def _display(metric: str) -> str:
    return METRICS[metric].display


def _min_class_size(params: dict) -> int:
    return max(int(params.get("min_class_size", DEFAULT_PARAMS["min_class_size"])), 1)


def enough_members(grouped: GroupedMetric, rows: np.ndarray, params: dict) -> np.ndarray:
    """Subsets with `min_subset_size` rows whose metric rests on `min_class_size` members of each class it needs."""
    return (rows >= int(params.get("min_subset_size", 20))) & (grouped.support >= _min_class_size(params))


def _format_gap(metric: str, gap: float) -> str:
    return f"{gap:.3f}" if METRICS[metric].bounded else f"{gap:.0%}"


def _overall_change(metric: str, overall_gap: float) -> str:
    """The whole dataset's change in words: a negative degradation is an improvement, said as one."""
    if np.isnan(overall_gap) or _format_gap(metric, abs(overall_gap)) == _format_gap(metric, 0.0):
        return "while all rows together held steady"
    direction = "lost" if overall_gap > 0 else "gained"
    return f"while all rows together {direction} {_format_gap(metric, abs(overall_gap))}"


MAX_EXAMPLES = 5


def subset_examples(ctx: Context, subsets: FeatureSubsets, code: int) -> list[dict]:
    """A few evaluation rows of one subset: row number, the feature's value, label and prediction. Memoised: the
    tests of different metrics often fail on the same subset."""
    key = ("subset_performance.examples", id(subsets), code)
    if key not in ctx.memo:
        ctx.memo[key] = (subsets, _subset_examples(ctx, subsets, code))   # `subsets` kept so its id stays its own
    return [dict(example) for example in ctx.memo[key][1]]


def _subset_examples(ctx: Context, subsets: FeatureSubsets, code: int) -> list[dict]:
    rows = np.flatnonzero(subsets.evaluation_codes == code)[:MAX_EXAMPLES]
    values = {f: ctx.evaluation[f].iloc[rows].tolist() for f in subsets.feature_list}   # a few cells per column
    examples = []
    for position, row in enumerate(rows):
        example = {"row": int(row)} | {f: column[position] for f, column in values.items()}
        if ctx.evaluation_labels is not None:
            example["label"] = ctx.evaluation_labels[row]
        if ctx.evaluation_predictions is not None:
            example["prediction"] = ctx.evaluation_predictions[row]
        examples.append(json_safe(example))
    return examples


def _subset_details(subsets: FeatureSubsets, grouped: GroupedMetric, rows: np.ndarray, severities: list[str],
                    baseline: np.ndarray | float, *, gap: np.ndarray, p_values: np.ndarray, warning: float,
                    **extra: object) -> dict:
    """Per subset: its metric, its rows, the rows and class members the metric rests on, severity and status."""
    statuses = subset_statuses(gap, severities, p_values, warning)
    table = [{"subset": label, "metric": float(value) if not np.isnan(value) else None, "rows": int(count),
              "metric_rows": int(used), "class_members": int(members), "severity": severity, "status": status}
             for label, value, count, used, members, severity, status in zip(
                 subsets.labels, grouped.values, rows, grouped.counts, grouped.support, severities, statuses)
             if count > 0]
    return {"subsets": table, "baseline": baseline, **_subset_shares(subsets), **extra}


def _subset_shares(subsets: FeatureSubsets) -> dict:
    """Each subset's share of the reference rows and of the evaluation rows: the feature's distribution on the same
    bins as the metric bars, so a page can show whether a failing subset also grew or shrank."""
    reference, evaluation = subsets.rows("reference"), subsets.rows("evaluation")
    kept = np.flatnonzero((reference > 0) | (evaluation > 0))
    return {"categories": [subsets.labels[i] for i in kept],
            "reference_shares": [float(reference[i] / max(reference.sum(), 1)) for i in kept],
            "evaluation_shares": [float(evaluation[i] / max(evaluation.sum(), 1)) for i in kept]}


SUBSET_FAILS = "fails"
SUBSET_PASSES = "passes"
SUBSET_NOT_SIGNIFICANT = "not_significant"   # past the warning line, but within sampling noise after FDR control
SUBSET_NOT_TESTED = "not_tested"             # fewer rows than min_subset_size, fewer class members than
                                             # min_class_size, or an undefined metric


def subset_statuses(gap: np.ndarray, severities: list[str], p_values: np.ndarray, warning: float) -> list[str]:
    """Why each subset's bar is drawn as it is: a bar past the line that does not fail says which rule kept it."""
    statuses = []
    for value, severity, p_value in zip(gap, severities, p_values):
        if severity != SEVERITY_PASS:
            statuses.append(SUBSET_FAILS)
        elif np.isnan(p_value):
            statuses.append(SUBSET_NOT_TESTED)
        elif value >= warning:
            statuses.append(SUBSET_NOT_SIGNIFICANT)
        else:
            statuses.append(SUBSET_PASSES)
    return statuses


# ---- Subset Performance ------------------------------------------------------------------------------------------
class SubsetPerformanceTest(_SubsetTestBase):
    category = TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        features = self._subsets(ctx, params)
        overall, per_feature = self._grouped(ctx, "evaluation", features, params)
        if np.isnan(overall.values[0]):
            raise SkipTest(f"{_display(self.metric)} is undefined on the evaluation set: "
                           f"{undefined_reason(self.metric)}")
        evidence = self._evidence(features, per_feature, overall, params)
        return self._cases(features, evidence, params, thresholds, lambda i, severities, p_values: self._case(
            ctx, features[i], per_feature[i], evidence[0][i], severities, p_values, float(overall.values[0]),
            thresholds))

    def _evidence(self, features: list[FeatureSubsets], per_feature: list[GroupedMetric], overall: GroupedMetric,
                  params: dict):
        total = max(overall.counts[0], 1)
        gaps, errors, valid = [], [], []
        for subsets, grouped in zip(features, per_feature):
            gap = metric_gap(self.metric, overall.values[0], grouped.values)
            # The subset is part of the whole: Var(subset - overall) = Var(subset) * (1 - share of the subset).
            shrink = np.sqrt(np.clip(1 - grouped.counts / total, 0.0, 1.0))
            gaps.append(gap)
            errors.append(gap_error(self.metric, overall.values[0], grouped.standard_errors * shrink))
            valid.append(enough_members(grouped, subsets.rows("evaluation"), params) & ~np.isnan(gap))
        return gaps, errors, valid

    def _case(self, ctx: Context, subsets: FeatureSubsets, grouped: GroupedMetric, gap: np.ndarray,
              severities: list[str], p_values: np.ndarray, overall: float, thresholds: tuple[float, float]
              ) -> TestCase:
        outcome = Outcome.of(gap, severities, p_values)
        worst = outcome.worst
        rows = subsets.rows("evaluation")
        metrics = {"overall_" + self.metric: overall,
                   "worst_subset": subsets.labels[worst] if worst is not None else None,
                   "worst_subset_" + self.metric: float(grouped.values[worst]) if worst is not None else None,
                   "worst_subset_rows": int(rows[worst]) if worst is not None else None,
                   "worst_subset_metric_rows": int(grouped.counts[worst]) if worst is not None else None,
                   "worst_subset_class_members": int(grouped.support[worst]) if worst is not None else None,
                   "degraded_by": outcome.worst_gap, "failing_subsets": len(outcome.failing),
                   "subsets_tested": outcome.tested}
        finding = ""
        if outcome.failing:
            first = outcome.failing[0]
            finding = (f"{len(outcome.failing)} subset(s) of {subsets.feature} ({_names(subsets, outcome)}) perform "
                       f"significantly worse than the whole evaluation set: {_display(self.metric)} "
                       f"{float(grouped.values[first]):.3f} vs {overall:.3f} overall (worse by "
                       f"{_format_gap(self.metric, float(gap[first]))}), so the model serves these rows worse than "
                       "its overall score suggests.")
            if not METRICS[self.metric].directed:
                finding = (f"{len(outcome.failing)} subset(s) of {subsets.feature} ({_names(subsets, outcome)}) "
                           f"differ significantly from the whole evaluation set: {_display(self.metric)} "
                           f"{float(grouped.values[first]):.3f} vs {overall:.3f} overall (differs by "
                           f"{_format_gap(self.metric, float(gap[first]))}), so the model's outputs on these rows "
                           "are unlike the rest; a shift, not in itself worse.")
        details = _subset_details(subsets, grouped, rows, severities, overall, gap=gap, p_values=p_values,
                                  warning=thresholds[0], warning_line=thresholds[0])
        return _test_case(ctx, subsets, outcome, metrics, finding, details, outcome.worst_gap)


# ---- Subset Performance Degradation ------------------------------------------------------------------------------
class SubsetDegradationTest(_SubsetTestBase):
    category = TEST_CATEGORY_TYPE_SUBSET_PERFORMANCE_DEGRADATION

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        features = self._subsets(ctx, params)
        overall_ref, per_feature_ref = self._grouped(ctx, "reference", features, params)
        overall_eval, per_feature_eval = self._grouped(ctx, "evaluation", features, params)
        overall_gap = float(metric_gap(self.metric, overall_ref.values, overall_eval.values)[0])
        # Macro metrics compare each subset on the classes it holds enough of in both datasets.
        pairs = [on_common_classes(ref, ev) for ref, ev in zip(per_feature_ref, per_feature_eval)]
        # Judge what a subset lost beyond the whole dataset's loss; an overall improvement is not credited.
        excess_over = max(overall_gap, 0.0) if not np.isnan(overall_gap) else 0.0
        degradations = [metric_gap(self.metric, ref.values, ev.values) for ref, ev in pairs]
        gaps = [degradation - excess_over for degradation in degradations]
        errors = [gap_error(self.metric, ref.values, np.hypot(ref.standard_errors, ev.standard_errors))
                  for ref, ev in pairs]
        valid = [enough_members(ref, subsets.rows("reference"), params)
                 & enough_members(ev, subsets.rows("evaluation"), params) & ~np.isnan(gap)
                 for subsets, (ref, ev), gap in zip(features, pairs, gaps)]
        return self._cases(features, (gaps, errors, valid), params, thresholds, lambda i, severities, p_values:
                           self._case(ctx, features[i], pairs[i], degradations[i], severities, p_values, overall_gap,
                                      thresholds))

    def _case(self, ctx: Context, subsets: FeatureSubsets, pair: tuple[GroupedMetric, GroupedMetric],
              gap: np.ndarray, severities: list[str], p_values: np.ndarray, overall_gap: float,
              thresholds: tuple[float, float]) -> TestCase:
        reference, evaluation = pair
        outcome = Outcome.of(gap, severities, p_values)
        excess = (outcome.worst_gap - max(overall_gap, 0.0)) if outcome.worst_gap is not None else None
        metrics = {"overall_degradation": overall_gap,
                   "worst_subset": subsets.labels[outcome.worst] if outcome.worst is not None else None,
                   "worst_subset_degradation": outcome.worst_gap, "worst_subset_minus_overall": excess,
                   "failing_subsets": len(outcome.failing), "subsets_tested": outcome.tested}
        finding = ""
        if outcome.failing:
            first = outcome.failing[0]
            finding = (f"{_display(self.metric)} degraded in {len(outcome.failing)} subset(s) of {subsets.feature} "
                       f"({_names(subsets, outcome)}): {float(reference.values[first]):.3f} on reference vs "
                       f"{float(evaluation.values[first]):.3f} on evaluation "
                       f"({_format_gap(self.metric, float(gap[first]))} worse, "
                       f"{_overall_change(self.metric, overall_gap)}), so these rows are served worse than "
                       "when the model was validated.")
            if not METRICS[self.metric].directed:
                finding = (f"{_display(self.metric)} shifted in {len(outcome.failing)} subset(s) of "
                           f"{subsets.feature} ({_names(subsets, outcome)}): {float(reference.values[first]):.3f} on "
                           f"reference vs {float(evaluation.values[first]):.3f} on evaluation (changed by "
                           f"{_format_gap(self.metric, float(gap[first]))}, against "
                           f"{_format_gap(self.metric, overall_gap)} for all rows); a shift, not in itself worse.")
        excess_gap = gap - max(overall_gap, 0.0) if not np.isnan(overall_gap) else gap
        details = _subset_details(subsets, evaluation, subsets.rows("evaluation"), severities, None, gap=excess_gap,
                                  p_values=p_values, warning=thresholds[0],
                                  reference_metric=[None if np.isnan(v) else float(v) for v in reference.values],
                                  reference_rows=subsets.rows("reference").tolist(),
                                  reference_class_members=reference.support.tolist(), warning_line=thresholds[0])
        return _test_case(ctx, subsets, outcome, metrics, finding, details, excess)


def _names(subsets: FeatureSubsets, outcome: Outcome) -> str:
    return ", ".join(subsets.labels[i] for i in outcome.failing[:3])


def _test_case(ctx: Context, subsets: FeatureSubsets, outcome: Outcome, metrics: dict, finding: str, details: dict,
               importance: float | None) -> TestCase:
    first = outcome.failing[0] if outcome.failing else None
    return TestCase(features=subsets.feature_list, severity=outcome.severity, metrics=metrics,
                    importance_score=max(importance or 0.0, 0.0), finding=finding, details=details,
                    subset=subsets.labels[first] if first is not None else None,
                    examples=subset_examples(ctx, subsets, first) if first is not None else [])


# ---- registration --------------------------------------------------------------------------------------------------
def _thresholds(metric: str) -> tuple[float, float]:
    if "variance" in metric:
        return _VARIANCE
    return _BOUNDED if METRICS[metric].bounded else _RELATIVE


def _requires(metric: str) -> frozenset[str]:
    return frozenset({"labels", "predictions"}) if METRICS[metric].needs_labels else frozenset({"predictions"})


def _class_name(prefix: str, metric: str) -> str:
    return prefix + "".join(part.title() for part in metric.split("_"))


def _register_subset_tests(metric: str, tasks: frozenset[str]) -> None:
    display = _display(metric)
    register(type(_class_name("Subset", metric), (SubsetPerformanceTest,), {
        "key": f"subset_{metric}", "name": f"Subset {display}", "metric": metric, "tasks": tasks,
        "requires": _requires(metric), "default_params": dict(DEFAULT_PARAMS), "thresholds": _thresholds(metric),
        "finding_priority": metric_priority(metric),
        "description": f"Splits the evaluation set into subsets per feature (quantile bins or values) and flags "
                       f"subsets whose {display} is significantly worse than on the whole evaluation set.",
        "why_it_matters": "An overall score can hide groups of inputs the model handles badly; those users or "
                          "cases get systematically worse decisions.",
    }))
    register(type(_class_name("SubsetDrift", metric), (SubsetDegradationTest,), {
        "key": f"subset_drift_{metric}", "name": f"Subset Drift {display}", "metric": metric, "tasks": tasks,
        "requires": _requires(metric), "default_params": dict(DEFAULT_PARAMS), "thresholds": _thresholds(metric),
        "finding_priority": metric_priority(metric),
        "description": f"Compares each feature subset's {display} on the evaluation set with the same subset on "
                       "the reference set and flags subsets that degraded significantly more than the whole dataset.",
        "why_it_matters": "Degradation often starts in one segment before it shows in the overall metric; "
                          "finding the segment tells you where the data changed.",
    }))


for _metric, _tasks in SUBSET_METRICS.items():
    _register_subset_tests(_metric, _tasks)
