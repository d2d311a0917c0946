"""The Bayes by Backprop page's views: the Figure 15 fit beside a plain net, the ELBO's
parts, the weights panel (sigma and SNR histograms, pruning slider) and the
classification views (test errors, pruning curve, predictive-entropy histograms).

Everything here draws numpy arrays handed over by the page; nothing computes on a
model. Plot items are built once and updated with ``setData``.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from vigui.widgets import styles
from vigui.widgets.layout import tight
from vigui.widgets.numbers import fmt_se
from vigui.widgets.plots import colour, make_plot, pen, style_plot

RED = QColor(200, 30, 30)
BLUE = QColor(31, 119, 180)
PICK_PX = 8.0  # a click this close (pixels) to a point removes it
N_CURVES = 5


def _series(store, name):
    """(steps, values) of a metric from the run's MetricStore, or empty arrays."""
    if store is None or not hasattr(store, "get"):
        return np.zeros(0), np.zeros(0)
    return store.get(name)


def _step_hist(plot: pg.PlotItem, brush: QColor, line: QColor, name: str | None = None):
    """A step-mode histogram item, filled lightly."""
    item = pg.PlotDataItem(stepMode="center", fillLevel=0, brush=brush, pen=pg.mkPen(line, width=1.2),
                           name=name)
    plot.addItem(item)
    return item


class SEBand:
    """A curve's ± 1 SE as a light band on ``plot``: two invisible edges and the fill
    between them, behind the curve."""

    def __init__(self, plot: pg.PlotItem, fill: QColor):
        # a faint edge pen: a PlotDataItem without a pen keeps no path to fill between
        self.edges = tuple(pg.PlotDataItem(pen=pg.mkPen(fill, width=0.6)) for _ in range(2))
        self.fill = pg.FillBetweenItem(*self.edges, brush=fill)
        for item in (*self.edges, self.fill):
            item.setZValue(-5)
            plot.addItem(item)

    def set(self, x, y, se) -> None:
        """Points (x, y ± se); points without a finite SE are left out of the band."""
        x, y, se = (np.asarray(a, dtype=float) for a in (x, y, se))
        keep = np.isfinite(y) & np.isfinite(se)
        self.edges[0].setData(x[keep], y[keep] - se[keep])
        self.edges[1].setData(x[keep], y[keep] + se[keep])

    def set_metric(self, store, name: str) -> None:
        """The band of metric ``name`` from its ``<name>_se`` at the same steps (none in
        a run saved before the errors were recorded)."""
        steps, values = _series(store, name)
        se_steps, se = _series(store, f"{name}_se")
        known = dict(zip(se_steps.tolist(), se.tolist(), strict=True))
        self.set(steps, values, [known.get(t, np.nan) for t in steps.tolist()])

    def clear(self) -> None:
        for edge in self.edges:
            edge.setData([], [])


def _set_hist(item: pg.PlotDataItem, hist: dict | None) -> None:
    if hist is None:
        item.setData([], [])
        return
    edges, counts = np.asarray(hist["edges"]), np.asarray(hist["counts"])
    item.setData(edges, counts)


class FitPlot(pg.PlotWidget):
    """A 1-D fit: the training points (click empty space to add one, click a point to
    remove it), and whatever curves the owner adds."""

    #: a click where there is no point: (x, y) in data coordinates
    add_requested = Signal(float, float)
    #: a click on a point: its (x, y)
    remove_requested = Signal(float, float)

    def __init__(self, title: str, parent=None):
        super().__init__(parent)
        self.plot = style_plot(self.getPlotItem(), title, "x", interactive=False)
        self.plot.setXRange(-0.4, 1.2, padding=0.01)
        self.points = pg.ScatterPlotItem(size=5, brush=pg.mkBrush(0, 0, 0, 170), pen=None)
        self.points.setZValue(10)
        self.plot.addItem(self.points)
        self._xy = (np.zeros(0), np.zeros(0))
        self.scene().sigMouseClicked.connect(self._clicked)
        self.setMinimumHeight(150)

    def set_points(self, x: np.ndarray, y: np.ndarray) -> None:
        self._xy = (np.asarray(x), np.asarray(y))
        self.points.setData(x, y)

    def click_at(self, x: float, y: float) -> None:
        """What a left click at data (x, y) does: remove the point under it, or add one."""
        px, py = self._xy
        if px.size:
            vb = self.plot.getViewBox()
            (x0, x1), (y0, y1) = vb.viewRange()
            w, h = max(vb.width(), 1.0), max(vb.height(), 1.0)
            d = np.hypot((px - x) / (x1 - x0) * w, (py - y) / (y1 - y0) * h)
            i = int(np.argmin(d))
            if d[i] <= PICK_PX:
                self.remove_requested.emit(float(px[i]), float(py[i]))
                return
        self.add_requested.emit(float(x), float(y))

    def _clicked(self, event) -> None:
        if event.button() != Qt.LeftButton:
            return
        vb = self.plot.getViewBox()
        if not vb.sceneBoundingRect().contains(event.scenePos()):
            return
        p = vb.mapSceneToView(event.scenePos())
        self.click_at(p.x(), p.y())


