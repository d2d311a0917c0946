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

Speed: the whole training set lives on the device as one flattened float tensor and
is indexed by a per-epoch permutation (no DataLoader); one step does one forward, one
backward and a single device->host transfer of its metrics.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import checkpoint
from .cli import subcommand
from .params import Config, Param, param
from .runtime import Experiment, Metrics, NonFiniteError, resolve_device, set_torch_threads

__all__ = ["VAEConfig", "VAE", "VAEExperiment", "kl_to_prior", "LIKELIHOODS", "LOSS_MODES"]

LIKELIHOODS = ("bernoulli", "gaussian")
LOSS_MODES = ("elbo", "recon", "kl")
LOG_2PI = math.log(2.0 * math.pi)
N_STRIP = 8  # test images shown with their reconstructions
N_PRIOR = 36  # prior samples decoded for the "samples" view (a 6 x 6 grid)
GRID = 15  # manifold grid size (GRID x GRID decoded codes) for 2-D latents
MAX_LATENT_POINTS = 10_000
EVAL_ROWS = 16_384  # decoded rows per chunk in evaluate(): bounds memory


# -- configuration ----------------------------------------------------------------
@dataclass(frozen=True)
class VAEConfig(Config):
    """Everything that defines a VAE run, each parameter declared once (engine.params):
    its range, label and help give the validation, the CLI flags and the page's widgets.
    Units: lr per Adam step, sizes in units."""

    dataset: str = param("digits", label="Dataset", widget="dataset",
                         help="digits (8×8, bundled) learns in seconds; the MNIST family "
                              "(28×28) needs its files, found on disk or downloaded: "
                              "digits | mnist | fashion-mnist | kmnist | idx:<folder>")
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
    lr: float = param(1e-3, lo=1e-6, hi=10.0, log=True, label="Learning rate",
                      help="Adam step size. Try 10 to see a run fail with a NaN: it stops and "
                           "keeps the last good weights")
    batch_size: int = param(128, lo=1, hi=4096, step=32, label="Batch size",
                            help="Images per step")
    device: str = param("auto", label="Device", widget="device",
                        help="auto | cpu | cuda | cuda:N | mps (auto: a GPU when there is one)")
    epochs: int | None = param(None, lo=1, hi=100_000, optional=True, gui=False, label="Epochs",
                               help="Passes over the training set; None: train until stopped")
    eval_every: int = param(250, lo=1, hi=10**9, gui=False, label="Eval every",
                            help="Steps between test-subset measurements (and at epoch ends)")
    eval_size: int = param(500, lo=1, hi=MAX_LATENT_POINTS, gui=False, label="Eval size",
                           help="First eval_size test images, with fixed noise: cheap, smooth")
    threads: int | None = param(None, lo=1, hi=1024, optional=True, gui=False, label="Threads",
                                help="torch intra-op threads; None leaves torch's setting")


def _int_in(name: str, value, lo: int, hi: int) -> int:
    """An integer argument in [lo, hi], or ValueError naming it."""
    return Param(name=name, kind="int", lo=lo, hi=hi).check(value)


# -- model --------------------------------------------------------------------------
def _mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """MLP encoder -> (mu, logvar); MLP decoder -> Bernoulli logits or Gaussian means."""

    def __init__(self, n_in: int, latent: int = 2, hidden: tuple[int, ...] = (400,),
                 likelihood: str = "bernoulli", sigma: float = 0.1, learn_sigma: bool = False):
        super().__init__()
        self.n_in, self.latent, self.likelihood = n_in, latent, likelihood
        hidden = list(hidden)
        self.encoder = nn.Sequential(_mlp([n_in, *hidden]), nn.ReLU())
        self.mu_head = nn.Linear(hidden[-1], latent)
        self.logvar_head = nn.Linear(hidden[-1], latent)
        self.decoder = _mlp([latent, *hidden[::-1], n_in])
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


