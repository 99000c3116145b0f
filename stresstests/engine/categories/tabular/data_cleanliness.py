"""Data Cleanliness: problems in the datasets themselves, independent of the model (RIME §2.9).

Statistics are judged on what the sample can vouch for: correlations and mutual information on their lower 95 %
confidence bound, duplicates beyond the number that independent columns would produce by chance.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from stresstests.engine.vocabulary import (
    ALL_MODALITIES, CLASSIFICATION_TASKS, MODEL_TASK_RANKING, MODEL_TASK_REGRESSION, SCORE_TASKS,
    SEVERITY_ALERT, SEVERITY_PASS, SEVERITY_WARNING,
    TEST_CATEGORY_TYPE_DATA_CLEANLINESS,
)
from stresstests.engine.base import Context, SkipTest, StressTest, TestCase, json_safe, register
from stresstests.engine.models import column_hashes
from stresstests.engine.severity import severity_for, worst_severity
from stresstests.engine.categories.tabular import distribution_stats as ds

CONFIDENCE_Z = 1.645          # one-sided 95 %
MI_NUMERIC_BINS = 10          # quantile bins of a numeric feature (or regression label) for mutual information
MI_MAX_LEVELS = 50            # rarer categories are pooled so cardinality alone cannot fake information
MI_FEATURE_TYPES = ("numeric", "categorical", "boolean")
MAX_EXAMPLES = 5


class CleanlinessTest(StressTest):
    category = TEST_CATEGORY_TYPE_DATA_CLEANLINESS


def _datasets(ctx: Context) -> list[tuple[str, pd.DataFrame]]:
    return [("reference", ctx.reference), ("evaluation", ctx.evaluation)]


@register
class RequiredFeatures(CleanlinessTest):
    """Acts only when `required_feats` or `allowed_feats` is configured."""

    key = "required_features"
    name = "Required Features"
    description = "Checks that both datasets contain the configured required features (and only allowed ones)."
    why_it_matters = "A missing input column means the model cannot be scored, or is scored on a default value."
    thresholds = (1.0, 1.0)    # number of missing required features: one is already an Alert
    default_params = {"required_feats": None, "allowed_feats": None, "ordered": False, "required_only": False}

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        required = list(params.get("required_feats") or [])
        allowed = list(params.get("allowed_feats") or [])
        if not required and not allowed:
            raise SkipTest("acts only when required_feats or allowed_feats is configured")
        if params.get("required_only"):
            allowed = required
        special = {ctx.schema.label_col, ctx.schema.timestamp_col, *_as_list(ctx.schema.pred_col)}
        return [self._case(name, [c for c in frame.columns if c not in special], required, allowed,
                           bool(params.get("ordered")), thresholds) for name, frame in _datasets(ctx)]

    def _case(self, dataset: str, columns: list[str], required: list[str], allowed: list[str], ordered: bool,
              thresholds: tuple[float, float]) -> TestCase:
        missing = [c for c in required if c not in columns]
        unexpected = [c for c in columns if c not in set(allowed) | set(required)] if allowed else []
        present = [c for c in columns if c in required]
        out_of_order = ordered and present != [c for c in required if c in present]
        severity = worst_severity([severity_for(len(missing), thresholds),
                                   SEVERITY_WARNING if unexpected or out_of_order else SEVERITY_PASS])
        problems = []
        if missing:
            problems.append(f"lacks the required feature(s) {', '.join(missing)}, so the model cannot be scored "
                            f"on it as validated")
        if unexpected:
            problems.append(f"has columns that are not allowed ({', '.join(unexpected[:5])})")
        if out_of_order:
            problems.append("has the required features in a different order than configured")
        finding = f"The {dataset} data {'; it '.join(problems)}." if problems else ""
        metrics = {"num_missing": len(missing), "num_unexpected": len(unexpected), "out_of_order": out_of_order}
        return TestCase(features=missing + unexpected, severity=severity, metrics=metrics, finding=finding,
                        details={"dataset": dataset, "missing": missing, "unexpected": unexpected})


def _as_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


@register
class DuplicateRows(CleanlinessTest):
    """Duplicates beyond chance: the share of duplicated rows minus the share found after shuffling every column
    independently (which keeps each column's values but breaks genuine row copies)."""

    key = "duplicate_rows"
    name = "Duplicate Row"
    description = "Counts rows identical across all features not excluded, in each dataset."
    why_it_matters = ("Copied rows over-weight some records in training and inflate evaluation metrics, and often "
                      "reveal a faulty join or export.")
    thresholds = (0.01, 0.05)
    default_params = {"exclude_columns": []}

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        excluded = set(params.get("exclude_columns") or [])
        columns = [c for c in ctx.schema.tested_features if c not in excluded]
        if not columns:
            return []
        return [self._case(ctx, name, frame, columns, thresholds) for name, frame in _datasets(ctx)]

    def _case(self, ctx: Context, dataset: str, frame: pd.DataFrame, columns: list[str],
              thresholds: tuple[float, float]) -> TestCase:
        # One 64-bit hash per cell, combined per row: duplicates of the real rows and of rows whose columns were
        # shuffled independently come from the same hashes, without copying the frame.
        hashes = np.column_stack([column_hashes(frame[c]) for c in columns])
        duplicated = _duplicated(_row_hashes(hashes))
        shuffled = np.column_stack([column[ctx.rng.permutation(len(column))] for column in hashes.T])
        n = max(len(frame), 1)
        chance_share = float(_duplicated(_row_hashes(shuffled)).mean()) if len(frame) else 0.0
        share = duplicated.sum() / n
        excess = share - chance_share
        severity = severity_for(excess, thresholds)
        finding = ""
        if severity != SEVERITY_PASS:
            finding = (f"The {dataset} data has {int(duplicated.sum())} duplicate rows ({share:.1%}, against "
                       f"{chance_share:.1%} expected by chance): copies over-weight some records and inflate "
                       f"metrics computed on them.")
        indices = frame.index[duplicated]
        metrics = {"num_duplicate_rows": int(duplicated.sum()), "duplicate_share": share,
                   "chance_duplicate_share": chance_share, "excess_share": excess}
        return TestCase(features=[], severity=severity, metrics=json_safe(metrics), finding=finding,
                        examples=json_safe([{"row": i} for i in indices[:MAX_EXAMPLES]]),
                        details={"dataset": dataset, "rows": len(frame), "columns": columns}, subset=dataset)


def _row_hashes(cell_hashes: np.ndarray) -> np.ndarray:
    combined = np.zeros(len(cell_hashes), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in cell_hashes.T:
            combined = combined * np.uint64(1_000_003) ^ column   # wrapping multiply: order-sensitive mix
    return combined


def _duplicated(row_hashes: np.ndarray) -> np.ndarray:
    return pd.Series(row_hashes).duplicated(keep="first").to_numpy()


@register
class LabelImbalance(CleanlinessTest):
    """Normalised imbalance = (majority share - 1/k) / (1 - 1/k): 0 for balanced classes, 1 for a single class."""

    key = "label_imbalance"
    name = "Label Imbalance"
    description = "Checks that no label class dominates the data."
    why_it_matters = ("With one dominant class, accuracy-like metrics look good for a model that ignores the "
                      "others, and the rare classes are barely validated.")
    requires = frozenset({"labels"})
    tasks = CLASSIFICATION_TASKS
    modalities = ALL_MODALITIES   # labels only: the same on text runs
    not_applicable = {MODEL_TASK_RANKING: "relevance grades are not classes (Label Drift (Regression) watches "
                                          "their distribution)",
                      MODEL_TASK_REGRESSION: "a regression target has no classes (Label Drift (Regression) watches "
                                             "its distribution)"}
    thresholds = (0.8, 0.95)
    default_params = {"normalize": True}

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        cases = []
        for dataset, labels in (("reference", ctx.reference_labels), ("evaluation", ctx.evaluation_labels)):
            shares = pd.Series(labels).dropna().value_counts(normalize=True)
            if shares.empty:
                continue
            k = len(ctx.schema.class_names or []) or max(len(shares), 2)
            majority = float(shares.iloc[0])
            majority_class = _class_name(ctx, shares.index[0])
            value = (majority - 1 / k) / (1 - 1 / k) if params.get("normalize", True) else majority
            severity = severity_for(value, thresholds)
            finding = ""
            if severity != SEVERITY_PASS:
                finding = (f"The {dataset} labels are imbalanced: class {majority_class!r} makes up {majority:.1%} "
                           f"of rows (imbalance {value:.2f} >= {thresholds[severity == SEVERITY_ALERT]:.2f}); "
                           f"accuracy-like metrics will look good even for a model that ignores the other classes.")
            cases.append(TestCase(features=[ctx.schema.label_col] if ctx.schema.label_col else [], severity=severity,
                                  metrics=json_safe({"imbalance": value, "majority_share": majority}),
                                  finding=finding, subset=dataset,
                                  details=json_safe({"dataset": dataset, "class_shares": {str(c): s for c, s in
                                                                                          shares.items()}})))
        return cases


def _class_name(ctx: Context, code: Any) -> Any:
    """Labels arrive encoded as class indices; show the user's class name when there is one."""
    names = ctx.schema.class_names or []
    try:
        return names[int(code)] if names else (int(code) if float(code).is_integer() else code)
    except (ValueError, TypeError, IndexError):
        return code


def _fisher_lower_bound(r: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Lower 95 % confidence bound of |r| (Fisher z)."""
    z = np.arctanh(np.clip(np.abs(r), 0, 0.999999))
    return np.tanh(np.maximum(z - CONFIDENCE_Z / np.sqrt(np.maximum(n - 3, 1)), 0))


@register
class HighFeatureCorrelation(CleanlinessTest):
    key = "high_feature_correlation"
    name = "High Feature Correlation"
    description = "Flags pairs of numeric reference features whose Pearson correlation is close to +-1."
    why_it_matters = ("Near-duplicate features make importances and explanations unreliable, and a model that "
                      "relies on their agreement breaks when one of them changes alone.")
    thresholds = (0.9, 0.97)
    default_params = {"max_pairwise_tests": 200, "min_num_samples": 100}

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        columns = [f for f in ctx.schema.features_of_type("numeric", "boolean")
                   if pd.to_numeric(ctx.reference[f], errors="coerce").notna().any()]
        if len(columns) < 2:
            return []
        frame = pd.DataFrame({c: pd.to_numeric(ctx.reference[c], errors="coerce") for c in columns})
        correlation, counts = ds.pairwise_correlations(frame)
        first, second = np.triu_indices(len(columns), k=1)
        r, n = np.nan_to_num(correlation[first, second]), counts[first, second]
        keep = np.flatnonzero(n >= int(params["min_num_samples"]))
        order = keep[np.argsort(-np.abs(r[keep]), kind="stable")][: int(params["max_pairwise_tests"])]
        lower = _fisher_lower_bound(r, n)
        return [self._case(columns[first[k]], columns[second[k]], float(r[k]), float(lower[k]), int(n[k]),
                           thresholds) for k in order]

    @staticmethod
    def _case(first: str, second: str, r: float, lower: float, n: int, thresholds: tuple[float, float]) -> TestCase:
        severity = severity_for(lower, thresholds)
        finding = ""
        if severity != SEVERITY_PASS:
            finding = (f"{first} and {second} are almost collinear in the reference (correlation {r:.3f}, at least "
                       f"{lower:.3f} with 95 % confidence): one is largely redundant and their individual "
                       f"importances are unreliable.")
        return TestCase(features=[first, second], severity=severity,
                        metrics=json_safe({"correlation": r, "correlation_lower_bound": lower, "rows": n}),
                        finding=finding)


def _mi_codes(ctx: Context, feature: str) -> tuple[np.ndarray, np.ndarray]:
    """Feature codes for mutual information on both datasets, bins and levels learned from the reference."""
    reference, evaluation = ctx.reference[feature], ctx.evaluation[feature]
    if ctx.schema.feature_types.get(feature) == "numeric":
        ref_values = pd.to_numeric(reference, errors="coerce").to_numpy(dtype=float)
        eval_values = pd.to_numeric(evaluation, errors="coerce").to_numpy(dtype=float)
        return (ds.quantile_codes(ref_values, ref_values, MI_NUMERIC_BINS),
                ds.quantile_codes(ref_values, eval_values, MI_NUMERIC_BINS))
    ref_codes, eval_codes, _ = ds.feature_codes(ctx, feature)
    combined = ds.limited_codes(np.concatenate([ref_codes, eval_codes]), MI_MAX_LEVELS)
    return combined[: len(ref_codes)], combined[len(ref_codes):]


def _label_codes(ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    reference, evaluation = ctx.label_values("reference"), ctx.label_values("evaluation")
    if ctx.model_task in SCORE_TASKS:      # regression targets, ranking relevance grades
        ref_values = reference.astype(float)
        return (ds.quantile_codes(ref_values, ref_values, MI_NUMERIC_BINS),
                ds.quantile_codes(ref_values, evaluation.astype(float), MI_NUMERIC_BINS))
    ref_codes, eval_codes, _ = ds.category_codes(pd.Series(reference), pd.Series(evaluation))
    return ref_codes, eval_codes


def _mutual_information(ctx: Context, min_rows: int) -> list[tuple[str, tuple[float, float], tuple[float, float]]]:
    """(feature, (reference NMI, error), (evaluation NMI, error)) per feature with enough rows in both sets;
    computed once per run for both mutual-information tests."""
    key = ("mutual_information", min_rows)
    if key not in ctx.memo:
        ctx.memo[key] = _compute_mutual_information(ctx, min_rows)
    return ctx.memo[key]


def _compute_mutual_information(ctx: Context, min_rows: int
                                ) -> list[tuple[str, tuple[float, float], tuple[float, float]]]:
    ref_label, eval_label = _label_codes(ctx)
    if min(len(ref_label), len(eval_label)) < min_rows:
        return []
    results = []
    for feature in ctx.schema.features_of_type(*MI_FEATURE_TYPES):
        ref_codes, eval_codes = _mi_codes(ctx, feature)
        results.append((feature, ds.normalised_mutual_information(ref_codes, ref_label),
                        ds.normalised_mutual_information(eval_codes, eval_label)))
    return results


@register
class HighMutualInformation(CleanlinessTest):
    key = "high_mi_feature_to_label"
    name = "High Mutual Information (Feature to Label)"
    description = ("Flags features that alone explain most of the label's uncertainty in the reference "
                   "(normalised mutual information U(label | feature)).")
    why_it_matters = ("A single feature that nearly determines the label is often leaked from the outcome; the "
                      "model will fail when that feature is not available at prediction time.")
    requires = frozenset({"labels"})
    thresholds = (0.5, 0.8)
    default_params = {"min_num_samples": 100}

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        cases = []
        for feature, (value, error), _ in _mutual_information(ctx, int(params["min_num_samples"])):
            lower = max(value - CONFIDENCE_Z * error, 0.0)
            severity = severity_for(lower, thresholds)
            finding = ""
            if severity != SEVERITY_PASS:
                finding = (f"{feature} alone explains {value:.0%} of the label's uncertainty in the reference: check "
                           f"that it does not leak the outcome, or the model will fail where it is unavailable.")
            cases.append(TestCase(features=[feature], severity=severity, finding=finding,
                                  metrics=json_safe({"normalized_mutual_information": value,
                                                     "mutual_information_lower_bound": lower})))
        return cases


@register
class MutualInformationDecrease(CleanlinessTest):
    key = "mi_decrease_feature_to_label"
    name = "Mutual Information Decrease (Feature to Label)"
    description = ("Flags features whose normalised mutual information with the label is high in the reference "
                   "but much lower in the evaluation set.")
    why_it_matters = ("A feature that was very informative in the reference and is not in trusted evaluation data "
                      "probably leaked the label in the reference; the model leans on a signal it will not have.")
    requires = frozenset({"labels"})
    thresholds = (0.1, 0.2)
    default_params = {"min_mutual_information_requirement": 0.2, "min_num_samples": 100}

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        minimum = float(params["min_mutual_information_requirement"])
        cases = []
        for feature, (ref_value, ref_error), (eval_value, eval_error) in _mutual_information(
                ctx, int(params["min_num_samples"])):
            if ref_value < minimum:
                continue
            decrease = ref_value - eval_value
            lower = max(decrease - CONFIDENCE_Z * float(np.hypot(ref_error, eval_error)), 0.0)
            cases.append(self._case(feature, ref_value, eval_value, decrease, lower, thresholds))
        return cases

    @staticmethod
    def _case(feature: str, ref_value: float, eval_value: float, decrease: float, lower: float,
              thresholds: tuple[float, float]) -> TestCase:
        severity = severity_for(lower, thresholds)
        finding = ""
        if severity != SEVERITY_PASS:
            finding = (f"{feature} explains {ref_value:.0%} of the label's uncertainty in the reference but only "
                       f"{eval_value:.0%} in the evaluation set: it may leak the label in the reference, so the "
                       f"model relies on a signal it will not have.")
        metrics: dict[str, Any] = {"reference_mutual_information": ref_value,
                                   "evaluation_mutual_information": eval_value, "decrease": decrease,
                                   "decrease_lower_bound": lower}
        return TestCase(features=[feature], severity=severity, metrics=json_safe(metrics), finding=finding)
