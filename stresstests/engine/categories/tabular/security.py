"""Data Poisoning Detection and Evasion Attack Detection, tabular (RIME §2.11). Data only: no model is called.

Rows are compared in one vector space learned from the reference: numeric features standardised (nulls at the
mean), categorical and boolean features one-hot over values seen in at least `min_frequency` of reference rows (at
most `max_categories` per feature). Text and identifier columns are left out of the vectors.

- Label Flipping (Exact Match): an evaluation row whose features equal a reference row's but whose label no such
  reference row has. Real data with noisy labels has such rows by chance (identical survey answers, different
  outcomes), so the reference's own rate calibrates the test: its rows with an identical twin whose label no twin
  carries (leave-one-out). Both Label Flipping tests fail only when the evaluation has significantly more flagged
  rows than the reference's own rate (exact conditional test of two Poisson rates, p < 0.01: with a clean reference
  of twice the evaluation's size, 5 flagged rows are significant), with the severity on the rows beyond chance
  (expected: rate (reference count + 1) / (reference rows + 1) times the evaluation rows).
- Label Flipping (Near Match): per row, the closeness ratio = distance to the nearest reference row of another class
  / distance to the nearest reference row of its own class. A flipped copy of a reference row sits almost on a row
  of "another" class (its true one), so its ratio is near 0. The calibration is the reference's own ratios, leave-
  one-out: an evaluation row is flagged when its ratio is below `margin` (0.01) times their `calibration_quantile`
  (0.001). The reference's single minimum inter-class distance is no calibration: a disjoint random half of the
  same data falls below it by chance (on RIME's fraud data, with one continuous feature, the minimum is ~7e-7), and
  the margin keeps the chance rate near n_eval x quantile x margin even where distances scale linearly (one
  continuous feature). Overlapping classes (conflicting duplicates) push the quantile to 0, so the test stays
  quiet there. The count of flagged rows is judged against the reference's own leave-one-out count below the same
  limit, as for Exact Match.
- Stateful Black Box Evasion: the evaluation rows in timestamp order are queries; each query's mean distance to its
  `num_neighbors` nearest among the `window_size` queries before it is compared with the `calibration_quantile` of the
  same statistic on the reference. Query-based attacks send bursts of near-identical queries, which fall far below
  it. About `calibration_quantile` of ordinary queries fall below by chance, so the test fails only when the number
  of flagged queries exceeds that rate (one-sided binomial test) and reaches the thresholds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from stresstests.engine.vocabulary import (
    CLASSIFICATION_TASKS, MODEL_TASK_RANKING, MODEL_TASK_REGRESSION, SEVERITY_PASS, TEST_CATEGORY_TYPE_DATA_POISONING_DETECTION,
    TEST_CATEGORY_TYPE_EVASION_ATTACK_DETECTION,
)
from stresstests.engine.base import Context, SkipTest, StressTest, TestCase, json_safe, register
from stresstests.engine.models import column_hashes
from stresstests.engine.severity import severity_for

VECTORIZATION_PARAMS = {"image_projection_dim": 1024, "text_vector_dim": 256, "max_categories": 100,
                        "min_frequency": 0.01}
VECTOR_FEATURE_TYPES = ("numeric", "categorical", "boolean")
MAX_EXAMPLES = 10
BLOCK = 256            # queries per distance block (memory: BLOCK x (window + BLOCK) floats)


def vector_features(ctx: Context) -> list[str]:
    return ctx.schema.features_of_type(*VECTOR_FEATURE_TYPES)


def vectorize(ctx: Context, params: dict) -> tuple[np.ndarray, np.ndarray]:
    """Reference and evaluation rows as vectors of one space learned from the reference."""
    vectorization = {**VECTORIZATION_PARAMS, **(params.get("vectorization_params") or {})}
    ref_parts, eval_parts = [], []
    for column in vector_features(ctx):
        if ctx.schema.feature_types.get(column) == "numeric":
            ref = pd.to_numeric(ctx.reference[column], errors="coerce")
            ev = pd.to_numeric(ctx.evaluation[column], errors="coerce")
            mean, std = float(ref.mean()), float(ref.std() or 1.0)
            ref_parts.append(((ref.fillna(mean) - mean) / std).to_numpy(dtype=float)[:, None])
            eval_parts.append(((ev.fillna(mean) - mean) / std).to_numpy(dtype=float)[:, None])
            continue
        shares = ctx.reference[column].astype(str).value_counts(normalize=True)
        levels = shares[shares >= float(vectorization["min_frequency"])].index[: int(vectorization["max_categories"])]
        levels = levels.to_numpy()
        ref_parts.append((ctx.reference[column].astype(str).to_numpy()[:, None] == levels) * 1.0)
        eval_parts.append((ctx.evaluation[column].astype(str).to_numpy()[:, None] == levels) * 1.0)
    if not ref_parts:
        raise SkipTest("no numeric or categorical feature to compare rows on")
    return np.hstack(ref_parts), np.hstack(eval_parts)


def _labels(ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(ctx.reference_labels), np.asarray(ctx.evaluation_labels)


def _examples(ctx: Context, rows: np.ndarray, **extra: np.ndarray) -> list[dict]:
    features = vector_features(ctx)
    examples = []
    for position, row in enumerate(rows[:MAX_EXAMPLES]):
        values = ctx.evaluation.iloc[int(row)][features].to_dict()
        examples.append({"row": int(row), **{k: v[position] for k, v in extra.items()}, "values": values})
    return json_safe(examples)


class PoisoningTest(StressTest):
    category = TEST_CATEGORY_TYPE_DATA_POISONING_DETECTION
    requires = frozenset({"labels"})
    tasks = CLASSIFICATION_TASKS
    not_applicable = {MODEL_TASK_RANKING: "a relevance grade belongs to a document within its query, and the same "
                                          "document may rightly carry another grade in another query",
                      MODEL_TASK_REGRESSION: "a flipped label needs label classes, and a regression target is a "
                                             "number that may rightly differ between near-identical rows"}
    thresholds = (1.0, 10.0)    # suspicious rows beyond chance: one is worth a look, ten is a pattern
    p_value_threshold = 0.01

    def case(self, ctx: Context, flagged: np.ndarray, reference_flagged: int, thresholds: tuple[float, float],
             finding: str, metrics: dict, **extra: np.ndarray) -> TestCase:
        """`reference_flagged`: reference rows the same rule flags leave-one-out, the chance rate of the data."""
        count = int(flagged.size)
        rate = chance_rate(reference_flagged, len(ctx.reference))
        severity, expected, excess, p_value = excess_over_chance(count, len(ctx.evaluation), rate, thresholds,
                                                                 self.p_value_threshold,
                                                                 reference=(reference_flagged, len(ctx.reference)))
        metrics = {"flagged_rows": count, "flagged_share": count / max(len(ctx.evaluation), 1),
                   "reference_flagged_rows": int(reference_flagged), "expected_by_chance": expected,
                   "excess_rows": excess, "p_value": p_value, **metrics}
        text = finding.format(count=count) + (f" The reference itself has {reference_flagged} such row(s) "
                                              f"(leave-one-out), {expected:.1f} expected here by chance.")
        return TestCase(features=[ctx.schema.label_col] if ctx.schema.label_col else [], severity=severity,
                        metrics=json_safe(metrics), importance_score=excess,
                        finding=text if severity != SEVERITY_PASS else "",
                        examples=_examples(ctx, flagged, **extra))


def chance_rate(reference_count: int, reference_rows: int) -> float:
    """The share of rows a rule flags by chance, from the reference's own count (leave-one-out), by the rule of
    succession: (count + 1) / (rows + 1), so a reference with none still allows about one chance row per as many."""
    return (reference_count + 1) / (reference_rows + 1)


def excess_over_chance(count: int, tested: int, rate: float, thresholds: tuple[float, float],
                       p_value_threshold: float, reference: tuple[int, int] | None = None
                       ) -> tuple[str, float, float, float]:
    """(severity, rows expected by chance, rows beyond them, p-value): fails only when `count` of `tested` rows is
    significantly more than `rate` gives, with the severity on the excess. A fixed rate (a calibration quantile) is
    tested with a one-sided binomial test; a rate estimated from the reference's own (count, rows) with the exact
    conditional test of two Poisson rates (given both counts' total, the evaluation's share is binomial with
    p = tested / (tested + reference rows)), so the reference's own sampling noise counts too."""
    expected = rate * tested
    if not count:
        p_value = 1.0
    elif reference is not None:
        p_value = float(stats.binom.sf(count - 1, count + reference[0], tested / (tested + reference[1])))
    else:
        p_value = float(stats.binom.sf(count - 1, tested, rate))
    excess = max(count - expected, 0.0)
    severity = severity_for(excess, thresholds) if p_value < p_value_threshold else SEVERITY_PASS
    return severity, expected, excess, p_value


