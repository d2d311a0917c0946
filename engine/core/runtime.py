"""The Experiment protocol, the metric store, seeding, device choice and torch threads.

Every iterative computation in vigui (a CAVI run, VAE training, ...) is an
:class:`Experiment`. The GUI runners, the headless CLI and the tests all drive the
same object the same way::

    exp = SomeExperiment(SomeConfig(...), seed=0)
    while not exp.done:
        exp.step()                # one unit of work, well under 100 ms on the CPU
    view = exp.snapshot()         # cheap views: small dict of numpy arrays / floats
    heavy = exp.heavy_snapshot()  # expensive views (e.g. latent projection of a test set)
    exp.metrics.get("loss")       # (steps, values) of one metric, bounded however long

Metrics: one store per experiment. ``step()`` records the scalars ``_step()`` returns
into ``exp.metrics`` (a :class:`MetricStore`) and nowhere else; an experiment keeps
no history of its own. The store is bounded: full resolution for the recent points,
then min/max buckets (:class:`Series`), so an hour's run costs what a minute's does.

The snapshot contract: ``snapshot()`` carries the current views (images, parameters,
the step count) but never the metric history. A runner ships the history itself,
incrementally: it keeps a cursor, sends ``delta, cursor = exp.metrics.delta(cursor)``
with each frame, and the GUI side ``apply()``s it to its own MetricStore, which it
puts into the frame as ``snap["metrics"]`` before a page draws (pages read curves
with ``snap["metrics"].get(name)``). So a frame's bytes do not grow with the run.
Checkpoints save ``metrics.state()`` (bounded) and the CLI's ``--json`` the
``get(name)`` arrays.

The two snapshot levels let a consumer refresh cheap views every frame and the
expensive ones at a slower cadence; the runners pick that cadence from the measured
cost of ``heavy_snapshot`` so views never take more than a fixed share of the time
(see ``vigui/loop.py``).

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
    "MetricStore",
    "Series",
    "NonFiniteError",
    "resolve_device",
    "set_torch_threads",
    "Cancelled",
    "default_threads",
    "seed_everything",
]


class Cancelled(Exception):
    """Work stopped because someone asked it to (a Cancel button, a closing page): a normal
    end, never an error. Downloads, encodings and corpus parses raise a subclass."""


class NonFiniteError(FloatingPointError):
    """A loss or objective became NaN or infinite; the experiment kept its last good state."""


class Series:
    """One metric's history as (step, value) points, bounded however long the run.

    The newest ``recent`` points are always kept at full resolution. Older points are
    folded into buckets of ``width`` consecutive points, each kept as its minimum and
    maximum point (in step order), so a plotted curve keeps every spike and dip. When
    there are more than ``max_buckets`` buckets, neighbours merge pairwise (the min of
    two buckets is the min of their mins) and ``width`` doubles. Bucket ``b`` always
    covers appended points ``[b * width, (b + 1) * width)``. Memory: at most
    ``2 * max_buckets + 2 * recent + 2`` points.
    """

    def __init__(self, recent: int = 4096, max_buckets: int = 4096):
        if recent < 1 or max_buckets < 1:
            raise ValueError("recent and max_buckets must be positive")
        self.recent, self.max_buckets = int(recent), int(max_buckets)
        self.raw_cap = 2 * self.recent
        self.count = 0  # points ever appended
        self.width = 2  # points per folded bucket
        self._old_x = np.zeros(0)  # folded buckets, two points each
        self._old_y = np.zeros(0)
        self._acc_x = np.zeros(0)  # the bucket being filled: its extreme points so far
        self._acc_y = np.zeros(0)
        self._acc_n = 0  # points it covers
        self._x = np.empty(self.raw_cap)  # full-resolution recent points
        self._y = np.empty(self.raw_cap)
        self._n = 0

    def append(self, x: float, y: float) -> None:
        if self._n == self.raw_cap:
            self._fold(self._n - self.recent)
        self._x[self._n] = x
        self._y[self._n] = y
        self._n += 1
        self.count += 1

    def extend(self, xs, ys) -> None:
        for x, y in zip(np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64), strict=False):
            self.append(x, y)

    def _fold(self, k: int) -> None:
        """Fold the oldest ``k`` raw points into buckets."""
        xs, ys = self._x[:k], self._y[:k]
        need = self.width - self._acc_n
        head = min(need, k)
        hx = np.concatenate([self._acc_x, xs[:head]])
        hy = np.concatenate([self._acc_y, ys[:head]])
        if self._acc_n + head == self.width:
            self._push(*_extremes(hx[None], hy[None]))
            full = (k - head) // self.width
            stop = head + full * self.width
            if full:
                self._push(*_extremes(xs[head:stop].reshape(full, -1),
                                      ys[head:stop].reshape(full, -1)))
            self._set_acc(xs[stop:k], ys[stop:k], k - stop)
        else:
            self._set_acc(hx, hy, self._acc_n + head)
        rest = self._n - k
        self._x[:rest] = self._x[k:self._n]
        self._y[:rest] = self._y[k:self._n]
        self._n = rest
        while len(self._old_x) > 2 * self.max_buckets:
            self._merge()

    def _set_acc(self, x: np.ndarray, y: np.ndarray, n: int) -> None:
        if n == 0:
            self._acc_x, self._acc_y = np.zeros(0), np.zeros(0)
        else:
            self._acc_x, self._acc_y = _extremes(x[None], y[None])
        self._acc_n = n

    def _push(self, bx: np.ndarray, by: np.ndarray) -> None:
        self._old_x = np.concatenate([self._old_x, bx])
        self._old_y = np.concatenate([self._old_y, by])

    def _merge(self) -> None:
        """Halve the number of buckets; an odd last bucket joins the one being filled."""
        buckets = len(self._old_x) // 2
        pairs = buckets // 2
        mx, my = _extremes(self._old_x[:4 * pairs].reshape(pairs, 4),
                           self._old_y[:4 * pairs].reshape(pairs, 4))
        odd_x, odd_y = self._old_x[4 * pairs:], self._old_y[4 * pairs:]
        self._old_x, self._old_y = mx, my
        self.width *= 2
        if len(odd_x):
            self._set_acc(np.concatenate([odd_x, self._acc_x]),
                          np.concatenate([odd_y, self._acc_y]), self.width // 2 + self._acc_n)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values): folded buckets, the bucket being filled, then the recent
        full-resolution points (copies)."""
        return (np.concatenate([self._old_x, self._acc_x, self._x[:self._n]]),
                np.concatenate([self._old_y, self._acc_y, self._y[:self._n]]))

    def tail(self, n: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The last ``n`` appended points, or None if some were folded already."""
        if n > self._n:
            return None
        return self._x[self._n - n:self._n].copy(), self._y[self._n - n:self._n].copy()

    def __len__(self) -> int:
        """Points held (bounded), not points appended (see ``count``)."""
        return len(self._old_x) + len(self._acc_x) + self._n

    def last(self) -> tuple[float, float] | None:
        return (float(self._x[self._n - 1]), float(self._y[self._n - 1])) if self._n else None

    def state(self) -> dict[str, Any]:
        """Plain data; :meth:`from_state` restores it exactly."""
        return {"x": self._x[:self._n].tolist(), "y": self._y[:self._n].tolist(),
                "old_x": self._old_x.tolist(), "old_y": self._old_y.tolist(),
                "acc_x": self._acc_x.tolist(), "acc_y": self._acc_y.tolist(),
                "acc_n": self._acc_n, "count": self.count, "width": self.width}

    @classmethod
    def from_state(cls, state: dict[str, Any], **kw) -> Series:
        try:
            s = cls(**kw)
            arrays = [np.asarray(state.get(k, []), dtype=np.float64)
                      for k in ("x", "y", "old_x", "old_y", "acc_x", "acc_y")]
            x, y, ox, oy, ax, ay = arrays
            ok = all(a.ndim == 1 for a in arrays) and len(x) == len(y) \
                and len(ox) == len(oy) and len(ox) % 2 == 0 and len(ax) == len(ay) <= 2
            if not ok:
                raise ValueError
            s._old_x, s._old_y, s._acc_x, s._acc_y = ox, oy, ax, ay
            s._acc_n = int(state.get("acc_n", 0))
            s.width = max(2, int(state.get("width", 2)))
            for xi, yi in zip(x, y, strict=False):
                s.append(xi, yi)
            s.count = max(int(state.get("count", 0)), len(x))
        except (TypeError, ValueError, AttributeError):
            raise ValueError("a metric series has mismatched or malformed arrays") from None
        return s


def _extremes(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of points -> each row's min and max point, in step order, flattened.

    NaN values are ignored unless a whole row is NaN; a constant row keeps its first
    and last point."""
    rows = np.arange(len(y))
    lo = np.argmin(np.where(np.isnan(y), np.inf, y), axis=1)
    hi = np.argmax(np.where(np.isnan(y), -np.inf, y), axis=1)
    hi = np.where(hi == lo, y.shape[1] - 1, hi)
    if y.shape[1] == 1:
        return x[:, 0].copy(), y[:, 0].copy()
    first, second = np.minimum(lo, hi), np.maximum(lo, hi)
    bx = np.stack([x[rows, first], x[rows, second]], 1).ravel()
    by = np.stack([y[rows, first], y[rows, second]], 1).ravel()
    return bx, by


class MetricStore:
    """The history of an experiment's scalar metrics: one bounded :class:`Series` per name.

    ``append(step, loss=..., test_loss=...)`` records one step (a name may be missing
    on some steps, e.g. a test loss measured every 250 steps). Memory stays bounded
    however long the run (see :class:`Series`); ``last()`` is the newest row.

    Frames carry only what is new: ``delta(cursor)`` returns the points appended since
    ``cursor`` (and the new cursor), and :meth:`apply` adds them to a store on the
    other side (the GUI's copy), which folds them the same way.
    """

    def __init__(self, recent: int = 4096, max_buckets: int = 4096):
        self._kw = {"recent": recent, "max_buckets": max_buckets}
        self.series: dict[str, Series] = {}
        self._last: dict[str, float] | None = None
        self.rows = 0  # append() calls ever made

    def append(self, step: float, **values: float) -> None:
        step = float(step)
        for name, value in values.items():
            s = self.series.get(name)
            if s is None:
                s = self.series[name] = Series(**self._kw)
            s.append(step, float(value))
        self._last = {"step": step, **{k: float(v) for k, v in values.items()}}
        self.rows += 1

    def __len__(self) -> int:
        return self.rows

    @property
    def names(self) -> list[str]:
        return list(self.series)

    def last(self) -> dict[str, float] | None:
        return dict(self._last) if self._last is not None else None

    def latest(self, name: str) -> float:
        """The newest value of ``name`` (NaN if never recorded)."""
        s = self.series.get(name)
        point = s.last() if s is not None else None
        return point[1] if point else math.nan

    def get(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of one metric; empty arrays if it was never recorded."""
        s = self.series.get(name)
        return s.arrays() if s is not None else (np.zeros(0), np.zeros(0))

    def column(self, name: str) -> np.ndarray:
        return self.get(name)[1]

    def as_arrays(self) -> dict[str, np.ndarray]:
        """``{"step": ..., name: ...}`` aligned on the union of steps, NaN where a name
        has no point. Meant for short histories (tests, JSON); views use :meth:`get`."""
        if not self.series:
            return {}
        steps = np.unique(np.concatenate([s.arrays()[0] for s in self.series.values()]))
        out = {"step": steps}
        for name, s in self.series.items():
            x, y = s.arrays()
            col = np.full(len(steps), np.nan)
            col[np.searchsorted(steps, x)] = y
            out[name] = col
        return out

    # -- incremental transfer ----------------------------------------------------------
    def delta(self, cursor: dict[str, int] | None) -> tuple[dict[str, Any], dict[str, int]]:
        """What was appended since ``cursor`` (None: everything), and the new cursor.

        The delta maps a name to ``("add", steps, values)`` or, when the receiver fell
        so far behind that points were folded meanwhile, ``("all", state)``."""
        cursor = cursor or {}
        out: dict[str, Any] = {}
        for name, s in self.series.items():
            new = s.count - cursor.get(name, 0)
            if new <= 0:
                continue
            tail = s.tail(new) if name in cursor else None
            out[name] = ("add", *tail) if tail is not None else ("all", s.state())
        return out, {name: s.count for name, s in self.series.items()}

    def apply(self, delta: dict[str, Any]) -> None:
        """Add a :meth:`delta` from another store to this one."""
        for name, item in delta.items():
            if item[0] == "all":
                self.series[name] = Series.from_state(item[1], **self._kw)
            else:
                s = self.series.get(name)
                if s is None:
                    s = self.series[name] = Series(**self._kw)
                s.extend(item[1], item[2])
        for name in delta:
            point = self.series[name].last()
            if point is not None:
                self._last = {**(self._last or {}), "step": point[0], name: point[1]}

    # -- plain data (checkpoints, JSON) ------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Bounded plain data: every series' (folded + recent) points."""
        return {"version": 2, "rows": self.rows, "last": self._last,
                "series": {name: s.state() for name, s in self.series.items()}}

    @classmethod
    def from_state(cls, state, **kw) -> MetricStore:
        """The inverse of :meth:`state`; also accepts the old list-of-rows format."""
        if isinstance(state, list):
            return cls.from_list(state, **kw)
        if not isinstance(state, dict) or not isinstance(state.get("series"), dict):
            raise ValueError("metrics are not a metric-store state")
        store = cls(**kw)
        for name, s in state["series"].items():
            store.series[str(name)] = Series.from_state(s, **store._kw)
        store.rows = int(state.get("rows", 0))
        last = state.get("last")
        store._last = {str(k): float(v) for k, v in last.items()} if isinstance(last, dict) else None
        return store

    def to_list(self) -> list[dict[str, float]]:
        """Rows (aligned on steps, names missing where absent): short histories only."""
        arrays = self.as_arrays()
        steps = arrays.pop("step", np.zeros(0))
        return [{"step": float(s), **{k: float(v[i]) for k, v in arrays.items() if not math.isnan(v[i])}}
                for i, s in enumerate(steps)]

    @classmethod
    def from_list(cls, rows: list[dict[str, float]], **kw) -> MetricStore:
        store = cls(**kw)
        for row in rows:
            row = {k: float(v) for k, v in row.items()}
            store.append(row.pop("step", store.rows + 1), **row)
        return store


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
    #: The config dataclass (engine.core.params.Config) this experiment takes; the CLI
    #: builds its flags from it and checkpoints read it back with ``from_dict``.
    config_class: type | None = None

    def __init__(self, config: Any = None, seed: int | None = None):
        self.config = config
        self.seed = seed
        self.metrics = MetricStore()
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
        """Cheap views for every frame: copies (numpy arrays, floats), never live tensors,
        and never the metric history (the runner ships ``metrics.delta``; see the module
        docstring)."""
        return {"step": self.steps}

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


def default_threads(where: str = "cli") -> int:
    """The one thread policy for torch trainers (README, "Threads").

    ``where`` is "cli" (a headless run that has the machine), "process" (a page's training
    child: the GUI process needs a core) or "thread" (a trainer on a thread of the GUI
    process, sharing its GIL). On a 2-core machine every context gets one thread: a second
    torch thread waits on a busy core and ran one trainer 10x slower under load."""
    if where not in ("cli", "process", "thread"):
        raise ValueError(f"default_threads: unknown context {where!r}")
    cores = os.cpu_count() or 1
    if cores <= 2:
        return 1
    if where == "cli":
        return min(cores, 8)
    return min(cores - 1, 8)


def set_torch_threads(n: int | None = None) -> int:
    """Use ``n`` intra-op threads (default: :func:`default_threads` for a headless run).
    Returns the number set."""
    import torch

    n = n or default_threads("cli")
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
