"""Drift: has the evaluation data moved away from the reference, and what does that cost the model (RIME §2.7)?

Noise control, shared by every test here:
- Binned statistics use at most one bin per `MIN_ROWS_PER_BIN` rows of the smaller sample, so PSI's own sampling
  noise stays far below the 0.2 warning level.
- Numeric features are also judged on a scale-aware distance, the Wasserstein-1 distance in units of the
  reference's typical deviation (`distribution_stats.normalised_wasserstein`), taken beyond its own sampling noise
  and gated by KS or, where KS is weak (mostly one value, e.g. 90 % zeros), by its own noise bound:
  quantile-bin PSI and KS are blind to a rescale (a currency or unit change moves ranks little), W1 is not.
  Calibrated so that a random half of the reference, heavy-tailed, discrete or zero-inflated, stays quiet.
- A drift statistic only counts when a significance test agrees (KS for numeric, chi-squared for categories, a
  two-proportion test for null rates, Fisher z for correlations), with Benjamini-Hochberg across the test's cases;
  null-rate and correlation changes are judged on the lower 95 % confidence bound of their effect size.
- Feature drift is weighed by its model impact: the primary metric (or average prediction without labels) of the
  evaluation set against a counterfactual evaluation set in which the feature is back on its reference distribution
  (quantile transport and one batched re-scoring when a model is callable, importance reweighting otherwise; see
  `data_impact`). Drift that costs nothing stays a Warning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from stresstests.engine.vocabulary import (
    ALL_MODALITIES, CLASSIFICATION_TASKS, MODEL_TASK_BINARY_CLASSIFICATION,
    MODEL_TASK_RANKING, MODEL_TASK_REGRESSION, MULTICLASS_TASKS,
    SEVERITY_ORDER, SEVERITY_PASS, TEST_CATEGORY_TYPE_DRIFT,
)
from stresstests.engine.base import Context, StressTest, TestCase, json_safe, register
from stresstests.engine.metrics import METRICS, positive_scores, predicted_labels
from stresstests.engine.severity import benjamini_hochberg, severity_for
from stresstests.engine.categories.tabular import distribution_stats as ds
from stresstests.engine.categories.tabular.data_impact import (
    CONFIDENCE_Z,
    default_performance_change_config,
    counterfactual_impact,
    evidence_and_impact,
    impact_thresholds,
    reweighting_impact,
    transported,
)

PSI = "Population Stability Index"
KL = "KL Divergence"
JS = "JS Divergence"
KS = "Kolmogorov-Smirnov"
WASSERSTEIN = "Wasserstein"
STATISTIC_SHORT_NAMES = {PSI: "PSI", KL: "KL divergence", JS: "JS divergence", KS: "KS statistic",
                         WASSERSTEIN: "Wasserstein distance"}
MAX_CATEGORIES_IN_DETAILS = 30
DRIFT_FEATURE_TYPES = ("numeric", "categorical", "boolean")


@dataclass
class Distribution:
    """Reference vs evaluation counts of one column over shared bins (quantile bins or categories)."""

    kind: str                        # "numeric" or "categorical"
    reference_counts: np.ndarray
    evaluation_counts: np.ndarray
    bin_labels: list[Any]            # interior edges (numeric) or category values (categorical)
    evaluation_codes: np.ndarray     # bin of every evaluation row, -1 for nulls
    p_value: float
    statistics: dict[str, float] = field(default_factory=dict)
    # numeric only: (W1 / reference spread, its sampling noise in the same unit); None without spread
    wasserstein: tuple[float, float] | None = None

    @property
    def sizes(self) -> tuple[int, int]:
        return int(self.reference_counts.sum()), int(self.evaluation_counts.sum())

    def statistic(self, name: str) -> float:
        if name == KS and KS in self.statistics:
            return self.statistics[KS]
        function = {KL: ds.kl_divergence, JS: ds.js_divergence}.get(name, ds.psi)
        return function(self.reference_counts, self.evaluation_counts)

    def reweighting(self) -> np.ndarray:
        """Evaluation row weights that give this column its reference distribution (nulls keep weight 1)."""
        n_ref, n_eval = self.sizes
        ref_share = self.reference_counts / max(n_ref, 1)
        eval_share = self.evaluation_counts / max(n_eval, 1)
        per_bin = np.divide(ref_share, eval_share, out=np.zeros_like(ref_share), where=eval_share > 0)
        codes = self.evaluation_codes
        return np.where(codes >= 0, per_bin[np.maximum(codes, 0)], 1.0)

    def chart(self) -> dict[str, Any]:
        n_ref, n_eval = self.sizes
        ref_share = self.reference_counts / max(n_ref, 1)
        eval_share = self.evaluation_counts / max(n_eval, 1)
        if self.kind == "numeric":
            return {"kind": "numeric", "bin_edges": [float(e) for e in self.bin_labels],
                    "reference_shares": ref_share, "evaluation_shares": eval_share,
                    "reference_rows": n_ref, "evaluation_rows": n_eval}
        order = np.argsort(-(ref_share + eval_share), kind="stable")[:MAX_CATEGORIES_IN_DETAILS]
        return {"kind": "categorical", "categories": [str(self.bin_labels[i]) for i in order],
                "reference_shares": ref_share[order], "evaluation_shares": eval_share[order],
                "reference_rows": n_ref, "evaluation_rows": n_eval}


def numeric_distribution(reference: np.ndarray, evaluation: np.ndarray, requested_bins: int,
                         reference_quantiles: np.ndarray | None = None) -> Distribution:
    """Quantile bins learned from the reference (its profiled quantiles when given), KS for significance."""
    reference = np.asarray(reference, dtype=float)
    evaluation = np.asarray(evaluation, dtype=float)
    n_ref, n_eval = int((~np.isnan(reference)).sum()), int((~np.isnan(evaluation)).sum())
    bins = ds.bin_count_for(n_ref, n_eval, requested_bins)
    source = reference_quantiles if reference_quantiles is not None else reference
    edges = ds.quantile_edges(source, bins)
    codes = np.where(np.isnan(evaluation), -1, np.searchsorted(edges, evaluation, side="left"))
    ks_statistic, p_value = ds.ks_test(reference, evaluation)
    return Distribution("numeric", ds.bin_counts(reference, edges), ds.bin_counts(evaluation, edges), list(edges),
                        codes, p_value, {KS: ks_statistic}, ds.normalised_wasserstein(reference, evaluation))


def categorical_distribution(reference: pd.Series, evaluation: pd.Series,
                             codes: tuple[np.ndarray, np.ndarray, list[Any]] | None = None) -> Distribution:
    """Category frequencies over the union of categories, chi-squared for significance."""
    ref_codes, eval_codes, categories = codes or ds.category_codes(reference, evaluation)
    size = len(categories)
    ref_counts = np.bincount(ref_codes[ref_codes >= 0], minlength=size)
    eval_counts = np.bincount(eval_codes[eval_codes >= 0], minlength=size)
    return Distribution("categorical", ref_counts, eval_counts, categories, eval_codes,
                        ds.chi_squared_p_value(ref_counts, eval_counts))


def feature_distribution(ctx: Context, feature: str, requested_bins: int) -> Distribution:
    if ctx.schema.feature_types.get(feature) == "numeric":
        profile = ctx.profile.columns.get(feature) if ctx.profile is not None else None
        quantiles = profile.quantiles if profile is not None else None
        return numeric_distribution(_numbers(ctx.reference[feature]), _numbers(ctx.evaluation[feature]),
                                    requested_bins, quantiles)
    return categorical_distribution(ctx.reference[feature], ctx.evaluation[feature], ds.feature_codes(ctx, feature))


def _numbers(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}g}" if abs(value) >= 1 else f"{value:.{digits}f}".rstrip("0").rstrip(".") or "0"


def _threshold_note(value: float, thresholds: tuple[float, float], severity: str) -> str:
    bound = thresholds[1] if value >= thresholds[1] else thresholds[0]
    return f"{_fmt(value)} >= {_fmt(bound)}" if severity != SEVERITY_PASS else _fmt(value)


def _confident_note(value: float, lower_bound: float, thresholds: tuple[float, float], severity: str) -> str:
    """"0.92, at least 0.86 with 95 % confidence, >= 0.3" for effects judged on their lower confidence bound."""
    if severity == SEVERITY_PASS:
        return _fmt(value)
    return f"{_fmt(value)}, at least {_threshold_note(lower_bound, thresholds, severity)} with 95 % confidence"


MAX_METRICS_IN_FINDING = 3


def _impact_clause(impact: dict, params: dict) -> str:
    """What the drift costs, in each metric's own units: the watched metrics it moved by at least their warning
    threshold, "with the drift" (actual) against "without" (counterfactual), worst first."""
    per_metric = impact.get("per_metric") or {}
    if impact.get("impact") is None and not per_metric:
        if impact.get("effective_rows") is not None:   # predictions exist, but too few rows resemble the reference
            return (f"; its cost to the model cannot be measured: the evaluation rows that resemble the reference "
                    f"amount to {impact['effective_rows']:.0f} effective rows")
        return ""
    if not per_metric:   # a single metric measured (older callers)
        per_metric = {impact["metric"]: impact}
    ranked = sorted(per_metric, key=lambda name: -per_metric[name]["impact"] / impact_thresholds(name, params)[0])
    hurt = [name for name in ranked if per_metric[name]["impact"] >= impact_thresholds(name, params)[0]]
    if not hurt:
        headline = impact.get("metric") or ranked[0]
        change = per_metric[headline]
        return (f" but moves none of the watched metrics by a warning amount ({_metric_label(headline)} "
                f"{_fmt(change['actual'])} with the drift, {_fmt(change['counterfactual'])} without)")
    parts = [f"{_metric_label(name)} {_fmt(per_metric[name]['actual'])} instead of "
             f"{_fmt(per_metric[name]['counterfactual'])}" for name in hurt[:MAX_METRICS_IN_FINDING]]
    headline = impact.get("metric")
    also = ""
    if headline in per_metric and headline not in hurt[:MAX_METRICS_IN_FINDING]:
        change = per_metric[headline]
        also = (f" ({_metric_label(headline)} {_fmt(change['actual'])} with the drift, "
                f"{_fmt(change['counterfactual'])} without)")
    return f" and it costs the model: {', '.join(parts)} without the drift{also}"


def _metric_label(name: str) -> str:
    return "average prediction" if name == "average_prediction" else METRICS[name].display


def _impact_metrics(impact: dict) -> dict[str, Any]:
    if impact.get("metric") is None:
        return {}
    per_metric = impact.get("per_metric") or {impact["metric"]: impact}
    result: dict[str, Any] = {"impact_metric": impact.get("deciding_metric", impact["metric"]),
                              "impact_method": impact.get("method"),
                              "impact_effective_rows": impact.get("effective_rows")}
    for name, change in per_metric.items():
        result.update({f"impact_{name}": change.get("impact"), f"{name}_actual": change.get("actual"),
                       f"{name}_without_drift": change.get("counterfactual")})
    return result


def _importance(impact: dict) -> float | None:
    """The impact of the metric that decided the severity (the primary metric's when none did)."""
    per_metric = impact.get("per_metric") or {}
    deciding = impact.get("deciding_metric")
    return per_metric[deciding]["impact"] if deciding in per_metric else impact.get("impact")


class DriftTest(StressTest):
    category = TEST_CATEGORY_TYPE_DRIFT


@dataclass
class DriftAssessment:
    """Feature Drift's decisions before severity: per tested feature its distribution and evidence, and for each
    drifted one (by position) the counterfactual evaluation predictions and row weights."""

    features: list[str]
    distributions: list[Distribution]
    evidence: list[Evidence]
    counterfactuals: dict[int, tuple[np.ndarray, np.ndarray, str]]


def drift_counterfactuals(ctx: Context) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The run's drifted features (Feature Drift's evidence with its configured parameters) with their
    counterfactual evaluation predictions and row weights: what Model Performance needs to say which drift explains
    a degradation. Shares Feature Drift's memo, so the model re-scores nothing twice."""
    if ctx.evaluation_predictions is None:
        return []
    test = FeatureDrift
    params = ctx.config.params_for(test.key, test.default_params)
    thresholds = ctx.config.thresholds_for(test.key, test.thresholds)
    assessment = test().assess(ctx, params, thresholds)
    return [(assessment.features[i], predictions, weights)
            for i, (predictions, weights, _) in sorted(assessment.counterfactuals.items())]


