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
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .. import checkpoint
from ..params import param
from ..runtime import Experiment, resolve_device, set_torch_threads
from .layers import BayesMLP, PlainMLP, _adam, _histogram, kl_weights, predictive_entropy, pruned
from .options import BBBOptions, make_prior_of

__all__ = ["ClassifyConfig", "ClassificationExperiment", "PRUNE_FRACTIONS"]

PRUNE_FRACTIONS = (0.0, 0.5, 0.75, 0.9, 0.95, 0.98, 0.99)
EVAL_CHUNK = 2048


@dataclass(frozen=True)
class ClassifyConfig(BBBOptions):
    """A BBB classifier run (and its plain twin)."""

    dataset: str = param("digits", label="Dataset", help="digits | mnist | fashion-mnist | kmnist | idx:<folder>")
    hidden: tuple[int, ...] = param((400, 400), lo=4, hi=4096, length=(1, 4), label="Hidden units",
                                    help="hidden layer sizes of both networks (the paper: 400-1200, 2 layers)")
    lr: float = param(1e-3, lo=1e-6, hi=1.0, log=True, label="Learning rate", help="Adam step size")
    batch_size: int = param(128, lo=1, hi=8192, label="Batch size", help="images per minibatch")
    epochs: int | None = param(None, lo=1, hi=100_000, optional=True, label="Epochs",
                               help="stop after this many epochs (None: until stopped)")
    pred_samples: int = param(10, lo=1, hi=1000, label="Predictive samples",
                              help="weight samples averaged for a test prediction")
    eval_every: int = param(100, lo=1, hi=10**9, label="Test every", help="steps between test-subset errors")
    ood: str = param("noise", label="Off-data images",
                     help="out-of-distribution inputs: 'noise' (uniform pixels) or a dataset name "
                          "(resized to this one's image size, e.g. digits for Fashion-MNIST)")
    eval_size: int = param(1000, lo=10, hi=100_000, label="Test subset", help="test images measured while training")
    train_plain: bool = param(True, label="Train the plain MLP", gui=False,
                              help="train the plain twin too (off: BBB alone, for timing)")
    device: str = param("auto", label="Device", help="auto | cpu | cuda | cuda:N | mps", gui=False)
    threads: int | None = param(None, lo=1, hi=1024, optional=True, gui=False,
                                help="torch threads (None: leave torch's setting)")


