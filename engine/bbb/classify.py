"""Bayes by Backprop on images (digits, Fashion-MNIST, MNIST) beside a plain MLP.

Both networks have the same shape (input - hidden... - classes, ReLU) and see the same
minibatch in each :meth:`ClassificationExperiment.step`: the BBB net minimises
``pi_i KL + sum_batch -log p(y | x, w)`` with a categorical likelihood (one weight sample
per step, or local reparameterization), the plain net the cross-entropy, both with Adam.

Test predictions of the BBB net average the class probabilities of S weight samples
(the predictive distribution). Pruning (paper Table 2) removes the lowest-SNR weights
and evaluates the posterior-mean network that remains. Out-of-distribution inputs are
uniform-noise images of the same size, or another dataset's images resized
(digits for Fashion-MNIST); the predictive entropy of the mean distribution
says how sure each net is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.bbb.layers import (
    BayesMLP,
    PlainMLP,
    _histogram,
    elbo_parts,
    kl_weights,
    predictive_entropy,
    pruned,
)
from engine.bbb.options import BBBOptions, make_prior_of
from engine.core import trainer
from engine.core.params import param
from engine.core.trainer import TorchTrainer, TrainingConfig

__all__ = ["ClassifyConfig", "ClassificationExperiment", "PRUNE_FRACTIONS"]

PRUNE_FRACTIONS = (0.0, 0.5, 0.75, 0.9, 0.95, 0.98, 0.99)
EVAL_CHUNK = 2048


@dataclass(frozen=True)
class ClassifyConfig(BBBOptions, TrainingConfig):
    """A BBB classifier run (and its plain twin)."""

    hidden: tuple[int, ...] = param((400, 400), lo=4, hi=4096, length=(1, 4), label="Hidden units",
                                    help="hidden layer sizes of both networks "
                                         "(the paper: 400-1200, 2 layers)")
    pred_samples: int = param(10, lo=1, hi=1000, label="Predictive samples",
                              help="weight samples averaged for a test prediction")
    ood: str = param("noise", choices=("noise", "digits", "mnist", "fashion-mnist", "kmnist"),
                     choice_labels=("uniform noise", "Digits 8×8", "MNIST", "Fashion-MNIST", "KMNIST"),
                     label="Off-data images",
                     help="out-of-distribution inputs: uniform-noise images, or another dataset's "
                          "test images resized to this one's size (e.g. digits for Fashion-MNIST)")
    train_plain: bool = param(True, label="Train the plain MLP", gui=False,
                              help="train the plain twin too (off: BBB alone, for timing)")
    eval_every: int = trainer.eval_every_param(100)
    eval_size: int = trainer.eval_size_param(1000)


class Twin(nn.Module):
    """The two networks of one run: ``bbb`` (a :class:`BayesMLP`) and ``plain``."""

    def __init__(self, sizes: list[int], prior, rho_init: float, seed: int):
        super().__init__()
        self.bbb = BayesMLP(sizes, prior, rho_init, seed=seed)
        self.plain = PlainMLP(sizes, seed=seed)


class ClassificationExperiment(TorchTrainer):
    """A BBB MLP and a plain MLP trained side by side, one minibatch per step.

    The optimised ``loss`` is the sum of the BBB minibatch cost (pi_i KL + NLL, per
    image) and the plain net's cross-entropy: their parameters are disjoint, so Adam
    treats them exactly as two separate optimisers would. Parts recorded each step:
    ``bbb_loss``, ``kl`` (nats, whole net), ``kl_per_example`` (kl / N), ``nll`` (BBB
    cross-entropy per image), ``plain_nll``; every ``eval_every`` steps and at epoch ends
    ``test_error`` and ``plain_test_error`` (%, on the first ``eval_size`` test images).
    """

    kind = "bbb-classify"
    config_class = ClassifyConfig
    model: Twin
    architecture = ("hidden",)

    def __init__(self, config: ClassifyConfig | None = None, seed: int | None = 0, dataset=None):
        super().__init__(config, seed, dataset)
        self.net, self.plain = self.model.bbb, self.model.plain
        self.net.set_noise(self.noise)
        self._ood_x = self._ood_images(self.eval_x.shape[0], self.seed + 3)

    def build_model(self) -> nn.Module:
        cfg = self.config
        return Twin([self.n_in, *cfg.hidden, self.n_classes], make_prior_of(cfg), cfg.rho_init, self.seed)

    def _ood_images(self, n: int, seed: int) -> torch.Tensor:
        """Out-of-distribution inputs, as many as the test subset: uniform noise images, or
        another dataset's test images resized (area interpolation) to this image size."""
        name = self.config.ood
        dev = self.train_x.device
        if name == "noise":
            return torch.rand(n, self.n_in, generator=torch.Generator().manual_seed(seed)).to(dev)
        if name == self.dataset.name:
            raise ValueError(f"ood must differ from the dataset ({name!r} is the training data)")
        from engine.data import datasets as data
        other = data.load(name)
        x = torch.tensor(np.array(other.test_x[:n], dtype=np.float32))[:, None]
        x = F.interpolate(x, size=self.shape, mode="area" if x.shape[-1] > self.shape[-1] else "bilinear")
        return x.reshape(x.shape[0], -1).clamp(0, 1).to(dev)

    # -- training ----------------------------------------------------------------------------
    def batch_loss(self, x: torch.Tensor, y: torch.Tensor):
        cfg = self.config
        m = self.steps_per_epoch
        i = self._pos // cfg.batch_size  # this minibatch's place in the epoch
        pi = float(kl_weights(m, cfg.weighting)[i])
        b = x.shape[0]
        kl, nll = elbo_parts(self.net, x, lambda out: F.cross_entropy(out, y, reduction="sum"),
                             cfg.train_samples, cfg.local_reparam, cfg.kl_method)
        bbb_loss = (pi * kl + nll) / b
        parts = {"bbb_loss": bbb_loss, "kl": kl, "kl_per_example": kl / self.n_train, "nll": nll / b}
        if not cfg.train_plain:
            return bbb_loss, parts
        plain_nll = F.cross_entropy(self.plain(x), y)
        parts["plain_nll"] = plain_nll
        return bbb_loss + plain_nll, parts

    def test_metrics(self) -> dict[str, float]:
        out = {"test_error": _error(self.bbb_probs(self.eval_x), self.eval_y)}
        if self.config.train_plain:
            out["plain_test_error"] = _error(self.plain_probs(self.eval_x)[None], self.eval_y)
        return out

    # -- predictions -------------------------------------------------------------------------
    @torch.no_grad()
    def bbb_probs(self, x: torch.Tensor, samples: int | None = None) -> torch.Tensor:
        """Class probabilities of ``samples`` weight samples: (S, N, K)."""
        samples = samples or self.config.pred_samples
        return torch.cat([torch.softmax(self.net.predict(c, samples), -1) for c in x.split(EVAL_CHUNK)], 1)

    @torch.no_grad()
    def mean_probs(self, x: torch.Tensor) -> torch.Tensor:
        """Probabilities of the posterior-mean network (pruned weights stay zero): (1, N, K)."""
        return torch.cat([torch.softmax(self.net(c, "mean", None)[0], -1) for c in x.split(EVAL_CHUNK)])[None]

    @torch.no_grad()
    def plain_probs(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.softmax(self.plain(c), -1) for c in x.split(EVAL_CHUNK)])

    @torch.no_grad()
    def pruning_curve(self, fractions=PRUNE_FRACTIONS, x=None, y=None) -> np.ndarray:
        """Test error (%) of the posterior-mean net with each fraction of the lowest-SNR
        weights removed: (len(fractions),)."""
        x = self.test_x if x is None else x
        y = self.test_y if y is None else y
        errors = []
        for f in fractions:
            with pruned(self.net, float(f)):
                errors.append(_error(self.mean_probs(x), y))
        return np.array(errors)

    @torch.no_grad()
    def entropies(self, x=None) -> dict[str, np.ndarray]:
        """Predictive entropy (nats) of both nets on test images (``*_test``) and on the
        out-of-distribution images (``*_ood``: noise or another dataset)."""
        x = self.eval_x if x is None else x
        ood = self._ood_x[: x.shape[0]] if x.shape[0] <= self._ood_x.shape[0] else self._ood_x
        out = {}
        for name, data in (("test", x), ("ood", ood)):
            out[f"bbb_{name}"] = predictive_entropy(self.bbb_probs(data)).cpu().numpy()
            out[f"plain_{name}"] = predictive_entropy(self.plain_probs(data)[None]).cpu().numpy()
        return out

    # -- views ---------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Cheap views: step, epoch, samples_seen, samples_per_s, device, n_train,
        max_entropy (log K, the entropy of a uniform guess)."""
        snap = super().snapshot()
        snap.update(n_train=self.n_train, max_entropy=math.log(self.n_classes))
        return snap

    @torch.no_grad()
    def heavy_snapshot(self) -> dict[str, Any]:
        """Pruning curve on the test subset (``prune_fractions``, ``prune_error`` %),
        predictive entropies on test and noise images (``entropy`` dict of arrays), and
        the weights panel (``sigma_hist``, ``snr_hist`` of log10 values)."""
        mu, sigma = self.net.weight_stats()
        return {"prune_fractions": np.array(PRUNE_FRACTIONS),
                "prune_error": self.pruning_curve(x=self.eval_x, y=self.eval_y),
                "entropy": self.entropies(),
                "sigma_hist": _histogram(sigma), "snr_hist": _histogram(np.abs(mu) / sigma),
                "n_weights": int(mu.size)}

    def evaluate(self) -> dict[str, float]:
        """Full test set, errors in %: BBB (S-sample predictive), BBB posterior mean,
        plain; the pruning curve; mean predictive entropies on test and noise images."""
        probs = self.bbb_probs(self.test_x)
        out = {"test_error": _error(probs, self.test_y),
               "mean_net_error": _error(self.mean_probs(self.test_x), self.test_y),
               "n_test": float(self.test_x.shape[0]), "epochs": self.epoch,
               "weights": float(self.net.weight_stats()[0].size)}
        if self.config.train_plain:  # an untrained plain net's error would mislead
            out["plain_test_error"] = _error(self.plain_probs(self.test_x)[None], self.test_y)
        for f, e in zip(PRUNE_FRACTIONS, self.pruning_curve(), strict=False):
            out[f"pruned_{round(100 * f)}_error"] = float(e)
        for k, v in self.entropies().items():
            out[f"entropy_{k}"] = float(v.mean())
        return out

def _error(probs: torch.Tensor, y: torch.Tensor) -> float:
    """Error in % of the mean of (S, N, K) probabilities."""
    return 100.0 * float((probs.mean(0).argmax(-1) != y).float().mean())


