"""Conditional VAE for image completion (the lecture's Figure 14; Sohn, Lee & Yan 2015).

Each image is split by a *mask* into an observed part x and a hidden part y. A model
sees x and predicts y. Tasks (``task_mask``): 1, 2 or 3 observed quadrants as in Sohn
et al. and Pyro's ``examples/cvae`` (``q1``: the bottom-left quadrant is observed;
``q2``: the left half; ``q3``: all but the bottom-right quadrant), the middle column of
pixels (``column``, Doersch's tutorial, the lecture's Figure 14) and any mask the user
draws (``custom``). Observed and hidden pixels partition the image.

Models, with Pyro's wiring (``examples/cvae/baseline.py``, ``cvae.py``)::

    baseline   y_hat = sigmoid(f(x_in))          MLP, x_in = image with hidden pixels at -1
    prior      p(z | x)    = N(mu_p, sigma_p^2)  encoder of x with its hidden pixels filled
                                                 by the (frozen) baseline's y_hat
    recognition q(z | x, y) = N(mu_q, sigma_q^2) the same encoder class, fed the whole image
    generation p(y | z)    = Bernoulli(sigmoid(g(z)))  on the hidden pixels only

Why Pyro's wiring rather than Sohn's (where the generation net also sees x): it is the
wiring behind the published table this chapter is checked against, and an independent
ablation (enhuiz/cvae, importance-sampled NCLL on MNIST) found that feeding x to the
generation net made NCLL worse (79.5 vs 72.3 nats); the baseline's prediction gives the
prior net a filled-in image of the same kind the recognition net sees. The baseline is
trained first (early stopping), then frozen while the CVAE trains.

Losses, per image in nats (targets are grey levels in [0, 1], as in Pyro: the
"Bernoulli" log-likelihood is a cross-entropy)::

    baseline NCLL       = sum over hidden pixels of BCE(y_hat, y)
    -ELBO(x, y)         = E_q[-log p(y|z)] + KL(q(z|x,y) || p(z|x))   (KL analytic)
    IS NCLL (S samples) = -log (1/S) sum_s p(y|z_s) p(z_s|x) / q(z_s|x,y),  z_s ~ q

IS NCLL <= the Monte Carlo -ELBO of the same samples (Jensen), for every image, and
tends to -log p(y|x) as S grows. ``evaluate()`` reports both the 10-particle -ELBO (how
Pyro's table was computed) and the S = 100 IS NCLL.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import checkpoint
from .cvae_tasks import (QUADRANT_TASKS, TASK_LABELS, TASKS, CVAEConfig, check_mask,
                         mask_from_string, mask_to_string, task_mask)
from .runtime import Experiment, MetricStore, NonFiniteError, resolve_device, set_torch_threads

__all__ = [
    "TASKS", "QUADRANT_TASKS", "TASK_LABELS", "task_mask", "mask_to_string", "mask_from_string",
    "CVAEConfig", "CompletionModel", "BaselineTrainer", "CVAETrainer", "CVAEExperiment",
    "hidden_nll", "gaussian_kl", "cvae_bounds", "evaluate_model", "KIND",
]

KIND = "cvae"
LOG_2PI = math.log(2.0 * math.pi)
EVAL_ROWS = 16_384  # decoded rows per chunk in the estimators: bounds memory
N_STRIP = 6  # test images in the Figure 14 strip
VAL_SEED = 20_150_101  # the validation split is the same for every run and seed


# -- networks ----------------------------------------------------------------------------
def _mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
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


@torch.no_grad()
def evaluate_model(model: CompletionModel, images: torch.Tensor, particles: int = 10,
                   is_samples: int = 100, seed: int = 0,
                   progress: Callable[[int, int], None] | None = None) -> dict[str, float]:
    """Mean per-image nats over ``images`` (n, D): baseline NCLL, the CVAE's
    ``particles``-sample -ELBO and its ``is_samples`` IS NCLL. Seeded, so repeatable."""
    model.eval()
    gen = torch.Generator(device=images.device).manual_seed(seed)
    sums = np.zeros(3)
    n = images.shape[0]
    chunk = max(1, EVAL_ROWS // max(particles, is_samples))
    done = 0
    for batch in images.split(chunk):
        base = hidden_nll(model.baseline_logits(batch), batch, model.observed)
        elbo = cvae_bounds(model, batch, particles, gen)["neg_elbo"]
        ncll = cvae_bounds(model, batch, is_samples, gen)["ncll_is"]
        sums += torch.stack([base.sum(), elbo.sum(), ncll.sum()]).double().cpu().numpy()
        done += batch.shape[0]
        if progress is not None:
            progress(done, n)
    base, elbo, ncll = sums / n
    return {"baseline_ncll": float(base), "cvae_neg_elbo": float(elbo),
            "cvae_ncll_is": float(ncll), "particles": particles, "is_samples": is_samples,
            "n": n}


# -- trainers ------------------------------------------------------------------------------
class _EarlyStoppingTrainer(Experiment):
    """Trains some of a :class:`CompletionModel`'s networks with Adam, one minibatch a
    step, measuring a validation loss at each epoch end and stopping after ``patience``
    epochs without improvement; :meth:`finish` puts back the best weights.

    Subclasses give ``_networks()`` (the modules trained), ``_batch_loss(images)``
    (per-image loss terms, the first is the objective) and ``_val_loss()``.
    """

    terms: tuple[str, ...] = ("loss",)

    def __init__(self, model: CompletionModel, config: CVAEConfig, seed: int,
                 train: torch.Tensor, val: torch.Tensor):
        super().__init__(config, seed)
        self.model, self._train, self._val = model, train, val
        self.device = str(train.device)
        self._n = train.shape[0]
        params = [p for net in self._networks() for p in net.parameters()]
        self.optimizer = _adam(params, config.lr)
        self._params = params
        self._noise = torch.Generator(device=train.device).manual_seed(seed + 11)
        self.samples_seen = 0
        self.epochs_done = 0
        self._pos = 0
        self._perm = self._permutation(0)
        self.best_val = math.inf
        self.best_epoch = 0
        self._stale = 0
        self._best_state = self._state()
        self.train_time = 0.0

    def _networks(self) -> list[nn.Module]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _batch_loss(self, images: torch.Tensor) -> list[torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def _val_loss(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def _objective(self, terms: list[torch.Tensor]) -> torch.Tensor:
        """What the optimizer minimises; the first term unless a subclass weighs them."""
        return terms[0]

    def _warmup_epochs(self) -> int:
        return 0

    def _permutation(self, epoch: int) -> torch.Tensor:
        """The shuffle of one epoch: a function of (seed, epoch) only."""
        g = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) % (2**63))
        return torch.randperm(self._n, generator=g).to(self._train.device)

    def _state(self) -> dict[str, torch.Tensor]:
        return {f"{i}.{k}": v.detach().clone() for i, net in enumerate(self._networks())
                for k, v in net.state_dict().items()}

    def _load_state(self, state: dict[str, torch.Tensor]) -> None:
        for i, net in enumerate(self._networks()):
            net.load_state_dict({k.split(".", 1)[1]: v for k, v in state.items()
                                 if k.split(".", 1)[0] == str(i)})

    def _step(self) -> dict[str, float]:
        t0 = time.perf_counter()
        cfg = self.config
        if self.samples_seen == 0 and self.best_epoch == 0 and math.isinf(self.best_val):
            self._end_epoch(initial=True)  # early stopping never ends worse than the start
        stop = min(self._pos + cfg.batch_size, self._n)
        images = self._train.index_select(0, self._perm[self._pos:stop])
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        terms = [t.mean() for t in self._batch_loss(images)]
        self._objective(terms).backward()
        # Check loss and gradients before Adam's step: finite gradients on finite
        # weights give finite weights, so a failure keeps the last good state.
        grads = [p.grad for p in self._params if p.grad is not None]
        gnorm = torch.stack(torch._foreach_norm(grads)).sum()
        values = torch.stack([t.detach() for t in terms] + [gnorm]).tolist()  # one sync
        if not all(map(math.isfinite, values)):
            self.optimizer.zero_grad(set_to_none=True)
            raise NonFiniteError(
                f"the loss or its gradient became non-finite at step {self.steps + 1} with "
                f"lr={cfg.lr:g}; stopped and kept the weights of step {self.steps}. Try a "
                f"smaller learning rate.")
        self.optimizer.step()
        n = stop - self._pos
        self.samples_seen += n
        self._pos = stop
        out = dict(zip(self.terms, values[:-1]))
        if stop == self._n:
            self.epochs_done += 1
            self._pos = 0
            self._perm = self._permutation(self.epochs_done)
            out["val_loss"] = self._end_epoch()
        out["epoch"] = self.samples_seen / self._n
        self.train_time += time.perf_counter() - t0
        return out

    def _end_epoch(self, initial: bool = False) -> float:
        self.model.eval()
        with torch.no_grad():
            val = float(self._val_loss())
        if val < self.best_val:
            self.best_val, self.best_epoch, self._stale = val, self.epochs_done, 0
            self._best_state = self._state()
        elif not initial and self.epochs_done > self._warmup_epochs():
            self._stale += 1
        return val if math.isfinite(val) else 1e30

    @property
    def done(self) -> bool:
        return self.epochs_done >= self.config.epochs or self._stale >= self.config.patience

    @property
    def stopped_early(self) -> bool:
        return self._stale >= self.config.patience

    def finish(self) -> None:
        """Put back the weights of the best validation epoch."""
        self._load_state(self._best_state)

    def position(self) -> dict[str, Any]:
        """Plain data to resume from (checkpoints)."""
        return {"steps": self.steps, "samples_seen": self.samples_seen,
                "epochs_done": self.epochs_done, "best_val": self.best_val,
                "best_epoch": self.best_epoch, "stale": self._stale}

    def restore_position(self, pos: dict[str, Any]) -> None:
        self.steps = int(pos["steps"])
        self.samples_seen = int(pos["samples_seen"])
        self.epochs_done = int(pos["epochs_done"])
        self.best_val, self.best_epoch = float(pos["best_val"]), int(pos["best_epoch"])
        self._stale = int(pos["stale"])
        self._pos = self.samples_seen - self.epochs_done * self._n
        if not 0 <= self._pos < self._n:
            self._pos = 0
        self._perm = self._permutation(self.epochs_done)
        self._best_state = self._state()


class BaselineTrainer(_EarlyStoppingTrainer):
    """The deterministic regressor y ~ f(x): Bernoulli NCLL of the hidden pixels."""

    def _networks(self):
        return [self.model.baseline]

    def _batch_loss(self, images):
        m = self.model
        return [hidden_nll(m.baseline_logits(images), images, m.observed)]

    def _val_loss(self):
        m = self.model
        return float(sum(hidden_nll(m.baseline_logits(b), b, m.observed).sum()
                         for b in self._val.split(4096)) / self._val.shape[0])


class CVAETrainer(_EarlyStoppingTrainer):
    """Prior, recognition and generation networks on the conditional -ELBO (one particle
    per image); the baseline stays frozen. Validation: -ELBO with fixed noise."""

    terms = ("loss", "recon", "kl")

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        g = torch.Generator().manual_seed(self.seed + 12)
        self._val_eps = torch.randn(self._val.shape[0], self.model.latent, generator=g
                                    ).to(self._val.device)

    def _networks(self):
        m = self.model
        return [m.prior_net, m.recognition_net, m.generation_net]

    def _batch_loss(self, images):
        recon, kl = cvae_loss(self.model, images, generator=self._noise)
        return [recon + kl, recon, kl]

    def kl_weight(self) -> float:
        """The KL weight of the next step: min(1, epochs done / kl_warmup)."""
        w = self.config.kl_warmup
        return 1.0 if w == 0 else min(1.0, self.samples_seen / (w * self._n))

    def _objective(self, terms):
        beta = self.kl_weight()
        return terms[0] if beta == 1.0 else terms[1] + beta * terms[2]

    def _warmup_epochs(self) -> int:
        return self.config.kl_warmup

    def _val_loss(self):
        total = 0.0
        for b, eps in zip(self._val.split(4096), self._val_eps.split(4096)):
            recon, kl = cvae_loss(self.model, b, eps=eps)
            total += float((recon + kl).sum())
        return total / self._val.shape[0]


def _adam(params, lr: float) -> torch.optim.Adam:
    """Adam, fused where the device supports it (one pass over the weights)."""
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, ValueError, TypeError):
        return torch.optim.Adam(params, lr=lr)


def _as_tensor(images: np.ndarray, device) -> torch.Tensor:
    flat = np.array(images, dtype=np.float32).reshape(len(images), -1)
    return torch.from_numpy(flat).to(device)


def split_validation(n: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fit, val) of a training set of n images: a fixed random share held out
    for early stopping (never the test set); the same split for every run."""
    n_val = max(1, int(round(n * fraction)))
    if n_val >= n:
        raise ValueError(f"val_fraction leaves no training images ({n} images)")
    perm = np.random.default_rng(VAL_SEED).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


