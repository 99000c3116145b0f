"""Abnormal Inputs: evaluation rows that break what the reference taught us to expect (RIME §2.6).

Every test applies one row rule per feature (or feature pair) to BOTH datasets, then asks whether the evaluation
set has more failing rows than the reference:
- Definitional rules (unseen category, null in a never-null feature, wrong capitalisation ...) fail no reference row
  by construction, so one failing evaluation row is a real event: a Warning.
- Statistical rules (outliers, rare categories, rare value pairs) also fail some reference rows; the evaluation share
  must then exceed `min_rate_ratio` (1.5) times the reference share beyond sampling noise (one-sided exact
  conditional binomial test, Benjamini-Hochberg across the test's features). Reference against a random half of
  itself therefore raises nothing.
Evidence is the excess share of failing rows against `[warning, alert]` = (any, 3 %) (RIME's unseen-categorical
example alerts at 3 % without predictions); it is combined with the model impact of the failing rows (metric on
failing vs passing rows, or average prediction), judged on its lower confidence bound and measured only from
`min_num_samples` failing rows. A finding on fewer rows than that is shown but not raised (Pass, with its sentence
and `severity_capped`) unless the model's predictions on those rows stand out far beyond noise: one unseen category
in 5,000 rows cannot be judged.
Unseen categories are compared with what a fresh sample is expected to miss, not with zero: the reference's
Good-Turing missing mass (singletons / n, standard error from Esty's variance) plus the evaluation's binomial noise. A
400-level Zipf feature whose reference has 4.9 % singletons shows about 5 % unseen rows in any new sample. And an
unseen-category finding whose rows the model serves no worse than the others is shown, not raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from stresstests.engine.vocabulary import SEVERITY_PASS, TEST_CATEGORY_TYPE_ABNORMAL_INPUTS
from stresstests.engine.base import Context, StressTest, TestCase, json_safe, register
from stresstests.engine.metrics import METRICS
from stresstests.engine.severity import benjamini_hochberg, severity_for
from stresstests.engine.categories.tabular import distribution_stats as ds
from stresstests.engine.categories.tabular.data_impact import (
    default_performance_change_config,
    evidence_and_impact,
    few_rows_stand_out,
    min_impact_rows,
    rests_on_few_rows,
    row_impact,
)

MAX_EXAMPLES = 5
MAX_ROW_INDICES = 100
CATEGORY_TYPES = ("categorical", "boolean")
STRING_TYPES = ("categorical", "boolean", "text", "identifier")
# A category pair is only called inconsistent when independence predicts at least this many reference rows for it:
# absence of a combination that should appear twice is not evidence of anything.
MIN_EXPECTED_PAIR_ROWS = 5.0


@dataclass
class RowCheck:
    """One rule applied to one feature (or pair) in both datasets."""

    features: list[str]
    evaluation_mask: np.ndarray
    reference_mask: np.ndarray
    problem: str                     # completes "<n> evaluation rows (<share>) ..."
    details: dict[str, Any] = field(default_factory=dict)
    # Evaluation rows that break a definitional part of a statistical rule (e.g. a negative amount); see run().
    certain_mask: np.ndarray | None = None
    # The share of failing evaluation rows a fresh sample of the reference's population is expected to have, with its
    # standard error (unseen categories: the Good-Turing missing mass); None: compare with the reference's share.
    expected_share: float | None = None
    expected_error: float = 0.0


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _top_values(values: pd.Series, limit: int = 10) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.value_counts(dropna=False).head(limit).items()}


def _quoted(values: list[Any], limit: int = 3) -> str:
    return ", ".join(repr(_plain(v)) for v in values[:limit])


def string_values(series: pd.Series) -> pd.Series:
    """The values that are strings; everything else (nulls, numbers) becomes NaN."""
    if pd.api.types.is_string_dtype(series) and not pd.api.types.is_object_dtype(series):
        return series   # a pandas string column holds only strings and nulls
    if not pd.api.types.is_object_dtype(series):
        return pd.Series(np.nan, index=series.index, dtype=object)
    return series.where(series.map(lambda v: isinstance(v, str)), np.nan)


def _string_features(ctx: Context, params: dict) -> list[str]:
    """Features of string-like types whose reference values include strings (checked on distinct values)."""
    return [f for f in _features(ctx, params, STRING_TYPES)
            if coded(ctx, f).strings[: coded(ctx, f).n_reference_categories].notna().any()]


def _features(ctx: Context, params: dict, types: tuple[str, ...] | None = None) -> list[str]:
    """Tested features of the given types (all types when None), minus the test's `exclude_columns`."""
    excluded = set(params.get("exclude_columns") or [])
    candidates = ctx.schema.tested_features if types is None else ctx.schema.features_of_type(*types)
    return [f for f in candidates if f not in excluded]