class WeightsPanel(QWidget):
    """Histograms of log10 sigma and log10 SNR of every weight, and a pruning slider
    (the lowest-SNR fraction removed; a vertical line marks its SNR threshold)."""

    #: the slider moved: the fraction of weights to prune, 0 to 0.99
    prune_changed = Signal(float)

    def __init__(self, slider: bool = True, parent=None):
        super().__init__(parent)
        lay = tight(QVBoxLayout(self), spacing=2)
        self.glw = pg.GraphicsLayoutWidget()
        self.sigma_plot = make_plot("Posterior σ of the weights", "log₁₀ σ", "", widget=self.glw,
                                    row=0, col=0, interactive=False)
        self.snr_plot = make_plot("Signal-to-noise |μ|/σ", "log₁₀ SNR", "", widget=self.glw, row=0, col=1,
                                  interactive=False)
        self.sigma_hist = _step_hist(self.sigma_plot, colour(0, 70), colour(0))
        self.snr_hist = _step_hist(self.snr_plot, colour(2, 70), colour(2))
        self.threshold = pg.InfiniteLine(angle=90, pen=pg.mkPen(RED, width=1.5, style=Qt.DashLine))
        self.threshold.setVisible(False)
        self.snr_plot.addItem(self.threshold)
        lay.addWidget(self.glw, 1)
        self.slider = None
        if slider:
            row = tight(QHBoxLayout(), margins=(4, 0, 4, 0))
            self.prune_label = QLabel()
            self.prune_label.setMinimumWidth(150)
            self.slider = QSlider(Qt.Horizontal)
            self.slider.setRange(0, 99)
            self.slider.setToolTip("Remove this percentage of the weights, those with the lowest "
                                   "SNR (set to exactly 0), and draw the fit without them")
            self.slider.valueChanged.connect(self._moved)
            row.addWidget(self.prune_label)
            row.addWidget(self.slider, 1)
            lay.addLayout(row)
            self._moved(0)

    @property
    def fraction(self) -> float:
        return self.slider.value() / 100.0 if self.slider is not None else 0.0

    def _moved(self, value: int) -> None:
        self.prune_label.setText(f"Prune lowest SNR: {value} %")
        self.prune_changed.emit(value / 100.0)

    def render(self, heavy: dict) -> None:
        _set_hist(self.sigma_hist, heavy.get("sigma_hist"))
        _set_hist(self.snr_hist, heavy.get("snr_hist"))
        thr = heavy.get("snr_threshold", 0.0)
        self.threshold.setVisible(bool(thr and thr > 0))
        if thr and thr > 0:
            self.threshold.setValue(float(np.log10(thr)))

    def clear(self) -> None:
        _set_hist(self.sigma_hist, None)
        _set_hist(self.snr_hist, None)
        self.threshold.setVisible(False)