def kl_to_prior(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Analytic KL(N(mu, exp(logvar)) || N(0, I)) in nats, summed over all elements."""
    return 0.5 * (logvar.exp() + mu.square() - 1.0 - logvar).sum()


# -- metric history -----------------------------------------------------------------
class _History:
    """Metric columns as growing numpy arrays: a snapshot copies, never rebuilds."""

    def __init__(self):
        self._cols: dict[str, np.ndarray] = {}
        self._n = 0
        self._cap = 0

    def add(self, row: dict[str, float]) -> None:
        if self._n == self._cap:
            self._cap = max(1024, 2 * self._cap)
            for name, col in self._cols.items():
                self._cols[name] = np.concatenate([col, np.full(self._cap - len(col), np.nan)])
        for name, value in row.items():
            col = self._cols.get(name)
            if col is None:
                col = self._cols[name] = np.full(self._cap, np.nan)
            col[self._n] = value
        self._n += 1

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: col[: self._n].copy() for name, col in self._cols.items()}


# -- trainer --------------------------------------------------------------------------
class VAEExperiment(Experiment):
    """Trains a :class:`VAE` with Adam, one minibatch per :meth:`step`.

    Step metrics (train, nats per example): ``loss`` (the optimised objective),
    ``recon``, ``kl``, ``epoch`` (fractional epochs done); every ``eval_every`` steps
    and at each epoch end also ``test_loss``, ``test_recon``, ``test_kl`` on a fixed
    test subset with fixed noise.
    """

    config_class = VAEConfig

    def __init__(self, config: VAEConfig | None = None, seed: int | None = 0, dataset=None):
        config = (config or VAEConfig()).validate()
        if seed is None:  # still reproducible from the checkpoint, which stores it
            seed = int(np.random.SeedSequence().entropy % (2**62))
        super().__init__(config, seed)
        if config.threads is not None:
            set_torch_threads(config.threads)
        self.device = resolve_device(config.device)
        dev = torch.device(self.device)

        if dataset is None:
            from . import data
            dataset = data.load(config.dataset)
        elif dataset.name != config.dataset:
            raise ValueError(f"dataset {dataset.name!r} given but config.dataset is "
                             f"{config.dataset!r}")
        self.dataset = dataset
        self.shape = tuple(dataset.shape)
        n_in = int(np.prod(self.shape))
        self._train_x = _as_tensor(dataset.train_x, dev)
        self._n_train = self._train_x.shape[0]
        self._test_x = _as_tensor(dataset.test_x[:MAX_LATENT_POINTS], dev)
        self._test_y = np.asarray(dataset.test_y[:MAX_LATENT_POINTS], dtype=np.int64)

        with torch.random.fork_rng(devices=[]):  # seed the init without touching global state
            torch.manual_seed(seed)
            self.model = VAE(n_in, config.latent, config.hidden, config.likelihood,
                             config.sigma, config.learn_sigma).to(dev)
        self.optimizer = _adam(self.model, config.lr)

        # Fixed noise (drawn on the CPU: same numbers on every device) for smooth views.
        cpu = torch.Generator().manual_seed(seed + 1)
        n_eval = min(config.eval_size, self._test_x.shape[0])
        self._eval_x = self._test_x[:n_eval]
        self._eval_eps = torch.randn(n_eval, config.latent, generator=cpu).to(dev)
        self._prior_z = torch.randn(N_PRIOR, config.latent, generator=cpu).to(dev)
        self._strip_x = self._test_x[:N_STRIP]
        self._noise = torch.Generator(device=dev).manual_seed(seed + 2)

        self.samples_seen = 0
        self._epoch, self._pos = 0, 0
        self._perm = self._permutation(0)
        self._train_time = 0.0  # wall seconds spent in step(), for samples_per_s
        self._session_samples = 0
        self._history = _History()
        self._pca: tuple[np.ndarray, np.ndarray] | None = None  # (mean, components)

    # -- training ---------------------------------------------------------------
    def _permutation(self, epoch: int) -> torch.Tensor:
        """The shuffle of one epoch: a function of (seed, epoch) only, so resumable."""
        g = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) % (2**63))
        return torch.randperm(self._n_train, generator=g).to(self._train_x.device)

    def step(self) -> dict[str, float]:
        values = super().step()
        self._history.add({"step": float(self.steps), **values})
        return values

    def _step(self) -> dict[str, float]:
        t0 = time.perf_counter()
        cfg = self.config
        stop = min(self._pos + cfg.batch_size, self._n_train)
        x = self._train_x.index_select(0, self._perm[self._pos:stop])
        n = stop - self._pos
        eps = torch.randn(n, cfg.latent, generator=self._noise, device=x.device)

        self.optimizer.zero_grad(set_to_none=True)
        out, mu, logvar = self.model(x, eps)
        recon = self.model.neg_log_lik(out, x) / n
        kl = kl_to_prior(mu, logvar) / n
        loss = self._objective(recon, kl)
        loss.backward()
        # Adam's per-coordinate step is bounded by about lr, so finite gradients on finite
        # weights give finite weights: checking loss and gradient norm before
        # optimizer.step() keeps the last good weights without copying them every step.
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        gnorm = torch.stack(torch._foreach_norm(grads)).sum()
        loss_v, recon_v, kl_v, gnorm_v = torch.stack(
            [loss.detach(), recon.detach(), kl.detach(), gnorm]).tolist()  # the one sync
        if not all(map(math.isfinite, (loss_v, recon_v, kl_v, gnorm_v))):
            self.optimizer.zero_grad(set_to_none=True)
            what = "loss" if not math.isfinite(loss_v) else "gradient"
            raise NonFiniteError(
                f"the {what} became non-finite at step {self.steps + 1} with lr={cfg.lr:g}; "
                f"stopped and kept the weights of step {self.steps}. Try a smaller learning "
                f"rate (e.g. {min(cfg.lr / 10, 1e-3):g}).")
        self.optimizer.step()

        self.samples_seen += n
        self._session_samples += n
        self._pos = stop
        epoch_end = stop == self._n_train
        if epoch_end:
            self._epoch += 1
            self._pos = 0
            self._perm = self._permutation(self._epoch)
        values = {"loss": loss_v, "recon": recon_v, "kl": kl_v,
                  "epoch": self.samples_seen / self._n_train}
        if epoch_end or (self.steps + 1) % cfg.eval_every == 0:
            values.update(self._test_metrics())
        self._train_time += time.perf_counter() - t0
        return values

    def _objective(self, recon: torch.Tensor, kl: torch.Tensor) -> torch.Tensor:
        mode = self.config.loss_mode
        if mode == "recon":
            return recon
        if mode == "kl":
            return kl
        return recon + self.config.beta * kl

    @torch.no_grad()
    def _test_metrics(self) -> dict[str, float]:
        """Objective and its parts on the fixed test subset, nats per example."""
        n = self._eval_x.shape[0]
        out, mu, logvar = self.model(self._eval_x, self._eval_eps)
        recon = self.model.neg_log_lik(out, self._eval_x) / n
        kl = kl_to_prior(mu, logvar) / n
        values = torch.stack([self._objective(recon, kl), recon, kl]).tolist()
        if not all(map(math.isfinite, values)):
            # Measured after the optimizer step, which is committed by now: raising here
            # would desync weights and step count. The next train step fails cleanly.
            return {}
        return dict(zip(("test_loss", "test_recon", "test_kl"), values))

    @property
    def done(self) -> bool:
        epochs = self.config.epochs
        return epochs is not None and self.samples_seen >= epochs * self._n_train

    @property
    def epoch(self) -> float:
        """Fractional epochs done."""
        return self.samples_seen / self._n_train

    @property
    def samples_per_s(self) -> float:
        """Training throughput of this session (wall time inside step(), test evals included)."""
        return self._session_samples / self._train_time if self._train_time > 0 else math.nan

    # -- views ----------------------------------------------------------------------
    @torch.no_grad()
    def snapshot(self) -> dict[str, Any]:
        """Cheap views. Images are float32 (n, H, W) in [0, 1].

        Keys: step, epoch, samples_seen, samples_per_s, device, metrics (column arrays),
        originals and reconstructions (8 fixed test images; reconstructions decode the
        mean code), samples (36 fixed prior draws decoded), sigma (gaussian only).
        """
        m = self.model
        mu, _ = m.encode(self._strip_x)
        snap = {
            "step": self.steps,
            "epoch": self.epoch,
            "samples_seen": self.samples_seen,
            "samples_per_s": self.samples_per_s,
            "device": self.device,
            "metrics": self._history.arrays(),
            "originals": self._images(self._strip_x),
            "reconstructions": self._images(m.mean_image(m.decode(mu))),
            "samples": self._images(m.mean_image(m.decode(self._prior_z))),
        }
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
        means = self.encode_images(self._test_x)
        out: dict[str, Any] = {"labels": self._test_y.copy(),
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
            x = x.reshape(x.shape[0], -1).to(self._train_x.device, torch.float32)
        else:
            x = _as_tensor(np.asarray(x), self._train_x.device)
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
            center, components = self._pca
            z = center + z @ components
        elif z.shape[1] != latent:
            raise ValueError(f"codes must have {latent} (or 2, PCA plane) columns, "
                             f"got shape {z.shape}")
        zt = torch.as_tensor(z, dtype=torch.float32, device=self._train_x.device)
        return self._images(self.model.mean_image(self.model.decode(zt)))

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
        rises, and -> -log p(x) as k -> infinity. Seeded, so repeatable.
        """
        _int_in("k", k, 1, 100_000)
        x_all = _as_tensor(self.dataset.test_x[:n], self._train_x.device)
        gen = torch.Generator(device=x_all.device).manual_seed(self.seed + 3)
        sums = np.zeros(3)  # recon, kl, nll_iw
        for x in x_all.split(max(1, EVAL_ROWS // k)):
            sums += self._iw_batch(x, k, gen)
        recon, kl, nll_iw = sums / x_all.shape[0]
        return {"neg_elbo": recon + kl, "recon": recon, "kl": kl, "nll_iw": nll_iw,
                "k": float(k), "n": float(x_all.shape[0])}

    def _iw_batch(self, x: torch.Tensor, k: int, gen: torch.Generator) -> np.ndarray:
        m = self.model
        b, L = x.shape[0], self.config.latent
        mu, logvar = m.encode(x)
        eps = torch.randn(k, b, L, generator=gen, device=x.device)
        z = mu + torch.exp(0.5 * logvar) * eps  # (k, b, L)
        out = m.decode(z.reshape(k * b, L))
        log_px = -m.neg_log_lik(out, x.repeat(k, 1), per_example=True).reshape(k, b)
        log_pz = -0.5 * (z.square() + LOG_2PI).sum(-1)
        log_qz = -0.5 * (eps.square() + LOG_2PI + logvar).sum(-1)
        nll_iw = math.log(k) - torch.logsumexp(log_px + log_pz - log_qz, 0)
        recon = -log_px.mean(0)
        kl = 0.5 * (logvar.exp() + mu.square() - 1.0 - logvar).sum(-1)
        # Sum per-image values in float64 on the host (MPS has no float64).
        return torch.stack([recon, kl, nll_iw]).cpu().double().sum(1).numpy()

    # -- checkpoints -------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write a checkpoint (weights, Adam state, config, metrics, position) atomically."""
        checkpoint.save(
            path, kind="vae", state_dict=self.model.state_dict(),
            config=self.config.to_dict(), dataset=self.dataset.name, step=self.steps,
            metrics=self.metrics.to_list(),
            extra={"seed": int(self.seed), "samples_seen": int(self.samples_seen),
                   "shape": list(self.shape), "optimizer": self.optimizer.state_dict(),
                   "noise_rng": self._noise.get_state()})

    @classmethod
    def load(cls, path: str | os.PathLike, dataset=None, device: str | None = None,
             threads: int | None = None) -> "VAEExperiment":
        """Resume a saved run: same config, weights, Adam state, metrics and position.

        ``device`` overrides the saved one; if None and the saved device is not
        available here (a GPU run opened on a CPU machine), "auto" is used. ``threads``
        (torch threads) overrides the saved setting when given."""
        ckpt = checkpoint.load(path, kind="vae")
        try:
            config = VAEConfig.from_dict(ckpt["config"])
            if device is None:
                try:
                    resolve_device(config.device)
                except ValueError:  # saved on a GPU machine, opened on another
                    device = "auto"
            if device is not None:
                config = dataclasses.replace(config, device=device)
            if threads is not None:
                config = dataclasses.replace(config, threads=threads)
            config.validate()
        except (TypeError, ValueError) as exc:
            raise checkpoint.CheckpointError(f"{path}: invalid VAE config ({exc})") from exc
        extra = ckpt.get("extra") or {}
        exp = cls(config, seed=int(extra.get("seed", 0)), dataset=dataset)
        exp._restore(ckpt, path, full=True)
        return exp

    def load_weights(self, path: str | os.PathLike) -> None:
        """Put a checkpoint's weights into this model; Adam's moments restart.

        Everything is checked first (kind, architecture, tensor shapes, finiteness): on
        any error a CheckpointError is raised and the running model is untouched."""
        self._restore(checkpoint.load(path, kind="vae"), path, full=False)

    def _restore(self, ckpt: dict, path, full: bool) -> None:
        state = ckpt["state_dict"]
        self._check_compatible(ckpt, path)
        extra = ckpt.get("extra") or {}
        opt_state = extra.get("optimizer") if full else None
        if opt_state is not None:
            self._check_optimizer_state(opt_state, path)
        # Validated: from here on nothing can fail halfway.
        self.model.load_state_dict(state)
        self.optimizer = _adam(self.model, self.config.lr)
        self._pca = None
        if not full:
            return
        if opt_state is not None:
            self.optimizer.load_state_dict(opt_state)
        self.metrics = Metrics.from_list(ckpt["metrics"])
        self._history = _History()
        for row in self.metrics.to_list():
            self._history.add(row)
        self.steps = int(ckpt["step"])
        self.samples_seen = int(extra.get("samples_seen", 0))
        self._epoch, self._pos = divmod(self.samples_seen, self._n_train)
        self._perm = self._permutation(self._epoch)
        rng = extra.get("noise_rng")
        if isinstance(rng, torch.Tensor):
            try:
                self._noise.set_state(rng)
            except (RuntimeError, TypeError):
                pass  # saved on another device type: the noise stream restarts

    def _check_compatible(self, ckpt: dict, path) -> None:
        err = checkpoint.CheckpointError
        cfg = ckpt.get("config")
        if not isinstance(cfg, dict):
            raise err(f"{path}: checkpoint has no VAE config")
        mine = self.config.to_dict()
        for key in ("latent", "hidden", "likelihood", "learn_sigma"):
            theirs = list(cfg[key]) if key == "hidden" and key in cfg else cfg.get(key)
            if theirs != mine[key]:
                raise err(f"{path}: checkpoint has {key}={_fmt(theirs)} but this model "
                          f"has {key}={_fmt(mine[key])}")
        state = ckpt["state_dict"]
        own = self.model.state_dict()
        if set(state) != set(own):
            missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
            raise err(f"{path}: checkpoint weights do not fit this model "
                      f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
        for name, tensor in state.items():
            if tensor.shape != own[name].shape:
                if name == "encoder.0.0.weight":
                    raise err(f"{path}: checkpoint was trained on {ckpt['dataset']} "
                              f"({tensor.shape[1]} pixels per image) but this model uses "
                              f"{self.dataset.name} ({own[name].shape[1]})")
                raise err(f"{path}: checkpoint tensor {name} has shape {tuple(tensor.shape)} "
                          f"but this model has {tuple(own[name].shape)}")
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise err(f"{path}: checkpoint tensor {name} holds NaN or inf")

    def _check_optimizer_state(self, opt_state, path) -> None:
        params = list(self.model.parameters())
        try:
            states = opt_state["state"]
            ok = len(opt_state["param_groups"]) == 1 and \
                len(opt_state["param_groups"][0]["params"]) == len(params)
            for i, s in states.items():
                for key in ("exp_avg", "exp_avg_sq"):
                    ok = ok and s[key].shape == params[int(i)].shape
        except (KeyError, TypeError, IndexError, AttributeError, ValueError):
            ok = False
        if not ok:
            raise checkpoint.CheckpointError(f"{path}: optimizer state does not fit this model")


def _adam(model: nn.Module, lr: float) -> torch.optim.Adam:
    """Adam, fused where the device supports it: one pass over the weights instead of
    about ten, which on the CPU is most of a 784-400-20 step's time."""
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    except (RuntimeError, ValueError, TypeError):
        return torch.optim.Adam(model.parameters(), lr=lr)


def _fmt(value) -> str:
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(str(v) for v in value) + ")"
    return str(value)


def _as_tensor(images: np.ndarray, device) -> torch.Tensor:
    """(n, H, W) or (n, H*W) numpy images -> a flat (n, H*W) float32 tensor on device (a copy)."""
    flat = np.array(images, dtype=np.float32).reshape(len(images), -1)  # read-only input
    return torch.from_numpy(flat).to(device)


# -- command line: python -m engine vae ------------------------------------------------------
def _cli_flags(parser) -> None:
    parser.add_argument("--iw-k", type=int, default=100,
                        help="importance samples for the -log p(x) estimate on the test set "
                             "(default 100)")


def _cli_run(config: VAEConfig, args) -> dict:
    from .cli import load_dataset, run_experiment

    exp = VAEExperiment(config, seed=args.seed, dataset=load_dataset(config, args))
    result = run_experiment(exp, args, "vae", f"vae {config.dataset}")
    result["dataset"] = config.dataset
    result["test"] = exp.evaluate(k=args.iw_k)
    return result


# Headless runs need an end: 5 epochs unless --epochs says otherwise (the GUI trains
# until stopped, the engine's default).
subcommand("vae", VAEExperiment, help="train a variational autoencoder", run=_cli_run,
           flags=_cli_flags, defaults={"epochs": 5})