# -- the experiment the page and the CLI run ------------------------------------------------
class CVAEExperiment(Experiment):
    """One task: the baseline trains (early stopping), then the CVAE with it frozen.

    One :meth:`step` is one minibatch of whichever network is training. Metrics per step:
    ``baseline_loss`` or ``cvae_loss`` / ``cvae_recon`` / ``cvae_kl`` (train, nats per
    image), at epoch ends ``baseline_val`` / ``cvae_val`` (validation split), and
    ``epoch`` (fractional epochs of the current network).
    """

    def __init__(self, config: CVAEConfig | None = None, seed: int | None = 0, dataset=None):
        config = (config or CVAEConfig()).validate()
        if seed is None:
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
        self.shape = tuple(int(v) for v in dataset.shape)
        self.observed = task_mask(config.task, self.shape, config.mask or None)
        fit, val = split_validation(len(dataset.train_x), config.val_fraction)
        train_all = np.asarray(dataset.train_x)
        self._fit_x = _as_tensor(train_all[fit], dev)
        self._val_x = _as_tensor(train_all[val], dev)
        self._test_x = _as_tensor(dataset.test_x, dev)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = CompletionModel(self.observed, config.hidden, config.latent,
                                         config.residual).to(dev)
        self.baseline = BaselineTrainer(self.model, config, seed, self._fit_x, self._val_x)
        self.cvae = CVAETrainer(self.model, config, seed + 1, self._fit_x, self._val_x)
        self.phase = "baseline"
        self.n_samples = 4
        self._strip = self._test_x[:N_STRIP]
        self._strip_gen_seed = seed + 21
        self._session_samples = 0
        self._train_time = 0.0

    # -- training --------------------------------------------------------------------------
    @property
    def trainer(self) -> _EarlyStoppingTrainer | None:
        return {"baseline": self.baseline, "cvae": self.cvae}.get(self.phase)

    def _step(self) -> dict[str, float]:
        trainer = self.trainer
        if trainer is None:
            return {}
        t0 = time.perf_counter()
        values = trainer.step()
        prefix = self.phase
        out = {f"{prefix}_{k}" if k not in ("val_loss", "epoch") else
               (f"{prefix}_val" if k == "val_loss" else "epoch"): v for k, v in values.items()}
        if trainer.done:
            trainer.finish()
            self.phase = "cvae" if self.phase == "baseline" else "done"
        self._session_samples += self.config.batch_size
        self._train_time += time.perf_counter() - t0
        return out

    @property
    def done(self) -> bool:
        return self.phase == "done"

    @property
    def samples_per_s(self) -> float:
        return self._session_samples / self._train_time if self._train_time > 0 else math.nan

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
        gen = torch.Generator(device=x.device).manual_seed(self._strip_gen_seed)
        samples = self.model.sample_completions(x, self.n_samples, gen)
        return {
            "step": self.steps, "phase": self.phase, "task": self.config.task,
            "epoch_baseline": self.baseline.samples_seen / self.baseline._n,
            "epoch_cvae": self.cvae.samples_seen / self.cvae._n,
            "samples_per_s": self.samples_per_s, "device": self.device,
            "observed": self.observed.copy(),
            "truth": self._images(x),
            "inputs": self._images(self.model.paste(x, torch.zeros_like(x))),
            "baseline": self._images(self.model.baseline_completion(x)),
            "samples": self._images(samples).reshape(x.shape[0], self.n_samples, *self.shape),
        }

    def _images(self, flat: torch.Tensor) -> np.ndarray:
        return flat.detach().float().cpu().numpy().reshape(-1, *self.shape)

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
             threads: int | None = None) -> "CVAEExperiment":
        """Reopen a checkpoint: same task, weights, metrics and phase (Adam's moments
        restart). ``device``/``threads`` override the saved ones."""
        ckpt = checkpoint.load(path, kind=KIND)
        err = checkpoint.CheckpointError
        extra = ckpt.get("extra") or {}
        try:
            config = CVAEConfig.from_dict(ckpt["config"])
            if device is None:
                try:
                    resolve_device(config.device)
                except ValueError:
                    device = "auto"
            changes = {k: v for k, v in (("device", device), ("threads", threads)) if v is not None}
            config = dataclasses.replace(config, **changes).validate()
        except (TypeError, ValueError) as exc:
            raise err(f"{path}: invalid CVAE config ({exc})") from exc
        exp = cls(config, seed=int(extra.get("seed", 0)), dataset=dataset)
        exp._restore(ckpt, path)
        return exp

    def _restore(self, ckpt: dict, path) -> None:
        err = checkpoint.CheckpointError
        extra = ckpt.get("extra") or {}
        if list(extra.get("shape", [])) != list(self.shape):
            raise err(f"{path}: checkpoint is for {extra.get('shape')} images but "
                      f"{self.dataset.name} has {list(self.shape)}")
        if extra.get("observed") != mask_to_string(self.observed):
            raise err(f"{path}: checkpoint's mask does not match its task")
        state, own = ckpt["state_dict"], self.model.state_dict()
        if set(state) != set(own):
            raise err(f"{path}: checkpoint weights do not fit this model "
                      f"(missing {sorted(set(own) - set(state))[:3]}, "
                      f"unexpected {sorted(set(state) - set(own))[:3]})")
        for name, tensor in state.items():
            if tensor.shape != own[name].shape:
                raise err(f"{path}: checkpoint tensor {name} has shape {tuple(tensor.shape)} "
                          f"but this model has {tuple(own[name].shape)}")
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise err(f"{path}: checkpoint tensor {name} holds NaN or inf")
        phase = extra.get("phase")
        if phase not in ("baseline", "cvae", "done"):
            raise err(f"{path}: checkpoint has an unknown phase {phase!r}")
        try:
            metrics = MetricStore.from_state(ckpt["metrics"])
            positions = (dict(extra["baseline"]), dict(extra["cvae"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise err(f"{path}: checkpoint progress is malformed ({exc})") from exc
        self.model.load_state_dict(state)
        self.metrics = metrics
        self.steps = int(ckpt["step"])
        self.phase = phase
        for trainer, pos in zip((self.baseline, self.cvae), positions):
            trainer.restore_position(pos)


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (float(v) if isinstance(v, float) else v) for k, v in d.items()}
