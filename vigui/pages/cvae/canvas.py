"""The drawing canvas of the conditional VAE page: an image and its mask, edited by mouse.

Tools: Paint and Erase change the image's ink (what the models see of the observed
pixels); Hide and Show change the mask (which pixels are observed). Observed pixels are
drawn in blue ink, hidden ones over amber, as in the Figure 14 strip. Every edit emits
``edited(kind)`` with kind "ink" or "mask".
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from vigui.pages.cvae.views import colour_images

__all__ = ["DrawingCanvas", "TOOLS"]

TOOLS = ("paint", "erase", "hide", "show")


class DrawingCanvas(QWidget):
    """An (H, W) image in [0, 1] with a bool mask (True = observed), drawn scaled up."""

    edited = Signal(str)

    def __init__(self, shape=(8, 8), parent=None):
        super().__init__(parent)
        self.tool = "paint"
        self.image = np.zeros(shape, np.float32)
        self.mask = np.ones(shape, bool)
        self._last: tuple[float, float] | None = None
        self._qimage: QImage | None = None
        self.setMinimumSize(120, 120)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setCursor(Qt.CrossCursor)
        self.setToolTip("Draw with the left mouse button: Paint / Erase change the given "
                        "pixels, Hide / Show change which pixels are given")

    # -- state -----------------------------------------------------------------------------
    def set_content(self, image: np.ndarray | None = None, mask: np.ndarray | None = None) -> None:
        """Replace the image and/or the mask (no ``edited`` signal)."""
        if image is not None:
            self.image = np.clip(np.array(image, np.float32), 0.0, 1.0)
        if mask is not None:
            self.mask = np.array(mask, bool)
        if self.mask.shape != self.image.shape:
            self.mask = np.ones(self.image.shape, bool)
        self._refresh()

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"tool must be one of {TOOLS}, got {tool!r}")
        self.tool = tool

    def clear_ink(self) -> None:
        self.image[:] = 0.0
        self._refresh()
        self.edited.emit("ink")

    @property
    def brush_radius(self) -> float:
        """In pixels: one pixel on 8x8 digits, a 3-pixel-wide pen on 28x28 images."""
        return 0.5 if max(self.image.shape) <= 12 else 1.3

    # -- editing ------------------------------------------------------------------------------
    def stroke_at(self, row: float, col: float, paint: bool | None = None,
                  tool: str | None = None) -> None:
        """Apply the tool at pixel (row, col) (centre coordinates) as a click would;
        ``paint`` True/False is a shortcut for the paint/erase tools."""
        if paint is not None:
            tool = "paint" if paint else "erase"
        self._apply(float(row), float(col), tool or self.tool)

    def _apply(self, row: float, col: float, tool: str) -> None:
        h, w = self.image.shape
        r = self.brush_radius
        rr, cc = np.ogrid[:h, :w]
        hit = (rr - row) ** 2 + (cc - col) ** 2 <= r * r
        if not hit.any():
            return
        if tool == "paint":
            self.image[hit] = 1.0
        elif tool == "erase":
            self.image[hit] = 0.0
        else:
            new = self.mask.copy()
            new[hit] = tool == "show"
            if new.all() or not new.any() or (new == self.mask).all():
                return  # a mask must keep some observed and some hidden pixels
            self.mask = new
        self._refresh()
        self.edited.emit("mask" if tool in ("hide", "show") else "ink")

    def _pixel(self, pos: QPointF) -> tuple[float, float] | None:
        rect = self._target()
        if rect.width() <= 0 or not rect.contains(pos):
            return None
        h, w = self.image.shape
        return ((pos.y() - rect.top()) / rect.height() * h - 0.5,
                (pos.x() - rect.left()) / rect.width() * w - 0.5)

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.LeftButton:
            p = self._pixel(event.position())
            if p is not None:
                self._last = p
                self._apply(*p, self.tool)

    def mouseMoveEvent(self, event) -> None:
        if not (event.buttons() & Qt.LeftButton):
            return
        p = self._pixel(event.position())
        if p is None:
            return
        last = self._last or p
        steps = max(1, int(np.ceil(2 * np.hypot(p[0] - last[0], p[1] - last[1]))))
        for t in np.linspace(1.0 / steps, 1.0, steps):  # a line, not dots, when moving fast
            self._apply(last[0] + t * (p[0] - last[0]), last[1] + t * (p[1] - last[1]),
                        self.tool)
        self._last = p

    def mouseReleaseEvent(self, event) -> None:
        self._last = None

    # -- drawing --------------------------------------------------------------------------------
    def _refresh(self) -> None:
        rgb = colour_images(self.image[None], self.mask, hide=False)[0]
        hidden = ~self.mask
        # Hidden pixels: the ink still shows, over amber, so one can draw there too.
        amber = np.array([246, 196, 110], np.float32)
        tint = (amber * (1 - self.image[..., None]) + np.array([90, 60, 20]) * self.image[..., None])
        rgb = np.where(hidden[..., None], tint, rgb).astype(np.uint8)
        h, w = self.image.shape
        data = np.ascontiguousarray(np.concatenate([rgb, np.full((h, w, 1), 255, np.uint8)], -1))
        self._qimage = QImage(data.data, w, h, 4 * w, QImage.Format_RGBA8888).copy()
        self.update()

    def _target(self) -> QRectF:
        side = min(self.width(), self.height()) - 4
        return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    def paintEvent(self, event) -> None:
        if self._qimage is None:
            self._refresh()
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(245, 245, 245))
        rect = self._target()
        painter.drawImage(rect, self._qimage)
        painter.setPen(QPen(QColor(150, 150, 150), 1))
        painter.drawRect(rect)
        painter.end()
