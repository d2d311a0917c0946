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
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.bbb.config import ClassifyConfig
from engine.bbb.draws import WithError, entropy_with_se, error_with_se, percent_se
from engine.bbb.layers import (
    BayesMLP,
    PlainMLP,
    _histogram,
    elbo_parts,
    kl_weights,
    predictive_entropy,
    pruned,
)
from engine.bbb.options import make_prior_of
from engine.core.trainer import TorchTrainer

__all__ = ["ClassifyConfig", "ClassificationExperiment", "PRUNE_FRACTIONS"]

PRUNE_FRACTIONS = (0.0, 0.5, 0.75, 0.9, 0.95, 0.98, 0.99)
EVAL_CHUNK = 2048


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
        """Errors (%) on the test subset, each with its standard error (``*_se``: test
        images and weight draws together, :mod:`engine.bbb.draws`; ``test_error_draws_se``
        the draws' part alone; BBB's are left out with one draw: no spread to measure)."""
        bbb = error_with_se(self.bbb_probs(self.eval_x), self.eval_y)
        out = {"test_error": bbb.value}
        if math.isfinite(bbb.draws_se):  # non-finite values would void the measurement
            out.update(test_error_se=bbb.se, test_error_draws_se=bbb.draws_se)
        if self.config.train_plain:
            plain = error_with_se(self.plain_probs(self.eval_x)[None], self.eval_y, sampled=False)
            out.update(plain_test_error=plain.value, plain_test_error_se=plain.se)
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
        return self.entropy_figures(x)[0]

    @torch.no_grad()
    def entropy_figures(self, x=None) -> tuple[dict[str, np.ndarray], dict[str, WithError]]:
        """:meth:`entropies` and, under the same keys, their means over the images with
        their standard errors (over the images; for BBB over the weight draws too)."""
        x = self.eval_x if x is None else x
        ood = self._ood_x[: x.shape[0]] if x.shape[0] <= self._ood_x.shape[0] else self._ood_x
        per_image, means = {}, {}
        for name, data in (("test", x), ("ood", ood)):
            for who, probs, sampled in (("bbb", self.bbb_probs(data), True),
                                        ("plain", self.plain_probs(data)[None], False)):
                per_image[f"{who}_{name}"] = predictive_entropy(probs).cpu().numpy()
                means[f"{who}_{name}"] = entropy_with_se(probs, sampled=sampled)
        return per_image, means

    # -- views ---------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Cheap views: step, epoch, samples_seen, samples_per_s, device, n_train,
        max_entropy (log K, the entropy of a uniform guess)."""
        snap = super().snapshot()
        snap.update(n_train=self.n_train, max_entropy=math.log(self.n_classes),
                    n_eval=int(self.eval_x.shape[0]), pred_samples=self.config.pred_samples)
        return snap

    @torch.no_grad()
    def heavy_snapshot(self) -> dict[str, Any]:
        """Pruning curve on the test subset (``prune_fractions``, ``prune_error`` % and its
        standard error over the images ``prune_error_se``), predictive entropies on test
        and noise images (``entropy`` dict of arrays; ``entropy_mean`` the same keys ->
        (mean, SE over draws, SE over images)), and the weights panel (``sigma_hist``,
        ``snr_hist`` of log10 values)."""
        mu, sigma = self.net.weight_stats()
        prune = self.pruning_curve(x=self.eval_x, y=self.eval_y)
        per_image, means = self.entropy_figures()
        return {"prune_fractions": np.array(PRUNE_FRACTIONS), "prune_error": prune,
                "prune_error_se": percent_se(prune, self.eval_x.shape[0]),
                "entropy": per_image,
                "entropy_mean": {k: (v.value, v.draws_se, v.images_se) for k, v in means.items()},
                "sigma_hist": _histogram(sigma), "snr_hist": _histogram(np.abs(mu) / sigma),
                "n_weights": int(mu.size)}

    def evaluate(self) -> dict[str, float]:
        """Full test set, errors in %: BBB (S-sample predictive), BBB posterior mean,
        plain; the pruning curve; mean predictive entropies on test and noise images.
        Each figure ``f`` comes with ``f_se``, its standard error (test images and, for
        the S-sample figures, weight draws: :mod:`engine.bbb.draws`); the S-sample ones
        also with ``f_draws_se``, the draws' part."""
        n = self.test_x.shape[0]
        out: dict[str, float] = {"n_test": float(n), "epochs": self.epoch,
                                 "weights": float(self.net.weight_stats()[0].size)}
        figures = {"test_error": error_with_se(self.bbb_probs(self.test_x), self.test_y),
                   "mean_net_error": error_with_se(self.mean_probs(self.test_x), self.test_y,
                                                   sampled=False)}
        if self.config.train_plain:  # an untrained plain net's error would mislead
            figures["plain_test_error"] = error_with_se(self.plain_probs(self.test_x)[None],
                                                        self.test_y, sampled=False)
        prune = self.pruning_curve()
        for f, e, se in zip(PRUNE_FRACTIONS, prune, percent_se(prune, n), strict=True):
            key = f"pruned_{round(100 * f)}_error"
            out[key], out[f"{key}_se"] = float(e), float(se)
        figures.update({f"entropy_{k}": v for k, v in self.entropy_figures()[1].items()})
        for name, fig in figures.items():
            out[name], out[f"{name}_se"] = fig.value, fig.se
            if fig.draws_se > 0:
                out[f"{name}_draws_se"] = fig.draws_se
        return out

def _error(probs: torch.Tensor, y: torch.Tensor) -> float:
    """Error in % of the mean of (S, N, K) probabilities."""
    return 100.0 * float((probs.mean(0).argmax(-1) != y).float().mean())