class AbnormalInputTest(StressTest):
    """Runs `checks`, then turns failing-row counts into severities with the rules in the module docstring."""

    category = TEST_CATEGORY_TYPE_ABNORMAL_INPUTS
    thresholds = (0.0, 0.03)
    statistical: ClassVar[bool] = False
    # A finding whose rows the model serves no worse than the others is shown but not raised (see _not_worse).
    raise_only_when_worse: ClassVar[bool] = False
    # min_rate_ratio: a statistical rule fires only when its evaluation rate is significantly above this multiple of
    # the reference rate, so a 0.04 % -> 0.06 % wobble of rare rows on 200,000 rows is not reported.
    default_params: ClassVar[dict] = {"exclude_columns": [], "p_value_threshold": 0.05, "min_rate_ratio": 1.5,
                                      "performance_change_config": default_performance_change_config()}

    def checks(self, ctx: Context, params: dict) -> list[RowCheck]:
        raise NotImplementedError

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        checks = self.checks(ctx, params)
        if not checks:
            return []
        n_ref, n_eval = len(ctx.reference), len(ctx.evaluation)
        ref_counts = np.array([c.reference_mask.sum() for c in checks])
        eval_counts = np.array([c.evaluation_mask.sum() for c in checks])
        p_values = ds.excess_count_p_values(ref_counts, n_ref, eval_counts, n_eval,
                                            rate_ratio=float(params.get("min_rate_ratio", 1.0)))
        for i, check in enumerate(checks):
            if check.expected_share is not None:
                p_values[i] = _expected_share_p_value(check, n_eval)
        significant = benjamini_hochberg(p_values, float(params.get("p_value_threshold", 0.05)))
        significant |= np.array([self._certain_rows(c) for c in checks]) > 0
        return [self._case(ctx, params, thresholds, check, float(p_values[i]), bool(significant[i]))
                for i, check in enumerate(checks)]

    def _certain_rows(self, check: RowCheck) -> int:
        """Failing evaluation rows that need no test: they break a rule no reference row breaks."""
        if check.certain_mask is not None:
            return int(check.certain_mask.sum())
        if check.expected_share is not None:
            return 0
        if self.statistical or check.reference_mask.any():
            return 0
        return int(check.evaluation_mask.sum())

    def _case(self, ctx: Context, params: dict, thresholds: tuple[float, float], check: RowCheck,
              p_value: float, significant: bool) -> TestCase:
        n_ref, n_eval = len(ctx.reference), len(ctx.evaluation)
        count, ref_count = int(check.evaluation_mask.sum()), int(check.reference_mask.sum())
        share, ref_share = count / max(n_eval, 1), ref_count / max(n_ref, 1)
        baseline = ref_share if check.expected_share is None else check.expected_share
        excess = share - baseline
        evidence = severity_for(excess, thresholds) if significant and count > 0 and excess > 0 else SEVERITY_PASS
        impact: dict[str, Any] = {}
        if evidence != SEVERITY_PASS:
            impact = row_impact(ctx, check.evaluation_mask, params)
        severity = evidence_and_impact(evidence, impact, params)
        harmless = severity != SEVERITY_PASS and self.raise_only_when_worse and _not_worse(impact)
        capped = (severity != SEVERITY_PASS and rests_on_few_rows(check.evaluation_mask, params)
                  and not few_rows_stand_out(ctx, check.evaluation_mask, params))
        metrics = {"num_failing_rows": count, "failing_rows_share": share, "reference_failing_rows": ref_count,
                   "reference_failing_share": ref_share, "excess_share": excess, "p_value": p_value,
                   **_impact_metrics(impact)}
        if check.expected_share is not None:
            metrics["expected_share"] = check.expected_share
        rows = ctx.evaluation.index[check.evaluation_mask]
        details = {"evaluation_rows": n_eval, "reference_rows": n_ref, "failing_row_indices":
                   [_plain(i) for i in rows[:MAX_ROW_INDICES]], **check.details}
        finding = self._finding(check, count, share, ref_share, impact) if severity != SEVERITY_PASS else ""
        if capped:
            # Shown, not raised: the sentence stays for the reader, the severity does not count.
            details["severity_before_cap"] = severity
            severity = SEVERITY_PASS
            finding += (f" Not raised: it rests on {count} row{'s' if count != 1 else ''}, fewer than the "
                        f"{min_impact_rows(params)} needed to measure an effect on the model, and the model's "
                        "predictions on them do not stand out.")
        elif severity != SEVERITY_PASS and rests_on_few_rows(check.evaluation_mask, params) and not harmless:
            finding += (" Raised although they are few: the model's predictions on them (or its accuracy) stand out "
                        "from the other rows far beyond noise.")
        elif harmless:
            details["severity_before_cap"] = severity
            severity = SEVERITY_PASS
            finding += " Not raised: the model does no worse on these rows than on the others."
        metrics["severity_capped"] = capped
        return TestCase(features=check.features, severity=severity, metrics=json_safe(metrics),
                        importance_score=impact.get("impact"), finding=finding,
                        examples=json_safe(_examples(ctx, check)), details=json_safe(details))

    def _finding(self, check: RowCheck, count: int, share: float, ref_share: float, impact: dict) -> str:
        subject = " and ".join(check.features)
        baseline = f" against {ref_share:.2%} in the reference" if ref_share > 0 else ""
        if check.expected_share:
            baseline = f" against {check.expected_share:.2%} expected of a fresh sample"
        return f"{subject}: {count} evaluation rows ({share:.2%}{baseline}) {check.problem}{_impact_clause(impact)}."


