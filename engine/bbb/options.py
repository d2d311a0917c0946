"""The options every BBB experiment shares: prior, KL estimator and weighting, sampling.

Declared once with :func:`engine.core.params.param`, so the CLI flags and the page's widgets of
both the regression and the classification experiments come from here."""
from __future__ import annotations

import math
from dataclasses import dataclass

from engine.core.params import Config, param

__all__ = ["BBBOptions", "make_prior_of"]


@dataclass(frozen=True)
class BBBOptions(Config):
    """Prior (Gaussian or the paper's scale mixture), KL estimate and per-minibatch weight,
    weight sampling (per minibatch or local reparameterization), initial sigma."""

    prior: str = param("mixture", choices=("mixture", "gaussian"), label="Prior",
                       choice_labels=("scale mixture", "Gaussian"),
                       help="scale mixture pi N(0,s1^2) + (1-pi) N(0,s2^2), or N(0, s^2)")
    prior_sigma: float = param(1.0, lo=1e-3, hi=10.0, log=True, label="Gaussian prior σ",
                               help="standard deviation of the Gaussian prior")
    mixture_pi: float = param(0.5, lo=0.01, hi=0.99, decimals=2, step=0.05, label="Mixture π",
                              help="weight of the wide component")
    log_sigma1: float = param(0.0, lo=-8.0, hi=2.0, decimals=1, step=1.0, label="log σ1",
                              help="log std of the wide component")
    log_sigma2: float = param(-6.0, lo=-10.0, hi=0.0, decimals=1, step=1.0, label="log σ2",
                              help="log std of the narrow component")
    kl_method: str = param("mc", choices=("mc", "closed"), label="KL",
                           choice_labels=("Monte Carlo", "closed form"),
                           help="KL estimate: log q - log p at the sample, or exact (Gaussian prior)")
    weighting: str = param("uniform", choices=("uniform", "blundell"), label="KL weighting",
                           choice_labels=("uniform 1/M", "2^(M-i)/(2^M-1)"),
                           help="share of the KL each minibatch of an epoch carries")
    local_reparam: bool = param(False, label="Local reparam.",
                                help="sample pre-activations per example instead of weights")
    train_samples: int = param(1, lo=1, hi=64, label="Samples per step",
                               help="Monte Carlo weight samples per minibatch")
    rho_init: float = param(-5.0, lo=-12.0, hi=2.0, decimals=1, step=0.5, label="ρ init",
                            help="initial rho: sigma = softplus(rho)")

    def validate(self):
        super().validate()
        if self.kl_method == "closed" and self.prior != "gaussian":
            raise ValueError("kl_method 'closed' needs prior 'gaussian' (the scale mixture "
                             "has no closed-form KL)")
        return self

    @property
    def initial_sigma(self) -> float:
        """softplus(rho_init): the posterior std every weight starts with."""
        return math.log1p(math.exp(self.rho_init))


def make_prior_of(options: BBBOptions):
    """The prior object the options describe."""
    from engine.bbb.layers import make_prior

    return make_prior(options.prior, options.prior_sigma, options.mixture_pi,
                      options.log_sigma1, options.log_sigma2)
