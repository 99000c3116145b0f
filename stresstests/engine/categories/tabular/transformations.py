"""Transformations: corrupt one feature of clean evaluation rows and measure what the model does (RIME §2.5).

Each test substitutes one kind of bad value (an out-of-range number, a null, an unseen category, ...) into a sample of
clean evaluation rows, one feature at a time. All features of a test are scored in one batched model call. Impact is
the drop in the primary metric on the sample when labels exist, else the average row-wise prediction change. A model
that raises on the corrupted input fails, unless `ignore_errors` is set; the error text is kept for the user.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from stresstests.engine.vocabulary import (
    SCORE_TASKS, SEVERITY_ALERT, SEVERITY_PASS, TEST_CATEGORY_TYPE_TRANSFORMATIONS,
)
from stresstests.engine.base import Context, SkipTest, StressTest, TestCase, json_safe, register
from stresstests.engine.metrics import METRICS
from stresstests.engine.profile import ColumnProfile
from stresstests.engine.severity import severity_for
from stresstests.engine.categories.tabular.model_probe import (
    Z_ONE_SIDED_95,
    describe_value,
    mean_and_error,
    paired_metric_drop,
    prediction_scale,
    prediction_value,
    row_change,
    sample_clean_rows,
    sample_labels,
    score_variants,
    with_column,
)

MAX_EXAMPLES = 3
TYPE_CHANGE_TEXT = "unexpected text"     # what a numeric column receives in the feature type change test
TYPE_CHANGE_NUMBER = 123456789           # what a string column receives


class _SubstitutionTest(StressTest):
    """One kind of corruption; subclasses say which features it applies to and what they receive."""

    category = TEST_CATEGORY_TYPE_TRANSFORMATIONS
    requires = frozenset({"model"})
    thresholds = (0.05, 0.15)
    default_params: ClassVar[dict] = {"exclude_columns": [], "ignore_errors": False, "num_samples_to_simulate": 500}
    corruption: ClassVar[str] = ""       # finding text: "an out-of-range value", "a null", ...

    def applies_to(self, ctx: Context, feature: str, column: ColumnProfile) -> bool:
        raise NotImplementedError

    def substitute(self, values: pd.Series, column: ColumnProfile, rng: np.random.Generator, params: dict):
        """The corrupted values for `values` (the sample's column); None when nothing would change."""
        raise NotImplementedError

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        params = _flatten(params)
        sample = sample_clean_rows(ctx, int(params["num_samples_to_simulate"]))
        rng = np.random.default_rng(ctx.config.random_seed)
        variants, substituted = {}, {}
        for feature in self.features(ctx, params):
            new_values = self.substitute(sample[feature], ctx.profile[feature], rng, params)
            if new_values is not None:
                substituted[feature] = new_values
                variants[feature] = with_column(sample, feature, new_values)
        if not variants:
            raise SkipTest(f"No model feature can receive {self.corruption}.")
        clean, scored = score_variants(ctx, sample, variants)
        measure = _ImpactMeasure(ctx, sample, clean)
        return [self.assess(measure, feature, substituted[feature], scored[feature], params, thresholds)
                for feature in variants]

    def features(self, ctx: Context, params: dict) -> list[str]:
        excluded = set(params.get("exclude_columns") or []) | set(ctx.schema.excluded_columns)
        return [f for f in ctx.schema.features
                if f not in excluded and f in ctx.profile and self.applies_to(ctx, f, ctx.profile[f])]

    def assess(self, measure: _ImpactMeasure, feature: str, new_values, predictions: np.ndarray | str,
               params: dict, thresholds: tuple[float, float]) -> TestCase:
        if isinstance(predictions, str):
            return self.error_case(measure, feature, new_values, predictions, params)
        impact = measure.impact(predictions) | {"sample_rows": len(measure.sample)}
        severity = severity_for(impact["impact_lower_bound"], thresholds)
        return TestCase(
            features=[feature], severity=severity, importance_score=impact["impact"], metrics=json_safe(impact),
            finding=self.finding(measure.ctx, feature, impact) if severity != SEVERITY_PASS else "",
            examples=measure.examples(feature, new_values, predictions),
            details={"sample_size": len(measure.sample), **measure.example_pair(feature, new_values)},
        )

    def error_case(self, measure: _ImpactMeasure, feature: str, new_values, error: str, params: dict) -> TestCase:
        ignored = bool(params.get("ignore_errors"))
        finding = "" if ignored else (f"The model raises an error when {feature} holds {self.corruption} "
                                      f"({error}): a pipeline should handle bad input, not crash.")
        return TestCase(
            features=[feature], severity=SEVERITY_PASS if ignored else SEVERITY_ALERT, importance_score=None,
            metrics={"error": error, "errors_ignored": ignored}, finding=finding,
            examples=[{"row": describe_value(measure.sample.index[0]), "feature": feature,
                       **measure.example_pair(feature, new_values)["transformed_example"], "error": error}],
            details={"sample_size": len(measure.sample), **measure.example_pair(feature, new_values)},
        )

    def finding(self, ctx: Context, feature: str, impact: dict) -> str:
        """The effect in the metric's own units (RMSE 1.43 -> 5.38), never in the unit-free scale severity uses."""
        if impact["metric"] == "average_prediction_change":
            if ctx.model_task in SCORE_TASKS:
                amount = impact["impact"] * prediction_scale(ctx)
                effect = (f"moves predictions by {amount:.3g} on average ({impact['impact']:.2f} prediction "
                          "standard deviations)")
            else:
                effect = f"moves the predicted probabilities by {impact['impact']:.3f} on average"
        else:
            display = METRICS[impact["metric"]].display
            before, after = impact["clean_metric"], impact["transformed_metric"]
            verb = "lowers" if after < before else "raises"
            effect = f"{verb} {display} on the {impact['sample_rows']} sampled rows from {before:.3g} to {after:.3g}"
        return f"Putting {self.corruption} in {feature} {effect}: the model is not robust to this corruption."


def _flatten(params: dict) -> dict:
    """RIME nests ignore_errors and num_samples_to_simulate under performance_change_config."""
    nested = params.get("performance_change_config") or {}
    return {**params, **{k: v for k, v in nested.items() if v is not None}}


class _ImpactMeasure:
    """Compares predictions on the corrupted sample with the clean sample's.

    Severity uses the one-sided 95 % lower bound of the impact (paired over the sampled rows), so an impact that
    a different sample of rows could well erase does not fail the test.
    """

    def __init__(self, ctx: Context, sample: pd.DataFrame, clean: np.ndarray) -> None:
        self.ctx, self.sample, self.clean = ctx, sample, clean
        self.labels = sample_labels(ctx, sample) if ctx.labelled_share() >= _label_threshold(ctx) else None

    def impact(self, predictions: np.ndarray) -> dict:
        change = row_change(self.ctx, self.clean, predictions)
        average, error = mean_and_error(change)
        result = {"average_prediction_change": average, "max_prediction_change": float(change.max()),
                  "metric": "average_prediction_change", "impact": average, "impact_standard_error": error}
        paired = paired_metric_drop(self.ctx, self.labels, self.clean, predictions) if self.labels is not None \
            else None
        if paired is not None:
            before, after, drop, error = paired
            scale = prediction_scale(self.ctx) if self.ctx.model_task in SCORE_TASKS else 1.0
            result.update(metric=self.ctx.metric_name(), clean_metric=before, transformed_metric=after,
                          impact=drop / scale, impact_standard_error=error / scale)
        lower = result["impact"] - Z_ONE_SIDED_95 * result["impact_standard_error"]
        result["impact_lower_bound"] = max(lower, 0.0)
        return result

    def examples(self, feature: str, new_values, predictions: np.ndarray) -> list[dict]:
        change = row_change(self.ctx, self.clean, predictions)
        new_values = _as_list(new_values, len(self.sample))
        return [{"row": describe_value(self.sample.index[i]), "feature": feature,
                 "before": describe_value(self.sample[feature].iloc[i]), "after": describe_value(new_values[i]),
                 "prediction_before": prediction_value(self.clean, i),
                 "prediction_after": prediction_value(predictions, i),
                 "prediction_change": json_safe(round(float(change[i]), 4))}
                for i in np.argsort(-change, kind="stable")[:MAX_EXAMPLES]]

    def example_pair(self, feature: str, new_values) -> dict:
        new_values = _as_list(new_values, len(self.sample))
        return {"transformed_example": {"before": describe_value(self.sample[feature].iloc[0]),
                                        "after": describe_value(new_values[0])}}


def _label_threshold(ctx: Context) -> float:
    return ctx.config.model_profiling.impact_label_threshold


def _as_list(values, length: int) -> list:
    return list(values) if np.ndim(values) else [values] * length


def _is_string_column(ctx: Context, feature: str) -> bool:
    return not pd.api.types.is_numeric_dtype(ctx.reference[feature]) and not pd.api.types.is_bool_dtype(
        ctx.reference[feature])


def _numeric(column: ColumnProfile) -> bool:
    return column.type == "numeric" and column.min is not None and column.std is not None


def _integer_if_needed(values: np.ndarray, column: ColumnProfile) -> np.ndarray:
    return np.round(values) if column.is_integer else values


def _constant(values: pd.Series, value) -> pd.Series:
    """`value` in every row, as an object column (it may not fit the column's own type)."""
    return pd.Series([value] * len(values), index=values.index, dtype=object)


def _either_side(low: float, high: float, size: int, rng: np.random.Generator) -> np.ndarray:
    """Half the rows get `low`, half `high`, at random: a model may guard one side only."""
    return np.where(rng.random(size) < 0.5, low, high)


@register
class OutOfRangeSubstitution(_SubstitutionTest):
    key = "out_of_range_substitution"
    name = "Out of Range Substitution"
    description = "Substitutes numeric values outside the range seen in the reference set (by std_factor spreads)."
    why_it_matters = "Upstream bugs and unit changes produce impossible numbers; the model should not swing on them."
    default_params = {**_SubstitutionTest.default_params, "std_factor": 3.0}
    corruption = "an out-of-range value"

    def applies_to(self, ctx: Context, feature: str, column: ColumnProfile) -> bool:
        return _numeric(column)

    def substitute(self, values, column, rng, params):
        margin = params["std_factor"] * (column.std or max(abs(column.max), 1.0))
        new = _either_side(column.min - margin, column.max + margin, len(values), rng)
        return _integer_if_needed(new, column)


@register
class NumericOutliersSubstitution(_SubstitutionTest):
    key = "outlier_substitution"
    name = "Numeric Outliers Substitution"
    description = "Substitutes values beyond mean +/- bound_multiplier standard deviations of the reference."
    why_it_matters = "Rare extreme values reach every production model; a robust one degrades gracefully."
    default_params = {**_SubstitutionTest.default_params, "bound_multiplier": 3.0}
    corruption = "an outlier"

    def applies_to(self, ctx: Context, feature: str, column: ColumnProfile) -> bool:
        # An ascending column (a counter, a date number) has no meaningful outliers.
        return _numeric(column) and column.std > 0 and not ctx.reference[feature].is_monotonic_increasing

    def substitute(self, values, column, rng, params):
        bound = params["bound_multiplier"] * column.std
        beyond = rng.uniform(0.0, 1.0, len(values)) * column.std
        new = _either_side(column.mean - bound, column.mean + bound, len(values), rng)
        return _integer_if_needed(new + np.sign(new - column.mean) * beyond, column)


@register
class FeatureTypeChange(_SubstitutionTest):
    key = "feature_type_change"
    name = "Feature Type Change"
    description = "Substitutes values of the wrong type: text into numeric features, numbers into string features."
    why_it_matters = "Schema drift upstream (a number arriving as text) must fail loudly or be handled, not guessed."
    corruption = "a value of the wrong type"

    def applies_to(self, ctx: Context, feature: str, column: ColumnProfile) -> bool:
        return column.type != "datetime"

    def substitute(self, values, column, rng, params):
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            return _constant(values, TYPE_CHANGE_TEXT)
        return _constant(values, TYPE_CHANGE_NUMBER)


@register
class EmptyStringSubstitution(_SubstitutionTest):
    key = "empty_string_substitution"
    name = "Empty String Substitution"
    description = "Substitutes empty strings into string features that hold nulls in the reference set."
    why_it_matters = "Many sources write '' where others write null; a model should treat them alike."
    corruption = "an empty string"

    def applies_to(self, ctx: Context, feature: str, column: ColumnProfile) -> bool:
        return _is_string_column(ctx, feature) and column.null_count > 0

    def substitute(self, values, column, rng, params):
        return _constant(values, "")


@register
class RequiredCharactersDeletion(_SubstitutionTest):
    key = "req_characters_deletion"
    name = "Required Characters Deletion"
    description = "Deletes characters that every reference value contains (such as '@' in e-mail addresses)."
    why_it_matters = "Malformed strings slip through forms and parsers; the model should not trust them blindly."
    default_params = {**_SubstitutionTest.default_params, "column_specific_params": {}}
    corruption = "a value missing its required characters"

    def applies_to(self, ctx: Context, feature: str, column: ColumnProfile) -> bool:
        return _is_string_column(ctx, feature) and bool(column.required_characters)

    def substitute(self, values, column, rng, params):
        required = (params.get("column_specific_params") or {}).get(column.name, {}).get(
            "required_characters", column.required_characters)
        table = str.maketrans("", "", required)
        new = values.astype(str).map(lambda value: value.translate(table))
        return None if (new == values.astype(str)).all() else new.astype(object)


@register
class UnseenCategoricalSubstitution(_SubstitutionTest):
    key = "unseen_categorical_substitution"
    name = "Unseen Categorical Substitution"
    description = "Substitutes a category value that never appears in the reference set."
    why_it_matters = "New products, cities and codes appear in production every day; the model must cope with them."
    corruption = "an unseen category"

    def applies_to(self, ctx: Context, feature: str, column: ColumnProfile) -> bool:
        return column.type == "categorical" and not column.unseen_values_allowed

    def substitute(self, values, column, rng, params):
        known = set(column.categories)
        if pd.api.types.is_numeric_dtype(values):
            return int(max(known, default=0)) + 1 if known else None
        unseen = f"unseen_{column.name}"
        while unseen in known:
            unseen += "_"
        return unseen


@register
class NullSubstitution(_SubstitutionTest):
    key = "null_substitution"
    name = "Null Substitution"
    description = "Substitutes nulls into features that never hold nulls in the reference set."
    why_it_matters = "A missing value in a feature that was always filled in training is a classic production crash."
    corruption = "a null"

    def applies_to(self, ctx: Context, feature: str, column: ColumnProfile) -> bool:
        return column.null_count == 0

    def substitute(self, values, column, rng, params):
        if pd.api.types.is_numeric_dtype(values):
            return np.full(len(values), np.nan)
        return _constant(values, None)


@register
class CapitalizationChange(_SubstitutionTest):
    key = "capitalization_change"
    name = "Capitalization Change"
    description = "Changes the case of category values (USA becomes usa, Shopping becomes SHOPPING)."
    why_it_matters = "Case differs between sources; a model that treats 'usa' as a new country is fragile."
    corruption = "a value in another case"

    def applies_to(self, ctx: Context, feature: str, column: ColumnProfile) -> bool:
        return column.type == "categorical" and _is_string_column(ctx, feature)

    def substitute(self, values, column, rng, params):
        text = values.astype(str)
        new = text.map(lambda value: value.lower() if value == value.upper() else value.upper())
        return None if (new == text).all() else new.astype(object)