def _expected_share_p_value(check: RowCheck, n_evaluation: int) -> float:
    """One-sided p-value that the evaluation's failing share exceeds the expected share: binomial noise of the
    evaluation sample plus the error of the expectation itself (normal approximation). With no expected share
    (a reference without singletons) any failing row is evidence, as for a definitional rule."""
    count = int(check.evaluation_mask.sum())
    expected = float(check.expected_share or 0.0)
    if expected <= 0.0:
        return 0.0 if count > 0 else 1.0
    n = max(n_evaluation, 1)
    error = float(np.sqrt(expected * (1 - expected) / n + check.expected_error ** 2))
    return float(stats.norm.sf((count / n - expected) / error))


def _not_worse(impact: dict) -> bool:
    """The model's measured metric on the failing rows is no worse than on the other rows (a measured impact <= 0);
    without predictions or with too few rows nothing is known, so the evidence stands."""
    value = impact.get("impact") if impact.get("metric") not in (None, "average_prediction") else None
    return isinstance(value, (int, float)) and value <= 0


def good_turing_missing_mass(reference_codes: np.ndarray) -> tuple[float, float]:
    """(share, standard error) of a fresh sample's values that the reference never shows: singletons / n
    (Good-Turing), with Esty's (1983) variance (N1 (1 - N1/n) + 2 N2) / n^2."""
    present = reference_codes[reference_codes >= 0]
    n = len(present)
    if n == 0:
        return 0.0, 0.0
    counts = np.bincount(present)
    singletons, doubletons = int((counts == 1).sum()), int((counts == 2).sum())
    share = singletons / n
    return share, float(np.sqrt(max(singletons * (1 - share) + 2 * doubletons, 0.0)) / n)


def _examples(ctx: Context, check: RowCheck) -> list[dict]:
    positions = np.flatnonzero(check.evaluation_mask)[:MAX_EXAMPLES]
    # A few cells of the checked columns only: no sub-frame of the whole evaluation set.
    columns = [ctx.evaluation[feature].iloc[positions].tolist() for feature in check.features]
    examples = []
    for index, row in zip(ctx.evaluation.index[positions], zip(*columns)):
        values = {feature: _plain(value) for feature, value in zip(check.features, row)}
        examples.append({"row": _plain(index), **({"value": values[check.features[0]]} if len(values) == 1
                                                  else {"values": values})})
    return examples


