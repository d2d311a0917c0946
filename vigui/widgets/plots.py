"""Plot helpers shared by the pages: one look (:func:`style_plot`), readable colours."""
from __future__ import annotations

import math
from contextlib import contextmanager
from types import MethodType

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics

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
    font.setPointSizeF(TICK_PT * _zoom)
    for side in ("left", "bottom"):
        axis = plot.getAxis(side)
        axis.setTickFont(font)
        axis._vigui_scale = _zoom
        axis.enableAutoSIPrefix(False)  # "density (x0.001)" confuses more than it helps
    if not interactive:
        plot.hideButtons()
        plot.setMenuEnabled(False)
        plot.getViewBox().setMouseEnabled(False, False)
    if long_series:
        plot.setDownsampling(auto=True, mode="peak")
        plot.setClipToView(True)
    follow_zoom(plot)
    return plot


def set_title(plot: pg.PlotItem, text: str, size: str = "9pt") -> None:
    """Set a plot's title (``size`` at zoom 1: drawn at the current zoom); a long one is
    clipped instead of widening the plot."""
    _follow(plot.titleLabel)
    plot.setTitle(text or None, size=size)
    relax_label(plot.titleLabel)


def relax_label(label: pg.LabelItem) -> None:
    """Let a label be clipped rather than widen its layout (LabelItem makes its text
    width the item's minimum width, again at every setText and resize)."""
    if "updateMin" not in label.__dict__:
        label.updateMin = MethodType(_update_min_relaxed, label)
    label.updateMin()


def _update_min_relaxed(label: pg.LabelItem) -> None:
    type(label).updateMin(label)
    label.setMinimumWidth(0)
    hints = getattr(label, "_sizeHint", None)
    if hints:
        h = hints[Qt.SizeHint.MinimumSize][1]
        hints[Qt.SizeHint.MinimumSize] = (0, h)
        hints[Qt.SizeHint.PreferredSize] = (0, h)
    label.updateGeometry()
    _fit_title(label)


def _fit_title(label: pg.LabelItem) -> None:
    """A zoomed title wider than its plot: drawn smaller, down to its unzoomed size; if
    it still does not fit, its start is shown (left-aligned) rather than its middle."""
    if label.__dict__.get("_vigui_fitting") or label.width() <= 0 or "_vigui_pt" not in label.__dict__:
        return
    label._vigui_fitting = True
    try:
        fit = label.__dict__.get("_vigui_fit", 1.0)
        full = label.item.boundingRect().width() / fit  # the text's width at fit 1
        want = max(min(1.0, 1.0 / _zoom), min(1.0, label.width() / full)) if full > 0 else 1.0
        if abs(want - fit) > 0.02:
            label._vigui_fit = want
            label.setText(label.text)
        justify = "left" if full * want > label.width() + 1 else "center"
        if label.opts.get("justify") != justify:
            label.opts["justify"] = justify
            type(label).resizeEvent(label, None)
    finally:
        label._vigui_fitting = False


def make_plot(title: str = "", x: str = "", y: str = "", legend: bool = False,
              widget: pg.GraphicsLayoutWidget | None = None, row=None, col=None,
              colspan: int = 1, logx: bool = False, **style) -> pg.PlotItem:
    """A new PlotItem in the look of :func:`style_plot` (``style``: its keywords).

    With ``widget`` the plot is added to that layout; otherwise a standalone PlotWidget's
    item is returned (its ``.getViewWidget()`` is the widget to put in a layout).
    ``logx`` gives a log-scaled x axis labelled at decades.
    """
    axes = {"bottom": DecadeAxis("bottom") if logx else FittedAxis("bottom"),
            "left": FittedAxis("left")}
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