class RegressionView(QWidget):
    """Figure 15 live: BBB (median, 25-75 % and 5-95 % bands, sampled functions) beside a
    plain MLP's single curve; the ELBO's parts; the weights panel."""

    def __init__(self, parent=None):
        super().__init__(parent)
        grid = tight(QGridLayout(self), spacing=3)
        self.summary = styles.label(styles.SUMMARY)
        grid.addWidget(self.summary, 0, 0, 1, 2)

        self.bbb = FitPlot("BBB: median, bands")  # short: it was cut at 1280 px (the tooltip says more)
        self.bbb.setToolTip("Bayes by Backprop: the predictive median (red), its 50 % band "
                            "(dark) and 90 % band (light), and a few sampled networks")
        self.plain = FitPlot("Plain network, same shape")
        self.plain.plot.setYLink(self.bbb.plot)
        grid.addWidget(self.bbb, 1, 0)
        grid.addWidget(self.plain, 1, 1)
        p = self.bbb.plot
        # q05, q95, q25, q75: invisible edges of the two filled bands
        self._band_curves = [pg.PlotDataItem(pen=pg.mkPen(31, 119, 180, 60, width=0.8)) for _ in range(4)]
        for c in self._band_curves:
            p.addItem(c)
        self.outer = pg.FillBetweenItem(self._band_curves[0], self._band_curves[1],
                                        brush=pg.mkBrush(31, 119, 180, 45))
        self.inner = pg.FillBetweenItem(self._band_curves[2], self._band_curves[3],
                                        brush=pg.mkBrush(31, 119, 180, 90))
        p.addItem(self.outer)
        p.addItem(self.inner)
        self.samples = [p.plot(pen=pg.mkPen(colour(1, 150), width=0.8)) for _ in range(N_CURVES)]
        self.median = p.plot(pen=pg.mkPen(RED, width=2))
        self.truth_b = p.plot(pen=pg.mkPen(QColor(90, 90, 90), width=1, style=Qt.DotLine))
        self.truth_p = self.plain.plot.plot(pen=pg.mkPen(QColor(90, 90, 90), width=1, style=Qt.DotLine))
        self.plain_curve = self.plain.plot.plot(pen=pg.mkPen(RED, width=2))
        for fill in (self.outer, self.inner):
            fill.setZValue(-5)
        self._y_for = None  # the function the y range was set for

        parts = pg.GraphicsLayoutWidget()
        self.kl_plot = make_plot("KL(q‖p) / N (nats)", "step", "", widget=parts, row=0, col=0,
                                 long_series=True)
        self.nll_plot = make_plot("−log-lik. per point (nats)", "step", "", widget=parts, row=0, col=1,
                                  long_series=True)
        for q in (self.kl_plot, self.nll_plot):
            q.getViewBox().enableAutoRange(axis="y", enable=0.98)  # the first steps' spike aside
        self.kl_curve = self.kl_plot.plot(pen=pen(0, 1.2))
        self.nll_curve = self.nll_plot.plot(pen=pen(5, 1.0))
        parts.setMinimumHeight(120)
        grid.addWidget(parts, 2, 0, 1, 2)

        self.weights = WeightsPanel(slider=True)
        self.weights.setMinimumHeight(140)
        grid.addWidget(self.weights, 3, 0, 1, 2)
        grid.setRowStretch(1, 5)
        grid.setRowStretch(2, 2)
        grid.setRowStretch(3, 3)

    def render(self, snap: dict) -> None:
        if "quantiles" in snap:
            g, q = snap["grid"], snap["quantiles"]
            for c, row in zip(self._band_curves, (q[0], q[4], q[1], q[3]), strict=False):
                c.setData(g, row)
            self.median.setData(g, q[2])
            for c, f in zip(self.samples, snap["curves"], strict=False):
                c.setData(g, f)
            self.plain_curve.setData(g, snap["plain"])
            self.show_data(snap["x"], snap["y"], g, snap["truth"], snap.get("function"))
            lo, hi = snap.get("train_range", (0.0, 0.5))
            self.summary.setText(
                f"{len(snap['x'])} points · step {snap['step']:,} · "
                f"90 % band {fmt_se(snap['band_inside'], snap['band_inside_se'])} on [{lo:.3g}, {hi:.3g}], "
                f"{fmt_se(snap['band_far'], snap['band_far_se'])} at x = {snap['band_far_x']:.3g} · "
                f"σ_y {snap['noise_sigma']:.3f}"
                + (f" · {snap['prune_fraction']:.0%} of weights pruned"
                   if snap.get("prune_fraction") else ""))
            self.summary.setToolTip(
                f"90 % band: the 5-95 % range of the BBB functions, from the {snap['band_draws']} "
                "weight samples drawn (± one standard error, from the order statistics; "
                "more predictive samples shrink it); the dotted curve is the noiseless function "
                "the points come from")
        store = snap.get("metrics")
        self.kl_curve.setData(*_series(store, "kl_per_point"))
        self.nll_curve.setData(*_series(store, "nll"))
        if "sigma_hist" in snap:
            self.weights.render(snap)

    def show_data(self, x, y, grid, truth, function) -> None:
        """The points and the noiseless curve (NaN: none, the user's own data) on both
        plots; drawn before any fit, so the data shows while the networks are built."""
        shown = np.isfinite(truth)
        self.truth_b.setData(grid[shown], truth[shown])
        self.truth_p.setData(grid[shown], truth[shown])
        if function != self._y_for and len(y):
            for fit in (self.bbb, self.plain):  # the grid spans the data and beyond
                fit.plot.setXRange(float(grid[0]), float(grid[-1]), padding=0.01)
            # A fixed range per curve (from its points): bands that widen stay readable
            # and the view does not jump as points come and go.
            lo, hi = float(np.min(y)), float(np.max(y))
            span = max(hi - lo, 0.5)
            self.bbb.plot.setYRange(lo - 1.0 * span, hi + 2.0 * span, padding=0)
            self._y_for = function
        self.bbb.set_points(x, y)
        self.plain.set_points(x, y)

    def clear(self) -> None:
        for c in [*self._band_curves, *self.samples, self.median, self.plain_curve, self.truth_b,
                  self.truth_p, self.kl_curve, self.nll_curve]:
            c.setData([], [])
        self.bbb.set_points([], [])
        self.plain.set_points([], [])
        self._y_for = None
        self.weights.clear()
        self.summary.setText("")


