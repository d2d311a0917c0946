"""Gradient estimators (Figure 2, eq. 13): histograms of the S-sample estimates of
∇_(m, log s) ELBO against the true gradient, their variance against S, and SGD
trajectories of each estimator on the ELBO map (same step size, same draws).
Runs engine.vi.estimators.EstimatorExperiment on the thread runner."""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QGridLayout

from engine.vi.estimators import ESTIMATOR_LABELS, ESTIMATORS, EstimatorConfig, EstimatorExperiment
from engine.vi.models import best_gaussian_q, elbo_surface, make_model
from vigui.pages.vi.common import (
    ESTIMATOR_COLOUR,
    POSTERIOR,
    ParamRunSection,
    colour,
    fmt,
    heat_image,
    pen,
    place_image,
    static_plot,
    summary_label,
)
from vigui.widgets.numbers import fmt_se
from vigui.widgets.param_form import ParamForm
from vigui.widgets.plots import fitted_axes

M_RANGE = (-3.0, 3.0)
LOG_S_RANGE = (-4.0, 1.5)
SAMPLE_CHOICES = (1, 3, 10, 30, 100, 300, 1000)
FIELDS = [("Model", ["model", "n", "true_z", "sigma_x", "data_seed"]),
          ("q = N(m, s²) and the estimators", ["m", "log_s", "samples", "batch", "lr", "max_steps",
                                               "seed"])]
OVERRIDES = {"samples": {"choices": SAMPLE_CHOICES},
             "m": {"lo": M_RANGE[0], "hi": M_RANGE[1], "decimals": 2, "step": 0.1},
             "log_s": {"lo": LOG_S_RANGE[0], "hi": LOG_S_RANGE[1], "decimals": 2, "step": 0.1},
             "model": {"choice_labels": ("conjugate Gaussian", "logistic regression (1 weight)")}}
COMPONENTS = ("∂ELBO/∂m", "∂ELBO/∂log s")
MAP_SIZE = 80


def map_key(c: EstimatorConfig) -> tuple:
    """What the ELBO map depends on: the model and its data (σx only for the Gaussian)."""
    return c.model, c.n, c.true_z, c.sigma_x if c.model == "gaussian" else None, c.data_seed


@lru_cache(maxsize=8)
def elbo_map(model: str, n: int, true_z: float, sigma_x: float | None, data_seed: int):
    """(log10 of the gap to the best q on the (m, log s) grid, best m, best log s): computed
    once per model (a quadrature grid, ~0.2 s for the logistic model), as a page rebuilt by
    the next tour stop or a parameter set back shows it again."""
    built = make_model(model, n, true_z, 1.0 if sigma_x is None else sigma_x, data_seed)
    bm, bl, best = best_gaussian_q(built)
    _, _, elbo = elbo_surface(built, M_RANGE, LOG_S_RANGE, MAP_SIZE)
    gap = np.log10(np.maximum(best - elbo, 1e-4))
    gap.flags.writeable = False  # shared by every page that shows this model
    return gap, bm, bl


