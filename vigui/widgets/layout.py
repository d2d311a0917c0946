"""Layouts with no margins of their own: rows and columns inside a panel that has them.

The pages built each settings row and view as ``w = QWidget(); lay = QVBoxLayout(w);
lay.setContentsMargins(0, 0, 0, 0); lay.setSpacing(n)``; :func:`tight` and :func:`laid_out`
say that once."""
from __future__ import annotations

from typing import TypeVar

from PySide6.QtCore import QEvent, QPoint, QRect, QSize, Qt, QTimer
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QLayout, QScrollArea, QVBoxLayout, QWidget

__all__ = ["Block", "FlowRow", "VerticalScroll", "WrapRow", "laid_out", "tight"]

L = TypeVar("L", bound=QLayout)


def tight(layout: L, spacing: int | None = None, margins: tuple[int, int, int, int] = (0, 0, 0, 0)) -> L:
    """``layout`` with ``margins`` (none by default) and, when given, ``spacing``."""
    layout.setContentsMargins(*margins)
    if spacing is not None:
        layout.setSpacing(spacing)
    return layout


def laid_out(kind: type[QLayout] = QVBoxLayout, spacing: int | None = None,
        margins: tuple[int, int, int, int] = (0, 0, 0, 0)):
    """A new plain widget and its ``kind`` layout, :func:`tight`: ``(widget, layout)``."""
    widget = QWidget()
    return widget, tight(kind(widget), spacing, margins)


class Block(QWidget):
    """A part of a scrolled column that gives its layout's minimum height, never a
    height for its width: Qt counts a height-for-width widget's *preferred* height as its
    minimum (the canvas beside a wrapped note asked for 350 px) and squeezed the parts
    around it below theirs. In a :class:`VerticalScroll` its wrapped labels hold their
    height as their minimum, so nothing is lost."""

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt's name)
        return False


