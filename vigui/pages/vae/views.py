"""The VAE page's views: loss curves, reconstructions, prior samples, the latent space
(scatter + decoded manifold) and a decoded interpolation path.

Everything here draws numpy arrays handed over by the page; nothing computes on a
model. Plot items are built once and updated with ``setData`` / ``setImage``.
"""
from __future__ import annotations

import html
from itertools import combinations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QCheckBox, QGridLayout, QHBoxLayout, QVBoxLayout, QWidget

from vigui.widgets import styles
from vigui.widgets.curves import Curve, LossCurves
from vigui.widgets.images import INK_LUT, PAD_FILL, ImageGrid, mosaic
from vigui.widgets.layout import tight
from vigui.widgets.plots import PALETTE, colour, fitted_axes, set_title, style_plot

MAX_CLASSES = 10
N_INTERP = 10  # decoded images on the path from A to B

# Loss parts: train as thin lines, test (legend) as thicker lines with markers.
LOSS_CURVES = (Curve("loss", None, 0), Curve("recon", None, 5), Curve("kl", None, 2),
               Curve("test_loss", "objective", 0, test=True),
               Curve("test_recon", "reconstruction", 5, test=True),
               Curve("test_kl", "KL", 2, test=True))

PICK_HINT = "Click A, then B in the latent plot"


def class_colour(k: int, alpha: int = 255) -> QColor:
    """Palette colour of class k; the light yellow is darkened to read on white."""
    c = colour(k, alpha)
    if PALETTE[k % len(PALETTE)] == (240, 228, 66):
        c = QColor(200, 180, 0, alpha)
    return c


