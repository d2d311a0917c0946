"""Predictive-band widths with their Monte Carlo error, and enough draws to trust them.

A band width (the 5-95 % range of S sampled functions, averaged over some x) is a Monte
Carlo estimate: with S = 100 draws the figure scatters by ~10 % from draw to draw. Its
standard error is estimated by the bootstrap over draws (resample the S functions with
replacement, recompute the width; the spread of the recomputed widths), and
:func:`band_with_error` adds draws until that error is under a share (2 %) of the width.
SE falls as 1/sqrt(S), so the draws needed follow from one pilot estimate.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = ["band_width", "band_se", "band_se_order", "band_with_error", "REL_SE", "MAX_DRAWS"]

#: the standard error a reported band may have, as a share of the band
REL_SE = 0.02
#: draws never exceed this (a hard cap on the cost of one summary)
MAX_DRAWS = 64_000
PILOT_DRAWS = 1000
BOOTSTRAP = 200


def band_width(f: np.ndarray, lo: float = 0.05, hi: float = 0.95) -> float:
    """Mean over the columns (x values) of the lo-hi quantile range of the rows (draws)."""
    f = np.asarray(f, dtype=np.float64)
    if f.ndim == 1:
        f = f[:, None]
    q = np.quantile(f, [lo, hi], axis=0)
    return float(np.mean(q[1] - q[0]))


def band_se(f: np.ndarray, lo: float = 0.05, hi: float = 0.95, boot: int = BOOTSTRAP,
            seed: int = 0) -> float:
    """Bootstrap standard error of :func:`band_width` over the draws (rows) of ``f``.

    Columns share their draws (one weight sample gives a whole function), so whole rows
    are resampled: the correlation between x values is kept."""
    f = np.asarray(f, dtype=np.float64)
    if f.ndim == 1:
        f = f[:, None]
    s = f.shape[0]
    if s < 2:
        return math.inf
    rng = np.random.default_rng(seed)
    # Chunks keep the (chunk, S, columns) copy small.
    chunk = max(1, int(4e6 // (s * f.shape[1])))
    widths = []
    for start in range(0, boot, chunk):
        idx = rng.integers(0, s, size=(min(chunk, boot - start), s))
        q = np.quantile(f[idx], [lo, hi], axis=1)
        widths.append(np.mean(q[1] - q[0], axis=-1))
    return float(np.std(np.concatenate(widths), ddof=1))


def band_se_order(f: np.ndarray, lo: float = 0.05, hi: float = 0.95) -> float:
    """A cheap standard error of :func:`band_width` for every frame: one sort, no resampling.

    The order statistics at ranks S p +- sqrt(S p (1 - p)) bracket the p-quantile with
    about one standard deviation each side (the binomial count below it), so half their
    gap is its SE. Each column's width gets sqrt(SE_lo^2 + SE_hi^2) (the two quantiles
    covary positively, so this errs high), and the mean over columns the mean of those
    (as if the columns were fully correlated: it errs high too, never low)."""
    f = np.sort(np.asarray(f, dtype=np.float64).reshape(len(f), -1), axis=0)
    s = f.shape[0]
    if s < 2:
        return math.inf
    var = np.zeros(f.shape[1])
    for p in (lo, hi):
        d = math.sqrt(s * p * (1 - p))
        a = int(np.clip(math.floor(s * p - d), 0, s - 1))
        b = int(np.clip(math.ceil(s * p + d), 0, s - 1))
        var += ((f[b] - f[a]) / 2 * (2 * d / max(b - a, 1))) ** 2  # rescaled to exactly +-d ranks
    return float(np.mean(np.sqrt(var)))


def band_with_error(draw: Callable[[int, int], np.ndarray], rel_se: float = REL_SE,
                    lo: float = 0.05, hi: float = 0.95, pilot: int = PILOT_DRAWS,
                    max_draws: int = MAX_DRAWS, seed: int = 0) -> tuple[float, float, int]:
    """(width, standard error, draws) of a band, with draws added until SE < rel_se * width.

    ``draw(n, seed)`` returns n sampled functions as an (n, columns) array. A pilot of
    ``pilot`` draws gives the SE; SE ~ 1/sqrt(S) gives the draws the target needs
    (+20 % margin), which are drawn fresh and checked again; at most ``max_draws``."""
    if not 0 < rel_se < 1:
        raise ValueError(f"rel_se must be between 0 and 1, got {rel_se!r}")
    n = max(2, int(pilot))
    f = np.asarray(draw(n, seed), dtype=np.float64)
    for attempt in range(4):
        width, se = band_width(f, lo, hi), band_se(f, lo, hi, seed=seed + attempt)
        if se < rel_se * width or n >= max_draws or width <= 0:
            return width, se, n
        n = min(max_draws, int(math.ceil(n * 1.2 * (se / (rel_se * width)) ** 2)))
        f = np.asarray(draw(n, seed + 1 + attempt), dtype=np.float64)
    return band_width(f, lo, hi), band_se(f, lo, hi, seed=seed + 9), n
