"""Export a page or one plot as SVG or PDF: vector lines and real text, for print.

pyqtgraph's own SVG exporter is broken on our PySide6 6.6–6.11 / pyqtgraph 0.14 pair,
and so is rendering the plot's scene (``QGraphicsScene.render``) into a vector device:
both draw the view-box contents (curves, grids) with the wrong transform, so curves
overflow their axes. What works is asking the widget to paint itself
(``QWidget.render``) into a ``QSvgGenerator`` or ``QPdfWriter``: the view then paints
with the same viewport transform it uses on screen, and Qt's SVG/PDF paint engines
record the paths and the text as vectors. tests/test_recorder.py renders the files back
and compares them with a screen grab.

SVG from Qt is SVG Tiny 1.2 (no clip paths): items are drawn whole, as on screen, since
pyqtgraph clips curves to the view itself.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMarginsF, QPoint, QRectF, QSizeF
from PySide6.QtGui import QPageLayout, QPageSize, QPainter, QPdfWriter, QRegion
from PySide6.QtWidgets import (
    QFileDialog,
    QGraphicsView,
    QInputDialog,
    QMessageBox,
    QWidget,
)

from vigui.record.capture import CaptureTarget, capture_targets

__all__ = ["export_vector", "export_dialog"]

FORMATS = {".svg": "SVG", ".pdf": "PDF"}


def export_vector(target: CaptureTarget, path: str | Path) -> Path:
    """Write ``target`` (a page or one plot) as SVG or PDF, chosen by ``path``'s suffix.
    ValueError for another suffix, OSError if the file cannot be written."""
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"path must end in .svg or .pdf, got {path.name!r}")
    rect = target.rect()
    if rect.isEmpty():
        raise ValueError(f"{target.title} is not shown (nothing to export)")
    widget = target.widget
    if kind == "SVG":
        from PySide6.QtSvg import QSvgGenerator

        device = QSvgGenerator()
        device.setFileName(str(path))
        device.setSize(rect.size())
        device.setViewBox(QRectF(0, 0, rect.width(), rect.height()))
        device.setTitle(target.title)
        device.setDescription("Exported from vigui")
    else:
        device = QPdfWriter(str(path))
        device.setResolution(72)  # one widget pixel = one point
        device.setPageLayout(QPageLayout(
            QPageSize(QSizeF(rect.width(), rect.height()), QPageSize.Point, target.title,
                      QPageSize.ExactMatch),
            QPageLayout.Portrait, QMarginsF(0, 0, 0, 0)))
        device.setTitle(target.title)
        device.setCreator("vigui")
    # The view's cached background would land in the file as a bitmap: paint it afresh.
    views = [w for w in [widget, *widget.findChildren(QGraphicsView)]
             if isinstance(w, QGraphicsView)]
    caches = [(v, v.cacheMode()) for v in views]
    for view, _ in caches:
        view.setCacheMode(QGraphicsView.CacheNone)
    painter = QPainter()
    if not painter.begin(device):
        raise OSError(f"could not write {path}")
    try:
        QWidget.render(widget, painter, QPoint(0, 0), QRegion(rect))
    finally:
        painter.end()
        for view, mode in caches:
            view.setCacheMode(mode)
    if not path.is_file() or path.stat().st_size == 0:
        raise OSError(f"could not write {path}")
    return path


def export_dialog(page: QWidget, parent: QWidget | None = None) -> Path | None:
    """Ask which plot (or the whole page) and where; write it; say what happened."""
    targets = capture_targets(page)
    titles = [t.title for t in targets]
    default = 1 if len(targets) > 1 else 0  # the first plot: what print usually wants
    title, ok = QInputDialog.getItem(parent, "Export as SVG / PDF", "What to export:",
                                     titles, default, False)
    if not ok:
        return None
    target = targets[titles.index(title)]
    name = f"vigui-{getattr(page, 'page_id', 'page')}.pdf"
    path, _ = QFileDialog.getSaveFileName(parent, "Export as SVG / PDF", name,
                                          "PDF (*.pdf);;SVG (*.svg)")
    if not path:
        return None
    if Path(path).suffix.lower() not in FORMATS:
        path += ".pdf"
    try:
        return export_vector(target, path)
    except (ValueError, OSError) as exc:
        QMessageBox.warning(parent, "Export failed", str(exc))
        return None
