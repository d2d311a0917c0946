"""Losses and estimators of the CVAE (hidden pixels only).

Losses, per image in nats (targets are grey levels in [0, 1], as in Pyro: the
"Bernoulli" log-likelihood is a cross-entropy)::

    baseline NCLL       = sum over hidden pixels of BCE(y_hat, y)
    -ELBO(x, y)         = E_q[-log p(y|x,z)] + KL(q(z|x,y) || p(z|x))   (KL analytic)
    IS NCLL (S samples) = -log (1/S) sum_s p(y|x,z_s) p(z_s|x) / q(z_s|x,y),  z_s ~ q

IS NCLL <= the Monte Carlo -ELBO of the same samples (Jensen), for every image, and
tends to -log p(y|x) as S grows. ``evaluate()`` reports both the 10-particle -ELBO (how
Pyro's table was computed) and the S = 100 IS NCLL.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from engine.cvae.networks import CompletionModel

LOG_2PI = math.log(2.0 * math.pi)


def hidden_nll(logits: torch.Tensor, target: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """-log p(y|.) per image: BCE summed over the hidden pixels only; shape logits[:-1]."""
    bce = F.binary_cross_entropy_with_logits(logits, target.expand_as(logits), reduction="none")
    return (bce * (1.0 - observed)).sum(-1)


def gaussian_kl_dims(mu_q, logvar_q, mu_p, logvar_p) -> torch.Tensor:
    """KL(N(mu_q, e^logvar_q) || N(mu_p, e^logvar_p)) of each coordinate (no sum)."""
    return 0.5 * (logvar_p - logvar_q
                  + (logvar_q.exp() + (mu_q - mu_p).square()) / logvar_p.exp() - 1.0)


def gaussian_kl(mu_q, logvar_q, mu_p, logvar_p) -> torch.Tensor:
    """KL(N(mu_q, e^logvar_q) || N(mu_p, e^logvar_p)) per row, summed over the last axis."""
    return gaussian_kl_dims(mu_q, logvar_q, mu_p, logvar_p).sum(-1)


def free_bits_kl(kl_dims: torch.Tensor, free_bits: float) -> torch.Tensor:
    """The KL term with free bits (Kingma et al. 2016, IAF, eq. 15): each latent
    coordinate's KL, averaged over the batch (n, L) -> (L,), counts as at least
    free_bits / L nats, so the first free_bits nats per image that z carries cost
    nothing and the optimiser has no reason to switch z off. Returns a scalar (nats per
    image); with free_bits = 0 it is the batch-mean KL."""
    per_dim = kl_dims.reshape(-1, kl_dims.shape[-1]).mean(0)
    if free_bits <= 0:
        return per_dim.sum()
    return torch.clamp(per_dim, min=free_bits / per_dim.shape[0]).sum()


def _log_normal(z, mu, logvar) -> torch.Tensor:
    return -0.5 * (LOG_2PI + logvar + (z - mu).square() / logvar.exp()).sum(-1)


def cvae_loss(model: CompletionModel, images: torch.Tensor, eps: torch.Tensor | None = None,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One-particle training loss: (recon, kl) per image, -ELBO = recon + kl."""
    recon, kl_dims = cvae_terms(model, images, eps, generator)
    return recon, kl_dims.sum(-1)


def cvae_terms(model: CompletionModel, images: torch.Tensor, eps: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One particle: recon per image (n,) and the KL of each latent coordinate (n, L)."""
    mu_q, lv_q = model.recognition(images)
    mu_p, lv_p = model.prior(images)
    if eps is None:
        eps = torch.randn(mu_q.shape, generator=generator, device=mu_q.device)
    z = mu_q + torch.exp(0.5 * lv_q) * eps
    recon = hidden_nll(model.generate(z, model.base_logits(images)), images, model.observed)
    return recon, gaussian_kl_dims(mu_q, lv_q, mu_p, lv_p)


@torch.no_grad()
def cvae_bounds(model: CompletionModel, images: torch.Tensor, samples: int,
                generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Per-image estimates from ``samples`` draws z_s ~ q(z|x, y), shared by all:

    ``kl`` = KL(q(z|x,y) || p(z|x)) (analytic): the nats z carries about the image;
    ``neg_elbo`` = mean_s[-log p(y|z_s)] + KL(q || p) (analytic KL, as in training);
    ``neg_elbo_mc`` = mean_s[-log w_s] with the log weight
    log w_s = log p(y|z_s) + log p(z_s|x) - log q(z_s|x, y);
    ``ncll_is`` = log S - logsumexp_s log w_s  (<= neg_elbo_mc for every image: Jensen).
    """
    mu_q, lv_q = model.recognition(images)
    mu_p, lv_p = model.prior(images)
    eps = torch.randn(samples, *mu_q.shape, generator=generator, device=mu_q.device,
                      dtype=mu_q.dtype)
    z = mu_q + torch.exp(0.5 * lv_q) * eps  # (S, b, L)
    logits = model.generate(z, model.base_logits(images))  # (S, b, D)
    nll = hidden_nll(logits, images, model.observed)  # (S, b)
    log_w = -nll + _log_normal(z, mu_p, lv_p) - _log_normal(z, mu_q, lv_q)
    kl = gaussian_kl(mu_q, lv_q, mu_p, lv_p)
    return {
        "kl": kl,
        "neg_elbo": nll.mean(0) + kl,
        "neg_elbo_mc": -log_w.mean(0),
        "ncll_is": math.log(samples) - torch.logsumexp(log_w, 0),
    }
