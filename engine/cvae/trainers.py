"""The two early-stopping trainers (baseline, then CVAE) sharing one CompletionModel."""
from __future__ import annotations

import math
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from engine.core.nets import adam
from engine.core.trainer import TorchTrainer
from engine.cvae.config import KIND, CVAEConfig, scaled_free_bits
from engine.cvae.losses import cvae_terms, free_bits_kl, hidden_nll
from engine.cvae.networks import CompletionModel
from engine.cvae.tasks import task_mask

VAL_SEED = 20_150_101  # the validation split is the same for every run and seed


class _CompletionTrainer(TorchTrainer):
    """A :class:`TorchTrainer` for some networks of a shared :class:`CompletionModel`,
    with early stopping: a validation loss at each epoch end (on a split carved from the
    training set), stopping after ``patience`` epochs without a better one;
    :meth:`finish` puts back the weights of the best epoch. Subclasses name the trained
    networks and the loss.

    The starting weights are measured too and kept if no epoch beats them (training never
    ends worse than it began), but patience counts against the best *trained* epoch only.
    The residual CVAE starts exactly at the baseline's optimum and its first epochs, which
    learn to spend KL, can sit just above it: counted against the start, 3 such epochs
    stopped the 3-quadrant CVAE of seed 1 with its untrained weights."""

    kind = KIND
    config_class = CVAEConfig
    model: CompletionModel
    architecture = ("task", "hidden", "latent", "residual", "mask")

    def __init__(self, config=None, seed: int | None = 0, dataset=None, *,
                 model: CompletionModel | None = None, val_x: torch.Tensor | None = None):
        self._given_model = model
        super().__init__(config, seed, dataset)
        self.val_x = self.eval_x if val_x is None else val_x.to(self.train_x.device)
        self.best_val = math.inf  # the best validation loss, the start included
        self.best_epoch = 0
        self.trained_best = math.inf  # the best of the trained epochs: what patience counts against
        self.stale = 0
        self._started = False
        self._best_state = self._state()

    def build_model(self) -> CompletionModel:
        if self._given_model is not None:
            return self._given_model
        cfg = self.config
        shape = cast(tuple[int, int], self.shape)  # images are (H, W)
        return CompletionModel(task_mask(cfg.task, shape, cfg.mask or None), cfg.hidden,
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
        return adam((p for net in self.networks() for p in net.parameters()), self.config.lr)

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
            self.best_val, self.best_epoch = val, self._epoch
            self._best_state = self._state()
        if initial:
            return val
        if val < self.trained_best:
            self.trained_best, self.stale = val, 0
        elif self._epoch > self.warmup_epochs():
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
                "trained_best": float(self.trained_best), "stale": self.stale,
                "started": self._started}

    def restore_position(self, pos: dict[str, Any]) -> None:
        self.steps = int(pos["steps"])
        self.samples_seen = int(pos["samples_seen"])
        self.best_val, self.best_epoch = float(pos["best_val"]), int(pos["best_epoch"])
        self.stale, self._started = int(pos["stale"]), bool(pos["started"])
        # Files from before trained_best: a best found by training is the trained best;
        # a best that is still the start leaves it unknown (the next epoch sets it).
        default = self.best_val if self.best_epoch > 0 else math.inf
        self.trained_best = float(pos.get("trained_best", default))
        self._epoch, self._pos = divmod(self.samples_seen, self.n_train)
        self._perm = self._permutation(self._epoch)

    def weights_changed(self) -> None:
        """The loaded weights are the ones to go on from (and the best so far); Adam restarts."""
        self._best_state = self._state()
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
    per image) with free bits: recon + beta * free_bits_kl (beta rises during KL
    warm-up; ``free_bits`` nats per image: the config's, scaled to the mask's hidden
    share); the baseline stays frozen. Parts recorded: ``neg_elbo``, ``recon``, ``kl``
    (the true KL, nats per image). Validation, with fixed noise: the same objective
    (early stopping judges what is optimised; with free_bits = 0 it is the -ELBO), and
    ``val_kl`` at each epoch end."""

    def __init__(self, *args, **kw):
        self.last_val_kl = math.nan
        super().__init__(*args, **kw)
        self._val_eps = self.fixed_noise(self.val_x.shape[0], self.model.latent)
        cfg = self.config
        hidden_share = float(1.0 - self.model.observed.mean())
        self.free_bits = scaled_free_bits(cfg.free_bits, hidden_share, cfg.free_bits_scaling)

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
        recon, kl_dims = cvae_terms(self.model, x, generator=self.noise)
        recon, kl = recon.mean(), kl_dims.sum(-1).mean()
        loss = recon + self.kl_weight() * free_bits_kl(kl_dims, self.free_bits)
        return loss, {"neg_elbo": recon + kl, "recon": recon, "kl": kl}

    def val_loss(self):
        recon, kl_dims = 0.0, 0.0
        for b, eps in zip(self.val_x.split(4096), self._val_eps.split(4096), strict=False):
            r, k = cvae_terms(self.model, b, eps=eps)
            recon, kl_dims = recon + float(r.sum()), kl_dims + k.sum(0)
        n = self.val_x.shape[0]
        kl_dims = kl_dims / n  # (L,): each coordinate's mean KL over the validation split
        self.last_val_kl = float(kl_dims.sum())
        return recon / n + float(free_bits_kl(kl_dims[None], self.free_bits))

    def _step(self) -> dict[str, float]:
        values = super()._step()
        if "val_loss" in values:
            values["val_kl"] = self.last_val_kl
        return values


def split_validation(n: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fit, val) of a training set of n images: a fixed random share held out
    for early stopping (never the test set); the same split for every run and seed."""
    n_val = max(1, int(round(n * fraction)))
    if n_val >= n:
        raise ValueError(f"val_fraction leaves no training images ({n} images)")
    perm = np.random.default_rng(VAL_SEED).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])
