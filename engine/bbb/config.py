"""The Bayes by Backprop chapter's configurations, without torch: image classification
(:class:`ClassifyConfig`) and the 1-D regression of Figure 15 (:class:`RegressionConfig`),
both on the shared :class:`~engine.bbb.options.BBBOptions`. The pages' forms and
``vigui-train bbb``'s flags and checks are built from them before torch is imported."""
from __future__ import annotations

from dataclasses import dataclass

from engine.bbb.curves import FUNCTIONS
from engine.bbb.options import BBBOptions
from engine.core import config as training
from engine.core.config import TrainingConfig, TrainingOptions
from engine.core.params import param

__all__ = ["ClassifyConfig", "RegressionConfig", "MAX_POINTS"]

MAX_POINTS = 5000  # points of a 1-D regression run, drawn or read from a file


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
    eval_every: int = training.eval_every_param(100)
    eval_size: int = training.eval_size_param(1000)


@dataclass(frozen=True)
class RegressionConfig(BBBOptions, TrainingOptions):
    """A 1-D BBB regression run (defaults: the lecture's Figure 15)."""

    function: str = param("blundell", choices=tuple(FUNCTIONS), label="Function",
                          choice_labels=("the paper's curve", "sine", "cubic", "step"),
                          help="the curve the training points come from: "
                               + "; ".join(v[0] for v in FUNCTIONS.values()))
    n_points: int = param(200, lo=2, hi=MAX_POINTS, label="Points", help="training points on [0, 0.5]")
    noise_std: float = param(0.02, lo=0.0, hi=1.0, decimals=3, step=0.01, label="Data noise ε std",
                             help="standard deviation of eps in the data (the paper's 0.02)")
    hidden: tuple[int, ...] = param((64, 64), lo=4, hi=1024, length=(1, 4), label="Hidden units",
                                    help="hidden layer sizes of both networks")
    noise_sigma: float = param(0.05, lo=1e-3, hi=10.0, log=True, label="Likelihood σ",
                               help="std of the Gaussian likelihood (its start if learned)")
    learn_noise: bool = param(False, label="Learn likelihood σ",
                              help="fit the likelihood's std by gradient too")
    lr: float = param(1e-2, lo=1e-5, hi=1.0, log=True, label="Learning rate", help="Adam step size")
    batch_size: int = param(50, lo=1, hi=MAX_POINTS, label="Batch size", help="points per minibatch")
    pred_samples: int = param(100, lo=10, hi=2000, label="Predictive samples",
                              help="weight samples S behind the median and the bands")
    epochs: int | None = param(None, lo=1, hi=10**7, optional=True, label="Epochs", gui=False,
                               help="passes over the points, then stop (None: until stopped)")
    device: str = param("auto", label="Device", help="auto | cpu | cuda | cuda:N | mps", gui=False)
    data_file: str | None = param(None, optional=True, widget="xy_file", label="Own data",
                                  help="a CSV file of x,y pairs (one per line, an optional "
                                       "header) trained on instead of the function's points; "
                                       "the plot spans the data's x range and beyond. None: "
                                       "the function's points")
