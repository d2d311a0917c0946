"""Bayes by Backprop (chapter 6): layers and priors (:mod:`.layers`), the 1-D regression of
the lecture's Figure 15 (:mod:`.regression`, its curves in :mod:`.curves`) and image
classification (:mod:`.classify`); their configs (:mod:`.config`, :mod:`.options`) and
``python -m engine bbb`` (:mod:`.cli`).

Importing the package does not import torch: the layers and experiments load on first
use (:mod:`engine.core.lazy`), so ``vigui-train bbb --help`` answers at once."""
from typing import TYPE_CHECKING

from engine.bbb import cli as _cli  # noqa: F401  (registers `python -m engine bbb`)
from engine.bbb.config import ClassifyConfig, RegressionConfig
from engine.bbb.curves import FUNCTIONS, PLOT_RANGE, TRAIN_RANGE, make_curve, true_curve
from engine.bbb.options import BBBOptions
from engine.core.lazy import lazy_exports

# engine.bbb.layers.__all__, written out (reading it would import torch); a test keeps the
# two lists equal.
_LAYERS = ("GaussianPrior", "ScaleMixturePrior", "make_prior", "BayesLinear", "BayesMLP", "PlainMLP",
           "kl_weights", "log_gaussian", "softplus_inv", "gaussian_nll", "predictive_entropy",
           "pruned", "gradient_variance", "elbo_parts")

__all__ = ["GaussianPrior", "ScaleMixturePrior", "make_prior", "BayesLinear", "BayesMLP", "PlainMLP",
           "kl_weights", "log_gaussian", "softplus_inv", "gaussian_nll", "predictive_entropy",
           "pruned", "gradient_variance", "elbo_parts", "BBBOptions", "ClassifyConfig",
           "ClassificationExperiment", "PRUNE_FRACTIONS", "FUNCTIONS", "PLOT_RANGE", "TRAIN_RANGE",
           "RegressionConfig",
           "RegressionExperiment", "make_curve", "true_curve"]

__getattr__ = lazy_exports(__name__, {
    "layers": _LAYERS,
    "classify": ("ClassificationExperiment", "PRUNE_FRACTIONS"),
    "regression": ("RegressionExperiment",),
})

if TYPE_CHECKING:
    from engine.bbb.classify import PRUNE_FRACTIONS, ClassificationExperiment
    from engine.bbb.layers import (
        BayesLinear,
        BayesMLP,
        GaussianPrior,
        PlainMLP,
        ScaleMixturePrior,
        elbo_parts,
        gaussian_nll,
        gradient_variance,
        kl_weights,
        log_gaussian,
        make_prior,
        predictive_entropy,
        pruned,
        softplus_inv,
    )
    from engine.bbb.regression import RegressionExperiment
