"""The evidence gap, animated: gradient ascent of q = N(m, s²) on the exact ELBO of the
conjugate Gaussian model until q is the posterior (eqs. 10–12).

Each step moves λ = (m, log s) along the closed-form gradient; the gap
log p(x) − ELBO(q) = KL(q ‖ p(z|x)) shrinks to zero.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.core.params import Config, param
from engine.core.runtime import Experiment
from engine.vi.estimators import thin_path
from engine.vi.models import ConjugateGaussian

__all__ = ["GapConfig", "GapAscent"]


@dataclass(frozen=True)
class GapConfig(Config):
    m: float = param(-1.5, lo=-10.0, hi=10.0, label="start m", help="q's starting mean")
    log_s: float = param(0.5, lo=-6.0, hi=3.0, label="start log s", help="q's starting log sd")
    lr: float = param(0.05, lo=1e-4, hi=1.0, log=True, label="Step size",
                      help="gradient ascent step on (m, log s), scaled by 1 / posterior precision")
    tol: float = param(1e-6, lo=1e-12, hi=1e-1, log=True, label="Tolerance",
                       help="stop when the gap KL(q‖p(z|x)) is below this")
    max_steps: int = param(2000, lo=1, hi=100_000, label="Max steps")


class GapAscent(Experiment):
    """Gradient ascent of the exact ELBO over λ = (m, log s).

    The step is ``lr / P`` times the gradient (P the posterior precision), so the
    speed does not depend on how much data there is: with lr < 1 it converges for
    every data set. Metrics per step: elbo, kl (the gap), m, log_s.
    """

    def __init__(self, model: ConjugateGaussian, config: GapConfig | None = None):
        config = (config or GapConfig()).validate()
        super().__init__(config, None)
        self.model = model
        self.log_evidence = model.log_evidence()
        self.m, self.log_s = float(config.m), float(config.log_s)
        self.path = [(self.m, self.log_s)]

    @property
    def s(self) -> float:
        return math.exp(self.log_s)

    def gap(self) -> float:
        return float(self.model.kl_posterior(self.m, self.s))

    def _step(self):
        g = self.model.grad_elbo(self.m, self.log_s)
        scale = self.config.lr / self.model.precision
        # log s moves at most 0.5 a step: far from the posterior 1 − P s² is huge
        m, log_s = self.m + scale * g[0], self.log_s + float(np.clip(self.config.lr * g[1] / 2, -0.5, 0.5))
        elbo = float(self.model.elbo(m, math.exp(log_s)))
        if not math.isfinite(elbo):
            return {"elbo": elbo}
        self.m, self.log_s = m, log_s
        self.path.append((m, log_s))
        return {"elbo": elbo, "kl": self.gap(), "m": m, "log_s": log_s}

    @property
    def done(self) -> bool:
        return self.gap() < self.config.tol or self.steps >= self.config.max_steps

    def snapshot(self):
        return {"step": self.steps, "m": self.m, "log_s": self.log_s,
                "elbo": float(self.model.elbo(self.m, self.s)), "kl": self.gap(),
                "log_evidence": self.log_evidence, "path": thin_path(self.path),
                "done": self.done}
