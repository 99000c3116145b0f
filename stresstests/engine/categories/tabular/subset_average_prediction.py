"""Subset Drift Average Prediction (RIME §2.4, Subset Performance Degradation, regression): has the average
prediction of a feature subset moved from the reference to the evaluation set more than the whole dataset's?

The same subsets, per-subset standard errors and false-discovery control as the other Subset Drift tests
(`subset_performance`), with one difference: an average prediction has no "worse" direction, so the change is taken
in absolute value, in units of the reference predictions' standard deviation (unit-free, so a price model and a
probability-like score share the thresholds), minus the whole dataset's absolute change.
"""

from __future__ import annotations

import numpy as np

from stresstests.engine.vocabulary import MODEL_TASK_REGRESSION
from stresstests.engine.base import Context, TestCase, json_safe, register
from stresstests.engine.categories.tabular.subset_performance import (
    DEFAULT_PARAMS, FeatureSubsets, Outcome, SubsetDegradationTest, _subset_details, _test_case, enough_members,
)


@register
class SubsetDriftAveragePrediction(SubsetDegradationTest):
    key = "subset_drift_average_prediction"
    name = "Subset Drift Average Prediction"
    metric = "average_prediction"
    tasks = frozenset({MODEL_TASK_REGRESSION})
    requires = frozenset({"predictions"})
    default_params = dict(DEFAULT_PARAMS)
    thresholds = (0.25, 0.5)     # change beyond the overall one, in reference prediction standard deviations
    description = ("Compares each feature subset's average prediction on the evaluation set with the same subset "
                   "on the reference and flags subsets whose average moved significantly more than the whole "
                   "dataset's.")
    why_it_matters = ("A segment whose predictions shift while the rest hold still points to a change in that "
                      "segment's data or in how the model treats it, even before labels arrive.")

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        features = self._subsets(ctx, params)
        spread = float(np.std(np.asarray(ctx.reference_predictions, dtype=float))) or 1.0
        overall_ref, per_feature_ref = self._grouped(ctx, "reference", features, params)
        overall_eval, per_feature_eval = self._grouped(ctx, "evaluation", features, params)
        overall = float(abs(overall_eval.values[0] - overall_ref.values[0]) / spread)
        pairs = list(zip(per_feature_ref, per_feature_eval))
        changes = [np.abs(ev.values - ref.values) / spread for ref, ev in pairs]
        gaps = [change - overall for change in changes]
        errors = [np.hypot(ref.standard_errors, ev.standard_errors) / spread for ref, ev in pairs]
        valid = [enough_members(ref, subsets.rows("reference"), params)
                 & enough_members(ev, subsets.rows("evaluation"), params) & ~np.isnan(gap)
                 for subsets, (ref, ev), gap in zip(features, pairs, gaps)]
        return self._cases(features, (gaps, errors, valid), params, thresholds,
                           lambda i, severities, p_values: self._shift_case(
                               ctx, features[i], pairs[i], changes[i], severities, p_values, overall, spread,
                               thresholds))

    def _shift_case(self, ctx: Context, subsets: FeatureSubsets, pair, change: np.ndarray, severities: list[str],
                    p_values: np.ndarray, overall: float, spread: float, thresholds: tuple[float, float]) -> TestCase:
        reference, evaluation = pair
        outcome = Outcome.of(change, severities, p_values)
        metrics = {"overall_change": overall, "prediction_std": spread,
                   "worst_subset": subsets.labels[outcome.worst] if outcome.worst is not None else None,
                   "worst_subset_change": outcome.worst_gap,
                   "worst_subset_minus_overall": (outcome.worst_gap - overall) if outcome.worst_gap is not None
                   else None,
                   "failing_subsets": len(outcome.failing), "subsets_tested": outcome.tested}
        finding = ""
        if outcome.failing:
            first = outcome.failing[0]
            names = ", ".join(subsets.labels[i] for i in outcome.failing[:3])
            finding = (f"The average prediction moved in {len(outcome.failing)} subset(s) of {subsets.feature} "
                       f"({names}): {float(reference.values[first]):.4g} on reference vs "
                       f"{float(evaluation.values[first]):.4g} on evaluation ({float(change[first]):.2f} prediction "
                       f"standard deviations, against {overall:.2f} for all rows).")
        details = _subset_details(subsets, evaluation, subsets.rows("evaluation"), severities, None,
                                  gap=change - overall, p_values=p_values, warning=thresholds[0],
                                  reference_metric=[None if np.isnan(v) else float(v) for v in reference.values],
                                  reference_rows=subsets.rows("reference").tolist())
        return _test_case(ctx, subsets, outcome, json_safe(metrics), finding, details,
                          metrics["worst_subset_minus_overall"])
