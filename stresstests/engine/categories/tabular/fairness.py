"""Bias and Fairness: how the model treats the subsets of each protected feature (RIME §2.10).

Every rate comes with a 95 % interval and a subset fails only when its whole interval is on the failing side, so
small subsets do not raise alarms on noise. Details carry the per-subset rates and intervals the UI charts.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import ClassVar

import numpy as np
import pandas as pd

from stresstests.engine.vocabulary import (
    ALL_TASKS, MODEL_TASK_BINARY_CLASSIFICATION, MULTICLASS_TASKS, MODEL_TASK_REGRESSION,
    SEVERITY_PASS, TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS,
)
from stresstests.engine.categories.tabular.model_performance import BOTH_MODALITIES
from stresstests.engine.base import Context, SkipTest, StressTest, TestCase, json_safe, register
from stresstests.engine.severity import severity_for
from stresstests.engine.categories.tabular.model_probe import (
    predicted_class,
    prediction_scale,
    row_change,
    sample_clean_rows,
    score_variants,
    with_column,
)

Z_95 = 1.959964
MAX_NUMERIC_GROUPS = 10       # a numeric protected feature with more values is cut into quantile bins
NUMERIC_BINS = 4
PROXY_MAX_ROWS = 50_000       # mutual information is stable long before this; keeps 1M-row runs fast
PROXY_MAX_LEVELS = 50


# --------------------------------------------------------------------------------------------------------------
# Subsets and their rates


@dataclass
class Groups:
    """Evaluation rows split into the subsets of one (or a pair of) protected feature(s)."""

    features: list[str]
    codes: np.ndarray          # (n,) subset number of every evaluation row
    names: list[str]           # "country = USA", "age in [30, 45)", "country = USA & sex = F"
    values: list               # the raw value of each subset (None for bins and missing)

    @property
    def size(self) -> int:
        return len(self.names)


def protected_groups(ctx: Context, feature: str) -> Groups:
    """The subsets of one protected feature, computed once per run and shared by the fairness tests."""
    key = ("fairness.groups", feature)
    if key not in ctx.memo:
        ctx.memo[key] = _groups(ctx, feature)
    return ctx.memo[key]


def _groups(ctx: Context, feature: str) -> Groups:
    column = ctx.evaluation[feature]
    if ctx.schema.feature_types.get(feature) == "numeric" and column.nunique() > MAX_NUMERIC_GROUPS:
        return _binned_groups(ctx, feature)
    codes, uniques = pd.factorize(column, sort=True)
    names = [f"{feature} = {value}" for value in uniques]
    values = list(uniques)
    if (codes < 0).any():
        codes = np.where(codes < 0, len(names), codes)
        names.append(f"{feature} is missing")
        values.append(None)
    return Groups([feature], codes, names, values)


def _binned_groups(ctx: Context, feature: str) -> Groups:
    reference = pd.to_numeric(ctx.reference[feature], errors="coerce").dropna().to_numpy()
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, NUMERIC_BINS + 1)[1:-1]))
    values = pd.to_numeric(ctx.evaluation[feature], errors="coerce").to_numpy(dtype=float)
    codes = np.searchsorted(edges, values, side="right")
    bounds = [-np.inf, *edges, np.inf]
    names = [f"{feature} in [{_short(low)}, {_short(high)})" for low, high in zip(bounds[:-1], bounds[1:])]
    missing = np.isnan(values)
    if missing.any():
        codes = np.where(missing, len(names), codes)
        names.append(f"{feature} is missing")
    return Groups([feature], codes, names, [None] * len(names))


def crossed_groups(first: Groups, second: Groups) -> Groups:
    codes = first.codes * second.size + second.codes
    names = [f"{a} & {b}" for a in first.names for b in second.names]
    return Groups([*first.features, *second.features], codes, names, [None] * len(names))


def _short(number: float) -> str:
    return "-inf" if number == -np.inf else "inf" if number == np.inf else f"{number:.4g}"


@dataclass
class Rates:
    counts: np.ndarray
    rates: np.ndarray
    low: np.ndarray
    high: np.ndarray


def subset_rates(groups: Groups, outcome: np.ndarray, include: np.ndarray | None = None) -> Rates:
    """Share of `outcome` (0/1) per subset, over the rows in `include`, with Wilson 95 % intervals."""
    codes, outcome = groups.codes, np.asarray(outcome, dtype=float)
    if include is not None:
        codes, outcome = codes[include], outcome[include]
    counts = np.bincount(codes, minlength=groups.size).astype(float)
    hits = np.bincount(codes, weights=outcome, minlength=groups.size)
    low, high = wilson_interval(hits, counts)
    return Rates(counts, hits / np.maximum(counts, 1), low, high)


def subset_means(groups: Groups, values: np.ndarray) -> Rates:
    """Mean of `values` per subset with a normal 95 % interval (for average predictions)."""
    values = np.asarray(values, dtype=float)
    counts = np.bincount(groups.codes, minlength=groups.size).astype(float)
    n = np.maximum(counts, 1)
    means = np.bincount(groups.codes, weights=values, minlength=groups.size) / n
    squares = np.bincount(groups.codes, weights=values * values, minlength=groups.size) / n
    spread = np.sqrt(np.maximum(squares - means * means, 0) * n / np.maximum(n - 1, 1))
    half = Z_95 * spread / np.sqrt(n)
    return Rates(counts, means, means - half, means + half)


def wilson_interval(hits: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = np.maximum(np.asarray(counts, dtype=float), 1)
    share = np.asarray(hits, dtype=float) / n
    denominator = 1 + Z_95**2 / n
    centre = (share + Z_95**2 / (2 * n)) / denominator
    half = Z_95 * np.sqrt(share * (1 - share) / n + Z_95**2 / (4 * n * n)) / denominator
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def difference_interval(first: Rates, second_index: int) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's 95 % interval for rate[i] - rate[second_index], for every subset i."""
    rate, low, high = first.rates, first.low, first.high
    other, other_low, other_high = rate[second_index], low[second_index], high[second_index]
    difference = rate - other
    lower = difference - np.sqrt((rate - low) ** 2 + (other_high - other) ** 2)
    upper = difference + np.sqrt((high - rate) ** 2 + (other - other_low) ** 2)
    return lower, upper