# [warning, alert] on the normalised Wasserstein distance beyond its noise. A fifth of a typical deviation warns
# (Evidently warns at 0.1 standard deviations, about 0.13 typical deviations of a normal feature, with no noise
# allowance); a x1.5 rescale of a positive feature gives about 0.5. A shift of one typical deviation alerts, where
# PSI on a normal feature also reaches its 0.6 alert level.
WASSERSTEIN_THRESHOLDS = (0.2, 1.0)


@dataclass
class Evidence:
    """What the drift of one feature rests on: the statistic, its thresholds and value, its severity, and the
    words that state it in the finding."""

    name: str
    thresholds: tuple[float, float]
    value: float
    severity: str
    note: str


@register
class FeatureDrift(DriftTest):
    """Per-feature drift statistic gated by a significance test and weighed by the model impact of the drift."""

    key = "feature_drift"
    name = "Feature Drift"
    description = ("Compares each feature's distribution in the evaluation set with the reference (PSI on "
                   "reference quantile bins for numeric features, on category frequencies for categorical ones).")
    why_it_matters = ("A model is only reliable on data like the data it was validated on; a drifted feature "
                      "makes past performance a poor guide to current performance.")
    thresholds = (0.2, 0.6)
    default_params = {
        "drift_statistic": PSI,
        "min_num_quantiles": 1000,
        "num_bins": 100,
        "kl_divergence_thresholds": [0.1, 0.2],
        "js_divergence_thresholds": [0.05, 0.1],
        "ks_statistic_thresholds": [0.1, 0.2],
        "wasserstein_thresholds": list(WASSERSTEIN_THRESHOLDS),
        "ks_test_p_value_threshold": 0.05,
        "chi_squared_p_value_threshold": 0.05,
        "ignore_nans": True,
        "min_sample_size": 100,
        "performance_change_config": default_performance_change_config(),
    }

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        assessment = self.assess(ctx, params, thresholds)
        impacts = {i: counterfactual_impact(ctx, predictions, weights, params, method=method)
                   if ctx.evaluation_predictions is not None else {}
                   for i, (predictions, weights, method) in assessment.counterfactuals.items()}
        return [self._case(params, feature, assessment.distributions[i], assessment.evidence[i], impacts.get(i, {}))
                for i, feature in enumerate(assessment.features)]

    def assess(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> DriftAssessment:
        """Evidence for every feature and the counterfactual of every drifted one; memoised per parameters, since
        Model Performance asks which drifted features explain a degradation."""
        # Keyed by the test too: a subclass (Protected Feature Drift) assesses other features with the same parameters.
        key = (f"{self.key}.assessment", json.dumps(params, sort_keys=True, default=str), tuple(thresholds))
        if key not in ctx.memo:
            ctx.memo[key] = self._assess(ctx, params, thresholds)
        return ctx.memo[key]

    def _assess(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> DriftAssessment:
        features, distributions = self._distributions(ctx, params)
        if not features:
            return DriftAssessment([], [], [], {})
        numeric = np.array([d.kind == "numeric" for d in distributions])
        p_values = np.array([d.p_value for d in distributions])
        significant = np.where(numeric, benjamini_hochberg(p_values, float(params["ks_test_p_value_threshold"])),
                               benjamini_hochberg(p_values, float(params["chi_squared_p_value_threshold"])))
        evidence = [self._evidence(d, params, thresholds, bool(s)) for d, s in zip(distributions, significant)]
        drifted = [i for i, e in enumerate(evidence) if e.severity != SEVERITY_PASS]
        return DriftAssessment(features, distributions, evidence,
                               self._counterfactuals(ctx, features, distributions, drifted))

    def _distributions(self, ctx: Context, params: dict) -> tuple[list[str], list[Distribution]]:
        features, distributions = [], []
        for feature in ctx.schema.features_of_type(*DRIFT_FEATURE_TYPES):
            distribution = feature_distribution(ctx, feature, int(params["num_bins"]))
            if min(distribution.sizes) >= int(params["min_sample_size"]):
                features.append(feature)
                distributions.append(distribution)
        return features, distributions

    def _evidence(self, distribution: Distribution, params: dict, thresholds: tuple[float, float],
                  significant: bool) -> Evidence:
        """The configured statistic's evidence, or the scale-aware distance's when that one is more severe."""
        name = params["drift_statistic"] if distribution.kind == "numeric" else PSI
        named = {KL: "kl_divergence_thresholds", JS: "js_divergence_thresholds", KS: "ks_statistic_thresholds"}
        if name in named:
            thresholds = tuple(float(t) for t in params[named[name]])
        else:
            name = PSI
        value = distribution.statistic(name)
        severity = severity_for(value, thresholds) if significant else SEVERITY_PASS
        evidence = Evidence(name, thresholds, value, severity, _threshold_note(value, thresholds, severity))
        distance = self._wasserstein_evidence(distribution, params, significant)
        if distance is not None and SEVERITY_ORDER[distance.severity] > SEVERITY_ORDER[severity]:
            distance.note += f"; {STATISTIC_SHORT_NAMES[name]} {_fmt(value)}"
            return distance
        return evidence

    @staticmethod
    def _wasserstein_evidence(distribution: Distribution, params: dict, significant: bool) -> Evidence | None:
        if distribution.wasserstein is None:
            return None
        distance, noise = distribution.wasserstein
        thresholds = tuple(float(t) for t in params.get("wasserstein_thresholds") or WASSERSTEIN_THRESHOLDS)
        beyond_noise = max(distance - ds.WASSERSTEIN_NOISE_MULTIPLIER * noise, 0.0)
        significant = significant or distance >= ds.WASSERSTEIN_SIGNIFICANT_NOISE * noise
        severity = severity_for(beyond_noise, thresholds) if significant else SEVERITY_PASS
        bound = thresholds[1] if beyond_noise >= thresholds[1] else thresholds[0]
        note = (f"{_fmt(distance)} typical deviations of the reference, {_fmt(beyond_noise)} beyond sampling noise "
                f">= {_fmt(bound)}")
        return Evidence(WASSERSTEIN, thresholds, distance, severity, note)

    def _counterfactuals(self, ctx: Context, features: list[str], distributions: list[Distribution],
                         drifted: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray, str]]:
        """(evaluation predictions, row weights, method) with each drifted feature back on its reference
        distribution: numeric model inputs transported and re-scored in ONE model call when a model is callable,
        the others reweighted."""
        if ctx.evaluation_predictions is None:
            return {i: (np.empty(0), np.empty(0), "none") for i in drifted}
        transportable = [i for i in drifted if distributions[i].kind == "numeric" and ctx.has_model
                         and features[i] in ctx.schema.features and ctx.profile[features[i]].quantiles is not None]
        result = {i: (ctx.evaluation_predictions, distributions[i].reweighting(), "reweighting")
                  for i in drifted if i not in transportable}
        if transportable:
            base = ctx.evaluation[ctx.schema.model_inputs]
            variants = []
            for i in transportable:
                profile = ctx.profile[features[i]]
                variant = base.copy(deep=False)   # copy-on-write: only the transported column is new
                variant[features[i]] = transported(_numbers(base[features[i]]), profile.quantiles,
                                                   is_integer=profile.is_integer)
                variants.append(variant)
            predictions = ctx.predict_variants(base, variants)
            for position, i in enumerate(transportable):
                rows = slice(position * len(base), (position + 1) * len(base))
                result[i] = (predictions[rows], np.ones(len(base)), "quantile_transport")
        return result

    def _case(self, params: dict, feature: str, distribution: Distribution, evidence: Evidence, impact: dict
              ) -> TestCase:
        severity = evidence_and_impact(evidence.severity, impact, params)
        short = STATISTIC_SHORT_NAMES[evidence.name]
        metrics = {"drift_statistic": evidence.name, short.lower().replace(" ", "_"): evidence.value,
                   "psi": distribution.statistic(PSI), "p_value": distribution.p_value,
                   "significance_test": "ks" if distribution.kind == "numeric" else "chi_squared",
                   **{k.lower(): v for k, v in distribution.statistics.items()}, **_impact_metrics(impact)}
        if distribution.wasserstein is not None:
            metrics.update(wasserstein_distance=distribution.wasserstein[0],
                           wasserstein_noise=distribution.wasserstein[1])
        finding = ""
        if severity != SEVERITY_PASS:
            finding = (f"{feature} has drifted ({short} {evidence.note})"
                       f"{_impact_clause(impact, params) or '; with no predictions its model impact is unknown'}.")
        return TestCase(features=[feature], severity=severity, metrics=json_safe(metrics),
                        importance_score=_importance(impact), finding=finding,
                        details=json_safe(distribution.chart()))


class SingleDistributionDrift(DriftTest):
    """A one-case drift test (predictions, predicted classes, labels): PSI gated by its significance test."""

    thresholds = (0.2, 0.6)
    default_params = {"min_sample_size": 100, "p_value_threshold": 0.05}
    subject: ClassVar[str]
    subject_is_plural: ClassVar[bool] = False   # "The model's predictions have drifted", not "has"
    consequence: ClassVar[str] = "the model now faces a different mix of outcomes than it was validated on."

    def distribution(self, ctx: Context, params: dict) -> Distribution:
        raise NotImplementedError

    def features(self, ctx: Context) -> list[str]:
        return [ctx.schema.label_col] if ctx.schema.label_col else []

    def extra_metrics(self, ctx: Context) -> dict[str, Any]:
        return {}

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        distribution = self.distribution(ctx, params)
        if min(distribution.sizes) < int(params["min_sample_size"]):
            return []
        value = distribution.statistic(PSI)
        significant = distribution.p_value < float(params["p_value_threshold"])
        severity = severity_for(value, thresholds) if significant else SEVERITY_PASS
        extra = self.extra_metrics(ctx)
        finding = ""
        if severity != SEVERITY_PASS:
            verb = "have" if self.subject_is_plural else "has"
            finding = (f"{self.subject} {verb} drifted (PSI {_threshold_note(value, thresholds, severity)}): "
                       f"{self.consequence.format(**extra)}")
        metrics = {"psi": value, "p_value": distribution.p_value, **distribution.statistics, **extra}
        metrics = {k.lower().replace("-", "_"): v for k, v in metrics.items()}
        return [TestCase(features=self.features(ctx), severity=severity, metrics=json_safe(metrics), finding=finding,
                         details=json_safe(distribution.chart()))]


@register
class PredictionDrift(SingleDistributionDrift):
    key = "prediction_drift"
    modalities = ALL_MODALITIES   # labels and predictions only: the same on text runs
    name = "Prediction Drift"
    description = "Compares the distribution of the model's predictions on the evaluation set with the reference."
    why_it_matters = ("Predictions that shift without a matching shift in outcomes are a first sign that the "
                      "model's inputs or its behaviour changed; it is visible even without labels.")
    requires = frozenset({"predictions"})
    tasks = frozenset({MODEL_TASK_BINARY_CLASSIFICATION, MODEL_TASK_REGRESSION, MODEL_TASK_RANKING})   # ranking: scores
    default_params = {**SingleDistributionDrift.default_params, "min_num_quantiles": 1000, "num_bins": 100}
    subject = "The model's predictions"
    subject_is_plural = True
    consequence = ("the average prediction moved from {reference_average_prediction:.3g} to "
                   "{evaluation_average_prediction:.3g}, so the model now sees different inputs or behaves "
                   "differently.")

    def distribution(self, ctx: Context, params: dict) -> Distribution:
        return numeric_distribution(self._values(ctx, ctx.reference_predictions),
                                    self._values(ctx, ctx.evaluation_predictions), int(params["num_bins"]))

    def features(self, ctx: Context) -> list[str]:
        return []

    def extra_metrics(self, ctx: Context) -> dict[str, Any]:
        return {"reference_average_prediction": float(np.mean(self._values(ctx, ctx.reference_predictions))),
                "evaluation_average_prediction": float(np.mean(self._values(ctx, ctx.evaluation_predictions)))}

    @staticmethod
    def _values(ctx: Context, predictions: np.ndarray) -> np.ndarray:
        if ctx.model_task == MODEL_TASK_BINARY_CLASSIFICATION:
            return positive_scores(predictions)
        return np.asarray(predictions, dtype=float).reshape(-1)


@register
class PredictedLabelDrift(SingleDistributionDrift):
    key = "multiclass_pred_label_drift"
    modalities = ALL_MODALITIES   # labels and predictions only: the same on text runs
    name = "Predicted Label Drift"
    description = "Compares the frequencies of predicted classes in the evaluation set with the reference."
    why_it_matters = "A change in how often each class is predicted shows the model's behaviour has shifted."
    requires = frozenset({"predictions"})
    tasks = MULTICLASS_TASKS
    subject = "The predicted class mix"
    consequence = "the model now predicts the classes in different proportions than on the reference."

    def distribution(self, ctx: Context, params: dict) -> Distribution:
        return categorical_distribution(pd.Series(predicted_labels(ctx.model_task, ctx.reference_predictions)),
                                        pd.Series(predicted_labels(ctx.model_task, ctx.evaluation_predictions)))

    def features(self, ctx: Context) -> list[str]:
        return []


@register
class CategoricalLabelDrift(SingleDistributionDrift):
    key = "categorical_label_drift"
    modalities = ALL_MODALITIES   # labels and predictions only: the same on text runs
    name = "Label Drift (Categorical)"
    description = "Compares the label class frequencies of the evaluation set with the reference (PSI)."
    why_it_matters = ("When the base rate of outcomes changes, thresholds and calibrated probabilities tuned on "
                      "the reference stop fitting.")
    requires = frozenset({"labels"})
    tasks = CLASSIFICATION_TASKS
    default_params = {**SingleDistributionDrift.default_params, "drift_statistic": PSI}
    subject = "The label distribution"

    def distribution(self, ctx: Context, params: dict) -> Distribution:
        return categorical_distribution(pd.Series(ctx.reference_labels), pd.Series(ctx.evaluation_labels))


@register
class RegressionLabelDrift(SingleDistributionDrift):
    key = "regression_label_drift"
    modalities = ALL_MODALITIES   # labels and predictions only: the same on text runs
    name = "Label Drift (Regression)"
    description = ("Compares the distribution of the regression target (ranking: the relevance grades) in the "
                   "evaluation set with the reference.")
    why_it_matters = "A target that moved means the model is asked to predict values it has rarely seen."
    requires = frozenset({"labels"})
    tasks = frozenset({MODEL_TASK_REGRESSION, MODEL_TASK_RANKING})
    default_params = {**SingleDistributionDrift.default_params, "num_bins": 100}
    subject = "The label distribution"

    def distribution(self, ctx: Context, params: dict) -> Distribution:
        return numeric_distribution(np.asarray(ctx.label_values("reference"), dtype=float),
                                    np.asarray(ctx.label_values("evaluation"), dtype=float), int(params["num_bins"]))


@register
class RowNullProportionDrift(SingleDistributionDrift):
    key = "row_null_proportion"
    name = "Nulls Per Row Drift"
    description = "Compares the distribution of the number of missing values per row (PSI)."
    why_it_matters = ("Rows with many gaps at once point at records that were partly lost upstream; the model was "
                      "rarely validated on such incomplete rows.")
    subject = "The number of missing values per row"
    consequence = "more rows arrive incomplete than in the reference, and the model rarely saw such rows."

    def distribution(self, ctx: Context, params: dict) -> Distribution:
        features = ctx.schema.tested_features
        return categorical_distribution(ctx.reference[features].isna().sum(axis=1).rename("nulls"),
                                        ctx.evaluation[features].isna().sum(axis=1).rename("nulls"))

    def features(self, ctx: Context) -> list[str]:
        return []


@register
class NullProportionDrift(DriftTest):
    """Two-proportion test on each feature's null rate (BH across features); the effect size is Cohen's h, so that
    0 % -> 1 % and 40 % -> 50 % are judged on one scale, taken at its lower 95 % confidence bound."""

    key = "null_proportion"
    name = "Nulls Per Feature Drift"
    description = "Compares the share of missing values of each feature in the evaluation set with the reference."
    why_it_matters = ("A jump in missing values usually means a broken pipeline upstream, and the model fills the "
                      "gaps with whatever it learned for the rare nulls of the reference.")
    thresholds = (0.1, 0.3)
    default_params = {"p_value_threshold": 0.05, "min_sample_size": 100,
                      "performance_change_config": default_performance_change_config()}

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        features = ctx.schema.tested_features
        n_ref, n_eval = len(ctx.reference), len(ctx.evaluation)
        if not features or min(n_ref, n_eval) < int(params["min_sample_size"]):
            return []
        ref_nulls = ctx.reference[features].isna().sum().to_numpy()
        eval_nulls = ctx.evaluation[features].isna().sum().to_numpy()
        p_values = ds.two_proportion_p_values(ref_nulls, n_ref, eval_nulls, n_eval)
        significant = benjamini_hochberg(p_values, float(params["p_value_threshold"]))
        effect = ds.cohens_h(ref_nulls / n_ref, eval_nulls / n_eval)
        # Cohen's h has a standard error of sqrt(1/n1 + 1/n2) whatever the rates (arcsine variance stabilisation).
        lower = np.maximum(effect - CONFIDENCE_Z * np.sqrt(1 / n_ref + 1 / n_eval), 0.0)
        return [self._case(ctx, params, thresholds, feature, (ref_nulls[i], eval_nulls[i]),
                           (float(effect[i]), float(lower[i])), float(p_values[i]), bool(significant[i]))
                for i, feature in enumerate(features)]

    def _case(self, ctx: Context, params: dict, thresholds: tuple[float, float], feature: str,
              nulls: tuple[int, int], effect_and_bound: tuple[float, float], p_value: float, significant: bool
              ) -> TestCase:
        n_ref, n_eval = len(ctx.reference), len(ctx.evaluation)
        ref_rate, eval_rate = nulls[0] / n_ref, nulls[1] / n_eval
        effect, lower = effect_and_bound
        evidence = severity_for(lower, thresholds) if significant else SEVERITY_PASS
        impact: dict[str, Any] = {}
        if evidence != SEVERITY_PASS:
            distribution = Distribution("categorical", np.array([n_ref - nulls[0], nulls[0]]),
                                        np.array([n_eval - nulls[1], nulls[1]]), ["present", "null"],
                                        ctx.evaluation[feature].isna().to_numpy().astype(int), p_value)
            impact = reweighting_impact(ctx, distribution.reweighting(), params)
        severity = evidence_and_impact(evidence, impact, params)
        finding = ""
        consequence = ("a rise in nulls usually means a broken upstream pipeline" if eval_rate > ref_rate
                       else "the way the data is collected or filled has changed")
        if severity != SEVERITY_PASS:
            finding = (f"{feature} is missing in {eval_rate:.1%} of evaluation rows against {ref_rate:.1%} in the "
                       f"reference (Cohen's h {_confident_note(effect, lower, thresholds, evidence)})"
                       f"{_impact_clause(impact, params)}; {consequence}.")
        metrics = {"reference_null_rate": ref_rate, "evaluation_null_rate": eval_rate, "cohens_h": effect,
                   "cohens_h_lower_bound": lower, "p_value": p_value, **_impact_metrics(impact)}
        details = {"reference_nulls": int(nulls[0]), "reference_rows": n_ref, "evaluation_nulls": int(nulls[1]),
                   "evaluation_rows": n_eval}
        return TestCase(features=[feature], severity=severity, metrics=json_safe(metrics),
                        importance_score=_importance(impact), finding=finding, details=details)


def _correlation_cases(pairs: list[tuple[str, str]], ref_r: np.ndarray, ref_n: np.ndarray, eval_r: np.ndarray,
                       eval_n: np.ndarray, params: dict, thresholds: tuple[float, float], consequence: str
                       ) -> list[TestCase]:
    """Fisher-z test of each pair's change in correlation, BH across pairs, and the lower 95 % confidence bound of
    |change| (delta method: se(r) = (1 - r^2) / sqrt(n - 3)) against the thresholds."""
    if not pairs:
        return []
    p_values = ds.fisher_z_p_values(ref_r, ref_n, eval_r, eval_n)
    significant = benjamini_hochberg(p_values, float(params["p_value_threshold"]))
    change = np.abs(eval_r - ref_r)
    error = np.sqrt((1 - ref_r ** 2) ** 2 / np.maximum(ref_n - 3, 1)
                    + (1 - eval_r ** 2) ** 2 / np.maximum(eval_n - 3, 1))
    lower = np.maximum(change - CONFIDENCE_Z * error, 0.0)
    cases = []
    for i, (first, second) in enumerate(pairs):
        severity = severity_for(float(lower[i]), thresholds) if significant[i] else SEVERITY_PASS
        finding = ""
        if severity != SEVERITY_PASS:
            note = _confident_note(float(change[i]), float(lower[i]), thresholds, severity)
            finding = (f"The correlation between {first} and {second} changed from {ref_r[i]:.2f} to "
                       f"{eval_r[i]:.2f} (|change| {note}): {consequence}")
        metrics = {"reference_correlation": ref_r[i], "evaluation_correlation": eval_r[i],
                   "correlation_change": change[i], "correlation_change_lower_bound": lower[i],
                   "p_value": p_values[i]}
        cases.append(TestCase(features=[first, second], severity=severity, metrics=json_safe(metrics),
                              finding=finding, details={"reference_rows": int(ref_n[i]),
                                                        "evaluation_rows": int(eval_n[i])}))
    return cases


def _numeric_frame(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.to_numeric(frame[c], errors="coerce") for c in columns}, index=frame.index)


