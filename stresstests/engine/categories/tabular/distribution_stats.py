"""Vectorised statistics shared by the data-side categories (drift, abnormal inputs, data cleanliness).

Everything here is pure numpy/scipy on arrays: binning with edges learned from the reference, PSI / KL / JS on
binned frequencies, two-sample tests whose p-values feed Benjamini-Hochberg, Fisher-z correlation comparisons and a
bias-corrected normalised mutual information. The test modules only decide what to compare and how to phrase it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

# Fewer rows than this per bin in the smaller sample makes PSI's own noise approach the 0.2 warning level:
# under no drift, E[PSI] ~ (bins - 1) * (1/n_ref + 1/n_eval), so 50 rows per bin keeps it below ~0.04.
MIN_ROWS_PER_BIN = 50
MIN_BINS = 5
# Half a row added to every bin (Jeffreys prior) so an empty bin gives a large but finite log ratio.
PSEUDO_COUNT = 0.5


def bin_count_for(n_reference: int, n_evaluation: int, requested_bins: int) -> int:
    """The number of quantile bins the smaller sample can fill without PSI reporting its own noise as drift."""
    affordable = min(n_reference, n_evaluation) // MIN_ROWS_PER_BIN
    return int(max(MIN_BINS, min(requested_bins, affordable)))


def quantile_edges(reference_values: np.ndarray, bins: int) -> np.ndarray:
    """Interior bin edges at evenly spaced reference quantiles; ties collapse so every bin is non-empty."""
    values = np.asarray(reference_values, dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return np.array([], dtype=float)
    levels = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    return np.unique(np.quantile(values, levels))


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of non-null `values` in the bins (-inf, e0], (e0, e1], ..., (e_last, inf)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    return np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)


def smoothed_shares(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=float)
    return (counts + PSEUDO_COUNT) / (counts.sum() + PSEUDO_COUNT * counts.size)


def psi(reference_counts: np.ndarray, evaluation_counts: np.ndarray) -> float:
    """Population Stability Index of two binned distributions (same bins)."""
    ref, ev = smoothed_shares(reference_counts), smoothed_shares(evaluation_counts)
    return float(np.sum((ev - ref) * np.log(ev / ref)))


def kl_divergence(reference_counts: np.ndarray, evaluation_counts: np.ndarray) -> float:
    """KL(evaluation || reference) in nats."""
    ref, ev = smoothed_shares(reference_counts), smoothed_shares(evaluation_counts)
    return float(np.sum(ev * np.log(ev / ref)))


def js_divergence(reference_counts: np.ndarray, evaluation_counts: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits (0 = identical, 1 = disjoint)."""
    ref, ev = smoothed_shares(reference_counts), smoothed_shares(evaluation_counts)
    middle = (ref + ev) / 2
    return float((np.sum(ref * np.log2(ref / middle)) + np.sum(ev * np.log2(ev / middle))) / 2)


