"""Adversarial: black-box search for the small input change that moves the prediction most (RIME §2.8).

For a sample of evaluation rows the attack tries candidate values per feature and keeps the one that pushes the
prediction furthest away from the true label (or from the model's own decision without labels). Candidates respect
the column: numeric values stay within the allowed step (bounded tests) or the observed range (unbounded), integer
columns stay integers, categorical features only take categories seen in the reference. All candidates of a search
stage are scored in one batched model call; multi-feature attacks take two stages (single features, then
combinations of the most effective ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations, product
from typing import ClassVar

import numpy as np
import pandas as pd

from stresstests.engine.vocabulary import (
    MODEL_TASK_BINARY_CLASSIFICATION, MULTICLASS_TASKS, SEVERITY_PASS,
    TEST_CATEGORY_TYPE_ADVERSARIAL,
)
from stresstests.engine.base import Context, SkipTest, StressTest, TestCase, json_safe, register
from stresstests.engine.metrics import positive_scores
from stresstests.engine.severity import severity_for
from stresstests.engine.categories.tabular.model_probe import (
    describe_value,
    predicted_class,
    prediction_scale,
    prediction_value,
    sample_clean_rows,
    sample_labels,
)

MAX_EXAMPLES = 3


# --------------------------------------------------------------------------------------------------------------
# Where each feature may move


@dataclass(frozen=True)
class FeatureSpace:
    feature: str
    numeric: bool
    low: float = 0.0              # observed range (numeric)
    high: float = 0.0
    is_integer: bool = False
    levels: tuple = ()            # candidate values: quantiles (numeric, unbounded) or categories

    def bounded_candidates(self, values: np.ndarray, linf: float, steps: int) -> np.ndarray:
        """(rows, steps) values within linf * range of each row's value, integers kept integers."""
        radius = linf * (self.high - self.low)
        offsets = np.linspace(-radius, radius, 2 * (steps // 2) + 1)
        if self.is_integer:
            offsets = np.trunc(offsets)   # whole steps, towards zero so no step exceeds the radius
        offsets = np.unique(offsets[offsets != 0])
        return values[:, None].astype(float) + offsets[None, :]

    def plain(self, value):
        """A candidate as a Python value, int for integer features."""
        if self.numeric and self.is_integer:
            return int(round(float(value)))
        return value.item() if isinstance(value, np.generic) else value

    def unbounded_candidates(self, values: np.ndarray) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.levels, dtype=object if not self.numeric else float),
                               (len(values), len(self.levels)))


def feature_spaces(ctx: Context, *, bounded: bool, search_count: int, exclude: set[str]) -> list[FeatureSpace]:
    spaces = []
    for feature in ctx.schema.features:
        if feature in exclude or feature not in ctx.profile:
            continue
        column = ctx.profile[feature]
        if column.type == "numeric" and column.min is not None and column.max > column.min:
            levels = np.unique([column.quantile(q) for q in np.linspace(0, 1, search_count)])
            if column.is_integer:
                levels = np.unique(np.round(levels))
            spaces.append(FeatureSpace(feature, True, column.min, column.max, column.is_integer, tuple(levels)))
        elif not bounded and column.type in ("categorical", "boolean") and len(column.categories) > 1:
            spaces.append(FeatureSpace(feature, False, levels=tuple(list(column.categories)[:search_count])))
    return spaces


# --------------------------------------------------------------------------------------------------------------
# Scoring candidates


class _Objective:
    """How far a prediction has moved in the attacker's direction, per row (larger is a stronger attack).

    Binary: probability pushed away from the target class; multiclass: probability of the target class lost;
    regression: absolute change in prediction spreads. The target is the true label when known, else the clean
    decision.
    """

    def __init__(self, ctx: Context, sample: pd.DataFrame, clean: np.ndarray) -> None:
        self.ctx, self.clean = ctx, np.asarray(clean, dtype=float)
        labels = sample_labels(ctx, sample)
        decision = predicted_class(ctx, clean)
        self.target = (labels.astype(int) if labels is not None and decision is not None else decision)
        self.clean_decision = decision
        self.scale = prediction_scale(ctx)

    def gain(self, predictions: np.ndarray, rows: np.ndarray) -> np.ndarray:
        predictions = np.asarray(predictions, dtype=float)
        clean = self.clean[rows]
        if self.ctx.model_task == MODEL_TASK_BINARY_CLASSIFICATION:
            direction = np.where(self.target[rows] == 1, -1.0, 1.0)
            return direction * (positive_scores(predictions) - positive_scores(clean))
        if self.ctx.model_task in MULTICLASS_TASKS:
            pick = self.target[rows]
            index = np.arange(len(rows))
            return clean[index, pick] - predictions[index, pick]
        return np.abs(predictions - clean) / self.scale

    def flipped(self, predictions: np.ndarray, rows: np.ndarray) -> np.ndarray | None:
        if self.clean_decision is None:
            return None
        return predicted_class(self.ctx, predictions) != self.clean_decision[rows]


