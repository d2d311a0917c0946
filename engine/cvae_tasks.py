"""Completion tasks of the conditional VAE chapter: masks and the config (numpy only).

Kept apart from :mod:`engine.cvae` so the CLI's flags and the page's form are built
without importing torch. A mask is a bool (H, W) array, True where the pixel is
observed (part of x); the other pixels are hidden (y): the two partition the image.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import Config, param

__all__ = ["TASKS", "QUADRANT_TASKS", "TASK_LABELS", "task_mask", "check_mask",
           "mask_to_string", "mask_from_string", "CVAEConfig"]

TASKS = ("q1", "q2", "q3", "column", "custom")
QUADRANT_TASKS = ("q1", "q2", "q3")
TASK_LABELS = {
    "q1": "1 quadrant observed (bottom left)",
    "q2": "2 quadrants observed (left half)",
    "q3": "3 quadrants observed (all but bottom right)",
    "column": "middle column observed (Figure 14)",
    "custom": "a mask you draw",
}


# -- masks ------------------------------------------------------------------------------
def task_mask(task: str, shape: tuple[int, int], custom: np.ndarray | str | None = None
              ) -> np.ndarray:
    """The observed pixels of a task: a bool (H, W) array, True = observed (x).

    Quadrants split at (H // 2, W // 2) as Pyro does; ``column`` observes column
    (W - 1) // 2 (column 13 of 28, Doersch's choice). ``custom`` takes ``custom``
    (a bool/0-1 array of the image's shape or a :func:`mask_to_string` string)."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    h, w = _shape(shape)
    obs = np.zeros((h, w), dtype=bool)
    hh, hw = h // 2, w // 2
    if task == "q1":
        obs[hh:, :hw] = True
    elif task == "q2":
        obs[:, :hw] = True
    elif task == "q3":
        obs[:, :] = True
        obs[hh:, hw:] = False
    elif task == "column":
        obs[:, (w - 1) // 2] = True
    else:
        if custom is None:
            raise ValueError("mask must be given for the custom task")
        obs = mask_from_string(custom, (h, w)) if isinstance(custom, str) else \
            check_mask(custom, (h, w))
    return obs


def check_mask(mask, shape: tuple[int, int]) -> np.ndarray:
    """A user's mask as a bool (H, W) array; ValueError unless it has the image's shape
    and at least one observed and one hidden pixel."""
    h, w = _shape(shape)
    arr = np.asarray(mask)
    if arr.shape != (h, w):
        raise ValueError(f"mask must have the image's shape {(h, w)}, got {arr.shape}")
    if arr.dtype != bool:
        if not np.isin(arr, (0, 1)).all():
            raise ValueError("mask must hold only 0/1 (hidden/observed) values")
        arr = arr.astype(bool)
    if arr.all() or not arr.any():
        raise ValueError("mask must observe some pixels and hide others "
                         f"({int(arr.sum())} of {arr.size} observed)")
    return arr.copy()


def mask_to_string(mask: np.ndarray) -> str:
    """A bool mask as a '0'/'1' string (row-major), for configs and checkpoints."""
    return "".join("1" if v else "0" for v in np.asarray(mask, dtype=bool).ravel())


def mask_from_string(text: str, shape: tuple[int, int]) -> np.ndarray:
    h, w = _shape(shape)
    if not isinstance(text, str) or len(text) != h * w or set(text) - {"0", "1"}:
        raise ValueError(f"mask must be a string of {h * w} '0'/'1' characters for "
                         f"{h}x{w} images")
    return check_mask(np.frombuffer(text.encode(), dtype=np.uint8).reshape(h, w) == ord("1"),
                      (h, w))


def _shape(shape) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be (height, width), got {shape!r}") from None
    if h < 2 or w < 2:
        raise ValueError(f"shape must be at least 2x2, got {(h, w)}")
    return h, w


# -- configuration --------------------------------------------------------------------------
@dataclass(frozen=True)
class CVAEConfig(Config):
    """One completion task on one dataset: the baseline and the CVAE trained for it."""

    dataset: str = param("digits", label="Dataset", cli=False,
                         help="digits | mnist | fashion-mnist | kmnist | idx:<folder>")
    task: str = param("q1", choices=TASKS, label="Observed part",
                      choice_labels=tuple(TASK_LABELS[t] for t in TASKS),
                      help="q1/q2/q3: observed quadrants; column: the middle column; "
                           "custom: the mask given with it")
    hidden: tuple[int, ...] = param((500, 500), lo=8, hi=4096, length=(1, 4),
                                    label="Hidden layers", help="hidden layer sizes of every network")
    latent: int = param(200, lo=1, hi=512, label="Latent size", help="size of z")
    lr: float = param(1e-3, lo=1e-6, hi=1.0, log=True, label="Learning rate", help="Adam step size")
    batch_size: int = param(128, lo=1, hi=4096, label="Batch size")
    epochs: int = param(20, lo=1, hi=10_000, label="Max epochs",
                        help="epochs per network at most (early stopping usually ends sooner)")
    patience: int = param(3, lo=1, hi=1000, label="Patience",
                          help="epochs without a better validation loss before a network stops")
    val_fraction: float = param(1 / 12, lo=0.01, hi=0.5, label="Validation share",
                                help="share of the training set held out for early stopping")
    particles: int = param(10, lo=1, hi=10_000, label="ELBO particles",
                           help="samples of z in the reported negative conditional ELBO")
    is_samples: int = param(100, lo=1, hi=100_000, label="IS samples",
                            help="importance samples S in the NCLL estimate")
    residual: bool = param(True, label="Generation sees baseline",
                           help="p(y|x,z) = Bernoulli(sigmoid(baseline logits(x) + g(z))) instead "
                                "of Pyro's p(y|z) = Bernoulli(sigmoid(g(z)))")
    kl_warmup: int = param(0, lo=0, hi=10_000, label="KL warm-up (epochs)",
                           help="the CVAE's KL weight rises linearly from 0 to 1 over these "
                                "epochs (against posterior collapse); early stopping waits for it")
    device: str = param("auto", label="Device", cli=False)
    threads: int | None = param(None, lo=1, hi=1024, optional=True, cli=False,
                                label="Torch threads")
    mask: str = ""  # the custom task's observed pixels (mask_to_string); "" otherwise

    def validate(self) -> "CVAEConfig":
        super().validate()
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ValueError(f"dataset must be a dataset name, got {self.dataset!r}")
        if self.task == "custom" and not self.mask:
            raise ValueError("mask must be given for the custom task")
        if not isinstance(self.mask, str):
            raise ValueError(f"mask must be a '0'/'1' string, got {type(self.mask).__name__}")
        return self
