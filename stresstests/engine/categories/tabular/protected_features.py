"""Bias and Fairness tests about the protected features themselves (RIME §2.10): Protected Feature Drift, Feature
Independence (chi-squared) and Predict Protected Features.

- Protected Feature Drift is Feature Drift (same statistics, significance gate, impact and parameters) run over
  `data_params.protected_features` only, whether or not the model reads them.
- Feature Independence builds the contingency table of a categorical protected feature against the predicted class
  on the evaluation set (subsets under `min_subset_sample_size` rows left out) and runs the chi-squared test. A
  p-value under `p_value_threshold` is the evidence; the severity is the size of the dependence, Cramér's V, so a
  large dataset does not alert on a negligible difference.
- Predict Protected Features fits a multinomial logistic regression on `ref_data_split` of the reference (the
  non-protected features; numeric standardised, categorical one-hot up to `max_categorical_train_feature_cardinality`
  levels) to predict each protected feature, and scores it on the evaluation set. The severity is the lower 95 %
  bound of its skill over always guessing the most frequent value, (accuracy - majority share) / (1 - majority
  share), so a protected value the other features reveal is found and chance accuracy passes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from stresstests.engine.vocabulary import (
    ALL_TASKS, CLASSIFICATION_TASKS, MODEL_TASK_RANKING, MODEL_TASK_REGRESSION, SEVERITY_PASS, TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS,
)
from stresstests.engine.categories.tabular.model_performance import BOTH_MODALITIES
from stresstests.engine.base import Context, SkipTest, StressTest, TestCase, json_safe, register
from stresstests.engine.severity import severity_for
from stresstests.engine.categories.tabular.drift import DRIFT_FEATURE_TYPES, FeatureDrift, feature_distribution
from stresstests.engine.categories.tabular.model_probe import predicted_class

CONFIDENCE_Z = 1.645   # one-sided 95 %


def _protected(ctx: Context) -> list[str]:
    return [f for f in ctx.schema.protected_features if f in ctx.evaluation.columns and f in ctx.reference.columns]


@register
class ProtectedFeatureDrift(FeatureDrift):
    key = "protected_feature_drift"
    name = "Protected Feature Drift"
    category = TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS
    modalities = BOTH_MODALITIES   # protected columns and predictions: a text dataset's too
    description = ("Feature Drift restricted to the protected features: compares each protected feature's "
                   "distribution in the evaluation set with the reference.")
    why_it_matters = ("When the mix of protected groups changes, the model serves a population it was not "
                      "validated on, and its fairness checks on the reference no longer describe it.")
    requires = frozenset({"protected_features"})

    def _distributions(self, ctx, params):
        features, distributions = [], []
        for feature in _protected(ctx):
            if ctx.schema.feature_types.get(feature) not in DRIFT_FEATURE_TYPES:
                continue
            distribution = feature_distribution(ctx, feature, int(params["num_bins"]))
            if min(distribution.sizes) >= int(params["min_sample_size"]):
                features.append(feature)
                distributions.append(distribution)
        return features, distributions


@register
class FeatureIndependence(StressTest):
    key = "chi_squared_independence"
    name = "Feature Independence"
    category = TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS
    modalities = BOTH_MODALITIES   # protected columns and predictions: a text dataset's too
    description = ("Chi-squared test of independence between each categorical protected feature and the predicted "
                   "class on the evaluation set; the severity is the strength of the dependence (Cramér's V).")
    why_it_matters = ("Decisions that depend on a protected attribute are the definition of disparate treatment "
                      "or impact, whatever the model's accuracy.")
    requires = frozenset({"predictions", "protected_features"})
    tasks = CLASSIFICATION_TASKS
    not_applicable = {MODEL_TASK_RANKING: "it tests the predicted class against the protected feature, and a "
                                          "ranking model predicts scores (Demographic Parity (Avg Rank) covers it)",
                      MODEL_TASK_REGRESSION: "it tests the predicted class against the protected feature, and a "
                                             "regression model predicts numbers (Demographic Parity (Avg Pred) "
                                             "covers it)"}
    thresholds = (0.1, 0.3)    # Cramér's V: 0.1 is a small association, 0.3 a medium one
    default_params = {"p_value_threshold": 0.05, "min_sample_size": 100, "min_subset_sample_size": 10}

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        predicted = np.asarray(predicted_class(ctx, ctx.evaluation_predictions))
        features = [f for f in _protected(ctx) if ctx.schema.feature_types.get(f) in ("categorical", "boolean")]
        if not features:
            raise SkipTest("no categorical protected feature")
        if len(predicted) < int(params["min_sample_size"]):
            raise SkipTest(f"needs at least {params['min_sample_size']} evaluation rows")
        return [self._case(ctx, feature, predicted, params, thresholds) for feature in features]

    def _case(self, ctx: Context, feature: str, predicted: np.ndarray, params: dict,
              thresholds: tuple[float, float]) -> TestCase:
        table = pd.crosstab(ctx.evaluation[feature].to_numpy(), predicted)
        table = table[table.sum(axis=1) >= int(params["min_subset_sample_size"])]
        table = table.loc[:, table.sum(axis=0) > 0]
        if min(table.shape) < 2:
            return TestCase(features=[feature], severity=SEVERITY_PASS,
                            metrics={"note": "fewer than two subsets or predicted classes to compare"})
        chi2, p_value, dof, _ = stats.chi2_contingency(table.to_numpy(), correction=False)
        n = int(table.to_numpy().sum())
        cramers_v = float(np.sqrt(chi2 / (n * (min(table.shape) - 1))))
        significant = p_value < float(params["p_value_threshold"])
        severity = severity_for(cramers_v, thresholds) if significant else SEVERITY_PASS
        shares = table.div(table.sum(axis=1), axis=0)
        finding = ""
        if severity != SEVERITY_PASS:
            finding = (f"The predicted class depends on {feature} (chi-squared p = {p_value:.2g}, Cramér's V "
                       f"{cramers_v:.2f}): the share of each predicted class differs between its subsets.")
        details = {"groups": [{"subset": f"{feature} = {value}", "count": int(table.loc[value].sum()),
                               **{f"predicted_{c}_share": float(shares.loc[value, c]) for c in table.columns}}
                              for value in table.index]}
        return TestCase(features=[feature], severity=severity, importance_score=cramers_v, finding=finding,
                        metrics=json_safe({"chi_squared": chi2, "p_value": p_value, "degrees_of_freedom": dof,
                                           "cramers_v": cramers_v, "rows": n}),
                        details=json_safe(details))


@register
class PredictProtectedFeatures(StressTest):
    key = "predict_protected_features"
    name = "Predict Protected Features"
    category = TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS
    modalities = BOTH_MODALITIES   # protected columns and predictions: a text dataset's too
    description = ("Trains a logistic regression on the reference's other features to predict each protected "
                   "feature and measures how much better than chance it does on the evaluation set.")
    why_it_matters = ("If the other features reveal a protected attribute, leaving it out of the model does not "
                      "stop the model from using it.")
    requires = frozenset({"protected_features"})
    tasks = ALL_TASKS
    run_by_default = False     # RIME: predict_protected_features (false)
    thresholds = (0.3, 0.6)    # skill over the majority guess (lower 95 % bound)
    default_params = {"min_sample_size": 100, "max_protected_feature_cardinality": 100,
                      "max_categorical_train_feature_cardinality": 100, "ref_data_split": 0.8}

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        protected = _protected(ctx)
        if not protected:
            raise SkipTest("no protected feature in the data")
        if min(len(ctx.reference), len(ctx.evaluation)) < int(params["min_sample_size"]):
            raise SkipTest(f"needs at least {params['min_sample_size']} rows in each dataset")
        train_rows = ctx.rng.permutation(len(ctx.reference))[: int(len(ctx.reference) * float(params["ref_data_split"]))]
        cases = []
        for feature in protected:
            target = ctx.reference[feature]
            if target.nunique(dropna=True) > int(params["max_protected_feature_cardinality"]):
                cases.append(TestCase(features=[feature], severity=SEVERITY_PASS,
                                      metrics={"note": "more values than max_protected_feature_cardinality"}))
                continue
            cases.append(self._case(ctx, feature, protected, train_rows, params, thresholds))
        return cases

    def _design(self, ctx: Context, protected: list[str], params: dict) -> tuple[np.ndarray, np.ndarray]:
        """Reference and evaluation design matrices: standardised numerics (nulls at the mean) and one-hot
        categories learned from the reference."""
        limit = int(params["max_categorical_train_feature_cardinality"])
        ref_parts, eval_parts = [], []
        for column in ctx.schema.tested_features:
            kind = ctx.schema.feature_types.get(column)
            if column in protected or kind not in ("numeric", "categorical", "boolean"):
                continue
            if kind == "numeric":
                ref = pd.to_numeric(ctx.reference[column], errors="coerce")
                ev = pd.to_numeric(ctx.evaluation[column], errors="coerce")
                mean, std = ref.mean(), ref.std() or 1.0
                ref_parts.append(((ref.fillna(mean) - mean) / std).to_numpy()[:, None])
                eval_parts.append(((ev.fillna(mean) - mean) / std).to_numpy()[:, None])
            else:
                levels = ctx.reference[column].astype(str).value_counts().index[:limit]
                ref_parts.append((ctx.reference[column].astype(str).to_numpy()[:, None] == levels.to_numpy()) * 1.0)
                eval_parts.append((ctx.evaluation[column].astype(str).to_numpy()[:, None] == levels.to_numpy()) * 1.0)
        if not ref_parts:
            raise SkipTest("no non-protected numeric or categorical feature to predict from")
        return np.hstack(ref_parts), np.hstack(eval_parts)

    def _case(self, ctx: Context, feature: str, protected: list[str], train_rows: np.ndarray, params: dict,
              thresholds: tuple[float, float]) -> TestCase:
        from sklearn.linear_model import LogisticRegression

        ref_x, eval_x = self._design(ctx, protected, params)
        ref_y = ctx.reference[feature].astype(str).to_numpy()
        eval_y = ctx.evaluation[feature].astype(str).to_numpy()
        train_x, train_y = ref_x[train_rows], ref_y[train_rows]
        if np.unique(train_y).size < 2:
            return TestCase(features=[feature], severity=SEVERITY_PASS, metrics={"note": "a single value"})
        classifier = LogisticRegression(max_iter=500).fit(train_x, train_y)
        accuracy = float((classifier.predict(eval_x) == eval_y).mean())
        values, counts = np.unique(train_y, return_counts=True)
        majority_value = values[np.argmax(counts)]
        baseline = float((eval_y == majority_value).mean())
        n = len(eval_y)
        skill = (accuracy - baseline) / (1 - baseline) if baseline < 1 else 0.0
        error = np.sqrt(max(accuracy * (1 - accuracy), 1.0 / n) / n) / max(1 - baseline, 1e-9)
        lower = float(max(skill - CONFIDENCE_Z * error, 0.0))
        severity = severity_for(lower, thresholds)
        finding = ""
        if severity != SEVERITY_PASS:
            finding = (f"The other features predict {feature} with {accuracy:.1%} accuracy on the evaluation set, "
                       f"against {baseline:.1%} for always guessing {majority_value!s} (skill {skill:.2f}, at least "
                       f"{lower:.2f} with 95 % confidence): the model can infer it without reading it.")
        return TestCase(features=[feature], severity=severity, importance_score=skill, finding=finding,
                        metrics=json_safe({"accuracy": accuracy, "majority_baseline_accuracy": baseline,
                                           "skill_over_baseline": skill, "skill_lower_bound": lower,
                                           "training_rows": len(train_rows), "evaluation_rows": n}))
