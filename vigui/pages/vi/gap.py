"""The evidence gap (eqs. 10–12) on the conjugate Gaussian model: q = N(m, s²) set by
sliders or by dragging it on the (m, log s) plane; log p(x) = ELBO + KL as bars that add
up; both decompositions of the ELBO; prior, posterior and q; click to add or remove data
points; "Optimise" animates gradient ascent of q onto the posterior (GapAscent)."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDoubleSpinBox, QGridLayout, QPushButton, QSpinBox
from superqt import QLabeledDoubleSlider

from engine.vi.gap import GapAscent, GapConfig
from engine.vi.models import ConjugateGaussian, elbo_surface, gaussian_data
from vigui.pages.vi.common import (
    POSTERIOR,
    PRIOR,
    Q,
    Section,
    colour,
    fmt,
    form,
    group,
    heat_image,
    pen,
    place_image,
    static_plot,
    summary_label,
)
from vigui.run.control import RunControl
from vigui.run.worker import RUNNING
from vigui.widgets.layout import tight
from vigui.widgets.plots import fitted_axes

M_RANGE = (-4.0, 4.0)
LOG_S_RANGE = (-4.0, 1.5)
Z_RANGE = (-4.5, 4.5)
SURFACE_SIZE = 90
CLICK_TOLERANCE = 0.12  # a click this close (in z units) to a data point removes it
MAX_POINTS = 200
LN10 = math.log(10)


def _slider(lo, hi, value, tip):
    s = QLabeledDoubleSlider(Qt.Horizontal)
    s.setRange(lo, hi)
    s.setDecimals(2)
    s.setSingleStep(0.01)
    s.setValue(value)
    s.setToolTip(tip)
    return s


def normal_pdf(z, mu, sd):
    return np.exp(-0.5 * ((z - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))


class GapSection(Section):
    title = "The evidence gap (eqs. 10–12)"
    anchor = "gap"

    def build(self) -> None:
        # -- data ------------------------------------------------------------------------
        self.n = QSpinBox()
        self.n.setRange(1, MAX_POINTS)
        self.n.setValue(8)
        self.true_z = QDoubleSpinBox()
        self.true_z.setRange(-3, 3)
        self.true_z.setSingleStep(0.1)
        self.true_z.setValue(1.2)
        self.sigma_x = QDoubleSpinBox()
        self.sigma_x.setRange(0.2, 5)
        self.sigma_x.setSingleStep(0.1)
        self.sigma_x.setValue(1.5)
        self.seed = QSpinBox()
        self.seed.setRange(0, 1_000_000)
        for w, tip in ((self.n, "Number of data points x_i"),
                       (self.true_z, "The z the data are drawn with"),
                       (self.sigma_x, "Noise sd: x_i | z ~ N(z, σx²)"),
                       (self.seed, "Seed of the data draws")):
            w.setKeyboardTracking(False)
            w.setToolTip(tip)
            w.valueChanged.connect(self.regenerate)
        self.controls_layout.addWidget(group("Data: z ~ N(0,1), x_i ~ N(z, σx²)", form(
            ("Points n", self.n), ("True z", self.true_z), ("σx", self.sigma_x), ("Seed", self.seed))))
        # -- q ---------------------------------------------------------------------------
        self.m = _slider(*M_RANGE, -1.5, "Mean m of q")
        self.log_s = _slider(*LOG_S_RANGE, 0.5, "log of q's standard deviation s")
        self.m.valueChanged.connect(self._q_moved)
        self.log_s.valueChanged.connect(self._q_moved)
        self.optimise = QPushButton("Optimise ▶")
        self.optimise.setToolTip("Gradient ascent of the exact ELBO from this q to the posterior")
        self.optimise.clicked.connect(self.toggle_optimise)
        self.controls_layout.addWidget(group("q(z) = N(m, s²)", form(
            ("m", self.m), ("log s", self.log_s), ("", self.optimise))))
        hint = summary_label()
        hint.setText("Drag q on the ELBO map or click it. Click the density plot to add a "
                     "data point there; click a point to remove it.")
        self.controls_layout.addWidget(hint)

        self.run = RunControl(self._make_factory, rate=30.0, parent=self)
        self.run.frame.connect(self._on_frame)
        self.run.state_changed.connect(self._on_state)
        self.run.failed.connect(self.report)

        # -- views -----------------------------------------------------------------------
        grid = tight(QGridLayout(self.view), margins=(4, 4, 4, 4))
        self.summary = summary_label()
        grid.addWidget(self.summary, 0, 0, 1, 2)

        self.density_widget = pg.PlotWidget(axisItems=fitted_axes())
        self.density = static_plot(self.density_widget, "prior, posterior, q",
                                   "z", "density")
        self.density.addLegend(offset=(5, 5), labelTextSize="8pt")
        self.prior_curve = pg.PlotDataItem(pen=pen(PRIOR, 2, Qt.DashLine), name="prior p(z)")
        self.post_curve = pg.PlotDataItem(pen=pen(POSTERIOR, 2), name="posterior p(z|x)")
        self.q_curve = pg.PlotDataItem(pen=pen(Q, 2.5), name="q(z)")
        self.data_points = pg.ScatterPlotItem(size=10, symbol="t1", brush=colour(1), pen=pg.mkPen("k"),
                                              name="data x_i")
        for item in (self.prior_curve, self.post_curve, self.q_curve, self.data_points):
            self.density.addItem(item)
        self.density_widget.scene().sigMouseClicked.connect(self._density_clicked)
        grid.addWidget(self.density_widget, 1, 0)

        self.surface_widget = pg.PlotWidget(axisItems=fitted_axes())
        self.surface = static_plot(self.surface_widget,
                                   "log p(x) − ELBO", "m", "log s")
        self.surface_widget.setToolTip("The gap log p(x) − ELBO = KL(q‖p(z|x)) for each q = N(m, s²); "
                                       "colours on a log scale, contours at 10^−1 … 10^3 nats")
        self.surface_img = heat_image()
        self.surface.addItem(self.surface_img)
        self.contours = []
        self.post_mark = pg.ScatterPlotItem(size=18, symbol="star", brush=colour(POSTERIOR),
                                            pen=pg.mkPen("w"))
        self.path = pg.PlotDataItem(pen=pen(Q, 1.5))
        self.q_target = pg.TargetItem(pos=(-1.5, 0.5), size=14, movable=True,
                                      pen=pg.mkPen(colour(Q), width=3))
        self.q_target.sigPositionChanged.connect(self._target_dragged)
        for item in (self.post_mark, self.path, self.q_target):
            self.surface.addItem(item)
        self.surface_widget.scene().sigMouseClicked.connect(self._surface_clicked)
        grid.addWidget(self.surface_widget, 1, 1)

        self.bars_widget = pg.PlotWidget(axisItems=fitted_axes())
        self.bars = static_plot(self.bars_widget, "", "", "nats")
        self.bars.showGrid(y=True, alpha=0.2)
        self.bar_items = pg.BarGraphItem(x=[], height=[], width=0.6)
        self.bars.addItem(self.bar_items)
        self.evidence_line = pg.InfiniteLine(angle=0, pen=pg.mkPen(colour(7), width=1.5, style=Qt.DashLine))
        self.bars.addItem(self.evidence_line)
        self.elbo_line = pg.InfiniteLine(angle=0, pen=pg.mkPen(colour(0), width=1.2, style=Qt.DotLine))
        self.bars.addItem(self.elbo_line)
        self.bars.getAxis("bottom").setHeight(52)
        self.bars.setTitle("log p(x) = ELBO + KL; ELBO two ways (eq. 12)", size="9pt")
        grid.addWidget(self.bars_widget, 2, 0, 1, 2)
        # The bars' numbers: under the plot, not under each bar (zoomed, "ELBO + KL /
        # −36.675 + 22.918" ran into its neighbours even at its smallest size).
        self.bar_values = summary_label()
        grid.addWidget(self.bar_values, 3, 0, 1, 2)
        grid.setRowStretch(1, 3)
        grid.setRowStretch(2, 2)
        self.x = gaussian_data(8, 1.2, 1.5, 0)
        self.model = ConjugateGaussian(self.x, 1.5)
        self._surface_for = None
        self._dragging_target = False

    # -- model and q -----------------------------------------------------------------------
    def regenerate(self, *_args) -> None:
        """New data from the controls (discarding clicked edits)."""
        self.stop_optimise()
        self.x = gaussian_data(self.n.value(), self.true_z.value(), self.sigma_x.value(),
                               self.seed.value())
        self.update()

    def q(self) -> tuple[float, float]:
        return float(self.m.value()), float(self.log_s.value())

    def set_q(self, m: float, log_s: float) -> None:
        m = min(M_RANGE[1], max(M_RANGE[0], float(m)))
        log_s = min(LOG_S_RANGE[1], max(LOG_S_RANGE[0], float(log_s)))
        for w, v in ((self.m, m), (self.log_s, log_s)):
            w.blockSignals(True)
            w.setValue(v)
            w.blockSignals(False)
        self.draw_q()

    def _q_moved(self, *_args) -> None:
        if not self._optimising_frame:
            self.stop_optimise()
        self.draw_q()

    _optimising_frame = False

    def add_point(self, value: float) -> None:
        if len(self.x) >= MAX_POINTS:
            self.report(f"at most {MAX_POINTS} data points")
            return
        self.stop_optimise()
        self.x = np.append(self.x, float(value))
        self.update()

    def remove_point(self, index: int) -> None:
        if len(self.x) <= 1:
            self.report("the model needs at least one data point; the last one stays")
            return
        self.stop_optimise()
        self.x = np.delete(self.x, int(index))
        self.update()

    # -- drawing ------------------------------------------------------------------------------
    def refresh(self) -> None:
        self.model = ConjugateGaussian(self.x, self.sigma_x.value())
        mdl = self.model
        z = np.linspace(*Z_RANGE, 600)
        self.prior_curve.setData(z, normal_pdf(z, 0, 1))
        self.post_curve.setData(z, normal_pdf(z, mdl.post_mean, mdl.post_sd))
        self.data_points.setData(self.x, np.zeros_like(self.x))
        key = (tuple(self.x), self.sigma_x.value())
        if key != self._surface_for:
            self._surface_for = key
            m, ls, elbo = elbo_surface(mdl, M_RANGE, LOG_S_RANGE, SURFACE_SIZE)
            gap = np.maximum(mdl.log_evidence() - elbo, 1e-6)
            self.gap_grid = np.log10(gap)
            place_image(self.surface_img, self.gap_grid, (*M_RANGE, *LOG_S_RANGE), levels=(-2, 4))
            for c in self.contours:
                self.surface.removeItem(c)
            self.contours = []
            for level in (-1, 0, 1, 2, 3):
                iso = pg.IsocurveItem(data=self.gap_grid, level=level, pen=pg.mkPen((90, 90, 90, 160)))
                iso.setParentItem(self.surface_img)
                self.contours.append(iso)
            self.post_mark.setData([mdl.post_mean], [math.log(mdl.post_sd)])
            self.surface.getViewBox().setRange(xRange=M_RANGE, yRange=LOG_S_RANGE, padding=0)
        self.draw_q()

    def values(self) -> dict:
        """Every number the bars show, for the current q (nats)."""
        mdl = self.model
        m, log_s = self.q()
        s = math.exp(log_s)
        return {"log_evidence": mdl.log_evidence(), "elbo": float(mdl.elbo(m, s)),
                "kl": float(mdl.kl_posterior(m, s)), "energy": float(mdl.energy(m, s)),
                "entropy": float(mdl.entropy(s)), "expected_log_lik": float(mdl.expected_log_lik(m, s)),
                "kl_prior": float(mdl.kl_prior(m, s))}

    def draw_q(self) -> None:
        m, log_s = self.q()
        z = np.linspace(*Z_RANGE, 600)
        q = normal_pdf(z, m, math.exp(log_s))
        self.q_curve.setData(z, q)
        top = max(q.max(), normal_pdf(0, 0, self.model.post_sd), 0.45)
        self.density.getViewBox().setRange(xRange=Z_RANGE, yRange=(-0.04 * top, 1.05 * top), padding=0)
        self._dragging_target = True
        self.q_target.setPos(m, log_s)
        self._dragging_target = False
        v = self.values()
        self.v = v
        # A waterfall per column: the first term as a bar from 0, the second as a bar
        # beside it from the end of the first, so each column visibly ends at its total.
        segs = [  # (x, start, end, colour index)
            (0.0, 0, v["log_evidence"], 7),
            (0.85, 0, v["elbo"], 0), (1.15, v["elbo"], v["elbo"] + v["kl"], 5),
            (1.85, 0, v["energy"], 4), (2.15, v["energy"], v["energy"] + v["entropy"], 2),
            (2.85, 0, v["expected_log_lik"], 1),
            (3.15, v["expected_log_lik"], v["expected_log_lik"] - v["kl_prior"], 3),
        ]
        y0 = [min(a, b) for _, a, b, _ in segs]
        h = [abs(b - a) for _, a, b, _ in segs]
        self.bar_items.setOpts(x=[x for x, *_ in segs], y0=y0, height=h,
                               width=[0.5] + [0.3] * 6,
                               brushes=[colour(c, 210) for *_, c in segs],
                               pens=[pg.mkPen((40, 40, 40))] * len(segs))
        self.evidence_line.setValue(v["log_evidence"])
        self.elbo_line.setValue(v["elbo"])
        self.bars.getAxis("bottom").setTicks([[
            (0, "log p(x)"), (1, "ELBO\n+ KL"), (2, "energy\n+ entropy"),
            (3, "E log p(x|z)\n− KL(q‖p(z))")]])
        self.bar_values.setText(
            f"Bars (dashed line: log p(x), dotted: ELBO): log p(x) {fmt(v['log_evidence'])} "
            f"= ELBO {fmt(v['elbo'])} + KL {fmt(v['kl'])}; "
            f"ELBO = energy {fmt(v['energy'])} + entropy {fmt(v['entropy'])} "
            f"= E log p(x|z) {fmt(v['expected_log_lik'])} − KL(q‖p(z)) {fmt(v['kl_prior'])}")
        lo = min(0.0, min(y0))
        hi = max(0.0, max(a + b for a, b in zip(y0, h, strict=False)))
        span = max(hi - lo, 1.0)
        self.bars.getViewBox().setRange(xRange=(-0.45, 3.45), yRange=(lo - 0.05 * span, hi + 0.05 * span),
                                        padding=0)
        self.summary.setText(
            f"log p(x) = <b>{fmt(v['log_evidence'])}</b> = ELBO <b>{fmt(v['elbo'])}</b> + "
            f"KL(q‖p(z|x)) <b>{fmt(v['kl'])}</b> nats. Posterior N({fmt(self.model.post_mean)}, "
            f"{fmt(self.model.post_sd)}²); q = N({fmt(m)}, {fmt(math.exp(log_s))}²); n = {len(self.x)}. "
            f"Eq. 12: ELBO = energy E log p(x,z) + entropy = E log p(x|z) − KL(q‖p(z)).")

    # -- mouse -----------------------------------------------------------------------------
    def _target_dragged(self, *_args) -> None:
        if self._dragging_target:
            return
        pos = self.q_target.pos()
        self.stop_optimise()
        self.set_q(pos.x(), pos.y())

    def _surface_clicked(self, event) -> None:
        vb = self.surface.getViewBox()
        if event.button() != Qt.LeftButton or not vb.sceneBoundingRect().contains(event.scenePos()):
            return
        p = vb.mapSceneToView(event.scenePos())
        self.stop_optimise()
        self.set_q(p.x(), p.y())

    def _density_clicked(self, event) -> None:
        vb = self.density.getViewBox()
        if event.button() != Qt.LeftButton or not vb.sceneBoundingRect().contains(event.scenePos()):
            return
        value = vb.mapSceneToView(event.scenePos()).x()
        self.click_data(value)

    def click_data(self, value: float) -> None:
        """Remove the data point within CLICK_TOLERANCE of value, or add one there."""
        if len(self.x):
            i = int(np.argmin(np.abs(self.x - value)))
            if abs(self.x[i] - value) < CLICK_TOLERANCE:
                self.remove_point(i)
                return
        self.add_point(value)

    # -- optimise ------------------------------------------------------------------------------
    def _make_factory(self):
        model = ConjugateGaussian(self.x, self.sigma_x.value())
        m, log_s = self.q()
        config = GapConfig(m=m, log_s=log_s).validate()
        return lambda: GapAscent(model, config)

    def toggle_optimise(self) -> None:
        if self.run.playing:
            self.run.pause()
        else:
            self.path.setData([], [])
            self.run.reset(play=True)

    def stop_optimise(self) -> None:
        if self.run.runner is not None:
            self.run.close()

    def _on_frame(self, snap: dict) -> None:
        path = snap["path"]
        self.path.setData(path[:, 0], path[:, 1])
        self._optimising_frame = True
        self.set_q(snap["m"], snap["log_s"])
        self._optimising_frame = False

    def _on_state(self, state: str) -> None:
        self.optimise.setText("Pause ❚❚" if state == RUNNING else "Optimise ▶")

    def run_control(self):
        return self.run

    def close(self) -> None:
        self.stop_optimise()

    # -- state --------------------------------------------------------------------------------
    def state(self) -> dict:
        m, log_s = self.q()
        return {"n": self.n.value(), "true_z": self.true_z.value(), "sigma_x": self.sigma_x.value(),
                "seed": self.seed.value(), "m": m, "log_s": log_s}

    def restore(self, state: dict) -> None:
        for name, w in (("n", self.n), ("seed", self.seed)):
            v = state.get(name)
            if isinstance(v, int) and not isinstance(v, bool):
                w.setValue(v)
        for name, w in (("true_z", self.true_z), ("sigma_x", self.sigma_x)):
            v = state.get(name)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                w.setValue(float(v))
        self.regenerate()
        m, log_s = state.get("m"), state.get("log_s")
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
               for v in (m, log_s)):
            self.set_q(m, log_s)

    def screenshot(self) -> None:
        self.restore({"n": 8, "true_z": 1.2, "sigma_x": 1.5, "seed": 0, "m": -1.5, "log_s": 0.5})
