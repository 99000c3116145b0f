"""The unbounded Multi-Feature Changes attack and the Tabular HopSkipJump attack (RIME §2.8); both need the model.

- Multi-Feature Changes (`multi_feat_vulnerability`): the search of `adversarial.py` without bounds: each feature
  may take any value of its observed range (reference quantiles) or any seen category, and the most effective
  single-feature changes of a row are joined, up to `l0_constraint` features. Severity: the average achievable
  prediction change, as for Single-Feature Changes.
- Tabular HopSkipJump (`tabular_hopskipjump_attack`; Chen, Jordan and Wainwright 2020): a decision-based attack that
  sees only the predicted class. In the space of the numeric model features scaled by their reference range, it
  starts from the nearest of `init_size` random points that the model classifies differently, walks to the decision
  boundary by binary search, then `max_iter` times estimates the boundary's normal from the decisions at up to
  `max_eval` random nearby points (`init_eval` at first, growing with the square root of the iteration), steps along
  it with a geometric step search and returns to the boundary. Every stage scores all sampled rows in one model
  call. The result per row is the smallest L2 change found that changes the decision, measured in units of each
  feature's robust spread (the reference's 5 %-95 % quantile range; its min-max range when that is 0): a skewed
  feature's range is set by a few extreme rows (a transaction amount ranging over millions), and 1 % of it would
  allow changes larger than most rows' values. The severity is the lower bound of the Wilson 95 % interval of the
  share of sampled rows whose decision changes within `max_perturbation`, so a sample of a few rows flipping by
  chance is no Alert, while a model whose decisions flip under tiny changes is flagged and one with clear margins
  passes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stresstests.engine.vocabulary import (
    MODEL_TASK_BINARY_CLASSIFICATION, MULTICLASS_TASKS, SCORE_TASKS,
    SEVERITY_PASS,
    TEST_CATEGORY_TYPE_ADVERSARIAL,
)
from stresstests.engine.base import Context, SkipTest, StressTest, TestCase, json_safe, register
from stresstests.engine.severity import severity_for
from stresstests.engine.categories.tabular.adversarial import (
    Candidates, _AttackTest, feature_spaces,
)
from stresstests.engine.categories.tabular.fairness import wilson_interval
from stresstests.engine.categories.tabular.model_probe import (
    describe_value, predicted_class, sample_clean_rows,
)

BINARY_SEARCH_STEPS = 12
GEOMETRIC_STEPS = 8
CONVERGED = 0.001       # relative improvement under which a row's search stops
RANDOM_COMBINATIONS = 200   # random joint changes tried per row by Multi-Feature Changes
MAX_EXAMPLES = 3


@register
class MultiFeatureChanges(_AttackTest):
    key = "multi_feat_vulnerability"
    name = "Multi-Feature Changes"
    description = ("For sampled rows, joint changes of up to l0_constraint features, each anywhere in its observed "
                   "range (valid categories only), that move the prediction most.")
    why_it_matters = "Shows how far a few manipulated fields together can push the outcome."
    thresholds = (0.2, 0.4)
    default_params = {"l0_constraint": 3, "sample_size": 10, "search_count": 10}
    bounded = False
    multi_feature = True
    run_by_default = False     # RIME: multi_feat_vulnerability (false)
    change_phrase = "Choosing the values of up to {l0} features"

    def joint_candidates(self, ctx, sample, spaces, best_single, params) -> Candidates:
        """The greedy search of the bounded test, plus RANDOM_COMBINATIONS random joint changes per row: the greedy
        stage only joins features that move the prediction alone, and an unbounded attacker is not so limited
        (e.g. a decision that needs two features high at once)."""
        greedy = super().joint_candidates(ctx, sample, spaces, best_single, params)
        random = self._random_combinations(ctx, sample, spaces, int(params["l0_constraint"]))
        return Candidates(greedy.rows + random.rows, greedy.changes + random.changes)

    @staticmethod
    def _random_combinations(ctx: Context, sample: pd.DataFrame, spaces: list, l0: int) -> Candidates:
        rows, changes = [], []
        size = min(l0, len(spaces))
        for row in range(len(sample)):
            for _ in range(RANDOM_COMBINATIONS if size > 1 else 0):
                chosen = ctx.rng.choice(len(spaces), size=size, replace=False)
                rows.append(row)
                changes.append({spaces[i].feature: spaces[i].plain(spaces[i].levels[ctx.rng.integers(
                    len(spaces[i].levels))]) for i in chosen})
        return Candidates(rows, changes)


class _Boundary:
    """Decisions of the model at points of the range-scaled numeric space, for the sampled rows."""

    def __init__(self, ctx: Context, sample: pd.DataFrame, features: list[str], low: np.ndarray,
                 scale: np.ndarray) -> None:
        self.ctx, self.sample, self.features, self.low, self.scale = ctx, sample, features, low, scale
        self.origin = (sample[features].to_numpy(dtype=float) - low) / scale
        # Distances in units of each feature's robust spread (5 %-95 % quantile range), not of its min-max range.
        robust = np.array([float(np.subtract(*ctx.reference[f].astype(float).quantile([0.95, 0.05]).to_numpy()))
                           for f in features])
        self.weights = scale / np.where(robust > 0, robust, scale)
        self.clean = predicted_class(ctx, ctx.predict(sample))

    def distance(self, points: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        origin = self.origin if rows is None else self.origin[rows]
        return np.linalg.norm((points - origin) * self.weights, axis=1)

    def adversarial(self, rows: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Whether each point (with the other columns of its row) gets another decision than its clean row."""
        if len(rows) == 0:
            return np.zeros(0, dtype=bool)
        frame = self.sample.iloc[rows].reset_index(drop=True)
        values = self.low + np.clip(points, 0.0, 1.0) * self.scale
        for position, feature in enumerate(self.features):
            frame[feature] = values[:, position]
        return predicted_class(self.ctx, self.ctx.predict(frame)) != self.clean[rows]

    def binary_search(self, rows: np.ndarray, outside: np.ndarray) -> np.ndarray:
        """Points on the boundary between each row's origin and its adversarial point (kept adversarial)."""
        inside_weight, outside_weight = np.zeros(len(rows)), np.ones(len(rows))
        for _ in range(BINARY_SEARCH_STEPS):
            middle = (inside_weight + outside_weight) / 2
            flipped = self.adversarial(rows, self._blend(rows, outside, middle))
            outside_weight = np.where(flipped, middle, outside_weight)
            inside_weight = np.where(flipped, inside_weight, middle)
        return self._blend(rows, outside, outside_weight)

    def _blend(self, rows: np.ndarray, outside: np.ndarray, weight: np.ndarray) -> np.ndarray:
        return self.origin[rows] + weight[:, None] * (outside - self.origin[rows])