def _impact_metrics(impact: dict) -> dict[str, Any]:
    if impact.get("metric") is None:
        return {}
    name = impact["metric"]
    return {f"impact_{name}": impact.get("impact"), f"{name}_passing_rows": impact.get("passing"),
            f"{name}_failing_rows": impact.get("failing"), "impact_lower_bound": impact.get("impact_lower_bound")}


def _impact_clause(impact: dict) -> str:
    if not impact:
        return ""
    if impact.get("metric") is None:
        return "; with no predictions their effect on the model is unknown"
    if impact.get("impact") is None:
        return "; too few of them to measure the effect on the model"
    # Figures in the metric's own units (an RMSE, a probability), never the unit-free impact severity is judged on.
    metric, value = impact["metric"], impact["impact"]
    failing, passing = impact.get("failing"), impact.get("passing")
    if metric == "average_prediction":
        if failing is None or passing is None or impact.get("distance") == "total_variation":
            return (f"; the model's average class probabilities on them differ by {value:.3f} (total variation) "
                    "from other rows'")
        return f"; the model's average prediction is {failing:.3g} on them against {passing:.3g} on other rows"
    display = METRICS[metric].display
    if value <= 0:
        return f"; the model's {display} on them is no worse than on other rows"
    return f"; the model's {display} is {failing:.3g} on them against {passing:.3g} on other rows"


# ---- numeric rules -----------------------------------------------------------------------------------------------
def _numbers(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)


def _is_ascending(values: np.ndarray) -> bool:
    present = values[~np.isnan(values)]
    return present.size > 2 and bool(np.all(np.diff(present) > 0))


