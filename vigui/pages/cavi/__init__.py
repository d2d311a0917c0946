"""Chapter 3: mean-field CAVI on the Bayesian Gaussian mixture, converging live."""
from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from engine.cavi.model import CaviConfig, CaviExperiment
from vigui.pages.base import ExperimentPage
from vigui.run.worker import FINISHED
from vigui.widgets.own_data import show_file_rows
from vigui.widgets.param_form import ParamForm
from vigui.widgets.plots import PALETTE, colour, make_plot, pen, set_title

# Points drawn in the 2-D scatter (a fixed random subset; the fit always uses all N):
# re-colouring and painting 2,000 points costs the GUI about 25 ms a frame.
MAX_POINTS_SHOWN = 2000
MAX_CLUSTERS = 10
LOG_POINTS = 400  # sweep curves (log-scaled axis) are drawn at most this many points


def log_sample(t: np.ndarray, *ys: np.ndarray, n: int = LOG_POINTS):
    """At most about ``n`` points of curves drawn on a log-scaled x axis, evenly spaced
    in log(sweep), the first and last included: a long run costs what a short one does."""
    if len(t) <= n:
        return (t, *ys)
    idx = np.unique(np.geomspace(1, len(t), n).astype(np.int64) - 1)
    return (t[idx], *(y[idx] for y in ys))


