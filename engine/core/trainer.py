"""What every torch trainer needs, once: :class:`TorchTrainer`.

A chapter that trains a network on a dataset (the VAE, the conditional VAE, Bayes by
Backprop) subclasses :class:`TorchTrainer` and adds a model and a loss. The base does
the rest, the same way for all of them:

* the dataset on the device as flat float32 tensors (no DataLoader): ``train_x``
  (n, D), ``train_y`` (n,) int64, ``test_x`` / ``test_y`` (the first 10,000 test rows)
  and ``eval_x`` / ``eval_y`` (the first ``eval_size`` of those);
* a per-epoch shuffle that is a function of (seed, epoch) only, so a resumed run
  continues exactly; batches never cross an epoch's end (the last one is smaller);
* seeded initialisation (without touching torch's global generator), a training noise
  generator ``self.noise`` on the device, and fixed evaluation noise
  (:meth:`fixed_noise`, drawn on the CPU so it is the same on every device);
* the NaN guard: the loss, every reported part and the gradient norm are checked
  *before* ``optimizer.step()``; if one is NaN or inf, :class:`NonFiniteError` is raised
  and the weights and the Adam state stay exactly those of the last good step;
* device (``resolve_device``) and torch threads from the config; ``samples_per_s``,
  ``epoch``, ``done`` (after ``config.epochs``, never if it is None), ``total_steps``;
* ``save(path)``, ``load(path)`` (resume: weights, Adam state, metrics, position,
  noise), ``peek(path)`` (config and file facts, nothing built) and
  ``load_weights(path)`` (weights only; Adam restarts); the architecture and
  every tensor shape are checked before anything is touched, so a file that does not
  fit leaves the running model as it was.

The subclass surface (everything else is the base's)::

    kind = "cvae"                       # checkpoint kind: files of another kind are refused
    config_class = CVAEConfig           # a frozen engine.core.params.Config (fields below)
    architecture = ("latent", "hidden") # config fields that fix the weights' shapes

    def build_model(self) -> nn.Module:            # required; may use self.config,
        ...                                        # self.n_in, self.shape, self.n_classes

    def batch_loss(self, x, y):                    # required: one minibatch -> the loss to
        ...                                        # minimise (a scalar tensor, per example)
        return loss, {"recon": recon, "kl": kl}    # and named parts to record (tensors)

    def test_metrics(self) -> dict[str, float]:    # optional: on eval_x/eval_y with fixed
        ...                                        # noise, every eval_every steps and at
                                                   # each epoch end (under no_grad)
    def snapshot(self):                            # optional: views; start from
        snap = super().snapshot()                  # step, epoch, samples_seen,
        snap["images"] = ...                       # samples_per_s, device
        return snap

    def weights_changed(self): ...                 # optional: drop caches after a load

    def on_save_checkpoint(self, state):           # optional: extra state in the file;
        super().on_save_checkpoint(state)          # call super (Adam, position, noise)
        state["pinned"] = ...
    def on_load_checkpoint(self, state):           # optional: validate (CheckpointError),
        ...                                        # then super(), then take the state

A subclass's ``__init__`` (if it has one) takes ``(config=None, seed=0, dataset=None)``,
calls ``super().__init__(config, seed, dataset)`` first (the model exists after it) and
then sets up its own fixed tensors (e.g. ``self.prior_z = self.fixed_noise(36,
latent)``). Step metrics are ``loss``, the parts, ``epoch`` and, when measured, the
test metrics; all in ``self.metrics``. A minimal example::

    @dataclass(frozen=True)
    class LogRegConfig(TrainingConfig):   # dataset, lr, batch_size, device, epochs,
        l2: float = param(0.0, lo=0.0)    # eval_every, eval_size, threads come with it

    class LogReg(TorchTrainer):
        kind, config_class = "logreg", LogRegConfig

        def build_model(self):
            return nn.Linear(self.n_in, self.n_classes)

        def batch_loss(self, x, y):
            return F.cross_entropy(self.model(x), y), {}

The config subclasses :class:`TrainingConfig` (the training fields, declared once in
:mod:`engine.core.config`, without torch, and re-exported here); a chapter changes a
field's default by redeclaring it with its ``*_param()`` helper.
``threads`` None means the policy of :func:`engine.core.runtime.default_threads`.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from engine.core import checkpoint
from engine.core.config import (
    MAX_TEST_ROWS,
    TRAINING_FIELDS,
    TrainingConfig,
    TrainingOptions,
    batch_size_param,
    dataset_param,
    device_param,
    epochs_param,
    eval_every_param,
    eval_size_param,
    lr_param,
    threads_param,
)
from engine.core.nets import adam
from engine.core.runtime import Experiment, MetricStore, NonFiniteError, resolve_device, set_torch_threads

__all__ = ["TorchTrainer", "Checkpointed", "Throughput", "check_optimizer_state", "restore_noise",
           "TrainingOptions", "TrainingConfig", "as_tensor", "MAX_TEST_ROWS", "TRAINING_FIELDS",
           "dataset_param", "lr_param", "batch_size_param", "device_param", "epochs_param",
           "eval_every_param", "eval_size_param", "threads_param"]


# -- checkpoints: one file format for every trainer and composite -------------------------------
class Checkpointed:
    """``save`` / ``load`` / ``peek`` / ``load_weights`` of an experiment with one
    ``model``: weights, config, dataset name, step, metrics and an ``extra`` dict (seed,
    image shape and whatever the hooks add), written atomically by
    :mod:`engine.core.checkpoint`. The architecture, image size and every tensor shape
    are checked before anything is touched, so a file that does not fit leaves the
    running model as it was.

    Hooks, as Lightning's (``state`` is the checkpoint's ``extra`` dict):

    * :meth:`on_save_checkpoint` adds plain data or tensors to ``state``;
    * :meth:`on_load_checkpoint` (a full :meth:`load` only) first validates its keys,
      raising :class:`~engine.core.checkpoint.CheckpointError` with nothing changed,
      then takes its state; the weights go in after it;
    * :meth:`weights_changed` runs after weights were loaded (by :meth:`load` or
      :meth:`load_weights`): drop or rebuild what was derived from them;
    * :meth:`for_checkpoint` builds the experiment a full :meth:`load` restores into
      (``cls(config, seed=..., dataset=...)``; an experiment whose data lives in the
      file, as BBB regression's points, takes it from there).

    Needs ``kind``, ``config_class``, ``architecture`` (config fields that fix the
    weights' shapes) and the attributes ``model``, ``config``, ``dataset`` (its ``name``
    is the file's ``dataset``; or override :attr:`dataset_name`), ``shape``, ``n_in``,
    ``seed``, ``steps``, ``metrics``; the constructor takes ``(config, seed=...,
    dataset=...)`` unless :meth:`for_checkpoint` says otherwise.
    """

    kind: str = ""
    architecture: tuple[str, ...] = ()
    config_class: Any = None
    model: nn.Module
    config: Any
    dataset: Any
    shape: tuple[int, ...]
    n_in: int
    seed: Any
    steps: int
    metrics: MetricStore
    loading_path: Any = None  # the file a full load is reading (for the hooks' errors)

    def on_save_checkpoint(self, state: dict[str, Any]) -> None:
        """Add this experiment's extra state to ``state`` (the checkpoint's extra)."""

    def on_load_checkpoint(self, state: dict[str, Any]) -> None:
        """Validate, then take, this experiment's extra state from ``state``."""

    def weights_changed(self) -> None:
        """Called after weights were loaded from a file: drop caches derived from them."""

    @classmethod
    def for_checkpoint(cls, config, ckpt: dict, dataset=None):
        """The fresh experiment a full :meth:`load` of ``ckpt`` restores into."""
        extra = ckpt.get("extra") or {}
        return cls(config, seed=int(extra.get("seed", 0)), dataset=dataset)  # type: ignore[call-arg]

    @property
    def dataset_name(self) -> str:
        """What a checkpoint records as its ``dataset``."""
        return self.dataset.name

    def save(self, path: str | os.PathLike) -> None:
        """Write a checkpoint (weights, config, metrics, the hooks' state) atomically."""
        state: dict[str, Any] = {"seed": int(self.seed), "shape": list(self.shape)}
        self.on_save_checkpoint(state)
        checkpoint.save(
            path, kind=self.kind, state_dict=self.model.state_dict(),
            config=self.config.to_dict(), dataset=self.dataset_name, step=self.steps,
            metrics=self.metrics.state(), extra=state)

    @classmethod
    def load(cls, path: str | os.PathLike, dataset=None, device: str | None = None,
             threads: int | None = None):
        """Resume a saved run: same config, weights, metrics and the hooks' state.

        ``device`` overrides the saved one; if None and the saved device is not
        available here (a GPU run opened on a CPU machine), "auto" is used. ``threads``
        (torch threads) overrides the saved setting when given."""
        ckpt = checkpoint.load(path, kind=cls.kind)
        config = cls.config_from_checkpoint(ckpt, path, device=device, threads=threads)
        exp = cls.for_checkpoint(config, ckpt, dataset)
        exp._restore(ckpt, path, full=True)
        return exp

    @classmethod
    def peek(cls, path: str | os.PathLike, device: str | None = None):
        """``(config, info)`` of a checkpoint of this kind, cheaply: no model, no dataset,
        no experiment built (``checkpoint.peek``). ``config`` is validated as in
        :meth:`load` (same device fallback); ``info`` has ``step``, ``dataset``,
        ``shapes``, ``extra`` (seed, shape and the hooks' state) and ``metrics``. Raises
        CheckpointError for files :meth:`load` would refuse on their face."""
        info = checkpoint.peek(path, kind=cls.kind)
        return cls.config_from_checkpoint({"config": info.config}, path, device=device), info

    @classmethod
    def config_from_checkpoint(cls, ckpt: dict, path, device: str | None = None,
                               threads: int | None = None):
        """The validated config a checkpoint dict holds (``device``/``threads`` override)."""
        try:
            config = cls.config_class.from_dict(ckpt["config"])
            if device is None:
                try:
                    resolve_device(config.device)
                except ValueError:  # saved on a GPU machine, opened on another
                    device = "auto"
            if device is not None:
                config = dataclasses.replace(config, device=device)
            if threads is not None:
                config = dataclasses.replace(config, threads=threads)
            return config.validate()
        except (TypeError, ValueError) as exc:
            raise checkpoint.CheckpointError(
                f"{path}: invalid {cls.kind.upper()} config ({exc})") from exc

    def load_weights(self, path: str | os.PathLike) -> None:
        """Put a checkpoint's weights into this model (nothing else).

        Everything is checked first (kind, architecture, tensor shapes, finiteness): on
        any error a CheckpointError is raised and the running model is untouched."""
        self._restore(checkpoint.load(path, kind=self.kind), path, full=False)

    def _restore(self, ckpt: dict, path, full: bool) -> None:
        self._check_compatible(ckpt, path)
        try:
            metrics = MetricStore.from_state(ckpt["metrics"]) if full else None
        except ValueError as exc:
            raise checkpoint.CheckpointError(f"{path}: {exc}") from exc
        if full:
            self.loading_path = path
            self.on_load_checkpoint(ckpt.get("extra") or {})
        # Validated: from here on nothing can fail halfway.
        self.model.load_state_dict(ckpt["state_dict"])
        if full:
            self.metrics = metrics  # type: ignore[assignment]
            self.steps = int(ckpt["step"])
        self.weights_changed()

    def _check_compatible(self, ckpt: dict, path) -> None:
        """Architecture fields, image size, state keys, shapes, finiteness: or raise."""
        err = checkpoint.CheckpointError
        cfg = ckpt.get("config")
        if not isinstance(cfg, dict):
            raise err(f"{path}: checkpoint has no {self.kind} config")
        mine = self.config.to_dict()
        for key in self.architecture:
            theirs = list(cfg[key]) if isinstance(cfg.get(key), tuple) else cfg.get(key)
            if theirs != mine[key]:
                raise err(f"{path}: checkpoint has {key}={_fmt(theirs)} but this model "
                          f"has {key}={_fmt(mine[key])}")
        shape = (ckpt.get("extra") or {}).get("shape")
        if isinstance(shape, (list, tuple)) and tuple(shape) != self.shape:
            pixels = int(np.prod(shape)) if shape else 0
            raise err(f"{path}: checkpoint was trained on {ckpt['dataset']} ({pixels} pixels "
                      f"per image) but this model uses {self.dataset.name} ({self.n_in})")
        state = ckpt["state_dict"]
        own = self.model.state_dict()
        if set(state) != set(own):
            missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
            raise err(f"{path}: checkpoint weights do not fit this model "
                      f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
        for name, tensor in state.items():
            if tensor.shape != own[name].shape:
                raise err(f"{path}: checkpoint tensor {name} has shape {tuple(tensor.shape)} "
                          f"but this model has {tuple(own[name].shape)}")
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise err(f"{path}: checkpoint tensor {name} holds NaN or inf")


def restore_noise(generator: torch.Generator, state: dict) -> None:
    """Continue ``generator`` from a checkpoint's ``noise_rng``, when it has one that fits;
    one saved on another device type is skipped (the noise stream restarts)."""
    saved = state.get("noise_rng")
    if isinstance(saved, torch.Tensor):
        try:
            generator.set_state(saved)
        except (RuntimeError, TypeError):
            pass


def check_optimizer_state(opt_state, params: Sequence[torch.Tensor], path) -> None:
    """Raise CheckpointError unless ``opt_state`` (an Adam ``state_dict()``) fits an Adam
    over ``params``: one parameter group of as many parameters, moments of their shapes."""
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


class Throughput:
    """``samples_per_s`` of this session: samples trained over the wall time spent
    training them. A step times itself and calls :meth:`count`."""

    _session_samples: int = 0
    _train_time: float = 0.0  # wall seconds inside step() this session

    def count(self, samples: int, seconds: float) -> None:
        self._session_samples += samples
        self._train_time += seconds

    @property
    def samples_per_s(self) -> float:
        """Training throughput of this session (NaN before the first step)."""
        return self._session_samples / self._train_time if self._train_time > 0 else math.nan


# -- the trainer ----------------------------------------------------------------------------
class TorchTrainer(Checkpointed, Throughput, Experiment):
    """Trains ``self.model`` with Adam, one minibatch per :meth:`step` (see the module
    docstring for what a subclass provides and what the base does)."""

    seed: int  # always set (drawn when None is given)

    def __init__(self, config=None, seed: int | None = 0, dataset=None):
        cls = type(self)
        if not cls.kind or cls.config_class is None:
            raise TypeError(f"{cls.__name__} must set kind and config_class")
        config = (config or cls.config_class()).validate()
        missing = [f for f in TRAINING_FIELDS if not hasattr(config, f)]
        if missing:
            raise TypeError(f"{type(config).__name__} lacks the training field(s) "
                            f"{', '.join(missing)} (see engine.core.config)")
        if seed is None:  # still reproducible from the checkpoint, which stores it
            seed = cast(int, np.random.SeedSequence().entropy) % (2**62)
        super().__init__(config, int(seed))
        set_torch_threads(config.threads)  # None: the policy (runtime.default_threads)
        self.device = resolve_device(config.device)
        dev = torch.device(self.device)

        if dataset is None:
            from engine.data import datasets as data
            dataset = data.load(config.dataset)
        elif dataset.name != config.dataset:
            raise ValueError(f"dataset {dataset.name!r} given but config.dataset is "
                             f"{config.dataset!r}")
        self.dataset = dataset
        self.shape = tuple(dataset.shape)
        self.n_in = int(np.prod(self.shape))
        self.n_classes = len(dataset.classes)
        self.train_x = as_tensor(dataset.train_x, dev)
        self.train_y = torch.from_numpy(np.array(dataset.train_y, dtype=np.int64)).to(dev)
        self.n_train = self.train_x.shape[0]
        self.test_x = as_tensor(dataset.test_x[:MAX_TEST_ROWS], dev)
        self.test_labels = np.array(dataset.test_y[:MAX_TEST_ROWS], dtype=np.int64)
        self.test_y = torch.from_numpy(self.test_labels.copy()).to(dev)
        n_eval = min(config.eval_size, self.test_x.shape[0])
        self.eval_x, self.eval_y = self.test_x[:n_eval], self.test_y[:n_eval]

        with torch.random.fork_rng(devices=[]):  # seed the init, leave the global state be
            torch.manual_seed(self.seed)
            self.model = self.build_model().to(dev)
        self.optimizer = self.make_optimizer()
        self._fixed = torch.Generator().manual_seed(self.seed + 1)
        self.noise = torch.Generator(device=dev).manual_seed(self.seed + 2)

        self.samples_seen = 0
        self._epoch, self._pos = 0, 0
        self._perm = self._permutation(0)

    # -- the subclass surface -------------------------------------------------------------
    def build_model(self) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def batch_loss(self, x: torch.Tensor, y: torch.Tensor):  # pragma: no cover - abstract
        """One minibatch -> (loss tensor, {name: scalar tensor}), per example."""
        raise NotImplementedError

    def test_metrics(self) -> dict[str, float]:
        """Metrics on the fixed evaluation subset (under no_grad). None by default."""
        return {}

    def make_optimizer(self) -> torch.optim.Optimizer:
        """Adam over the whole model (:func:`engine.core.nets.adam`: fused where it can)."""
        return adam(self.model.parameters(), self.config.lr)

    # -- helpers for subclasses -------------------------------------------------------------
    def fixed_noise(self, *shape: int) -> torch.Tensor:
        """Standard normal noise, the same for a given seed and call order on every device
        (drawn on the CPU): for evaluation subsets and decoded prior samples."""
        return torch.randn(*shape, generator=self._fixed).to(self.train_x.device)

    def images(self, flat: torch.Tensor) -> np.ndarray:
        """A (n, D) tensor -> (n, H, W) float32 numpy images."""
        return flat.detach().float().cpu().numpy().reshape(-1, *self.shape)

    # -- training ----------------------------------------------------------------------------
    def _permutation(self, epoch: int) -> torch.Tensor:
        """The shuffle of one epoch: a function of (seed, epoch) only, so resumable."""
        g = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) % (2**63))
        return torch.randperm(self.n_train, generator=g).to(self.train_x.device)

    def _step(self) -> dict[str, float]:
        t0 = time.perf_counter()
        stop = min(self._pos + self.config.batch_size, self.n_train)
        index = self._perm[self._pos:stop]
        x, y = self.train_x.index_select(0, index), self.train_y.index_select(0, index)
        n = stop - self._pos

        self.optimizer.zero_grad(set_to_none=True)
        loss, parts = self.batch_loss(x, y)
        loss.backward()
        # Check loss, parts and gradient norm before optimizer.step(): nothing has changed
        # yet, so a failure keeps the last good weights and Adam state without copying
        # them every step. (Adam moves each weight by about lr at most, so finite
        # gradients on finite weights give finite weights.)
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        gnorm = torch.stack(torch._foreach_norm(grads)).sum() if grads else loss.new_zeros(())
        names = ["loss", *parts]
        numbers = torch.stack([loss.detach(), *(t.detach() for t in parts.values()),
                               gnorm]).tolist()  # the one device->host sync of a step
        bad = [name for name, v in zip(names + ["gradient"], numbers, strict=False) if not math.isfinite(v)]
        if bad:
            self.optimizer.zero_grad(set_to_none=True)
            lr = self.config.lr
            raise NonFiniteError(
                f"the {bad[0]} became non-finite at step {self.steps + 1} with lr={lr:g}; "
                f"stopped and kept the weights of step {self.steps}. Try a smaller learning "
                f"rate (e.g. {min(lr / 10, 1e-3):g}).")
        self.optimizer.step()

        self.samples_seen += n
        self._pos = stop
        epoch_end = stop == self.n_train
        if epoch_end:
            self._epoch += 1
            self._pos = 0
            self._perm = self._permutation(self._epoch)
        values = dict(zip(names, numbers, strict=False))
        values["epoch"] = self.samples_seen / self.n_train
        if epoch_end or (self.steps + 1) % self.config.eval_every == 0:
            with torch.no_grad():
                measured = self.test_metrics()
            # Measured after the committed optimizer step: a NaN here cannot be undone,
            # so it is left out; the next training step then fails cleanly.
            if all(math.isfinite(v) for v in measured.values()):
                values.update(measured)
        self.count(n, time.perf_counter() - t0)
        return values

    @property
    def done(self) -> bool:
        epochs = self.config.epochs
        return epochs is not None and self.samples_seen >= epochs * self.n_train

    @property
    def epoch(self) -> float:
        """Fractional epochs done."""
        return self.samples_seen / self.n_train

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.n_train // self.config.batch_size)

    @property
    def total_steps(self) -> int | None:
        """Steps of the whole run (None when it trains until stopped)."""
        epochs = self.config.epochs
        return None if epochs is None else epochs * self.steps_per_epoch

    def snapshot(self) -> dict[str, Any]:
        """step, epoch, samples_seen, samples_per_s, device; subclasses add their views."""
        return {"step": self.steps, "epoch": self.epoch, "samples_seen": self.samples_seen,
                "samples_per_s": self.samples_per_s, "device": self.device}

    # -- checkpoints (the file format is Checkpointed's; these hooks add the training state) --
    def on_save_checkpoint(self, state: dict[str, Any]) -> None:
        """Adam's state, the position in the data and the noise stream. A subclass that
        overrides this calls ``super().on_save_checkpoint(state)``."""
        state.update(samples_seen=int(self.samples_seen), epoch=float(self.epoch),
                     optimizer=self.optimizer.state_dict(), noise_rng=self.noise.get_state())

    def on_load_checkpoint(self, state: dict[str, Any]) -> None:
        """Resume Adam, the position and the noise stream (Adam restarts if the file has
        no state for it). A subclass validates its own keys first, then calls super."""
        opt_state = state.get("optimizer")
        if opt_state is not None:
            self._check_optimizer_state(opt_state, self.loading_path)
        # Validated: the rest cannot fail (the parameters stay the same objects, so Adam's
        # state can go in before the weights do).
        self.optimizer = self.make_optimizer()
        if opt_state is not None:
            self.optimizer.load_state_dict(opt_state)
        self.samples_seen = int(state.get("samples_seen", 0))
        self._epoch, self._pos = divmod(self.samples_seen, self.n_train)
        self._perm = self._permutation(self._epoch)
        restore_noise(self.noise, state)

    def load_weights(self, path: str | os.PathLike) -> None:
        """Put a checkpoint's weights into this model; Adam's moments restart.

        Everything is checked first (kind, architecture, tensor shapes, finiteness): on
        any error a CheckpointError is raised and the running model is untouched."""
        super().load_weights(path)
        self.optimizer = self.make_optimizer()

    def _check_optimizer_state(self, opt_state, path) -> None:
        check_optimizer_state(opt_state, list(self.model.parameters()), path)


def _fmt(value) -> str:
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(str(v) for v in value) + ")"
    return str(value)


def as_tensor(images: np.ndarray, device) -> torch.Tensor:
    """(n, H, W) or (n, H*W) numpy images -> a flat (n, H*W) float32 tensor on device (a copy)."""
    flat = np.array(images, dtype=np.float32).reshape(len(images), -1)  # read-only input
    return torch.from_numpy(flat).to(device)
