"""The training parameters every torch trainer's config has, declared once, without torch.

:class:`TrainingOptions` (lr, batch size, device, epochs, threads) and
:class:`TrainingConfig` (those plus the dataset and the test-subset measurements), and the
``*_param()`` helpers a chapter uses to redeclare one of them with another default. They
live apart from :mod:`engine.core.trainer` (which re-exports them) so that a chapter's
config, and with it ``vigui-train``'s parser, never imports torch: ``vigui-train vae
--bogus`` answers before torch loads (seconds).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from engine.core.params import Config, param

__all__ = ["TrainingOptions", "TrainingConfig", "MAX_TEST_ROWS", "TRAINING_FIELDS",
           "dataset_param", "lr_param", "batch_size_param", "device_param", "epochs_param",
           "eval_every_param", "eval_size_param", "threads_param"]

MAX_TEST_ROWS = 10_000  # test rows kept on the device (views, fixed evaluations)

#: Config fields every TorchTrainer config declares (see the ``*_param`` helpers).
TRAINING_FIELDS = ("dataset", "lr", "batch_size", "device", "epochs", "eval_every",
                   "eval_size", "threads")


# -- the training parameters, declared once ----------------------------------------------
def dataset_param(default: str = "digits", **kw):
    return param(default, label="Dataset", widget="dataset", **{
        "help": "digits (8×8, bundled) learns in seconds; the MNIST family (28×28) needs its "
                "files, found on disk or downloaded: digits | mnist | fashion-mnist | kmnist "
                "| idx:<folder>", **kw})


def lr_param(default: float = 1e-3, **kw):
    return param(default, lo=1e-6, hi=10.0, log=True, label="Learning rate", **{
        "help": "Adam step size. Try 10 to see a run fail with a NaN: it stops and keeps "
                "the last good weights", **kw})


def batch_size_param(default: int = 128, **kw):
    return param(default, lo=1, hi=4096, step=32, label="Batch size",
                 **{"help": "Images per step", **kw})


def device_param(default: str = "auto", **kw):
    return param(default, label="Device", widget="device", **{
        "help": "auto | cpu | cuda | cuda:N | mps (auto: a GPU when there is one)", **kw})


def epochs_param(default: int | None = None, **kw):
    return param(default, lo=1, hi=100_000, optional=True, gui=False, label="Epochs", **{
        "help": "Passes over the training set; None: train until stopped", **kw})


def eval_every_param(default: int = 250, **kw):
    return param(default, lo=1, hi=10**9, gui=False, label="Eval every", **{
        "help": "Steps between test-subset measurements (and at epoch ends)", **kw})


def eval_size_param(default: int = 500, **kw):
    return param(default, lo=1, hi=MAX_TEST_ROWS, gui=False, label="Eval size", **{
        "help": "First eval_size test images, with fixed noise: cheap, smooth", **kw})


def threads_param(default: int | None = None, **kw):
    return param(default, lo=1, hi=1024, optional=True, gui=False, label="Threads", **{
        "help": "torch intra-op threads; None: the policy of engine.core.runtime."
                "default_threads (one thread on a 2-core machine)", **kw})


@dataclass(frozen=True)
class TrainingOptions(Config):
    """The fields every trainer's config has, declared once: learning rate, batch size,
    device, epochs and torch threads. A chapter redeclares one only to change its
    default or range (the field keeps its place)."""

    trailing_params: ClassVar[tuple[str, ...]] = (
        "lr", "batch_size", "device", "epochs", "eval_every", "eval_size", "threads")

    lr: float = lr_param()
    batch_size: int = batch_size_param()
    device: str = device_param()
    epochs: int | None = epochs_param()
    threads: int | None = threads_param()


@dataclass(frozen=True)
class TrainingConfig(TrainingOptions):
    """A :class:`TorchTrainer`'s config: :class:`TrainingOptions` plus the dataset and the
    test-subset measurements (``eval_every``, ``eval_size``). Forms and flags list the
    dataset first, then the chapter's own fields, then the training fields."""

    dataset: str = dataset_param()
    eval_every: int = eval_every_param()
    eval_size: int = eval_size_param()
