"""Chapter 4: the variational autoencoder (model, loss, trainer)."""

from engine.vae.model import (  # noqa: F401  (the chapter's public API)
    VAEConfig, VAE, VAEExperiment, kl_to_prior, importance_weighted, LIKELIHOODS, LOSS_MODES,
)