@dataclass
class Candidates:
    """Candidate rows: which sample row each came from and which feature values it changes."""

    rows: list[int]
    changes: list[dict]

    def frame(self, sample: pd.DataFrame) -> pd.DataFrame:
        frame = sample.iloc[self.rows].reset_index(drop=True)
        by_feature: dict[str, tuple[list[int], list]] = {}
        for position, change in enumerate(self.changes):
            for feature, value in change.items():
                by_feature.setdefault(feature, ([], []))
                by_feature[feature][0].append(position)
                by_feature[feature][1].append(value)
        for feature, (positions, values) in by_feature.items():
            column = frame[feature].astype(object).to_numpy(copy=True)
            column[positions] = values
            frame[feature] = _in_dtype(column, sample[feature].dtype)
        return frame


def _in_dtype(values: np.ndarray, dtype) -> pd.Series | np.ndarray:
    """Candidate values back in the column's own dtype, so the model sees the same types as in clean rows."""
    try:
        return pd.Series(values).astype(dtype)
    except (TypeError, ValueError):
        return values


@dataclass
class AttackResult:
    """The strongest change found for each sample row."""

    gain: np.ndarray           # (rows,) >= 0
    flipped: np.ndarray | None  # (rows,) decision changed by some candidate
    changes: list[dict]        # (rows,) feature -> new value of the best candidate
    predictions: list          # (rows,) prediction after the best candidate

    @classmethod
    def empty(cls, n_rows: int, clean: np.ndarray, classify: bool) -> AttackResult:
        return cls(np.zeros(n_rows), np.zeros(n_rows, bool) if classify else None, [{} for _ in range(n_rows)],
                   [clean[i] for i in range(n_rows)])

    def absorb(self, candidates: Candidates, predictions: np.ndarray, objective: _Objective) -> None:
        rows = np.asarray(candidates.rows)
        gains = objective.gain(predictions, rows)
        flips = objective.flipped(predictions, rows)
        for position in np.argsort(gains, kind="stable"):   # ascending, so the best of each row is written last
            row = rows[position]
            if gains[position] > self.gain[row]:
                self.gain[row] = gains[position]
                self.changes[row] = candidates.changes[position]
                self.predictions[row] = predictions[position]
        if flips is not None:
            np.logical_or.at(self.flipped, rows, flips)


def single_feature_candidates(sample: pd.DataFrame, spaces: list[FeatureSpace], params: dict, *, bounded: bool
                              ) -> Candidates:
    rows, changes = [], []
    for space in spaces:
        values = sample[space.feature].to_numpy()
        grid = (space.bounded_candidates(values.astype(float), params["linf_constraint"], params["search_count"])
                if bounded else space.unbounded_candidates(values))
        for row in range(len(sample)):
            for value in grid[row]:
                if value != values[row]:
                    rows.append(row)
                    changes.append({space.feature: space.plain(value)})
    return Candidates(rows, changes)


def combination_candidates(single: dict[int, dict[str, tuple[float, object]]], sample: pd.DataFrame,
                           spaces: dict[str, FeatureSpace], params: dict, *, bounded: bool) -> Candidates:
    """Per row: the most effective features joined (up to l0 of them), plus the corners of their bounded box."""
    rows, changes = [], []
    for row, by_feature in single.items():
        ranked = sorted(by_feature, key=lambda f: -by_feature[f][0])[: int(params["l0_constraint"])]
        for size in range(2, len(ranked) + 1):
            for chosen in combinations(ranked, size):
                rows.append(row)
                changes.append({f: by_feature[f][1] for f in chosen})
        if bounded and ranked:
            for corner in product((-1.0, 1.0), repeat=len(ranked)):
                rows.append(row)
                changes.append({f: spaces[f].plain(_corner_value(spaces[f], sample[f].iloc[row], sign, params))
                                for f, sign in zip(ranked, corner)})
    return Candidates(rows, changes)


