"""The Experiment protocol, seeding, device choice and torch thread settings.

Every iterative computation in vigui (a CAVI run, VAE training, ...) is an
:class:`Experiment`. The GUI worker, the headless CLI and the tests all drive the
same object the same way::

    exp = SomeExperiment(SomeConfig(...), seed=0)
    while not exp.done:
        exp.step()                # one unit of work, well under 100 ms on the CPU
    view = exp.snapshot()         # cheap views: small dict of numpy arrays / floats
    heavy = exp.heavy_snapshot()  # expensive views (e.g. latent projection of a test set)
    exp.metrics.as_arrays()       # the whole metric history

The two snapshot levels let a consumer refresh cheap views every frame and the
expensive ones at a slower cadence; the GUI worker picks that cadence from the
measured cost of ``heavy_snapshot`` so views never take more than a fixed share of
the time (see ``vigui/worker.py``).

This module never imports torch at import time: the CAVI and information chapters are
numpy-only, and ``import torch`` costs about a second.
"""
from __future__ import annotations

import math
import os
import random
from typing import Any

import numpy as np

__all__ = [
    "Experiment",
    "Metrics",
    "NonFiniteError",
    "resolve_device",
    "set_torch_threads",
    "seed_everything",
]


class NonFiniteError(FloatingPointError):
    """A loss or objective became NaN or infinite; the experiment kept its last good state."""


class Metrics:
    """Append-only history of per-step scalar metrics.

    ``append(step, elbo=..., kl=...)`` records one row; ``as_arrays()`` returns
    ``{"step": ..., name: ...}`` with NaN where a row lacks a name (e.g. test loss
    measured only every epoch).
    """

    def __init__(self, rows: list[dict[str, float]] | None = None):
        self._rows: list[dict[str, float]] = list(rows or [])
        self._names: list[str] = []
        for row in self._rows:
            self._note_names(row)

    def _note_names(self, row: dict[str, float]) -> None:
        for name in row:
            if name not in self._names:
                self._names.append(name)

    def append(self, step: int, **values: float) -> None:
        row = {"step": float(step), **{k: float(v) for k, v in values.items()}}
        self._note_names(row)
        self._rows.append(row)

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def names(self) -> list[str]:
        return [n for n in self._names if n != "step"]

    def last(self) -> dict[str, float] | None:
        return dict(self._rows[-1]) if self._rows else None

    def column(self, name: str) -> np.ndarray:
        return np.array([row.get(name, math.nan) for row in self._rows], dtype=np.float64)

    def as_arrays(self) -> dict[str, np.ndarray]:
        return {name: self.column(name) for name in self._names}

    def to_list(self) -> list[dict[str, float]]:
        """Plain data, for JSON output and checkpoints."""
        return [dict(row) for row in self._rows]

    @classmethod
    def from_list(cls, rows: list[dict[str, float]]) -> "Metrics":
        return cls([{k: float(v) for k, v in row.items()} for row in rows])


class Experiment:
    """Base class of everything the worker can run.

    Subclasses implement :meth:`_step` (one unit of work returning this step's scalar
    metrics) and usually :meth:`snapshot`; they may override :meth:`heavy_snapshot`,
    :attr:`done` and :meth:`evaluate`. ``step()`` records the metrics, counts steps and
    raises :class:`NonFiniteError` when a metric is NaN/inf. Subclasses must leave
    their state as it was before the failing step (the last good state) when that
    happens; raising from inside ``_step`` before committing is the usual way.
    """

    #: Human-readable device the experiment computes on ("cpu", "cuda:0", ...).
    device: str = "cpu"

    def __init__(self, config: Any = None, seed: int | None = None):
        self.config = config
        self.seed = seed
        self.metrics = Metrics()
        self.steps = 0

    # -- protocol -------------------------------------------------------------
    def step(self) -> dict[str, float]:
        values = self._step() or {}
        bad = {k: v for k, v in values.items() if not math.isfinite(float(v))}
        if bad:
            name, value = next(iter(bad.items()))
            raise NonFiniteError(
                f"{name} became {value} at step {self.steps + 1}; stopped and kept the "
                f"state of step {self.steps}. Try a smaller learning rate."
            )
        self.steps += 1
        self.metrics.append(self.steps, **values)
        return values

    def _step(self) -> dict[str, float] | None:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def done(self) -> bool:
        """True when the experiment has converged or finished; the worker stops then."""
        return False

    def snapshot(self) -> dict[str, Any]:
        """Cheap views for every frame: copies (numpy arrays, floats), never live tensors."""
        return {"step": self.steps, "metrics": self.metrics.as_arrays()}

    def heavy_snapshot(self) -> dict[str, Any]:
        """Expensive views, refreshed at a slower cadence. Empty by default."""
        return {}

    def evaluate(self) -> dict[str, float]:
        """Final or test metrics (nats per example for the trainers)."""
        return dict(self.metrics.last() or {})


# -- devices, threads, seeds ----------------------------------------------------
def resolve_device(name: str = "auto") -> str:
    """Map "auto" | "cpu" | "cuda" | "cuda:N" | "mps" to an available torch device string.

    ``auto`` picks cuda, then mps, then cpu. Asking for a device that is not
    available raises ValueError naming it (no silent fallback to a slow device).
    """
    import torch

    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    if name == "cpu":
        return "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} requested but CUDA is not available here")
        if ":" in name:
            index = int(name.split(":", 1)[1])
            if index >= torch.cuda.device_count():
                raise ValueError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s)")
        return name
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError("device 'mps' requested but MPS is not available here")
        return "mps"
    raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps")


def available_devices() -> list[str]:
    """Devices a user may choose here, 'auto' and 'cpu' first."""
    import torch

    out = ["auto", "cpu"]
    out += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append("mps")
    return out


def set_torch_threads(n: int | None = None) -> int:
    """Use ``n`` intra-op threads (default: all cores). Returns the number set."""
    import torch

    n = n or os.cpu_count() or 1
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def seed_everything(seed: int | None) -> np.random.Generator:
    """Seed Python, numpy and (if already imported) torch; return a numpy Generator.

    Experiments should draw from the returned generator (and their own
    ``torch.Generator``) rather than global state, so two experiments running side by
    side do not disturb each other; the global seeding is a safety net.
    """
    if seed is not None:
        random.seed(seed)
        np.random.seed(seed % (2**32))
        import sys

        if "torch" in sys.modules:
            sys.modules["torch"].manual_seed(seed)
    return np.random.default_rng(seed)