@register
class TabularHopSkipJump(StressTest):
    key = "tabular_hopskipjump_attack"
    name = "Tabular HopSkipJump Attack"
    category = TEST_CATEGORY_TYPE_ADVERSARIAL
    description = ("A decision-based attack (HopSkipJump) that, seeing only the predicted class, searches for the "
                   "smallest change of the numeric features that changes each sampled row's decision.")
    why_it_matters = ("An attacker who only sees accept/reject decisions can still find how little to change to "
                      "get the other outcome; a small distance means the decision is easy to game.")
    requires = frozenset({"model"})
    tasks = frozenset({MODEL_TASK_BINARY_CLASSIFICATION}) | MULTICLASS_TASKS
    not_applicable = {task: "a decision-based attack needs a predicted class, and this model returns scores (the "
                            "other adversarial tests move its scores)" for task in SCORE_TASKS}
    run_by_default = False     # RIME: tabular_hopskipjump_attack (false)
    thresholds = (0.2, 0.5)     # share of sampled rows flipped within max_perturbation, Wilson lower bound
    default_params = {"targeted": False, "norm": 2, "max_iter": 50, "max_eval": 1000, "init_eval": 100,
                      "init_size": 100, "sample_size": 10, "max_perturbation": 0.01}

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        if params.get("targeted") or int(params.get("norm", 2)) != 2:
            raise SkipTest("only the untargeted L2 attack is implemented (targeted false, norm 2)")
        spaces = [s for s in feature_spaces(ctx, bounded=True, search_count=2, exclude=set(ctx.schema.excluded_columns))
                  if s.numeric]
        if not spaces:
            raise SkipTest("The model has no numeric feature with a range to attack.")
        features = [s.feature for s in spaces]
        low = np.array([s.low for s in spaces])
        scale = np.array([s.high - s.low for s in spaces])
        sample = sample_clean_rows(ctx, int(params["sample_size"]), columns=features)
        boundary = _Boundary(ctx, sample, features, low, scale)
        adversarial, found = self._initial_points(ctx, boundary, int(params["init_size"]))
        rows = np.flatnonzero(found)
        if rows.size:
            adversarial[rows] = boundary.binary_search(rows, adversarial[rows])
            adversarial[rows] = self._iterate(ctx, boundary, rows, adversarial[rows], params)
        distance = np.where(found, boundary.distance(adversarial), np.inf)
        return [self._case(sample, boundary, adversarial, distance, params, thresholds)]

    @staticmethod
    def _initial_points(ctx: Context, boundary: _Boundary, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Per row, the nearest of `size` uniform random points with another decision."""
        n, d = boundary.origin.shape
        points = ctx.rng.random((n * size, d))
        rows = np.repeat(np.arange(n), size)
        flipped = boundary.adversarial(rows, points).reshape(n, size)
        distances = np.linalg.norm(points.reshape(n, size, d) - boundary.origin[:, None, :], axis=2)
        distances = np.where(flipped, distances, np.inf)
        best = distances.argmin(axis=1)
        return points.reshape(n, size, d)[np.arange(n), best].copy(), flipped.any(axis=1)

    def _iterate(self, ctx: Context, boundary: _Boundary, rows: np.ndarray, current: np.ndarray,
                 params: dict) -> np.ndarray:
        """HopSkipJump iterations; a row stops once an iteration brings it less than CONVERGED closer."""
        d = current.shape[1]
        delta_factor = np.sqrt(d) * d ** -1.5            # the paper's theta for L2, times sqrt(d)
        active = np.ones(len(rows), dtype=bool)
        for iteration in range(1, int(params["max_iter"]) + 1):
            if not active.any():
                break
            live = np.flatnonzero(active)
            points, origin = current[live], boundary.origin[rows[live]]
            distance = np.linalg.norm(points - origin, axis=1)
            evaluations = int(min(params["init_eval"] * np.sqrt(iteration), params["max_eval"]))
            direction = self._gradient(ctx, boundary, rows[live], points, delta_factor * distance, evaluations)
            moved = self._step(boundary, rows[live], points, direction, distance / np.sqrt(iteration))
            new_distance = np.linalg.norm(moved - origin, axis=1)
            improved = new_distance < distance
            current[live] = np.where(improved[:, None], moved, points)
            active[live] = new_distance < distance * (1 - CONVERGED)
        return current

    @staticmethod
    def _step(boundary: _Boundary, rows: np.ndarray, points: np.ndarray, direction: np.ndarray,
              step: np.ndarray) -> np.ndarray:
        """Geometric step search along the estimated direction, then back to the boundary by binary search."""
        candidate = np.clip(points + step[:, None] * direction, 0.0, 1.0)
        for _ in range(GEOMETRIC_STEPS):                 # halve the step until the point stays adversarial
            ok = boundary.adversarial(rows, candidate)
            if ok.all():
                break
            step = np.where(ok, step, step / 2)
            candidate = np.clip(points + step[:, None] * direction, 0.0, 1.0)
        ok = boundary.adversarial(rows, candidate)
        candidate = np.where(ok[:, None], candidate, points)
        return boundary.binary_search(rows, candidate)

    @staticmethod
    def _gradient(ctx: Context, boundary: _Boundary, rows: np.ndarray, points: np.ndarray, delta: np.ndarray,
                  evaluations: int) -> np.ndarray:
        """Monte Carlo estimate of the direction towards the adversarial side at each boundary point."""
        n, d = points.shape
        directions = ctx.rng.normal(size=(n, evaluations, d))
        directions /= np.linalg.norm(directions, axis=2, keepdims=True)
        probes = points[:, None, :] + delta[:, None, None] * directions
        signs = np.where(boundary.adversarial(np.repeat(rows, evaluations), probes.reshape(-1, d))
                         .reshape(n, evaluations), 1.0, -1.0)
        centred = signs - signs.mean(axis=1, keepdims=True)     # the paper's baseline: lowers the variance
        all_same = np.abs(signs.mean(axis=1)) == 1.0
        weights = np.where(all_same[:, None], signs, centred)
        gradient = (weights[:, :, None] * directions).mean(axis=1)
        norms = np.linalg.norm(gradient, axis=1, keepdims=True)
        return gradient / np.where(norms > 0, norms, 1.0)

    def _case(self, sample: pd.DataFrame, boundary: _Boundary, adversarial: np.ndarray, distance: np.ndarray,
              params: dict, thresholds: tuple[float, float]) -> TestCase:
        budget = float(params["max_perturbation"])
        hits = int((distance <= budget).sum())
        success = hits / max(len(distance), 1)
        confident = float(wilson_interval(np.array([hits]), np.array([len(distance)]))[0][0])
        finite = distance[np.isfinite(distance)]
        severity = severity_for(confident, thresholds)
        finding = ""
        if severity != SEVERITY_PASS:
            finding = (f"Changing the numeric features by at most {budget:.0%} of their spreads (L2, 5 %-95 % "
                       f"quantile ranges) flips the decision of {hits} of {len(distance)} attacked rows ({success:.0%}"
                       f", at least {confident:.0%} at 95 % confidence); the median change needed is "
                       f"{np.median(finite):.3g} of the spreads.")
        metrics = {"attack_success_rate": success, "attack_success_rate_lower_bound": confident, "median_distance": float(np.median(finite)) if finite.size
                   else None, "mean_distance": float(finite.mean()) if finite.size else None,
                   "rows_attacked": len(sample), "rows_without_adversarial_point": int((~np.isfinite(distance)).sum()),
                   "max_perturbation": budget}
        return TestCase(features=boundary.features, severity=severity, importance_score=success,
                        metrics=json_safe(metrics), finding=finding,
                        examples=self._examples(sample, boundary, adversarial, distance),
                        details={"row_distances": json_safe([float(f"{d:.4g}") for d in distance])})

    @staticmethod
    def _examples(sample: pd.DataFrame, boundary: _Boundary, adversarial: np.ndarray, distance: np.ndarray
                  ) -> list[dict]:
        examples = []
        for row in np.argsort(distance, kind="stable")[:MAX_EXAMPLES]:
            if not np.isfinite(distance[row]):
                break
            after = boundary.low + np.clip(adversarial[row], 0, 1) * boundary.scale
            examples.append({"row": describe_value(sample.index[row]), "distance": float(f"{distance[row]:.4g}"),
                             "changes": {f: {"before": describe_value(sample[f].iloc[row]),
                                             "after": round(float(after[i]), 6)}
                                         for i, f in enumerate(boundary.features)
                                         if abs(after[i] - sample[f].iloc[row]) > 1e-12}})
        return json_safe(examples)
