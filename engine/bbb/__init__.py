"""Bayes by Backprop (chapter 6): layers and priors (:mod:`.layers`), the 1-D regression of
the lecture's Figure 15 (:mod:`.regression`) and image classification (:mod:`.classify`)."""
from .layers import *  # noqa: F401,F403
from .layers import __all__ as _layers_all
from .classify import PRUNE_FRACTIONS, ClassificationExperiment, ClassifyConfig  # noqa: F401
from .options import BBBOptions  # noqa: F401
from . import cli as _cli  # noqa: F401  (registers `python -m engine bbb`)
from .regression import (FUNCTIONS, PLOT_RANGE, TRAIN_RANGE, RegressionConfig,  # noqa: F401
                         RegressionExperiment, make_curve, true_curve)

__all__ = [*_layers_all, "BBBOptions", "ClassifyConfig", "ClassificationExperiment", "PRUNE_FRACTIONS",
           "FUNCTIONS", "PLOT_RANGE", "TRAIN_RANGE", "RegressionConfig",
           "RegressionExperiment", "make_curve", "true_curve"]
