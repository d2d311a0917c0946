"""The 1-D curves of the lecture's Figure 15 (numpy, no torch): the paper's toy function and
three others, the training and plotting ranges, and noisy samples of them.

The paper's data (Blundell et al. 2015, Sec. 5.2)::

    y = x + 0.3 sin(2 pi (x + eps)) + 0.3 sin(4 pi (x + eps)) + eps,   eps ~ N(0, 0.02)

with x drawn on [0, 0.5] (``TRAIN_RANGE``) and the fit drawn on [-0.4, 1.2]
(``PLOT_RANGE``); :mod:`engine.bbb.regression` says how the noise is read."""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = ["FUNCTIONS", "make_curve", "true_curve", "TRAIN_RANGE", "PLOT_RANGE"]

TRAIN_RANGE = (0.0, 0.5)
PLOT_RANGE = (-0.4, 1.2)


def _blundell(x, eps):
    return x + 0.3 * np.sin(2 * np.pi * (x + eps)) + 0.3 * np.sin(4 * np.pi * (x + eps)) + eps


def _sine(x, eps):
    return np.sin(4 * np.pi * x) * 0.5 + eps


def _cubic(x, eps):
    return 8.0 * (x - 0.25) ** 3 * 8.0 + eps


def _step(x, eps):
    return np.where(x < 0.25, -0.3, 0.3) + eps


#: name -> (label, f(x, eps)); the noise eps enters where the formula says.
FUNCTIONS: dict[str, tuple[str, Callable]] = {
    "blundell": ("x + 0.3 sin 2π(x+ε) + 0.3 sin 4π(x+ε) + ε  (the paper)", _blundell),
    "sine": ("0.5 sin 4πx + ε", _sine),
    "cubic": ("64 (x − 0.25)³ + ε", _cubic),
    "step": ("±0.3 step at x = 0.25, + ε", _step),
}


def make_curve(function: str = "blundell", n: int = 100, noise_std: float = 0.02,
               lo: float = 0.0, hi: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n points x ~ U(lo, hi), y = f(x, eps) with eps ~ N(0, noise_std^2): (x, y) float64.

    ``noise_std=0.02`` reads the paper's "eps ~ N(0, 0.02)" as a standard deviation;
    pass ``sqrt(0.02)`` (0.141) for the variance reading."""
    if function not in FUNCTIONS:
        raise ValueError(f"function must be one of {tuple(FUNCTIONS)}, got {function!r}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not (math.isfinite(noise_std) and noise_std >= 0):
        raise ValueError(f"noise_std must be a non-negative number, got {noise_std!r}")
    rng = np.random.default_rng(seed)
    x = rng.uniform(lo, hi, n)
    eps = rng.normal(0.0, noise_std, n) if noise_std > 0 else np.zeros(n)
    return x, FUNCTIONS[function][1](x, eps)


def true_curve(function: str, x: np.ndarray) -> np.ndarray:
    """The noiseless function (eps = 0)."""
    return FUNCTIONS[function][1](np.asarray(x, dtype=np.float64), 0.0)
