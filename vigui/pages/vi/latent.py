"""Figure 5: z ~ N(0, I) pushed through g, the densities of z and x = g(z) side by side,
points traced through g on hover. Instant: everything redraws as the controls move."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QComboBox, QGridLayout, QSpinBox

from engine.core.stats import mean_se
from engine.vi import latent
from vigui.pages.vi.common import (
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
from vigui.widgets.numbers import fmt_se
from vigui.widgets.plots import fitted_axes

MAP_LABELS = [("lecture: z/10 + z/‖z‖", "ring"), ("affine: A z + b", "affine"),
              ("random MLP (tanh)", "mlp")]
SAMPLE_CHOICES = [("2,000", 2_000), ("20,000", 20_000), ("200,000", 200_000)]
Z_EXTENT = (-3.5, 3.5, -3.5, 3.5)
Z_PEAK = 1.0 / (2.0 * math.pi)  # the density of N(0, I) at its mean, in 2-D
X_EXTENT = {"ring": (-1.8, 1.8, -1.8, 1.8), "affine": (-5.5, 6.5, -6.0, 6.0),
            "mlp": (-4.0, 4.0, -4.0, 4.0)}
TRACE_ANGLES = np.linspace(0, 2 * np.pi, 8, endpoint=False)


class LatentSection(Section):
    title = "Latent variables (Figure 5)"
    anchor = "latent"

    def build(self) -> None:
        self.kind = QComboBox()
        for text, data in MAP_LABELS:
            self.kind.addItem(text, data)
        self.kind.setToolTip("The function g that pushes z into x")
        self.samples = QComboBox()
        for text, data in SAMPLE_CHOICES:
            self.samples.addItem(text, data)
        self.samples.setCurrentIndex(1)
        self.seed = QSpinBox()
        self.seed.setRange(0, 1_000_000)
        self.seed.setKeyboardTracking(False)
        self.seed.setToolTip("Seed of the z draws (and of the MLP's weights)")
        self.controls_layout.addWidget(group("x = g(z), z ~ N(0, I)", form(
            ("Map g", self.kind), ("Samples", self.samples), ("Seed", self.seed))))
        hint = summary_label()
        hint.setText("Move the mouse over the z plane: the point and a circle of radius "
                     "‖z‖ are traced through g.")
        self.controls_layout.addWidget(hint)
        for w in (self.kind, self.samples):
            w.currentIndexChanged.connect(self.update)
        self.seed.valueChanged.connect(self.update)

        grid = QGridLayout(self.view)
        grid.setContentsMargins(4, 4, 4, 4)
        self.summary = summary_label()
        grid.addWidget(self.summary, 0, 0, 1, 2)
        self.z_widget = pg.PlotWidget(axisItems=fitted_axes())
        self.x_widget = pg.PlotWidget(axisItems=fitted_axes())
        self.z_plot = static_plot(self.z_widget, "p(z) = N(0, I)", "z₁", "z₂")
        self.x_plot = static_plot(self.x_widget, "p(x) of x = g(z)", "x₁", "x₂")
        self.z_img, self.x_img = heat_image(), heat_image()
        self.z_plot.addItem(self.z_img)
        self.x_plot.addItem(self.x_img)
        for plot in (self.z_plot, self.x_plot):
            plot.getViewBox().setAspectLocked(True)
        # traced points: a circle in z and its image, plus the point under the mouse
        self.z_circle = pg.PlotDataItem(pen=pen(5, 1.3))
        self.x_circle = pg.PlotDataItem(pen=pen(5, 1.3))
        self.z_marks = pg.ScatterPlotItem(size=9, brush=colour(1), pen=pg.mkPen("k"))
        self.x_marks = pg.ScatterPlotItem(size=9, brush=colour(1), pen=pg.mkPen("k"))
        self.z_point = pg.ScatterPlotItem(size=13, brush=colour(5), pen=pg.mkPen("k", width=1.5))
        self.x_point = pg.ScatterPlotItem(size=13, brush=colour(5), pen=pg.mkPen("k", width=1.5))
        self.x_exact = pg.PlotDataItem(pen=pen(7, 1.2, style=pg.QtCore.Qt.DashLine))
        for item in (self.z_circle, self.z_marks, self.z_point):
            self.z_plot.addItem(item)
        for item in (self.x_exact, self.x_circle, self.x_marks, self.x_point):
            self.x_plot.addItem(item)
        grid.addWidget(self.z_widget, 1, 0)
        grid.addWidget(self.x_widget, 1, 1)
        self.radius_widget = pg.PlotWidget(axisItems=fitted_axes())
        self.radius_plot = static_plot(self.radius_widget, "", "", "density")
        self.radius_hist = pg.PlotDataItem(stepMode="center", fillLevel=0, brush=colour(0, 90),
                                           pen=pen(0, 1.5))
        self.radius_plot.addItem(self.radius_hist)
        self.radius_widget.setMaximumHeight(190)
        grid.addWidget(self.radius_widget, 2, 0, 1, 2)
        grid.setRowStretch(1, 3)
        grid.setRowStretch(2, 1)
        self.z_widget.scene().sigMouseMoved.connect(self._hover)
        self.trace_z = np.array([1.2, 0.6])

    def params(self) -> dict:
        return {"kind": self.kind.currentData(), "n": int(self.samples.currentData()),
                "seed": int(self.seed.value())}

    def refresh(self) -> None:
        p = self.params()
        self.z = latent.sample_z(p["n"], p["seed"])
        self.x = latent.push(self.z, p["kind"], seed=p["seed"])
        x_extent = X_EXTENT[p["kind"]]
        bins = 70
        # The colour scale tops out at N(0, I)'s peak density 1/2π, not at the noisiest bin:
        # the cloud reads dark at the centre and fades out by 2-3 sd.
        place_image(self.z_img, latent.histogram2d(self.z, Z_EXTENT, bins), Z_EXTENT,
                    levels=(0.0, Z_PEAK))
        hx = latent.histogram2d(self.x, x_extent, bins)
        place_image(self.x_img, np.minimum(hx, np.quantile(hx[hx > 0], 0.995)), x_extent)
        for plot, ext in ((self.z_plot, Z_EXTENT), (self.x_plot, x_extent)):
            plot.getViewBox().setRange(xRange=ext[:2], yRange=ext[2:], padding=0.02)
        if p["kind"] == "affine":  # the exact density's 1- and 2-sd ellipses
            a, b = latent.affine_matrix()
            t = np.linspace(0, 2 * np.pi, 120)
            circle = np.stack([np.cos(t), np.sin(t)], 1)
            rings = [np.vstack([k * circle @ a.T + b, [np.nan, np.nan]]) for k in (1, 2)]
            pts = np.vstack(rings)
            self.x_exact.setData(pts[:, 0], pts[:, 1], connect="finite")
        else:
            self.x_exact.setData([], [])
        r = latent.ring_radius(self.x)
        if p["kind"] == "ring":
            self.radius_plot.setTitle("radius ‖x‖ of x = g(z): every x lies outside the unit circle",
                                      size="9pt")
            self.radius_plot.setLabel("bottom", "‖x‖")
            counts, edges = np.histogram(r, bins=80, range=(0.95, 1.45), density=True)
        else:
            self.radius_plot.setTitle("distance ‖x‖ from the origin", size="9pt")
            self.radius_plot.setLabel("bottom", "‖x‖")
            counts, edges = np.histogram(r, bins=80, density=True)
        self.radius_hist.setData(edges, counts)
        text = (f"{p['n']:,} draws of z ~ N(0, I) and their images x = g(z). ")
        if p["kind"] == "ring":
            # Monte Carlo figures with their errors: the mean's and the sd's (fourth moment)
            text += (f"Mean radius ‖x‖ = <b>{fmt_se(*mean_se(r))}</b> (exactly 1 + E‖z‖/10 = "
                     f"{fmt(1 + 0.1 * np.sqrt(np.pi / 2))}), sd {fmt_se(*latent.sd_with_se(r))}, "
                     f"smallest {fmt(r.min(), 4)} &gt; 1: a ring of radius ≈ 1.")
        elif p["kind"] == "affine":
            a, b = latent.affine_matrix()
            cov, se = latent.covariance_with_se(self.x)
            text += (f"x ~ N(b, AAᵀ) exactly (dashed: 1 and 2 sd). Sample covariance "
                     f"[{fmt_se(cov[0, 0], se[0, 0])}, {fmt_se(cov[0, 1], se[0, 1])}; "
                     f"{fmt_se(cov[1, 1], se[1, 1])}] vs AAᵀ "
                     f"[{fmt((a @ a.T)[0, 0], 2)}, {fmt((a @ a.T)[0, 1], 2)}; {fmt((a @ a.T)[1, 1], 2)}].")
        else:
            text += "A small random network folds the plane: no closed-form density."
        self.summary.setText(text)
        self._trace()

    def _hover(self, pos: QPointF) -> None:
        vb = self.z_plot.getViewBox()
        if not vb.sceneBoundingRect().contains(pos):
            return
        point = vb.mapSceneToView(pos)
        self.set_trace(point.x(), point.y())

    def set_trace(self, z1: float, z2: float) -> None:
        """Trace the point (z1, z2) and the circle of its radius through g."""
        self.trace_z = np.array([z1, z2], dtype=np.float64)
        self._trace()

    def _trace(self) -> None:
        kind, seed = self.kind.currentData(), int(self.seed.value())
        z = self.trace_z
        radius = max(float(np.linalg.norm(z)), 1e-3)
        t = np.linspace(0, 2 * np.pi, 200)
        circle = radius * np.stack([np.cos(t), np.sin(t)], 1)
        marks = radius * np.stack([np.cos(TRACE_ANGLES), np.sin(TRACE_ANGLES)], 1)
        gc = latent.push(circle, kind, seed=seed)
        gm = latent.push(marks, kind, seed=seed)
        gz = latent.push(z[None], kind, seed=seed)[0]
        self.z_circle.setData(circle[:, 0], circle[:, 1])
        self.x_circle.setData(gc[:, 0], gc[:, 1])
        self.z_marks.setData(marks[:, 0], marks[:, 1])
        self.x_marks.setData(gm[:, 0], gm[:, 1])
        self.z_point.setData([z[0]], [z[1]])
        self.x_point.setData([gz[0]], [gz[1]])
        self.traced = (z.copy(), gz)

    def state(self) -> dict:
        return self.params()

    def restore(self, state: dict) -> None:
        index = self.kind.findData(state.get("kind"))
        if index >= 0:
            self.kind.setCurrentIndex(index)
        index = self.samples.findData(state.get("n"))
        if index >= 0:
            self.samples.setCurrentIndex(index)
        seed = state.get("seed")
        if isinstance(seed, int) and not isinstance(seed, bool):
            self.seed.setValue(min(1_000_000, max(0, seed)))

    def screenshot(self) -> None:
        self.restore({"kind": "ring", "n": 200_000, "seed": 0})
        self.set_trace(1.3, 0.7)
