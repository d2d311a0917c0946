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

A scene that plays a fixed number of steps from fixed seeds (a tour stop such as
black-box VI's 250 steps or the gradient estimators' 30) can ship the frame its run ends
on: :func:`scene_frame_path` names it by a digest of the scene's page, section,
parameters and run, so the file applies to exactly that scene and to no edited copy of
it. The page draws it at once and its run reaches the same state behind it. The metric
history travels in the frame as ``metrics_state`` (JSON of ``MetricStore.state()``):
there is no checkpoint.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["frame_path", "save_frame", "load_frame", "scene_frame_path", "frame_metrics"]

SUFFIX = ".frame.npz"
_SMALL = np.float16  # images in [0, 1]
_IMAGE = 64  # elements from which a 2-D array in [0, 1] is an image (not a 2x2 covariance)


def frame_path(checkpoint: str | Path) -> Path:
    """``name.frame.npz`` beside ``name.pt``."""
    p = Path(checkpoint)
    return p.with_name(p.stem + SUFFIX)


def scene_frame_path(scene) -> Path | None:
    """Where the frame of a fixed-length ``scene`` lies (beside its file): ``page-section-
    digest.frame.npz``; None for a scene without a folder or a fixed number of steps."""
    if scene.folder is None or not isinstance(scene.run, dict) or "steps" not in scene.run:
        return None
    key = json.dumps({"page": scene.page, "section": scene.section, "params": scene.params,
                      "run": scene.run}, sort_keys=True, default=str)
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    name = "-".join(p for p in (scene.page, scene.section, digest) if p)
    return Path(scene.folder) / (name + SUFFIX)


def frame_metrics(frame: dict[str, Any]):
    """The frame's metric history (a MetricStore) from its ``metrics_state``; ValueError
    if it has none or it is malformed."""
    from engine.core.runtime import MetricStore

    try:
        return MetricStore.from_state(json.loads(frame["metrics_state"]))
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"the frame has no readable metric history ({exc})") from None


def save_frame(path: str | Path, snap: dict[str, Any]) -> Path:
    """Write ``snap``: arrays as arrays (float images at float16), dicts (a histogram, one
    entry per estimator, dicts of those) as their arrays and plain values, everything else
    (numbers, strings, tuples, lists) as JSON; keys that are none of these are left out.
    A dict's whole-number keys read back as ints (a histogram per component 0, 1)."""
    arrays: dict[str, np.ndarray] = {}
    plain: dict[str, Any] = {}
    for key, value in snap.items():
        if isinstance(value, np.ndarray):
            if value.dtype.kind == "f" and value.ndim >= 2 and value.size >= _IMAGE and _unit_range(value):
                value = value.astype(_SMALL)
            arrays[f"a:{key}"] = value
        elif isinstance(value, dict):
            inner = _split(value, f"d:{key}", arrays)
            if inner:
                plain[key] = inner
        elif _is_plain(value):
            plain[key] = list(value) if isinstance(value, tuple) else value
    arrays["json"] = np.array(json.dumps(plain))
    path = Path(path)
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)
    return path


def _split(tree: dict, prefix: str, arrays: dict[str, np.ndarray]) -> dict:
    """A dict's arrays into ``arrays`` as ``prefix:key[:key...]`` (exact, never float16);
    returns what is left that JSON can hold (nested as it was)."""
    plain: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}:{key}"
        if isinstance(value, np.ndarray):
            arrays[name] = value
        elif isinstance(value, dict):
            inner = _split(value, name, arrays)
            if inner:
                plain[str(key)] = inner
        elif _is_plain(value):
            plain[str(key)] = list(value) if isinstance(value, tuple) else value
    return plain


def _is_plain(value: Any) -> bool:
    return isinstance(value, (bool, int, float, str, tuple, list)) or value is None


def _key(text: str) -> str | int:
    return int(text) if text.isdigit() else text


def _with_int_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_key(k): _with_int_keys(v) for k, v in value.items()}
    return tuple(value) if isinstance(value, list) else value


def load_frame(path: str | Path) -> dict[str, Any] | None:
    """The frame saved at ``path`` (float images back as float32, lists as tuples), or
    None if there is none or it cannot be read: the page then waits for its model."""
    try:
        with np.load(Path(path), allow_pickle=False) as data:
            snap: dict[str, Any] = {k: _with_int_keys(v)
                                    for k, v in json.loads(str(data["json"])).items()}
            for key in data.files:
                if key.startswith("a:"):
                    value = data[key]
                    snap[key[2:]] = value.astype(np.float32) if value.dtype == _SMALL else value
                elif key.startswith("d:"):
                    top, *names = key[2:].split(":")
                    node = snap.setdefault(top, {})
                    for name in names[:-1]:
                        node = node.setdefault(_key(name), {})
                    node[_key(names[-1])] = data[key]
    except (OSError, ValueError, KeyError, TypeError, AttributeError, json.JSONDecodeError):
        return None
    return snap


def _unit_range(a: np.ndarray) -> bool:
    return a.size > 0 and float(np.nanmin(a)) >= 0.0 and float(np.nanmax(a)) <= 1.0