class FittedAxis(pg.AxisItem):
    """An axis whose major tick labels never run into each other: pyqtgraph spaces ticks
    by the axis' length alone, so on a narrow plot, or zoomed (larger tick fonts), the
    labels touched ("450500550"). Its spacing grows (1, 2, 5 x 10^k) until they fit."""

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802,N803 (pyqtgraph's names)
        levels = super().tickSpacing(minVal, maxVal, size)
        vertical = self.orientation in ("left", "right")  # its labels' height is the need
        if not levels or not maxVal > minVal or size <= 0 or (self.logMode and not vertical):
            return levels
        font = self.style.get("tickFont") or self.font()
        metrics = QFontMetrics(font)
        per_unit = size / (maxVal - minVal)
        spacing, offset = levels[0]
        if self.logMode:  # decades at least: pyqtgraph labels no decade below 1
            spacing, levels = max(spacing, 1.0), [(max(spacing, 1.0), offset)]

        def need(spacing: float) -> float:  # pixels between ticks their labels need
            if self.orientation in ("left", "right"):
                return 1.3 * metrics.height()
            ends = [math.ceil(minVal / spacing) * spacing, math.floor(maxVal / spacing) * spacing]
            texts = self.tickStrings(ends, 1.0, spacing)
            return max(metrics.horizontalAdvance(t) for t in texts) + metrics.horizontalAdvance("0")

        if spacing * per_unit >= need(spacing):
            # a finer level only where its labels fit too (an empty plot's 0..1 on a
            # short axis labelled every 0.1 overlapped)
            return [levels[0], *(lv for lv in levels[1:] if lv[0] * per_unit >= need(lv[0]))]
        first = math.ceil((minVal - offset) / spacing) * spacing + offset  # a tick in view
        while spacing * per_unit < need(spacing):
            spacing = _next_nice(spacing)
        if math.floor((maxVal - offset) / spacing) < math.ceil((minVal - offset) / spacing):
            offset = first  # no multiple of the grown spacing in view: keep the first tick
        return [(spacing, offset)]  # the minor levels would be labelled as densely


    def logTickValues(self, minVal, maxVal, size, stdTicks):  # noqa: N802,N803
        """Log minor ticks (2, 3, ... 9 in a decade) only where their labels fit: on an
        empty or short log plot they were drawn over each other."""
        levels = super().logTickValues(minVal, maxVal, size, stdTicks)
        if self.orientation not in ("left", "right") or not maxVal > minVal or size <= 0:
            return levels
        font = self.style.get("tickFont") or self.font()
        need = 1.3 * QFontMetrics(font).height()
        per_unit = size / (maxVal - minVal)

        if any(spacing is not None and spacing > 1 for spacing, _values in levels):
            return [lv for lv in levels if lv[0] is not None]  # every other decade: no minors
        taken: list[float] = []  # (log units) the labels of the levels above

        def thinned(values) -> list[float]:  # each at least ``need`` from every label kept
            kept: list[float] = []
            for v in sorted(values):
                if all(abs(v - t) * per_unit >= need for t in (*taken, *kept)):
                    kept.append(v)
            taken.extend(kept)
            return kept

        return [(spacing, thinned(values)) for spacing, values in levels]

    def generateDrawSpecs(self, p):  # noqa: N802 (pyqtgraph's name)
        """Fixed labels (categories: "ELBO", "blue", "red") wider than the room between
        their ticks drawn smaller, down to their unzoomed size, as titles are; still too
        wide, each line is cut to the room with "…" (the full text belongs in a tooltip
        or legend). Done here, where paint and any measurement both get the labels."""
        with self._fitted():
            return super().generateDrawSpecs(p)

    def paint(self, p, opt, widget):
        with self._fitted():  # drawPicture sets the tick font again
            return super().paint(p, opt, widget)

    @contextmanager
    def _fitted(self):
        font = self.style.get("tickFont")
        fitted = None
        if font is not None and not self.__dict__.get("_vigui_in_fit"):
            fitted = self._fitted_labels(font)
        if fitted is None:
            yield
            return
        levels, self._tickLevels = self._tickLevels, fitted[1]
        self.style["tickFont"] = fitted[0]
        self._vigui_in_fit = True
        try:
            yield
        finally:
            self._vigui_in_fit = False
            self.style["tickFont"] = font
            self._tickLevels = levels

    def _fitted_labels(self, font: QFont) -> tuple[QFont, list] | None:
        if self._tickLevels is None or self.orientation not in ("top", "bottom"):
            return None
        ticks = sorted(v for v, _text in self._tickLevels[0])
        labels = [text for _v, text in self._tickLevels[0]]
        lo, hi = self.range
        if len(ticks) < 2 or not hi > lo or self.width() <= 0:
            return None
        per_unit = self.width() / (hi - lo)
        room = min(b - a for a, b in zip(ticks, ticks[1:], strict=False)) * per_unit - 6
        metrics = QFontMetrics(font)
        widest = max(metrics.horizontalAdvance(line) for text in labels for line in str(text).split("\n"))
        if widest <= room or widest <= 0:
            return None
        smaller = QFont(font)
        smaller.setPointSizeF(max(font.pointSizeF() * room / widest, min(TICK_PT, font.pointSizeF()),
                                  font.pointSizeF() / max(_zoom, 1.0)))
        metrics = QFontMetrics(smaller)
        cut = max(room, metrics.horizontalAdvance("W…"), metrics.horizontalAdvance("Ww"))

        def shorten(line: str) -> str:
            short = metrics.elidedText(line, Qt.TextElideMode.ElideRight, int(cut))
            if short == line or len(short) > 4:
                return short
            # a word cut to two letters and "…" ("bl…") reads worse than its first
            # letters ("blu"): a short prefix, without the ellipsis
            n = len(short) - 1
            while n < len(line) and metrics.horizontalAdvance(line[:n + 1]) <= cut:
                n += 1
            return line[:max(n, 1)]

        def elide(text) -> str:
            return "\n".join(shorten(line) for line in str(text).split("\n"))

        levels = [[(v, elide(text)) for v, text in self._tickLevels[0]], *self._tickLevels[1:]]
        return smaller, levels


def fitted_axes() -> dict:
    """``axisItems`` for a new plot: left and bottom :class:`FittedAxis`."""
    return {side: FittedAxis(side) for side in ("left", "bottom")}


def _next_nice(spacing: float) -> float:
    """The next of 1, 2, 5, 10, 20, 50, ... above ``spacing``."""
    exponent = math.floor(math.log10(spacing))
    mantissa = spacing / 10 ** exponent
    for step in (2, 5, 10):
        if mantissa < step - 1e-9:
            return step * 10 ** exponent
    return 20 * 10 ** exponent


class DecadeAxis(pg.AxisItem):
    """A log-mode axis that labels 1, 10, 100, ... only (minor labels overlap)."""

    def logTickStrings(self, values, scale, spacing):
        return [f"{10 ** round(v):g}" if abs(v - round(v)) < 1e-6 else "" for v in values]


TICK_PT = 8  # style_plot's tick font
LABEL_PT = 9.0  # a title's or axis label's size when none was given

# The presentation zoom (View > Zoom, Ctrl + / Ctrl −), as the application font has it.
# Plot text is drawn in sizes fixed in points, so it is scaled here: by scale_plots for
# what exists, and, for a title, axis label or legend entry set later (a page's title
# that says what is shown, a kept run's legend entry), as it is set.
_zoom = 1.0


def plot_zoom() -> float:
    """The zoom plot text is drawn at (1.0: the sizes the pages ask for)."""
    return _zoom


def set_plot_zoom(scale: float) -> None:
    """The zoom for plot text set from now on (:func:`scale_plots` also rescales what
    exists under a widget)."""
    global _zoom
    _zoom = scale


def scale_plots(root, scale: float) -> None:
    """Scale the fonts of every plot under the widget ``root`` by ``scale`` (presentation
    zoom): tick labels, axis labels, titles and legends, from their original sizes; from
    now on they follow the zoom whenever a page sets them again."""
    set_plot_zoom(scale)
    for view in root.findChildren(pg.GraphicsView):
        scene = view.scene()
        if scene is None:
            continue
        for item in scene.items():
            if isinstance(item, pg.AxisItem | pg.LabelItem | pg.LegendItem):
                _follow(item)
            if getattr(item, "_vigui_scale", 1.0) == scale:
                continue
            if isinstance(item, pg.AxisItem):
                item._vigui_scale = scale
                font = QFont()
                font.setPointSizeF(TICK_PT * scale)
                item.setTickFont(font)
                item._updateLabel()
            elif isinstance(item, pg.LabelItem) and item.text:
                item.setText(item.text)  # at the zoom's size (see _set_label_text)
            elif isinstance(item, pg.LegendItem):
                item._vigui_scale = scale
                item.updateSize()  # its rows grew with their labels
                fit_legend(item)


def follow_zoom(plot: pg.PlotItem) -> None:
    """Make the title, axis labels and legend of ``plot`` (one built after a zoom, or
    outside :func:`style_plot`) follow the zoom whenever they are set."""
    for item in (plot.titleLabel, *(plot.getAxis(side) for side in ("left", "bottom", "right", "top"))):
        _follow(item)
    if plot.legend is not None:
        _follow(plot.legend)
    if "addLegend" not in plot.__dict__:
        plot.addLegend = MethodType(_add_legend, plot)


def _follow(item) -> None:
    """Route ``item``'s own setters through the zoom (once per item)."""
    if item.__dict__.get("_vigui_follows"):
        return
    item._vigui_follows = True
    if isinstance(item, pg.LabelItem):
        item._vigui_pt = _pt(item.opts.get("size"), LABEL_PT)
        item.setText = MethodType(_set_label_text, item)
    elif isinstance(item, pg.AxisItem):
        item.labelString = MethodType(_axis_label_string, item)
    elif isinstance(item, pg.LegendItem):
        item.addItem = MethodType(_legend_add_item, item)
        for _sample, label in item.items:
            _follow(label)


def _set_label_text(label: pg.LabelItem, text: str, **args) -> None:
    """LabelItem.setText at the zoom: ``size`` (or the size set before) is the size at
    zoom 1."""
    if "size" in args:
        label._vigui_pt = _pt(args["size"], label._vigui_pt)
    args["size"] = f"{label._vigui_pt * _zoom * label.__dict__.get('_vigui_fit', 1.0):.1f}pt"
    label._vigui_scale = _zoom
    type(label).setText(label, text, **args)
    plot = label.parentItem()
    if isinstance(plot, pg.PlotItem) and plot.titleLabel is label and label.isVisible():
        # PlotItem fixes the title's row at 30 px: a zoomed title needs more
        height = max(30, math.ceil(label.itemRect().height()))
        label.setMaximumHeight(height)
        plot.layout.setRowFixedHeight(0, height)


def _axis_label_string(axis: pg.AxisItem) -> str:
    """The axis label's HTML with its font size (as set, or LABEL_PT) times the zoom."""
    style = axis.labelStyle
    axis.labelStyle = {**style, "font-size": f"{_pt(style.get('font-size'), LABEL_PT) * _zoom:.1f}pt"}
    try:
        return type(axis).labelString(axis)
    finally:
        axis.labelStyle = style


def _legend_add_item(legend: pg.LegendItem, item, name: str) -> None:
    type(legend).addItem(legend, item, name)
    if legend.items:
        label = legend.items[-1][1]
        _follow(label)
        label._vigui_fit = legend.items[0][1].__dict__.get("_vigui_fit", 1.0)
        label.setText(label.text)  # at the zoom's size
        legend.updateSize()
        fit_legend(legend)


def _add_legend(plot: pg.PlotItem, *args, **kwargs) -> pg.LegendItem:
    legend = type(plot).addLegend(plot, *args, **kwargs)
    _follow(legend)
    plot.vb.sigResized.connect(lambda _vb: fit_legend(legend))
    return legend


#: a legend's labels shrink to fit a narrow plot down to this fraction of their size
LEGEND_MIN_FIT = 0.6


def fit_legend(legend: pg.LegendItem) -> None:
    """Shrink the legend's labels (not below LEGEND_MIN_FIT of their zoomed size) so that
    it fits inside its plot's view box: zoomed on a narrow or short plot it otherwise ran
    past the plot's edge and cut its entries. Back to full size when there is room."""
    vb = legend.__dict__.get("_vigui_vb") or legend.parentItem()
    if isinstance(vb, pg.ViewBox):
        legend._vigui_vb = vb  # its box, also while it hangs on the plot (_keep_inside)
    labels = [label for _sample, label in legend.items]
    if vb is None or not labels or legend.__dict__.get("_vigui_fitting"):
        return
    legend._vigui_fitting = True
    try:
        _lay_out_rows(legend, vb, len(labels))
        fit = labels[0].__dict__.get("_vigui_fit", 1.0)
        widths = [label.itemRect().width() for label in labels]  # at ``fit``
        text = sum(widths) if legend.columnCount > 1 else max(widths)
        other = legend.width() - text  # the samples, spacing and margins
        dx, dy = (abs(v) for v in legend.opts["offset"] or (0, 0))
        room = vb.width() - 2 * dx - other
        want = min(1.0, room / (text / fit)) if text > 0 else 1.0
        if legend.height() > 0:  # and its rows inside a short plot (they grow with the text)
            want = min(want, (vb.height() - 2 * dy) / (legend.height() / fit))
        want = max(LEGEND_MIN_FIT, want)
        if abs(want - fit) > 0.02:
            for label in labels:
                _follow(label)
                label._vigui_fit = want
                label.setText(label.text)
            legend.updateSize()
        _keep_inside(legend, vb)
    finally:
        legend._vigui_fitting = False


def _lay_out_rows(legend: pg.LegendItem, vb, n: int) -> None:
    """A short plot whose legend's entries, one under another, are taller than its box
    even at their smallest (the Music VAE's zoomed loss plot lost "KL" below its edge)
    gets them in as many columns as its height needs, if they fit across the plot; one
    column again when the box has room."""
    fit = legend.items[0][1].__dict__.get("_vigui_fit", 1.0)
    if legend.height() <= 0 or fit <= 0 or n < 2:
        return
    rows = math.ceil(n / legend.columnCount)
    row = legend.height() / rows / fit  # one row at full size
    column = legend.width() / legend.columnCount / fit  # one column at full size, about
    dy = abs((legend.opts["offset"] or (0, 0))[1])
    max_rows = max(1, int((vb.height() - 2 * dy) // (row * LEGEND_MIN_FIT)))
    columns = math.ceil(n / max_rows)
    plot = vb.parentItem()
    room = plot.width() if isinstance(plot, pg.PlotItem) else vb.width()
    if columns * column * LEGEND_MIN_FIT > room:
        columns = 1  # side by side it would not fit across either: stacked, as before
    if columns != legend.columnCount:
        legend.setColumnCount(columns)
        legend.updateSize()


def _keep_inside(legend: pg.LegendItem, vb) -> None:
    """A legend wider than its view box even at its smallest would be cut at the box's
    edge (the box clips what it holds): it is hung on the plot instead, level with the
    box's top (or bottom) and over the axis' numbers, and back in the box when it fits."""
    offset = legend.opts["offset"]
    plot = vb.parentItem()
    if not offset or not isinstance(plot, pg.PlotItem):
        return
    wide = legend.width() > vb.width() - 2 * abs(offset[0])
    target = plot if wide else vb
    if legend.parentItem() is not target:
        type(legend).setParentItem(legend, target)  # anchored at the same corner and offset
        legend.setZValue(10 if wide else 0)  # above the axes (0.5)
    if wide:
        box = vb.geometry()
        dy = box.top() if offset[1] > 0 else box.bottom() - plot.height()
        corner = (1 if offset[0] <= 0 else 0, 1 if offset[1] <= 0 else 0)
        legend.anchor(itemPos=corner, parentPos=corner, offset=(offset[0], offset[1] + dy))


def _pt(size, default: float) -> float:
    """A CSS size like "9pt" in points."""
    try:
        return float(str(size).removesuffix("pt"))
    except (TypeError, ValueError):
        return default
