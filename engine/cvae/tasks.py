"""Completion tasks of the conditional VAE chapter: the masks (numpy only).

Kept apart from the networks (:mod:`engine.cvae.networks`) so the page can draw masks without importing torch.
A mask is a bool (H, W) array, True where the pixel is
observed (part of x); the other pixels are hidden (y): the two partition the image.
"""
from __future__ import annotations

import numpy as np

__all__ = ["TASKS", "QUADRANT_TASKS", "TASK_LABELS", "task_mask", "check_mask",
           "mask_to_string", "mask_from_string"]

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
