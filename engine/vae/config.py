"""The VAE's configuration, without torch: the page's form, ``vigui-train vae``'s flags and
its argument checks are built from it before torch is imported (see :mod:`engine.vae.model`)."""
from __future__ import annotations

from dataclasses import dataclass

from engine.core.config import TrainingConfig
from engine.core.params import param

__all__ = ["VAEConfig", "LIKELIHOODS", "LOSS_MODES"]

LIKELIHOODS = ("bernoulli", "gaussian")
LOSS_MODES = ("elbo", "recon", "kl")


@dataclass(frozen=True)
class VAEConfig(TrainingConfig):
    """Everything that defines a VAE run, each parameter declared once (engine.core.params):
    its range, label and help give the validation, the CLI flags and the page's widgets.
    Units: lr per Adam step, sizes in units."""

    latent: int = param(2, lo=2, hi=64, label="Latent dim",
                        help="Size of z. With 2 the latent space is drawn as it is and the "
                             "decoded manifold is shown; above 2 a PCA plane of it is drawn")
    hidden: tuple[int, ...] = param((400,), lo=8, hi=4096, length=(1, 4), label="Hidden sizes",
                                    help="Units per hidden layer of the encoder (the decoder "
                                         "mirrors it): 400, or 512,256 for two layers")
    likelihood: str = param("bernoulli", choices=LIKELIHOODS,
                            choice_labels=("Bernoulli", "Gaussian (σ = 0.1)"), label="Likelihood",
                            help="p(x|z): Bernoulli pixels (cross-entropy) or a Gaussian with "
                                 "one pixel σ (see sigma)")
    sigma: float = param(0.1, lo=1e-3, hi=10.0, log=True, label="Pixel σ", gui=False,
                         help="Gaussian likelihood: the pixel standard deviation (its start "
                              "if learned)")
    learn_sigma: bool = param(False, label="Learn σ", gui=False,
                              help="Gaussian likelihood: learn the pixel σ with the weights")
    beta: float = param(1.0, lo=0.0, hi=100.0, decimals=2, step=0.25, label="β (KL weight)",
                        help="loss = recon + β·KL. β = 1 is the ELBO; larger β pulls the codes "
                             "towards the prior, smaller lets them spread")
    loss_mode: str = param("elbo", choices=LOSS_MODES,
                           choice_labels=("ELBO: recon + β·KL", "Reconstruction only", "KL only"),
                           label="Train on",
                           help="The lecture's Figures 10-11: reconstruction alone gives sharp "
                                "images but a gappy latent space; KL alone collapses every code "
                                "onto the prior. Both terms are always measured.")
