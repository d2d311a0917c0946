"""Waiting on the GUI thread without blocking it: process Qt events for a while (screenshot
runs, the tour's screenshots, benchmarks and tests)."""
from __future__ import annotations

from PySide6.QtCore import QEventLoop, QTimer


def wait(ms: int) -> None:
    """Process events for ``ms`` milliseconds."""
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()