class VAEViews(QWidget):
    """The compact grid of the VAE page's plots and image strips."""

    #: a left click in the latent scatter or the manifold: (z1, z2) in plot coordinates
    picked = Signal(float, float)
    #: the "log y" check box changed
    log_y_changed = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        outer = tight(QVBoxLayout(self), spacing=2)

        top = tight(QHBoxLayout(), margins=(2, 0, 2, 0))
        self.summary = styles.label(styles.SUMMARY, rich=True, selectable=True)
        self.summary.setToolTip(
            "Test figures: the mean over the test subset (the first eval_size test images, "
            "one fixed draw of z each) ± its standard error over those images; "
            "\"± ?\": a model saved before the errors were measured")
        self.log_y = QCheckBox("log y")
        self.log_y.setToolTip("Loss curves on a logarithmic y axis (non-positive values, "
                              "possible with a Gaussian likelihood, are then not drawn)")
        self.log_y.setChecked(True)
        self.log_y.toggled.connect(self._set_log_y)
        top.addWidget(self.summary, 1)
        top.addWidget(self.log_y, 0, Qt.AlignTop)
        outer.addLayout(top)

        self.grid = tight(QGridLayout(), spacing=3)
        outer.addLayout(self.grid, 1)

        self.loss_widget = pg.PlotWidget(axisItems=fitted_axes())  # log ticks thinned to fit
        self.loss_plot = self.loss_widget.getPlotItem()
        style_plot(self.loss_plot, "Loss per image (nats); ● test", "step", "", long_series=True)
        self.losses = LossCurves(self.loss_plot, LOSS_CURVES)
        self.train_curves = self.losses.subset(test=False)
        self.test_curves = self.losses.subset(test=True)
        self.loss_plot.setLogMode(x=False, y=True)
        self._empty_loss_range()

        # Prior samples, 6 x 6.
        self.samples_view = ImageGrid("Samples: z ~ N(0, I) decoded", cols=6)

        # Latent scatter: one item per class (fast), the prior's circles, A/B markers.
        self.latent_widget = pg.PlotWidget()
        self.latent_plot = self.latent_widget.getPlotItem()
        style_plot(self.latent_plot, "Latent means μ(x) of test images", "z₁", "z₂")
        self.latent_plot.setAspectLocked(True)
        theta = np.linspace(0, 2 * np.pi, 121)
        self.prior_circles = []
        for r in (1.0, 2.0):
            item = pg.PlotDataItem(r * np.cos(theta), r * np.sin(theta),
                                   pen=pg.mkPen((110, 110, 110), width=1, style=Qt.DashLine))
            self.latent_plot.addItem(item)
            self.prior_circles.append(item)
        self.class_scatter = []
        for k in range(MAX_CLASSES):
            item = pg.ScatterPlotItem(size=5, pen=None, brush=pg.mkBrush(class_colour(k, 190)))
            item.setZValue(10)
            self.latent_plot.addItem(item)
            self.class_scatter.append(item)
        self.latent_path = self._add_path_items(self.latent_plot)

        # Decoded manifold (2-D latents), in the same z coordinates as the scatter.
        self.manifold_widget = pg.PlotWidget()
        self.manifold_plot = self.manifold_widget.getPlotItem()
        style_plot(self.manifold_plot, "Decoded grid of codes", "z₁", "z₂")
        self.manifold_plot.showGrid(x=False, y=False)
        self.manifold_image = pg.ImageItem()
        self.manifold_image.setLookupTable(INK_LUT)
        self.manifold_plot.addItem(self.manifold_image)
        self.manifold_path = self._add_path_items(self.manifold_plot)
        self._manifold_ratio = None

        self.legend = styles.label(styles.SMALL, rich=True)
        self.legend.setAlignment(Qt.AlignCenter)

        self.recon_view = ImageGrid("Test images / reconstructions")
        self.interp_view = ImageGrid(PICK_HINT)

        for w in (self.samples_view, self.recon_view, self.interp_view):
            w.setMinimumSize(100, 60)
        for w in (self.recon_view, self.interp_view):
            w.setMaximumHeight(96)
        for w in (self.loss_widget, self.latent_widget, self.manifold_widget):
            w.setMinimumSize(160, 120)
            w.setBackground("w")
        for scene_owner, plot in ((self.latent_widget, self.latent_plot),
                                  (self.manifold_widget, self.manifold_plot)):
            scene_owner.scene().sigMouseClicked.connect(
                lambda ev, p=plot: self._on_click(ev, p))

        g = self.grid
        g.addWidget(self.loss_widget, 0, 0)
        g.addWidget(self.samples_view, 0, 1)
        g.addWidget(self.latent_widget, 1, 0)
        g.addWidget(self.manifold_widget, 1, 1)
        g.addWidget(self.legend, 2, 0, 1, 2)
        g.addWidget(self.recon_view, 3, 0)
        g.addWidget(self.interp_view, 3, 1)
        g.setRowStretch(0, 30)
        g.setRowStretch(1, 50)
        g.setRowStretch(2, 0)
        g.setRowStretch(3, 0)
        g.setRowMinimumHeight(3, 90)
        g.setColumnStretch(0, 1)
        g.setColumnStretch(1, 1)
        self._wide_latent = False
        self._point_style = (5, 190)
        self._classes: tuple[str, ...] = ()

    # -- building helpers ---------------------------------------------------------------
    @staticmethod
    def _add_path_items(plot: pg.PlotItem) -> dict:
        """A dashed A->B segment, two star markers and their letters (not in autorange)."""
        line = pg.PlotDataItem(pen=pg.mkPen((20, 20, 20), width=2, style=Qt.DashLine))
        stars = pg.ScatterPlotItem(size=15, symbol="star", pen=pg.mkPen("k", width=1),
                                   brush=pg.mkBrush(255, 255, 255, 230))
        labels = []
        for text in ("A", "B"):
            label = pg.TextItem(text, color=(0, 0, 0), anchor=(-0.3, 1.1),
                                fill=pg.mkBrush(255, 255, 255, 200))
            label.setVisible(False)
            labels.append(label)
        for z, item in enumerate((line, stars, *labels)):
            item.setZValue(20 + z)
            plot.addItem(item, ignoreBounds=True)
        return {"line": line, "stars": stars, "labels": labels}

    # -- events -----------------------------------------------------------------------------
    def _on_click(self, ev, plot: pg.PlotItem) -> None:
        if ev.button() != Qt.LeftButton or ev.double():
            return
        vb = plot.getViewBox()
        if not vb.sceneBoundingRect().contains(ev.scenePos()):
            return
        p = vb.mapSceneToView(ev.scenePos())
        ev.accept()
        self.picked.emit(float(p.x()), float(p.y()))

    def _set_log_y(self, on: bool) -> None:
        self.loss_plot.setLogMode(x=False, y=on)
        if not any(len(item.xData if item.xData is not None else ()) for item in self.losses.items.values()):
            self._empty_loss_range()
        self.loss_plot.enableAutoRange()
        self.log_y_changed.emit(on)

    def _empty_loss_range(self) -> None:
        """Before Play: a log axis over 10 to 1000 nats (where a digit's loss lies),
        labelled at decades; pyqtgraph's empty 1 to 10 had a crowd of minor labels.
        Autorange keeps it until there is data."""
        if self.loss_plot.getAxis("left").logMode:
            self.loss_plot.setYRange(1.0, 3.0, padding=0)
            self.loss_plot.enableAutoRange()

    # -- updates ------------------------------------------------------------------------------
    def clear(self) -> None:
        self.losses.clear()
        for item in self.class_scatter:
            item.clear()
        self.manifold_image.clear()
        for view in (self.samples_view, self.recon_view, self.interp_view):
            view.image.clear()
        self.interp_view.set_title(PICK_HINT)
        self.set_markers(None, None)
        self.summary.setText("")
        self.latent_plot.enableAutoRange()
        self._empty_loss_range()
        self.loss_plot.enableAutoRange()

    def show_metrics(self, metrics) -> None:
        """Loss curves from the run's MetricStore (bounded: long runs keep each old
        stretch's min and max, the recent steps in full)."""
        self.losses.show(metrics)

    def show_images(self, snap: dict) -> None:
        if "originals" in snap and "reconstructions" in snap:
            pair = np.concatenate([snap["originals"], snap["reconstructions"]])
            self.recon_view.set_images(pair, cols=len(snap["originals"]))
        if "samples" in snap:
            self.samples_view.set_images(snap["samples"])

    def show_latent(self, latent: np.ndarray, labels: np.ndarray, classes, projection: str,
                    explained=None, latent_dim: int = 2) -> None:
        """The test set's latent means, coloured by label (2-D, or a PCA plane)."""
        # Many points: smaller and lighter, so that the classes drawn last do not hide
        # the others entirely.
        size, alpha = (5, 190) if len(latent) <= 2000 else (3, 130)
        for k, item in enumerate(self.class_scatter):
            if k < len(classes):
                if (size, alpha) != self._point_style:
                    item.setSize(size)
                    item.setBrush(pg.mkBrush(class_colour(k, alpha)))
                item.setData(pos=latent[labels == k])
            else:
                item.clear()
        self._point_style = (size, alpha)
        if tuple(classes) != self._classes:
            self._classes = tuple(classes)
            self.legend.setText(_legend_html(classes))
        identity = projection == "identity"
        for circle in self.prior_circles:
            circle.setVisible(identity)
        if identity:
            title = "Latent means μ(x) of test images"
            self.latent_plot.setLabel("bottom", "z₁")
            self.latent_plot.setLabel("left", "z₂")
        else:
            ev = explained if explained is not None else (np.nan, np.nan)
            title = (f"Latent means μ(x), {latent_dim}-D, PCA plane: PC1 {100 * ev[0]:.0f}% "
                     f"+ PC2 {100 * ev[1]:.0f}% of variance")
            self.latent_plot.setLabel("bottom", "PC1")
            self.latent_plot.setLabel("left", "PC2")
        set_title(self.latent_plot, title)
        self._set_wide_latent(not identity)

    def show_manifold(self, image: np.ndarray, extent, tile: tuple[int, int] | None = None) -> None:
        """Decoded grid; row 0 of ``image`` is the largest z2, so it is drawn on top."""
        x0, x1, y0, y1 = extent
        if tile is not None:  # thin lines between the tiles: digits fill their frames
            h, w = tile
            rows, cols = image.shape[0] // h, image.shape[1] // w
            tiles = image.reshape(rows, h, cols, w).transpose(0, 2, 1, 3).reshape(-1, h, w)
            image = mosaic(tiles, cols=cols, fill=PAD_FILL)
        # An un-inverted y axis draws row 0 at the bottom: flip so the top row is max z2.
        self.manifold_image.setImage(np.ascontiguousarray(image[::-1]), levels=(0.0, 1.0),
                                     autoLevels=False)
        self.manifold_image.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        # Square tiles on screen: pixels per z1 unit / pixels per z2 unit = height / width.
        ratio = (y1 - y0) / (x1 - x0) if x1 > x0 else 1.0
        if self._manifold_ratio is None or abs(ratio / self._manifold_ratio - 1) > 0.02:
            self._manifold_ratio = ratio
            self.manifold_plot.getViewBox().setAspectLocked(True, ratio=ratio)
        self.manifold_plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.02)

    def _set_wide_latent(self, wide: bool) -> None:
        """For latents > 2 there is no manifold: the scatter takes the whole row."""
        if wide == self._wide_latent:
            return
        self._wide_latent = wide
        self.grid.removeWidget(self.latent_widget)
        self.grid.addWidget(self.latent_widget, 1, 0, 1, 2 if wide else 1)
        self.manifold_widget.setVisible(not wide)
        if wide:
            self.manifold_image.clear()

    def set_markers(self, a, b) -> None:
        """Show the picked codes A and B (either may be None) on both latent plots."""
        points = [p for p in (a, b) if p is not None]
        for items in (self.latent_path, self.manifold_path):
            if points:
                xy = np.asarray(points, dtype=float)
                items["stars"].setData(pos=xy)
            else:
                items["stars"].clear()
            if a is not None and b is not None:
                items["line"].setData([a[0], b[0]], [a[1], b[1]])
            else:
                items["line"].setData([], [])
            for label, p in zip(items["labels"], (a, b), strict=False):
                label.setVisible(p is not None)
                if p is not None:
                    label.setPos(float(p[0]), float(p[1]))

    def show_interpolation(self, images: np.ndarray | None, title: str) -> None:
        if images is None:
            self.interp_view.clear_image()
        else:
            self.interp_view.set_images(images, cols=len(images))
        self.interp_view.set_title(title)

    def set_summary(self, text: str) -> None:
        self.summary.setText(text)


def demo_pair(latent: np.ndarray, labels: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """The two class centres farthest apart: a path across the whole latent space (the
    screenshot's and the tour's interpolation A -> B)."""
    centres = [latent[labels == k].mean(0) for k in np.unique(labels)]
    a, b = max(combinations(centres, 2), key=lambda p: float(np.sum((p[0] - p[1]) ** 2)))
    return (float(a[0]), float(a[1])), (float(b[0]), float(b[1]))


def _legend_html(classes) -> str:
    parts = []
    for k, name in enumerate(classes[:MAX_CLASSES]):
        c = class_colour(k)
        parts.append(f"<span style='color:{c.name()}; font-size:11pt'>●</span>"
                     f"&nbsp;{html.escape(str(name)).replace(' ', '&nbsp;')}")
    return "&nbsp;&nbsp; ".join(parts)
