"""Model Performance: task metrics reference vs evaluation, calibration, average confidence and an accuracy estimate
without labels (RIME §2.3).

A degradation names the drifted features that explain it (`explained_by` in the case's metrics, with the metric
without each drift and the share of the loss it recovers in `details`): Feature Drift's counterfactual, the feature
put back on its reference distribution, re-scored once per run and shared.

Each metric test checks the evaluation value against an optional absolute threshold (`performance_thresholds`) and the
reference-to-evaluation degradation against the test's `[warning, alert]` thresholds. A degradation counts only when
it is beyond sampling noise (one-sided z-test on the two metrics' standard errors at `significance_level`).
For metrics without a natural [0, 1] scale (RMSE, MAPE, variances ...) the degradation is relative to the reference,
except the average prediction: its shift is measured in standard deviations of the predictions (a standardised
difference, thresholds 0.2 and 0.5), since relative to a mean near zero any shift looks huge. Metrics without a better
direction (positive prediction rate, prediction variance, average prediction) are judged both ways and their findings
say "shifted", never "worse".
A run controls the false-discovery rate across its metric tests (Benjamini-Hochberg, `control_false_discoveries`):
on 200 rows a dozen metrics of one model give chance "degradations".
Average Thresholded Confidence estimates the accuracy without evaluation labels; when the evaluation set has labels,
the measured accuracy decides (Accuracy test) and the estimate is stated next to it, never raised on its own.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from stresstests.engine.vocabulary import (
    CLASSIFICATION_TASKS, MODEL_TASK_BINARY_CLASSIFICATION, MULTICLASS_TASKS,
    MODALITY_TABULAR, MODALITY_TEXT, MODEL_TASK_REGRESSION, SEVERITY_PASS, TEST_CATEGORY_TYPE_MODEL_PERFORMANCE, worst_severity,
)
from stresstests.engine.base import Context, SkipTest, StressTest, TestCase, register
from stresstests.engine.metrics import (
    METRICS,
    GroupedMetric,
    confidence,
    metric_priority,
    positive_scores,
    undefined_reason,
)
from stresstests.engine.severity import benjamini_hochberg, exceeds_with_confidence_p, severity_for
from stresstests.engine.categories.tabular.data_impact import metric_change

# Performance needs only labels and predictions: the same tests serve text runs (RIME's NLP Model Performance).
BOTH_MODALITIES = frozenset({MODALITY_TABULAR, MODALITY_TEXT})
CATEGORY = TEST_CATEGORY_TYPE_MODEL_PERFORMANCE
SIGNIFICANCE_LEVEL = 0.05
MIN_CLASS_SIZE = 10   # members of the scarcest class a metric rests on (see metrics.GroupedMetric.support)

# (metric, tasks, absolute [warning, alert] bound on the evaluation value or None, degradation thresholds)
_BOUNDED = (0.03, 0.06)      # absolute drop, e.g. AUC 0.80 -> 0.76 warns
_RELATIVE = (0.10, 0.20)     # relative rise of an error, e.g. RMSE +10 % warns
_VARIANCE = (0.25, 0.50)     # relative rise of a prediction variance (noisier, so wider)
# The average prediction's shift in standard deviations of the predictions (a standardised difference, Cohen's d):
# relative to a mean near zero, a 0.09-SD shift reads as "883 %".
_STANDARDISED = (0.2, 0.5)
_METRIC_TESTS: tuple[tuple[str, frozenset[str], tuple[float, float] | None, tuple[float, float]], ...] = (
    ("accuracy", frozenset({MODEL_TASK_BINARY_CLASSIFICATION}), None, _BOUNDED),
    ("auc", frozenset({MODEL_TASK_BINARY_CLASSIFICATION}), (0.6, 0.5), _BOUNDED),
    ("f1", frozenset({MODEL_TASK_BINARY_CLASSIFICATION}), None, _BOUNDED),
    ("precision", frozenset({MODEL_TASK_BINARY_CLASSIFICATION}), None, _BOUNDED),
    ("recall", frozenset({MODEL_TASK_BINARY_CLASSIFICATION}), None, _BOUNDED),
    ("false_positive_rate", frozenset({MODEL_TASK_BINARY_CLASSIFICATION}), None, _BOUNDED),
    ("false_negative_rate", frozenset({MODEL_TASK_BINARY_CLASSIFICATION}), None, _BOUNDED),
    ("positive_prediction_rate", frozenset({MODEL_TASK_BINARY_CLASSIFICATION}), None, _BOUNDED),
    ("prediction_variance_positive_labels", frozenset({MODEL_TASK_BINARY_CLASSIFICATION}), None, _VARIANCE),
    ("prediction_variance_negative_labels", frozenset({MODEL_TASK_BINARY_CLASSIFICATION}), None, _VARIANCE),
    ("multiclass_accuracy", MULTICLASS_TASKS, None, _BOUNDED),
    ("multiclass_auc", MULTICLASS_TASKS, (0.6, 0.5), _BOUNDED),
    ("macro_f1", MULTICLASS_TASKS, None, _BOUNDED),
    ("macro_precision", MULTICLASS_TASKS, None, _BOUNDED),
    ("macro_recall", MULTICLASS_TASKS, None, _BOUNDED),
    ("mae", frozenset({MODEL_TASK_REGRESSION}), None, _RELATIVE),
    ("mse", frozenset({MODEL_TASK_REGRESSION}), None, _RELATIVE),
    ("rmse", frozenset({MODEL_TASK_REGRESSION}), None, _RELATIVE),
    ("msle", frozenset({MODEL_TASK_REGRESSION}), None, _RELATIVE),
    ("mape", frozenset({MODEL_TASK_REGRESSION}), None, _RELATIVE),
    ("prediction_variance", frozenset({MODEL_TASK_REGRESSION}), None, _VARIANCE),
    ("average_prediction", frozenset({MODEL_TASK_REGRESSION}), None, _STANDARDISED),
)
# Metrics whose change is a problem in either direction: those without a better direction.
_TWO_SIDED = frozenset(name for name, info in METRICS.items() if not info.directed)
STANDARDISED_METRICS = frozenset({"average_prediction"})
# A reference value under this share of the evaluation value is "about zero": a relative change from it means
# nothing (a prediction variance of 1e-16 rising to 0.03 is "+2e14 %"). The change is then stated in the metric's
# own units, and the relative degradation that grades it is capped at MAX_RELATIVE_DEGRADATION (+1000 %).
NEAR_ZERO_SHARE = 0.01
MAX_RELATIVE_DEGRADATION = 10.0


def near_zero_reference(metric: str, reference: float, evaluation: float) -> bool:
    """Whether a metric without a [0, 1] scale starts from about zero, so that no percentage can describe its change."""
    return not METRICS[metric].bounded and abs(reference) <= NEAR_ZERO_SHARE * abs(evaluation) and evaluation != 0


def degradation(metric: str, reference: float, evaluation: float) -> float:
    """How much worse evaluation is than reference; relative to the reference for metrics without a [0, 1] scale,
    capped at MAX_RELATIVE_DEGRADATION (a reference of about zero makes any rise unboundedly large)."""
    info = METRICS[metric]
    change = _worse_by(metric, reference, evaluation)
    if info.bounded:
        return change
    if change > 0 and near_zero_reference(metric, reference, evaluation):
        return MAX_RELATIVE_DEGRADATION
    return min(change / abs(reference), MAX_RELATIVE_DEGRADATION) if reference else 0.0


def degradation_p_value(metric: str, reference: GroupedMetric, evaluation: GroupedMetric) -> float:
    """One-sided p-value that the evaluation is no worse than the reference (two-sided for either-way metrics).
    A reference of about zero is tested on the change in the metric's own units."""
    ref_value, eval_value = reference.values[0], evaluation.values[0]
    if near_zero_reference(metric, ref_value, eval_value):
        gap, scale = _worse_by(metric, ref_value, eval_value), 1.0
    else:
        gap = degradation(metric, ref_value, eval_value)
        scale = 1.0 if METRICS[metric].bounded else abs(ref_value) or 1.0
    error = np.hypot(reference.standard_errors[0], evaluation.standard_errors[0]) / scale
    p_value = float(exceeds_with_confidence_p(np.array([gap]), np.array([error]), 0.0)[0])
    return min(1.0, 2 * p_value) if metric in _TWO_SIDED else p_value


