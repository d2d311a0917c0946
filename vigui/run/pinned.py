"""Pinned runs: finished (or paused) runs kept beside the live one to compare (no Qt).

"Keep this run" copies the live run's parameters and its metric history into a
:class:`PinnedRun`; the page keeps a :class:`PinnedRuns` list (at most
:data:`MAX_PINNED`, oldest dropped first) and draws them as faded curves. A pinned run
holds no model: only plain parameters, a bounded :class:`~engine.core.runtime.MetricStore`
(the same bound as the live store, so a pinned run costs at most what the live history
costs however long the run) and its final metrics.

Each pinned run is labelled by what differs from the live run's parameters
(:func:`differences`): ``"β = 0"``, ``"K = 5"``, a choice's label such as
``"reverse KL"``, using the config's own declarations (:mod:`engine.core.params`).

Scenes carry pinned runs as plain data (:meth:`PinnedRuns.to_data`): parameters, final
metrics and the history folded to a few hundred points a curve (min/max kept), so a
scene stays a small file. :func:`metrics_csv` writes the live and pinned histories as
one CSV table.
"""
from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.core.params import Param
from engine.core.runtime import MetricStore, Series

__all__ = ["PinnedRun", "PinnedRuns", "MAX_PINNED", "COLOURS", "parse_pinned", "SCENE_POINTS", "differences",
           "short_name", "format_value", "metrics_csv", "PinnedError"]

MAX_PINNED = 8  # runs kept per page; an older one goes when a ninth is pinned
SCENE_POINTS = 20_000  # points of all pinned curves together in a scene (~0.4 MB of JSON)
MAX_LABEL_PARTS = 3  # "β = 0, lr = 0.01, +2 more"
#: palette indices (vigui.widgets.plots.PALETTE) for pinned runs, in the order given out:
#: pink, purple, brown, sky blue, black first; blue, orange, green and vermillion are what
#: the pages' live curves use most
COLOURS = (3, 8, 9, 4, 7, 6, 2, 5)


class PinnedError(ValueError):
    """Pinned-run data that cannot be read (a scene's "pinned" list); one sentence."""


# -- labels ----------------------------------------------------------------------------
def short_name(p: Param) -> str:
    """How a parameter is named in a label: its symbol ("K"), else its label up to a
    parenthesis ("β (KL weight)" -> "β"), else its field name."""
    if p.symbol:
        return p.symbol
    if p.label:
        return p.label.split(" (")[0].strip()
    return p.name


def format_value(p: Param | None, value: Any) -> str:
    """A parameter value as a label shows it (choices by their label)."""
    if p is not None and p.choices and p.choice_labels and value in p.choices:
        return str(p.choice_labels[p.choices.index(value)])
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if value is None:
        return "none"
    return str(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)
        except (TypeError, ValueError):
            return False
    return a == b


def differences(live: dict[str, Any], run: dict[str, Any], declared: Sequence[Param] = ()) -> list[str]:
    """What differs in ``run`` from ``live``, one phrase per parameter in declaration
    order: ``"β = 0"``; a choice with labels is its label alone ("reverse KL"). Only
    parameters both have are compared.

    Nested dicts (a sectioned page's ``{section: params}``) are compared inside."""
    by_name = {p.name: p for p in declared}
    order = [p.name for p in declared] + [k for k in list(live) + list(run) if k not in by_name]
    out, seen = [], set()
    for name in order:
        # a key one side lacks (a checkpoint's internal settings) is not a difference
        if name in seen or name not in live or name not in run:
            continue
        seen.add(name)
        a, b = live.get(name), run.get(name)
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, declared)
            continue
        if _same(a, b):
            continue
        p = by_name.get(name)
        if p is not None and p.choices and p.choice_labels:
            out.append(format_value(p, b))
        else:
            out.append(f"{short_name(p) if p else name} = {format_value(p, b)}")
    return out


def label_for(live: dict[str, Any], run: dict[str, Any], declared: Sequence[Param] = ()) -> str:
    parts = differences(live, run, declared)
    if not parts:
        return "same parameters"
    if len(parts) > MAX_LABEL_PARTS:
        parts = parts[:MAX_LABEL_PARTS] + [f"+{len(parts) - MAX_LABEL_PARTS} more"]
    return ", ".join(parts)


