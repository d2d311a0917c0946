"""One loss-curve widget for every trained-model page: metric names -> curves on a plot.

A page lists its curves (:class:`Curve`: the metric's name, its legend name, a palette
colour, train or test); :class:`LossCurves` puts them on a pyqtgraph plot with the kit's
look (``style_plot(long_series=True)``: peak-keeping downsampling of long runs), a legend,
train as thin translucent lines and test as bold lines with markers, and redraws a curve
only when its metric has new points.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from vigui.widgets.plots import colour, pen

MAX_TEST_MARKERS = 200  # test points drawn as markers up to this many, a plain line beyond


@dataclass(frozen=True)
class Curve:
    """One metric's curve. ``test``: a bold line with markers (measured every few hundred
    steps); otherwise a thin line at ``alpha`` (a noisy per-step train loss)."""

    metric: str
    name: str | None  # legend entry; None: not in the legend
    colour: int       # palette index
    test: bool = False
    alpha: int = 150
    dashed: bool = False


def series(metrics, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of ``name``, finite values only. ``metrics``: a MetricStore
    (``get(name)``), a dict of aligned columns with a ``step`` column, or None."""
    if metrics is None:
        return np.zeros(0), np.zeros(0)
    if isinstance(metrics, dict):
        y = np.asarray(metrics.get(name, np.zeros(0)), float)
        x = np.asarray(metrics.get("step", np.arange(1, len(y) + 1)), float)[:len(y)]
    else:
        x, y = metrics.get(name)
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(y)
    return x[ok], y[ok]


class LossCurves:
    """The curves of ``spec`` on ``plot``; ``items[metric]`` is each curve's PlotDataItem."""

    def __init__(self, plot: pg.PlotItem, spec, *, legend_offset=(-4, -4),
                 label_size: str = "8pt", legend_alpha: int = 200, symbol_size: int = 4,
                 legend: bool = True):
        self.plot = plot
        self.spec = tuple(spec)
        if legend:
            box = plot.addLegend(offset=legend_offset, labelTextSize=label_size, verSpacing=-6)
            box.setBrush(pg.mkBrush(255, 255, 255, legend_alpha))  # readable over the curves
        self.items: dict[str, pg.PlotDataItem] = {}
        for c in self.spec:
            line = pen(c.colour, 2) if c.test else pg.mkPen(colour(c.colour, c.alpha), width=1)
            if c.dashed:
                line.setStyle(Qt.DashLine)
            kw = dict(symbol="o", symbolSize=symbol_size, symbolPen=None,
                      symbolBrush=colour(c.colour)) if c.test else {}
            self.items[c.metric] = plot.plot([], [], pen=line, name=c.name, **kw)
        self._test = {c.metric for c in self.spec if c.test}
        self._drawn: dict[str, int] = {}  # metric -> points ever appended when last drawn

    def show(self, metrics) -> None:
        """Draw each curve from ``metrics`` (see :func:`series`). With a MetricStore a
        curve is redrawn only when its metric has new points."""
        store = getattr(metrics, "series", None)
        for name, item in self.items.items():
            if isinstance(store, dict):
                s = store.get(name)
                if s is None or self._drawn.get(name) == s.count:
                    continue
                self._drawn[name] = s.count
            x, y = series(metrics, name)
            if name in self._test:
                # Markers while they can be told apart; thousands would cost more to draw
                # than the rest of the page.
                symbol = "o" if len(x) <= MAX_TEST_MARKERS else None
                if item.opts["symbol"] != symbol:
                    item.setSymbol(symbol)
            item.setData(x, y)

    def clear(self) -> None:
        self._drawn.clear()
        for item in self.items.values():
            item.setData([], [])

    def subset(self, test: bool) -> dict[str, pg.PlotDataItem]:
        """The train (``test=False``) or test curves, by metric name."""
        return {c.metric: self.items[c.metric] for c in self.spec if c.test == test}
