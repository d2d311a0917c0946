"""Figure 5 of the lecture: a simple p(z) pushed through g into a complicated p(x).

z ~ N(0, I) in 2-D; x = g(z) for one of three maps:

* ``ring``: the lecture's g(z) = z/10 + z/‖z‖. Every x lies outside the unit circle,
  at radius 1 + ‖z‖/10, so N(0, I) lands on a ring of radius about 1.
* ``affine``: g(z) = A z + b, so x ~ N(b, A Aᵀ) exactly (its density is drawn too).
* ``mlp``: a small random two-layer tanh network with a fixed seed.

Numpy only; every function takes and returns (n, 2) arrays.
"""
from __future__ import annotations

import math

import numpy as np

from engine.core.stats import mean_se, variance_se

__all__ = ["MAPS", "sample_z", "push", "affine_matrix", "affine_density", "mlp_weights",
           "histogram2d", "ring_radius", "sd_with_se", "covariance_with_se"]

MAPS = ("ring", "affine", "mlp")
#: A fixed, visibly shearing affine map (A, b): x ~ N(b, A Aᵀ).
AFFINE_A = np.array([[1.5, 0.0], [1.2, 0.5]])
AFFINE_B = np.array([0.5, -0.5])


def sample_z(n: int, seed: int | None = 0) -> np.ndarray:
    """n draws of z ~ N(0, I₂)."""
    if int(n) < 1:
        raise ValueError(f"n must be at least 1, got {n!r}")
    return np.random.default_rng(seed).standard_normal((int(n), 2))


def affine_matrix(shear: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(A, b) of the affine map; ``shear`` scales the off-diagonal entry."""
    a = AFFINE_A.copy()
    a[1, 0] *= shear
    return a, AFFINE_B.copy()


def mlp_weights(seed: int = 0, hidden: int = 16, scale: float = 1.5):
    """Weights of the random network x = W₂ tanh(W₁ z + b₁) + b₂ (Xavier-like, scaled)."""
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((2, hidden)) * scale / np.sqrt(2)
    b1 = rng.standard_normal(hidden) * 0.5
    w2 = rng.standard_normal((hidden, 2)) * scale / np.sqrt(hidden)
    b2 = np.zeros(2)
    return w1, b1, w2, b2


def push(z, kind: str = "ring", seed: int = 0, shear: float = 1.0) -> np.ndarray:
    """x = g(z) row by row for the map ``kind`` (see the module docstring)."""
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"z must have shape (n, 2), got {z.shape}")
    if kind == "ring":
        norm = np.linalg.norm(z, axis=1, keepdims=True)
        # z = 0 has no direction: send it to radius 1 on the x axis (probability zero).
        unit = np.where(norm > 0, z / np.where(norm > 0, norm, 1.0), np.array([1.0, 0.0]))
        return z / 10 + unit
    if kind == "affine":
        a, b = affine_matrix(shear)
        return z @ a.T + b
    if kind == "mlp":
        w1, b1, w2, b2 = mlp_weights(seed)
        return np.tanh(z @ w1 + b1) @ w2 + b2
    raise ValueError(f"kind must be one of {', '.join(MAPS)}, got {kind!r}")


def affine_density(x, shear: float = 1.0) -> np.ndarray:
    """The exact density of x = A z + b, z ~ N(0, I): N(x; b, A Aᵀ)."""
    a, b = affine_matrix(shear)
    cov = a @ a.T
    d = np.asarray(x, dtype=np.float64) - b
    sol = np.linalg.solve(cov, d.T).T
    return np.exp(-0.5 * np.sum(d * sol, axis=1)) / (2 * np.pi * np.sqrt(np.linalg.det(cov)))


def histogram2d(points, extent: tuple[float, float, float, float], bins: int = 60) -> np.ndarray:
    """A density histogram (bins_y, bins_x) of 2-D points over (x0, x1, y0, y1):
    counts / (n · cell area), so it estimates the density."""
    points = np.asarray(points, dtype=np.float64)
    x0, x1, y0, y1 = extent
    h, _, _ = np.histogram2d(points[:, 1], points[:, 0], bins=bins, range=[[y0, y1], [x0, x1]])
    area = (x1 - x0) * (y1 - y0) / bins**2
    return h / (max(len(points), 1) * area)


def ring_radius(x) -> np.ndarray:
    """‖x‖ row by row."""
    return np.linalg.norm(np.asarray(x, dtype=np.float64), axis=1)


def sd_with_se(values) -> tuple[float, float]:
    """Sample standard deviation and its SE, from the variance's (fourth-moment)
    :func:`engine.core.stats.variance_se` by the delta method: se(s) = se(s²) / (2 s)."""
    s2, se = variance_se(values)
    sd = math.sqrt(s2) if s2 >= 0 else math.nan
    return sd, (se / (2 * sd) if sd > 0 else math.inf)


def covariance_with_se(x) -> tuple[np.ndarray, np.ndarray]:
    """The 2×2 sample covariance of (n, 2) points and each entry's SE: the variances'
    from their fourth moment, the covariance's as the mean of the centred products."""
    x = np.asarray(x, dtype=np.float64)
    cov = np.cov(x.T)
    se = np.empty((2, 2))
    for i in range(2):
        se[i, i] = variance_se(x[:, i])[1]
    centred = x - x.mean(0)
    se[0, 1] = se[1, 0] = mean_se(centred[:, 0] * centred[:, 1])[1]
    return cov, se