def _outside(values: np.ndarray, low: float, high: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (values < low) | (values > high)


@register
class NumericOutliers(AbnormalInputTest):
    key = "numeric_outlier"
    name = "Numeric Outliers"
    description = ("Counts evaluation values beyond the reference's outlier fences (quartiles -/+ bound_multiplier "
                   "x interquartile range).")
    why_it_matters = "Extreme values lie where the model saw few or no examples, so its predictions there are guesses."
    statistical = True
    default_params = {**AbnormalInputTest.default_params, "bound_multiplier": 3.0}

    def checks(self, ctx: Context, params: dict) -> list[RowCheck]:
        checks = []
        multiplier = float(params["bound_multiplier"])
        for feature in _features(ctx, params, ("numeric",)):
            profile = ctx.profile[feature]
            reference = _numbers(ctx.reference[feature])
            if profile.quantiles is None or _is_ascending(reference):
                continue
            q1, q3 = profile.quantile(0.25), profile.quantile(0.75)
            low, high = q1 - multiplier * (q3 - q1), q3 + multiplier * (q3 - q1)
            checks.append(RowCheck([feature], _outside(_numbers(ctx.evaluation[feature]), low, high),
                                   _outside(reference, low, high),
                                   f"lie outside the outlier fences [{low:.4g}, {high:.4g}]",
                                   {"lower_bound": low, "upper_bound": high}))
        return checks


@register
class OutOfRange(AbnormalInputTest):
    key = "out_of_range"
    name = "Out of Range"
    description = ("Counts evaluation values outside the reference range widened by std_factor standard "
                   "deviations, or outside the inferred domain ([0, 1] or non-negative).")
    why_it_matters = "Values the model has never seen anything close to, such as negative amounts, are usually bugs."
    # Beyond the widened range is statistical (heavy tails put new samples past an old maximum); leaving the
    # domain the whole reference respects (negative amounts, probabilities above 1) is certain.
    statistical = True
    default_params = {**AbnormalInputTest.default_params, "std_factor": 3.0}

    def checks(self, ctx: Context, params: dict) -> list[RowCheck]:
        checks = []
        for feature in _features(ctx, params, ("numeric",)):
            profile = ctx.profile[feature]
            if profile.min is None:
                continue
            low, high = self._range(profile, float(params["std_factor"]))
            evaluation = _numbers(ctx.evaluation[feature])
            checks.append(RowCheck([feature], _outside(evaluation, low, high),
                                   _outside(_numbers(ctx.reference[feature]), low, high),
                                   f"lie outside the expected range [{low:.4g}, {high:.4g}]",
                                   {"lower_bound": low, "upper_bound": high, "reference_min": profile.min,
                                    "reference_max": profile.max, "domain": profile.range_kind},
                                   certain_mask=_outside(evaluation, *self._domain(profile))))
        return checks

    @staticmethod
    def _domain(profile) -> tuple[float, float]:
        return {"[0, 1]": (0.0, 1.0), "[0, inf)": (0.0, np.inf)}.get(profile.range_kind, (-np.inf, np.inf))

    @classmethod
    def _range(cls, profile, std_factor: float) -> tuple[float, float]:
        margin = std_factor * (profile.std or 0.0)
        domain_low, domain_high = cls._domain(profile)
        return max(profile.min - margin, domain_low), min(profile.max + margin, domain_high)


@register
class NullCheck(AbnormalInputTest):
    key = "null_check"
    name = "Null Check"
    description = "Counts missing values in features that are never missing in the reference."
    why_it_matters = ("A model trained without missing values has no learned behaviour for them; many pipelines "
                      "crash or fill them with an arbitrary default.")

    def checks(self, ctx: Context, params: dict) -> list[RowCheck]:
        features = [f for f in _features(ctx, params) if ctx.profile[f].null_count == 0]
        return [RowCheck([f], ctx.evaluation[f].isna().to_numpy(), ctx.reference[f].isna().to_numpy(),
                         "are missing although the feature is never missing in the reference") for f in features]


@register
class FeatureTypeCheck(AbnormalInputTest):
    key = "feature_type_check"
    name = "Feature Type Check"
    description = "Counts values of numeric features that are not numbers (for example 'N/A' or '12,5')."
    why_it_matters = "A value of the wrong type either crashes the model or is silently turned into a missing value."

    def checks(self, ctx: Context, params: dict) -> list[RowCheck]:
        checks = []
        for feature in _features(ctx, params, ("numeric",)):
            evaluation = ctx.evaluation[feature]
            failing = self._not_numbers(evaluation)
            checks.append(RowCheck([feature], failing, self._not_numbers(ctx.reference[feature]),
                                   f"are not numbers ({_quoted(list(pd.unique(evaluation[failing].astype(object))))})",
                                   {"wrong_values": _top_values(evaluation[failing])}))
        return checks

    @staticmethod
    def _not_numbers(series: pd.Series) -> np.ndarray:
        if pd.api.types.is_numeric_dtype(series):
            return np.zeros(len(series), dtype=bool)
        return (series.notna() & pd.to_numeric(series, errors="coerce").isna()).to_numpy()


# ---- category rules ----------------------------------------------------------------------------------------------
# Category and string rules are decided once per distinct value (on the run's shared category codes) and mapped back
# to rows, so their cost grows with the number of categories, not of rows.
@dataclass
class Coded:
    reference: np.ndarray          # code per reference row, -1 for nulls
    evaluation: np.ndarray
    categories: pd.Series          # value per code (object)
    n_reference_categories: int    # codes below this occur in the reference

    def rows(self, flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Reference and evaluation rows whose category is flagged."""
        flags = np.append(np.asarray(flags, dtype=bool), False)     # code -1 (null) reads the trailing False
        return flags[self.reference], flags[self.evaluation]

    def is_new(self) -> np.ndarray:
        return np.arange(len(self.categories)) >= self.n_reference_categories

    def reference_counts(self) -> np.ndarray:
        return np.bincount(self.reference[self.reference >= 0], minlength=len(self.categories))

    def flagged_values(self, flags: np.ndarray) -> list[Any]:
        return list(self.categories[np.asarray(flags, dtype=bool)])

    @cached_property
    def strings(self) -> pd.Series:
        """`string_values` of the categories: computed once, read by every string rule."""
        return string_values(self.categories)


def coded(ctx: Context, feature: str) -> Coded:
    """The feature's shared category codes, built once per run (every category and string rule reads them)."""
    key = ("abnormal_inputs.coded", feature)
    if key not in ctx.memo:
        ref_codes, eval_codes, categories = ds.feature_codes(ctx, feature)
        n_reference = int(ref_codes.max()) + 1 if (ref_codes >= 0).any() else 0
        ctx.memo[key] = Coded(ref_codes, eval_codes, pd.Series(categories, dtype=object), n_reference)
    return ctx.memo[key]


def _value_counts(coding: Coded, flags: np.ndarray, limit: int = 10) -> dict[str, int]:
    counts = np.bincount(coding.evaluation[coding.evaluation >= 0], minlength=len(coding.categories))
    flagged = np.flatnonzero(np.asarray(flags, dtype=bool) & (counts > 0))
    top = flagged[np.argsort(-counts[flagged], kind="stable")][:limit]
    return {str(coding.categories[i]): int(counts[i]) for i in top}


class CategoryRuleTest(AbnormalInputTest):
    """A rule decided per distinct value of a feature: `flags` marks the offending categories (None: nothing to
    check on this feature), `describe` completes the finding and adds details."""

    def candidate_features(self, ctx: Context, params: dict) -> list[str]:
        return _features(ctx, params, CATEGORY_TYPES)

    def flags(self, ctx: Context, feature: str, coding: Coded, params: dict) -> np.ndarray | None:
        raise NotImplementedError

    def describe(self, ctx: Context, feature: str, coding: Coded, flags: np.ndarray, params: dict
                 ) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    def checks(self, ctx: Context, params: dict) -> list[RowCheck]:
        checks = []
        for feature in self.candidate_features(ctx, params):
            coding = coded(ctx, feature)
            flags = self.flags(ctx, feature, coding, params)
            if flags is None:
                continue
            reference_rows, evaluation_rows = coding.rows(flags)
            problem, details = self.describe(ctx, feature, coding, flags, params)
            checks.append(RowCheck([feature], evaluation_rows, reference_rows, problem, details))
        return checks


class StringRuleTest(CategoryRuleTest):
    """A category rule on string values; non-string values never break it."""

    def candidate_features(self, ctx: Context, params: dict) -> list[str]:
        return _string_features(ctx, params)

    def flags(self, ctx: Context, feature: str, coding: Coded, params: dict) -> np.ndarray | None:
        values = coding.strings
        flags = self.string_flags(values, coding, ctx, feature, params)
        return None if flags is None else values.notna().to_numpy() & flags

    def string_flags(self, values: pd.Series, coding: Coded, ctx: Context, feature: str, params: dict
                     ) -> np.ndarray | None:
        raise NotImplementedError


@register
class UnseenCategorical(CategoryRuleTest):
    key = "unseen_categorical"
    name = "Unseen Categorical"
    description = "Counts evaluation values of categorical features that never occur in the reference."
    why_it_matters = ("A model has learned nothing about a category it never saw; most encoders silently map it "
                      "to a default, so its predictions on those rows are unsupported.")

    raise_only_when_worse = True

    def candidate_features(self, ctx: Context, params: dict) -> list[str]:
        return [f for f in super().candidate_features(ctx, params) if not ctx.profile[f].unseen_values_allowed]

    def checks(self, ctx: Context, params: dict) -> list[RowCheck]:
        """A high-cardinality feature (merchants, cities) shows new values in any fresh sample: the expected share
        is the reference's Good-Turing missing mass, scaled to the evaluation's non-null rows."""
        checks = super().checks(ctx, params)
        for check in checks:
            coding = coded(ctx, check.features[0])
            mass, error = good_turing_missing_mass(coding.reference)
            present = float((coding.evaluation >= 0).mean()) if len(coding.evaluation) else 0.0
            check.expected_share, check.expected_error = mass * present, error * present
        return checks

    def flags(self, ctx: Context, feature: str, coding: Coded, params: dict) -> np.ndarray:
        return coding.is_new()

    def describe(self, ctx: Context, feature: str, coding: Coded, flags: np.ndarray, params: dict
                 ) -> tuple[str, dict[str, Any]]:
        return (f"hold values never seen in the reference ({_quoted(coding.flagged_values(flags))})",
                {"unseen_values": _value_counts(coding, flags)})


@register
class RareCategories(CategoryRuleTest):
    key = "rare_categories"
    name = "Rare Categories"
    description = ("Counts evaluation rows whose category was rare in the reference (fewer than "
                   "min_num_occurrences rows, a share below min_pct_occurrences, or by default a share below "
                   "min_ratio_rel_uniform of a uniform share).")
    why_it_matters = "A model's behaviour on categories it saw a handful of times is barely validated."
    statistical = True
    default_params = {**AbnormalInputTest.default_params, "min_num_occurrences": 0, "min_pct_occurrences": 0.0,
                      "min_ratio_rel_uniform": 0.005, "include_columns": []}

    def candidate_features(self, ctx: Context, params: dict) -> list[str]:
        features = super().candidate_features(ctx, params)
        return features + [f for f in params.get("include_columns") or [] if f not in features]

    def flags(self, ctx: Context, feature: str, coding: Coded, params: dict) -> np.ndarray | None:
        counts = coding.reference_counts()
        seen = np.arange(len(counts)) < coding.n_reference_categories
        shares = counts / max(counts.sum(), 1)
        min_count, min_share = int(params["min_num_occurrences"]), float(params["min_pct_occurrences"])
        if min_count > 0 or min_share > 0:
            rare = seen & ((counts < min_count) | (shares < min_share))
        else:
            uniform_share = 1 / max(coding.n_reference_categories, 1)
            rare = seen & (shares < float(params["min_ratio_rel_uniform"]) * uniform_share)
        return rare if rare.any() else None

    def describe(self, ctx: Context, feature: str, coding: Coded, flags: np.ndarray, params: dict
                 ) -> tuple[str, dict[str, Any]]:
        counts = coding.reference_counts()
        return (f"hold categories that are rare in the reference ({_quoted(coding.flagged_values(flags))})",
                {"rare_categories": {str(coding.categories[i]): int(counts[i]) for i in np.flatnonzero(flags)[:20]}})


@register
class Capitalization(StringRuleTest):
    key = "capitalization"
    name = "Capitalization"
    description = "Counts evaluation values that match a reference category only when case is ignored."
    why_it_matters = "'rome' and 'Rome' are different categories to a model; the variant gets no learned behaviour."

    def string_flags(self, values: pd.Series, coding: Coded, ctx: Context, feature: str, params: dict
                     ) -> np.ndarray:
        lowered = values.str.lower()
        known = pd.Index(lowered[~coding.is_new() & values.notna().to_numpy()])
        return coding.is_new() & lowered.isin(known).to_numpy()

    def describe(self, ctx: Context, feature: str, coding: Coded, flags: np.ndarray, params: dict
                 ) -> tuple[str, dict[str, Any]]:
        return (f"differ from a known category only in capitalisation ({_quoted(coding.flagged_values(flags))})",
                {"variants": _value_counts(coding, flags)})


@register
class EmptyString(StringRuleTest):
    key = "empty_string"
    name = "Empty String"
    description = "Counts empty or blank strings in string features, beyond their rate in the reference."
    why_it_matters = "An empty string is a null in disguise: the model treats it as a real, unknown category."

    def string_flags(self, values: pd.Series, coding: Coded, ctx: Context, feature: str, params: dict
                     ) -> np.ndarray:
        return (values.str.strip() == "").fillna(False).to_numpy(dtype=bool)

    def describe(self, ctx: Context, feature: str, coding: Coded, flags: np.ndarray, params: dict
                 ) -> tuple[str, dict[str, Any]]:
        return "are empty strings instead of values or nulls", {}


@register
class RequiredCharacters(StringRuleTest):
    key = "req_characters"
    name = "Required Characters"
    description = ("Counts string values missing a character that every reference value contains (for example "
                   "'@' in e-mail addresses), or the characters configured per column.")
    why_it_matters = "A value missing a structural character is malformed and the features derived from it are wrong."
    default_params = {**AbnormalInputTest.default_params, "column_specific_params": {}}

    def string_flags(self, values: pd.Series, coding: Coded, ctx: Context, feature: str, params: dict
                     ) -> np.ndarray | None:
        required = self._required(ctx, feature, params)
        if not required:
            return None
        lacking = np.zeros(len(values), dtype=bool)
        for character in required:
            lacking |= ~values.str.contains(character, regex=False).fillna(True).to_numpy(dtype=bool)
        return lacking

    def describe(self, ctx: Context, feature: str, coding: Coded, flags: np.ndarray, params: dict
                 ) -> tuple[str, dict[str, Any]]:
        required = self._required(ctx, feature, params)
        return (f"lack a required character ({' '.join(repr(c) for c in required)})",
                {"required_characters": required})

    @staticmethod
    def _required(ctx: Context, feature: str, params: dict) -> str:
        configured = (params.get("column_specific_params") or {}).get(feature)
        if isinstance(configured, dict):
            configured = configured.get("required_characters")
        return "".join(configured) if configured else ctx.profile[feature].required_characters


@register
class Inconsistencies(AbnormalInputTest):
    """Value pairs of associated categorical features that (almost) never occur together in the reference."""

    key = "inconsistencies"
    name = "Inconsistencies"
    description = ("Counts evaluation rows whose pair of values of two associated categorical features is far "
                   "rarer in the reference than independence predicts (joint share < p(a) p(b) x "
                   "freq_ratio_threshold).")
    why_it_matters = "Contradictory combinations, such as a city in the wrong country, point at corrupted records."
    statistical = True
    default_params = {**AbnormalInputTest.default_params, "freq_ratio_threshold": 0.02, "min_correlation": 0.1,
                      "max_pairwise_tests": 200, "max_unique_pairs_for_firewall": 15}

    def checks(self, ctx: Context, params: dict) -> list[RowCheck]:
        features = _features(ctx, params, CATEGORY_TYPES)
        codes = {f: ds.feature_codes(ctx, f) for f in features}
        pairs = []
        for i, first in enumerate(features):
            for second in features[i + 1:]:
                strength = ds.cramers_v(codes[first][0], codes[second][0])
                if strength >= float(params["min_correlation"]):
                    pairs.append((strength, first, second))
        pairs.sort(key=lambda pair: -pair[0])
        checks = []
        for strength, first, second in pairs[: int(params["max_pairwise_tests"])]:
            check = self._pair_check(ctx, codes[first], codes[second], (first, second), params)
            if check is not None:
                check.details["cramers_v"] = strength
                checks.append(check)
        return checks

    def _pair_check(self, ctx: Context, first: tuple, second: tuple, names: tuple[str, str], params: dict
                    ) -> RowCheck | None:
        (ref_a, eval_a, cats_a), (ref_b, eval_b, cats_b) = first, second
        size_b = len(cats_b)
        inconsistent = self._inconsistent_cells(ref_a, ref_b, len(cats_a), size_b,
                                                float(params["freq_ratio_threshold"]))
        if not inconsistent.any():
            return None

        def failing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            valid = (a >= 0) & (b >= 0)
            cell = np.where(valid, np.maximum(a, 0) * size_b + np.maximum(b, 0), 0)
            return valid & inconsistent.ravel()[cell]

        cells = np.argwhere(inconsistent)[:20]
        combinations = [f"{cats_a[i]} & {cats_b[j]}" for i, j in cells]
        return RowCheck(list(names), failing(eval_a, eval_b), failing(ref_a, ref_b),
                        f"combine values that (almost) never occur together in the reference",
                        {"inconsistent_combinations": combinations})

    @staticmethod
    def _inconsistent_cells(codes_a: np.ndarray, codes_b: np.ndarray, size_a: int, size_b: int,
                            ratio: float) -> np.ndarray:
        """Cells whose reference count is below ratio x the count independence predicts; only where independence
        predicts enough rows for absence to mean something, and only among values seen in the reference."""
        valid = (codes_a >= 0) & (codes_b >= 0)
        joint = np.bincount(codes_a[valid] * size_b + codes_b[valid], minlength=size_a * size_b)
        joint = joint.reshape(size_a, size_b).astype(float)
        n = joint.sum()
        if n == 0:
            return np.zeros((size_a, size_b), dtype=bool)
        expected = np.outer(joint.sum(axis=1), joint.sum(axis=0)) / n
        return (joint < ratio * expected) & (expected >= MIN_EXPECTED_PAIR_ROWS)

