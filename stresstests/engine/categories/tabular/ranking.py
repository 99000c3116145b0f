"""The ranking tests (MODEL_TASK_RANKING; RIME §2.3, §2.4, §2.10): the four ranking metrics as Model Performance,
Subset Performance and Subset Performance Degradation tests, and the Average Rank versions of Demographic Parity,
Intersectional Group Fairness and Subset Sensitivity.

The metric tests reuse the generic machinery (`model_performance`, `subset_performance`) with the per-query metrics of
`stresstests/engine/ranking.py`: thresholds are absolute (RIME's Subset MRR warns 0.1 below the overall value; Average Rank
is normalised per query to [0, 1], see ranking.py). For fairness, a row's standing in its query is its rank
percentile, (rows of the query ranked below it + 1) / rows of the query, 1 for the top row; the Average Rank tests
compare subsets' mean rank percentile with the four-fifths rule, and Subset Sensitivity measures how the percentile of
sampled rows, against the other rows of their query, moves when only the protected value changes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stresstests.engine.vocabulary import MODEL_TASK_RANKING
from stresstests.engine.base import Context, SkipTest, register
from stresstests.engine.categories.tabular.fairness import (
    DemographicParity, IntersectionalGroupFairness, SubsetSensitivity,
)
from stresstests.engine.categories.tabular.model_performance import _BOUNDED, _make_metric_test
from stresstests.engine.categories.tabular.subset_performance import (
    DEFAULT_PARAMS, FeatureSubsets, Outcome, SubsetDegradationTest, SubsetPerformanceTest, _requires, _thresholds,
    enough_members, gap_error, metric_gap,
)
from stresstests.engine.metrics import METRICS
from stresstests.engine.ranking import AVERAGE_NORMALIZED_RANK, length_matched_baseline, per_query

RANKING = frozenset({MODEL_TASK_RANKING})
BASELINE_PERMUTATIONS = 5


class RankingSubsetPerformance(SubsetPerformanceTest):
    """Subset Performance for ranking metrics: each subset against a yardstick on its scale.

    A subset cuts every query's list down to its own rows, and a rank metric on a cut-down list is not on the scale of
    whole lists. Two things move it with the model unchanged:

    - the list's length (MRR and NDCG rise on shorter lists): a subset whose rows are spread over its queries like
      random rows (a category of a categorical feature, or whole queries) is compared with the overall metric on
      lists of the subset's lengths, per (subset, query) list of m rows the mean over all evaluation queries cut to
      m random rows (`length_matched_baseline`, BASELINE_PERMUTATIONS draws);
    - how different its documents are: a value range of a numeric feature (or an intersection with one) holds
      documents alike in that feature, and when the score is built on it even the ideal model orders them little
      better than at random. No evaluation-only yardstick tells "hard to order" from "ordered badly", so such a
      subset is compared with the same subset on the reference, moved by the change of the whole dataset:
      reference subset value + (evaluation overall - reference overall). A value range the model serves badly in
      both datasets is left to the reviewer; one it serves worse now fails here and in Subset Drift.

    Lists whose rows share one relevance grade are undefined (ranking.py) and not counted.
    """

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]):
        features = self._subsets(ctx, params)
        overall, per_feature = self._grouped(ctx, "evaluation", features, params)
        if np.isnan(overall.values[0]):
            raise SkipTest(f"{METRICS[self.metric].display} is undefined on the evaluation set")
        reference_overall, reference = self._grouped(ctx, "reference", features, params)
        baselines, errors, valid = self._baselines(ctx, features), [], []
        shift = float(overall.values[0] - reference_overall.values[0])
        total = max(overall.counts[0], 1)
        ranges = [self._value_range(ctx, subsets) for subsets in features]
        for position, (subsets, grouped, before) in enumerate(zip(features, per_feature, reference)):
            members = enough_members(grouped, subsets.rows("evaluation"), params)
            if ranges[position]:
                baselines[position] = before.values + (shift if np.isfinite(shift) else np.nan)
                error = np.sqrt(grouped.standard_errors ** 2 + before.standard_errors ** 2)
                members &= enough_members(before, subsets.rows("reference"), params)
            else:
                # The subset is part of the whole: Var(subset - overall) = Var(subset) * (1 - share of the subset).
                error = grouped.standard_errors * np.sqrt(np.clip(1 - grouped.counts / total, 0.0, 1.0))
            errors.append(gap_error(self.metric, baselines[position], error))
            valid.append(members)
        gaps = [metric_gap(self.metric, base, grouped.values) for base, grouped in zip(baselines, per_feature)]
        valid = [members & ~np.isnan(gap) for members, gap in zip(valid, gaps)]
        return self._cases(features, (gaps, errors, valid), params, thresholds,
                           lambda i, severities, p_values: self._ranking_case(
                               ctx, features[i], per_feature[i], baselines[i], gaps[i], severities, p_values,
                               float(overall.values[0]), thresholds, ranges[i]))

    @staticmethod
    def _value_range(ctx: Context, subsets: FeatureSubsets) -> bool:
        return any(ctx.profile[name].type == "numeric" for name in subsets.feature_list if name in ctx.profile)

    def _baselines(self, ctx: Context, features: list[FeatureSubsets]) -> list[np.ndarray]:
        """Per feature, per subset: the overall metric on lists of the subset's lengths."""
        labels, predictions = ctx.evaluation_labels, ctx.evaluation_predictions
        lists = [per_query(self.metric, labels, predictions, subsets.evaluation_codes, ctx.ndcg_k)
                 for subsets in features]
        lengths = np.unique(np.concatenate([part["rows"].to_numpy() for part in lists]))
        yardstick = length_matched_baseline(self.metric, labels, predictions, lengths, ctx.rng,
                                            BASELINE_PERMUTATIONS, k=ctx.ndcg_k)
        baselines = []
        for subsets, part in zip(features, lists):
            defined = part.dropna(subset=["value"])
            expected = yardstick.reindex(defined["rows"].to_numpy()).to_numpy()
            means = pd.Series(expected).groupby(defined["group"].to_numpy()).mean()
            baseline = np.full(subsets.count, np.nan)
            baseline[means.index.to_numpy(dtype=np.int64)] = means.to_numpy()
            baselines.append(baseline)
        return baselines

    def _ranking_case(self, ctx, subsets, grouped, baseline, gap, severities, p_values, overall, thresholds,
                      value_range):
        case = self._case(ctx, subsets, grouped, gap, severities, p_values, overall, thresholds)
        if case.metrics.get("worst_subset") is not None:
            position = subsets.labels.index(case.metrics["worst_subset"])
            case.metrics["worst_subset_yardstick"] = float(baseline[position])
            case.metrics["yardstick"] = "reference subset" if value_range else "length-matched overall"
            case.details["yardstick"] = [None if np.isnan(v) else float(v) for v in baseline]
        if case.finding:
            first = Outcome.of(gap, severities, p_values).failing[0]
            names = case.finding[:case.finding.index(" perform significantly worse")]
            against = ("the same subset on the reference set, moved by the whole dataset's change" if value_range
                       else "all queries cut to the subset's list lengths")
            case.finding = (f"{names} are ranked significantly worse than expected: "
                            f"{METRICS[self.metric].display} {grouped.values[first]:.3f} vs {baseline[first]:.3f} "
                            f"for {against} (worse by {gap[first]:.3f}; {overall:.3f} over all whole lists), so the "
                            "model serves these rows worse than its overall score suggests.")
        return case