def _corner_value(space: FeatureSpace, value: float, sign: float, params: dict) -> float:
    step = params["linf_constraint"] * (space.high - space.low)
    return float(value) + sign * (np.trunc(step) if space.is_integer else step)


# --------------------------------------------------------------------------------------------------------------
# Tests


class _AttackTest(StressTest):
    category = TEST_CATEGORY_TYPE_ADVERSARIAL
    requires = frozenset({"model"})
    bounded: ClassVar[bool] = True
    multi_feature: ClassVar[bool] = False

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        params = {"search_count": 10, "linf_constraint": 0.01, "l0_constraint": 1, **params}
        spaces = feature_spaces(ctx, bounded=self.bounded, search_count=int(params["search_count"]),
                                exclude=set(params.get("exclude_columns") or []) | set(ctx.schema.excluded_columns))
        if not spaces:
            kind = "numeric feature with a range" if self.bounded else "numeric or categorical feature"
            raise SkipTest(f"The model has no {kind} to attack.")
        sample = sample_clean_rows(ctx, int(params["sample_size"]), columns=[s.feature for s in spaces])
        clean = ctx.predict(sample)
        objective = _Objective(ctx, sample, clean)
        candidates = single_feature_candidates(sample, spaces, params, bounded=self.bounded)
        predictions = ctx.predict(candidates.frame(sample))
        if not self.multi_feature:
            return self.single_feature_cases(ctx, sample, clean, objective, candidates, predictions, params,
                                             thresholds)
        return [self.multi_feature_case(ctx, sample, clean, objective, spaces, candidates, predictions, params,
                                        thresholds)]

    # -- single feature: one case per feature ---------------------------------------------------------------
    def single_feature_cases(self, ctx, sample, clean, objective, candidates, predictions, params, thresholds):
        by_feature: dict[str, list[int]] = {}
        for position, change in enumerate(candidates.changes):
            by_feature.setdefault(next(iter(change)), []).append(position)
        cases = []
        for feature, positions in by_feature.items():
            subset = Candidates([candidates.rows[p] for p in positions], [candidates.changes[p] for p in positions])
            result = AttackResult.empty(len(sample), clean, objective.clean_decision is not None)
            result.absorb(subset, predictions[positions], objective)
            cases.append(self.case(sample, clean, result, [feature], params, thresholds))
        return sorted(cases, key=lambda case: -(case.importance_score or 0.0))

    # -- multi feature: greedy combination search, one case ----------------------------------------------------
    def multi_feature_case(self, ctx, sample, clean, objective, spaces, candidates, predictions, params, thresholds):
        result = AttackResult.empty(len(sample), clean, objective.clean_decision is not None)
        result.absorb(candidates, predictions, objective)
        best_single = _best_per_row_and_feature(candidates, objective.gain(predictions, np.asarray(candidates.rows)))
        combined = self.joint_candidates(ctx, sample, spaces, best_single, params)
        if combined.rows:
            result.absorb(combined, ctx.predict(combined.frame(sample)), objective)   # one model call
        counts: dict[str, int] = {}
        for change in result.changes:
            for feature in change:
                counts[feature] = counts.get(feature, 0) + 1
        most_attacked = sorted(counts, key=lambda f: -counts[f])
        case = self.case(sample, clean, result, most_attacked, params, thresholds)
        case.metrics["most_attacked_features"] = ", ".join(most_attacked)
        case.details["feature_counts"] = counts
        return case

    def joint_candidates(self, ctx, sample, spaces, best_single, params) -> Candidates:
        """The joint changes of several features to try: the greedy combination of each row's best single changes."""
        return combination_candidates(best_single, sample, {s.feature: s for s in spaces}, params,
                                      bounded=self.bounded)

    def case(self, sample, clean, result: AttackResult, features: list[str], params: dict, thresholds) -> TestCase:
        average, worst = float(result.gain.mean()), float(result.gain.max())
        flip_rate = float(result.flipped.mean()) if result.flipped is not None else None
        severity = severity_for(average, thresholds)
        return TestCase(
            features=features, severity=severity, importance_score=average,
            metrics=json_safe({"average_prediction_change": average, "worst_prediction_change": worst,
                               "flip_rate": flip_rate, "rows_attacked": len(sample)}),
            finding=self.finding(features, average, flip_rate, params) if severity != SEVERITY_PASS else "",
            examples=_examples(sample, clean, result),
            details={"row_changes": json_safe(np.round(result.gain, 4))},
        )

    def finding(self, features: list[str], average: float, flip_rate: float | None, params: dict) -> str:
        flips = f" and flips {flip_rate:.0%} of decisions" if flip_rate else ""
        names = ", ".join(features[:3]) or "no feature"
        phrase = self.change_phrase.format(linf=params["linf_constraint"], l0=params["l0_constraint"])
        return (f"{phrase} of {names} moves predictions by {average:.3f} on average{flips}: an attacker or noise "
                f"can steer the model.")

    change_phrase: ClassVar[str] = ""


