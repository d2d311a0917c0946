"""Chapter 4: the variational autoencoder: its config (``config``, no torch), model, loss
and trainer (``model``) and ``python -m engine vae`` (``cli``).

Importing the package does not import torch: the model's names load on first use
(:mod:`engine.core.lazy`), so ``vigui-train vae --help`` answers at once."""
from typing import TYPE_CHECKING

from engine.core.lazy import lazy_exports
from engine.vae import cli as _cli  # noqa: F401  (registers `python -m engine vae`)
from engine.vae.config import LIKELIHOODS, LOSS_MODES, VAEConfig

__all__ = ["LIKELIHOODS", "LOSS_MODES", "VAE", "VAEConfig", "VAEExperiment", "importance_weighted",
           "kl_to_prior"]

__getattr__ = lazy_exports(__name__, {"model": ("VAE", "VAEExperiment", "importance_weighted",
                                                "kl_to_prior")})

if TYPE_CHECKING:
    from engine.vae.model import VAE, VAEExperiment, importance_weighted, kl_to_prior