class EstimatorSection(ParamRunSection):
    rate = 30.0
    title = "Gradient estimators (Figure 2, eq. 13)"
    anchor = "estimators"

    def build(self) -> None:
        c = EstimatorConfig()
        self.build_run()
        legend = summary_label()
        legend.setText(" ".join(
            f"<span style='color: rgb{tuple(colour(ESTIMATOR_COLOUR[k]).getRgb()[:3])}'>■</span> "
            f"{ESTIMATOR_LABELS[k]}" for k in ESTIMATORS)
            + "<br>Baseline: running mean of f(z) − log q(z) over earlier draws.")
        self.controls_layout.addWidget(legend)

        # -- views ----------------------------------------------------------------------------
        grid = QGridLayout(self.view)
        grid.setContentsMargins(4, 4, 4, 4)
        self.summary = summary_label()
        grid.addWidget(self.summary, 0, 0, 1, 2)
        self.hist_plots, self.hist_curves, self.truth_lines = [], [], []
        for j, name in enumerate(COMPONENTS):
            w = pg.PlotWidget(axisItems=fitted_axes())
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
        w = pg.PlotWidget(axisItems=fitted_axes())
        self.var_plot = static_plot(w, "variance against S", "samples S", "total variance")
        self.var_plot.setLogMode(True, True)
        self.var_plot.showGrid(x=True, y=True, alpha=0.2)
        self.var_curves = {k: pg.PlotDataItem(pen=pen(ESTIMATOR_COLOUR[k], 2), symbol="o", symbolSize=5,
                                              symbolBrush=colour(ESTIMATOR_COLOUR[k]))
                           for k in ESTIMATORS}
        for item in self.var_curves.values():
            self.var_plot.addItem(item)
        # each point ± 1 SE (200 replicates: 7-50 %), shaded
        self.var_bands, self.var_fills = {}, {}
        for k in ESTIMATORS:
            # a faint edge pen: a PlotDataItem without a pen keeps no path to fill between
            edges = tuple(pg.PlotDataItem(pen=pg.mkPen(colour(ESTIMATOR_COLOUR[k], 70), width=0.6))
                          for _ in range(2))
            for edge in edges:
                self.var_plot.addItem(edge)
            band = pg.FillBetweenItem(*edges, brush=colour(ESTIMATOR_COLOUR[k], 50))
            self.var_plot.addItem(band)
            self.var_bands[k], self.var_fills[k] = edges, band
        self.s_line = pg.InfiniteLine(angle=90, pen=pg.mkPen((120, 120, 120), style=Qt.DotLine))
        self.var_plot.addItem(self.s_line)
        grid.addWidget(w, 2, 0)
        self.map_widget = pg.PlotWidget(axisItems=fitted_axes())
        self.map = static_plot(self.map_widget, "SGD paths on the ELBO map",
                               "m", "log s")
        self.map_img = heat_image()
        self.map.addItem(self.map_img)
        self.paths = {k: pg.PlotDataItem(pen=pen(ESTIMATOR_COLOUR[k], 1.8)) for k in ESTIMATORS}
        for item in self.paths.values():
            self.map.addItem(item)
        self.best_mark = pg.ScatterPlotItem(size=16, symbol="star", brush=colour(POSTERIOR),
                                            pen=pg.mkPen("w"))
        self.map.addItem(self.best_mark)
        self.start = pg.TargetItem(pos=(c.m, c.log_s), size=14, movable=True,
                                   pen=pg.mkPen((40, 40, 40), width=2.5))
        self.start.sigPositionChangeFinished.connect(self._start_dragged)
        self.map.addItem(self.start)
        grid.addWidget(self.map_widget, 2, 1)
        grid.setRowStretch(1, 1)
        grid.setRowStretch(2, 1)
        # the SGD paths and variances are views of the run; the table compares runs' numbers
        self.add_comparison({}, tuple(f"var_{k}" for k in ESTIMATORS))
        self._map_for = None
        # The map is drawn once the event loop turns: a tour stop's frame, shown before
        # that, brings it (a quadrature grid: 0.2-1.2 s on a busy machine, saved).
        self._map_timer = QTimer(self)
        self._map_timer.setSingleShot(True)
        self._map_timer.setInterval(0)
        self._map_timer.timeout.connect(self._draw_map)

    # -- parameters ------------------------------------------------------------------------------
    def build_params(self) -> ParamForm:
        return ParamForm(EstimatorConfig, FIELDS, overrides=OVERRIDES)

    def config(self) -> EstimatorConfig:
        return self.params.config()

    def make_factory(self):
        config = self.config()
        return lambda: EstimatorExperiment(config)

    def params_changed(self) -> None:
        self.params.widget("sigma_x").setEnabled(self.params.value("model") == "gaussian")
        self.update()

    def _start_dragged(self, *_args) -> None:
        pos = self.start.pos()
        self.params.set_values({"m": round(min(M_RANGE[1], max(M_RANGE[0], pos.x())), 2),
                                "log_s": round(min(LOG_S_RANGE[1], max(LOG_S_RANGE[0], pos.y())), 2)})
        self._params_changed()

    def set_start(self, m: float, log_s: float) -> None:
        """Move the comparison point (as dragging ⊕ does)."""
        self.start.setPos(m, log_s)
        self._start_dragged()

    # -- drawing -------------------------------------------------------------------------------
    def refresh(self) -> None:
        """The ELBO map of the current model (no run needed)."""
        c = self.config()
        if map_key(c) != self._map_for:
            self._map_timer.start()
        self.start.blockSignals(True)
        self.start.setPos(c.m, c.log_s)
        self.start.blockSignals(False)
        self.s_line.setValue(math.log10(c.samples))

    def _draw_map(self) -> None:
        try:
            key = map_key(self.config())
            if key != self._map_for:
                self._place_map(key, *elbo_map(*key))
        except ValueError as exc:
            self.report(str(exc))

    def _place_map(self, key: tuple, gap: np.ndarray, bm: float, bl: float) -> None:
        self._map_for = key
        place_image(self.map_img, gap, (*M_RANGE, *LOG_S_RANGE), levels=(-2, 4))
        self.best_mark.setData([bm], [bl])
        self.map.getViewBox().setRange(xRange=M_RANGE, yRange=LOG_S_RANGE, padding=0)

    def show_frame(self, frame: dict) -> None:
        """A tour stop's frame, with the ELBO map of its model (``elbo_map``, computed by
        :func:`elbo_map` when the frame was written: the same numbers)."""
        shipped = frame.get("elbo_map")
        if isinstance(shipped, dict) and "gap" in shipped and "best" in shipped:
            self._map_timer.stop()
            self._place_map(map_key(self.config()), shipped["gap"], *map(float, shipped["best"]))
        super().show_frame(frame)

    def screenshot_ready(self) -> bool:
        return self._map_for == map_key(self.config()) and super().screenshot_ready()

    def close(self) -> None:
        self._map_timer.stop()
        super().close()

    def clear_views(self) -> None:
        for curves in self.hist_curves:
            for item in curves.values():
                item.setData([], [])
        for item in list(self.paths.values()) + list(self.var_curves.values()):
            item.setData([], [])
        for edges in self.var_bands.values():
            for edge in edges:
                edge.setData([], [])
        self.summary.setText("Press ▶ Play: each step draws new estimates and takes one SGD "
                             "step per estimator.")

    def render(self, snap: dict) -> None:
        if self.holds_frame(snap):
            return  # the shipped frame stays until the run has caught up with it
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
                self._var_band(k, curve)
        var = {k: float(np.sum(snap["variance"][k])) for k in ESTIMATORS}
        # a frame shipped before the errors were measured has none: "± ?"
        var_se = snap.get("variance_se", {})
        ratio_se = snap.get("ratio_se", {})
        rows = []
        for k in ESTIMATORS:
            mean, se = snap["mean"][k], snap["stderr"][k]
            mark = " <b>diverged</b>" if snap["diverged"][k] else ""
            rows.append(f"<span style='color: rgb{tuple(colour(ESTIMATOR_COLOUR[k]).getRgb()[:3])}'>■</span> "
                        f"{ESTIMATOR_LABELS[k]}: ({fmt(mean[0], 2)} ± {fmt(se[0], 2)}, "
                        f"{fmt(mean[1], 2)} ± {fmt(se[1], 2)}), variance "
                        f"{fmt_se(var[k], var_se.get(k, math.nan))}{mark}")
        ratio = var["score"] / var["reparam"] if var["reparam"] > 0 else math.nan
        ratio_cv = var["score_cv"] / var["reparam"] if var["reparam"] > 0 else math.nan
        self.summary.setText(
            f"True gradient ({fmt(truth[0], 3)}, {fmt(truth[1], 3)}) from "
            f"{'the closed form' if self.config().model == 'gaussian' else 'quadrature'}; "
            f"means ± 1 SE over {snap['count']:,} estimates of S = {self.config().samples}:<br>"
            + "<br>".join(rows)
            + f"<br>Variance ratio score / reparam = <b>{fmt_se(ratio, ratio_se.get('score', math.nan))}"
              f"</b>, with baseline <b>{fmt_se(ratio_cv, ratio_se.get('score_cv', math.nan))}</b> "
              "(± 1 SE; the estimators share their draws, so the SE is the paired one).")

    def _var_band(self, k: str, curve: dict) -> None:
        """The variance curve's ± 1 SE band of estimator ``k`` (none in a table saved
        without errors). With 200 replicates the score function's SE reaches 30-50 % at
        S = 1 (heavy tails): the band shows it. The log axis cannot show zero: a lower
        edge under a tenth of the value (an SE over 90 %) is drawn at a tenth."""
        se = curve.get(f"{k}_se")
        lower, upper = self.var_bands[k]
        if se is None or not np.all(np.isfinite(se)):
            lower.setData([], [])
            upper.setData([], [])
            return
        value = np.asarray(curve[k], dtype=float)
        upper.setData(curve["sizes"], np.maximum(value + se, 1e-300))
        lower.setData(curve["sizes"], np.maximum(np.maximum(value - se, 0.1 * value), 1e-300))

    # -- lifecycle ------------------------------------------------------------------------------
    def screenshot(self) -> None:
        self.restore({"model": "logistic", "n": 20, "true_z": 1.0, "data_seed": 0, "m": -1.5,
                      "log_s": 0.5, "samples": 10, "batch": 50, "lr": 0.02, "max_steps": 150,
                      "seed": 0})
        self._restart_timer.stop()
        self.run.set_rate(None)
        self.run.reset(play=True)