class MetricDegradationTest(StressTest):
    """Base of the per-metric tests; subclasses set `metric`, `absolute_thresholds` and the class attributes."""

    category = CATEGORY
    modalities = BOTH_MODALITIES
    metric: str
    absolute_thresholds: tuple[float, float] | None = None

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        reference, evaluation = ctx.whole_metric(self.metric, "reference"), ctx.whole_metric(self.metric, "evaluation")
        ref_value, eval_value = reference.values[0], evaluation.values[0]
        if np.isnan(ref_value) or np.isnan(eval_value):
            which = "reference" if np.isnan(ref_value) else "evaluation"
            raise SkipTest(f"{METRICS[self.metric].display} is undefined on the {which} set: "
                           f"{undefined_reason(self.metric)}.")
        gap = degradation(self.metric, ref_value, eval_value)
        p_value = degradation_p_value(self.metric, reference, evaluation)
        spread = _prediction_spread(ctx) if self.metric in STANDARDISED_METRICS else None
        if spread:
            gap = abs(eval_value - ref_value) / spread
        from_zero = not spread and near_zero_reference(self.metric, ref_value, eval_value)
        members = int(min(reference.support[0], evaluation.support[0]))
        # A change resting on a handful of class members (4 positives) is noise, whatever its p-value says.
        enough = members >= int(params.get("min_class_size", MIN_CLASS_SIZE))
        significant = enough and p_value < params.get("significance_level", SIGNIFICANCE_LEVEL)
        change_severity = severity_for(gap, thresholds) if significant else SEVERITY_PASS
        absolute = params.get("performance_thresholds", self.absolute_thresholds)
        absolute_severity = self._absolute_severity(eval_value, evaluation.standard_errors[0], absolute, params)
        severity = worst_severity([change_severity, absolute_severity])
        metrics = {
            f"reference_{self.metric}": float(ref_value), f"evaluation_{self.metric}": float(eval_value),
            "degradation": float(gap), "degradation_p_value": p_value,
            "relative_degradation": not METRICS[self.metric].bounded and not spread,
            "standardised_difference": bool(spread), "reference_near_zero": bool(from_zero),
            "evaluation_rows": int(evaluation.counts[0]), "reference_rows": int(reference.counts[0]),
            "class_members": members,
        }
        # Kept for the false-discovery control across the category's metric tests (control_false_discoveries).
        finding, details = "", {"absolute_thresholds": absolute, "change_severity": change_severity,
                                "absolute_severity": absolute_severity, "tested": bool(enough)}
        if severity != SEVERITY_PASS:
            finding = self._finding(ref_value, eval_value, gap, change_severity, absolute_severity, thresholds,
                                    absolute, standardised=bool(spread), from_zero=from_zero)
            explanations = explained_by(ctx, self.metric, float(ref_value), float(eval_value))
            metrics["explained_by"] = [e["feature"] for e in explanations]
            details["explained_by"] = explanations
            finding += _explanation_sentence(self.metric, explanations)
        # A relative change ranks with the [0, 1] ones: bounded at 1 (a doubling), whatever the percentage.
        importance = max(gap, 0.0) if METRICS[self.metric].bounded or spread else min(max(gap, 0.0), 1.0)
        return [TestCase(features=[], severity=severity, metrics=metrics, importance_score=float(importance),
                         finding=finding, details=details)]

    def _absolute_severity(self, value: float, error: float, absolute: list | tuple | None, params: dict) -> str:
        if not absolute:
            return SEVERITY_PASS
        warning, alert = (float(v) for v in absolute)
        higher_is_better = METRICS[self.metric].higher_is_better
        # Only flag a value that sits beyond the bound by more than its own sampling noise.
        shortfall = (warning - value) if higher_is_better else (value - warning)
        p_value = float(exceeds_with_confidence_p(np.array([shortfall]), np.array([error]), 0.0)[0])
        if p_value >= params.get("significance_level", SIGNIFICANCE_LEVEL):
            return SEVERITY_PASS
        return severity_for(value, (warning, alert), higher_is_worse=not higher_is_better)

    def _finding(self, ref_value: float, eval_value: float, gap: float, change_severity: str,
                 absolute_severity: str, thresholds: tuple[float, float], absolute, *, standardised: bool = False,
                 from_zero: bool = False) -> str:
        display = METRICS[self.metric].display
        if change_severity != SEVERITY_PASS and from_zero:
            verb = "shifted" if not METRICS[self.metric].directed else "degraded"
            return (f"{display} {verb} from {ref_value:.3g} on the reference set to {eval_value:.3g} on the "
                    f"evaluation set (changed by {abs(eval_value - ref_value):.3g} in its own units; the reference "
                    "value is about zero, so no percentage can describe the change): the model's outputs moved on "
                    "the newer data.")
        if change_severity != SEVERITY_PASS and not METRICS[self.metric].directed:
            # No better direction: a shift, stated in its own units, never "worse".
            amount = (f"{gap:.2f} standard deviations of the predictions" if standardised
                      else f"{gap:.3f}" if METRICS[self.metric].bounded else f"{gap:.1%}")
            return (f"{display} shifted from {ref_value:.3g} on the reference set to {eval_value:.3g} on the "
                    f"evaluation set (changed by {amount}, warning at {thresholds[0]:g}): the model's outputs moved "
                    "on the newer data; whether that is better or worse depends on the outcomes.")
        if change_severity != SEVERITY_PASS:
            amount = f"{gap:.1%}" if not METRICS[self.metric].bounded else f"{gap:.3f}"
            return (f"{display} degraded from {ref_value:.3f} on the reference set to {eval_value:.3f} on the "
                    f"evaluation set (worse by {amount}, warning at {thresholds[0]:g}): the model performs worse "
                    "on the newer data.")
        side = "below" if METRICS[self.metric].higher_is_better else "above"
        return (f"{display} on the evaluation set is {eval_value:.3f}, {side} the acceptable level "
                f"{float(absolute[0]):g}: the model is too weak on this data whatever the reference says.")