def _best_per_row_and_feature(candidates: Candidates, gains: np.ndarray) -> dict[int, dict[str, tuple[float, object]]]:
    best: dict[int, dict[str, tuple[float, object]]] = {}
    for row, change, gain in zip(candidates.rows, candidates.changes, gains):
        feature, value = next(iter(change.items()))
        if gain > 0 and gain > best.setdefault(row, {}).get(feature, (0.0, None))[0]:
            best[row][feature] = (float(gain), value)
    return best


def _examples(sample: pd.DataFrame, clean: np.ndarray, result: AttackResult) -> list[dict]:
    examples = []
    for row in np.argsort(-result.gain, kind="stable")[:MAX_EXAMPLES]:
        if result.gain[row] <= 0:
            break
        examples.append({
            "row": describe_value(sample.index[row]),
            "changes": {f: {"before": describe_value(sample[f].iloc[row]), "after": describe_value(v)}
                        for f, v in result.changes[row].items()},
            "prediction_before": prediction_value(clean, row),
            "prediction_after": json_safe(np.round(np.asarray(result.predictions[row], dtype=float), 4)),
            "prediction_change": round(float(result.gain[row]), 4),
        })
    return examples


@register
class BoundedSingleFeatureChanges(_AttackTest):
    key = "sensitivity"
    name = "Bounded Single-Feature Changes"
    description = ("For sampled rows, the change of one numeric feature, by at most a small share of its range "
                   "(linf_constraint, 1 % by default), that moves the prediction most.")
    why_it_matters = "A model whose output swings on a 1 % change of one input is fragile and easy to game."
    thresholds = (0.05, 0.15)
    default_params = {"linf_constraint": 0.01, "sample_size": 10, "search_count": 10}
    change_phrase = "A change within {linf:.0%} of the range"


@register
class BoundedMultiFeatureChanges(_AttackTest):
    key = "multi_feat_sensitivity"
    name = "Bounded Multi-Feature Changes"
    description = ("For sampled rows, joint changes of a few numeric features (l0_constraint, 3 by default), each by "
                   "at most a small share of its range (linf_constraint, 1 % by default), that move the prediction "
                   "most.")
    why_it_matters = "Small coordinated changes to a few inputs are how fraudsters probe a model."
    thresholds = (0.05, 0.15)
    default_params = {"l0_constraint": 3, "linf_constraint": 0.01, "sample_size": 10, "search_count": 10}
    multi_feature = True
    change_phrase = "A joint change, each within {linf:.0%} of its range,"


@register
class SingleFeatureChanges(_AttackTest):
    key = "vulnerability"
    name = "Single-Feature Changes"
    description = ("For sampled rows, the value of one feature anywhere in its observed range (valid categories "
                   "only) that moves the prediction most.")
    why_it_matters = "Shows how much one manipulated field can decide the outcome on its own."
    thresholds = (0.2, 0.4)
    default_params = {"sample_size": 10, "search_count": 10}
    bounded = False
    change_phrase = "Choosing the value"
