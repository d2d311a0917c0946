"""What a recording or a vector export captures (the page, or one of its plots) and how a
frame is read: the pixels the window has already painted where that is honest and possible
(~1 ms), else the widget painted again into an image (20-30 ms)."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QGraphicsView, QWidget


@dataclass
class CaptureTarget:
    """What to capture: a widget, or the part of a plot view one plot occupies."""

    title: str
    widget: QWidget
    item: object = None  # a pyqtgraph PlotItem inside ``widget`` (a GraphicsView), or None

    def rect(self) -> QRect:
        """The captured rectangle in ``widget`` coordinates (now: plots move on resize)."""
        if self.item is None:
            return self.widget.rect()
        view: QGraphicsView = self.widget
        return view.mapFromScene(self.item.sceneBoundingRect()).boundingRect() & view.rect()

    def size(self, width: int) -> QSize:
        """The output size for ``width`` pixels: the capture's shape, both sides even."""
        r = self.rect()
        width = max(2, width - width % 2)
        height = round(width * max(1, r.height()) / max(1, r.width()))
        return QSize(width, max(2, height + height % 2))


def capture_targets(page: QWidget) -> list[CaptureTarget]:
    """The whole page, then each visible plot of its plot views (titled by its title)."""
    import pyqtgraph as pg

    targets = [CaptureTarget("Whole page", page)]
    n = 0
    views = page.findChildren(QGraphicsView)
    if isinstance(page, QGraphicsView):  # a plot view on its own
        views.insert(0, page)
    for view in views:
        if not view.isVisible() or view.scene() is None:
            continue
        plots = [item for item in view.scene().items()
                 if isinstance(item, pg.PlotItem) and item.isVisible()]
        plots.sort(key=lambda p: (p.sceneBoundingRect().top(), p.sceneBoundingRect().left()))
        for item in plots:
            n += 1
            title = re.sub(r"<[^>]*>", "", item.titleLabel.text or "").strip()
            targets.append(CaptureTarget(f"Plot: {title or f'untitled {n}'}", view, item))
    return targets


def _painted_pixels(widget: QWidget, rect: QRect):
    """What the window system already shows of ``rect`` (no repaint: about 1 ms against
    20-30 ms for ``QWidget.grab``, which paints every plot again), or None where that
    cannot be read (hidden widget; Wayland gives no window contents)."""
    from PySide6.QtGui import QGuiApplication

    if not widget.isVisible() or QGuiApplication.platformName().startswith("wayland"):
        return None
    top = widget.window()
    screen = top.screen()
    if screen is None or _covered(widget, rect):
        return None
    pos = widget.mapTo(top, rect.topLeft())
    pixmap = screen.grabWindow(top.winId(), pos.x(), pos.y(), rect.width(), rect.height())
    return None if pixmap.isNull() else pixmap


def covered(target: CaptureTarget) -> bool:
    """True if another vigui window or an overlay may show over the target on screen now."""
    return target.widget.isVisible() and _covered(target.widget, target.rect())


def _covered(widget: QWidget, rect: QRect) -> bool:
    """True if something that is not ``widget`` may show over ``rect`` on screen: another
    visible window of this application, or a child of the window (an overlay) that is
    neither the widget nor one of its ancestors."""
    from PySide6.QtGui import QGuiApplication

    top = widget.window()
    area = QRect(widget.mapToGlobal(rect.topLeft()), rect.size())
    own = top.windowHandle()
    # QWindows, not QWidgets: only those ever shown, far fewer than every menu's widget
    for other in QGuiApplication.topLevelWindows():
        if other is not own and other.isVisible() and other.frameGeometry().intersects(area):
            return True
    for child in top.findChildren(QWidget, options=Qt.FindDirectChildrenOnly):
        if (child.isVisible() and not child.isWindow() and child is not widget
                and not child.isAncestorOf(widget)
                and QRect(child.mapToGlobal(child.rect().topLeft()), child.size()).intersects(area)):
            return True
    return False


def grab_frame(target: CaptureTarget, size: QSize, repaint: bool = False) -> np.ndarray:
    """The target as it is drawn now, scaled to ``size``: an (h, w, 3) uint8 array.
    The window's painted pixels are read when possible; ``repaint=True`` (or where they
    cannot be read) paints the widget again into an image instead."""
    rect = target.rect()
    pixmap = None if repaint else _painted_pixels(target.widget, rect)
    image = (pixmap if pixmap is not None else target.widget.grab(rect)).toImage()
    image = image.scaled(size, Qt.IgnoreAspectRatio, Qt.SmoothTransformation)
    image = image.convertToFormat(QImage.Format_RGB888)
    w, h = image.width(), image.height()
    rows = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
    return rows.reshape(h, image.bytesPerLine())[:, :w * 3].reshape(h, w, 3).copy()
