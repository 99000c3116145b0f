"""Embedding Drift (Drift) and Embedding Anomalies (Abnormal Inputs), RIME §2.6-2.7.

An embedding is a group of numeric columns named in `data_params.embeddings: [{name, cols}]` (RIME's tabular
embeddings); rows with a null in any of its columns are left out.

- Embedding Drift: the Euclidean distance between the reference and evaluation centroids, after scaling each row to
  unit length when `normalize` (so the distance lies in [0, 2] whatever the embedding's scale). The distance of two
  finite samples is never 0, so it counts only when a permutation test (rows reshuffled between the two sets,
  `num_permutations` times) puts it beyond sampling noise.
- Embedding Anomalies: each row's Mahalanobis distance from the reference (mean and a lightly regularised covariance);
  a row is anomalous beyond the reference's `distance_quantile` of that distance. About 1 - quantile of reference
  rows are over it by construction, so the Abnormal Inputs rule applies: the evaluation share must exceed that rate
  significantly before it counts, and it is weighed by the anomalous rows' model impact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stresstests.engine.vocabulary import SEVERITY_PASS, TEST_CATEGORY_TYPE_DRIFT
from stresstests.engine.base import Context, SkipTest, StressTest, TestCase, json_safe, register
from stresstests.engine.severity import severity_for
from stresstests.engine.categories.tabular.abnormal_inputs import AbnormalInputTest, RowCheck

MAX_PERMUTATION_ROWS = 5000    # per side: the permutation test's noise estimate is stable long before this


def embedding_matrices(ctx: Context, name: str) -> tuple[np.ndarray, np.ndarray]:
    columns = ctx.schema.embeddings[name]
    ref = ctx.reference[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    ev = ctx.evaluation[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    return ref, ev


def _require_embeddings(ctx: Context) -> None:
    if not ctx.schema.embeddings:
        raise SkipTest("no embedding named in data_params.embeddings")


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def centroid_distance(first: np.ndarray, second: np.ndarray) -> float:
    return float(np.linalg.norm(first.mean(axis=0) - second.mean(axis=0)))


@register
class EmbeddingDrift(StressTest):
    key = "embedding_drift"
    name = "Embedding Drift"
    category = TEST_CATEGORY_TYPE_DRIFT
    description = ("Euclidean distance between the centroids of each embedding in the reference and the evaluation "
                   "set (rows scaled to unit length).")
    why_it_matters = ("Embeddings summarise inputs that no single column shows (text, images, users); a moved "
                      "centroid means the model sees a different kind of input than it was validated on.")
    thresholds = (0.1, 0.2)
    default_params = {"drift_statistic": "euclidean_distance", "normalize": True, "min_sample_size": 100,
                      "num_permutations": 100, "p_value_threshold": 0.05}

    def run(self, ctx: Context, params: dict, thresholds: tuple[float, float]) -> list[TestCase]:
        _require_embeddings(ctx)
        return [self._case(ctx, name, params, thresholds) for name in ctx.schema.embeddings]

    def _case(self, ctx: Context, name: str, params: dict, thresholds: tuple[float, float]) -> TestCase:
        ref, ev = embedding_matrices(ctx, name)
        ref, ev = ref[~np.isnan(ref).any(axis=1)], ev[~np.isnan(ev).any(axis=1)]
        features = ctx.schema.embeddings[name]
        if min(len(ref), len(ev)) < int(params["min_sample_size"]):
            return TestCase(features=features, severity=SEVERITY_PASS, subset=name,
                            metrics={"note": f"fewer than {params['min_sample_size']} complete rows"})
        if params.get("normalize", True):
            ref, ev = _unit_rows(ref), _unit_rows(ev)
        distance = centroid_distance(ref, ev)
        p_value = self._permutation_p_value(ctx, ref, ev, distance, int(params["num_permutations"]))
        significant = p_value < float(params["p_value_threshold"])
        severity = severity_for(distance, thresholds) if significant else SEVERITY_PASS
        finding = ""
        if severity != SEVERITY_PASS:
            bound = thresholds[1] if distance >= thresholds[1] else thresholds[0]
            finding = (f"Embedding {name} has drifted: its centroid moved by {distance:.3f} (>= {bound}, permutation "
                       f"p = {p_value:.2g}).")
        metrics = {"drift_statistic": "euclidean_distance", "euclidean_distance": distance, "p_value": p_value,
                   "reference_rows": len(ref), "evaluation_rows": len(ev), "dimensions": ref.shape[1]}
        return TestCase(features=features, severity=severity, subset=name, metrics=json_safe(metrics),
                        finding=finding, importance_score=distance)

    @staticmethod
    def _permutation_p_value(ctx: Context, ref: np.ndarray, ev: np.ndarray, observed: float, rounds: int) -> float:
        ref = ref[ctx.rng.permutation(len(ref))[:MAX_PERMUTATION_ROWS]]
        ev = ev[ctx.rng.permutation(len(ev))[:MAX_PERMUTATION_ROWS]]
        pooled, split = np.vstack([ref, ev]), len(ref)
        beyond = 0
        for _ in range(rounds):
            order = ctx.rng.permutation(len(pooled))
            beyond += centroid_distance(pooled[order[:split]], pooled[order[split:]]) >= observed
        return (beyond + 1) / (rounds + 1)


@register
class EmbeddingAnomalies(AbnormalInputTest):
    key = "embedding_anomalies"
    name = "Embedding Anomalies"
    description = ("Counts evaluation rows whose embedding lies farther from the reference distribution "
                   "(Mahalanobis distance) than the reference's own distance_quantile.")
    why_it_matters = ("An input unlike anything in the reference is one the model has no basis for, even when "
                      "each of its columns looks ordinary.")
    statistical = True
    default_params = {**AbnormalInputTest.default_params, "distance_quantile": 0.995}

    def checks(self, ctx: Context, params: dict) -> list[RowCheck]:
        _require_embeddings(ctx)
        return [check for name in ctx.schema.embeddings if (check := self._check(ctx, name, params)) is not None]

    def _check(self, ctx: Context, name: str, params: dict) -> RowCheck | None:
        ref, ev = embedding_matrices(ctx, name)
        complete = ref[~np.isnan(ref).any(axis=1)]
        if len(complete) <= complete.shape[1] + 1:
            return None
        mean = complete.mean(axis=0)
        covariance = np.cov(complete, rowvar=False)
        # Ridge of 1e-6 of the average variance: collinear embedding dimensions make the covariance singular.
        covariance += np.eye(len(mean)) * max(float(np.trace(covariance)) / len(mean), 1e-12) * 1e-6
        inverse = np.linalg.inv(covariance)
        quantile = float(params["distance_quantile"])

        def distances(vectors: np.ndarray) -> np.ndarray:
            centred = vectors - mean
            return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", centred, inverse, centred), 0.0))

        limit = float(np.quantile(distances(complete), quantile))
        with np.errstate(invalid="ignore"):
            return RowCheck(ctx.schema.embeddings[name], distances(ev) > limit, distances(ref) > limit,
                            f"have embedding {name} farther from the reference than its {quantile:.1%} quantile "
                            f"(Mahalanobis distance {limit:.3g})",
                            {"embedding": name, "distance_threshold": limit})