@register
class ExactMatchLabelFlipping(PoisoningTest):
    key = "exact_match_label_flipping"
    name = "Label Flipping Detection (Exact Match)"
    description = ("Finds evaluation rows identical to a reference row in every feature but carrying a label that "
                   "no identical reference row has.")
    why_it_matters = ("Copies of known rows with flipped labels are the simplest way to poison data that will be "
                      "used for retraining or evaluation.")
    default_params: dict = {}

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        features = [c for c in ctx.schema.tested_features if c in ctx.reference.columns]
        if not features:
            raise SkipTest("no feature to match rows on")
        ref_hash = _row_hashes(ctx.reference, features)
        eval_hash = _row_hashes(ctx.evaluation, features)
        ref_labels, eval_labels = _labels(ctx)
        known = pd.DataFrame({"hash": ref_hash, "label": ref_labels}).drop_duplicates()
        with_label = set(zip(known["hash"], known["label"]))
        matched = np.isin(eval_hash, known["hash"].to_numpy())
        flipped = np.array([m and (h, y) not in with_label for h, y, m in zip(eval_hash, eval_labels, matched)],
                           dtype=bool)
        rows = np.flatnonzero(flipped)
        # Leave-one-out on the reference: rows with an identical twin, whose label no identical twin carries.
        frame = pd.DataFrame({"hash": ref_hash, "label": ref_labels})
        twins = frame.groupby("hash")["hash"].transform("size")
        same_label = frame.groupby(["hash", "label"])["hash"].transform("size")
        reference_flagged = int(((twins >= 2) & (same_label == 1)).sum())
        return [self.case(ctx, rows, reference_flagged, thresholds,
                          "{count} evaluation row(s) repeat a reference row exactly but with a different label: "
                          "possible label flipping.", {"matched_rows": int(matched.sum())},
                          label=eval_labels[rows])]