def _register_ranking_subset_tests(metric: str) -> None:
    display = METRICS[metric].display
    common = {"metric": metric, "tasks": RANKING, "requires": _requires(metric),
              "default_params": dict(DEFAULT_PARAMS), "thresholds": _thresholds(metric)}
    # Subset Drift judges Average Rank by each row's place in its whole query (Average Normalised Rank, see
    # stresstests/engine/ranking.py): the rank within the subset's part of a query grows with the subset's share of
    # the query, so a subset that grows with the model unchanged would look degraded.
    drift = {**common, "metric": AVERAGE_NORMALIZED_RANK} if metric == "average_rank" else common
    register(type(f"Subset{metric.title().replace('_', '')}", (RankingSubsetPerformance,), {
        **common, "key": f"subset_{metric}", "name": f"Subset {display}",
        "description": f"Splits the evaluation set into subsets per feature and flags subsets whose {display} "
                       "(per query, averaged over queries) is significantly worse than the overall value on lists "
                       "of the same lengths (a category) or than the same subset on the reference (a value range).",
        "why_it_matters": "An overall ranking score can hide groups of results the model ranks badly.",
    }))
    register(type(f"SubsetDrift{metric.title().replace('_', '')}", (SubsetDegradationTest,), {
        **drift, "key": f"subset_drift_{metric}", "name": f"Subset Drift {display}",
        "description": f"Compares each feature subset's {display} on the evaluation set with the same subset on "
                       "the reference set and flags subsets that degraded significantly more than the whole dataset.",
        "why_it_matters": "Ranking quality often degrades in one segment before it shows overall.",
    }))