def _prediction_spread(ctx: Context) -> float | None:
    """Pooled standard deviation of the reference and evaluation predictions (one column: regression)."""
    values = [np.asarray(p, dtype=float) for p in (ctx.reference_predictions, ctx.evaluation_predictions)
              if p is not None]
    if len(values) != 2 or any(v.ndim != 1 or len(v) < 2 for v in values):
        return None
    spread = float(np.sqrt((np.nanvar(values[0], ddof=1) + np.nanvar(values[1], ddof=1)) / 2))
    return spread if spread > 0 else None


def control_false_discoveries(results: list, *, alpha: float = SIGNIFICANCE_LEVEL) -> None:
    """Benjamini-Hochberg across the run's metric degradation tests (a dozen metrics of one model on the same rows):
    a degradation not discovered at `alpha` no longer counts; an evaluation value below its absolute floor still
    does. On 200 rows, one precision drop with p = 0.03 among 12 metrics is what chance gives."""
    cases = [case for result in results if result.status == "completed" and isinstance(result.test, type)
             and issubclass(result.test, MetricDegradationTest) for case in result.cases
             if (case.details or {}).get("tested") and "degradation_p_value" in case.metrics]
    if not cases:
        return
    discovered = benjamini_hochberg(np.array([case.metrics["degradation_p_value"] for case in cases]), alpha)
    for case, found in zip(cases, discovered):
        case.metrics["false_discovery_controlled"] = bool(found)
        change = case.details.get("change_severity", SEVERITY_PASS)
        if found or change == SEVERITY_PASS:
            continue
        absolute = case.details.get("absolute_severity", SEVERITY_PASS)
        case.details["severity_before_cap"] = case.severity
        case.severity = absolute
        case.finding = "" if absolute == SEVERITY_PASS else case.finding
        if absolute == SEVERITY_PASS:
            case.importance_score = 0.0