# -- one pinned run ----------------------------------------------------------------------
def _final(store: MetricStore) -> dict[str, float]:
    return {name: store.latest(name) for name in store.names}


def _refold(store: MetricStore, recent: int, max_buckets: int) -> MetricStore:
    """A copy of ``store`` folded into a smaller bound (min/max of each bucket kept)."""
    out = MetricStore(recent=recent, max_buckets=max_buckets)
    for name, series in store.series.items():
        x, y = series.arrays()
        s = Series(recent=recent, max_buckets=max_buckets)
        s.extend(x, y)
        out.series[name] = s
    out.rows = store.rows
    return out


@dataclass
class PinnedRun:
    """A run kept for comparison: parameters, the metric history, final metrics."""

    params: dict[str, Any]
    metrics: MetricStore
    final: dict[str, float] = field(default_factory=dict)
    steps: int = 0
    name: str = ""  # optional fixed name (a tour's "recon only"); else the label is computed
    visible: bool = True
    colour: int = -1  # a palette index, given by PinnedRuns.pin

    @classmethod
    def from_live(cls, params: dict[str, Any], store: MetricStore, steps: int | None = None,
                  name: str = "") -> PinnedRun:
        """Pin a copy of the live run's history (the live store goes on unchanged)."""
        copy = deepcopy(store)  # arrays copied whole: ~1 ms, where a state round trip took ~150
        last = store.last() or {}
        steps = int(steps if steps is not None else last.get("step", 0))
        return cls(params=_plain(params), metrics=copy, final=_final(store), steps=steps, name=name)

    def label(self, live: dict[str, Any], declared: Sequence[Param] = ()) -> str:
        return self.name or label_for(live, self.params, declared)

    def points(self) -> int:
        """Points held over all curves (the memory it costs: 16 bytes each)."""
        return sum(len(s) for s in self.metrics.series.values())

    def to_data(self, points_per_series: int = 400) -> dict[str, Any]:
        """Plain JSON data: the history folded to about ``points_per_series`` points a
        curve, values rounded to 7 significant digits."""
        per = max(8, int(points_per_series))
        small = _refold(self.metrics, recent=max(2, per // 4), max_buckets=max(2, per // 4))
        series = {}
        for name, s in small.series.items():
            x, y = s.arrays()
            series[name] = {"step": [_num(v) for v in x], "value": [_num(v) for v in y]}
        out: dict[str, Any] = {"params": self.params, "steps": self.steps,
                               "final": {k: _num(v) for k, v in self.final.items()},
                               "metrics": series}
        if self.name:
            out["name"] = self.name
        if not self.visible:
            out["visible"] = False
        return out

    @classmethod
    def from_data(cls, data: Any, where: str = "a pinned run") -> PinnedRun:
        if not isinstance(data, dict):
            raise PinnedError(f"{where} must be an object with params and metrics.")
        unknown = sorted(set(data) - {"params", "steps", "final", "metrics", "name", "visible"})
        if unknown:
            raise PinnedError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}.")
        params, metrics = data.get("params", {}), data.get("metrics", {})
        if not isinstance(params, dict) or not isinstance(metrics, dict):
            raise PinnedError(f"{where}: \"params\" and \"metrics\" must be objects.")
        store = MetricStore()
        for name, s in metrics.items():
            try:
                x = np.asarray(s["step"], dtype=np.float64)
                y = np.asarray(s["value"], dtype=np.float64)
                if x.ndim != 1 or x.shape != y.shape:
                    raise ValueError
            except (TypeError, KeyError, ValueError):
                raise PinnedError(f"{where}: the curve {name!r} needs \"step\" and \"value\" "
                                  "lists of numbers of the same length.") from None
            series = store.series[str(name)] = Series()
            series.extend(x, y)
        store.rows = max((len(s) for s in store.series.values()), default=0)
        final = data.get("final", {})
        if not isinstance(final, dict) or not all(isinstance(v, (int, float)) or v is None
                                                 for v in final.values()):
            raise PinnedError(f"{where}: \"final\" must map metric names to numbers.")
        steps, name = data.get("steps", 0), data.get("name", "")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise PinnedError(f"{where}: \"steps\" must be a whole number, got {steps!r}.")
        if not isinstance(name, str):
            raise PinnedError(f"{where}: \"name\" must be text.")
        return cls(params=params, metrics=store,
                   final={str(k): (math.nan if v is None else float(v)) for k, v in final.items()},
                   steps=steps, name=name, visible=bool(data.get("visible", True)))


def _num(v: float) -> float | None:
    """JSON has no NaN: None stands for it; 7 significant digits are plenty for a curve."""
    v = float(v)
    if not math.isfinite(v):
        return None
    return float(f"{v:.7g}")


def _plain(value: Any) -> Any:
    """Parameters as plain JSON data (tuples as lists, numpy scalars as numbers)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


# -- a page's pinned runs ------------------------------------------------------------------
class PinnedRuns:
    """A page's pinned runs, oldest first, at most ``limit`` of them.

    ``pin`` returns the run it added (and drops the oldest beyond the limit);
    ``labels(live)`` names each run by what differs from the live parameters, made
    unique ("β = 0", "β = 0 (2)")."""

    def __init__(self, declared: Sequence[Param] = (), limit: int = MAX_PINNED):
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.declared = tuple(declared)
        self.limit = int(limit)
        self.runs: list[PinnedRun] = []

    def __len__(self) -> int:
        return len(self.runs)

    def __iter__(self):
        return iter(self.runs)

    def __getitem__(self, i: int) -> PinnedRun:
        return self.runs[i]

    def pin(self, run: PinnedRun) -> PinnedRun:
        self.runs.append(run)
        del self.runs[:-self.limit]
        self._colour(run)
        return run

    def _colour(self, run: PinnedRun) -> None:
        used = {r.colour for r in self.runs if r is not run}
        free = [c for c in COLOURS if c not in used]
        run.colour = free[0] if free else COLOURS[len(self.runs) % len(COLOURS)]

    def drop(self, run: PinnedRun) -> None:
        self.runs = [r for r in self.runs if r is not run]

    def clear(self) -> None:
        self.runs = []

    def labels(self, live: dict[str, Any]) -> list[str]:
        out: list[str] = []
        for run in self.runs:
            label = run.label(live, self.declared)
            n = 2
            base = label
            while label in out:
                label, n = f"{base} ({n})", n + 1
            out.append(label)
        return out

    def points(self) -> int:
        return sum(run.points() for run in self.runs)

    # -- scenes ------------------------------------------------------------------------------
    def to_data(self, budget: int = SCENE_POINTS) -> list[dict[str, Any]]:
        curves = sum(len(r.metrics.series) for r in self.runs) or 1
        return [run.to_data(points_per_series=budget // curves) for run in self.runs]

    def load_data(self, data: Any, where: str = "the scene") -> None:
        """Replace the runs by a scene's "pinned" list (checked fully first)."""
        runs = parse_pinned(data, where, self.limit)
        self.runs = []
        for run in runs:
            self.pin(run)


def parse_pinned(data: Any, where: str = "the scene", limit: int = MAX_PINNED) -> list[PinnedRun]:
    if data is None:
        return []
    if not isinstance(data, list):
        raise PinnedError(f"{where}: \"pinned\" must be a list of runs.")
    if len(data) > limit:
        raise PinnedError(f"{where}: at most {limit} pinned runs, got {len(data)}.")
    return [PinnedRun.from_data(d, f"{where}, pinned run {i}") for i, d in enumerate(data, 1)]


# -- CSV --------------------------------------------------------------------------------------
def metrics_csv(runs: Iterable[tuple[str, MetricStore]]) -> str:
    """One CSV table of several runs' histories: columns ``run, step`` and every metric
    name any run has; a row per (run, step), empty where a run has no value there."""
    runs = list(runs)
    names: list[str] = []
    for _, store in runs:
        names += [n for n in store.names if n not in names]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["run", "step", *names])
    for label, store in runs:
        table = store.as_arrays()
        if not table:
            continue
        for i, step in enumerate(table["step"]):
            row = [label, _cell(step)]
            for name in names:
                col = table.get(name)
                row.append("" if col is None or not math.isfinite(col[i]) else _cell(col[i]))
            writer.writerow(row)
    return out.getvalue()


def _cell(v: float) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)