def correlation_features(ctx: Context) -> list[str]:
    """Numeric features plus 0/1 booleans: the columns a Pearson correlation means something for."""
    return [f for f in ctx.schema.features_of_type("numeric", "boolean")
            if pd.to_numeric(ctx.reference[f], errors="coerce").notna().any()]


@register
class FeatureCorrelationDrift(DriftTest):
    key = "correlation_feat_drift"
    name = "Correlation Drift (Feature-to-Feature)"
    description = "Compares the Pearson correlation of each pair of numeric features between reference and evaluation."
    why_it_matters = ("Models learn joint patterns; when two features stop moving together the model extrapolates "
                      "even if each feature on its own looks normal.")
    thresholds = (0.2, 0.4)
    default_params = {"p_value_threshold": 0.05, "min_correlation": 0.1, "max_pairwise_tests": 200,
                      "min_sample_size": 100}

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        columns = correlation_features(ctx)
        if len(columns) < 2:
            return []
        ref_r, ref_n = ds.pairwise_correlations(_numeric_frame(ctx.reference, columns))
        eval_r, eval_n = ds.pairwise_correlations(_numeric_frame(ctx.evaluation, columns))
        first, second = np.triu_indices(len(columns), k=1)
        strength = np.fmax(np.abs(ref_r[first, second]), np.abs(eval_r[first, second]))
        minimum = int(params["min_sample_size"])
        keep = ((strength >= float(params["min_correlation"])) & (ref_n[first, second] >= minimum)
                & (eval_n[first, second] >= minimum))
        order = np.flatnonzero(keep)[np.argsort(-strength[keep], kind="stable")][: int(params["max_pairwise_tests"])]
        i, j = first[order], second[order]
        pairs = [(columns[a], columns[b]) for a, b in zip(i, j)]
        return _correlation_cases(pairs, ref_r[i, j], ref_n[i, j], eval_r[i, j], eval_n[i, j], params, thresholds,
                                  "the model relies on a joint pattern that no longer holds.")