SUMMARY_TIP = ("Each figure ± one standard error. Test errors and entropies are measured on {n} "
               "test images; BBB's average {s} weight draws. Two noises add: other test images "
               "(the larger, for errors) and other weight draws (bootstrap over the draws). "
               "The plain and pruned (posterior-mean) nets have no draws.")


class ClassifyView(QWidget):
    """Test errors of both nets while training, the pruning curve, predictive-entropy
    histograms on test images and off-data images, the ELBO's parts, the weights."""

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = tight(QVBoxLayout(self), spacing=2)
        self.summary = styles.label(styles.SUMMARY)
        lay.addWidget(self.summary)
        glw = pg.GraphicsLayoutWidget()
        lay.addWidget(glw, 1)
        self.err_plot = make_plot("Test error (%)", "step", "", legend=True, widget=glw, row=0, col=0,
                                  long_series=True)
        self.err_bbb = self.err_plot.plot(pen=pen(0, 1.5), symbol="o", symbolSize=4, symbolBrush=colour(0),
                                          symbolPen=None, name="BBB")
        self.err_plain = self.err_plot.plot(pen=pen(5, 1.5), symbol="o", symbolSize=4, symbolBrush=colour(5),
                                            symbolPen=None, name="plain")
        self.prune_plot = make_plot("Pruned by SNR: test error (%)", "weights removed (%)", "", widget=glw,
                                    row=0, col=1, interactive=False)
        self.prune_curve = self.prune_plot.plot(pen=pen(0, 1.5), symbol="o", symbolSize=5,
                                                symbolBrush=colour(0), symbolPen=None)
        # ± 1 SE of each error (test images and weight draws): dips inside a band are noise
        self.err_bands = {"test_error": SEBand(self.err_plot, colour(0, 55)),
                          "plain_test_error": SEBand(self.err_plot, colour(5, 55))}
        self.prune_band = SEBand(self.prune_plot, colour(0, 55))
        self.ent_bbb = make_plot("Predictive entropy, BBB", "entropy (nats)", "images", legend=True,
                                 widget=glw, row=1, col=0, interactive=False)
        self.ent_plain = make_plot("Predictive entropy, plain", "entropy (nats)", "images", legend=True,
                                   widget=glw, row=1, col=1, interactive=False)
        self.hists = {}
        for plot, who in ((self.ent_bbb, "bbb"), (self.ent_plain, "plain")):
            self.hists[f"{who}_test"] = _step_hist(plot, colour(2, 80), colour(2), "test images")
            self.hists[f"{who}_ood"] = _step_hist(plot, colour(3, 80), colour(3), "off-data images")
        self.parts_plot = make_plot("ELBO parts per image (nats)", "step", "", legend=True, widget=glw,
                                    row=2, col=0, long_series=True)
        self.parts_plot.setLogMode(x=False, y=True)
        self.kl_curve = self.parts_plot.plot(pen=pen(0, 1.0), name="KL / N")
        self.nll_curve = self.parts_plot.plot(pen=pen(5, 1.0), name="−log-lik.")
        glw.ci.layout.setRowStretchFactor(0, 3)
        glw.ci.layout.setRowStretchFactor(1, 3)
        glw.ci.layout.setRowStretchFactor(2, 2)
        self.snr_plot = make_plot("Signal-to-noise |μ|/σ", "log₁₀ SNR", "weights", widget=glw, row=2, col=1,
                                  interactive=False)
        self.snr_hist = _step_hist(self.snr_plot, colour(2, 70), colour(2))
        self.max_entropy = np.log(10)

    def render(self, snap: dict) -> None:
        store = snap.get("metrics")
        self.err_bbb.setData(*_series(store, "test_error"))
        self.err_plain.setData(*_series(store, "plain_test_error"))
        for name, band in self.err_bands.items():
            band.set_metric(store, name)
        self.kl_curve.setData(*_positive(*_series(store, "kl_per_example")))
        self.nll_curve.setData(*_positive(*_series(store, "nll")))
        if "prune_error" in snap:
            self.prune_curve.setData(100 * np.asarray(snap["prune_fractions"]), snap["prune_error"])
            self.prune_band.set(100 * np.asarray(snap["prune_fractions"]), snap["prune_error"],
                                snap.get("prune_error_se", np.full(len(snap["prune_error"]), np.nan)))
            ent = snap["entropy"]
            top = float(snap.get("max_entropy", self.max_entropy))
            bins = np.linspace(0, top, 31)
            for key, item in self.hists.items():
                counts, _ = np.histogram(np.clip(ent[key], 0, top), bins=bins)
                item.setData(bins, counts.astype(float))
            _set_hist(self.snr_hist, snap.get("snr_hist"))
        if store is not None and hasattr(store, "latest"):
            self.summary.setText(self._summary(snap, store))
            self.summary.setToolTip(SUMMARY_TIP.format(n=snap.get("n_eval", "the"),
                                                       s=snap.get("pred_samples", "S")))

    @staticmethod
    def _summary(snap: dict, store) -> str:
        """The summary line: each Monte Carlo or test-set figure as value ± its SE."""
        e, pe = store.latest("test_error"), store.latest("plain_test_error")
        text = f"step {snap.get('step', 0):,} · epoch {snap.get('epoch', 0):.2f}"
        if np.isfinite(e):
            text += (f" · test error (subset): BBB {fmt_se(e, store.latest('test_error_se'))} %, "
                     f"plain {fmt_se(pe, store.latest('plain_test_error_se'))} %")
        if "prune_error" in snap:
            percents = np.round(100 * np.asarray(snap["prune_fractions"])).astype(int)
            at = {p: i for i, p in enumerate(percents)}
            if 95 in at:
                i = at[95]
                text += f" · 95 % pruned: {fmt_se(snap['prune_error'][i], snap['prune_error_se'][i])} %"
            ent = {k: fmt_se(v, float(np.hypot(draws, images)))
                   for k, (v, draws, images) in snap["entropy_mean"].items()}
            text += (f" · mean entropy test/off-data: BBB {ent['bbb_test']}/{ent['bbb_ood']}, "
                     f"plain {ent['plain_test']}/{ent['plain_ood']}")
        return text

    def clear(self) -> None:
        for c in (self.err_bbb, self.err_plain, self.kl_curve, self.nll_curve, self.prune_curve,
                  *self.hists.values(), self.snr_hist):
            c.setData([], [])
        for band in (*self.err_bands.values(), self.prune_band):
            band.clear()
        self.summary.setText("")


def _positive(x, y):
    keep = y > 0
    return x[keep], y[keep]
