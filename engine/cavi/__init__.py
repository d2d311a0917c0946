"""Chapter 3: mean-field CAVI on the Bayesian Gaussian mixture of Blei et al. (2017)."""

from engine.cavi.model import (  # noqa: F401  (the chapter's public API)
    sample_mixture, CAVI, GradientAscent, CaviConfig, CaviExperiment, LOG_2PI,
)
