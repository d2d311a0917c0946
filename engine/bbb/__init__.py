"""Bayes by Backprop (chapter 6): layers and priors (:mod:`.layers`), the 1-D regression of
the lecture's Figure 15 (:mod:`.regression`) and image classification (:mod:`.classify`)."""
from engine.bbb import cli as _cli  # noqa: F401  (registers `python -m engine bbb`)
from engine.bbb.classify import PRUNE_FRACTIONS, ClassificationExperiment, ClassifyConfig  # noqa: F401
from engine.bbb.layers import *  # noqa: F401,F403
from engine.bbb.layers import __all__ as _layers_all
from engine.bbb.options import BBBOptions  # noqa: F401
from engine.bbb.regression import (  # noqa: F401
                         FUNCTIONS,
                         PLOT_RANGE,
                         TRAIN_RANGE,
                         RegressionConfig,
                         RegressionExperiment,
                         make_curve,
                         true_curve,
)

__all__ = [*_layers_all, "BBBOptions", "ClassifyConfig", "ClassificationExperiment", "PRUNE_FRACTIONS",
           "FUNCTIONS", "PLOT_RANGE", "TRAIN_RANGE", "RegressionConfig",
           "RegressionExperiment", "make_curve", "true_curve"]