# A drifted feature explains a degradation when putting it back on its reference distribution recovers at least
# this share of the reference-to-evaluation loss.
EXPLAINS_SHARE = 0.25
MAX_EXPLANATIONS = 3


def explained_by(ctx: Context, metric: str, reference_value: float, evaluation_value: float) -> list[dict]:
    """The drifted features whose counterfactual (the feature back on its reference distribution, see Feature
    Drift) recovers at least EXPLAINS_SHARE of the metric's loss, largest share first:
    [{"feature", "<metric>_without_drift", "recovered_share"}]."""
    # Imported here so that importing this module does not register the drift tests ahead of the categories
    # listed before them (the import order of `categories` is the order of the registry).
    from stresstests.engine.categories.tabular.drift import drift_counterfactuals

    loss = _worse_by(metric, reference_value, evaluation_value)
    if not loss > 0:
        return []
    explanations = []
    for feature, predictions, weights in drift_counterfactuals(ctx):
        change = metric_change(ctx, metric, predictions, weights)
        if change is None:
            continue
        share = _worse_by(metric, change["counterfactual"], change["actual"]) / loss
        if share >= EXPLAINS_SHARE:
            explanations.append({"feature": feature, f"{metric}_without_drift": change["counterfactual"],
                                 "recovered_share": float(share)})
    return sorted(explanations, key=lambda e: -e["recovered_share"])[:MAX_EXPLANATIONS]


