"""Gradient estimators (Figure 2, eq. 13): histograms of the S-sample estimates of
∇_(m, log s) ELBO against the true gradient, their variance against S, and SGD
trajectories of each estimator on the ELBO map (same step size, same draws).
Runs engine.vi.estimators.EstimatorExperiment on the thread runner."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QGridLayout, QSpinBox

from engine.vi.estimators import ESTIMATOR_LABELS, ESTIMATORS, EstimatorConfig, EstimatorExperiment
from engine.vi.models import best_gaussian_q, elbo_surface, make_model

from .common import (ESTIMATOR_COLOUR, POSTERIOR, Section, colour, fmt, form, group, heat_image,
                     pen, place_image, static_plot, summary_label)
from .run import MetricsView, RunButtons, RunControl

M_RANGE = (-3.0, 3.0)
LOG_S_RANGE = (-4.0, 1.5)
SAMPLE_CHOICES = (1, 3, 10, 30, 100, 300, 1000)
RESTART_DELAY_MS = 200
COMPONENTS = ("∂ELBO/∂m", "∂ELBO/∂log s")


def _spin(lo, hi, value, step, decimals=None, tip=""):
    box = QDoubleSpinBox() if decimals is not None else QSpinBox()
    if decimals is not None:
        box.setDecimals(decimals)
    box.setRange(lo, hi)
    box.setSingleStep(step)
    box.setValue(value)
    box.setKeyboardTracking(False)
    box.setToolTip(tip)
    return box


class EstimatorSection(Section):
    title = "Gradient estimators (Figure 2, eq. 13)"
    anchor = "estimators"

    def build(self) -> None:
        c = EstimatorConfig()
        self.model_box = QComboBox()
        self.model_box.addItem("conjugate Gaussian", "gaussian")
        self.model_box.addItem("logistic regression (1 weight)", "logistic")
        self.model_box.setToolTip("gaussian: z ~ N(0,1), x_i ~ N(z, σx²); logistic: w ~ N(0,1), "
                                  "y_i ~ Bernoulli(σ(w x_i)), x_i ~ N(0,1)")
        self.n = _spin(1, 500, c.n, 1, tip="Data points")
        self.true_z = _spin(-5, 5, c.true_z, 0.1, 2, "The z (or weight w) the data are drawn with")
        self.sigma_x = _spin(0.1, 10, c.sigma_x, 0.1, 2, "Noise sd of the Gaussian model")
        self.data_seed = _spin(0, 1_000_000, 0, 1, tip="Seed of the data")
        self.m = _spin(M_RANGE[0], M_RANGE[1], c.m, 0.1, 2, "q's mean where the estimators are "
                       "compared and SGD starts (or drag ⊕ on the map)")
        self.log_s = _spin(LOG_S_RANGE[0], LOG_S_RANGE[1], c.log_s, 0.1, 2, "q's log sd there")
        self.samples = QComboBox()
        for s in SAMPLE_CHOICES:
            self.samples.addItem(str(s), s)
        self.samples.setToolTip("Monte Carlo samples S per gradient estimate")
        self.batch = _spin(1, 1000, c.batch, 10, tip="New estimates per estimator per step")
        self.lr = _spin(1e-4, 1.0, c.lr, 0.005, 4, "SGD step size, the same for every estimator")
        self.steps = _spin(1, 100_000, c.max_steps, 100, tip="SGD steps (the run's length)")
        self.seed = _spin(0, 1_000_000, 0, 1, tip="Seed of the Monte Carlo draws")
        self.controls_layout.addWidget(group("Model", form(
            ("Model", self.model_box), ("Points n", self.n), ("True z / w", self.true_z),
            ("σx", self.sigma_x), ("Data seed", self.data_seed))))
        self.controls_layout.addWidget(group("q = N(m, s²) and the estimators", form(
            ("m", self.m), ("log s", self.log_s), ("Samples S", self.samples),
            ("Estimates / step", self.batch), ("SGD step", self.lr), ("SGD steps", self.steps),
            ("Seed", self.seed))))
        self.run = RunControl(self._make_factory, rate=30.0, reset_plays=True, parent=self)
        self.run.frame.connect(self.render)
        self.run.resetting.connect(self.clear_views)
        self.run.rejected.connect(self.report)
        self.run.failed.connect(self.report)
        self.buttons = RunButtons(self.run)
        self.controls_layout.insertWidget(0, self.buttons)
        legend = summary_label()
        legend.setText(" ".join(
            f"<span style='color: rgb{tuple(colour(ESTIMATOR_COLOUR[k]).getRgb()[:3])}'>■</span> "
            f"{ESTIMATOR_LABELS[k]}" for k in ESTIMATORS)
            + "<br>Baseline: running mean of f(z) − log q(z) over earlier draws.")
        self.controls_layout.addWidget(legend)

        self._restart_timer = QTimer(self)
        self._restart_timer.setSingleShot(True)
        self._restart_timer.setInterval(RESTART_DELAY_MS)
        self._restart_timer.timeout.connect(self._restart)
        for w in (self.n, self.true_z, self.sigma_x, self.data_seed, self.m, self.log_s,
                  self.batch, self.lr, self.steps, self.seed):
            w.valueChanged.connect(self._params_changed)
        for w in (self.model_box, self.samples):
            w.currentIndexChanged.connect(self._params_changed)

        # -- views ----------------------------------------------------------------------------
        grid = QGridLayout(self.view)
        grid.setContentsMargins(4, 4, 4, 4)
        self.summary = summary_label()
        grid.addWidget(self.summary, 0, 0, 1, 2)
        self.hist_plots, self.hist_curves, self.truth_lines = [], [], []
        for j, name in enumerate(COMPONENTS):
            w = pg.PlotWidget()
            plot = static_plot(w, f"{name} estimates", name, "count")
            curves = {}
            for k in ESTIMATORS:
                i = ESTIMATOR_COLOUR[k]
                curves[k] = pg.PlotDataItem(stepMode="center", fillLevel=0, pen=pen(i, 2),
                                            brush=colour(i, 45))
                plot.addItem(curves[k])
            line = pg.InfiniteLine(angle=90, pen=pg.mkPen(colour(POSTERIOR), width=2, style=Qt.DashLine))
            plot.addItem(line)
            self.hist_plots.append(plot)
            self.hist_curves.append(curves)
            self.truth_lines.append(line)
            grid.addWidget(w, 1, j)
        w = pg.PlotWidget()
        self.var_plot = static_plot(w, "variance against S", "samples S", "total variance")
        self.var_plot.setLogMode(True, True)
        self.var_plot.showGrid(x=True, y=True, alpha=0.2)
        self.var_curves = {k: pg.PlotDataItem(pen=pen(ESTIMATOR_COLOUR[k], 2), symbol="o", symbolSize=5,
                                              symbolBrush=colour(ESTIMATOR_COLOUR[k]))
                           for k in ESTIMATORS}
        for item in self.var_curves.values():
            self.var_plot.addItem(item)
        self.s_line = pg.InfiniteLine(angle=90, pen=pg.mkPen((120, 120, 120), style=Qt.DotLine))
        self.var_plot.addItem(self.s_line)
        grid.addWidget(w, 2, 0)
        self.map_widget = pg.PlotWidget()
        self.map = static_plot(self.map_widget, "SGD paths on the ELBO map",
                               "m", "log s")
        self.map_img = heat_image()
        self.map.addItem(self.map_img)
        self.paths = {k: pg.PlotDataItem(pen=pen(ESTIMATOR_COLOUR[k], 1.8)) for k in ESTIMATORS}
        for item in self.paths.values():
            self.map.addItem(item)
        self.best_mark = pg.ScatterPlotItem(size=16, symbol="star", brush=colour(POSTERIOR), pen=pg.mkPen("w"))
        self.map.addItem(self.best_mark)
        self.start = pg.TargetItem(pos=(c.m, c.log_s), size=14, movable=True,
                                   pen=pg.mkPen((40, 40, 40), width=2.5))
        self.start.sigPositionChangeFinished.connect(self._start_dragged)
        self.map.addItem(self.start)
        grid.addWidget(self.map_widget, 2, 1)
        grid.setRowStretch(1, 1)
        grid.setRowStretch(2, 1)
        self.metrics_view = MetricsView()
        self._map_for = None
        self.last_snapshot = None

    # -- parameters ------------------------------------------------------------------------------
    def config(self) -> EstimatorConfig:
        return EstimatorConfig(
            model=self.model_box.currentData(), n=int(self.n.value()), true_z=float(self.true_z.value()),
            sigma_x=float(self.sigma_x.value()), data_seed=int(self.data_seed.value()),
            m=float(self.m.value()), log_s=float(self.log_s.value()),
            samples=int(self.samples.currentData()), batch=int(self.batch.value()),
            lr=float(self.lr.value()), max_steps=int(self.steps.value()),
            seed=int(self.seed.value())).validate()

    def _make_factory(self):
        config = self.config()
        return lambda: EstimatorExperiment(config)

    def _params_changed(self, *_args) -> None:
        self.sigma_x.setEnabled(self.model_box.currentData() == "gaussian")
        self.update()
        if self.run.started:
            self._restart_timer.start()

    def _restart(self) -> None:
        self.run.reset(play=not self.run.paused_by_user)

    def _start_dragged(self, *_args) -> None:
        pos = self.start.pos()
        for w, v, (lo, hi) in ((self.m, pos.x(), M_RANGE), (self.log_s, pos.y(), LOG_S_RANGE)):
            w.blockSignals(True)
            w.setValue(min(hi, max(lo, v)))
            w.blockSignals(False)
        self._params_changed()

    def set_start(self, m: float, log_s: float) -> None:
        """Move the comparison point (as dragging ⊕ does)."""
        self.start.setPos(m, log_s)
        self._start_dragged()

    # -- drawing -------------------------------------------------------------------------------
    def refresh(self) -> None:
        """The ELBO map of the current model (no run needed)."""
        c = self.config()
        key = (c.model, c.n, c.true_z, c.sigma_x, c.data_seed)
        if key != self._map_for:
            self._map_for = key
            model = make_model(c.model, c.n, c.true_z, c.sigma_x, c.data_seed)
            bm, bl, best = best_gaussian_q(model)
            _, _, elbo = elbo_surface(model, M_RANGE, LOG_S_RANGE, 80)
            gap = np.log10(np.maximum(best - elbo, 1e-4))
            place_image(self.map_img, gap, (*M_RANGE, *LOG_S_RANGE), levels=(-2, 4))
            self.best_mark.setData([bm], [bl])
            self.map.getViewBox().setRange(xRange=M_RANGE, yRange=LOG_S_RANGE, padding=0)
        self.start.blockSignals(True)
        self.start.setPos(c.m, c.log_s)
        self.start.blockSignals(False)
        self.s_line.setValue(math.log10(c.samples))

    def clear_views(self) -> None:
        self.metrics_view.clear()
        self.last_snapshot = None
        for curves in self.hist_curves:
            for item in curves.values():
                item.setData([], [])
        for item in list(self.paths.values()) + list(self.var_curves.values()):
            item.setData([], [])
        self.summary.setText("Press ▶ Play: each step draws new estimates and takes one SGD "
                             "step per estimator.")

    def render(self, snap: dict) -> None:
        self.last_snapshot = snap
        truth = snap["true_grad"]
        for j in range(2):
            h = snap["histograms"][j]
            for k in ESTIMATORS:
                self.hist_curves[j][k].setData(h["edges"], h[k])
            self.truth_lines[j].setValue(truth[j])
        for k in ESTIMATORS:
            path = snap["paths"][k]
            self.paths[k].setData(path[:, 0], path[:, 1])
        curve = snap.get("variance_curve")
        if curve is not None:
            for k in ESTIMATORS:
                self.var_curves[k].setData(curve["sizes"], np.maximum(curve[k], 1e-300))
        var = {k: float(np.sum(snap["variance"][k])) for k in ESTIMATORS}
        rows = []
        for k in ESTIMATORS:
            mean, se = snap["mean"][k], snap["stderr"][k]
            mark = " <b>diverged</b>" if snap["diverged"][k] else ""
            rows.append(f"<span style='color: rgb{tuple(colour(ESTIMATOR_COLOUR[k]).getRgb()[:3])}'>■</span> "
                        f"{ESTIMATOR_LABELS[k]}: ({fmt(mean[0], 2)} ± {fmt(se[0], 2)}, "
                        f"{fmt(mean[1], 2)} ± {fmt(se[1], 2)}), variance {fmt(var[k], 3)}{mark}")
        ratio = var["score"] / var["reparam"] if var["reparam"] > 0 else math.nan
        ratio_cv = var["score_cv"] / var["reparam"] if var["reparam"] > 0 else math.nan
        self.summary.setText(
            f"True gradient ({fmt(truth[0], 3)}, {fmt(truth[1], 3)}) from "
            f"{'the closed form' if self.config().model == 'gaussian' else 'quadrature'}; "
            f"means ± 1 SE over {snap['count']:,} estimates of S = {self.config().samples}:<br>"
            + "<br>".join(rows)
            + f"<br>Variance ratio score / reparam = <b>{fmt(ratio, 1)}</b>, with baseline "
              f"<b>{fmt(ratio_cv, 1)}</b>.")
        self.metrics_view.of(snap)

    # -- lifecycle ------------------------------------------------------------------------------
    def shown(self) -> None:
        if not self.run.started:
            self.run.reset(play=False)

    def run_control(self):
        return self.run

    def close(self) -> None:
        self._restart_timer.stop()
        self.run.close()

    def screenshot_ready(self) -> bool:
        return self.run.ended and self.last_snapshot is not None

    def state(self) -> dict:
        c = self.config()
        return c.to_dict()

    def restore(self, state: dict) -> None:
        def num(name):
            v = state.get(name)
            return v if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None

        index = self.model_box.findData(state.get("model"))
        if index >= 0:
            self.model_box.setCurrentIndex(index)
        index = self.samples.findData(state.get("samples"))
        if index >= 0:
            self.samples.setCurrentIndex(index)
        for name, w in (("n", self.n), ("true_z", self.true_z), ("sigma_x", self.sigma_x),
                        ("data_seed", self.data_seed), ("m", self.m), ("log_s", self.log_s),
                        ("batch", self.batch), ("lr", self.lr), ("max_steps", self.steps),
                        ("seed", self.seed)):
            v = num(name)
            if v is not None:
                w.setValue(int(v) if isinstance(w, QSpinBox) else float(v))

    def screenshot(self) -> None:
        self.restore({"model": "logistic", "n": 20, "true_z": 1.0, "data_seed": 0, "m": -1.5,
                      "log_s": 0.5, "samples": 10, "batch": 50, "lr": 0.02, "max_steps": 150,
                      "seed": 0})
        self._restart_timer.stop()
        self.run.set_rate(None)
        self.run.reset(play=True)
