"""Editing a discrete distribution: one slider per outcome, or by dragging bars.

:func:`rescale` is the editing rule both views share: setting outcome ``i`` to ``value``
rescales the other outcomes proportionally so the total stays 1 (if they are all 0 the
remainder is shared equally). :class:`DistributionEditor` holds the distribution and
shows one labelled slider per outcome; :class:`DraggableBars` is a bar chart whose bars
follow the mouse (press on a bar and drag it up or down) and reports the new height.
A page connects ``bars.dragged`` to ``editor.set_prob`` and ``editor.changed`` to its
refresh, so the editor is the single owner of the numbers.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QGridLayout, QLabel, QWidget
from superqt import QLabeledDoubleSlider

from vigui.widgets.plots import colour, fitted_axes

MAX_OUTCOMES = 12


def rescale(p: Sequence[float], i: int, value: float) -> np.ndarray:
    """``p`` with ``p[i] = value`` and the other entries rescaled to make the sum 1.

    ``value`` is clipped to [0, 1]; NaN leaves ``p`` as it was (renormalised).
    """
    p = np.array(p, dtype=np.float64)
    n = p.size
    if not 0 <= i < n:
        raise IndexError(f"outcome {i} out of range for {n} outcomes")
    p = np.where(np.isfinite(p) & (p > 0), p, 0.0)
    value = float(value)
    if not math.isfinite(value):
        value = p[i] / p.sum() if p.sum() > 0 else 1.0 / n
    value = min(1.0, max(0.0, value))
    if n == 1:
        return np.ones(1)
    others = np.ones(n, dtype=bool)
    others[i] = False
    rest = p[others].sum()
    if rest > 0:
        p[others] *= (1.0 - value) / rest
    else:
        p[others] = (1.0 - value) / (n - 1)
    p[i] = value
    return p / p.sum()


def as_distribution(values, n: int | None = None) -> np.ndarray | None:
    """A saved or preset list turned into a valid distribution (None if it cannot be)."""
    try:
        p = np.array(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        return None
    if p.size == 0 or (n is not None and p.size != n) or p.size > MAX_OUTCOMES:
        return None
    if not np.all(np.isfinite(p)) or np.any(p < 0) or p.sum() <= 0:
        return None
    return p / p.sum()


class DistributionEditor(QWidget):
    """One labelled slider (with an editable value box) per outcome; sum kept at 1.

    ``changed(probs)`` is emitted after every edit with a fresh numpy array.
    """

    changed = Signal(object)

    def __init__(self, n: int = 2, labels: Sequence[str] | None = None, parent=None):
        super().__init__(parent)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setVerticalSpacing(1)
        self._grid.setColumnStretch(1, 1)
        self._names: list[QLabel] = []
        self._sliders: list[QLabeledDoubleSlider] = []
        self._syncing = False
        for i in range(MAX_OUTCOMES):
            name = QLabel()
            slider = QLabeledDoubleSlider(Qt.Horizontal)
            slider.setRange(0.0, 1.0)
            slider.setDecimals(3)
            slider.setSingleStep(0.001)
            slider.setPageStep(0.05)
            slider.valueChanged.connect(lambda v, i=i: self._slider_moved(i, v))
            self._grid.addWidget(name, i, 0)
            self._grid.addWidget(slider, i, 1)
            self._names.append(name)
            self._sliders.append(slider)
        self._p = np.full(n, 1.0 / n)
        self._labels = [str(k + 1) for k in range(n)]
        self.set_probs(self._p, labels)

    # -- reading -------------------------------------------------------------------
    @property
    def n(self) -> int:
        return self._p.size

    def probs(self) -> np.ndarray:
        return self._p.copy()

    def labels(self) -> list[str]:
        return list(self._labels)

    def slider(self, i: int) -> QLabeledDoubleSlider:
        return self._sliders[i]

    # -- editing -------------------------------------------------------------------
    def set_probs(self, p, labels: Sequence[str] | None = None, emit: bool = True) -> bool:
        """Show a new distribution (any nonnegative weights; they are normalised).

        Returns False (and changes nothing) for weights that are not a distribution.
        """
        q = as_distribution(p)
        if q is None:
            return False
        if labels is None or len(labels) != q.size:
            labels = (self._labels if len(self._labels) == q.size
                      else [str(k + 1) for k in range(q.size)])
        self._p = q
        self._labels = [str(s) for s in labels]
        self._sync()
        if emit:
            self.changed.emit(self.probs())
        return True

    def set_n(self, n: int, emit: bool = True) -> None:
        """Change the number of outcomes: keep the first ones' weights, new ones get the
        average weight, then normalise."""
        n = int(min(MAX_OUTCOMES, max(1, n)))
        if n == self.n:
            return
        old = self._p
        if n < old.size:
            p = old[:n].copy()
            if p.sum() <= 0:
                p = np.ones(n)
        else:
            p = np.concatenate([old, np.full(n - old.size, 1.0 / old.size)])
        self.set_probs(p, [str(k + 1) for k in range(n)], emit=emit)

    def set_prob(self, i: int, value: float) -> None:
        """Set outcome ``i`` to ``value`` (clipped to [0, 1]); the others rescale."""
        if not 0 <= i < self.n:
            return
        self._p = rescale(self._p, i, value)
        self._sync()
        self.changed.emit(self.probs())

    def _slider_moved(self, i: int, value: float) -> None:
        if self._syncing or i >= self.n:
            return
        self.set_prob(i, value)

    def _sync(self) -> None:
        self._syncing = True
        try:
            for i, (name, slider) in enumerate(zip(self._names, self._sliders, strict=False)):
                shown = i < self.n
                name.setVisible(shown)
                slider.setVisible(shown)
                if shown:
                    name.setText(self._labels[i])
                    slider.setValue(float(self._p[i]))
        finally:
            self._syncing = False


class DraggableBars(pg.PlotWidget):
    """A bar chart of probabilities on a fixed [0, 1] axis; drag a bar to set its height.

    Press on (or above) a bar and move the mouse: ``dragged(index, height)`` is emitted
    with the height under the cursor, clipped to [0, 1]. ``drag_to`` does the same from
    code (tests, keyboard). Pan and zoom are off so the axis stays put while dragging.
    """

    dragged = Signal(int, float)

    def __init__(self, title: str = "", y_label: str = "probability", parent=None):
        super().__init__(parent, axisItems=fitted_axes())  # category labels fitted
        self.setMinimumHeight(120)
        item = self.getPlotItem()
        item.setTitle(title, size="9pt")
        item.setLabel("left", y_label)
        item.showGrid(y=True, alpha=0.15)
        item.hideButtons()
        item.setMenuEnabled(False)
        font = QFont()
        font.setPointSize(8)
        for side in ("left", "bottom"):
            item.getAxis(side).setTickFont(font)
        vb = item.getViewBox()
        vb.setMouseEnabled(False, False)
        vb.setYRange(0.0, 1.08, padding=0)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.7, brushes=[],
                                    pen=pg.mkPen((60, 60, 60), width=1))
        item.addItem(self.bars)
        self._values = np.zeros(0)
        self.texts: list[pg.TextItem] = []
        for _ in range(MAX_OUTCOMES):
            text = pg.TextItem(anchor=(0.5, 1.0), color=(30, 30, 30))
            text.setFont(font)
            item.addItem(text)
            self.texts.append(text)
        self._drag_index: int | None = None
        self.setCursor(Qt.PointingHandCursor)
        self.setToolTip("Drag a bar up or down to change its probability")

    def set_values(self, values, labels: Sequence[str],
                   brushes: Sequence[QColor] | None = None) -> None:
        values = np.asarray(values, dtype=np.float64)
        n = values.size
        self._values = values.copy()
        x = np.arange(n)
        if brushes is None:
            brushes = [colour(0, 200)] * n
        self.bars.setOpts(x=x, height=values, width=0.7, brushes=list(brushes))
        self._layout_texts()
        axis = self.getPlotItem().getAxis("bottom")
        axis.setTicks([[(i, str(lab)) for i, lab in enumerate(labels)]])
        self.getPlotItem().getViewBox().setXRange(-0.6, n - 0.4, padding=0)

    def _layout_texts(self) -> None:
        """Value labels above the bars, as many digits as the bar width allows."""
        values = self._values
        n = values.size
        width = self.getPlotItem().getViewBox().width()
        per_bar = width / max(n, 1) if width > 0 else 60.0
        digits = 3 if per_bar >= 40 else 2 if per_bar >= 30 else None
        for i, text in enumerate(self.texts):
            if i < n and digits is not None:
                label = f"{values[i]:.{digits}f}"
                text.setText(label if per_bar >= 36 else label.lstrip("0") or "0")
                text.setPos(i, min(values[i], 0.93) + 0.01)
                text.setVisible(True)
            else:
                text.setVisible(False)

    def resizeEvent(self, event):
        super().resizeEvent(event)
        if self.__dict__.get("texts"):  # not while the base class is still being built
            self._layout_texts()

    def values(self) -> np.ndarray:
        return self._values.copy()

    def drag_to(self, index: int, height: float) -> None:
        if 0 <= index < self._values.size and math.isfinite(height):
            self.dragged.emit(int(index), float(min(1.0, max(0.0, height))))

    # -- mouse -------------------------------------------------------------------------
    def _view_point(self, event):
        scene = self.mapToScene(event.position().toPoint())
        return self.getPlotItem().getViewBox().mapSceneToView(scene)

    def mousePressEvent(self, event):
        if event.button() == Qt.LeftButton and self._values.size:
            point = self._view_point(event)
            i = int(round(point.x()))
            if 0 <= i < self._values.size and abs(point.x() - i) <= 0.5:
                self._drag_index = i
                self.drag_to(i, point.y())
                event.accept()
                return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event):
        if self._drag_index is not None and event.buttons() & Qt.LeftButton:
            self.drag_to(self._drag_index, self._view_point(event).y())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event):
        if self._drag_index is not None and event.button() == Qt.LeftButton:
            self._drag_index = None
            event.accept()
            return
        super().mouseReleaseEvent(event)