def _worse_by(metric: str, better: float, worse: float) -> float:
    """How much `worse` is worse than `better`, in the metric's own units (either direction for two-sided ones)."""
    change = better - worse if METRICS[metric].higher_is_better else worse - better
    return abs(change) if metric in _TWO_SIDED else change


def _explanation_sentence(metric: str, explanations: list[dict]) -> str:
    if not explanations:
        return ""
    # Each feature is undone alone, so overlapping drifts (a city and its country) can each recover much of the loss.
    parts = [f"{e['feature']} ({METRICS[metric].display} {e[f'{metric}_without_drift']:.3f} without its drift, "
             f"{e['recovered_share']:.0%} of the loss recovered)" for e in explanations]
    subject = "The drift of " + parts[0] if len(parts) == 1 else "Drifts undone one at a time: " + ", ".join(parts)
    return f" {subject} explains it." if len(parts) == 1 else f" {subject}."


def _make_metric_test(metric: str, tasks: frozenset[str], absolute: tuple[float, float] | None,
                      thresholds: tuple[float, float]) -> type[StressTest]:
    info = METRICS[metric]
    direction = "higher is better" if info.higher_is_better else "a rise is worse"
    attributes = {
        "key": metric,
        "name": info.display,
        "metric": metric,
        "description": f"Compares {info.display} on the evaluation set with the reference set ({direction}), and "
                       "checks the evaluation value against an absolute bound when one is set.",
        "why_it_matters": f"A drop in {info.display} between reference and evaluation means the model will perform "
                          "worse in production than it did when it was validated.",
        "requires": frozenset({"labels", "predictions"}) if info.needs_labels else frozenset({"predictions"}),
        "tasks": tasks,
        "default_params": {"performance_thresholds": list(absolute) if absolute else None,
                           "significance_level": SIGNIFICANCE_LEVEL, "min_class_size": MIN_CLASS_SIZE},
        "thresholds": thresholds,
        "absolute_thresholds": absolute,
        "finding_priority": metric_priority(metric),
    }
    return register(type(f"{''.join(p.title() for p in metric.split('_'))}Test", (MetricDegradationTest,),
                         attributes))


METRIC_TESTS = [_make_metric_test(*spec) for spec in _METRIC_TESTS]


@register
class AverageConfidence(StressTest):
    key = "avg_confidence"
    name = "Average Confidence"
    category = CATEGORY
    modalities = BOTH_MODALITIES
    description = ("Compares the model's average confidence (probability of the predicted class) on the evaluation "
                   "set with the reference set; needs no labels.")
    why_it_matters = ("When the model becomes less sure of its answers it is usually seeing data unlike its "
                      "training data, and its accuracy tends to fall with it: a warning sign available before "
                      "labels arrive.")
    requires = frozenset({"predictions"})
    tasks = CLASSIFICATION_TASKS
    default_params = {"significance_level": SIGNIFICANCE_LEVEL}
    thresholds = (0.05, 0.10)

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        reference = ctx.whole_metric("average_confidence", "reference")
        evaluation = ctx.whole_metric("average_confidence", "evaluation")
        ref_value, eval_value = float(reference.values[0]), float(evaluation.values[0])
        drop = ref_value - eval_value
        p_value = degradation_p_value("average_confidence", reference, evaluation)
        significant = p_value < params.get("significance_level", SIGNIFICANCE_LEVEL)
        severity = severity_for(drop, thresholds) if significant else SEVERITY_PASS
        finding = "" if severity == SEVERITY_PASS else (
            f"The model's average confidence fell from {ref_value:.3f} on the reference set to {eval_value:.3f} on "
            f"the evaluation set: it is less sure of its predictions, a sign its accuracy is falling too.")
        return [TestCase(features=[], severity=severity, importance_score=max(drop, 0.0), finding=finding,
                         metrics={"reference_average_confidence": ref_value,
                                  "evaluation_average_confidence": eval_value,
                                  "average_confidence_change": -drop, "p_value": p_value})]