for _metric, _metric_thresholds in (("ndcg", _BOUNDED), ("mrr", _BOUNDED), ("average_rank", _BOUNDED),
                                    ("rank_correlation", _BOUNDED)):
    _make_metric_test(_metric, RANKING, None, _metric_thresholds)
    _register_ranking_subset_tests(_metric)


def rank_percentiles(queries: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per row: (rows of its query scored below it + 1) / rows of its query; 1 for the top row."""
    frame = pd.DataFrame({"query": queries, "score": np.asarray(scores, dtype=float)})
    lists = frame.groupby("query")["score"]
    return (lists.rank(method="min").to_numpy()) / lists.transform("size").to_numpy()


def _queries(ctx: Context, frame: pd.DataFrame) -> np.ndarray:
    if not ctx.schema.query_col or ctx.schema.query_col not in frame.columns:
        raise SkipTest("needs data_params.ranking_info.query_col")
    return frame[ctx.schema.query_col].to_numpy()


class _AverageRank:
    statistic = "average_prediction"      # means of a per-row value, as the Avg Pred versions
    tasks = RANKING

    def outcome(self, ctx: Context) -> np.ndarray:
        return rank_percentiles(_queries(ctx, ctx.evaluation), ctx.evaluation_predictions)

    def finding(self, subset: str, rate: float, ratio: float, reference: str, reference_rate: float,
                thresholds: tuple[float, float]) -> str:
        return (f"{subset} is ranked at an average percentile of {rate:.2f} within its queries, {ratio:.0%} of that "
                f"of {reference} ({reference_rate:.2f}), below the {thresholds[0]:.0%} rule even at the top of its "
                "95 % interval.")


@register
class DemographicParityAvgRank(_AverageRank, DemographicParity):
    key = "demographic_parity_avg_rank"
    name = "Demographic Parity (Avg Rank)"
    description = ("Each protected subset's average rank percentile within its queries compared with the best "
                   "subset's (four-fifths rule).")


@register
class GroupFairnessAvgRank(_AverageRank, IntersectionalGroupFairness):
    key = "group_fairness_avg_rank"
    name = "Intersectional Group Fairness (Avg Rank)"
    description = ("Subgroups formed by every pair of protected features: each subgroup's average rank percentile "
                   "compared with the overall average (four-fifths rule).")


@register
class SubsetSensitivityAvgRank(SubsetSensitivity):
    key = "subset_sensitivity_avg_rank"
    name = "Subset Sensitivity (Avg Rank)"
    description = ("Sets the protected feature of sampled rows to each of its values in turn, everything else "
                   "unchanged, and measures how much their rank percentile within their queries moves.")
    tasks = RANKING
    statistic = "average_rank_percentile"

    def assess(self, ctx, feature, sample, values, thresholds):
        # The other rows of each sampled row's query, as the clean model scored them.
        queries = _queries(ctx, ctx.evaluation)
        positions = ctx.evaluation.index.get_indexer(sample.index)
        self._sample_queries = queries[positions]
        self._lists = {query: np.sort(np.asarray(ctx.evaluation_predictions, dtype=float)[queries == query])
                       for query in np.unique(self._sample_queries)}
        return super().assess(ctx, feature, sample, values, thresholds)

    def measure(self, ctx: Context, predictions: np.ndarray) -> float:
        """Mean rank percentile of the sampled rows, each placed among the clean scores of its query's rows."""
        scores = np.asarray(predictions, dtype=float)
        percentiles = [np.searchsorted(self._lists[query], score, side="right") / len(self._lists[query])
                       for query, score in zip(self._sample_queries, scores)]
        return float(np.mean(percentiles))
