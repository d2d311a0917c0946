"""Image views: grayscale images and grids of them (dark ink on white, levels [0, 1])."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from vigui.widgets.plots import relax_label

__all__ = ["ImageView", "ImageGrid", "mosaic", "INK_LUT", "PAD_FILL"]

#: Inverted grey map: 1 (ink) is black, 0 is white, like ink on paper.
INK_LUT = np.linspace(255, 0, 256).astype(np.uint8)
#: light grey lines between tiles (the colour map draws 1 as black ink)
PAD_FILL = 0.12


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
        self.image.setLookupTable(INK_LUT)
        self.view.addItem(self.image)
        self.setMinimumSize(120, 90)

    def set_image(self, img: np.ndarray, levels=(0.0, 1.0)) -> None:
        self.image.setImage(np.asarray(img, dtype=np.float32), levels=levels, autoLevels=False)
        self.view.autoRange(padding=0.02)

    def set_title(self, text: str) -> None:
        """A title that is clipped rather than widen the view."""
        self.label.setText(text, size="9pt")
        relax_label(self.label)

    def clear_image(self) -> None:
        self.image.clear()


class ImageGrid(ImageView):
    """A titled grid of images: (n, H, W) arrays tiled ``cols`` to a row."""

    def __init__(self, title: str = "", cols: int = 6, parent=None):
        super().__init__(title, parent)
        self.cols = cols
        self.set_title(title)

    def set_images(self, images: np.ndarray, cols: int | None = None) -> None:
        self.set_image(mosaic(images, cols=cols or self.cols, fill=PAD_FILL))