CONFIDENCE_TOLERANCE = 1e-9


@register
class AverageThresholdedConfidence(StressTest):
    key = "atc"
    name = "Average Thresholded Confidence"
    category = CATEGORY
    modalities = BOTH_MODALITIES
    description = ("Estimates the evaluation accuracy without evaluation labels: the confidence threshold that "
                   "reproduces the reference error rate is applied to the evaluation predictions (Garg et al., "
                   "2022), and the estimate is compared with the reference accuracy.")
    why_it_matters = ("Labels often arrive weeks after predictions; this estimate warns of an accuracy drop while "
                      "there is still time to act.")
    requires = frozenset({"predictions"})
    tasks = CLASSIFICATION_TASKS
    default_params = {"significance_level": SIGNIFICANCE_LEVEL}
    thresholds = (0.05, 0.10)

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        if ctx.reference_labels is None:
            raise SkipTest("needs labels in the reference dataset to calibrate the confidence threshold")
        labelled = ~np.isnan(ctx.reference_labels)
        reference_confidence = confidence(ctx.model_task, ctx.reference_predictions[labelled])
        correct = _correct(ctx.model_task, ctx.reference_labels[labelled], ctx.reference_predictions[labelled])
        reference_accuracy = float(correct.mean())
        # Threshold t with share(reference confidence < t) = reference error rate.
        threshold = float(np.quantile(reference_confidence, 1.0 - reference_accuracy))
        evaluation_confidence = confidence(ctx.model_task, ctx.evaluation_predictions)
        # Predictions stored in a file or a table come back with float noise (1e-11 here and there); without a
        # tolerance, rows tied at the threshold flip to "wrong" and identical data looks like an accuracy drop.
        estimate = float(np.mean(evaluation_confidence >= threshold - CONFIDENCE_TOLERANCE))
        drop = reference_accuracy - estimate
        error = np.hypot(np.sqrt(reference_accuracy * (1 - reference_accuracy) / max(len(correct), 1)),
                         np.sqrt(max(estimate * (1 - estimate), 1e-4) / max(len(evaluation_confidence), 1)))
        p_value = float(stats.norm.sf(drop / error)) if error > 0 else float(drop <= 0)
        significant = p_value < params.get("significance_level", SIGNIFICANCE_LEVEL)
        severity = severity_for(drop, thresholds) if significant else SEVERITY_PASS
        metrics = {"reference_accuracy": reference_accuracy, "estimated_evaluation_accuracy": estimate,
                   "confidence_threshold": threshold, "estimated_accuracy_drop": drop, "p_value": p_value}
        measured = _measured_accuracy(ctx)
        if measured is not None:
            # With labels the accuracy is measured (the Accuracy test judges it); an estimate from confidence alone
            # must not contradict it, so it is stated next to the measured value and raises nothing.
            metrics["evaluation_accuracy"] = measured
            metrics["superseded_by_labels"] = True
            finding = (f"Judging by its confidence alone, the model's accuracy on the evaluation set would be about "
                       f"{estimate:.3f}; the evaluation set has labels, and the measured accuracy is {measured:.3f} "
                       f"(reference {reference_accuracy:.3f}), which the Accuracy test judges. The estimate is not "
                       "used.") if severity != SEVERITY_PASS else ""
            return [TestCase(features=[], severity=SEVERITY_PASS, metrics=metrics, importance_score=0.0,
                             finding=finding, details={"severity_before_cap": severity})]
        finding = "" if severity == SEVERITY_PASS else (
            f"Judging by its confidence alone, the model's accuracy on the evaluation set is about {estimate:.3f}, "
            f"down from {reference_accuracy:.3f} on the reference set: expect more errors even before labels "
            "confirm it.")
        return [TestCase(features=[], severity=severity, metrics=metrics, importance_score=max(drop, 0.0),
                         finding=finding)]


def _measured_accuracy(ctx: Context) -> float | None:
    """Accuracy on the labelled evaluation rows (None without evaluation labels)."""
    if ctx.evaluation_labels is None:
        return None
    known = ~np.isnan(ctx.evaluation_labels)
    if not known.any():
        return None
    return float(_correct(ctx.model_task, ctx.evaluation_labels[known], ctx.evaluation_predictions[known]).mean())