def _row_hashes(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    combined = np.zeros(len(frame), dtype=np.uint64)
    for column in columns:
        combined = combined * np.uint64(1_000_003) ^ column_hashes(frame[column])
    return combined


def nearest(points: np.ndarray, queries: np.ndarray, *, exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Distance to, and index of, the nearest point for every query."""
    from sklearn.neighbors import NearestNeighbors

    k = 2 if exclude_self else 1
    if len(points) < k:
        return np.full(len(queries), np.inf), np.zeros(len(queries), dtype=int)
    distances, indices = NearestNeighbors(n_neighbors=k).fit(points).kneighbors(queries)
    return distances[:, k - 1], indices[:, k - 1]


@register
class NearMatchLabelFlipping(PoisoningTest):
    key = "near_match_label_flipping"
    name = "Label Flipping Detection (Near Match)"
    description = ("Finds evaluation rows far closer to a reference row of another class than to their own class, "
                   "beyond what the reference itself shows (calibrated leave-one-out on the reference).")
    why_it_matters = ("Poisoned rows are often slightly perturbed copies of real ones with the label changed, which "
                      "an exact comparison misses.")
    default_params = {"vectorization_params": dict(VECTORIZATION_PARAMS), "calibration_quantile": 0.001,
                      "margin": 0.01}

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        ref_x, eval_x = vectorize(ctx, params)
        ref_labels, eval_labels = _labels(ctx)
        classes = np.unique(ref_labels)
        if classes.size < 2:
            raise SkipTest("the reference has a single class")
        ref_ratio = np.full(len(ref_x), np.nan)    # reference row: nearest other class / nearest own (leave-one-out)
        inter_class = np.inf                       # the reference's minimum distance between classes
        to_other = np.full(len(eval_x), np.inf)    # evaluation row -> nearest reference row of another class
        to_own = np.full(len(eval_x), np.inf)
        for label in classes:
            own, other = ref_labels == label, ref_labels != label
            distance = nearest(ref_x[other], ref_x[own])[0]
            inter_class = min(inter_class, float(distance.min()))
            ref_ratio[own] = closeness_ratio(distance, nearest(ref_x[own], ref_x[own], exclude_self=True)[0])
            rows = eval_labels == label
            if rows.any():
                to_other[rows] = nearest(ref_x[other], eval_x[rows])[0]
                to_own[rows] = nearest(ref_x[own], eval_x[rows])[0]
        quantile = float(np.nanquantile(ref_ratio, float(params["calibration_quantile"])))
        limit = float(params["margin"]) * quantile
        ratio = closeness_ratio(to_other, to_own)
        flagged = np.flatnonzero(ratio < limit)
        return [self.case(ctx, flagged, int(np.sum(ref_ratio < limit)), thresholds,
                          "{count} evaluation row(s) sit far closer to a reference row of another class than to "
                          "their own class, much closer than reference rows ever do: possible label flipping.",
                          {"reference_ratio_quantile": quantile, "ratio_threshold": limit,
                           "reference_min_inter_class_distance": inter_class},
                          label=eval_labels[flagged], distance_to_other_class=to_other[flagged],
                          distance_to_own_class=to_own[flagged])]


def closeness_ratio(to_other: np.ndarray, to_own: np.ndarray) -> np.ndarray:
    """Distance to the nearest row of another class over that to the nearest row of the own class; 0 where both are
    0 (a conflicting duplicate), infinite where only the own class is at distance 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.asarray(to_other, dtype=float) / np.asarray(to_own, dtype=float)
    return np.where(np.isnan(ratio), 0.0, ratio)


def window_statistic(vectors: np.ndarray, window: int, neighbors: int) -> np.ndarray:
    """Per query (in order): mean distance to its `neighbors` nearest among the `window` queries before it; NaN for
    queries with fewer than `neighbors` predecessors. Blocked so memory stays bounded."""
    n = len(vectors)
    result = np.full(n, np.nan)
    squared = np.einsum("ij,ij->i", vectors, vectors)
    for start in range(neighbors, n, BLOCK):
        stop = min(start + BLOCK, n)
        low = max(0, start - window)
        block, candidates = vectors[start:stop], vectors[low:stop]
        distances = squared[start:stop, None] + squared[None, low:stop] - 2 * block @ candidates.T
        distances = np.sqrt(np.maximum(distances, 0.0))
        query = np.arange(start, stop)[:, None]
        candidate = np.arange(low, stop)[None, :]
        distances[(candidate >= query) | (candidate < query - window)] = np.inf
        nearest_k = np.partition(distances, neighbors - 1, axis=1)[:, :neighbors]
        result[start:stop] = nearest_k.mean(axis=1)
    return result


@register
class StatefulBlackBoxDetection(StressTest):
    key = "stateful_black_box_detection"
    name = "Stateful Black Box Evasion Detection"
    category = TEST_CATEGORY_TYPE_EVASION_ATTACK_DETECTION
    description = ("Flags evaluation queries (in timestamp order) that sit unusually close to the queries just "
                   "before them, the footprint of a query-based black-box attack.")
    why_it_matters = ("An attacker probing a model sends many slight variations of one input; spotting the burst "
                      "stops the attack before it finds an evasion.")
    thresholds = (5.0, 20.0)     # flagged queries beyond the calibrated chance rate
    default_params = {"window_size": 1000, "num_neighbors": 50, "calibration_quantile": 0.001,
                      "p_value_threshold": 0.01, "vectorization_params": dict(VECTORIZATION_PARAMS)}

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        timestamp = ctx.schema.timestamp_col
        if not timestamp or timestamp not in ctx.evaluation.columns:
            raise SkipTest("needs data_params.timestamp_col in the evaluation set")
        window, neighbors = int(params["window_size"]), int(params["num_neighbors"])
        if min(len(ctx.reference), len(ctx.evaluation)) <= 2 * neighbors:
            raise SkipTest(f"needs more than {2 * neighbors} rows in each dataset")
        ref_x, eval_x = vectorize(ctx, params)
        eval_order = np.argsort(pd.to_datetime(ctx.evaluation[timestamp], errors="coerce", format="mixed")
                                .to_numpy(), kind="stable")
        ref_order = np.arange(len(ref_x))
        if timestamp in ctx.reference.columns:
            ref_order = np.argsort(pd.to_datetime(ctx.reference[timestamp], errors="coerce", format="mixed")
                                   .to_numpy(), kind="stable")
        quantile = float(params["calibration_quantile"])
        ref_statistic = window_statistic(ref_x[ref_order], window, neighbors)
        limit = float(np.nanquantile(ref_statistic, quantile))
        eval_statistic = window_statistic(eval_x[eval_order], window, neighbors)
        tested = ~np.isnan(eval_statistic)
        flagged_positions = np.flatnonzero(tested & (eval_statistic < limit))
        n, count = int(tested.sum()), int(flagged_positions.size)
        severity, expected, excess, p_value = excess_over_chance(count, n, quantile, thresholds,
                                                                 float(params["p_value_threshold"]))
        rows = eval_order[flagged_positions]
        finding = ""
        if severity != SEVERITY_PASS:
            finding = (f"{count} queries came unusually close to the queries just before them (mean distance to their "
                       f"{neighbors} nearest predecessors below {limit:.3g}, against {expected:.1f} expected by "
                       "chance): the pattern of a query-based evasion attack.")
        metrics = {"flagged_queries": count, "expected_by_chance": expected, "excess_queries": excess,
                   "p_value": p_value, "distance_threshold": limit, "queries_tested": n}
        return [TestCase(features=[timestamp], severity=severity, metrics=json_safe(metrics), finding=finding,
                         importance_score=excess,
                         examples=_examples(ctx, rows, timestamp=ctx.evaluation[timestamp].to_numpy()[rows],
                                            mean_neighbor_distance=eval_statistic[flagged_positions]))]
