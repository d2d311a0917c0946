"""The window a class sees: 1280x800, zoomed with Ctrl+plus three times (140 %)."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtTest import QTest


def zoomed_window():
    """A module fixture's body: the window, zoomed by its keys; closed and unzoomed after."""
    from vigui.window import MainWindow

    window = MainWindow(fresh=True, open_initial=False)
    window.resize(1280, 800)
    window.show()
    window.activateWindow()
    assert QTest.qWaitForWindowExposed(window) and QTest.qWaitForWindowActive(window)
    for _ in range(3):
        QTest.keyClick(window, Qt.Key_Plus, Qt.ControlModifier)
    assert window.zoom == pytest.approx(1.4)
    yield window
    for page in window.pages.values():
        page.close_page()
    window.set_zoom(1.0)
    window.close()


def tick_labels(axis) -> list:
    """(rectangle, text) of each tick label the axis draws (pyqtgraph's own layout)."""
    image = QImage(10, 10, QImage.Format_ARGB32)
    painter = QPainter(image)
    try:
        specs = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [] if specs is None else [(rect, text) for rect, _flags, text in specs[2] if text]