def smallest_gap(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """The least |difference| compatible with the interval: 0 when the interval contains 0."""
    return np.where(lower > 0, lower, np.where(upper < 0, -upper, 0.0))


def group_table(groups: Groups, rates: Rates, eligible: np.ndarray, **columns: np.ndarray) -> list[dict]:
    """Chart rows: one per subset with its count, rate and interval (ineligible subsets are marked, not hidden)."""
    table = []
    for index, name in enumerate(groups.names):
        if rates.counts[index] == 0:
            continue
        row = {"subset": name, "count": int(rates.counts[index]), "rate": rates.rates[index],
               "ci_low": rates.low[index], "ci_high": rates.high[index], "enough_rows": bool(eligible[index])}
        row.update({key: values[index] for key, values in columns.items()})
        table.append(row)
    return json_safe(table)


def positive_predictions(ctx: Context) -> np.ndarray:
    return predicted_class(ctx, ctx.evaluation_predictions)


def _protected(ctx: Context) -> list[str]:
    return [f for f in ctx.schema.protected_features if f in ctx.evaluation.columns]


def _no_comparison(groups: Groups, reason: str) -> TestCase:
    return TestCase(features=list(groups.features), severity=SEVERITY_PASS, metrics={"note": reason})


# --------------------------------------------------------------------------------------------------------------
# Ratio tests: the four-fifths rule


class _FourFifthsTest(StressTest):
    """A subset's positive prediction rate divided by a comparison rate must stay above the warning ratio (0.8).

    The test uses the upper end of the subset's interval, so a subset fails only if even its most favourable
    plausible rate is below the required share.
    """

    category = TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS
    modalities = BOTH_MODALITIES   # protected columns and predictions: a text dataset's too
    requires = frozenset({"predictions", "protected_features"})
    tasks = frozenset({MODEL_TASK_BINARY_CLASSIFICATION})
    thresholds = (0.8, 0.6)
    thresholds_higher_is_worse = False
    default_params = {"min_sample_size": 20}
    comparison = "best subset"

    statistic: ClassVar[str] = "positive_rate"    # or "average_prediction" (regression)

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        outcome = self.outcome(ctx)
        return [self.assess(groups, outcome, params, thresholds) for groups in self.groupings(ctx)]

    def outcome(self, ctx: Context) -> np.ndarray:
        if self.statistic == "positive_rate":
            return positive_predictions(ctx)
        predictions = np.asarray(ctx.evaluation_predictions, dtype=float)
        if predictions.min() < 0:
            raise SkipTest("A ratio of average predictions needs predictions that are never negative.")
        return predictions

    def rates_of(self, groups: Groups, outcome: np.ndarray) -> Rates:
        return subset_rates(groups, outcome) if self.statistic == "positive_rate" else subset_means(groups, outcome)

    def groupings(self, ctx: Context) -> list[Groups]:
        return [protected_groups(ctx, feature) for feature in _protected(ctx)]

    def comparison_rate(self, groups: Groups, rates: Rates, eligible: np.ndarray, outcome: np.ndarray
                        ) -> tuple[float, str]:
        best = int(np.argmax(np.where(eligible, rates.rates, -1)))
        return float(rates.rates[best]), groups.names[best]

    def assess(self, groups: Groups, outcome: np.ndarray, params: dict, thresholds: tuple[float, float]
               ) -> TestCase:
        rates = self.rates_of(groups, outcome)
        eligible = rates.counts >= params["min_sample_size"]
        if eligible.sum() < 2:
            return _no_comparison(groups, f"fewer than two subsets have {params['min_sample_size']} rows")
        reference_rate, reference_label = self.comparison_rate(groups, rates, eligible, outcome)
        if reference_rate <= 0:
            return _no_comparison(groups, f"no subset has a {self.statistic.replace('_', ' ')} above zero")
        ratio = rates.rates / reference_rate
        ratio_upper = np.minimum(rates.high / reference_rate, 1.0)
        worst = int(np.argmin(np.where(eligible, ratio_upper, np.inf)))
        severity = severity_for(float(ratio_upper[worst]), thresholds, higher_is_worse=False)
        failing = eligible & (ratio_upper < thresholds[0])
        return TestCase(
            features=list(groups.features), severity=severity, subset=groups.names[worst],
            importance_score=float(1 - ratio[worst]),
            metrics=json_safe({"impact_ratio": ratio[worst], "impact_ratio_upper": ratio_upper[worst],
                               f"subset_{self.statistic}": rates.rates[worst], "comparison_rate": reference_rate,
                               "failing_subsets": int(failing.sum())}),
            finding=self.finding(groups.names[worst], rates.rates[worst], ratio[worst], reference_label,
                                 reference_rate, thresholds) if severity != SEVERITY_PASS else "",
            details={"comparison": reference_label, "comparison_rate": json_safe(reference_rate),
                     "required_rate": json_safe(thresholds[0] * reference_rate), "threshold_ratio": thresholds[0],
                     "groups": group_table(groups, rates, eligible, impact_ratio=ratio,
                                           fails=failing.astype(bool))},
        )

    def finding(self, subset: str, rate: float, ratio: float, reference: str, reference_rate: float,
                thresholds: tuple[float, float]) -> str:
        if self.statistic == "positive_rate":
            measured = f"receives positive predictions {rate:.1%} of the time, {ratio:.0%} of the rate of " \
                       f"{reference} ({reference_rate:.1%})"
        else:
            measured = f"has an average prediction of {rate:.4g}, {ratio:.0%} of that of {reference} " \
                       f"({reference_rate:.4g})"
        return f"{subset} {measured}, below the {thresholds[0]:.0%} rule even at the top of its 95 % interval."


@register
class DemographicParity(_FourFifthsTest):
    key = "demographic_parity"
    name = "Demographic Parity (Pos Pred)"
    description = "Each protected subset's positive prediction rate compared with the best subset's (four-fifths rule)."
    why_it_matters = ("A subset selected far less often than another is the textbook sign of disparate impact, which "
                      "regulators test with the four-fifths rule.")


@register
class IntersectionalGroupFairness(_FourFifthsTest):
    key = "intersectional_group_fairness"
    name = "Intersectional Group Fairness (Pos Pred)"
    description = ("Subgroups formed by every pair of protected features: each subgroup's positive prediction rate "
                   "compared with the overall rate (four-fifths rule).")
    why_it_matters = ("A model can look fair on each protected feature alone and still disadvantage a combination, "
                      "such as older women.")
    default_params = {"min_sample_size": 10}

    def groupings(self, ctx: Context) -> list[Groups]:
        single = [protected_groups(ctx, feature) for feature in _protected(ctx)]
        return [crossed_groups(first, second) for first, second in combinations(single, 2)]

    def comparison_rate(self, groups: Groups, rates: Rates, eligible: np.ndarray, outcome: np.ndarray
                        ) -> tuple[float, str]:
        return float(np.mean(outcome)), "all rows"

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        if len(_protected(ctx)) < 2:
            raise SkipTest("Intersectional fairness needs at least two protected features.")
        return super().run(ctx, params, thresholds)


@register
class DemographicParityAvgPred(DemographicParity):
    key = "demographic_parity_avg_pred"
    name = "Demographic Parity (Avg Pred)"
    description = "Each protected subset's average prediction compared with the best subset's (four-fifths rule)."
    tasks = frozenset({MODEL_TASK_REGRESSION})
    statistic = "average_prediction"


@register
class GroupFairnessAvgPred(IntersectionalGroupFairness):
    key = "group_fairness_avg_pred"
    name = "Intersectional Group Fairness (Avg Pred)"
    description = ("Subgroups formed by every pair of protected features: each subgroup's average prediction "
                   "compared with the overall average (four-fifths rule).")
    tasks = frozenset({MODEL_TASK_REGRESSION})
    statistic = "average_prediction"


# --------------------------------------------------------------------------------------------------------------
# Error-rate tests: recall and false positive rate per subset


class _ErrorRateTest(StressTest):
    """A per-subset rate computed over the rows of one true class, compared with a reference rate.

    The key metric is the gap in the harmful direction; severity uses the smallest gap the 95 % interval allows.
    """

    category = TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS
    modalities = BOTH_MODALITIES   # protected columns and predictions: a text dataset's too
    requires = frozenset({"labels", "predictions", "protected_features"})
    tasks = frozenset({MODEL_TASK_BINARY_CLASSIFICATION})
    thresholds = (0.1, 0.2)
    default_params = {"min_sample_size": 10}
    true_class = 1
    rate_name = "recall"          # in sentences
    rate_key = "recall"           # in metric names
    lower_is_worse = True

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        positive = positive_predictions(ctx)
        include = np.asarray(ctx.evaluation_labels).astype(int) == self.true_class
        overall = float(positive[include].mean()) if include.any() else float("nan")
        cases = []
        for feature in _protected(ctx):
            groups = protected_groups(ctx, feature)
            rates = subset_rates(groups, positive, include)
            cases.append(self.assess(groups, rates, overall, params, thresholds))
        return cases

    def assess(self, groups: Groups, rates: Rates, overall: float, params: dict,
               thresholds: tuple[float, float]) -> TestCase:
        eligible = rates.counts >= params["min_sample_size"]
        if not eligible.any() or np.isnan(overall):
            return _no_comparison(groups, f"no subset has {params['min_sample_size']} rows of the needed class")
        sign = 1.0 if self.lower_is_worse else -1.0
        gap = sign * (overall - rates.rates)
        evidence = sign * (overall - (rates.high if self.lower_is_worse else rates.low))
        worst = int(np.argmax(np.where(eligible, evidence, -np.inf)))
        severity = severity_for(max(float(evidence[worst]), 0.0), thresholds)
        failing = eligible & (evidence > thresholds[0])
        return TestCase(
            features=list(groups.features), severity=severity, subset=groups.names[worst],
            importance_score=float(max(gap[worst], 0.0)),
            metrics=json_safe({f"subset_{self.rate_key}": rates.rates[worst], f"overall_{self.rate_key}": overall,
                               "gap": gap[worst], "gap_lower_bound": max(float(evidence[worst]), 0.0),
                               "failing_subsets": int(failing.sum())}),
            finding=self.finding(groups.names[worst], rates.rates[worst], overall)
            if severity != SEVERITY_PASS else "",
            details={"rate": self.rate_key, "overall_rate": json_safe(overall),
                     "groups": group_table(groups, rates, eligible, gap=gap, fails=failing.astype(bool))},
        )

    def finding(self, subset: str, rate: float, overall: float) -> str:
        return (f"The model's {self.rate_name} on {subset} is {rate:.1%} against {overall:.1%} overall, a gap beyond "
                f"sampling noise.")


@register
class EqualOpportunity(_ErrorRateTest):
    key = "equal_opportunity"
    name = "Equal Opportunity (Recall)"
    description = "Each protected subset's recall (true positive rate) compared with the overall recall."
    why_it_matters = "A subset whose true positives are missed more often is denied the outcome it qualifies for."


@register
class PredictiveEquality(_ErrorRateTest):
    key = "predictive_equality"
    name = "Predictive Equality (FPR)"
    description = "Each protected subset's false positive rate compared with the overall false positive rate."
    why_it_matters = "A subset wrongly flagged more often bears more of the model's false accusations."
    true_class = 0
    rate_name = "false positive rate"
    rate_key = "false_positive_rate"
    lower_is_worse = False


@register
class EqualOpportunityMacroRecall(_ErrorRateTest):
    key = "equal_opp_macro_recall"
    name = "Equal Opportunity (Macro Recall)"
    description = "Each protected subset's macro-averaged recall compared with the overall macro recall."
    why_it_matters = "A subset whose true classes are recognised less often gets worse decisions in every class."
    tasks = MULTICLASS_TASKS
    rate_name = "macro recall"
    rate_key = "macro_recall"

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        labels = np.asarray(ctx.evaluation_labels).astype(int)
        predicted = positive_predictions(ctx)
        classes = np.unique(labels)
        overall = float(np.mean([np.mean(predicted[labels == c] == c) for c in classes]))
        cases = []
        for feature in _protected(ctx):
            groups = protected_groups(ctx, feature)
            cases.append(self.assess(groups, macro_recall(groups, labels, predicted, classes), overall, params,
                                     thresholds))
        return cases


def macro_recall(groups: Groups, labels: np.ndarray, predicted: np.ndarray, classes: np.ndarray) -> Rates:
    """Per subset: the mean over classes of recall, with a normal 95 % interval from the per-class variances."""
    per_class = [subset_rates(groups, predicted == c, labels == c) for c in classes]
    counts = np.stack([r.counts for r in per_class])
    present = counts > 0
    recalls = np.where(present, np.stack([r.rates for r in per_class]), np.nan)
    n_classes = np.maximum(present.sum(axis=0), 1)
    macro = np.nan_to_num(np.nanmean(np.where(present.any(axis=0), recalls, 0.0), axis=0))
    variance = np.nansum(np.where(present, recalls * (1 - recalls) / np.maximum(counts, 1), 0.0), axis=0)
    half = Z_95 * np.sqrt(variance) / n_classes
    return Rates(counts.sum(axis=0), macro, np.clip(macro - half, 0, 1), np.clip(macro + half, 0, 1))


@register
class EqualizedOdds(StressTest):
    key = "equalized_odds"
    name = "Equalized Odds"
    category = TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS
    modalities = BOTH_MODALITIES   # protected columns and predictions: a text dataset's too
    description = "True and false positive rates of each protected subset compared with those of the largest subset."
    why_it_matters = "Equal error rates across subsets mean the model is equally right and equally wrong for everyone."
    requires = frozenset({"labels", "predictions", "protected_features"})
    tasks = frozenset({MODEL_TASK_BINARY_CLASSIFICATION})
    thresholds = (0.1, 0.2)
    default_params = {"min_sample_size": 20}

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        positive = positive_predictions(ctx)
        labels = np.asarray(ctx.evaluation_labels).astype(int)
        return [self.assess(protected_groups(ctx, feature), positive, labels, params, thresholds)
                for feature in _protected(ctx)]

    def assess(self, groups: Groups, positive: np.ndarray, labels: np.ndarray, params: dict,
               thresholds: tuple[float, float]) -> TestCase:
        tpr, fpr = subset_rates(groups, positive, labels == 1), subset_rates(groups, positive, labels == 0)
        eligible = np.minimum(tpr.counts, fpr.counts) >= params["min_sample_size"]
        if eligible.sum() < 2:
            return _no_comparison(groups, f"fewer than two subsets have {params['min_sample_size']} rows per class")
        largest = int(np.argmax(np.where(eligible, tpr.counts + fpr.counts, -1)))
        tpr_gap, fpr_gap = tpr.rates - tpr.rates[largest], fpr.rates - fpr.rates[largest]
        evidence = np.maximum(smallest_gap(*difference_interval(tpr, largest)),
                              smallest_gap(*difference_interval(fpr, largest)))
        gap = np.maximum(np.abs(tpr_gap), np.abs(fpr_gap))
        worst = int(np.argmax(np.where(eligible, evidence, -np.inf)))
        severity = severity_for(float(evidence[worst]), thresholds)
        failing = eligible & (evidence > thresholds[0])
        return TestCase(
            features=list(groups.features), severity=severity, subset=groups.names[worst],
            importance_score=float(gap[worst]),
            metrics=json_safe({"tpr_gap": tpr_gap[worst], "fpr_gap": fpr_gap[worst], "gap": gap[worst],
                               "gap_lower_bound": evidence[worst], "failing_subsets": int(failing.sum())}),
            finding=(f"{groups.names[worst]} has true positive rate {tpr.rates[worst]:.1%} and false positive rate "
                     f"{fpr.rates[worst]:.1%}, against {tpr.rates[largest]:.1%} and {fpr.rates[largest]:.1%} for "
                     f"{groups.names[largest]}.") if severity != SEVERITY_PASS else "",
            details={"comparison": groups.names[largest],
                     "true_positive_rate": group_table(groups, tpr, eligible, gap=tpr_gap),
                     "false_positive_rate": group_table(groups, fpr, eligible, gap=fpr_gap),
                     "failing": [groups.names[i] for i in np.flatnonzero(failing)]},
        )


# --------------------------------------------------------------------------------------------------------------
# Data-only tests


@register
class ClassImbalance(StressTest):
    key = "class_imbalance"
    name = "Class Imbalance"
    category = TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS
    modalities = BOTH_MODALITIES   # protected columns and predictions: a text dataset's too
    description = ("How under-represented each protected subset is: (largest - subset) / (largest + subset), "
                   "near 1 for a subset the model barely saw.")
    why_it_matters = "A model learns little about a subset that is rare in its data, and its errors there go unnoticed."
    requires = frozenset({"protected_features"})
    tasks = ALL_TASKS
    thresholds = (0.6, 0.9)

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        return [self.assess(protected_groups(ctx, feature), thresholds) for feature in _protected(ctx)]

    def assess(self, groups: Groups, thresholds: tuple[float, float]) -> TestCase:
        counts = np.bincount(groups.codes, minlength=groups.size).astype(float)
        present = (counts > 0) & np.array([value is not None or "missing" not in name
                                           for name, value in zip(groups.names, groups.values)])
        if present.sum() < 2:
            return _no_comparison(groups, "the feature has a single subset")
        largest = counts[present].max()
        imbalance = np.where(present, (largest - counts) / (largest + counts), np.nan)
        worst = int(np.nanargmax(imbalance))
        severity = severity_for(float(imbalance[worst]), thresholds)
        share = counts / counts.sum()
        return TestCase(
            features=list(groups.features), severity=severity, subset=groups.names[worst],
            importance_score=float(imbalance[worst]),
            metrics=json_safe({"class_imbalance": imbalance[worst], "subset_share": share[worst],
                               "subset_count": int(counts[worst])}),
            finding=(f"{groups.names[worst]} is only {share[worst]:.1%} of the evaluation rows (class imbalance "
                     f"{imbalance[worst]:.2f}).") if severity != SEVERITY_PASS else "",
            details={"groups": json_safe([{"subset": name, "count": int(counts[i]), "share": share[i],
                                           "class_imbalance": imbalance[i]}
                                          for i, name in enumerate(groups.names) if present[i]])},
        )


@register
class DiscriminationByProxy(StressTest):
    key = "protected_proxies"
    name = "Discrimination By Proxy"
    category = TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS
    modalities = BOTH_MODALITIES   # protected columns and predictions: a text dataset's too
    description = ("How much each other feature reveals a protected feature (uncertainty coefficient: the share of "
                   "the protected feature's entropy explained, corrected for chance).")
    why_it_matters = ("Dropping a protected feature does not help if another feature, such as a title or a postcode, "
                      "carries the same information: the model can still discriminate through it.")
    requires = frozenset({"protected_features"})
    tasks = ALL_TASKS
    thresholds = (0.3, 0.6)

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        frame = ctx.evaluation
        if len(frame) > PROXY_MAX_ROWS:
            frame = frame.iloc[np.sort(ctx.rng.choice(len(frame), PROXY_MAX_ROWS, replace=False))]
        protected = _protected(ctx)
        candidates = [f for f in ctx.schema.tested_features if f not in protected and f in frame.columns
                      and ctx.schema.feature_types.get(f) not in ("identifier", "text", "datetime")]
        cases = []
        for feature in protected:
            target = _level_codes(frame[feature], ctx.schema.feature_types.get(feature))
            for candidate in candidates:
                source = _level_codes(frame[candidate], ctx.schema.feature_types.get(candidate))
                cases.append(self.assess(feature, candidate, target, source, thresholds))
        return cases

    def assess(self, protected: str, candidate: str, target: np.ndarray, source: np.ndarray,
               thresholds: tuple[float, float]) -> TestCase:
        coefficient = uncertainty_coefficient(source, target)
        severity = severity_for(coefficient, thresholds)
        return TestCase(
            features=[protected, candidate], severity=severity, importance_score=coefficient,
            metrics={"uncertainty_coefficient": round(coefficient, 4)},
            finding=(f"{candidate} reveals {protected} (it explains {coefficient:.0%} of its uncertainty): the model "
                     f"can discriminate by {protected} through {candidate}.") if severity != SEVERITY_PASS else "",
        )


def _level_codes(column: pd.Series, feature_type: str | None) -> np.ndarray:
    """Integer levels: quantile bins for numeric columns, the most frequent categories for the rest."""
    if feature_type == "numeric" and column.nunique() > PROXY_MAX_LEVELS // 5:
        values = pd.to_numeric(column, errors="coerce")
        return pd.qcut(values, 10, labels=False, duplicates="drop").fillna(-1).to_numpy(dtype=np.int64) + 1
    codes, uniques = pd.factorize(column)
    if len(uniques) <= PROXY_MAX_LEVELS:
        return codes + 1                         # nulls (-1) become level 0
    order = np.argsort(-np.bincount(codes[codes >= 0], minlength=len(uniques)))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    ranked = rank[np.maximum(codes, 0)]
    # The most frequent categories keep a level each; the rare ones and nulls share the last level.
    return np.where((codes >= 0) & (ranked < PROXY_MAX_LEVELS), ranked, PROXY_MAX_LEVELS)


def uncertainty_coefficient(source: np.ndarray, target: np.ndarray) -> float:
    """Theil's U(target | source) = I(source; target) / H(target), with the chance bias of I removed."""
    n = len(target)
    if n == 0:
        return 0.0
    levels_source, levels_target = source.max() + 1, target.max() + 1
    joint = np.bincount(source * levels_target + target, minlength=levels_source * levels_target)
    joint = joint.reshape(levels_source, levels_target) / n
    p_source, p_target = joint.sum(axis=1), joint.sum(axis=0)
    entropy_target = -np.sum(p_target[p_target > 0] * np.log(p_target[p_target > 0]))
    if entropy_target <= 0:
        return 0.0
    nonzero = joint > 0
    mutual = np.sum(joint[nonzero] * np.log(joint[nonzero] / np.outer(p_source, p_target)[nonzero]))
    # Miller-Madow: independent variables still show about (r-1)(c-1)/2n nats of mutual information.
    bias = (np.count_nonzero(p_source) - 1) * (np.count_nonzero(p_target) - 1) / (2 * n)
    return float(np.clip((mutual - bias) / entropy_target, 0.0, 1.0))


# --------------------------------------------------------------------------------------------------------------
# Counterfactual test: needs the model


@register
class SubsetSensitivity(StressTest):
    key = "subset_sensitivity_pos_pred"
    name = "Subset Sensitivity (Pos Pred)"
    category = TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS
    modalities = BOTH_MODALITIES   # protected columns and predictions: a text dataset's too
    description = ("Sets the protected feature of sampled rows to each of its values in turn, everything else "
                   "unchanged, and measures how much the positive prediction rate moves.")
    why_it_matters = ("If changing only the protected attribute changes the decision, the model treats otherwise "
                      "identical people differently.")
    requires = frozenset({"model", "protected_features"})
    tasks = frozenset({MODEL_TASK_BINARY_CLASSIFICATION})
    thresholds = (0.05, 0.1)
    default_params = {"min_sample_size": 20, "num_samples_to_simulate": 100}
    statistic: ClassVar[str] = "positive_rate"

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        substitutable = {}
        for feature in _protected(ctx):
            groups = protected_groups(ctx, feature)
            counts = np.bincount(groups.codes, minlength=groups.size)
            values = [value for value, count in zip(groups.values, counts)
                      if value is not None and count >= params["min_sample_size"]]
            if len(values) >= 2:
                substitutable[feature] = values
        if not substitutable:
            raise SkipTest("No protected feature has two category values with enough rows to substitute.")
        sample = sample_clean_rows(ctx, int(params["num_samples_to_simulate"]))
        return [self.assess(ctx, feature, sample, values, thresholds) for feature, values in substitutable.items()]

    def measure(self, ctx: Context, predictions: np.ndarray) -> float:
        """The statistic of a set of predictions: positive rate, or average prediction in prediction spreads."""
        if self.statistic == "positive_rate":
            return float(predicted_class(ctx, predictions).mean())
        return float(np.mean(predictions)) / prediction_scale(ctx)

    def assess(self, ctx: Context, feature: str, sample: pd.DataFrame, values: list,
               thresholds: tuple[float, float]) -> TestCase:
        clean, scored = score_variants(ctx, sample, {i: with_column(sample, feature, v) for i, v in enumerate(values)})
        clean_value = self.measure(ctx, clean)
        table = [{"value": value, self.statistic: self.measure(ctx, scored[index]),
                  "change": self.measure(ctx, scored[index]) - clean_value,
                  "average_prediction_change": float(row_change(ctx, clean, scored[index]).mean())}
                 for index, value in enumerate(values) if not isinstance(scored[index], str)]
        if not table:
            return _no_comparison(Groups([feature], np.empty(0, int), [], []), "the model failed on every value")
        worst = min(table, key=lambda row: row[self.statistic])
        spread = max(row[self.statistic] for row in table) - worst[self.statistic]
        severity = severity_for(spread, thresholds)
        what = "positive prediction rate" if self.statistic == "positive_rate" else "average prediction"
        return TestCase(
            features=[feature], severity=severity, subset=f"{feature} = {worst['value']}", importance_score=spread,
            metrics=json_safe({f"{self.statistic}_spread": spread, f"clean_{self.statistic}": clean_value,
                               "rows_simulated": len(sample)}),
            finding=(f"Changing only {feature} moves the {what} of the same rows by up to {spread:.3g} between its "
                     f"values; it is lowest for {feature} = {worst['value']}.") if severity != SEVERITY_PASS else "",
            details={"values": json_safe(table)},
        )


@register
class SubsetSensitivityAvgPred(SubsetSensitivity):
    key = "subset_sensitivity_avg_pred"
    name = "Subset Sensitivity (Avg Pred)"
    description = ("Sets the protected feature of sampled rows to each of its values in turn, everything else "
                   "unchanged, and measures how much the average prediction moves (in prediction spreads).")
    tasks = frozenset({MODEL_TASK_REGRESSION})
    statistic = "average_prediction"