class CaviPage(ExperimentPage):
    # -- parameters ----------------------------------------------------------------------
    def build_params(self) -> ParamForm:
        form = ParamForm(CaviConfig, ["k", "true_k", "n", "sigma2", "dim", "data_seed",
                                      "data_file", "init_seed", "mode", "alpha"])
        self.new_data = QPushButton("New data")
        self.new_data.setToolTip("Draw a fresh data set from the model (next data seed)")
        self.new_data.clicked.connect(lambda: form.widget("data_seed").stepUp())
        form.add_row(self.new_data, after="data_seed")
        files = form.widget("data_file")
        files.message.connect(self.show_message)
        files.valueChanged.connect(lambda path: self._own_data_shown(form, path))
        self._own_data_shown(form, files.value())
        show_file_rows(form, "n", files)  # the greyed n says what the file holds
        return form

    def _own_data_shown(self, form: ParamForm, path) -> None:
        """With the user's file, the model's data settings do not apply: grey them out."""
        for name in ("true_k", "n", "dim", "data_seed"):
            form.widget(name).setEnabled(path is None)
        self.new_data.setEnabled(path is None)

    compare_columns = ("elbo", "elbo_gradient")

    def compare_plots(self) -> dict:
        return {"elbo": self.elbo_plot, "elbo_gradient": self.elbo_plot}

    def make_factory(self):
        config = self.params.config()  # ValueError -> message before any thread starts
        return partial(CaviExperiment, config)

    # -- views ------------------------------------------------------------------------------
    def build_views(self) -> QWidget:
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        self.summary = QLabel()
        self.summary.setTextFormat(Qt.RichText)
        self._summary_snap = None
        self.run.state_changed.connect(self._show_summary)
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)
        self.canvas = pg.GraphicsLayoutWidget()
        lay.addWidget(self.canvas, 1)

        self.data_plot = make_plot("Data and fitted mixture", "x", "density",
                                   widget=self.canvas, row=0, col=0)
        self.elbo_plot = make_plot("ELBO (nats)", "sweep", "ELBO",
                                   widget=self.canvas, row=0, col=1, logx=True, long_series=True)
        self.elbo_plot.addLegend(offset=(-5, -5), labelTextSize="8pt")
        self.means_plot = make_plot("q(μ_k): m_k ± s_k (first coordinate); dashed: true μ",
                                    "sweep", "m_k", widget=self.canvas, row=1, col=0,
                                    colspan=2, logx=True)
        self.canvas.ci.layout.setColumnStretchFactor(0, 1)
        self.canvas.ci.layout.setColumnStretchFactor(1, 1)
        self.canvas.ci.layout.setRowStretchFactor(0, 3)
        self.canvas.ci.layout.setRowStretchFactor(1, 2)

        # Data view items, created once and updated with setData.
        self.hist = pg.PlotDataItem(stepMode="center", fillLevel=0, brush=(180, 180, 180, 120),
                                    pen=pg.mkPen((120, 120, 120)))
        self.mixture = pg.PlotDataItem(pen=pg.mkPen("k", width=2))
        self.components = [pg.PlotDataItem(pen=pen(k, 1.5)) for k in range(MAX_CLUSTERS)]
        self.scatter = pg.ScatterPlotItem(size=4, pen=None)
        self.mean_markers = pg.ScatterPlotItem(size=13, symbol="o", pen=pg.mkPen("k", width=1.5))
        self.true_markers = pg.ScatterPlotItem(size=14, symbol="x", pen=pg.mkPen("k", width=1),
                                               brush=pg.mkBrush("k"))
        self.circles = [pg.PlotDataItem(pen=pen(k, 1.5)) for k in range(MAX_CLUSTERS)]
        self.unit_circles = [pg.PlotDataItem(pen=pen(k, 1, Qt.DashLine)) for k in range(MAX_CLUSTERS)]
        for z, item in enumerate([self.hist, self.mixture, *self.components, self.scatter,
                                  *self.unit_circles, *self.circles, self.mean_markers,
                                  self.true_markers]):
            item.setZValue(z)  # circles and markers above the points
            self.data_plot.addItem(item)

        self.elbo_curve = self.elbo_plot.plot(pen=pen(0, 1.5), name="CAVI")
        self.elbo_grad = pg.PlotDataItem(pen=pen(5, 1.5), name="gradient ascent")
        self.elbo_plot.addItem(self.elbo_grad)
        self.band_items = []
        self.mean_curves = []
        for k in range(MAX_CLUSTERS):
            # mkPen(None), not pen=None: pyqtgraph builds no curve (and no fill) without a pen.
            upper = pg.PlotDataItem(pen=pg.mkPen(None))
            lower = pg.PlotDataItem(pen=pg.mkPen(None))
            band = pg.FillBetweenItem(upper, lower, brush=colour(k, 60))
            curve = pg.PlotDataItem(pen=pen(k, 1.5))
            for item in (upper, lower, band, curve):
                self.means_plot.addItem(item)
            self.band_items.append((upper, lower, band))
            self.mean_curves.append(curve)
        self.true_lines = [pg.InfiniteLine(angle=0, pen=pg.mkPen((60, 60, 60), width=1, style=Qt.DashLine))
                           for _ in range(MAX_CLUSTERS)]
        for line in self.true_lines:
            self.means_plot.addItem(line)
        self._brush_cache: dict[tuple, QBrush] = {}
        self._scatter_keys = None  # the colours the scatter shows (quantised)
        self._legend_text = ""
        self._shown_index = None
        self._data_id = None
        return box

    def clear_views(self) -> None:
        self._summary_snap = None
        for item in [self.hist, self.mixture, *self.components, self.mean_markers, self.true_markers,
                     *self.circles, *self.unit_circles, self.elbo_curve, self.elbo_grad, *self.mean_curves]:
            item.setData([], [])
        self.scatter.clear()
        self._scatter_keys = None
        for upper, lower, _ in self.band_items:
            upper.setData([], [])
            lower.setData([], [])
        for line in self.true_lines:
            line.setVisible(False)
        self._data_id = None
        self.summary.setText("")
        legend = self.elbo_plot.legend
        legend.removeItem(self.elbo_grad)
        if self.param("mode") == "gradient":  # the second curve only when it exists
            legend.addItem(self.elbo_grad, "gradient ascent")

    # -- drawing ---------------------------------------------------------------------------
    def render(self, snap: dict) -> None:
        x, m, s2, phi = snap["x"], snap["m"], snap["s2"], snap["phi"]
        k = m.shape[0]
        if self._data_id is not id(x):
            self._new_data(x, snap["true_mu"])
        if x.shape[1] == 1:
            self._render_1d(x, m, s2, phi)
        else:
            self._render_2d(x, m, s2, phi)
        metrics = snap["metrics"]
        self.elbo_curve.setData(*log_sample(*metrics.get("elbo")))
        self.elbo_grad.setData(*log_sample(*metrics.get("elbo_gradient")))
        # Each mean's trajectory (first coordinate) ± its posterior sd, sweep by sweep.
        for j in range(MAX_CLUSTERS):
            upper, lower, _ = self.band_items[j]
            t, centre = metrics.get(f"m{j}") if j < k else (np.zeros(0), np.zeros(0))
            if len(t):
                sd = np.interp(t, *metrics.get(f"s{j}"))  # recorded with m_j, every sweep
                t, centre, sd = log_sample(t, centre, sd)
                self.mean_curves[j].setData(t, centre)
                upper.setData(t, centre + sd)
                lower.setData(t, centre - sd)
            else:
                self.mean_curves[j].setData([], [])
                upper.setData([], [])
                lower.setData([], [])
        self._summary_snap = snap
        self._show_summary()

    def _show_summary(self, *_state) -> None:
        """The header: sweep, ELBO and what the run is doing now (drawn again when the
        run is paused, resumed or ends, which brings no new frame)."""
        snap = self._summary_snap
        if snap is None:
            return
        x, k = snap["x"], snap["m"].shape[0]
        self.summary.setText(
            f"sweep {snap['step']} · ELBO = {snap['elbo']:,.6f} nats · {self._run_text(snap)} · "
            f"N = {len(x):,}, K = {k}, d = {x.shape[1]}{self._source_text()}<br>"
            f"<span style='color:#555'>{self._legend_text}</span>")

    def _run_text(self, snap: dict) -> str:
        if snap["converged"]:
            return "<b style='color:#006400'>converged</b> (ΔELBO &lt; 10⁻⁸ relative)"
        if snap.get("done"):
            return "<b>stopped</b> at the sweep limit"
        if self.run.state == FINISHED:
            return f"<b>stopped</b> after {snap['step']} sweeps"
        if self.run.playing:
            return "running"
        fresh = snap["step"] == 0 and not self.run.paused_by_user  # never played yet
        return "not started: press Play" if fresh else "paused"

    def _source_text(self) -> str:
        path = self.param("data_file")
        return f" · data: {Path(path).name}" if path else ""

    def _new_data(self, x: np.ndarray, true_mu: np.ndarray) -> None:
        self._data_id = id(x)
        self._scatter_keys = None
        rng = np.random.default_rng(0)
        n = len(x)
        self._shown_index = (np.sort(rng.choice(n, MAX_POINTS_SHOWN, replace=False))
                             if n > MAX_POINTS_SHOWN else np.arange(n))
        d = x.shape[1]
        self.data_plot.setTitle("Data and fitted mixture" if d == 1 else "Data coloured by φ",
                                size="9pt")
        truth = " · × true means" if len(true_mu) else ""  # none for the user's own data
        self._legend_text = (
            "Grey: histogram of x · colours: components w_k N(m_k, 1 + s²_k) · black: mixture"
            + truth if d == 1 else
            "Points coloured by responsibilities φ (mixed colour = uncertain) · ● m_k with its "
            "s_k circle (solid) and the unit-variance component circle (dashed)" + truth)
        self.data_plot.setLabel("left", "density" if d == 1 else "x₂")
        self.data_plot.setLabel("bottom", "x" if d == 1 else "x₁")
        if d == 1:
            counts, edges = np.histogram(x[:, 0], bins=min(80, max(10, int(math.sqrt(n)))), density=True)
            self.hist.setData(edges, counts)
            self.true_markers.setData(true_mu[:, 0], np.zeros(len(true_mu)))
            self._grid = np.linspace(x.min() - 1.5, x.max() + 1.5, 400)
            self.scatter.clear()
        else:
            self.hist.setData([], [])
            self.true_markers.setData(true_mu[:, 0], true_mu[:, 1])
        set_title(self.means_plot, "q(μ_k): m_k ± s_k (first coordinate)" +
                  ("; dashed: true μ" if len(true_mu) else ""))
        for j, line in enumerate(self.true_lines):
            line.setVisible(j < len(true_mu))
            if j < len(true_mu):
                line.setValue(true_mu[j, 0])
        if d == 1:
            self.data_plot.enableAutoRange()
        else:  # equal spans on both axes, so circles look round without locking the layout
            lo, hi = x.min(axis=0), x.max(axis=0)
            centre, half = (lo + hi) / 2, (hi - lo).max() / 2 + 1.0
            self.data_plot.setRange(xRange=(centre[0] - half, centre[0] + half),
                                    yRange=(centre[1] - half, centre[1] + half), padding=0)

    def _render_1d(self, x, m, s2, phi) -> None:
        k = len(m)
        weights = phi.mean(axis=0)
        grid = self._grid
        total = np.zeros_like(grid)
        for j in range(MAX_CLUSTERS):
            if j < k:
                # Posterior predictive of component j: N(m_j, 1 + s2_j), weighted by its share.
                var = 1.0 + s2[j]
                dens = weights[j] * np.exp(-0.5 * (grid - m[j, 0]) ** 2 / var) / math.sqrt(2 * math.pi * var)
                total += dens
                self.components[j].setData(grid, dens)
            else:
                self.components[j].setData([], [])
        self.mixture.setData(grid, total)
        self.mean_markers.setData(m[:, 0], np.zeros(k), brush=[colour(j) for j in range(k)])
        for item in [*self.circles, *self.unit_circles]:
            item.setData([], [])

    def _render_2d(self, x, m, s2, phi) -> None:
        k = len(m)
        idx = self._shown_index
        # Blend the cluster colours by responsibility; quantise so brushes are reused,
        # and re-colour only when some point's colour changed (not after convergence).
        rgb = phi[idx] @ np.asarray(PALETTE[:k], dtype=float)
        keys = (rgb / 8).astype(np.int32)
        if self._scatter_keys is None or not np.array_equal(keys, self._scatter_keys):
            self._scatter_keys = keys
            unique, inverse = np.unique(keys, axis=0, return_inverse=True)
            cache = self._brush_cache
            palette = []
            for key in map(tuple, unique):
                brush = cache.get(key)
                if brush is None:
                    brush = cache[key] = QBrush(QColor(key[0] * 8, key[1] * 8, key[2] * 8, 170))
                palette.append(brush)
            brushes = np.empty(len(palette), dtype=object)
            brushes[:] = palette
            self.scatter.setData(pos=x[idx], brush=brushes[inverse.ravel()])
        self.mean_markers.setData(m[:, 0], m[:, 1], brush=[colour(j) for j in range(k)])
        theta = np.linspace(0, 2 * np.pi, 73)
        for j in range(MAX_CLUSTERS):
            if j < k:
                s = math.sqrt(s2[j])
                self.circles[j].setData(m[j, 0] + s * np.cos(theta), m[j, 1] + s * np.sin(theta))
                self.unit_circles[j].setData(m[j, 0] + np.cos(theta), m[j, 1] + np.sin(theta))
            else:
                self.circles[j].setData([], [])
                self.unit_circles[j].setData([], [])
        for item in [self.mixture, *self.components]:
            item.setData([], [])

    # -- screenshots ------------------------------------------------------------------------
    def prepare_screenshot(self) -> None:
        self.params.restore({"k": 3, "true_k": 3, "n": 2000, "sigma2": 10.0, "dim": 2,
                             "data_seed": 3, "init_seed": 1, "mode": "gradient",
                             "alpha": 0.0002, "data_file": None}, emit=False)
        self.reset(play=True)
