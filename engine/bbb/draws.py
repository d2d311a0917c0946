"""Figures averaged over weight draws, with their two standard errors.

A BBB test error or mean predictive entropy is computed from S weight draws on n test
images, so it scatters for two independent reasons:

* the draws (Monte Carlo): another S draws give another figure. All images share each
  draw (one weight sample predicts the whole batch), so the images' errors are
  correlated and no per-image formula holds; the bootstrap over draws (resample the S
  rows with replacement, recompute the figure; the spread of the recomputed figures)
  keeps that correlation, as :func:`engine.bbb.bands.band_se` does for bands. The
  error's argmax is not smooth in the draws, so the jackknife would overstate it
  (about 1.6 times at S = 10); the bootstrap matches the scatter of fresh draws.
* the images: another n test images give another figure. The per-image values are
  independent given the draws, so SE = sd / sqrt(n) (for an error rate,
  sqrt(p (1 - p) / n)).

The two variances add (law of total variance): ``total = sqrt(draws^2 + images^2)``.
With 10 draws on 1000 digits the images' part dominates the error (~0.5 vs ~0.1 points).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from engine.bbb.layers import predictive_entropy

__all__ = ["WithError", "error_with_se", "entropy_with_se", "image_se", "percent_se", "BOOTSTRAP"]

BOOTSTRAP = 200  # resamples of the draws; the SE's own relative error is ~1/sqrt(2 B) = 5 %


@dataclass(frozen=True)
class WithError:
    """A figure and its standard errors over the weight draws and over the test images."""

    value: float
    draws_se: float
    images_se: float

    @property
    def se(self) -> float:
        """Both sources together (independent, so the variances add)."""
        return math.hypot(self.draws_se, self.images_se)


def _bootstrap(probs: torch.Tensor, stat, boot: int, seed: int) -> torch.Tensor:
    """``stat`` of the mean predictive distribution of ``boot`` bootstrap resamples of the
    draws (rows) of (S, N, K) probabilities: (boot,). A resample's mean is counts @ probs
    / S; resamples go in chunks so the (chunk, N, K) means stay small."""
    s = probs.shape[0]
    rng = np.random.default_rng(seed)
    counts = np.stack([np.bincount(rng.integers(0, s, s), minlength=s) for _ in range(boot)])
    w = torch.as_tensor(counts / s, dtype=probs.dtype, device=probs.device)
    flat = probs.reshape(s, -1)
    chunk = max(1, int(4e6 // flat.shape[1]))
    return torch.cat([stat((w[i:i + chunk] @ flat).reshape(-1, *probs.shape[1:]))
                      for i in range(0, boot, chunk)])


def image_se(per_image: np.ndarray | torch.Tensor) -> float:
    """Standard error of a mean over independent images: sd / sqrt(n) (sd with n - 1)."""
    v = torch.as_tensor(per_image).double().flatten()
    n = v.numel()
    return float(v.std() / math.sqrt(n)) if n > 1 else math.inf


def _draws_se(probs: torch.Tensor, stat, sampled: bool, boot: int, seed: int) -> float:
    """Bootstrap SE of ``stat`` over the draws; 0 for a net without draws (``sampled``
    False: plain, posterior mean), inf for one draw (no spread to measure)."""
    if not sampled:
        return 0.0
    if probs.shape[0] < 2:
        return math.inf
    return float(_bootstrap(probs, stat, boot, seed).double().std())


def percent_se(error_percent, n: int) -> np.ndarray:
    """Standard error (points of %) of error rates measured on n independent images:
    the :func:`image_se` of n 0/1 values, sqrt(p (1 - p) / (n - 1)), from the rate alone."""
    p = np.asarray(error_percent, dtype=np.float64) / 100.0
    return 100.0 * np.sqrt(p * (1.0 - p) / max(n - 1, 1))


def error_with_se(probs: torch.Tensor, y: torch.Tensor, sampled: bool = True,
                  boot: int = BOOTSTRAP, seed: int = 0) -> WithError:
    """Error (%) of the mean of (S, N, K) probabilities against labels y, with the SE over
    the draws (bootstrap) and over the images (binomial)."""
    wrong = (probs.mean(0).argmax(-1) != y).double()
    draws = _draws_se(probs, lambda m: (m.argmax(-1) != y).double().mean(-1), sampled, boot, seed)
    return WithError(100.0 * float(wrong.mean()), 100.0 * draws, 100.0 * image_se(wrong))


def entropy_with_se(probs: torch.Tensor, sampled: bool = True, boot: int = BOOTSTRAP,
                    seed: int = 0) -> WithError:
    """Mean over images of the predictive entropy (nats) of (S, N, K) probabilities, with
    the SE over the draws (bootstrap) and over the images."""
    per_image = predictive_entropy(probs)
    draws = _draws_se(probs, lambda m: predictive_entropy(m[None]).mean(-1), sampled, boot, seed)
    return WithError(float(per_image.mean()), draws, image_se(per_image))