def _correct(model_task: str, labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    if model_task == MODEL_TASK_BINARY_CLASSIFICATION:
        return (positive_scores(predictions) >= 0.5).astype(int) == labels.astype(int)
    return np.asarray(predictions).argmax(axis=1) == labels.astype(int)


@register
class CalibrationComparison(StressTest):
    key = "calibration_comparison"
    name = "Calibration Comparison"
    category = CATEGORY
    modalities = BOTH_MODALITIES
    description = ("Compares the calibration curves (share of positives, or of correct predictions, per bin of "
                   "predicted probability) of the reference and evaluation sets by their mean squared difference.")
    why_it_matters = ("Decisions taken on a probability (approve when risk < 5 %) go wrong when the same score "
                      "no longer means the same risk, even if the ranking of rows is unchanged.")
    requires = frozenset({"labels", "predictions"})
    tasks = CLASSIFICATION_TASKS
    default_params = {"num_bins": 10, "min_bin_size": 20, "significance_level": SIGNIFICANCE_LEVEL}
    thresholds = (0.005, 0.02)

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        bins = int(params.get("num_bins", 10))
        reference = _calibration_curve(ctx, ctx.reference_labels, ctx.reference_predictions, bins)
        evaluation = _calibration_curve(ctx, ctx.evaluation_labels, ctx.evaluation_predictions, bins)
        minimum = int(params.get("min_bin_size", 20))
        usable = (reference["count"] >= minimum) & (evaluation["count"] >= minimum)
        if not usable.any():
            raise SkipTest(f"no probability bin holds at least {minimum} rows in both datasets")
        difference = (reference["observed"] - evaluation["observed"])[usable]
        weights = evaluation["count"][usable] / evaluation["count"][usable].sum()
        mse = float(np.sum(weights * difference ** 2))
        # Chi-square test of "same curve": each bin's difference against its binomial noise.
        variance = (_binomial_variance(reference) + _binomial_variance(evaluation))[usable]
        statistic = float(np.sum(difference ** 2 / variance))
        p_value = float(stats.chi2.sf(statistic, df=int(usable.sum())))
        significant = p_value < params.get("significance_level", SIGNIFICANCE_LEVEL)
        severity = severity_for(mse, thresholds) if significant else SEVERITY_PASS
        finding = "" if severity == SEVERITY_PASS else (
            f"The model's probabilities mean something different on the evaluation set (calibration curves differ "
            f"by a mean squared {mse:.4f}): scores used as risk estimates or with a fixed cut-off are now off.")
        details = {"bin_edges": np.linspace(0, 1, bins + 1).tolist(),
                   "reference": {k: v.tolist() for k, v in reference.items()},
                   "evaluation": {k: v.tolist() for k, v in evaluation.items()}}
        return [TestCase(features=[], severity=severity, importance_score=mse, finding=finding, details=details,
                         metrics={"calibration_mse": mse, "p_value": p_value, "bins_compared": int(usable.sum())})]


def _calibration_curve(ctx: Context, labels: np.ndarray, predictions: np.ndarray, bins: int) -> dict[str, np.ndarray]:
    known = ~np.isnan(labels)
    labels, predictions = labels[known], predictions[known]
    if ctx.model_task == MODEL_TASK_BINARY_CLASSIFICATION:
        scores, outcome = positive_scores(predictions), labels == 1
    else:
        scores, outcome = confidence(ctx.model_task, predictions), _correct(ctx.model_task, labels, predictions)
    codes = np.minimum((scores * bins).astype(int), bins - 1)
    count = np.bincount(codes, minlength=bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        observed = np.bincount(codes, weights=outcome.astype(float), minlength=bins) / count
        predicted = np.bincount(codes, weights=scores, minlength=bins) / count
    return {"count": count, "observed": observed, "predicted": predicted}


def _binomial_variance(curve: dict[str, np.ndarray]) -> np.ndarray:
    count = np.maximum(curve["count"], 1)
    share = (np.nan_to_num(curve["observed"]) * count + 0.5) / (count + 1)   # floor for all-0 / all-1 bins
    return share * (1 - share) / count