class VerticalScroll(QScrollArea):
    """``widget`` as wide as it is given, scrolled vertically when it is given less height
    than its minimum (a page zoomed on a 1280x800 screen): Qt otherwise squeezes a layout
    below its minimum and draws its rows over each other (buttons over piano rolls).

    Its minimum width is the widget's (never scrolled sideways), its minimum height small:
    the height is what scrolls. The widget gets the viewport's height, or its minimum
    (wrapped texts at their height for the width they have) when that is more."""

    def __init__(self, widget: QWidget, parent=None):
        super().__init__(parent)
        self.setWidgetResizable(False)  # sized by _fit: Qt's would use preferred heights
        self.setFrameShape(QFrame.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setFocusPolicy(Qt.NoFocus)  # Page Up / Down stay the tour's keys
        self.setWidget(widget)
        widget.installEventFilter(self)
        self._fitting = False
        self._pending = False

    def _fit_later(self) -> None:
        self._pending = False
        self._fit()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        inner = self.widget().minimumSizeHint()
        bar = self.verticalScrollBar()
        extra = bar.sizeHint().width() if bar.isVisible() else 0
        return QSize(inner.width() + extra, min(inner.height(), 120))

    def sizeHint(self) -> QSize:  # noqa: N802
        return self.widget().sizeHint()

    def _fit(self) -> None:
        if self._fitting:
            return
        self._fitting = True
        try:
            inner = self.widget()
            for label in inner.findChildren(QLabel):
                if label.wordWrap() and label.isVisibleTo(inner) and label.width() > 0:
                    height = label.heightForWidth(label.width())
                    if height > 0 and label.minimumHeight() != height:
                        label.setMinimumHeight(height)
            # the nested layouts first, innermost last-built first: their minimums are
            # the widget's (a view that wrapped under its neighbours grew taller)
            for child in reversed([inner, *inner.findChildren(QWidget)]):
                if child.layout() is not None and child.isVisibleTo(inner) | (child is inner):
                    child.layout().activate()
            need = inner.minimumSizeHint().height()
            inner.resize(self.viewport().width(), max(self.viewport().height(), need))
        finally:
            self._fitting = False

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._fit()

    def eventFilter(self, watched, event) -> bool:  # noqa: N802
        if watched is self.widget() and event.type() == QEvent.LayoutRequest:
            self.updateGeometry()  # the widget's minimum width is this area's
            if not self._pending:  # once its layout has taken the change
                self._pending = True
                QTimer.singleShot(0, self, self._fit_later)  # not once it is gone
        return super().eventFilter(watched, event)


class FlowRow(QLayout):
    """A row of controls that wraps onto a second line when it is narrower than they
    are (zoomed), as a toolbar does, instead of widening the page past the screen.
    Its minimum width is its widest item's; its height follows its width."""

    def __init__(self, parent=None, spacing: int = 4):
        super().__init__(parent)
        self._items: list = []
        self._height = -1  # the height of the lines at the last width laid out
        self._width = 0  # that width (a layout's own geometry is cleared when invalidated)
        self.setContentsMargins(0, 0, 0, 0)
        self.setSpacing(spacing)

    def addItem(self, item) -> None:  # noqa: N802 (Qt's name)
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int):  # noqa: N802
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int):  # noqa: N802
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:  # noqa: N802
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return self._place(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:  # noqa: N802
        super().setGeometry(rect)
        height = self._place(rect, move=True)
        self._width = rect.width()
        if height != self._height:  # wrapped onto more (or fewer) lines: a new minimum
            self._height = height
            QTimer.singleShot(0, self, self._grown)  # not once it is gone

    def _grown(self) -> None:
        """Tell the layouts around (their cached minimums) and the widget's parent."""
        widget = self.parentWidget()
        if widget is None:
            return
        if widget.layout() is not None:
            widget.layout().invalidate()
        while widget is not None and not isinstance(widget, QScrollArea):
            widget.updateGeometry()  # each parent caches its child's minimum (a tab page's)
            widget = widget.parentWidget()

    def sizeHint(self) -> QSize:  # noqa: N802
        shown = [i.sizeHint() for i in self._items if not i.isEmpty()]
        width = sum(s.width() for s in shown) + self.spacing() * max(0, len(shown) - 1)
        return QSize(width, max((s.height() for s in shown), default=0))

    def minimumSize(self) -> QSize:  # noqa: N802
        size = QSize()
        for item in self._items:
            if not item.isEmpty():
                size = size.expandedTo(item.minimumSize())
        width = self._width
        if width > 0:  # the lines it wraps onto at the width it was given
            size.setHeight(max(size.height(), self.heightForWidth(width)))
        return size

    def _place(self, rect: QRect, move: bool) -> int:
        """Lay the items out left to right in ``rect``, wrapping; the height used."""
        x, y, line = rect.x(), rect.y(), 0
        for item in self._items:
            if item.isEmpty():
                continue
            hint = item.sizeHint()
            hint.setWidth(min(hint.width(), rect.width()))
            if x > rect.x() and x + hint.width() > rect.right() + 1:
                x, y, line = rect.x(), y + line + self.spacing(), 0
            if move:
                item.setGeometry(QRect(QPoint(x, y), hint))
            x += hint.width() + self.spacing()
            line = max(line, hint.height())
        return y + line - rect.y()


class WrapRow(Block):
    """Views side by side, the last one moved under the others (full width) while the
    row is narrower than their minimum widths together: a page zoomed on a small screen
    keeps every view readable instead of squeezing the widest below what it needs.
    ``stretches``: the views' shares of a wide row's spare width."""

    def __init__(self, widgets: list[QWidget], stretches: list[int], spacing: int = 4, parent=None):
        super().__init__(parent)
        self._widgets, self._stretches = list(widgets), list(stretches)
        self._grid = tight(QGridLayout(self), spacing)
        self.wrapped: bool | None = None
        self._arrange(False)

    def wide_width(self) -> int:
        """The least width that shows the views in one row."""
        mins = [max(w.minimumSizeHint().width(), w.minimumWidth()) for w in self._widgets]
        return sum(mins) + self._grid.spacing() * (len(mins) - 1)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        # the wrapped arrangement's width: a narrow page never has to be widened for it
        mins = [w.minimumSizeHint().expandedTo(w.minimumSize()) for w in self._widgets]
        first = sum(m.width() for m in mins[:-1]) + self._grid.spacing() * (len(mins) - 2)
        row = max(m.height() for m in mins[:-1])
        # the wrapped height too: fixed, so the page's minimum does not change as it wraps
        height = row + self._grid.spacing() + mins[-1].height()
        return QSize(max(first, mins[-1].width()), height)

    def _arrange(self, wrapped: bool) -> None:
        if wrapped == self.wrapped:
            return
        self.wrapped = wrapped
        for w in self._widgets:
            self._grid.removeWidget(w)
        n = len(self._widgets)
        for c in range(n):
            self._grid.setColumnStretch(c, 0)
            self._grid.setRowStretch(c, 0)
        last = self._widgets[-1]
        for c, (w, stretch) in enumerate(zip(self._widgets[:-1], self._stretches[:-1], strict=True)):
            self._grid.addWidget(w, 0, c)
            self._grid.setColumnStretch(c, stretch)
        if wrapped:
            self._grid.addWidget(last, 1, 0, 1, n - 1)
            self._grid.setRowStretch(0, 3)
            self._grid.setRowStretch(1, 2)
        else:
            self._grid.addWidget(last, 0, n - 1)
            self._grid.setColumnStretch(n - 1, self._stretches[-1])
        self.updateGeometry()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._arrange(self.width() < self.wide_width())

    def event(self, event) -> bool:
        if event.type() == QEvent.LayoutRequest:  # a view's minimum changed (the zoom)
            self._arrange(self.width() < self.wide_width())
            handled = super().event(event)
            self.updateGeometry()  # the parent's cached minimum of this row is stale
            return handled
        return super().event(event)