@register
class LabelCorrelationDrift(DriftTest):
    key = "correlation_label_drift"
    name = "Correlation Drift (Feature-to-Label)"
    description = ("Compares the Pearson correlation of each numeric feature with the label between reference and "
                   "evaluation.")
    why_it_matters = ("A feature whose relation to the outcome changed (concept drift) makes the model's learned "
                      "use of that feature wrong, even when the feature's own distribution is stable.")
    requires = frozenset({"labels"})
    tasks = frozenset({MODEL_TASK_BINARY_CLASSIFICATION, MODEL_TASK_REGRESSION, MODEL_TASK_RANKING})
    thresholds = (0.2, 0.4)
    default_params = {"p_value_threshold": 0.05, "min_correlation": 0.1, "max_pairwise_tests": 200,
                      "min_sample_size": 100}

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        columns = correlation_features(ctx)
        if not columns:
            return []
        ref_r, ref_n = _label_correlations(_numeric_frame(ctx.reference, columns), ctx.label_values("reference"))
        eval_r, eval_n = _label_correlations(_numeric_frame(ctx.evaluation, columns), ctx.label_values("evaluation"))
        minimum = int(params["min_sample_size"])
        strength = np.fmax(np.abs(ref_r), np.abs(eval_r))
        keep = (strength >= float(params["min_correlation"])) & (ref_n >= minimum) & (eval_n >= minimum)
        order = np.flatnonzero(keep)[np.argsort(-strength[keep], kind="stable")][: int(params["max_pairwise_tests"])]
        label = ctx.schema.label_col or "label"
        pairs = [(columns[k], label) for k in order]
        return _correlation_cases(pairs, ref_r[order], ref_n[order], eval_r[order], eval_n[order], params,
                                  thresholds, "the feature no longer predicts the outcome the way the model learned.")


def _label_correlations(features: pd.DataFrame, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    frame = features.assign(__label__=np.asarray(labels, dtype=float))
    correlation, counts = ds.pairwise_correlations(frame)
    return np.nan_to_num(correlation[:-1, -1]), counts[:-1, -1]
