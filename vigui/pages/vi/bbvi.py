"""Black-box VI on 2-D targets: a family q (mean field, full covariance, flow) fitted by
Adam on the reparameterized ELBO (reverse KL) or on samples of the target (forward KL),
live: the target's density, q's contours (1- and 2-sd ellipses for Gaussians), samples
of q and the ELBO against log Z. Runs engine.vi.bbvi.BBVIExperiment on the thread runner
(torch is imported when this tab is first opened)."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QTransform
from PySide6.QtWidgets import QGridLayout

from engine.vi.bbvi import (
    EXTENTS,
    FAMILIES,
    FAMILY_LABELS,
    TARGET_LABELS,
    BBVIConfig,
    BBVIExperiment,
    target_grid,
)
from vigui.pages.vi.common import (
    FAMILY_COLOUR,
    ParamRunSection,
    colour,
    ellipse,
    fmt,
    heat_image,
    pen,
    place_image,
    static_plot,
    summary_label,
)
from vigui.widgets.layout import tight
from vigui.widgets.numbers import fmt_se
from vigui.widgets.param_form import SEED, ParamForm
from vigui.widgets.plots import fitted_axes

SAMPLE_CHOICES = (8, 16, 32, 64, 128, 256, 512)
Q_LEVELS = (0.05, 0.3, 0.7)  # q's contours, as fractions of its largest density on the grid
FIELDS = [("Target p̃(z)", ["target", "rho"]),
          ("Variational family q", ["family", "divergence", "layers"]),
          ("Optimiser (Adam)", ["samples", "lr", "max_steps", "anneal", "seed"])]
OVERRIDES = {"samples": {"choices": SAMPLE_CHOICES},
             "divergence": {"choice_labels": ("reverse KL(q‖p): ELBO", "forward KL(p‖q): samples of p")},
             "rho": {"lo": -0.95, "hi": 0.95, "decimals": 2, "step": 0.05}}
EXTRA = [SEED]


class BBVISection(ParamRunSection):
    title = "Black-box VI on 2-D targets (eq. 14)"
    anchor = "bbvi"

    def build(self) -> None:
        self.build_run()

        # -- views ----------------------------------------------------------------------------
        grid = tight(QGridLayout(self.view), margins=(4, 4, 4, 4))
        self.summary = summary_label()
        grid.addWidget(self.summary, 0, 0, 1, 2)
        self.plane_widget = pg.PlotWidget(axisItems=fitted_axes())
        self.plane = static_plot(self.plane_widget, "target (shaded, dashed), q (lines, dots)",
                                 "z₁", "z₂")
        self.plane.getViewBox().setAspectLocked(True)
        self.target_img = heat_image()
        self.plane.addItem(self.target_img)
        self.target_contours = []  # the target's own contours, thin grey
        for _ in range(2):
            iso = pg.IsocurveItem(pen=pg.mkPen((110, 110, 110), width=1, style=Qt.DashLine))
            self.plane.addItem(iso)
            self.target_contours.append(iso)
        self.isocurves = []
        for level in Q_LEVELS:
            iso = pg.IsocurveItem(level=level)
            self.plane.addItem(iso)
            self.isocurves.append(iso)
        self.ellipses = [pg.PlotDataItem() for _ in range(2)]
        for item in self.ellipses:
            self.plane.addItem(item)
        self.sample_dots = pg.ScatterPlotItem(size=3, pen=None)
        self.plane.addItem(self.sample_dots)
        # never squeezed flat by the wrapped numbers beside the ELBO plot (zoomed, the
        # page scrolls instead)
        self.plane_widget.setMinimumHeight(180)
        grid.addWidget(self.plane_widget, 1, 0, 1, 2)
        w = pg.PlotWidget(axisItems=fitted_axes())
        self.elbo_plot = static_plot(w, "ELBO and log Z", "step", "nats")
        self.elbo_plot.showGrid(x=True, y=True, alpha=0.2)
        self.elbo_raw = pg.PlotDataItem(pen=pg.mkPen((170, 170, 170), width=1))
        self.elbo_smooth = pg.PlotDataItem(pen=pen(0, 2))
        self.log_z_line = pg.InfiniteLine(angle=0, pen=pg.mkPen(colour(7), width=1.5, style=Qt.DashLine),
                                          label="log Z", labelOpts={"position": 0.92, "color": (20, 20, 20)})
        for item in (self.elbo_raw, self.elbo_smooth, self.log_z_line):
            self.elbo_plot.addItem(item)
        grid.addWidget(w, 2, 0)
        self.numbers = summary_label()
        self.numbers.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        grid.addWidget(self.numbers, 2, 1)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 2)
        grid.setRowStretch(1, 3)
        grid.setRowStretch(2, 2)
        self.add_comparison({"elbo_avg": self.elbo_plot}, ("elbo_avg", "kl_forward"))
        self._target_for = None
        self.results: dict = {}  # (target, ρ) -> {(family, divergence): (latest ELBO, its SE)}

    # -- parameters ------------------------------------------------------------------------------
    def build_params(self) -> ParamForm:
        return ParamForm(BBVIConfig, FIELDS, extra=EXTRA, overrides=OVERRIDES)

    def config(self) -> BBVIConfig:
        return self.params.config()

    def make_factory(self):
        config, seed = self.config(), int(self.params.value("seed"))
        return lambda: BBVIExperiment(config, seed=seed)


    # -- drawing -------------------------------------------------------------------------------
    def refresh(self) -> None:
        c = self.config()
        self.params.widget("rho").setEnabled(c.target == "gaussian")
        self.params.widget("layers").setEnabled(c.family == "flow")
        key = (c.target, c.rho if c.target == "gaussian" else None)
        if key != self._target_for:
            self._target_for = key
            xs, ys, dens = target_grid(c.target, c.rho, 140)
            extent = EXTENTS[c.target]
            place_image(self.target_img, dens, extent, levels=(0, float(dens.max())))
            ny, nx = dens.shape
            grid_to_plane = QTransform()
            grid_to_plane.translate(extent[0], extent[2])
            grid_to_plane.scale((extent[1] - extent[0]) / (nx - 1), (extent[3] - extent[2]) / (ny - 1))
            for iso, level in zip(self.target_contours, (0.05, 0.4), strict=False):
                iso.setTransform(grid_to_plane)
                iso.setData(dens, level * float(dens.max()))
            self.plane.getViewBox().setRange(xRange=extent[:2], yRange=extent[2:], padding=0.02)
        i = FAMILY_COLOUR[c.family]
        for iso, width in zip(self.isocurves, (1.2, 1.8, 2.4), strict=False):
            iso.setPen(pen(i, width))
        for item, style in zip(self.ellipses, (Qt.SolidLine, Qt.DashLine), strict=False):
            item.setPen(pen(i, 2, style))
        self.sample_dots.setBrush(colour(i, 110))
        self.elbo_smooth.setPen(pen(i, 2))

    def clear_views(self) -> None:
        for iso in self.isocurves:
            iso.setData(None)
        for item in self.ellipses + [self.elbo_raw, self.elbo_smooth]:
            item.setData([], [])
        self.sample_dots.setData([], [])
        self.numbers.setText("")
        self.summary.setText("Press ▶ Play to fit q by stochastic optimisation.")

    def render(self, snap: dict) -> None:
        if self.holds_frame(snap):
            return  # the shipped frame stays until the run has caught up with it
        self.last_snapshot = snap
        x0, x1, y0, y1 = snap["extent"]
        density = snap["density"]
        top = float(density.max()) if density.size else 0.0
        ny, nx = density.shape  # grid points from x0 to x1 and y0 to y1, ends included
        grid_to_plane = QTransform()
        grid_to_plane.translate(x0, y0)
        grid_to_plane.scale((x1 - x0) / (nx - 1), (y1 - y0) / (ny - 1))
        for iso, level in zip(self.isocurves, Q_LEVELS, strict=False):
            iso.setTransform(grid_to_plane)
            iso.setData(density, level * top)  # row-major like the images (pg config)
        if "mean" in snap:
            for item, k in zip(self.ellipses, (1, 2), strict=False):
                ex, ey = ellipse(snap["mean"], snap["cov"], k)
                item.setData(ex, ey)
        else:
            for item in self.ellipses:
                item.setData([], [])
        pts = snap["samples"]
        self.sample_dots.setData(pts[:, 0], pts[:, 1])
        store = snap["metrics"]
        steps, elbo = store.get("elbo")
        if len(elbo):
            self.elbo_raw.setData(steps, elbo)
            self.elbo_smooth.setData(*store.get("elbo_avg"))
            self.log_z_line.setValue(snap["log_z"])
            lo = float(np.quantile(elbo, 0.05)) if len(elbo) > 20 else float(elbo.min())
            hi = max(float(elbo.max()), snap["log_z"])
            pad = 0.08 * max(hi - lo, 0.1)
            self.elbo_plot.getViewBox().setRange(xRange=(0, max(steps[-1], 10)),
                                                 yRange=(lo - pad, hi + pad), padding=0)
        self._numbers(snap, elbo)

    def _numbers(self, snap: dict, elbo: np.ndarray) -> None:
        c = self.config()
        recent = snap["metrics"].latest("elbo_avg")
        # the average's Monte Carlo noise (NaN, shown "± ?", for a run saved without it)
        recent_se = snap["metrics"].latest("elbo_avg_se")
        log_z = snap["log_z"]
        self.summary.setText(
            f"<b>{FAMILY_LABELS[snap['family']]}</b> on the <b>{TARGET_LABELS[c.target]}</b>, "
            f"{'reverse KL(q‖p)' if snap['divergence'] == 'reverse' else 'forward KL(p‖q)'}: "
            f"step {snap['step']:,}, ELBO ≈ <b>{fmt_se(recent, recent_se)}</b> (moving average), "
            f"log Z = {fmt(log_z)}, so KL(q‖p) ≈ <b>{fmt_se(log_z - recent, recent_se)}</b> nats.")
        self.summary.setToolTip(
            "± 1 SE of the moving average's Monte Carlo noise: each step's S-sample estimate "
            "scatters by sd(log p − log q) / √S, and the average weighs the steps by 0.05 "
            "(0.95 per step older). It does not cover the average's lag behind a q still "
            "being fitted.")
        lines = []
        if "mean" in snap:
            mean, cov = snap["mean"], snap["cov"]
            lines.append(f"q mean ({fmt(mean[0], 2)}, {fmt(mean[1], 2)}), "
                         f"variances ({fmt(cov[0, 0], 3)}, {fmt(cov[1, 1], 3)}), "
                         f"correlation {fmt(cov[0, 1] / math.sqrt(cov[0, 0] * cov[1, 1]), 2)}")
        if c.target == "gaussian":
            sd = np.array([1.5, 1.0])
            shrunk = sd ** 2 * (1 - c.rho ** 2)
            lines.append(f"target variances ({fmt(sd[0] ** 2, 3)}, {fmt(sd[1] ** 2, 3)}), correlation "
                         f"{fmt(c.rho, 2)}; the best mean-field q has σᵢ²(1 − ρ²) = "
                         f"({fmt(shrunk[0], 3)}, {fmt(shrunk[1], 3)}).")
        if c.target == "mixture":
            lines.append("Reverse KL picks one mode; forward KL stretches over both.")
        kl_forward = snap["metrics"].latest("kl_forward")
        if snap["divergence"] == "forward" and math.isfinite(kl_forward):
            kl_se = snap["metrics"].latest("kl_forward_se")
            lines.append(f"KL(p‖q) on this step's samples of p ≈ {fmt_se(kl_forward, kl_se)} nats.")
        # what a richer q buys: the latest ELBO of each family tried on this target
        key = (c.target, c.rho if c.target == "gaussian" else None)
        self.results.setdefault(key, {})[(snap["family"], snap["divergence"])] = (recent, recent_se)
        tried = self.results[key]
        table = [f"{FAMILY_LABELS[f]}, {'reverse' if d == 'reverse' else 'forward'} KL: ELBO "
                 f"<b>{fmt_se(*tried[(f, d)])}</b>" for f in FAMILIES for d in ("reverse", "forward")
                 if (f, d) in tried]
        lines.append(("<br>" if lines else "") + "<u>Fits on this target</u> (log Z = "
                     + fmt(log_z) + "):<br>" + "<br>".join(table))
        self.numbers.setText("<br>".join(lines))

    # -- lifecycle -------------------------------------------------------------------------------
    def screenshot(self) -> None:
        self.restore({"target": "banana", "family": "flow", "divergence": "reverse", "samples": 64,
                      "lr": 0.02, "layers": 6, "max_steps": 800, "anneal": True, "seed": 0})
        self._restart_timer.stop()
        self.run.reset(play=True)
