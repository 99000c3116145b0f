"""Severity decisions shared by every test: thresholds, evidence x impact, noise-aware tests, false-discovery control."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from stresstests.engine.vocabulary import (
    SEVERITY_ALERT, SEVERITY_ORDER, SEVERITY_PASS, SEVERITY_WARNING, worst_severity,
)

__all__ = [
    "severity_for", "combine", "benjamini_hochberg", "worst_severity", "exceeds_with_confidence_p",
    "proportion_standard_error", "SEVERITY_ORDER",
]


def severity_for(value: float | None, thresholds: tuple[float, float], *, higher_is_worse: bool = True) -> str:
    """Pass / Warning / Alert for `value` against `[warning, alert]`; reaching a threshold counts as crossing it."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return SEVERITY_PASS
    warning, alert = thresholds
    if not higher_is_worse:
        value, warning, alert = -value, -warning, -alert
    if value >= alert:
        return SEVERITY_ALERT
    if value >= warning:
        return SEVERITY_WARNING
    return SEVERITY_PASS


def combine(evidence_severity: str, impact_severity: str | None) -> str:
    """The higher of evidence and impact, except that evidence alone reaches at most Warning when the impact was
    measured and stayed below its warning threshold."""
    if impact_severity is None:
        return evidence_severity
    if impact_severity == SEVERITY_PASS:
        return SEVERITY_WARNING if evidence_severity != SEVERITY_PASS else SEVERITY_PASS
    return worst_severity([evidence_severity, impact_severity])


def benjamini_hochberg(p_values: np.ndarray | list[float], alpha: float = 0.05) -> np.ndarray:
    """Boolean mask of discoveries at false-discovery rate `alpha`; NaN p-values are never discoveries."""
    p = np.asarray(p_values, dtype=float)
    discoveries = np.zeros(p.shape, dtype=bool)
    valid = np.flatnonzero(~np.isnan(p))
    if valid.size == 0:
        return discoveries
    order = valid[np.argsort(p[valid], kind="stable")]
    ranked = p[order]
    m = valid.size
    below = ranked <= alpha * np.arange(1, m + 1) / m
    if below.any():
        last = np.flatnonzero(below).max()
        discoveries[order[: last + 1]] = True
    return discoveries


def exceeds_with_confidence_p(gap: np.ndarray, standard_error: np.ndarray, margin: float | np.ndarray
                              ) -> np.ndarray:
    """One-sided p-value of H0 "true gap <= margin" given an estimated gap and its standard error.

    Small p means the gap exceeds the margin beyond sampling noise. NaN where the gap or its error is unknown.
    """
    gap = np.asarray(gap, dtype=float)
    standard_error = np.asarray(standard_error, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (gap - margin) / standard_error
    z = np.where(standard_error == 0, np.where(gap > margin, np.inf, -np.inf), z)
    p = stats.norm.sf(z)
    return np.where(np.isnan(gap) | np.isnan(standard_error), np.nan, p)


def proportion_standard_error(share: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Standard error of a share estimated from `count` rows, with a floor so tiny samples never look certain."""
    share = np.clip(np.asarray(share, dtype=float), 0.0, 1.0)
    count = np.maximum(np.asarray(count, dtype=float), 1.0)
    # Wilson-style floor: with 0 or n successes the plain formula says 0 error, which would make any gap significant.
    adjusted = (share * count + 0.5) / (count + 1.0)
    return np.sqrt(adjusted * (1.0 - adjusted) / count)
