"""Standard errors of Monte Carlo and test-set figures: one copy for every chapter.

A figure on a page that comes from random draws (a Monte Carlo average, a test-set mean)
is shown with its standard error, so a student can tell a real difference from noise.
All functions take plain arrays (numpy or torch) and return floats.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["mean_se", "variance_se", "ratio_se", "difference_se", "means_with_se"]


def _flat(x) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, without importing torch here
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64).ravel()


def mean_se(x) -> tuple[float, float]:
    """Mean of independent values and its standard error sd / sqrt(n) (sd with n - 1);
    the SE is inf for fewer than two values (no spread to measure)."""
    v = _flat(x)
    n = v.size
    if n == 0:
        return math.nan, math.inf
    if n < 2:
        return float(v[0]), math.inf
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(n))


def means_with_se(names, rows, se_of=mean_se) -> dict[str, float]:
    """Each row's mean under its name and its standard error under ``<name>_se``, the SE
    left out where it cannot be measured (not finite: too few units). A trainer drops a
    measurement that holds a non-finite value, and JSON has no inf. ``se_of(row)`` gives
    (mean, se): :func:`mean_se` by default, or a clustered one."""
    out: dict[str, float] = {}
    for name, row in zip(names, rows, strict=True):
        out[name], se = se_of(row)
        if math.isfinite(se):
            out[f"{name}_se"] = se
    return out


def variance_se(x) -> tuple[float, float]:
    """Unbiased sample variance s^2 of independent values and its standard error,
    sqrt((m4 - (n - 3) / (n - 1) s^4) / n) with m4 the fourth central moment: the exact
    variance of s^2 with the population moments replaced by the sample's. For a normal
    sample it is s^2 sqrt(2 / (n - 1)); heavy tails (m4 large) make it larger."""
    v = _flat(x)
    n = v.size
    if n < 4:
        return (float(v.var(ddof=1)) if n > 1 else math.nan), math.inf
    s2 = float(v.var(ddof=1))
    m4 = float(np.mean((v - v.mean()) ** 4))
    return s2, math.sqrt(max(m4 - (n - 3) / (n - 1) * s2 * s2, 0.0) / n)


def ratio_se(a: float, se_a: float, b: float, se_b: float) -> float:
    """Standard error of a / b for independent estimates a and b (delta method):
    |a / b| sqrt((se_a / a)^2 + (se_b / b)^2)."""
    if a == 0 or b == 0:
        return math.inf
    return abs(a / b) * math.hypot(se_a / a, se_b / b)


def difference_se(a, b) -> tuple[float, float]:
    """Mean of the paired differences a - b (the same items scored twice) and its SE:
    pairing removes the items' shared scatter, so it is far smaller than
    hypot(se_a, se_b) when a and b move together."""
    return mean_se(_flat(a) - _flat(b))