def chi_squared_p_value(reference_counts: np.ndarray, evaluation_counts: np.ndarray) -> float:
    """Chi-squared test of homogeneity of two count vectors; bins empty in both are dropped."""
    table = np.vstack([reference_counts, evaluation_counts]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 1.0
    return float(stats.chi2_contingency(table, correction=False)[1])


def ks_test(reference_values: np.ndarray, evaluation_values: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and asymptotic p-value on the non-null values."""
    ref = np.asarray(reference_values, dtype=float)
    ev = np.asarray(evaluation_values, dtype=float)
    ref, ev = ref[~np.isnan(ref)], ev[~np.isnan(ev)]
    if ref.size == 0 or ev.size == 0:
        return 0.0, 1.0
    result = stats.ks_2samp(ref, ev, method="asymp")
    return float(result.statistic), float(result.pvalue)


def two_proportion_p_values(count_a: np.ndarray, n_a: np.ndarray, count_b: np.ndarray, n_b: np.ndarray,
                            *, alternative: str = "two-sided") -> np.ndarray:
    """Pooled two-proportion z-test, vectorised. `alternative="greater"` tests share_b > share_a."""
    count_a, n_a, count_b, n_b = (np.asarray(x, dtype=float) for x in (count_a, n_a, count_b, n_b))
    pooled = (count_a + count_b) / np.maximum(n_a + n_b, 1)
    error = np.sqrt(pooled * (1 - pooled) * (1 / np.maximum(n_a, 1) + 1 / np.maximum(n_b, 1)))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (count_b / np.maximum(n_b, 1) - count_a / np.maximum(n_a, 1)) / error
    z = np.where(error == 0, 0.0, z)
    if alternative == "greater":
        return stats.norm.sf(z)
    return 2 * stats.norm.sf(np.abs(z))


def excess_count_p_values(reference_count: np.ndarray, n_reference: int, evaluation_count: np.ndarray,
                          n_evaluation: int, *, rate_ratio: float = 1.0) -> np.ndarray:
    """One-sided exact test that the evaluation set's share of failing rows exceeds `rate_ratio` times the
    reference's.

    Conditional on the total number of failing rows, the evaluation's count is Binomial(total, p) with
    p = ratio n_eval / (n_ref + ratio n_eval) at the boundary of the null hypothesis; exact, so 3 vs 9 rows is not
    mistaken for a difference as a z-test would, and a ratio above 1 ignores increases too small to matter.
    """
    reference_count = np.asarray(reference_count, dtype=float)
    evaluation_count = np.asarray(evaluation_count, dtype=float)
    total = reference_count + evaluation_count
    share = rate_ratio * n_evaluation / max(n_reference + rate_ratio * n_evaluation, 1)
    p_values = stats.binom.sf(evaluation_count - 1, total, share)
    return np.where(total > 0, p_values, 1.0)


def cohens_h(share_a: np.ndarray | float, share_b: np.ndarray | float) -> np.ndarray:
    """Effect size of a change between two proportions (0.2 small, 0.5 medium, 0.8 large)."""
    return np.abs(2 * np.arcsin(np.sqrt(share_b)) - 2 * np.arcsin(np.sqrt(share_a)))


def fisher_z_p_values(r_a: np.ndarray, n_a: np.ndarray, r_b: np.ndarray, n_b: np.ndarray) -> np.ndarray:
    """Two-sided p-value that two Pearson correlations differ (Fisher z-transform, independent samples)."""
    r_a, r_b = (np.clip(np.asarray(r, dtype=float), -0.999999, 0.999999) for r in (r_a, r_b))
    error = np.sqrt(1 / np.maximum(np.asarray(n_a, float) - 3, 1) + 1 / np.maximum(np.asarray(n_b, float) - 3, 1))
    z = (np.arctanh(r_b) - np.arctanh(r_a)) / error
    return 2 * stats.norm.sf(np.abs(z))


def pairwise_correlations(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Pearson correlation matrix on pairwise-complete rows, and the number of such rows per pair."""
    values = frame.to_numpy(dtype=float)
    present = (~np.isnan(values)).astype(float)
    counts = present.T @ present
    correlation = frame.astype(float).corr(method="pearson", min_periods=3).to_numpy()
    return correlation, counts


def category_codes(reference: pd.Series, evaluation: pd.Series) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """Integer codes over the union of categories (reference categories first); -1 marks a null."""
    combined = pd.concat([reference.reset_index(drop=True), evaluation.reset_index(drop=True)], ignore_index=True)
    codes, uniques = pd.factorize(combined, use_na_sentinel=True)
    return codes[: len(reference)], codes[len(reference):], list(uniques)


def feature_codes(ctx: Any, feature: str) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """`category_codes` of a feature of the run, computed once per run (drift, inconsistencies and mutual
    information all need them)."""
    key = ("category_codes", feature)
    if key not in ctx.memo:
        ctx.memo[key] = category_codes(ctx.reference[feature], ctx.evaluation[feature])
    return ctx.memo[key]


def normalised_mutual_information(x_codes: np.ndarray, y_codes: np.ndarray) -> tuple[float, float]:
    """Share of the label's entropy explained by the feature, U(y|x) = I(x;y) / H(y), and its standard error.

    The plug-in estimate is corrected for its upward bias on finite samples (Miller-Madow: (kx-1)(ky-1) / 2n nats);
    the error is the delta-method one, sd of the pointwise mutual information / sqrt(n). Codes < 0 (nulls) are a
    level of their own.
    """
    x = np.asarray(x_codes, dtype=np.int64) + 1      # codes are dense from -1: no relabelling (sorting) needed
    y = np.asarray(y_codes, dtype=np.int64) + 1
    n = x.size
    if n == 0:
        return 0.0, 0.0
    kx, ky = int(x.max()) + 1, int(y.max()) + 1
    joint = np.bincount(x * ky + y, minlength=kx * ky).reshape(kx, ky) / n
    px, py = joint.sum(axis=1), joint.sum(axis=0)
    label_entropy = float(-np.sum(py[py > 0] * np.log(py[py > 0])))
    if label_entropy <= 0:
        return 0.0, 0.0
    pointwise = np.log(joint[x, y] / (px[x] * py[y]))
    mutual_information = float(pointwise.mean())
    bias = (np.count_nonzero(px) - 1) * (np.count_nonzero(py) - 1) / (2 * n)
    value = float(np.clip((mutual_information - bias) / label_entropy, 0.0, 1.0))
    return value, float(pointwise.std() / np.sqrt(n) / label_entropy)


def limited_codes(codes: np.ndarray, max_levels: int) -> np.ndarray:
    """Keeps the `max_levels - 1` most frequent codes and folds the rest into one level, so a high-cardinality
    column cannot look informative just by having a level per row."""
    codes = np.asarray(codes)
    values, counts = np.unique(codes, return_counts=True)
    if values.size <= max_levels:
        return codes
    kept = values[np.argsort(-counts, kind="stable")[: max_levels - 1]]
    return np.where(np.isin(codes, kept), codes, codes.max() + 1)


def cramers_v(x_codes: np.ndarray, y_codes: np.ndarray) -> float:
    """Association of two categorical columns (0 = independent, 1 = one determines the other); nulls excluded.
    Codes are dense non-negative integers (as `category_codes` gives), -1 for nulls."""
    keep = (x_codes >= 0) & (y_codes >= 0)
    x, y = x_codes[keep], y_codes[keep]
    if x.size < 2:
        return 0.0
    kx, ky = int(x.max()) + 1, int(y.max()) + 1
    table = np.bincount(x * ky + y, minlength=kx * ky).reshape(kx, ky)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if min(table.shape) < 2:
        return 0.0
    chi2 = stats.chi2_contingency(table, correction=False)[0]
    return float(np.sqrt(chi2 / (x.size * (min(table.shape) - 1))))


def quantile_codes(reference_values: np.ndarray, values: np.ndarray, bins: int) -> np.ndarray:
    """Bin codes of `values` on quantile edges of the reference; nulls get -1."""
    values = np.asarray(values, dtype=float)
    edges = quantile_edges(reference_values, bins)
    codes = np.searchsorted(edges, values, side="left")
    return np.where(np.isnan(values), -1, codes)


# ---- scale-aware numeric distance --------------------------------------------------------------------------------
# Tails trimmed before the distance: beyond the reference's 0.5 % and 99.5 % quantiles a few extreme rows would
# decide it (a Pareto tail makes W1 of two samples of the same data as large as a real shift).
WASSERSTEIN_TAIL = 0.005
# The distance counts only beyond this many noise scales: over 20 seeds x 8 shapes (normal, log-normal sigma 1.76,
# Pareto 1.2, Poisson, wide integers, 60 % and 90 % zeros, 3 % ones) x 600-6,000 rows, two samples of the same data
# never exceeded 3.1 noise scales and exceeded 2 in 5 % of cases; the KS gate and BH do the rest.
WASSERSTEIN_NOISE_MULTIPLIER = 2.0
# KS is weak where most values are one value (90 % zeros rescaled x1.5 moves its CDF by 0.02): beyond this many noise
# scales the distance is its own significance test (never reached by two samples of the same data above).
WASSERSTEIN_SIGNIFICANT_NOISE = 3.5


def normalised_wasserstein(reference_values: np.ndarray, evaluation_values: np.ndarray
                           ) -> tuple[float, float] | None:
    """Wasserstein-1 distance between the two samples in units of the reference's spread, and its sampling noise in
    the same units; None when the reference has no spread.

    Both samples are winsorised at the reference's WASSERSTEIN_TAIL quantiles; the spread is the reference's mean
    absolute deviation from its median (a shift by one typical deviation gives 1; a x1.5 rescale of a positive
    feature about 0.5 whatever its skew, where quantile-bin PSI and KS see little because ranks barely move).
    The noise is the two-sample form of the Bobkov-Ledoux bound on E W1(empirical, true):
    J * sqrt(1/n_ref + 1/n_eval) with J = integral of sqrt(F (1 - F)) dx over the reference.
    """
    reference = np.asarray(reference_values, dtype=float)
    evaluation = np.asarray(evaluation_values, dtype=float)
    reference, evaluation = reference[~np.isnan(reference)], evaluation[~np.isnan(evaluation)]
    if reference.size < 2 or evaluation.size < 2:
        return None
    low, high = np.quantile(reference, [WASSERSTEIN_TAIL, 1 - WASSERSTEIN_TAIL])
    reference, evaluation = np.sort(np.clip(reference, low, high)), np.clip(evaluation, low, high)
    spread = float(np.mean(np.abs(reference - np.median(reference))))
    if not spread > 0:
        return None
    distance = float(stats.wasserstein_distance(reference, evaluation))
    share = np.arange(1, reference.size) / reference.size
    noise_scale = float(np.sum(np.sqrt(share * (1 - share)) * np.diff(reference)))
    noise = noise_scale * np.sqrt(1 / reference.size + 1 / evaluation.size)
    return distance / spread, noise / spread
