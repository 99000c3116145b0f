"""Mutual Information Drift (RIME §2.7): has the dependence between two features, or between a feature and the label,
changed from the reference to the evaluation set?

Method: numeric columns are cut into quantile bins of each set, categorical ones keep their (pooled) levels; for each
pair the normalised mutual information U(y|x) = I(x;y) / H(y) (bias-corrected, with its delta-method standard
error; see `distribution_stats.normalised_mutual_information`) is measured on both sets. Only pairs that carry
information somewhere (`min_mutual_information` in either set) are tested, at most `max_pairwise_tests` of them (the
most informative first). A pair fails when the change is significant after Benjamini-Hochberg across pairs and its
lower one-sided 95 % confidence bound reaches the thresholds, so a random half of the reference raises nothing.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from stresstests.engine.vocabulary import SCORE_TASKS, SEVERITY_PASS, TEST_CATEGORY_TYPE_DRIFT
from stresstests.engine.base import Context, SkipTest, StressTest, TestCase, json_safe, register
from stresstests.engine.severity import benjamini_hochberg, severity_for
from stresstests.engine.categories.tabular import distribution_stats as ds

CONFIDENCE_Z = 1.645          # one-sided 95 %
NUMERIC_BINS = 10
MAX_LEVELS = 50
MI_FEATURE_TYPES = ("numeric", "categorical", "boolean")
DEFAULT_PARAMS = {"min_mutual_information": 0.1, "max_pairwise_tests": 200, "min_sample_size": 100,
                  "p_value_threshold": 0.05}


def mi_codes(ctx: Context, feature: str) -> tuple[np.ndarray, np.ndarray]:
    """Codes of a feature on both sets, computed once per run. Numeric features are cut at each set's OWN quantiles:
    mutual information does not change under a monotone transform, so a shifted or rescaled feature keeps its
    dependences and only Feature Drift reports it; reference bins would crowd shifted values into a few bins and
    fake a loss of information."""
    key = ("mi_codes", feature)
    if key not in ctx.memo:
        if ctx.schema.feature_types.get(feature) == "numeric":
            ref = pd.to_numeric(ctx.reference[feature], errors="coerce").to_numpy(dtype=float)
            ev = pd.to_numeric(ctx.evaluation[feature], errors="coerce").to_numpy(dtype=float)
            ctx.memo[key] = (ds.quantile_codes(ref, ref, NUMERIC_BINS), ds.quantile_codes(ev, ev, NUMERIC_BINS))
        else:
            ref_codes, eval_codes, _ = ds.feature_codes(ctx, feature)
            combined = ds.limited_codes(np.concatenate([ref_codes, eval_codes]), MAX_LEVELS)
            ctx.memo[key] = (combined[: len(ref_codes)], combined[len(ref_codes):])
    return ctx.memo[key]


def label_codes(ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    reference, evaluation = ctx.label_values("reference"), ctx.label_values("evaluation")
    if ctx.model_task in SCORE_TASKS:     # regression targets, ranking relevance grades: each set's own quantiles
        ref, ev = reference.astype(float), evaluation.astype(float)
        return ds.quantile_codes(ref, ref, NUMERIC_BINS), ds.quantile_codes(ev, ev, NUMERIC_BINS)
    ref_codes, eval_codes, _ = ds.category_codes(pd.Series(reference), pd.Series(evaluation))
    return ref_codes, eval_codes


class MutualInformationDrift(StressTest):
    category = TEST_CATEGORY_TYPE_DRIFT
    thresholds = (0.1, 0.2)       # change in normalised mutual information, judged on its lower 95 % bound
    default_params = dict(DEFAULT_PARAMS)
    why_it_matters = ("A model learns the relations between its inputs and the outcome; when a relation weakens or "
                      "appears, what the model learned no longer holds even if each column looks unchanged.")

    def pairs(self, ctx: Context) -> list[tuple[list[str], tuple[np.ndarray, np.ndarray],
                                          tuple[np.ndarray, np.ndarray]]]:
        raise NotImplementedError

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        if min(len(ctx.reference), len(ctx.evaluation)) < int(params["min_sample_size"]):
            raise SkipTest(f"needs at least {params['min_sample_size']} rows in each dataset")
        measured = []
        for names, (ref_x, eval_x), (ref_y, eval_y) in self.pairs(ctx):
            measured.append((names, ds.normalised_mutual_information(ref_x, ref_y),
                             ds.normalised_mutual_information(eval_x, eval_y)))
        minimum = float(params["min_mutual_information"])
        informative = [m for m in measured if max(m[1][0], m[2][0]) >= minimum]
        informative.sort(key=lambda m: -max(m[1][0], m[2][0]))
        informative = informative[: int(params["max_pairwise_tests"])]
        if not informative:
            raise SkipTest(f"no pair has normalised mutual information >= {minimum} in either dataset")
        change = np.array([e[0] - r[0] for _, r, e in informative])
        error = np.array([np.hypot(r[1], e[1]) for _, r, e in informative])
        with np.errstate(divide="ignore", invalid="ignore"):
            p_values = 2 * stats.norm.sf(np.abs(change) / np.where(error > 0, error, np.nan))
        significant = benjamini_hochberg(p_values, float(params["p_value_threshold"]))
        lower = np.maximum(np.abs(change) - CONFIDENCE_Z * error, 0.0)
        return [self._case(names, r[0], e[0], float(change[i]), float(lower[i]), float(p_values[i]),
                           bool(significant[i]), thresholds) for i, (names, r, e) in enumerate(informative)]

    def _case(self, names: list[str], ref_value: float, eval_value: float, change: float, lower: float,
              p_value: float, significant: bool, thresholds: tuple[float, float]) -> TestCase:
        severity = severity_for(lower, thresholds) if significant else SEVERITY_PASS
        finding = ""
        if severity != SEVERITY_PASS:
            direction = "fell" if change < 0 else "rose"
            finding = (f"The mutual information of {' and '.join(names)} {direction} from {ref_value:.3f} to "
                       f"{eval_value:.3f} (change at least {lower:.3f} with 95 % confidence, threshold "
                       f"{thresholds[0] if lower < thresholds[1] else thresholds[1]}).")
        metrics = {"reference_mutual_information": ref_value, "evaluation_mutual_information": eval_value,
                   "mutual_information_change": change, "change_lower_bound": lower, "p_value": p_value}
        return TestCase(features=names, severity=severity, metrics=json_safe(metrics), finding=finding,
                        importance_score=abs(change))


@register
class FeatureMutualInformationDrift(MutualInformationDrift):
    key = "mutual_information_feat_drift"
    name = "Mutual Information Drift (Feature-to-Feature)"
    description = ("Compares the normalised mutual information of every informative pair of features in the "
                   "evaluation set with the reference.")

    def pairs(self, ctx: Context):
        features = ctx.schema.features_of_type(*MI_FEATURE_TYPES)
        return [([a, b], mi_codes(ctx, a), mi_codes(ctx, b)) for a, b in combinations(features, 2)]


@register
class LabelMutualInformationDrift(MutualInformationDrift):
    key = "mutual_information_label_drift"
    name = "Mutual Information Drift (Feature-to-Label)"
    description = ("Compares the normalised mutual information between each feature and the label in the "
                   "evaluation set with the reference.")
    requires = frozenset({"labels"})

    def pairs(self, ctx: Context):
        labels = label_codes(ctx)
        return [([feature], mi_codes(ctx, feature), labels)
                for feature in ctx.schema.features_of_type(*MI_FEATURE_TYPES)]
