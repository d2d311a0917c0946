"""Frame files: what a trained model's page shows, saved beside its checkpoint, so a tour
stop draws its figure the moment it opens instead of after the model has been loaded
where it trains (a child process: import torch, read the data, load; 10-20 s on a busy
2-core machine).

``vae-elbo.frame.npz`` beside ``vae-elbo.pt`` holds one frame of that run: the
experiment's ``snapshot()`` merged with its ``heavy_snapshot()`` (arrays and plain
values) plus ``extra`` views a page adds (e.g. a decoded path A -> B). The metric history
is not repeated: it is in the checkpoint (``checkpoint.peek(...).metrics``). numpy
only (no Qt, no torch; read with ``allow_pickle=False``), so
``scripts/make_tour_checkpoints.py`` writes it and a page reads it in milliseconds.
Images are stored as float16 (values in [0, 1]: 3 significant digits, half the bytes).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["frame_path", "save_frame", "load_frame"]

SUFFIX = ".frame.npz"
_SMALL = np.float16  # images in [0, 1]


def frame_path(checkpoint: str | Path) -> Path:
    """``name.frame.npz`` beside ``name.pt``."""
    p = Path(checkpoint)
    return p.with_name(p.stem + SUFFIX)


def save_frame(path: str | Path, snap: dict[str, Any]) -> Path:
    """Write ``snap``: arrays as arrays (float images at float16), everything else
    (numbers, strings, tuples, lists) as JSON; keys that are neither are left out."""
    arrays: dict[str, np.ndarray] = {}
    plain: dict[str, Any] = {}
    for key, value in snap.items():
        if isinstance(value, np.ndarray):
            if value.dtype.kind == "f" and value.ndim >= 2 and _unit_range(value):
                value = value.astype(_SMALL)
            arrays[f"a:{key}"] = value
        elif isinstance(value, (bool, int, float, str, tuple, list)) or value is None:
            plain[key] = list(value) if isinstance(value, tuple) else value
    arrays["json"] = np.array(json.dumps(plain))
    path = Path(path)
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)
    return path


def load_frame(path: str | Path) -> dict[str, Any] | None:
    """The frame saved at ``path`` (float images back as float32, lists as tuples), or
    None if there is none or it cannot be read: the page then waits for its model."""
    try:
        with np.load(Path(path), allow_pickle=False) as data:
            snap: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                                    for k, v in json.loads(str(data["json"])).items()}
            for key in data.files:
                if key.startswith("a:"):
                    value = data[key]
                    snap[key[2:]] = value.astype(np.float32) if value.dtype == _SMALL else value
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        return None
    return snap


def _unit_range(a: np.ndarray) -> bool:
    return a.size > 0 and float(np.nanmin(a)) >= 0.0 and float(np.nanmax(a)) <= 1.0
