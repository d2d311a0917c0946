"""Chapter 2: variational inference itself.

* :mod:`engine.vi.latent`: Figure 5, N(0, I) pushed through g (numpy).
* :mod:`engine.vi.models`: the conjugate Gaussian model (exact evidence, ELBO, KL) and
  1-D Bayesian logistic regression (quadrature) (numpy).
* :mod:`engine.vi.gap`: gradient ascent of q onto the exact posterior (numpy).
* :mod:`engine.vi.estimators`: reparameterization, score function, score function with
  a baseline; their histograms, variances and SGD trajectories (numpy).
* :mod:`engine.vi.bbvi`: black-box VI on 2-D targets with mean-field, full-covariance
  and flow families, reverse or forward KL (torch; imported only when used); its config
  is :mod:`engine.vi.config` (no torch: ``vigui-train vi`` parses without torch).
"""
from __future__ import annotations

SECTIONS = ("latent", "gap", "estimators", "bbvi")

from engine.vi.cli import register as _register  # noqa: E402  (numpy only: no torch here)

_register()