class ClassificationExperiment(Experiment):
    """A BBB MLP and a plain MLP trained side by side, one minibatch per step.

    Step metrics: ``loss`` (BBB minibatch cost per image), ``kl`` (nats, whole net),
    ``kl_per_example`` (kl / N), ``nll`` (BBB cross-entropy per image),
    ``plain_nll``, ``epoch``; every ``eval_every`` steps and at epoch ends also
    ``test_error`` and ``plain_test_error`` (%, on the first ``eval_size`` test images).
    """

    config_class = ClassifyConfig

    def __init__(self, config: ClassifyConfig | None = None, seed: int | None = 0, dataset=None):
        config = (config or ClassifyConfig()).validate()
        seed = 0 if seed is None else int(seed)
        super().__init__(config, seed)
        if config.threads is not None:
            set_torch_threads(config.threads)
        self.device = resolve_device(config.device)
        dev = self._dev = torch.device(self.device)
        if dataset is None:
            from .. import data
            dataset = data.load(config.dataset)
        elif dataset.name != config.dataset:
            raise ValueError(f"dataset {dataset.name!r} given but config.dataset is {config.dataset!r}")
        self.dataset = dataset
        self.shape = tuple(dataset.shape)
        self._train_x = _flat(dataset.train_x, dev)
        self._train_y = torch.tensor(np.array(dataset.train_y), dtype=torch.long, device=dev)
        self._test_x = _flat(dataset.test_x, dev)
        self._test_y = torch.tensor(np.array(dataset.test_y), dtype=torch.long, device=dev)
        self.n_train = self._train_x.shape[0]
        self.n_classes = len(dataset.classes)
        sizes = [self._train_x.shape[1], *config.hidden, self.n_classes]
        self.net = BayesMLP(sizes, make_prior_of(config), config.rho_init, seed=seed).to(dev)
        self.plain = PlainMLP(sizes, seed=seed).to(dev)
        self.optimizer = _adam(self.net.parameters(), config.lr)
        self.plain_optimizer = _adam(self.plain.parameters(), config.lr)
        self._noise = torch.Generator(device=dev).manual_seed(seed + 1)
        self.net.set_noise(self._noise)
        self._perm_gen = torch.Generator().manual_seed(seed + 2)
        n_eval = min(config.eval_size, self._test_x.shape[0])
        self._eval_x, self._eval_y = self._test_x[:n_eval], self._test_y[:n_eval]
        self._ood_x = self._ood_images(n_eval, seed + 3)
        self.samples_seen = 0
        self._epoch, self._batch = 0, 0
        self._perm = self._permutation()
        self._train_time, self._session_samples = 0.0, 0

    def _ood_images(self, n: int, seed: int) -> torch.Tensor:
        """Out-of-distribution inputs, as many as the test subset: uniform noise images, or
        another dataset's test images resized (area interpolation) to this image size."""
        name = self.config.ood
        if name == "noise":
            return torch.rand(n, self._train_x.shape[1], generator=torch.Generator().manual_seed(seed)).to(self._dev)
        if name == self.dataset.name:
            raise ValueError(f"ood must differ from the dataset ({name!r} is the training data)")
        from .. import data
        other = data.load(name)
        x = torch.tensor(np.array(other.test_x[:n], dtype=np.float32))[:, None]
        x = F.interpolate(x, size=self.shape, mode="area" if x.shape[-1] > self.shape[-1] else "bilinear")
        return x.reshape(x.shape[0], -1).clamp(0, 1).to(self._dev)

    # -- training ----------------------------------------------------------------------------
    @property
    def batches_per_epoch(self) -> int:
        return -(-self.n_train // self.config.batch_size)

    @property
    def total_steps(self) -> int | None:
        e = self.config.epochs
        return None if e is None else e * self.batches_per_epoch

    def _permutation(self) -> torch.Tensor:
        return torch.randperm(self.n_train, generator=self._perm_gen).to(self._dev)

    def _step(self) -> dict[str, float]:
        t0 = time.perf_counter()
        cfg = self.config
        m, i = self.batches_per_epoch, self._batch
        idx = self._perm[i * cfg.batch_size:(i + 1) * cfg.batch_size]
        x, y = self._train_x[idx], self._train_y[idx]
        b = x.shape[0]
        pi = float(kl_weights(m, cfg.weighting)[i])
        mode = "local" if cfg.local_reparam else "sample"
        kl, nll = 0.0, 0.0
        for _ in range(cfg.train_samples):
            out, k = self.net(x, mode, cfg.kl_method)
            kl = kl + k
            nll = nll + F.cross_entropy(out, y, reduction="sum")
        kl, nll = kl / cfg.train_samples, nll / cfg.train_samples
        loss = (pi * kl + nll) / b
        plain_nll = F.cross_entropy(self.plain(x), y) if cfg.train_plain else torch.zeros((), device=x.device)
        values = torch.stack([loss, kl, nll / b, plain_nll]).detach().cpu().tolist()  # one sync
        names = ("loss", "kl", "nll", "plain_nll")
        if not all(map(math.isfinite, values)):
            return dict(zip(names, values))  # Experiment.step raises; nothing was updated
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if cfg.train_plain:
            self.plain_optimizer.zero_grad(set_to_none=True)
            plain_nll.backward()
            self.plain_optimizer.step()
        self.samples_seen += b
        self._session_samples += b
        self._batch += 1
        epoch_end = self._batch == m
        if epoch_end:
            self._epoch, self._batch = self._epoch + 1, 0
            self._perm = self._permutation()
        out = dict(zip(names, values))
        if not cfg.train_plain:
            del out["plain_nll"]
        out.update(kl_per_example=out["kl"] / self.n_train, epoch=self.samples_seen / self.n_train)
        if epoch_end or (self.steps + 1) % cfg.eval_every == 0:
            out.update(self._test_metrics())
        self._train_time += time.perf_counter() - t0
        return out

    @torch.no_grad()
    def _test_metrics(self) -> dict[str, float]:
        probs = self.bbb_probs(self._eval_x)
        return {"test_error": _error(probs, self._eval_y),
                "plain_test_error": _error(self.plain_probs(self._eval_x)[None], self._eval_y)}

    @property
    def done(self) -> bool:
        e = self.config.epochs
        return e is not None and self.samples_seen >= e * self.n_train

    @property
    def epoch(self) -> float:
        return self.samples_seen / self.n_train

    @property
    def samples_per_s(self) -> float:
        """Training throughput of this session (both nets, test evaluations included)."""
        return self._session_samples / self._train_time if self._train_time > 0 else math.nan

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
        x = self._test_x if x is None else x
        y = self._test_y if y is None else y
        errors = []
        for f in fractions:
            with pruned(self.net, float(f)):
                errors.append(_error(self.mean_probs(x), y))
        return np.array(errors)

    @torch.no_grad()
    def entropies(self, x=None) -> dict[str, np.ndarray]:
        """Predictive entropy (nats) of both nets on test images (``*_test``) and on the
        out-of-distribution images (``*_ood``: noise or another dataset)."""
        x = self._eval_x if x is None else x
        ood = self._ood_x[: x.shape[0]] if x.shape[0] <= self._ood_x.shape[0] else self._ood_x
        out = {}
        for name, data in (("test", x), ("ood", ood)):
            out[f"bbb_{name}"] = predictive_entropy(self.bbb_probs(data)).cpu().numpy()
            out[f"plain_{name}"] = predictive_entropy(self.plain_probs(data)[None]).cpu().numpy()
        return out

    # -- views ---------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Cheap views: step, epoch, samples_seen, samples_per_s, device, n_train."""
        return {"step": self.steps, "epoch": self.epoch, "samples_seen": self.samples_seen,
                "samples_per_s": self.samples_per_s, "device": self.device, "n_train": self.n_train,
                "max_entropy": math.log(self.n_classes)}

    @torch.no_grad()
    def heavy_snapshot(self) -> dict[str, Any]:
        """Pruning curve on the test subset (``prune_fractions``, ``prune_error`` %),
        predictive entropies on test and noise images (``entropy`` dict of arrays), and
        the weights panel (``sigma_hist``, ``snr_hist`` of log10 values)."""
        mu, sigma = self.net.weight_stats()
        return {"prune_fractions": np.array(PRUNE_FRACTIONS),
                "prune_error": self.pruning_curve(x=self._eval_x, y=self._eval_y),
                "entropy": self.entropies(),
                "sigma_hist": _histogram(sigma), "snr_hist": _histogram(np.abs(mu) / sigma),
                "n_weights": int(mu.size)}

    def evaluate(self) -> dict[str, float]:
        """Full test set, errors in %: BBB (S-sample predictive), BBB posterior mean,
        plain; the pruning curve; mean predictive entropies on test and noise images."""
        probs = self.bbb_probs(self._test_x)
        out = {"test_error": _error(probs, self._test_y),
               "mean_net_error": _error(self.mean_probs(self._test_x), self._test_y),
               "plain_test_error": _error(self.plain_probs(self._test_x)[None], self._test_y),
               "n_test": float(self._test_x.shape[0]), "epochs": self.epoch,
               "weights": float(self.net.weight_stats()[0].size)}
        for f, e in zip(PRUNE_FRACTIONS, self.pruning_curve()):
            out[f"pruned_{round(100 * f)}_error"] = float(e)
        for k, v in self.entropies().items():
            out[f"entropy_{k}"] = float(v.mean())
        return out

    # -- checkpoints -------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        state = {f"bbb.{k}": v for k, v in self.net.state_dict().items()}
        state.update({f"plain.{k}": v for k, v in self.plain.state_dict().items()})
        checkpoint.save(path, kind="bbb-classify", state_dict=state, config=self.config.to_dict(),
                        dataset=self.dataset.name, step=self.steps, metrics=self.metrics.state(),
                        extra={"seed": int(self.seed), "samples_seen": int(self.samples_seen)})

    @classmethod
    def load(cls, path: str | os.PathLike, dataset=None, device: str | None = None) -> "ClassificationExperiment":
        """Reopen a saved run (weights of both nets, metrics, position; Adam restarts)."""
        from ..runtime import MetricStore

        ckpt = checkpoint.load(path, kind="bbb-classify")
        try:
            config = ClassifyConfig.from_dict(ckpt["config"])
            config = config.replace(device=device or "auto").validate()
        except (TypeError, ValueError) as exc:
            raise checkpoint.CheckpointError(f"{path}: invalid BBB config ({exc})") from exc
        exp = cls(config, seed=int(ckpt["extra"].get("seed", 0)), dataset=dataset)
        state = ckpt["state_dict"]
        try:
            exp.net.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("bbb.")})
            exp.plain.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("plain.")})
            exp.metrics = MetricStore.from_state(ckpt["metrics"])
        except (RuntimeError, ValueError) as exc:
            raise checkpoint.CheckpointError(f"{path}: checkpoint does not fit this model ({exc})") from exc
        exp.steps = int(ckpt["step"])
        exp.samples_seen = int(ckpt["extra"].get("samples_seen", 0))
        exp._epoch, pos = divmod(exp.samples_seen, exp.n_train)
        exp._batch = -(-pos // config.batch_size)
        return exp


def _error(probs: torch.Tensor, y: torch.Tensor) -> float:
    """Error in % of the mean of (S, N, K) probabilities."""
    return 100.0 * float((probs.mean(0).argmax(-1) != y).float().mean())


def _flat(images, device) -> torch.Tensor:
    flat = np.array(images, dtype=np.float32).reshape(len(images), -1)
    return torch.from_numpy(flat).to(device)
