"""Plot helpers shared by the pages: one look, readable colours, images with fixed levels."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor, QFont

# Okabe & Ito's colour-blind-safe palette, then two extra distinguishable colours.
PALETTE = [
    (0, 114, 178), (230, 159, 0), (0, 158, 115), (204, 121, 167), (86, 180, 233),
    (213, 94, 0), (240, 228, 66), (0, 0, 0), (148, 103, 189), (127, 127, 127),
]

pg.setConfigOptions(antialias=True, background="w", foreground="k", imageAxisOrder="row-major")


def colour(i: int, alpha: int = 255) -> QColor:
    r, g, b = PALETTE[i % len(PALETTE)]
    return QColor(r, g, b, alpha)


def pen(i: int, width: float = 1.0, style=None) -> pg.QtGui.QPen:
    p = pg.mkPen(colour(i), width=width)
    if style is not None:
        p.setStyle(style)
    return p


def make_plot(title: str = "", x: str = "", y: str = "", legend: bool = False,
              widget: pg.GraphicsLayoutWidget | None = None, row=None, col=None,
              colspan: int = 1, logx: bool = False) -> pg.PlotItem:
    """A PlotItem with a title, axis labels and a light grid.

    With ``widget`` the plot is added to that layout; otherwise a standalone PlotWidget's
    item is returned (its ``.getViewWidget()`` is the widget to put in a layout).
    ``logx`` gives a log-scaled x axis labelled at decades.
    """
    axes = {"bottom": DecadeAxis("bottom")} if logx else None
    if widget is not None:
        plot = widget.addPlot(row=row, col=col, colspan=colspan, axisItems=axes)
    else:
        plot = pg.PlotWidget(axisItems=axes).getPlotItem()
    if logx:
        plot.setLogMode(x=True, y=False)
    plot.setTitle(title, size="10pt")
    if x:
        plot.setLabel("bottom", x)
    if y:
        plot.setLabel("left", y)
    plot.showGrid(x=True, y=True, alpha=0.15)
    font = QFont()
    font.setPointSize(8)
    for side in ("left", "bottom"):
        axis = plot.getAxis(side)
        axis.setTickFont(font)
        axis.enableAutoSIPrefix(False)  # "density (x0.001)" confuses more than it helps
    if legend:
        plot.addLegend(offset=(-5, 5), labelTextSize="8pt")
    return plot


class DecadeAxis(pg.AxisItem):
    """A log-mode axis that labels 1, 10, 100, ... only (minor labels overlap)."""

    def logTickStrings(self, values, scale, spacing):
        return [f"{10 ** round(v):g}" if abs(v - round(v)) < 1e-6 else "" for v in values]


def mosaic(images: np.ndarray, cols: int, pad: int = 1, fill: float = 1.0) -> np.ndarray:
    """Tile (n, H, W) images into one (rows*(H+pad)-pad, cols*(W+pad)-pad) float32 array."""
    images = np.asarray(images, dtype=np.float32)
    n, h, w = images.shape
    rows = max(1, -(-n // cols))
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), fill, dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = images[i]
    return out


class ImageView(pg.GraphicsLayoutWidget):
    """A titled, aspect-locked grayscale image (dark ink on white) with fixed levels [0, 1]."""

    def __init__(self, title: str = "", parent=None):
        super().__init__(parent)
        self.view = self.addViewBox(row=1, col=0)
        self.view.setAspectLocked(True)
        self.view.invertY(True)
        self.view.setMouseEnabled(False, False)
        self.view.setMenuEnabled(False)
        self.label = self.addLabel(title, row=0, col=0, size="9pt")
        self.image = pg.ImageItem()
        # Inverted grey map: 1 (ink) is black, 0 is white, like ink on paper.
        self.image.setLookupTable(np.linspace(255, 0, 256).astype(np.uint8))
        self.view.addItem(self.image)
        self.setMinimumSize(120, 90)

    def set_image(self, img: np.ndarray, levels=(0.0, 1.0)) -> None:
        self.image.setImage(np.asarray(img, dtype=np.float32), levels=levels, autoLevels=False)
        self.view.autoRange(padding=0.02)

    def set_title(self, text: str) -> None:
        self.label.setText(text, size="9pt")
