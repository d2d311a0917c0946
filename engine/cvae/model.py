"""Conditional VAE for image completion (the lecture's Figure 14; Sohn, Lee & Yan 2015).

Each image is split by a *mask* into an observed part x and a hidden part y. A model
sees x and predicts y. Tasks (``task_mask``): 1, 2 or 3 observed quadrants as in Sohn
et al. and Pyro's ``examples/cvae`` (``q1``: the bottom-left quadrant is observed;
``q2``: the left half; ``q3``: all but the bottom-right quadrant), the middle column of
pixels (``column``, Doersch's tutorial, the lecture's Figure 14) and any mask the user
draws (``custom``). Observed and hidden pixels partition the image.

Models, with Pyro's wiring (``examples/cvae/baseline.py``, ``cvae.py``)::

    baseline    y_hat = sigmoid(f(x_in))          MLP, x_in = image with hidden pixels at -1
    prior       p(z | x)    = N(mu_p, sigma_p^2)  encoder of x with its hidden pixels filled
                                                  by the (frozen) baseline's y_hat
    recognition q(z | x, y) = N(mu_q, sigma_q^2)  the same encoder class, fed the whole image
    generation  p(y | x, z) = Bernoulli(sigmoid(f(x_in) + g(z)))   (``residual``, default)
           or   p(y | z)    = Bernoulli(sigmoid(g(z)))              (Pyro's, residual=False)

only the hidden pixels count in every likelihood.

Why Pyro's wiring rather than Sohn's (where the generation net sees x through its own
input): it is the wiring behind the published table this chapter is checked against,
and an independent ablation (enhuiz/cvae, importance-sampled NCLL on MNIST) found that
feeding x to the generation net made NCLL worse (79.5 vs 72.3 nats). The baseline is
trained first (early stopping), then frozen while the CVAE trains. One change by
default, ``residual``: the generation net adds g(z) to the frozen baseline's logits,
with g's last layer starting at zero, so the CVAE starts exactly as the baseline and z
has to carry only what the baseline cannot. Pyro's p(y|z) must rebuild from z alone
what x already tells, and on small data (8x8 digits: 1,300 training images) it ends
above the baseline's NCLL on 2 and 3 quadrants; with ``residual`` it does not. KL
warm-up (``kl_warmup``) lets z be used before the KL can switch it off.

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

import dataclasses
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.cli import subcommand
from engine.core import checkpoint, trainer
from engine.core.params import Config, param
from engine.core.runtime import Experiment, MetricStore
from engine.core.trainer import TorchTrainer
from engine.cvae.tasks import QUADRANT_TASKS, TASK_LABELS, TASKS, mask_from_string, mask_to_string, task_mask
from engine.data.datasets import Dataset

__all__ = [
    "TASKS", "QUADRANT_TASKS", "TASK_LABELS", "task_mask", "mask_to_string", "mask_from_string",
    "CVAEConfig", "CompletionModel", "BaselineTrainer", "CVAETrainer", "CVAEExperiment",
    "hidden_nll", "gaussian_kl", "cvae_loss", "cvae_bounds", "Evaluation", "evaluate_model",
    "NCLLTable", "split_validation", "KIND",
]

KIND = "cvae"
LOG_2PI = math.log(2.0 * math.pi)
EVAL_ROWS = 2048  # decoded rows per evaluation chunk: bounds memory and a GUI step's time
N_STRIP = 6  # test images in the Figure 14 strip
VAL_SEED = 20_150_101  # the validation split is the same for every run and seed


# -- configuration --------------------------------------------------------------------------
@dataclass(frozen=True)
class CVAEConfig(Config):
    """One completion task on one dataset: the baseline and the CVAE trained for it.
    Sizes default to Pyro's (500-500 hidden units, z = 200; Adam 1e-3, batch 128,
    patience 3)."""

    dataset: str = trainer.dataset_param()
    task: str = param("q1", choices=TASKS, choice_labels=tuple(TASK_LABELS[t] for t in TASKS),
                      label="Observed part",
                      help="q1/q2/q3: observed quadrants (Sohn et al., Pyro); column: the middle "
                           "column (the lecture's Figure 14); custom: a mask you draw")
    hidden: tuple[int, ...] = param((500, 500), lo=8, hi=4096, length=(1, 4),
                                    label="Hidden sizes", help="units per hidden layer of every "
                                                               "network (Pyro: 500,500)")
    latent: int = param(200, lo=1, hi=512, label="Latent dim", help="size of z (Pyro: 200)")
    residual: bool = param(True, label="Generation sees baseline",
                           help="p(y|x,z) = Bernoulli(sigmoid(baseline logits(x) + g(z))); off: "
                                "Pyro's p(y|z) = Bernoulli(sigmoid(g(z)))")
    kl_warmup: int = param(0, lo=0, hi=10_000, label="KL warm-up (epochs)",
                           help="the CVAE's KL weight rises linearly from 0 to 1 over these "
                                "epochs (against posterior collapse); early stopping waits for it")
    patience: int = param(3, lo=1, hi=1000, label="Patience",
                          help="epochs without a better validation loss before a network stops")
    val_fraction: float = param(1 / 12, lo=0.01, hi=0.5, decimals=3, label="Validation share",
                                gui=False, help="share of the training set held out for early "
                                                "stopping (never the test set)")
    particles: int = param(10, lo=1, hi=10_000, label="ELBO particles", gui=False,
                           help="samples of z in the reported negative conditional ELBO (Pyro: 10)")
    is_samples: int = param(100, lo=1, hi=100_000, label="IS samples", gui=False,
                            help="importance samples S of the NCLL estimate (Sohn et al.: 100)")
    lr: float = trainer.lr_param()
    batch_size: int = trainer.batch_size_param()
    device: str = trainer.device_param()
    epochs: int | None = trainer.epochs_param(
        help="Epochs per network at most; None: until early stopping ends it")
    eval_every: int = trainer.eval_every_param(10**9)  # validation runs at epoch ends
    eval_size: int = trainer.eval_size_param()
    threads: int | None = trainer.threads_param()
    mask: str = ""  # the custom task's observed pixels (mask_to_string); "" otherwise

    def validate(self) -> CVAEConfig:
        super().validate()
        if not isinstance(self.mask, str):
            raise ValueError(f"mask must be a '0'/'1' string, got {type(self.mask).__name__}")
        if self.task == "custom" and not self.mask:
            raise ValueError("mask must be given for the custom task")
        return self


# -- networks ----------------------------------------------------------------------------
def _mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class GaussianEncoder(nn.Module):
    """An image (n, D) -> mean and log-variance of a diagonal Gaussian over z."""

    def __init__(self, n_in: int, hidden: tuple[int, ...], latent: int):
        super().__init__()
        self.body = nn.Sequential(_mlp([n_in, *hidden]), nn.ReLU())
        self.mu = nn.Linear(hidden[-1], latent)
        self.logvar = nn.Linear(hidden[-1], latent)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.mu(h), self.logvar(h)


class CompletionModel(nn.Module):
    """The baseline regressor and the CVAE's three networks for one mask.

    ``observed`` is a float (D,) buffer, 1 where the pixel is part of x. Every method
    takes flat images (n, D) in [0, 1]; only their observed pixels are ever read,
    except by :meth:`recognition`, which is the one network allowed to see y."""

    def __init__(self, observed: np.ndarray, hidden: tuple[int, ...] = (500, 500),
                 latent: int = 200, residual: bool = True):
        super().__init__()
        self.residual = bool(residual)
        obs = np.asarray(observed, dtype=bool).ravel()
        d = obs.size
        self.n_pixels, self.latent = d, int(latent)
        self.register_buffer("observed", torch.as_tensor(obs, dtype=torch.float32))
        hidden = tuple(int(h) for h in hidden)
        self.baseline = _mlp([d, *hidden, d])
        self.prior_net = GaussianEncoder(d, hidden, latent)
        self.recognition_net = GaussianEncoder(d, hidden, latent)
        self.generation_net = _mlp([latent, *hidden[::-1], d])
        if self.residual:  # start as the baseline: g(z) = 0, so the CVAE begins at its NCLL
            nn.init.zeros_(self.generation_net[-1].weight)
            nn.init.zeros_(self.generation_net[-1].bias)

    # -- pieces --------------------------------------------------------------------------
    def net_input(self, images: torch.Tensor) -> torch.Tensor:
        """x as the networks see it: observed pixels kept, hidden ones set to -1 (Pyro)."""
        obs = self.observed
        return images * obs - (1.0 - obs)

    def baseline_logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.baseline(self.net_input(images))

    def prior(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """p(z|x): x with its hidden pixels filled by the baseline's (frozen) prediction."""
        with torch.no_grad():
            y_hat = torch.sigmoid(self.baseline_logits(images))
        obs = self.observed
        return self.prior_net(images * obs + y_hat * (1.0 - obs))

    def recognition(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x, y): x with its hidden pixels filled by the true y, i.e. the whole image."""
        return self.recognition_net(images)

    def generate(self, z: torch.Tensor, base: torch.Tensor | None) -> torch.Tensor:
        """p(y|x, z): Bernoulli logits for every pixel (only hidden ones are used).

        ``base`` is :meth:`base_logits` of the inputs (any shape broadcasting against
        the output); with ``residual`` the logits are base + g(z), else g(z) alone."""
        out = self.generation_net(z)
        return out + base if self.residual else out

    def base_logits(self, images: torch.Tensor) -> torch.Tensor | None:
        """The frozen baseline's logits the generation net adds to (None if not residual)."""
        if not self.residual:
            return None
        with torch.no_grad():
            return self.baseline_logits(images)

    # -- completions ---------------------------------------------------------------------
    def paste(self, images: torch.Tensor, hidden_values: torch.Tensor) -> torch.Tensor:
        """Observed pixels from ``images``, hidden ones from ``hidden_values``."""
        obs = self.observed
        return images * obs + hidden_values * (1.0 - obs)

    @torch.no_grad()
    def baseline_completion(self, images: torch.Tensor) -> torch.Tensor:
        return self.paste(images, torch.sigmoid(self.baseline_logits(images)))

    @torch.no_grad()
    def sample_completions(self, images: torch.Tensor, n: int,
                           generator: torch.Generator | None = None) -> torch.Tensor:
        """(b, D) inputs -> (b, n, D): n draws z ~ p(z|x), each shown as its mean image
        on the hidden pixels (as in Pyro's and the lecture's figures)."""
        mu, logvar = self.prior(images)
        eps = torch.randn(n, *mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps  # (n, b, L)
        y = torch.sigmoid(self.generate(z, self.base_logits(images)))
        return self.paste(images.unsqueeze(0), y).transpose(0, 1)


# -- losses and estimators ---------------------------------------------------------------
def hidden_nll(logits: torch.Tensor, target: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """-log p(y|.) per image: BCE summed over the hidden pixels only; shape logits[:-1]."""
    bce = F.binary_cross_entropy_with_logits(logits, target.expand_as(logits), reduction="none")
    return (bce * (1.0 - observed)).sum(-1)


def gaussian_kl(mu_q, logvar_q, mu_p, logvar_p) -> torch.Tensor:
    """KL(N(mu_q, e^logvar_q) || N(mu_p, e^logvar_p)) per row, summed over the last axis."""
    return 0.5 * (logvar_p - logvar_q
                  + (logvar_q.exp() + (mu_q - mu_p).square()) / logvar_p.exp() - 1.0).sum(-1)


def _log_normal(z, mu, logvar) -> torch.Tensor:
    return -0.5 * (LOG_2PI + logvar + (z - mu).square() / logvar.exp()).sum(-1)


def cvae_loss(model: CompletionModel, images: torch.Tensor, eps: torch.Tensor | None = None,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One-particle training loss: (recon, kl) per image, -ELBO = recon + kl."""
    mu_q, lv_q = model.recognition(images)
    mu_p, lv_p = model.prior(images)
    if eps is None:
        eps = torch.randn(mu_q.shape, generator=generator, device=mu_q.device)
    z = mu_q + torch.exp(0.5 * lv_q) * eps
    recon = hidden_nll(model.generate(z, model.base_logits(images)), images, model.observed)
    return recon, gaussian_kl(mu_q, lv_q, mu_p, lv_p)


@torch.no_grad()
def cvae_bounds(model: CompletionModel, images: torch.Tensor, samples: int,
                generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Per-image estimates from ``samples`` draws z_s ~ q(z|x, y), shared by all:

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
    return {
        "neg_elbo": nll.mean(0) + gaussian_kl(mu_q, lv_q, mu_p, lv_p),
        "neg_elbo_mc": -log_w.mean(0),
        "ncll_is": math.log(samples) - torch.logsumexp(log_w, 0),
    }


class Evaluation:
    """Test-set nats per image, accumulated chunk by chunk (so a GUI run can show
    progress): baseline NCLL, the ``particles``-sample -ELBO and the ``is_samples`` IS
    NCLL. Seeded and chunked the same way every time, so repeatable."""

    def __init__(self, model: CompletionModel, images: torch.Tensor, particles: int = 10,
                 is_samples: int = 100, seed: int = 0):
        self.model, self.images = model, images
        self.particles, self.is_samples = int(particles), int(is_samples)
        self.n = images.shape[0]
        self.done = 0
        self._sums = np.zeros(3)
        self._gen = torch.Generator(device=images.device).manual_seed(seed)
        self._chunk = max(1, EVAL_ROWS // max(self.particles, self.is_samples))

    @property
    def finished(self) -> bool:
        return self.done >= self.n

    @torch.no_grad()
    def step(self) -> None:
        """Evaluate the next chunk of images."""
        m = self.model
        m.eval()
        batch = self.images[self.done:self.done + self._chunk]
        base = hidden_nll(m.baseline_logits(batch), batch, m.observed)
        elbo = cvae_bounds(m, batch, self.particles, self._gen)["neg_elbo"]
        ncll = cvae_bounds(m, batch, self.is_samples, self._gen)["ncll_is"]
        # Sum per-image values in float64 on the host (MPS has no float64).
        self._sums += torch.stack([base.sum(), elbo.sum(), ncll.sum()]).double().cpu().numpy()
        self.done += batch.shape[0]

    def result(self) -> dict[str, float]:
        base, elbo, ncll = self._sums / max(self.done, 1)
        return {"baseline_ncll": float(base), "cvae_neg_elbo": float(elbo),
                "cvae_ncll_is": float(ncll), "particles": self.particles,
                "is_samples": self.is_samples, "n": self.done}


def evaluate_model(model: CompletionModel, images: torch.Tensor, particles: int = 10,
                   is_samples: int = 100, seed: int = 0,
                   progress: Callable[[int, int], None] | None = None) -> dict[str, float]:
    """All of :class:`Evaluation` at once; ``progress(done, n)`` after each chunk."""
    ev = Evaluation(model, images, particles, is_samples, seed)
    while not ev.finished:
        ev.step()
        if progress is not None:
            progress(ev.done, ev.n)
    return ev.result()


# -- trainers ------------------------------------------------------------------------------
class _CompletionTrainer(TorchTrainer):
    """A :class:`TorchTrainer` for some networks of a shared :class:`CompletionModel`,
    with early stopping: a validation loss at each epoch end (on a split carved from the
    training set), stopping after ``patience`` epochs without improvement;
    :meth:`finish` puts back the weights of the best epoch. Subclasses name the trained
    networks and the loss."""

    kind = KIND
    config_class = CVAEConfig
    architecture = ("task", "hidden", "latent", "residual", "mask")

    def __init__(self, config=None, seed: int | None = 0, dataset=None, *,
                 model: CompletionModel | None = None, val_x: torch.Tensor | None = None):
        self._given_model = model
        super().__init__(config, seed, dataset)
        self.val_x = self.eval_x if val_x is None else val_x.to(self.train_x.device)
        self.best_val = math.inf
        self.best_epoch = 0
        self.stale = 0
        self._started = False
        self._best_state = self._state()

    def build_model(self) -> CompletionModel:
        if self._given_model is not None:
            return self._given_model
        cfg = self.config
        return CompletionModel(task_mask(cfg.task, self.shape, cfg.mask or None), cfg.hidden,
                               cfg.latent, cfg.residual)

    def share_data(self, other: TorchTrainer) -> None:
        """Use ``other``'s device copy of the same data (one copy in memory, not two)."""
        for name in ("train_x", "train_y", "test_x", "test_y", "eval_x", "eval_y"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine.shape != theirs.shape:
                raise ValueError(f"share_data: {name} differs ({tuple(mine.shape)} vs "
                                 f"{tuple(theirs.shape)})")
            setattr(self, name, theirs)

    def networks(self) -> list[nn.Module]:  # pragma: no cover - abstract
        raise NotImplementedError

    def val_loss(self) -> float:  # pragma: no cover - abstract
        """Mean per-image loss on the validation split (under no_grad)."""
        raise NotImplementedError

    def make_optimizer(self) -> torch.optim.Optimizer:
        """Adam over this trainer's networks only: the other networks stay as they are."""
        params = [p for net in self.networks() for p in net.parameters()]
        try:
            return torch.optim.Adam(params, lr=self.config.lr, fused=True)
        except (RuntimeError, ValueError, TypeError):
            return torch.optim.Adam(params, lr=self.config.lr)

    def _state(self) -> list[dict[str, torch.Tensor]]:
        return [{k: v.detach().clone() for k, v in net.state_dict().items()}
                for net in self.networks()]

    def _step(self) -> dict[str, float]:
        if not self._started:  # so early stopping never ends worse than it started
            self._started = True
            self._validate(initial=True)
        self.model.train()
        epochs_before = self._epoch
        values = super()._step()
        if self._epoch != epochs_before:
            values["val_loss"] = self._validate()
        return values

    def _validate(self, initial: bool = False) -> float:
        self.model.eval()
        with torch.no_grad():
            val = float(self.val_loss())
        if val < self.best_val:
            self.best_val, self.best_epoch, self.stale = val, self._epoch, 0
            self._best_state = self._state()
        elif not initial and self._epoch > self.warmup_epochs():
            self.stale += 1
        return val if math.isfinite(val) else 1e30

    def warmup_epochs(self) -> int:
        return 0

    @property
    def done(self) -> bool:
        return super().done or self.stopped_early

    @property
    def stopped_early(self) -> bool:
        return self.stale >= self.config.patience

    @property
    def epochs_done(self) -> int:
        return self._epoch

    def finish(self) -> None:
        """Put back the weights of the best validation epoch."""
        for net, state in zip(self.networks(), self._best_state, strict=False):
            net.load_state_dict(state)

    def position(self) -> dict[str, Any]:
        """Plain data to resume from (the composite's checkpoints)."""
        return {"steps": self.steps, "samples_seen": self.samples_seen,
                "best_val": float(self.best_val), "best_epoch": self.best_epoch,
                "stale": self.stale, "started": self._started}

    def restore_position(self, pos: dict[str, Any]) -> None:
        self.steps = int(pos["steps"])
        self.samples_seen = int(pos["samples_seen"])
        self.best_val, self.best_epoch = float(pos["best_val"]), int(pos["best_epoch"])
        self.stale, self._started = int(pos["stale"]), bool(pos["started"])
        self._epoch, self._pos = divmod(self.samples_seen, self.n_train)
        self._perm = self._permutation(self._epoch)
        self._best_state = self._state()  # the checkpoint holds the weights to go on from
        self.optimizer = self.make_optimizer()


class BaselineTrainer(_CompletionTrainer):
    """The deterministic regressor y ~ f(x): Bernoulli NCLL of the hidden pixels."""

    def networks(self):
        return [self.model.baseline]

    def batch_loss(self, x, y):
        m = self.model
        return hidden_nll(m.baseline_logits(x), x, m.observed).mean(), {}

    def val_loss(self):
        m = self.model
        return float(sum(hidden_nll(m.baseline_logits(b), b, m.observed).sum()
                         for b in self.val_x.split(4096)) / self.val_x.shape[0])


class CVAETrainer(_CompletionTrainer):
    """Prior, recognition and generation networks on the conditional -ELBO (one particle
    per image; with KL warm-up, recon + beta KL); the baseline stays frozen. Parts
    recorded: ``neg_elbo``, ``recon``, ``kl``. Validation: -ELBO with fixed noise."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self._val_eps = self.fixed_noise(self.val_x.shape[0], self.model.latent)

    def networks(self):
        m = self.model
        return [m.prior_net, m.recognition_net, m.generation_net]

    def kl_weight(self) -> float:
        """The KL weight of the next step: min(1, epochs done / kl_warmup)."""
        w = self.config.kl_warmup
        return 1.0 if w == 0 else min(1.0, self.samples_seen / (w * self.n_train))

    def warmup_epochs(self) -> int:
        return self.config.kl_warmup

    def batch_loss(self, x, y):
        recon, kl = cvae_loss(self.model, x, generator=self.noise)
        recon, kl = recon.mean(), kl.mean()
        return recon + self.kl_weight() * kl, {"neg_elbo": recon + kl, "recon": recon, "kl": kl}

    def val_loss(self):
        total = 0.0
        for b, eps in zip(self.val_x.split(4096), self._val_eps.split(4096), strict=False):
            recon, kl = cvae_loss(self.model, b, eps=eps)
            total += float((recon + kl).sum())
        return total / self.val_x.shape[0]


def split_validation(n: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fit, val) of a training set of n images: a fixed random share held out
    for early stopping (never the test set); the same split for every run and seed."""
    n_val = max(1, int(round(n * fraction)))
    if n_val >= n:
        raise ValueError(f"val_fraction leaves no training images ({n} images)")
    perm = np.random.default_rng(VAL_SEED).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


# -- the experiment the page and the CLI run ------------------------------------------------
class CVAEExperiment(Experiment):
    """One task: the baseline trains (early stopping), then the CVAE with it frozen.

    One :meth:`step` is one minibatch of whichever network is training (its
    :class:`BaselineTrainer` or :class:`CVAETrainer`, sharing one model and one copy of
    the data). Metrics per step: ``baseline_loss`` or ``cvae_loss`` (the objective),
    ``cvae_neg_elbo`` / ``cvae_recon`` / ``cvae_kl`` (train, nats per image); at epoch
    ends ``baseline_val`` / ``cvae_val`` (validation split); ``epoch`` (fractional
    epochs of the network training).
    """

    config_class = CVAEConfig

    def __init__(self, config: CVAEConfig | None = None, seed: int | None = 0, dataset=None):
        config = (config or CVAEConfig()).validate()
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**62))
        super().__init__(config, int(seed))
        if dataset is None:
            from engine.data import datasets as data
            dataset = data.load(config.dataset)
        self.dataset = dataset
        fit, val = split_validation(len(dataset.train_x), config.val_fraction)
        train_x = np.asarray(dataset.train_x)
        fit_set = Dataset(dataset.name, train_x[fit], np.asarray(dataset.train_y)[fit],
                          dataset.test_x, dataset.test_y, dataset.shape, dataset.classes,
                          dataset.source)
        self.baseline = BaselineTrainer(config, self.seed, fit_set,
                                        val_x=torch.from_numpy(_flat(train_x[val])))
        self.model: CompletionModel = self.baseline.model
        self.cvae = CVAETrainer(config, self.seed + 1, fit_set, model=self.model,
                                val_x=self.baseline.val_x)
        self.cvae.share_data(self.baseline)
        self.device = self.baseline.device
        self.shape = self.baseline.shape
        self.observed = self.model.observed.bool().cpu().numpy().reshape(self.shape)
        self.phase = "baseline"
        self.n_samples = 4
        self._test_x = self.baseline.test_x
        self._strip = self._test_x[:N_STRIP]
        self._strip_seed = self.seed + 21

    # -- training --------------------------------------------------------------------------
    @property
    def trainer(self) -> _EarlyStoppingTrainer | None:
        return {"baseline": self.baseline, "cvae": self.cvae}.get(self.phase)

    def _step(self) -> dict[str, float]:
        trainer = self.trainer
        if trainer is None:
            return {}
        values = trainer.step()
        prefix = self.phase
        out = {("epoch" if k == "epoch" else f"{prefix}_val" if k == "val_loss" else
                f"{prefix}_{k}"): v for k, v in values.items()}
        if trainer.done:
            trainer.finish()
            self.phase = "cvae" if self.phase == "baseline" else "done"
        return out

    @property
    def done(self) -> bool:
        return self.phase == "done"

    @property
    def samples_per_s(self) -> float:
        """Training throughput of this session over both networks (images per second)."""
        parts = [(t._session_samples, t._train_time) for t in (self.baseline, self.cvae)]
        seconds = sum(p[1] for p in parts)
        return sum(p[0] for p in parts) / seconds if seconds > 0 else math.nan

    @property
    def total_steps(self) -> int | None:
        """Steps if neither network stops early (None without an epoch limit)."""
        b, c = self.baseline.total_steps, self.cvae.total_steps
        return None if b is None else b + c

    # -- views -----------------------------------------------------------------------------
    def set_samples(self, n: int) -> None:
        """How many CVAE samples the strip shows per input."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= 32:
            raise ValueError(f"n_samples must be an integer from 1 to 32, got {n!r}")
        self.n_samples = int(n)

    @torch.no_grad()
    def snapshot(self) -> dict[str, Any]:
        """Cheap views: phase, counters and the Figure 14 strip for N_STRIP test images:
        ``inputs`` (n, H, W), ``baseline`` (n, H, W), ``samples`` (n, n_samples, H, W),
        ``truth`` (n, H, W), ``observed`` (H, W) bool. Completions keep the observed
        pixels; samples use fixed noise, so they change only as the model learns."""
        self.model.eval()
        x = self._strip
        gen = torch.Generator(device=x.device).manual_seed(self._strip_seed)
        samples = self.model.sample_completions(x, self.n_samples, gen)
        return {
            "step": self.steps, "phase": self.phase, "task": self.config.task,
            "epoch_baseline": self.baseline.epoch, "epoch_cvae": self.cvae.epoch,
            "samples_per_s": self.samples_per_s, "device": self.device,
            "observed": self.observed.copy(),
            "truth": self._images(x),
            "inputs": self._images(self.model.paste(x, torch.zeros_like(x))),
            "baseline": self._images(self.model.baseline_completion(x)),
            "samples": self._images(samples).reshape(x.shape[0], self.n_samples, *self.shape),
        }

    def _images(self, flat: torch.Tensor) -> np.ndarray:
        return self.baseline.images(flat)

    @torch.no_grad()
    def complete(self, image, n: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
        """Completions of one (H, W) image (only its observed pixels are read):
        ``baseline`` (H, W) and ``samples`` (n, H, W), z ~ p(z|x) with a seeded draw."""
        img = np.array(image, dtype=np.float32)  # a copy: torch may not share read-only memory
        if img.shape != self.shape:
            raise ValueError(f"image must have shape {self.shape}, got {img.shape}")
        if not np.isfinite(img).all() or img.min() < 0 or img.max() > 1:
            raise ValueError("image pixels must be finite and in [0, 1]")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= 64:
            raise ValueError(f"n must be an integer from 1 to 64, got {n!r}")
        self.model.eval()
        x = torch.from_numpy(img.reshape(1, -1)).to(self._test_x.device)
        gen = torch.Generator(device=x.device).manual_seed(int(seed))
        return {"baseline": self._images(self.model.baseline_completion(x))[0],
                "samples": self._images(self.model.sample_completions(x, n, gen)[0])}

    def test_image(self, index: int) -> np.ndarray:
        """Test image ``index`` as (H, W) float32 (to start a drawing from)."""
        index = int(index) % self._test_x.shape[0]
        return self._images(self._test_x[index:index + 1])[0]

    # -- evaluation ------------------------------------------------------------------------
    def evaluate(self, n: int | None = None,
                 progress: Callable[[int, int], None] | None = None) -> dict[str, float]:
        """Test-set nats per image (the first n test images, or all): ``baseline_ncll``,
        ``cvae_neg_elbo`` (config.particles samples), ``cvae_ncll_is`` (config.is_samples
        importance samples from q(z|x, y)), with the epochs each network trained."""
        x = self._test_x if n is None else self._test_x[:n]
        out = evaluate_model(self.model, x, self.config.particles, self.config.is_samples,
                             seed=self.seed + 3, progress=progress)
        return self.evaluate_entry(out)

    def evaluate_entry(self, out: dict[str, Any]) -> dict[str, Any]:
        """An evaluation result with the task, dataset and the epochs each network trained."""
        out = dict(out)
        out.update(task=self.config.task, dataset=self.dataset.name,
                   baseline_epochs=self.baseline.epochs_done,
                   baseline_best_epoch=self.baseline.best_epoch,
                   cvae_epochs=self.cvae.epochs_done, cvae_best_epoch=self.cvae.best_epoch,
                   baseline_val=self.baseline.best_val, cvae_val=self.cvae.best_val)
        return out

    # -- checkpoints -----------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """One file with both networks, the task (and its mask), metrics and progress."""
        checkpoint.save(
            path, kind=KIND, state_dict=self.model.state_dict(), config=self.config.to_dict(),
            dataset=self.dataset.name, step=self.steps, metrics=self.metrics.state(),
            extra={"seed": int(self.seed), "phase": self.phase, "shape": list(self.shape),
                   "observed": mask_to_string(self.observed),
                   "baseline": _plain(self.baseline.position()),
                   "cvae": _plain(self.cvae.position())})

    @classmethod
    def load(cls, path: str | os.PathLike, dataset=None, device: str | None = None,
             threads: int | None = None) -> CVAEExperiment:
        """Reopen a checkpoint: same task, weights, metrics and phase (Adam's moments
        restart). ``device``/``threads`` override the saved ones."""
        ckpt = checkpoint.load(path, kind=KIND)
        config = BaselineTrainer.config_from_checkpoint(ckpt, path, device=device,
                                                        threads=threads)
        extra = ckpt.get("extra") or {}
        exp = cls(config, seed=int(extra.get("seed", 0)), dataset=dataset)
        exp._restore(ckpt, path)
        return exp

    @classmethod
    def peek(cls, path: str | os.PathLike, device: str | None = None):
        """``(config, info)`` of a CVAE checkpoint, cheaply (``checkpoint.peek``: no
        model, no dataset); ``info.extra`` has seed, phase, shape. CheckpointError for a
        file :meth:`load` would refuse on its face."""
        info = checkpoint.peek(path, kind=KIND)
        return BaselineTrainer.config_from_checkpoint({"config": info.config}, path,
                                                      device=device), info

    def _restore(self, ckpt: dict, path) -> None:
        err = checkpoint.CheckpointError
        self.baseline._check_compatible(ckpt, path)  # architecture, image size, tensors
        extra = ckpt.get("extra") or {}
        if extra.get("observed") != mask_to_string(self.observed):
            raise err(f"{path}: checkpoint's mask does not match its task")
        phase = extra.get("phase")
        if phase not in ("baseline", "cvae", "done"):
            raise err(f"{path}: checkpoint has an unknown phase {phase!r}")
        try:
            metrics = MetricStore.from_state(ckpt["metrics"])
            positions = (dict(extra["baseline"]), dict(extra["cvae"]))
            for pos in positions:
                for key in ("steps", "samples_seen", "best_val", "best_epoch", "stale", "started"):
                    float(pos[key])
        except (KeyError, TypeError, ValueError) as exc:
            raise err(f"{path}: checkpoint progress is malformed ({exc})") from exc
        # Validated: from here on nothing can fail halfway.
        self.model.load_state_dict(ckpt["state_dict"])
        self.metrics = metrics
        self.steps = int(ckpt["step"])
        self.phase = phase
        for t, pos in zip((self.baseline, self.cvae), positions, strict=False):
            t.restore_position(pos)


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (float(v) if isinstance(v, float) else v) for k, v in d.items()}


def _flat(images: np.ndarray) -> np.ndarray:
    return np.array(images, dtype=np.float32).reshape(len(images), -1)


# -- the NCLL table: several tasks, trained where needed, then evaluated ---------------------
class NCLLTable(Experiment):
    """Fills the NCLL table for ``tasks`` (default 1, 2, 3 quadrants) on one dataset.

    Each task's networks come from ``checkpoints[task]`` (a file the page saved) or, if
    there is none, are trained here to their early stop; then the test set is evaluated
    chunk by chunk. One :meth:`step` is one training minibatch or one evaluation chunk,
    so a GUI run shows progress and can stop at any time. ``rows`` holds each finished
    task's :meth:`CVAEExperiment.evaluate` entry."""

    def __init__(self, config: CVAEConfig | None = None, seed: int | None = 0, dataset=None,
                 checkpoints: dict[str, str] | None = None,
                 tasks: tuple[str, ...] = QUADRANT_TASKS, n_test: int | None = None):
        config = (config or CVAEConfig()).validate()
        super().__init__(config, seed)
        for task in tasks:
            if task not in TASKS or task == "custom":
                raise ValueError(f"tasks must be among {TASKS[:4]}, got {task!r}")
        if dataset is None:
            from engine.data import datasets as data
            dataset = data.load(config.dataset)
        self.dataset, self.tasks = dataset, tuple(tasks)
        self.checkpoints = dict(checkpoints or {})
        self.n_test = n_test
        self.rows: dict[str, dict[str, Any]] = {}
        self.trained: dict[str, bool] = {}
        self._index = 0
        self._exp: CVAEExperiment | None = None
        self._eval: Evaluation | None = None
        self.device = "cpu"

    @property
    def task(self) -> str | None:
        return self.tasks[self._index] if self._index < len(self.tasks) else None

    def _open(self, task: str) -> CVAEExperiment:
        path = self.checkpoints.get(task)
        if path:
            exp = CVAEExperiment.load(path, dataset=self.dataset, device=self.config.device,
                                      threads=self.config.threads)
            if exp.config.task != task:
                raise ValueError(f"{path} holds the {exp.config.task} task, not {task}")
        else:
            exp = CVAEExperiment(dataclasses.replace(self.config, task=task), seed=self.seed,
                                 dataset=self.dataset)
        self.trained[task] = not exp.done
        self.device = exp.device
        return exp

    def _step(self) -> dict[str, float]:
        task = self.task
        if task is None:
            return {}
        if self._exp is None:
            self._exp = self._open(task)
        exp = self._exp
        if not exp.done:
            exp.step()
        elif self._eval is None:
            x = exp._test_x if self.n_test is None else exp._test_x[:self.n_test]
            self._eval = Evaluation(exp.model, x, exp.config.particles, exp.config.is_samples,
                                    seed=exp.seed + 3)
        else:
            self._eval.step()
            if self._eval.finished:
                row = exp.evaluate_entry(self._eval.result())
                row["trained_here"] = self.trained[task]
                self.rows[task] = row
                self._exp, self._eval = None, None
                self._index += 1
        return {"progress": self.progress}

    @property
    def progress(self) -> float:
        """Share of the work done, in [0, 1]: training counts 70% of a task, evaluation 30%."""
        if self.task is None:
            return 1.0
        within = 0.0
        if self._exp is not None:
            total = self._exp.total_steps
            train = 1.0 if self._exp.done else (self._exp.steps / total if total else 0.0)
            ev = self._eval.done / self._eval.n if self._eval is not None else 0.0
            within = (0.7 * min(train, 1.0) + 0.3 * ev) if self.trained.get(self.task) else ev
        return (self._index + within) / len(self.tasks)

    @property
    def done(self) -> bool:
        return self.task is None

    def snapshot(self) -> dict[str, Any]:
        stage = "done"
        if self.task is not None:
            if self._exp is None or (self._eval is None and not self._exp.done):
                what = f"training {self.task}"
                if self._exp is not None:
                    what += f" ({self._exp.phase}, epoch {self._exp.trainer.epoch:.1f})" \
                        if self._exp.trainer is not None else ""
                stage = what
            else:
                stage = f"evaluating {self.task}"
        return {"step": self.steps, "progress": self.progress, "stage": stage,
                "rows": {k: dict(v) for k, v in self.rows.items()}}

    def evaluate(self) -> dict[str, Any]:
        return {k: dict(v) for k, v in self.rows.items()}


# -- command line: python -m engine cvae -----------------------------------------------------
def _cli_flags(parser) -> None:
    parser.add_argument("--quadrants", default=None,
                        help="observed quadrants: 1, 2 or 3, or several such as 1,2,3 (each "
                             "trains its own pair of networks; overrides --task)")


def _cli_tasks(config: CVAEConfig, quadrants: str | None) -> list[str]:
    """--quadrants 1,2,3 -> ["q1", "q2", "q3"]; without it, the config's task."""
    if not quadrants:
        return [config.task]
    out = []
    for part in str(quadrants).split(","):
        part = part.strip()
        if part not in ("1", "2", "3"):
            raise ValueError(f"quadrants must be 1, 2 or 3 (comma separated), got {part!r}")
        out.append(f"q{part}")
    return out


def _rate(net) -> float | None:
    """A trainer's training images per second this session (None if it never trained)."""
    return net._session_samples / net._train_time if net._train_time > 0 else None


def _cli_run(config: CVAEConfig, args) -> dict:
    """Train baseline + CVAE for each task; evaluate each on the test set (nats/image)."""
    from pathlib import Path

    from engine.cli import evaluate, load_dataset, run_experiment

    tasks = _cli_tasks(config, args.quadrants)
    dataset = load_dataset(config, args)
    out, results = args.out, []
    for task in tasks:
        exp = CVAEExperiment(dataclasses.replace(config, task=task), seed=args.seed,
                             dataset=dataset)
        if out and len(tasks) > 1:  # one file per task: NAME-q1.pt, NAME-q2.pt, ...
            path = Path(out)
            args.out = str(path.with_name(f"{path.stem}-{task}{path.suffix or '.pt'}"))
        run = run_experiment(exp, args, "cvae", f"cvae {config.dataset} {task}")
        t0 = time.perf_counter()
        entry = evaluate(exp, args, f"cvae {config.dataset} {task}")
        entry.update(train_seconds=run["seconds"], eval_seconds=time.perf_counter() - t0,
                     steps=exp.steps, samples_per_s=exp.samples_per_s,
                     # each network's own rate: the baseline is far cheaper per image
                     **{f"{net}_samples_per_s": _rate(getattr(exp, net))
                        for net in ("baseline", "cvae")})
        for key in ("checkpoint", "checkpoint_error"):
            if key in run:
                entry[key] = run[key]
        if not args.quiet:
            print(f"{task}: baseline {entry['baseline_ncll']:.2f}  CVAE -ELBO "
                  f"{entry['cvae_neg_elbo']:.2f}  IS NCLL {entry['cvae_ncll_is']:.2f} nats/image "
                  f"({entry['baseline_epochs']}+{entry['cvae_epochs']} epochs, "
                  f"{run['seconds']:.0f} s)", file=sys.stderr)
        results.append(entry)
    args.out = out
    return {"chapter": "cvae", "dataset": config.dataset, "config": config.to_dict(),
            "device": exp.device, "results": results}


# Headless runs need an end: at most 20 epochs per network (early stopping usually
# ends sooner); the GUI trains until early stopping ends it.
subcommand("cvae", CVAEExperiment, run=_cli_run, flags=_cli_flags, exclude=("mask",),
           defaults={"epochs": 20},
           help="complete partly hidden images: baseline regressor vs conditional VAE")
