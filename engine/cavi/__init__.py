"""Chapter 3: mean-field CAVI on the Bayesian Gaussian mixture of Blei et al. (2017)."""

from engine.cavi.model import (  # noqa: F401  (the chapter's public API)
    CAVI,
    LOG_2PI,
    CaviConfig,
    CaviExperiment,
    GradientAscent,
    sample_mixture,
)
