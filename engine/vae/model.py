"""Variational autoencoder: an MLP VAE and its trainer as an :class:`Experiment`.

The model follows the lecture and PyTorch's ``examples/vae`` (784-400-20 there)::

    q(z|x) = N(mu(x), diag sigma^2(x))        encoder MLP -> mean and log-variance heads
    z      = mu + sigma * eps,  eps ~ N(0, I)  reparameterization
    p(z)   = N(0, I)
    p(x|z) = Bernoulli(sigmoid(logits(z)))     or N(mean(z), s^2 I), see below

and the loss per example, in nats (summed over pixels, averaged over the batch)::

    recon = -log p(x|z)           (one z per example while training)
    kl    = KL(q(z|x) || p(z)) = 0.5 * sum(sigma^2 + mu^2 - 1 - log sigma^2)   (analytic)
    loss  = recon + beta * kl     (loss_mode "elbo"; "recon" and "kl" keep one term)

``loss_mode="recon"`` / ``"kl"`` train on one term only; that is how the lecture's
Figures 10-11 ("contributions of reconstruction and KL") are reproduced: recon-only
gives sharp reconstructions but a scattered, gappy latent space; KL-only collapses
every code onto the prior. Both terms are always measured and reported.

Likelihoods. ``bernoulli``: binary cross-entropy with logits, as in the PyTorch
example; on grey-level pixels in [0, 1] this is a cross-entropy rather than a
normalised density, the usual convention. ``gaussian``: the decoder's means are
``sigmoid(output)`` (kept in [0, 1]) with one scalar std ``s`` shared by all pixels,
fixed at ``config.sigma`` or learned (``learn_sigma``, starting there); ``-log p`` keeps
every constant: ``D/2 log(2 pi) + D log s + |x - mean|^2 / (2 s^2)``.

Training is :class:`engine.core.trainer.TorchTrainer`'s: the whole training set lives on the
device as one flattened float tensor indexed by a per-epoch permutation (no
DataLoader); one step does one forward, one backward and a single device->host
transfer of its metrics. This module adds the model and the loss.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.core.nets import mlp
from engine.core.params import Param
from engine.core.stats import mean_se, means_with_se
from engine.core.trainer import TorchTrainer, as_tensor
from engine.vae.config import LIKELIHOODS, LOSS_MODES, VAEConfig

__all__ = ["VAEConfig", "VAE", "VAEExperiment", "kl_to_prior", "importance_weighted", "LIKELIHOODS",
           "LOSS_MODES"]

LOG_2PI = math.log(2.0 * math.pi)
N_STRIP = 8  # test images shown with their reconstructions
N_PRIOR = 36  # prior samples decoded for the "samples" view (a 6 x 6 grid)
GRID = 15  # manifold grid size (GRID x GRID decoded codes) for 2-D latents
EVAL_ROWS = 16_384  # decoded rows per chunk in evaluate(): bounds memory


def _int_in(name: str, value, lo: int, hi: int) -> int:
    """An integer argument in [lo, hi], or ValueError naming it."""
    return Param(name=name, kind="int", lo=lo, hi=hi).check(value)


# -- model --------------------------------------------------------------------------
class VAE(nn.Module):
    """MLP encoder -> (mu, logvar); MLP decoder -> Bernoulli logits or Gaussian means."""

    def __init__(self, n_in: int, latent: int = 2, hidden: tuple[int, ...] = (400,),
                 likelihood: str = "bernoulli", sigma: float = 0.1, learn_sigma: bool = False):
        super().__init__()
        self.n_in, self.latent, self.likelihood = n_in, latent, likelihood
        hidden = tuple(hidden)
        self.encoder = nn.Sequential(mlp([n_in, *hidden]), nn.ReLU())
        self.mu_head = nn.Linear(hidden[-1], latent)
        self.logvar_head = nn.Linear(hidden[-1], latent)
        self.decoder = mlp([latent, *hidden[::-1], n_in])
        if likelihood == "gaussian":
            log_sigma = torch.tensor(math.log(sigma))
            if learn_sigma:
                self.log_sigma = nn.Parameter(log_sigma)
            else:
                self.register_buffer("log_sigma", log_sigma)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (n, n_in) in [0, 1] -> mean and log-variance of q(z|x), each (n, latent)."""
        h = self.encoder(x)
        return self.mu_head(h), self.logvar_head(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (n, latent) -> Bernoulli logits, or Gaussian means in [0, 1]; (n, n_in)."""
        out = self.decoder(z)
        return torch.sigmoid(out) if self.likelihood == "gaussian" else out

    def forward(self, x: torch.Tensor, eps: torch.Tensor | None = None):
        """Returns (decoder output, mu, logvar) with z = mu + sigma * eps."""
        mu, logvar = self.encode(x)
        if eps is None:
            eps = torch.randn_like(mu)
        return self.decode(mu + torch.exp(0.5 * logvar) * eps), mu, logvar

    def mean_image(self, out: torch.Tensor) -> torch.Tensor:
        """Decoder output -> expected pixel values in [0, 1]."""
        return out if self.likelihood == "gaussian" else torch.sigmoid(out)

    def neg_log_lik(self, out: torch.Tensor, x: torch.Tensor, per_example: bool = False):
        """-log p(x|z) in nats, summed over pixels (and over examples unless per_example)."""
        if self.likelihood == "bernoulli":
            if not per_example:
                return F.binary_cross_entropy_with_logits(out, x, reduction="sum")
            return F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(-1)
        sq = (x - out).square().sum(-1) if per_example else (x - out).square().sum()
        n = x.shape[0] if not per_example else 1
        const = n * self.n_in * (0.5 * LOG_2PI + self.log_sigma)
        return const + sq * torch.exp(-2.0 * self.log_sigma) * 0.5


def kl_to_prior(mu: torch.Tensor, logvar: torch.Tensor, per_example: bool = False) -> torch.Tensor:
    """Analytic KL(N(mu, exp(logvar)) || N(0, I)) in nats: summed over all elements, or
    over the last axis only (one value per example) with ``per_example``."""
    terms = 0.5 * (logvar.exp() + mu.square() - 1.0 - logvar)
    return terms.sum(-1) if per_example else terms.sum()


# -- trainer --------------------------------------------------------------------------
class VAEExperiment(TorchTrainer):
    """Trains a :class:`VAE` with Adam, one minibatch per :meth:`step` (engine.core.trainer
    does the data, shuffles, NaN guard and checkpoints; this class the model and loss).

    Step metrics (train, nats per example): ``loss`` (the optimised objective),
    ``recon``, ``kl``, ``epoch`` (fractional epochs done); every ``eval_every`` steps
    and at each epoch end also ``test_loss``, ``test_recon``, ``test_kl`` on a fixed
    test subset with fixed noise, each with its standard error over the subset's images
    (``test_loss_se``, ...: one draw of z per image, so the images' scatter is the
    figure's whole Monte Carlo and sampling error).
    """

    kind = "vae"
    config_class = VAEConfig
    model: VAE
    architecture = ("latent", "hidden", "likelihood", "learn_sigma")

    def __init__(self, config: VAEConfig | None = None, seed: int | None = 0, dataset=None):
        super().__init__(config, seed, dataset)
        latent = self.config.latent
        self._eval_eps = self.fixed_noise(self.eval_x.shape[0], latent)
        self._prior_z = self.fixed_noise(N_PRIOR, latent)
        self._strip_x = self.test_x[:N_STRIP]
        self._pca: tuple[np.ndarray, np.ndarray] | None = None  # (mean, components)

    def build_model(self) -> VAE:
        c = self.config
        return VAE(self.n_in, c.latent, c.hidden, c.likelihood, c.sigma, c.learn_sigma)

    def batch_loss(self, x: torch.Tensor, y: torch.Tensor):
        n = x.shape[0]
        eps = torch.randn(n, self.config.latent, generator=self.noise, device=x.device)
        out, mu, logvar = self.model(x, eps)
        recon = self.model.neg_log_lik(out, x) / n
        kl = kl_to_prior(mu, logvar) / n
        return self._objective(recon, kl), {"recon": recon, "kl": kl}

    def _objective(self, recon: torch.Tensor, kl: torch.Tensor) -> torch.Tensor:
        mode = self.config.loss_mode
        if mode == "recon":
            return recon
        if mode == "kl":
            return kl
        return recon + self.config.beta * kl

    def test_values(self, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Per-image objective, recon and KL (3, n), nats, for images x (n, D) and the
        standard normal noise eps (n, latent) of their one draw z each."""
        out, mu, logvar = self.model(x, eps)
        recon = self.model.neg_log_lik(out, x, per_example=True)
        kl = kl_to_prior(mu, logvar, per_example=True)
        return torch.stack([self._objective(recon, kl), recon, kl])

    def test_metrics(self) -> dict[str, float]:
        """Objective and its parts on the fixed test subset, nats per example, each with
        its standard error over the images (``*_se``)."""
        per_image = self.test_values(self.eval_x, self._eval_eps).cpu()  # one host sync
        return means_with_se(("test_loss", "test_recon", "test_kl"), per_image)

    def weights_changed(self) -> None:
        self._pca = None

    # -- views ----------------------------------------------------------------------
    @torch.no_grad()
    def snapshot(self) -> dict[str, Any]:
        """Cheap views. Images are float32 (n, H, W) in [0, 1].

        Keys: step, epoch, samples_seen, samples_per_s, device,
        originals and reconstructions (8 fixed test images; reconstructions decode the
        mean code), samples (36 fixed prior draws decoded), sigma (gaussian only).
        """
        m = self.model
        mu, _ = m.encode(self._strip_x)
        snap = super().snapshot()
        snap.update({
            "originals": self.images(self._strip_x),
            "reconstructions": self.images(m.mean_image(m.decode(mu))),
            "samples": self.images(m.mean_image(m.decode(self._prior_z))),
        })
        if m.likelihood == "gaussian":
            snap["sigma"] = float(m.log_sigma.exp())
        return snap

    @torch.no_grad()
    def heavy_snapshot(self) -> dict[str, Any]:
        """Latent means of the test set (up to 10,000) as 2-D points, with labels.

        Keys: latent (n, 2) float32, labels (n,) int64, classes, projection
        ("identity" for a 2-D latent, else "pca"); with PCA (numpy SVD fitted on these
        means) also explained_variance (2,) ratios; with a 2-D latent also manifold, a
        (15 H, 15 W) float32 image of decoded codes on a regular grid spanning the 1st
        to 99th percentile of the means in each axis, and manifold_extent
        (z1_min, z1_max, z2_min, z2_max), the rectangle the image covers (each tile is
        centred on its code). Tile row 0 is the largest z2, column 0 the smallest z1:
        shown with row 0 on top, it lines up with a scatter plot whose y axis points up.
        """
        means = self.encode_images(self.test_x)
        out: dict[str, Any] = {"labels": self.test_labels.copy(),
                               "classes": tuple(self.dataset.classes)}
        if self.config.latent == 2:
            out["latent"] = means.astype(np.float32)
            out["projection"] = "identity"
            out.update(self._manifold(means))
        else:
            center = means.mean(0)
            _, s, vt = np.linalg.svd(means - center, full_matrices=False)
            self._pca = (center, vt[:2].copy())
            out["latent"] = ((means - center) @ vt[:2].T).astype(np.float32)
            out["projection"] = "pca"
            out["explained_variance"] = (s[:2] ** 2 / max((s**2).sum(), 1e-30)).astype(np.float32)
        return out

    def _manifold(self, means: np.ndarray) -> dict[str, Any]:
        lo = np.percentile(means, 1, axis=0)
        hi = np.percentile(means, 99, axis=0)
        hi = np.maximum(hi, lo + 1e-3)
        z1 = np.linspace(lo[0], hi[0], GRID)
        z2 = np.linspace(hi[1], lo[1], GRID)  # top row first
        codes = np.stack(np.meshgrid(z1, z2), -1).reshape(-1, 2)
        h, w = self.shape
        tiles = self.decode_latent(codes).reshape(GRID, GRID, h, w)
        image = tiles.transpose(0, 2, 1, 3).reshape(GRID * h, GRID * w)
        half = (hi - lo) / (GRID - 1) / 2
        extent = (lo[0] - half[0], hi[0] + half[0], lo[1] - half[1], hi[1] + half[1])
        return {"manifold": np.ascontiguousarray(image, dtype=np.float32),
                "manifold_extent": tuple(float(v) for v in extent)}

    def _images(self, flat: torch.Tensor) -> np.ndarray:
        return flat.detach().float().cpu().numpy().reshape(-1, *self.shape)

    # -- latent-space tools ---------------------------------------------------------
    @torch.no_grad()
    def encode_images(self, x) -> np.ndarray:
        """Images (n, H, W) or (n, H*W) in [0, 1] -> latent means (n, latent) float32."""
        if isinstance(x, torch.Tensor):
            x = x.reshape(x.shape[0], -1).to(self.train_x.device, torch.float32)
        else:
            x = as_tensor(np.asarray(x), self.train_x.device)
        mus = [self.model.encode(chunk)[0] for chunk in x.split(4096)]
        return torch.cat(mus).cpu().numpy()

    @torch.no_grad()
    def decode_latent(self, z) -> np.ndarray:
        """Codes -> mean images (n, H, W) float32 in [0, 1].

        ``z`` is (n, latent), or (n, 2) in the PCA plane of :meth:`heavy_snapshot` when
        latent > 2: then the code is ``pca_mean + z @ components`` (the other directions
        sit at the mean of the test codes). The PCA is fitted first if needed.
        """
        z = np.atleast_2d(np.asarray(z, dtype=np.float64))
        latent = self.config.latent
        if z.shape[1] == 2 and latent > 2:
            if self._pca is None:
                self.heavy_snapshot()
            assert self._pca is not None  # heavy_snapshot set it
            center, components = self._pca
            z = center + z @ components
        elif z.shape[1] != latent:
            raise ValueError(f"codes must have {latent} (or 2, PCA plane) columns, "
                             f"got shape {z.shape}")
        zt = torch.as_tensor(z, dtype=torch.float32, device=self.train_x.device)
        return self.images(self.model.mean_image(self.model.decode(zt)))

    def interpolate(self, z_a, z_b, steps: int = 10) -> np.ndarray:
        """Decoded straight path from z_a to z_b (both ends included): (steps, H, W).

        Codes are in the same coordinates as :meth:`decode_latent` accepts."""
        _int_in("steps", steps, 2, 1000)
        t = np.linspace(0.0, 1.0, steps)[:, None]
        z_a = np.asarray(z_a, dtype=np.float64).reshape(1, -1)
        z_b = np.asarray(z_b, dtype=np.float64).reshape(1, -1)
        return self.decode_latent((1 - t) * z_a + t * z_b)

    # -- evaluation ------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, k: int = 100, n: int | None = None) -> dict[str, float]:
        """Test metrics over the full test set (or its first n images), nats per image.

        neg_elbo = recon + kl with beta = 1 (recon averaged over the k draws, kl
        analytic); nll_iw = -log (1/k) sum_k p(x, z_k) / q(z_k|x), the importance-weighted
        bound (Burda et al. 2016): nll_iw <= neg_elbo in expectation, tighter as k
        rises, and -> -log p(x) as k -> infinity. Seeded, so repeatable. Each figure
        comes with its standard error over the images (``neg_elbo_se``, ...).
        """
        _int_in("k", k, 1, 100_000)
        x_all = as_tensor(self.dataset.test_x[:n], self.train_x.device)
        gen = torch.Generator(device=x_all.device).manual_seed(self.seed + 3)
        parts = [self._iw_batch(x, k, gen) for x in x_all.split(max(1, EVAL_ROWS // k))]
        recon, kl, nll_iw = np.concatenate(parts, axis=1)  # per image
        out: dict[str, float] = {}
        for name, v in (("neg_elbo", recon + kl), ("recon", recon), ("kl", kl),
                        ("nll_iw", nll_iw)):
            out[name], out[f"{name}_se"] = mean_se(v)
        return {**out, "k": float(k), "n": float(x_all.shape[0])}

    def _iw_batch(self, x: torch.Tensor, k: int, gen: torch.Generator) -> np.ndarray:
        eps = torch.randn(k, x.shape[0], self.config.latent, generator=gen, device=x.device)
        recon, kl, nll_iw = importance_weighted(self.model, x, eps)
        # Per-image values in float64 on the host (MPS has no float64): (3, b).
        return torch.stack([recon, kl, nll_iw]).cpu().double().numpy()


def importance_weighted(model: VAE, x: torch.Tensor, eps: torch.Tensor):
    """Per-image ``(recon, kl, nll_iw)`` in nats for images ``x`` (b, D) and standard
    normal noise ``eps`` (k, b, latent), the k draws z_k = mu + sigma * eps_k of q(z|x)::

        recon  = -(1/k) sum_k log p(x | z_k)
        kl     = KL(q(z|x) || p(z))                         (analytic, kl_to_prior)
        nll_iw = -log (1/k) sum_k p(x | z_k) p(z_k) / q(z_k | x)
               = log k - logsumexp_k log w_k                (Burda et al. 2016)
    """
    k, b, L = eps.shape
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * eps  # (k, b, L)
    out = model.decode(z.reshape(k * b, L))
    log_px = -model.neg_log_lik(out, x.repeat(k, 1), per_example=True).reshape(k, b)
    log_pz = -0.5 * (z.square() + LOG_2PI).sum(-1)
    log_qz = -0.5 * (eps.square() + LOG_2PI + logvar).sum(-1)
    nll_iw = math.log(k) - torch.logsumexp(log_px + log_pz - log_qz, 0)
    return -log_px.mean(0), kl_to_prior(mu, logvar, per_example=True), nll_iw
