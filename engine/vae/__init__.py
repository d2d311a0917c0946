"""Chapter 4: the variational autoencoder (model, loss, trainer)."""

from engine.vae.model import (  # noqa: F401  (the chapter's public API)
    LIKELIHOODS,
    LOSS_MODES,
    VAE,
    VAEConfig,
    VAEExperiment,
    importance_weighted,
    kl_to_prior,
)
