"""Plot helpers shared by the pages: one look (:func:`style_plot`), readable colours."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont

# Okabe & Ito's colour-blind-safe palette, then two extra colours for ten classes (the
# digits), chosen to stay apart from the eight and from white for protan, deutan and
# tritan viewers (simulated: tests/test_palette.py). The earlier purple (148, 103, 189)
# and grey were indistinguishable from blue and green for protan/deutan viewers.
PALETTE = [
    (0, 114, 178), (230, 159, 0), (0, 158, 115), (204, 121, 167), (86, 180, 233),
    (213, 94, 0), (240, 228, 66), (0, 0, 0), (136, 0, 255), (102, 51, 17),
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


def style_plot(plot: pg.PlotItem, title: str = "", x: str = "", y: str = "", *,
               title_size: str = "9pt", grid: bool = True, interactive: bool = True,
               long_series: bool = False) -> pg.PlotItem:
    """The one look of every plot: a title that may be clipped rather than widen its
    plot, axis labels, small tick fonts, no SI-prefix scaling, a light grid.

    ``interactive=False``: a picture, not for panning (no mouse, menu or buttons).
    ``long_series=True``: curves of long runs draw at most about a point per pixel
    (peak-keeping downsampling, only what is in view).
    """
    set_title(plot, title, title_size)
    if x:
        plot.setLabel("bottom", x)
    if y:
        plot.setLabel("left", y)
    if grid:
        plot.showGrid(x=True, y=True, alpha=0.15)
    font = QFont()
    font.setPointSize(8)
    for side in ("left", "bottom"):
        axis = plot.getAxis(side)
        axis.setTickFont(font)
        axis.enableAutoSIPrefix(False)  # "density (x0.001)" confuses more than it helps
    if not interactive:
        plot.hideButtons()
        plot.setMenuEnabled(False)
        plot.getViewBox().setMouseEnabled(False, False)
    if long_series:
        plot.setDownsampling(auto=True, mode="peak")
        plot.setClipToView(True)
    return plot


def set_title(plot: pg.PlotItem, text: str, size: str = "9pt") -> None:
    """Set a plot's title; a long one is clipped instead of widening the plot."""
    plot.setTitle(text or None, size=size)
    relax_label(plot.titleLabel)


def relax_label(label: pg.LabelItem) -> None:
    """Let a label be clipped rather than widen its layout (LabelItem makes its text
    width the item's minimum width)."""
    label.setMinimumWidth(0)
    hints = getattr(label, "_sizeHint", None)
    if hints:
        h = hints[Qt.SizeHint.MinimumSize][1]
        hints[Qt.SizeHint.MinimumSize] = (0, h)
        hints[Qt.SizeHint.PreferredSize] = (0, h)
    label.updateGeometry()


def make_plot(title: str = "", x: str = "", y: str = "", legend: bool = False,
              widget: pg.GraphicsLayoutWidget | None = None, row=None, col=None,
              colspan: int = 1, logx: bool = False, **style) -> pg.PlotItem:
    """A new PlotItem in the look of :func:`style_plot` (``style``: its keywords).

    With ``widget`` the plot is added to that layout; otherwise a standalone PlotWidget's
    item is returned (its ``.getViewWidget()`` is the widget to put in a layout).
    ``logx`` gives a log-scaled x axis labelled at decades.
    """
    axes = {"bottom": DecadeAxis("bottom")} if logx else None
    if widget is not None:
        plot = widget.addPlot(row=row, col=col, colspan=colspan, axisItems=axes)
    else:
        view = pg.PlotWidget(axisItems=axes)
        plot = view.getPlotItem()
        plot.standalone_view = view  # the item alone does not keep its widget alive
    if logx:
        plot.setLogMode(x=True, y=False)
    style.setdefault("title_size", "10pt")
    style_plot(plot, title, x, y, **style)
    if legend:
        plot.addLegend(offset=(-5, 5), labelTextSize="8pt")
    return plot


class DecadeAxis(pg.AxisItem):
    """A log-mode axis that labels 1, 10, 100, ... only (minor labels overlap)."""

    def logTickStrings(self, values, scale, spacing):
        return [f"{10 ** round(v):g}" if abs(v - round(v)) < 1e-6 else "" for v in values]


TICK_PT = 8  # style_plot's tick font


def scale_plots(root, scale: float) -> None:
    """Scale the fonts of every plot under the widget ``root`` by ``scale`` (presentation
    zoom): tick labels, axis labels and titles, from their original sizes."""
    for view in root.findChildren(pg.GraphicsView):
        scene = view.scene()
        if scene is None:
            continue
        for item in scene.items():
            if isinstance(item, pg.AxisItem):
                if getattr(item, "_vigui_scale", 1.0) == scale:
                    continue
                item._vigui_scale = scale
                font = QFont()
                font.setPointSizeF(TICK_PT * scale)
                item.setTickFont(font)
                base = item.__dict__.setdefault("_vigui_label_pt", _pt(item.labelStyle.get("font-size"), 9.0))
                item.labelStyle["font-size"] = f"{base * scale:.1f}pt"
                item._updateLabel()
            elif isinstance(item, pg.LabelItem) and item.text:
                if getattr(item, "_vigui_scale", 1.0) == scale:
                    continue
                item._vigui_scale = scale
                base = item.__dict__.setdefault("_vigui_pt", _pt(item.opts.get("size"), 9.0))
                item.setText(item.text, size=f"{base * scale:.1f}pt")


def _pt(size, default: float) -> float:
    """A CSS size like "9pt" in points."""
    try:
        return float(str(size).removesuffix("pt"))
    except (TypeError, ValueError):
        return default
